"""audit's resumable cache: kill -9 loses only files in flight, re-runs skip done work, renames are free."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import cli
from provenance import VerifyOptions
from provenance.audit import AuditCache, default_cache_path, options_fingerprint

from support.audit_data import FAST, read_jsonl, save_png, snapshot
from support import REPO

N_FILES = 16


def _cached_rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return 0
    try:
        return db.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.Error:  # created but no table yet
        return 0
    finally:
        db.close()


def test_kill_9_then_resume_then_rename(tmp_path, capsys):
    """kill -9 mid-run keeps finished files; the re-run completes each file once; a renamed file is not re-analysed."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(N_FILES):
        save_png(folder / f"img{i:02d}.png", 100 + i, 256)
    before = snapshot(folder)
    cache = tmp_path / "state" / "cache.sqlite"
    env = dict(os.environ, PROVENANCE_HOME=str(tmp_path / "home"))
    argv = [sys.executable, str(REPO / "cli.py"), "audit", str(folder), "--cache", str(cache), "--workers", "1", *FAST]
    log = tmp_path / "killed.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv + ["--jsonl", str(tmp_path / "killed.jsonl")], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 60
    while _cached_rows(cache) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    done = _cached_rows(cache)
    assert proc.returncode == -signal.SIGKILL, log.read_text()
    assert 3 <= done < N_FILES

    out = tmp_path / "resumed.jsonl"
    assert cli.main(argv[2:] + ["--jsonl", str(out)]) == cli.EXIT_OK
    rows = read_jsonl(out)
    assert Counter(Path(r["file"]).name for r in rows) == Counter(f"img{i:02d}.png" for i in range(N_FILES))
    analysed = [r for r in rows if not r["audit"]["cached"]]
    assert len(analysed) == N_FILES - done and _cached_rows(cache) == N_FILES
    assert f"({N_FILES - done} analysed, {done} from the cache)" in capsys.readouterr().out

    (folder / "img00.png").rename(folder / "renamed.png")
    (folder / "sub").mkdir()
    (folder / "img01.png").rename(folder / "sub" / "moved.png")
    out = tmp_path / "renamed.jsonl"
    assert cli.main(argv[2:] + ["--jsonl", str(out)]) == cli.EXIT_OK
    rows = {Path(r["file"]).name: r for r in read_jsonl(out)}
    assert all(r["audit"]["cached"] for r in rows.values()) and len(rows) == N_FILES
    assert rows["moved.png"]["file"] == str(folder / "sub" / "moved.png") and "img01.png" not in rows
    assert f"(0 analysed, {N_FILES} from the cache)" in capsys.readouterr().out
    assert not any(p.name.startswith(("cache", "audit")) for p in folder.rglob("*"))
    assert len(before) == N_FILES


def test_fingerprint_separates_options(tmp_path):
    """A cached report is served only for the same options: trust anchors or methods change the key."""
    base = dict(trust_anchors_pem=b"", forensics=False, watermark_methods=["dwtDctSvd"])
    fp = options_fingerprint(VerifyOptions(**base))
    assert fp == options_fingerprint(VerifyOptions(**base))
    assert fp != options_fingerprint(VerifyOptions(**dict(base, trust_anchors_pem=b"-----BEGIN CERTIFICATE-----")))
    assert fp != options_fingerprint(VerifyOptions(**dict(base, watermark_methods=["dwtDct"])))
    assert fp != options_fingerprint(VerifyOptions(**dict(base, forensics=True)))
    with AuditCache(tmp_path / "c.sqlite", fp) as c:
        c.put("ab" * 32, {"schema": "provenance.verify/1"})
        assert c.get("ab" * 32) == {"schema": "provenance.verify/1"}
    with AuditCache(tmp_path / "c.sqlite", options_fingerprint(VerifyOptions(**dict(base, forensics=True)))) as c:
        assert c.get("ab" * 32) is None and c.count(all_fingerprints=True) == 1


def test_default_cache_is_outside_the_audited_folder(tmp_path, monkeypatch):
    """Without --cache the cache lives in PROVENANCE_HOME (or the user cache dir), not beside the images."""
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / "audit-cache.sqlite"
    folder = tmp_path / "imgs"
    folder.mkdir()
    save_png(folder / "a.png", 1, 96)
    assert cli.main(["audit", str(folder), "--workers", "1", *FAST]) == cli.EXIT_OK
    assert default_cache_path().exists() and [p.name for p in folder.iterdir()] == ["a.png"]


def test_cache_inside_the_folder_only_when_asked_and_not_audited(tmp_path):
    """A cache put inside the audited folder is refused (exit 2) unless --allow-inside; then it is used,
    and the walk leaves it (and its WAL) out."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    save_png(folder / "a.png", 1, 96)
    out = tmp_path / "r.csv"
    argv = ["audit", str(folder), "--cache", str(folder / "audit.sqlite"), "--csv", str(out), "--workers", "1", *FAST]
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == cli.EXIT_USAGE and not (folder / "audit.sqlite").exists() and not out.exists()
    assert cli.main(argv + ["--allow-inside"]) == cli.EXIT_OK
    assert (folder / "audit.sqlite").exists()
    assert [line.split(",")[0] for line in out.read_text().splitlines()[1:]] == [str(folder / "a.png")]
