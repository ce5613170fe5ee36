"""audit's own files: an output path never destroys an input, and a killed run leaves the previous report whole."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cli

from support.audit_data import FAST, read_jsonl, save_png, snapshot
from support import REPO

OUTPUT_OPTIONS = ["--jsonl", "--csv", "--html", "--cache"]


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    d = tmp_path / "photos"
    d.mkdir()
    save_png(d / "a.png", 1, 96)
    from PIL import Image

    Image.open(d / "a.png").convert("RGB").save(d / "photo.jpg", quality=90)
    return d


def _audit(*argv: str) -> int:
    try:
        return cli.main(["audit", *argv, "--workers", "1", *FAST])
    except SystemExit as e:  # usage errors exit through argparse
        return int(e.code)


@pytest.mark.parametrize("option", [pytest.param(o, id=o) for o in OUTPUT_OPTIONS])
def test_an_output_inside_the_audited_folder_is_refused(folder, tmp_path, option, capsys):
    """`audit DIR --csv DIR/photo.jpg` used to overwrite the photo: an output inside an audited folder is
    a usage error (exit 2) unless --allow-inside, and an existing file that is not a report of that kind
    is refused (exit 1) even then. The folder is left as it was and nothing was written."""
    before = snapshot(folder)
    target = str(folder / "photo.jpg")
    extra = [] if option == "--cache" else ["--no-cache"]
    assert _audit(str(folder), option, target, *extra) == cli.EXIT_USAGE
    assert "lies inside the audited folder" in capsys.readouterr().err
    assert _audit(str(folder), option, target, *extra, "--allow-inside") == cli.EXIT_ERROR
    assert "exists and is not" in capsys.readouterr().err
    assert snapshot(folder) == before


@pytest.mark.parametrize("option", [pytest.param(o, id=o) for o in OUTPUT_OPTIONS])
def test_an_audited_file_is_never_an_output(folder, option, capsys):
    """A file named on the command line cannot also be an output, --allow-inside or not."""
    target = folder / "photo.jpg"
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    extra = [] if option == "--cache" else ["--no-cache"]
    assert _audit(str(target), option, str(target), *extra, "--allow-inside") == cli.EXIT_USAGE
    assert "is one of the files being audited" in capsys.readouterr().err
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest


def test_an_existing_non_report_outside_is_refused_and_reports_are_replaced(folder, tmp_path, capsys):
    """A JPEG (or a CSV report) given as --jsonl is not replaced; a JSONL report of an earlier run is."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.jpg").write_bytes((folder / "photo.jpg").read_bytes())
    assert _audit(str(folder), "--jsonl", str(out / "keep.jpg"), "--no-cache") == cli.EXIT_ERROR
    assert (out / "keep.jpg").read_bytes() == (folder / "photo.jpg").read_bytes()
    assert _audit(str(folder), "--csv", str(out / "r.csv"), "--no-cache") == cli.EXIT_OK
    assert _audit(str(folder), "--jsonl", str(out / "r.csv"), "--no-cache") == cli.EXIT_ERROR
    assert "is not a JSONL audit report" in capsys.readouterr().err
    for _ in range(2):  # a report of its kind is replaced, run after run
        assert _audit(str(folder), "--jsonl", str(out / "r.jsonl"), "--csv", str(out / "r.csv"),
                      "--no-cache") == cli.EXIT_OK
        assert len(read_jsonl(out / "r.jsonl")) == 2
    assert _audit(str(folder), "--jsonl", str(out / "x"), "--csv", str(out / "x"), "--no-cache") == cli.EXIT_USAGE
    assert sorted(p.name for p in out.iterdir()) == ["keep.jpg", "r.csv", "r.jsonl"]  # no temporary left


def test_allow_inside_writes_reports_there_and_leaves_them_out(folder, capsys):
    """With --allow-inside, new reports inside the folder are written and not audited (nor their temporaries)."""
    before = snapshot(folder)
    assert _audit(str(folder), "--jsonl", str(folder / "r.jsonl"), "--csv", str(folder / "r.csv"),
                  "--html", str(folder / "r.html"), "--no-cache", "--allow-inside") == cli.EXIT_OK
    rows = read_jsonl(folder / "r.jsonl")
    assert sorted(Path(r["file"]).name for r in rows) == ["a.png", "photo.jpg"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*before, "r.csv", "r.html", "r.jsonl"])


def test_a_killed_run_leaves_the_previous_report_whole(tmp_path):
    """Reports are written beside their destination and moved into place at the end: kill -9 mid-run
    keeps the previous run's JSONL and CSV as they were (they used to be truncated at the start)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        save_png(folder / f"img{i:02d}.png", 200 + i, 256)
    env = dict(os.environ, PROVENANCE_HOME=str(tmp_path / "home"))
    jsonl, csv_path = tmp_path / "r.jsonl", tmp_path / "r.csv"
    argv = [sys.executable, str(REPO / "cli.py"), "audit", str(folder), "--workers", "1", "--no-cache",
            "--jsonl", str(jsonl), "--csv", str(csv_path), *FAST]
    subprocess.run(argv, env=env, check=True, capture_output=True)
    previous = (jsonl.read_bytes(), csv_path.read_bytes())
    assert len(read_jsonl(jsonl)) == 12
    for i in range(12, 40):
        save_png(folder / f"img{i:02d}.png", 200 + i, 256)
    log = tmp_path / "killed.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 60
    partial: list[Path] = []
    # Kill it once rows stream (to the temporary beside the report), or once the report itself changed.
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in tmp_path.glob(".r.jsonl.*.partial") if p.stat().st_size > 0]
        if partial or jsonl.read_bytes() != previous[0]:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, log.read_text()
    assert (jsonl.read_bytes(), csv_path.read_bytes()) == previous
    assert partial  # the run was killed while writing its rows


def test_a_report_behind_a_symbolic_link_is_replaced_where_it_lives(folder, tmp_path):
    """Writing a report through a link replaces the file it points to; the link stays a link."""
    real = tmp_path / "reports" / "r.csv"
    real.parent.mkdir()
    from provenance.audit import CSV_COLUMNS

    real.write_text(",".join(CSV_COLUMNS) + "\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    assert _audit(str(folder), "--csv", str(link), "--no-cache") == cli.EXIT_OK
    assert link.is_symlink() and len(real.read_text().splitlines()) == 3


def test_report_folders_are_created_when_missing(folder, tmp_path):
    """The README's main command on a fresh checkout: ``--html out/report.html`` with no ``out/``
    yet creates the folder (every report kind), instead of failing before any work."""
    out = tmp_path / "fresh" / "out"
    code = _audit(str(folder), "--html", str(out / "report.html"), "--csv", str(out / "csv" / "rows.csv"),
                  "--jsonl", str(out / "rows.jsonl"))
    assert code == 0
    assert (out / "report.html").stat().st_size > 0 and (out / "csv" / "rows.csv").is_file()
    assert len(read_jsonl(out / "rows.jsonl")) == 2


def test_a_report_folder_that_is_a_file_is_an_error(folder, tmp_path, capsys):
    """A report whose folder is an existing file: a clear error, exit 1, nothing written."""
    (tmp_path / "out").write_text("not a folder")
    assert _audit(str(folder), "--html", str(tmp_path / "out" / "report.html")) == cli.EXIT_ERROR
    assert "is not a folder" in capsys.readouterr().err
