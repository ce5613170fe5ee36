"""The CLI as a new user meets it: errors said once, honest help, usage errors for bad limits,
JSON on failure, Ctrl-C, files a read-only command must not create, modes under any umask, the
passphrase file, and the one pixel limit."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from support import REPO, natural_image
from support import run_cli as run


@pytest.fixture
def plain(tmp_path):
    p = tmp_path / "plain.png"
    Image.fromarray(natural_image(256, 256, seed=2)).save(p)
    return p


@pytest.mark.parametrize("argv", [
    pytest.param(["watermark", "detect"], id="watermark-detect"),
    pytest.param(["detect"], id="detect"),
])
def test_errors_are_said_once(home, tmp_path, plain, argv):
    """An unreadable file's error appears once in all the output (it used to be logged on stderr
    and printed on stdout); a real process, so that the CLI's own logging set-up is what runs."""
    missing = tmp_path / "missing.jpg"
    proc = subprocess.run([sys.executable, str(REPO / "cli.py"), *argv, str(missing), str(plain)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert (proc.stdout + proc.stderr).count(f"{missing}: no such file") == 1, proc.stdout + proc.stderr
    assert str(plain) in proc.stdout


def test_verify_of_a_missing_file_prints_only_the_error(capsys, home, tmp_path):
    """`verify missing.jpg` says the file is missing, with no verdict block for a file never read."""
    code, out, err = run(capsys, "verify", str(tmp_path / "missing.jpg"), "--no-forensics")
    assert code == 1 and out == ""
    assert "no such file" in err and "UNKNOWN" not in err + out


@pytest.mark.parametrize("argv", [["evaluate", "--help"], ["train", "--help"], ["--help"]])
def test_help_shows_percent_signs_once(capsys, argv):
    """--help reads '1%', never argparse's escaped '1%%'."""
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "%%" not in out
    if argv[0] != "train":
        assert "TPR at 1% and 0.1% FPR" in " ".join(out.split())


@pytest.mark.parametrize("limit", ["0", "-1", "x"])
def test_registry_list_limit_below_one_is_a_usage_error(capsys, home, limit):
    """--limit 0 or a negative number used to list everything; now it is refused (exit 2)."""
    code, _, err = run(capsys, "registry", "list", "--limit", limit)
    assert code == 2 and "--limit" in err


def test_registry_list_limit(capsys, home, plain):
    """--limit N lists the N newest stamps."""
    assert run(capsys, "keys", "init", "--org", "T")[0] == 0
    for i in range(3):
        assert run(capsys, "stamp", str(plain), "-o", str(plain.with_name(f"s{i}.png")))[0] == 0
    code, out, _ = run(capsys, "registry", "list", "--limit", "2", "--json")
    assert code == 0 and len(json.loads(out)) == 2


def test_stamp_json_failure_prints_a_json_error(capsys, home, tmp_path):
    """`stamp --json` that fails prints one JSON object naming the error (and exits 1)."""
    assert run(capsys, "keys", "init", "--org", "T")[0] == 0
    code, out, err = run(capsys, "stamp", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png"), "--json")
    assert code == 1
    obj = json.loads(out)
    assert "no such file" in obj["error"] and obj["file"].endswith("missing.png")
    assert "no such file" in err


def test_ctrl_c_exits_130(tmp_path):
    """A real SIGINT while verify works exits 130 with one line, no traceback."""
    img = tmp_path / "big.png"
    Image.fromarray(natural_image(1024, 1024, seed=1)).save(img)
    env = {**os.environ, "PROVENANCE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "verify", *[str(img)] * 200],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(4.0)  # the imports take ~2 s; then it is verifying
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "provenance: interrupted" in err and "Traceback" not in err


def test_ctrl_c_exit_code_is_documented():
    """The README's exit-code table has 130."""
    readme = (REPO / "README.md").read_text()
    assert "| 130 |" in readme


def test_read_only_commands_create_nothing_in_a_fresh_home(capsys, tmp_path, monkeypatch, plain):
    """verify and the registry's read commands in a fresh PROVENANCE_HOME do not create it (nor
    registry.sqlite): a lookup in a registry that does not exist finds nothing."""
    home = tmp_path / "fresh"
    monkeypatch.setenv("PROVENANCE_HOME", str(home))
    code, out, _ = run(capsys, "verify", str(plain), "--json", "--no-forensics")
    assert code == 0 and "no registry yet" in json.loads(out)[0]["registry"]["reason"]
    assert run(capsys, "registry", "list")[0] == 0
    assert run(capsys, "registry", "export")[0] == 0
    assert run(capsys, "registry", "show", "00")[0] == 1
    assert not home.exists()


def test_audit_in_a_fresh_home_creates_no_registry(capsys, tmp_path, monkeypatch, plain):
    """audit in a fresh PROVENANCE_HOME writes its cache there (its own output) but no
    registry.sqlite: its workers looked up a registry that was not there, creating it."""
    home = tmp_path / "fresh"
    monkeypatch.setenv("PROVENANCE_HOME", str(home))
    out = tmp_path / "rows.jsonl"
    code, _, _ = run(capsys, "audit", str(plain), "--jsonl", str(out), "--no-forensics", "--workers", "1")
    assert code == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert "no registry yet" in row["registry"]["reason"]
    assert not (home / "registry.sqlite").exists() and (home / "audit-cache.sqlite").exists()


def test_modes_under_umask_000(tmp_path, monkeypatch):
    """Under umask 000 the folders the tool creates are 0700, certificates 0644, keys 0600."""
    from provenance import Registry, init_keys

    home = tmp_path / "home"
    monkeypatch.setenv("PROVENANCE_HOME", str(home))
    old = os.umask(0)
    try:
        init_keys(org="Umask Org")
        Registry().close()
    finally:
        os.umask(old)

    def mode(p):
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(home) == 0o700 and mode(home / "keys") == 0o700
    assert mode(home / "keys" / "signing-chain.pem") == 0o644 and mode(home / "keys" / "root-ca.pem") == 0o644
    assert mode(home / "keys" / "signing.key") == 0o600 and mode(home / "keys" / "root-ca.key") == 0o600


def test_passphrase_file_readable_by_others_is_refused(capsys, home, tmp_path):
    """A passphrase file others can read is refused (exit 1, saying how to fix it); once it is
    private it is used."""
    secret = tmp_path / "pass.txt"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    code, _, err = run(capsys, "keys", "init", "--passphrase-file", str(secret))
    assert code == 1 and "readable by other users" in err and "chmod 600" in err
    assert not (home / "keys" / "signing.key").exists()
    secret.chmod(0o600)
    code, out, _ = run(capsys, "keys", "init", "--passphrase-file", str(secret), "--json")
    assert code == 0 and json.loads(out)["key_encrypted"] is True


def test_one_pixel_limit_for_verify_stamp_and_audit(capsys, home, tmp_path, plain):
    """--max-pixels sets the limit of verify, stamp and audit, and each quotes the same one."""
    assert run(capsys, "keys", "init", "--org", "T")[0] == 0
    limit = "above the limit of 1,000 pixels"
    code, out, _ = run(capsys, "verify", str(plain), "--max-pixels", "1000", "--json", "--no-forensics")
    assert code == 1 and limit in json.loads(out)[0]["errors"][0]["error"]
    code, _, err = run(capsys, "stamp", str(plain), "-o", str(tmp_path / "o.png"), "--max-pixels", "1000")
    assert code == 1 and limit in err
    folder = tmp_path / "in"
    folder.mkdir()
    plain.rename(folder / "plain.png")
    code, out, _ = run(capsys, "audit", str(folder), "--max-pixels", "1000", "--jsonl", "-", "--no-cache",
                       "--workers", "1", "--no-forensics")
    assert code == 1 and limit in out
    assert run(capsys, "verify", str(folder / "plain.png"), "--max-pixels", "0")[0] == 2


def test_default_limit_is_above_pillows_and_quoted_alike():
    """The default limit is at least 200 MP and Pillow's own check (89.5 MP) does not refuse first:
    an image over Pillow's limit decodes; one over ours is refused naming our limit."""
    from provenance import ImageError
    from provenance import MAX_PIXELS, decode_image

    assert MAX_PIXELS >= 200_000_000
    # 9500 x 9500 = 90.25 MP of zeros: over Pillow's 89.5 MP, a small file
    img = Image.new("L", (9500, 9500))
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    del img
    loaded = decode_image(buf.getvalue(), name="big.png")
    assert loaded.width == 9500 and not loaded.notes
    del loaded
    with pytest.raises(ImageError, match=f"above the limit of {MAX_PIXELS:,} pixels"):
        decode_image(_png_header(15000, 15000), name="huge.png")  # 225 MP: over ours
    with pytest.raises(ImageError, match=f"above the limit of {MAX_PIXELS:,} pixels"):
        decode_image(_png_header(30000, 30000), name="huger.png")  # over Pillow's hard error too


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    from provenance._png import chunk

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.mark.slow
def test_102_mp_medium_format_jpeg_decodes():
    """A 102 MP (11648 x 8736) JPEG, refused before as a decompression bomb, decodes."""
    import io

    from provenance import decode_image

    buf = io.BytesIO()
    Image.new("RGB", (11648, 8736), (90, 120, 150)).save(buf, "JPEG", quality=80)
    loaded = decode_image(buf.getvalue(), name="phase-one.jpg")
    assert (loaded.width, loaded.height) == (11648, 8736)
    assert np.abs(loaded.rgb[100, 100].astype(int) - [90, 120, 150]).max() <= 2


def test_16_bit_greyscale_is_scaled_without_float64_copies():
    """A 16-bit greyscale PNG becomes 8-bit RGB with a peak of a few bytes per pixel of numpy
    memory (the float64 version peaked at over 16 bytes a pixel: 2.3 GB for a 9400² image)."""
    import tracemalloc

    import cv2

    from provenance import decode_image

    side = 2000
    yy, xx = np.mgrid[0:side, 0:side]
    grey16 = ((xx * 13 + yy * 7) % 60000 + 1000).astype(np.uint16)
    ok, png = cv2.imencode(".png", grey16)
    data = png.tobytes()
    tracemalloc.start()
    try:
        loaded = decode_image(data, name="grey16.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    expected = np.clip(grey16 / grey16.max() * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(loaded.rgb[:, :, 0].astype(int) - expected).max() <= 1
    assert (loaded.rgb[:, :, 0] == loaded.rgb[:, :, 2]).all()
    assert peak / side**2 < 8.0, f"{peak / side ** 2:.1f} bytes per pixel"
