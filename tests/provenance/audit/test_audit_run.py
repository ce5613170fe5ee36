"""audit end to end through the CLI: rows, error rows, exit codes, JSONL schema, CSV, the folder left untouched."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
from PIL import Image

import cli
from provenance._data_files import VERIFY_SCHEMA, load_json
from provenance.audit import CSV_COLUMNS

from support.audit_data import (FAST, HOSTILE_NAME, HOSTILE_PROMPT, a1111_parameters, header_bomb, memory_bomb, read_jsonl,
                         save_png, snapshot)
from support import REPO, flip_scan_bit

SCHEMA = load_json(VERIFY_SCHEMA)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """One folder with a file per role, audited once with every report (outputs outside the folder)."""
    base = tmp_path_factory.mktemp("audit")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROVENANCE_HOME", str(base / "home"))
        from provenance import GenerationRecord, init_keys, load_identity, stamp_file

        keys = init_keys(org="Audit Test Org")
        identity = load_identity()
        folder = base / "folder"
        (folder / "sub").mkdir(parents=True)
        src = save_png(base / "src.png", 11)
        stamp_file(src, folder / "stamped.png", identity=identity, record=GenerationRecord(model="m-1"))
        stamp_file(src, base / "signed.jpg", identity=identity, record=GenerationRecord(model="m-1"))
        signed = (base / "signed.jpg").read_bytes()
        (folder / "tampered.jpg").write_bytes(flip_scan_bit(signed))  # pixels changed after signing
        save_png(folder / "plain.png", 12)
        save_png(folder / HOSTILE_NAME, 13, text={"parameters": a1111_parameters(HOSTILE_PROMPT)})
        (folder / "corrupt.jpg").write_bytes((base / "signed.jpg").read_bytes()[:2500])
        header_bomb(folder / "bomb.png")
        (folder / "notes.txt").write_text("not an image")
        save_png(folder / ".hidden.png", 14)
        save_png(folder / "sub" / "deep.png", 15)
        before = snapshot(folder)
        out = base / "out"
        out.mkdir()
        ns = SimpleNamespace(folder=folder, out=out, trust=str(keys / "root-ca.pem"), cache=str(base / "cache.sqlite"),
                             jsonl=out / "r.jsonl", csv=out / "r.csv", html=out / "r.html", before=before, mp=mp)
        ns.argv = ["audit", str(folder), "--trust", ns.trust, "--cache", ns.cache, "--workers", "2", *FAST]
        ns.rc = cli.main(ns.argv + ["--jsonl", str(ns.jsonl), "--csv", str(ns.csv), "--html", str(ns.html)])
        ns.after = snapshot(folder)
        ns.rows = read_jsonl(ns.jsonl)
        ns.by_name = {Path(r["file"]).name: r for r in ns.rows}
        with open(ns.csv, newline="", encoding="utf-8") as fh:
            ns.csv_rows = list(csv.DictReader(fh))
        yield ns


def test_every_file_reported_once_with_its_verdict(audited):
    """Each file is one JSONL row, as in the CSV (a skipped one says why); verdicts follow the evidence."""
    names = sorted(audited.by_name)
    assert len(audited.rows) == len(names) == 9
    assert names == sorted(["stamped.png", "tampered.jpg", "plain.png", HOSTILE_NAME, "corrupt.jpg", "bomb.png",
                            "deep.png", ".hidden.png", "notes.txt"])
    r = audited.by_name
    assert r["notes.txt"]["audit"] == {"status": "skipped", "cached": False, "seconds": 0.0,
                                       "reason": "not an image (text)", "image": False}
    assert r[".hidden.png"]["audit"]["status"] == "ok"  # hidden files are audited unless --skip-hidden
    assert r["stamped.png"]["c2pa"]["status"] == "trusted" and r["stamped.png"]["verdict"]["label"] == "ai-generated"
    assert r["tampered.jpg"]["c2pa"]["status"] == "tampered"
    assert r["plain.png"]["verdict"]["label"] == "unknown" and r["plain.png"]["audit"]["status"] == "ok"
    assert r[HOSTILE_NAME]["metadata"]["generator"]["prompt"].startswith("</script>")


def test_jsonl_rows_validate_against_the_verify_schema(audited):
    """Every JSONL line is a provenance.verify/1 object, error rows included."""
    for row in audited.rows:
        jsonschema.validate(row, SCHEMA)


@pytest.mark.parametrize("name,message", [
    pytest.param("corrupt.jpg", "corrupt or truncated JPEG", id="corrupt"),
    pytest.param("bomb.png", "decompression bomb", id="decompression-bomb"),
])
def test_unreadable_files_are_error_rows(audited, name, message):
    """A corrupt file or a bomb is a row with status=error and the message; the run went on."""
    row = audited.by_name[name]
    assert row["audit"]["status"] == "error" and message in row["errors"][0]["error"]
    csv_row = next(c for c in audited.csv_rows if c["path"].endswith(name))
    assert csv_row["status"] == "error" and message in csv_row["reason"]


def test_csv_has_a_flat_row_per_file(audited):
    """The CSV has the documented columns and one row per file met, skipped ones with their reason."""
    with open(audited.csv, newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == CSV_COLUMNS
    by_name = {Path(c["path"]).name: c for c in audited.csv_rows}
    assert len(audited.csv_rows) == 9
    assert by_name["notes.txt"]["status"] == "skipped" and by_name["notes.txt"]["reason"] == "not an image (text)"
    assert by_name[".hidden.png"]["status"] == "ok"
    stamped = by_name["stamped.png"]
    assert stamped["c2pa_status"] == "trusted" and stamped["watermarks"] == "provenanceWM"
    assert stamped["c2pa_signer"] == "Audit Test Org Content Signer" and stamped["verdict"] == "ai-generated"
    assert len(stamped["content_id"]) == 16 and "ai" in stamped["flags"].split()


def test_errors_give_exit_1_and_the_folder_is_untouched(audited):
    """Errors without --fail-on exit 1; no audited file changed and no file appeared in the folder."""
    assert audited.rc == cli.EXIT_ERROR
    assert audited.after == audited.before


@pytest.mark.parametrize("fail_on,code", [
    pytest.param("ai", cli.EXIT_FLAGGED, id="ai-flags-3"),
    pytest.param("tampered", cli.EXIT_FLAGGED, id="tampered-flags-3"),
])
def test_fail_on_exits_3_served_from_the_cache(audited, fail_on, code, capsys):
    """--fail-on wins over errors (exit 3); a re-run analyses nothing: every image comes from the cache."""
    out = audited.out / f"again-{fail_on}.jsonl"
    assert cli.main(audited.argv + ["--fail-on", fail_on, "--jsonl", str(out)]) == code
    rows = read_jsonl(out)
    assert len(rows) == 9
    assert all(r["audit"]["cached"] for r in rows if r["audit"]["status"] == "ok")
    assert "(0 analysed, 8 from the cache)" in capsys.readouterr().out  # decode errors are cached too


def test_clean_folder_exits_0_and_jsonl_to_stdout(tmp_path, capsys, monkeypatch):
    """A folder with nothing wrong exits 0; --jsonl - streams rows to stdout and the summary to stderr."""
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    (tmp_path / "d").mkdir()
    save_png(tmp_path / "d" / "one.png", 21)
    assert cli.main(["audit", str(tmp_path / "d"), "--jsonl", "-", "--workers", "1", *FAST]) == cli.EXIT_OK
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 1 and rows[0]["file"].endswith("one.png")
    assert "audited 1 files" in captured.err and "1 analysed" in captured.err


def test_timeout_and_memory_guard_become_error_rows(tmp_path, monkeypatch):
    """A file past --timeout, or one needing more than --max-memory, is an error row; its worker is replaced."""
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    slow, hungry = tmp_path / "slow", tmp_path / "hungry"
    slow.mkdir()
    hungry.mkdir()
    Image.new("RGB", (3000, 3000), (90, 100, 110)).save(slow / "big.png")
    save_png(slow / "small.png", 22, 128)
    memory_bomb(hungry / "zeros.png", 9000)
    out = tmp_path / "r.jsonl"
    rc = cli.main(["audit", str(slow), str(hungry), "--jsonl", str(out), "--workers", "1", "--no-cache",
                   "--timeout", "5", "--max-memory", "150", *FAST])
    rows = {Path(r["file"]).name: r for r in read_jsonl(out)}
    assert rc == cli.EXIT_ERROR and len(rows) == 3
    assert "out of memory" in rows["zeros.png"]["errors"][0]["error"]
    assert rows["small.png"]["audit"]["status"] == "ok"
    rc = cli.main(["audit", str(slow), "--jsonl", str(out), "--workers", "1", "--no-cache", "--timeout", "0.05", *FAST])
    rows = {Path(r["file"]).name: r for r in read_jsonl(out)}
    assert rc == cli.EXIT_ERROR and "timed out after 0.05 s" in rows["big.png"]["errors"][0]["error"]


def test_usage_errors_exit_2(tmp_path):
    """Contradictory or invalid options are usage errors (exit 2)."""
    with pytest.raises(SystemExit) as e:
        cli.main(["audit", str(tmp_path), "--cache", "x.sqlite", "--no-cache"])
    assert e.value.code == cli.EXIT_USAGE
    with pytest.raises(SystemExit) as e:
        cli.main(["audit", str(tmp_path), "--fail-on", "nonsense"])
    assert e.value.code == cli.EXIT_USAGE


def test_bundled_samples_audit_as_documented(tmp_path, monkeypatch):
    """samples/ (the README's main command) gives what samples/README.md promises, with its demo root trusted."""
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    out = tmp_path / "samples.csv"
    rc = cli.main(["audit", str(REPO / "samples"), "--trust", str(REPO / "samples" / "trust" / "demo-root.pem"),
                   "--csv", str(out), "--no-cache", "--workers", "2", *FAST])
    with open(out, newline="", encoding="utf-8") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert rc == cli.EXIT_ERROR  # corrupt.jpg, on purpose
    for name in ("ai-landscape.stamped.png", "ai-still_life.stamped.jpg"):
        assert rows[name]["c2pa_status"] == "trusted" and rows[name]["verdict"] == "ai-generated"
    assert rows["ai-still_life.tampered.jpg"]["c2pa_status"] == "tampered"
    assert rows["ai-landscape.reencoded.jpg"]["c2pa_status"] == "absent"
    assert rows["ai-landscape.reencoded.jpg"]["watermarks"] == "provenanceWM"
    assert rows["corrupt.jpg"]["status"] == "error"
    assert {rows[n]["status"] for n in ("photo-astronaut.jpg", "photo-rocket.jpg", "landscape.png")} == {"ok"}
    assert rows["params.json"]["status"] == "skipped"
    assert sum(p.stat().st_size for p in (REPO / "samples").rglob("*") if p.is_file()) < 3_000_000


def test_after_the_memory_guard_the_next_file_is_unaffected(tmp_path, monkeypatch):
    """A worker that hit the memory guard is replaced at once: the next healthy file used to be handed to
    the dying worker and reported "timed out" after the whole --timeout; now it is analysed normally."""
    import time

    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "mixed"
    folder.mkdir()
    memory_bomb(folder / "a-zeros.png", 9000)
    save_png(folder / "b-healthy.png", 23, 128)
    save_png(folder / "c-healthy.png", 24, 128)
    out = tmp_path / "r.jsonl"
    started = time.monotonic()
    rc = cli.main(["audit", str(folder), "--jsonl", str(out), "--workers", "1", "--no-cache", "--timeout", "60",
                   "--max-memory", "150", *FAST])
    seconds = time.monotonic() - started
    rows = {Path(r["file"]).name: r for r in read_jsonl(out)}
    assert rc == cli.EXIT_ERROR and "out of memory" in rows["a-zeros.png"]["errors"][0]["error"]
    assert rows["b-healthy.png"]["audit"]["status"] == "ok" and rows["c-healthy.png"]["audit"]["status"] == "ok"
    assert seconds < 40, f"the run stalled for {seconds:.0f} s"


def test_a_repeated_error_is_one_row_entry_with_a_count(tmp_path, monkeypatch):
    """5,000 tiny tEXt chunks gave thousands of copies of one message (a CSV cell over the csv module's
    field limit): each distinct error is reported once with its count, in JSONL and CSV."""
    from support.audit_data import png_chunk

    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "chunks"
    folder.mkdir()
    data = save_png(tmp_path / "src.png", 25, 128).read_bytes()
    end = data.rfind(b"IEND") - 4
    chunks = b"".join(png_chunk(b"tEXt", b"k%d\x00v" % n) for n in range(5000))
    (folder / "chunky.png").write_bytes(data[:end] + chunks + data[end:])
    jsonl, csv_path = tmp_path / "r.jsonl", tmp_path / "r.csv"
    cli.main(["audit", str(folder), "--jsonl", str(jsonl), "--csv", str(csv_path), "--workers", "1", "--no-cache",
              *FAST])
    [row] = read_jsonl(jsonl)
    pairs = [(e["collector"], e["error"]) for e in row["errors"]]
    assert len(pairs) == len(set(pairs)) and max(e.get("count", 1) for e in row["errors"]) > 4000
    assert len(jsonl.read_bytes()) < 100_000
    with open(csv_path, newline="", encoding="utf-8") as fh:  # the default field limit (128 KiB) holds
        [csv_row] = list(csv.DictReader(fh))
    assert " times)" in csv_row["errors"] and len(csv_row["errors"]) < 2000
