"""The CLI: every command's --help, JSON outputs, and every exit code these commands can give."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import cli
from provenance.cli import build_parser
from support import REPO, natural_image
from support import run_cli as run

def _command_paths(parser, prefix=()) -> list[tuple[str, ...]]:
    """Every command and action the parser knows, walked from its subparsers (``("keys", "init")``, ...)."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((*prefix, name))
                out += _command_paths(sub, (*prefix, name))
    return out


COMMAND_PATHS = _command_paths(build_parser())


def test_the_walk_finds_every_command():
    """The walk sees this package's commands and the ones detectors registers (an entry point)."""
    top = {p[0] for p in COMMAND_PATHS}
    assert {"keys", "stamp", "watermark", "verify", "audit", "generate", "bench", "registry",
            "detect", "train", "evaluate"} <= top
    assert ("keys", "init") in COMMAND_PATHS and ("registry", "reindex") in COMMAND_PATHS


@pytest.mark.parametrize("argv", [pytest.param(p, id=" ".join(p)) for p in [(), *COMMAND_PATHS]])
def test_help(capsys, argv):
    """Every command's --help (and the program's) works and ends with an example of that command."""
    code, out, _ = run(capsys, *argv, "--help")
    assert code == 0 and "usage: provenance" in out
    if argv:
        assert f"example:\n  provenance {argv[0]}" in out


def test_keys_init_show_json(capsys, home):
    """keys init then keys show --json describe the same certificate."""
    code, out, _ = run(capsys, "keys", "init", "--org", "CLI Org", "--json")
    assert code == 0
    created = json.loads(out)
    code, out, _ = run(capsys, "keys", "show", "--json")
    assert code == 0 and json.loads(out)["certificates"] == created["certificates"]
    assert "CLI Org" in created["certificates"][0]["subject"]


@pytest.fixture
def stamped(capsys, home, tmp_path):
    img = tmp_path / "gen.png"
    Image.fromarray(natural_image(384, 384, seed=5)).save(img)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"prompt": "a lighthouse", "seed": 7, "steps": 30}))
    assert run(capsys, "keys", "init", "--org", "T")[0] == 0
    out_path = tmp_path / "gen.stamped.png"
    code, out, err = run(capsys, "stamp", str(img), "-o", str(out_path), "--model", "sdxl-base-1.0",
                         "--params", str(params), "--json")
    assert code == 0, err
    return img, out_path, json.loads(out)


def test_stamp_detect_registry_round_trip(capsys, stamped):
    """stamp --json, watermark detect --json and registry show agree on the content id."""
    _, out_path, result = stamped
    cid = result["content_id"]
    assert result["output"] == str(out_path) and len(cid) == 16
    assert set(result["timings_ms"]) >= {"watermark", "metadata", "encode", "sign", "write", "registry"}
    code, out, _ = run(capsys, "watermark", "detect", str(out_path), "--json", "--method", "provenanceWM")
    assert code == 0
    [entry] = json.loads(out)
    assert entry["file"] == str(out_path)
    [wm] = entry["watermarks"]
    assert wm["scheme"] == "provenanceWM" and wm["detected"] and wm["payload"] == cid[:12] and wm["partial"]
    assert wm["false_positive_rate"] < 1e-9
    code, out, _ = run(capsys, "registry", "show", cid[:8], "--json")
    assert code == 0 and json.loads(out)["content_id"] == cid
    code, out, _ = run(capsys, "registry", "show", cid)
    assert code == 0 and "seed: 7" in out and "model: sdxl-base-1.0" in out
    code, out, _ = run(capsys, "registry", "list", "--json")
    assert code == 0 and [r["content_id"] for r in json.loads(out)] == [cid]
    code, out, _ = run(capsys, "registry", "export", "--format", "csv")
    assert code == 0 and cid in out.splitlines()[1]


def test_watermark_embed_then_detect(capsys, tmp_path, home):
    """watermark embed writes a marked copy with the given id; detect finds it; the input is untouched."""
    src = tmp_path / "in.png"
    Image.fromarray(natural_image(320, 320, seed=2)).save(src)
    before = src.read_bytes()
    dst = tmp_path / "marked.png"
    code, out, _ = run(capsys, "watermark", "embed", str(src), str(dst), "--content-id", "00112233AABBCCDD", "--json")
    embedded = json.loads(out)
    assert code == 0 and embedded["content_id"] == "00112233aabbccdd"
    assert embedded["payload"] == "00112233aabb" and embedded["partial"]  # what detect will report
    assert src.read_bytes() == before
    code, out, _ = run(capsys, "watermark", "detect", str(dst), str(src), "--method", "provenanceWM")
    assert code == 0
    assert f"{dst}: provenanceWM id prefix 00112233aabb " in out and f"{src}: no watermark found" in out


def test_watermark_methods_lists_the_registry(capsys):
    """watermark methods --json lists every registered method with its false-positive rate."""
    from provenance.watermark import method_names

    code, out, _ = run(capsys, "watermark", "methods", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == method_names()
    assert sum(r["default"] for r in rows) == 1


# --- exit codes -------------------------------------------------------------------------------

def test_exit_1_missing_key(capsys, home, tmp_path):
    """Stamping without keys exits 1 and says how to create them."""
    src = tmp_path / "in.png"
    Image.fromarray(natural_image(300, 300)).save(src)
    code, _, err = run(capsys, "stamp", str(src), "-o", str(tmp_path / "o.png"))
    assert code == 1 and "provenance keys init" in err and "Traceback" not in err


def test_exit_1_output_exists(capsys, stamped):
    """Stamping onto an existing file exits 1 and leaves it alone."""
    img, out_path, _ = stamped
    before = out_path.read_bytes()
    code, _, err = run(capsys, "stamp", str(img), "-o", str(out_path))
    assert code == 1 and "--overwrite" in err and out_path.read_bytes() == before


def test_exit_1_corrupt_input(capsys, stamped, tmp_path):
    """A corrupt input exits 1 with one clear line and no output file."""
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    code, _, err = run(capsys, "stamp", str(bad), "-o", str(tmp_path / "x.png"))
    assert code == 1 and "corrupt or truncated JPEG" in err and not (tmp_path / "x.png").exists()


def test_exit_1_wrong_passphrase(capsys, home, tmp_path, monkeypatch):
    """An encrypted key with a wrong passphrase exits 1 naming the problem."""
    secret = tmp_path / "pass.txt"
    secret.write_text("right\n")
    secret.chmod(0o600)
    assert run(capsys, "keys", "init", "--passphrase-file", str(secret))[0] == 0
    src = tmp_path / "in.png"
    Image.fromarray(natural_image(300, 300)).save(src)
    monkeypatch.setenv("PROVENANCE_KEY_PASSPHRASE", "wrong")
    code, _, err = run(capsys, "stamp", str(src), "-o", str(tmp_path / "o.png"))
    assert code == 1 and "wrong passphrase" in err
    monkeypatch.setenv("PROVENANCE_KEY_PASSPHRASE", "right")
    assert run(capsys, "stamp", str(src), "-o", str(tmp_path / "o.png"))[0] == 0


def test_exit_1_unwritable_output(capsys, stamped):
    """An output folder that cannot be written exits 1."""
    img, _, _ = stamped
    code, _, err = run(capsys, "stamp", str(img), "-o", "/sys/provenance-out.png")
    assert code == 1 and "/sys" in err


def test_exit_1_detect_with_unreadable_file_reports_the_rest(capsys, stamped, tmp_path):
    """watermark detect keeps going past a bad file, reports it as an error row, and exits 1."""
    _, out_path, result = stamped
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    code, out, _ = run(capsys, "watermark", "detect", str(bad), str(out_path), "--json", "--method", "provenanceWM")
    rows = json.loads(out)
    assert code == 1 and "error" in rows[0] and rows[1]["watermarks"][0]["payload"] == result["content_id"][:12]


def test_exit_1_registry_show_unknown(capsys, home):
    """registry show of an unknown id exits 1."""
    assert run(capsys, "registry", "show", "deadbeef")[0] == 1


@pytest.mark.parametrize("argv", [
    pytest.param(["stamp"], id="stamp-no-args"),
    pytest.param(["frobnicate"], id="unknown-command"),
    pytest.param(["watermark", "embed", "a.png", "b.png", "--method", "nope"], id="bad-method"),
    pytest.param(["watermark", "embed", "a.png", "b.png", "--content-id", "xyz"], id="bad-content-id"),
    pytest.param(["watermark", "embed", "a.png", "b.gif"], id="bad-output-format"),
    pytest.param(["keys", "init", "--cert", "c.pem"], id="cert-without-key"),
    pytest.param(["stamp", "a.png", "-o", "b.jpg", "--quality", "101"], id="bad-quality"),
    pytest.param(["stamp", "a.png", "-o", "b.jpg", "--seed", "x"], id="bad-seed"),
])
def test_exit_2_usage_errors(capsys, home, argv):
    """Command-line mistakes exit 2 with a usage message, before any work."""
    code, _, err = run(capsys, *argv)
    assert code == 2 and "error" in err


def test_console_script_and_python_cli_py_are_the_same(tmp_path):
    """`provenance` and `python cli.py` give the same output and exit code."""
    env = {**os.environ, "PROVENANCE_HOME": str(tmp_path)}
    script = Path(sys.executable).with_name("provenance")
    a = subprocess.run([str(script), "watermark", "methods", "--json"], capture_output=True, text=True, env=env)
    b = subprocess.run([sys.executable, str(REPO / "cli.py"), "watermark", "methods", "--json"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout
    c = subprocess.run([sys.executable, str(REPO / "cli.py"), "registry", "show", "00"], capture_output=True,
                       text=True, env=env)
    assert c.returncode == 1


def _closed_stdout(argv: list[str]) -> subprocess.CompletedProcess:
    """Run the CLI with a stdout whose reader has already gone, as `... | head -0` would leave it."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, str(REPO / "cli.py"), *argv], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write)


def test_a_reader_that_leaves_early_is_not_an_internal_error(capsys, stamped, tmp_path):
    """`verify a b c | head -1` and `registry list | head -1` printed "internal error: BrokenPipeError":
    a closed stdout ends the command quietly with exit 1, as the Python docs advise."""
    img, out_path, _ = stamped
    for argv in (["verify", str(img), str(out_path), "--no-forensics"], ["registry", "list"],
                 ["audit", str(tmp_path), "--jsonl", "-", "--no-cache", "--no-forensics", "--workers", "1"]):
        done = _closed_stdout(argv)
        assert done.returncode == cli.EXIT_ERROR, done.stderr
        assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_trust_show_lists_each_source_and_since_when(capsys, tmp_path, monkeypatch):
    """`trust show`: the public lists with their snapshot dates (and --anchors each certificate)."""
    from support import run_cli

    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    code, out, _ = run_cli(capsys, "trust", "show", "--anchors")
    assert code == 0
    assert "C2PA Trust List: trusted since 2026-08-21 (shipped snapshot 2026-08-21)" in out
    assert "interim list: trusted since 2025-08-28" in out and "1.3.6.1.4.1.311.76.59.1.9" in out
    assert "30 anchors" in out and "valid " in out
    code, out, _ = run_cli(capsys, "trust", "show", "--no-public-trust", "--json")
    assert code == 0 and out.strip() == "[]"
