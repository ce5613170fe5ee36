"""audit as a CI gate: a hidden name, an empty .png or a text file named .jpg cannot slip past --fail-on."""
from __future__ import annotations

import csv
from pathlib import Path

import jsonschema
import pytest

import cli
from provenance._data_files import VERIFY_SCHEMA, load_json
from support.audit_data import FAST, read_jsonl, save_png

SCHEMA = load_json(VERIFY_SCHEMA)
EVERYTHING = "ai,tampered,invalid,error,unknown"


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """The folder of the issue: only a stamped AI image named .x.png, an empty .png, a text file named .jpg."""
    base = tmp_path_factory.mktemp("gate")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROVENANCE_HOME", str(base / "home"))
        from provenance import GenerationRecord, init_keys, load_identity, stamp_file

        init_keys(org="Gate Org")
        folder = base / "incoming"
        folder.mkdir()
        stamp_file(save_png(base / "src.png", 41), folder / ".x.png", identity=load_identity(),
                   record=GenerationRecord(model="m-gate"))
        (folder / "empty.png").write_bytes(b"")
        (folder / ".jpg").write_text("not an image at all")
        (folder / "notes.txt").write_text("a note")
        yield base, folder, mp


def _run(base: Path, folder: Path, *extra: str, capsys) -> tuple[int, list[dict], list[dict], str]:
    jsonl, csv_path = base / "r.jsonl", base / "r.csv"
    rc = cli.main(["audit", str(folder), "--jsonl", str(jsonl), "--csv", str(csv_path), "--no-cache",
                   "--workers", "1", *FAST, *extra])
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rc, read_jsonl(jsonl), rows, capsys.readouterr().out


def test_the_gate_sees_hidden_empty_and_misnamed_files(gate, capsys):
    """Every --fail-on exits 3 there: the hidden AI image is audited, the empty .png and the text .jpg are
    error rows (as verify reports them); JSONL and CSV list the same four files."""
    base, folder, _ = gate
    rc, lines, rows, _out = _run(base, folder, "--fail-on", EVERYTHING, capsys=capsys)
    assert rc == cli.EXIT_FLAGGED
    by_name = {Path(r["file"]).name: r for r in lines}
    assert by_name[".x.png"]["verdict"]["label"] == "ai-generated" and by_name[".x.png"]["audit"]["status"] == "ok"
    for name, why in (("empty.png", "the file is empty"), (".jpg", "not an image (text)")):
        assert by_name[name]["audit"]["status"] == "error" and why in by_name[name]["errors"][0]["error"]
    assert by_name["notes.txt"]["audit"]["status"] == "skipped"
    assert sorted(by_name) == sorted(Path(r["path"]).name for r in rows) == [".jpg", ".x.png", "empty.png",
                                                                               "notes.txt"]
    for line in lines:
        jsonschema.validate(line, SCHEMA)
    for fail_on in ("ai", "error"):
        assert _run(base, folder, "--fail-on", fail_on, capsys=capsys)[0] == cli.EXIT_FLAGGED


def test_skip_hidden_is_a_choice_that_fail_on_skipped_still_counts(gate, capsys):
    """--skip-hidden skips .x.png on purpose: a skipped row that knows it is an image; the summary names it,
    and --fail-on skipped fails on it (a non-image skipped file is not counted)."""
    base, folder, _ = gate
    rc, lines, rows, out = _run(base, folder, "--skip-hidden", "--fail-on", "ai", capsys=capsys)
    assert rc == cli.EXIT_ERROR  # empty.png is still an error; the hidden AI image was not analysed
    hidden = next(r for r in rows if r["path"].endswith(".x.png"))
    assert (hidden["status"], hidden["format"], hidden["flags"]) == ("skipped", "PNG", "skipped")
    assert "--skip-hidden" in hidden["reason"]
    line = next(r for r in lines if r["file"].endswith(".x.png"))
    assert line["audit"] == {"status": "skipped", "cached": False, "seconds": 0.0, "image": True,
                             "reason": hidden["reason"]}
    # .jpg is hidden too, and its name says image: counted as well (its content is never read for a verdict)
    assert "2 image(s) skipped, not analysed" in out
    assert f"  {folder / '.x.png'} (" in out and f"  {folder / '.jpg'} (" in out
    rc, _lines, _rows, out = _run(base, folder, "--skip-hidden", "--fail-on", "skipped", capsys=capsys)
    assert rc == cli.EXIT_FLAGGED and "2 file(s) flagged by --fail-on skipped" in out
    assert "flagged by --fail-on skipped" in out


def test_fail_on_skipped_is_for_audit_only(tmp_path):
    """verify takes its files as given (it never skips), so --fail-on skipped is a usage error there."""
    with pytest.raises(SystemExit) as e:
        cli.main(["verify", str(tmp_path / "x.png"), "--fail-on", "skipped"])
    assert e.value.code == cli.EXIT_USAGE
