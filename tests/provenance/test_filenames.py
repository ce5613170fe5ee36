"""File names that are not UTF-8: written losslessly (escaped text + base64 bytes) by verify and audit, everywhere."""
from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import cli
from provenance._data_files import VERIFY_SCHEMA, load_json

from support.audit_data import FAST, save_png
from support import REPO

SCHEMA = load_json(VERIFY_SCHEMA)
RAW = b"caf\xe9 \xff.png"  # Latin-1 bytes: not UTF-8
SHOWN = "caf\\xe9 \\xff.png"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")


def test_text_helpers_escape_and_keep_the_bytes():
    """A surrogate-escaped name is shown with \\xNN escapes and its bytes travel in base64; a valid one is untouched."""
    from provenance._text import dumps_json, file_fields, printable

    name = os.fsdecode(RAW)
    fields = file_fields(name)
    assert fields["file"] == SHOWN and base64.b64decode(fields["file_bytes_b64"]) == RAW
    assert file_fields("plain é.png") == {"file": "plain é.png"}
    assert printable("\ud800x") == "\\ud800x"
    assert json.loads(dumps_json({"k": "\udce9"})) == {"k": "\udce9"}  # lone surrogates: ASCII escapes, lossless


@pytest.fixture
def odd_folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "odd"
    folder.mkdir()
    src = save_png(tmp_path / "src.png", 51, 128)
    os.rename(src, os.path.join(os.fsencode(folder), RAW))
    (folder / ".notes").write_bytes(b"x")
    os.close(os.open(os.path.join(os.fsencode(folder), b"skip\xe9.txt"), os.O_CREAT | os.O_WRONLY))
    return folder


def test_verify_json_is_valid_utf8_json(odd_folder):
    """verify --json used to print the raw bytes (invalid JSON): the name is escaped, its bytes in base64."""
    path = os.path.join(os.fsencode(odd_folder), RAW)
    out = subprocess.run([sys.executable, str(REPO / "cli.py"), "verify", path, "--json", *FAST],
                         capture_output=True, env=dict(os.environ, PYTHONIOENCODING="utf-8"), check=True).stdout
    [report] = json.loads(out.decode("utf-8"))
    jsonschema.validate(report, SCHEMA)
    assert report["file"].endswith(SHOWN) and base64.b64decode(report["file_bytes_b64"]) == path
    assert report["verdict"]["label"] == "unknown" and not report["errors"]


def test_audit_reports_every_name_in_every_report(odd_folder, tmp_path):
    """An odd name used to abort the whole audit (UnicodeEncodeError, empty JSONL); now JSONL, CSV, HTML and
    the cache all carry it: escaped for reading, base64 for the exact bytes, a second run from the cache."""
    out = tmp_path / "out"
    out.mkdir()
    argv = ["audit", str(odd_folder), "--jsonl", str(out / "r.jsonl"), "--csv", str(out / "r.csv"),
            "--html", str(out / "r.html"), "--cache", str(tmp_path / "c.sqlite"), "--workers", "1", *FAST]
    for cached in (False, True):
        assert cli.main(argv) == cli.EXIT_OK
        lines = [json.loads(line) for line in (out / "r.jsonl").read_bytes().decode("utf-8").splitlines()]
        by_b64 = {base64.b64decode(r["file_bytes_b64"]): r for r in lines if "file_bytes_b64" in r}
        image = by_b64[os.path.join(os.fsencode(odd_folder), RAW)]
        assert image["file"].endswith(SHOWN) and image["audit"] == {"status": "ok", "cached": cached,
                                                                      "seconds": image["audit"]["seconds"]}
        jsonschema.validate(image, SCHEMA)
        skipped = by_b64[os.path.join(os.fsencode(odd_folder), b"skip\xe9.txt")]
        assert skipped["audit"]["status"] == "skipped" and skipped["file"].endswith("skip\\xe9.txt")
        with open(out / "r.csv", newline="", encoding="utf-8") as fh:
            rows = {r["path"]: r for r in csv.DictReader(fh)}
        row = rows[str(odd_folder / SHOWN)]
        assert base64.b64decode(row["path_bytes_b64"]) == os.path.join(os.fsencode(odd_folder), RAW)
        assert rows[str(odd_folder / ".notes")]["path_bytes_b64"] == ""
        assert SHOWN.replace("\\", "\\\\") in (out / "r.html").read_text(encoding="utf-8")
