"""Reading hostile input safely and writing outputs atomically."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from provenance import ImageError, OutputError, OutputExistsError
from provenance import atomic_write, decode_image, load_image, sniff_format


def _png(w=64, h=48, mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), (10, 20, 30) if mode == "RGB" else None).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("head,fmt", [
    pytest.param(b"\x89PNG\r\n\x1a\n....", "PNG", id="png"),
    pytest.param(b"\xff\xd8\xff\xe0", "JPEG", id="jpeg"),
    pytest.param(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP", id="webp"),
    pytest.param(b"GIF89a", "GIF", id="gif"),
    pytest.param(b"hello world", None, id="text"),
])
def test_sniff_format_reads_content_not_names(head, fmt):
    """The container is told from magic bytes."""
    assert sniff_format(head) == fmt


def test_mislabeled_file_is_read_by_content(tmp_path):
    """A PNG named .jpg decodes as PNG."""
    p = tmp_path / "really_png.jpg"
    p.write_bytes(_png())
    assert load_image(p).format == "PNG"


def test_truncated_file_is_an_error(tmp_path):
    """A cut-off image is refused, not padded with grey."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(buf, "JPEG")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        decode_image(buf.getvalue()[: len(buf.getvalue()) // 2], name="cut.jpg")


def test_not_an_image(tmp_path):
    """Text is refused with the list of formats that are read."""
    p = tmp_path / "notes.png"
    p.write_text("hello")
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(p)


def test_missing_file():
    """A missing path is a clear error."""
    with pytest.raises(ImageError, match="no such file"):
        load_image("/nonexistent/x.png")


def test_decompression_bomb_refused_before_decoding():
    """A header announcing too many pixels is refused without decoding them."""
    data = _png(4000, 4000, mode="1")  # tiny file, 16 MP
    with pytest.raises(ImageError, match="decompression bomb"):
        decode_image(data, name="bomb.png", max_pixels=10_000_000)


def test_alpha_is_kept(tmp_path):
    """RGBA input keeps its alpha channel apart from the RGB pixels."""
    buf = io.BytesIO()
    Image.new("RGBA", (32, 16), (1, 2, 3, 77)).save(buf, "PNG")
    img = decode_image(buf.getvalue())
    assert img.rgb.shape == (16, 32, 3) and img.alpha is not None and int(img.alpha[0, 0]) == 77


def test_atomic_write_refuses_existing_and_leaves_no_temp(tmp_path):
    """An existing output is kept unless overwrite; no temporary files are left behind."""
    p = tmp_path / "out.bin"
    atomic_write(p, b"one")
    with pytest.raises(OutputExistsError):
        atomic_write(p, b"two")
    assert p.read_bytes() == b"one"
    atomic_write(p, b"two", overwrite=True)
    assert p.read_bytes() == b"two"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_atomic_write_to_missing_or_readonly_folder(tmp_path):
    """Unwritable destinations are clear errors (a read-only folder; /sys, which even root cannot write)."""
    with pytest.raises(OutputError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "x.bin", b"x")
    with pytest.raises(OutputError, match="/sys"):
        atomic_write("/sys/provenance-test.bin", b"x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root ignores folder modes; /sys above covers that case
            with pytest.raises(OutputError, match="not writable"):
                atomic_write(ro / "x.bin", b"x")
    finally:
        ro.chmod(0o700)


def test_atomic_write_without_hard_links(tmp_path, monkeypatch):
    """Where hard links are unsupported the write still refuses existing files and lands whole."""
    def no_link(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    p = tmp_path / "out.bin"
    atomic_write(p, b"one")
    assert p.read_bytes() == b"one"
    with pytest.raises(OutputExistsError):
        atomic_write(p, b"two")
    assert p.read_bytes() == b"one" and sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_a_corrupt_file_message_names_no_memory_address():
    """Pillow's 'cannot identify image file <_io.BytesIO object at 0x...>' differs each run: the
    reports (and so audit engines, caches and diffs) must not carry it."""
    with pytest.raises(ImageError) as e:
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, name="x.png")
    assert str(e.value) == "x.png: corrupt or truncated PNG (cannot identify image file)"
