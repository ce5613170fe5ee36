"""audit's walk: what is listed as an image, what is skipped and why (no workers involved)."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from provenance.audit import walk_files

from support.audit_data import save_png


def _by_name(entries) -> dict[str, object]:
    return {Path(e.path).name: e for e in entries}


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    save_png(root / "a.png", 1, 64)
    save_png(root / "sub" / "b.png", 2, 64)
    Image.open(root / "a.png").save(root / "sub" / "c.jpg", quality=90)
    (root / "notes.txt").write_text("hello")
    (root / "empty.jpg").write_bytes(b"")
    (root / "disguised.txt").write_bytes((root / "a.png").read_bytes())  # a PNG with a .txt name
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n...")
    save_png(root / ".hidden.png", 3, 64)
    (root / ".cache").mkdir()
    save_png(root / ".cache" / "inner.png", 4, 64)
    return root


def test_sniffs_content_and_gives_reasons(tree):
    """Images are found by content (even named .txt); other files are skipped with a reason saying what they are."""
    e = _by_name(walk_files([tree]))
    assert {n for n, x in e.items() if x.status == "image"} == {"a.png", "b.png", "c.jpg", "disguised.txt",
                                                                  ".hidden.png", "inner.png"}
    assert e["disguised.txt"].format == "PNG" and e["c.jpg"].format == "JPEG"
    assert e["notes.txt"].reason == "not an image (text)"
    assert e["doc.pdf"].reason == "not an image (a PDF document)"


@pytest.mark.parametrize("name,content,reason", [
    pytest.param("empty.png", b"", "named like an image (.png) but the file is empty", id="empty-png"),
    pytest.param(".jpg", b"hello", "named like an image (.jpg) but not an image (text)", id="text-named-dot-jpg"),
    pytest.param("photo.JPEG", b"\x00\x01junk", "named like an image (.jpeg) but not an image (content not "
                                                "recognised)", id="junk-jpeg"),
])
def test_a_file_named_like_an_image_that_is_not_one_is_an_error(tmp_path, name, content, reason):
    """As verify says of it: a file whose name says image but whose content cannot be analysed is an
    error (a CI gate must see it), never a quiet skip."""
    (tmp_path / name).write_bytes(content)
    [entry] = walk_files([tmp_path])
    assert (entry.status, entry.reason) == ("error", reason) and entry.is_image


def test_hidden_entries_audited_unless_skipped_on_purpose(tree):
    """Hidden files and folders are walked like any other; with skip_hidden each hidden image (in hidden
    folders too) is a skipped row that knows it is an image, and a hidden folder's other files are not listed."""
    e = _by_name(walk_files([tree]))
    assert e[".hidden.png"].status == "image" and e["inner.png"].status == "image"
    (tree / ".cache" / "notes.txt").write_text("not an image")
    e = _by_name(walk_files([tree], skip_hidden=True))
    for name in (".hidden.png", "inner.png"):
        assert e[name].status == "skipped" and "--skip-hidden" in e[name].reason
        assert e[name].format == "PNG" and e[name].is_image
    assert ".cache" not in e and "notes.txt" in e and e["notes.txt"].path == str(tree / "notes.txt")
    assert e["a.png"].status == "image"


def test_symlinks_listed_not_followed_by_default(tree):
    """A link (to a file or a folder) is a skipped row unless --follow-symlinks."""
    os.symlink(tree / "a.png", tree / "link.png")
    os.symlink(tree / "sub", tree / "linked-sub")
    e = _by_name(walk_files([tree]))
    assert "symbolic link" in e["link.png"].reason and "symbolic link" in e["linked-sub"].reason
    assert e["link.png"].is_image and not e["linked-sub"].is_image  # --fail-on skipped counts the first
    paths = [x.path for x in walk_files([tree], follow_symlinks=True) if x.status == "image"]
    assert str(tree / "link.png") in paths and str(tree / "linked-sub" / "b.png") in paths


def test_symlink_loop_survived(tree):
    """Following links, a loop back to an ancestor is visited once and reported, not walked forever."""
    os.symlink(tree, tree / "sub" / "loop")
    entries = list(walk_files([tree], follow_symlinks=True))
    images = [x.path for x in entries if x.status == "image"]
    assert len(images) == len(set(images)) == 6  # the 4 visible images and the 2 hidden ones
    loop = [x for x in entries if Path(x.path).name == "loop"]
    assert len(loop) == 1 and "already visited" in loop[0].reason


def test_broken_link_and_excluded_outputs(tree):
    """A broken link is a skipped row; the audit's own outputs inside the folder are left out of the walk."""
    os.symlink(tree / "missing.png", tree / "broken.png")
    e = _by_name(walk_files([tree], follow_symlinks=True, exclude=[tree / "notes.txt"]))
    assert e["broken.png"].reason == "broken symbolic link"
    assert "notes.txt" not in e


@pytest.mark.parametrize("fmt,name", [pytest.param("HEIF", "photo.heic", id="heic"),
                                      pytest.param("AVIF", "photo.avif", id="avif")])
def test_heif_and_avif_are_images(tmp_path, fmt, name):
    """HEIC (via pillow-heif) and AVIF are sniffed from their ftyp box and decoded like any image."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    from provenance import decode_image

    buf = io.BytesIO()
    Image.open(save_png(tmp_path / "src.png", 5, 64)).save(buf, fmt)
    (tmp_path / name).write_bytes(buf.getvalue())
    e = _by_name(walk_files([tmp_path]))
    assert e[name].status == "image" and e[name].format == fmt
    assert decode_image(buf.getvalue()).rgb.shape == (64, 64, 3)


@pytest.mark.parametrize("enabled,drawn", [pytest.param(None, False, id="not-a-tty-silent"),
                                           pytest.param(True, True, id="progress-asked")])
def test_progress_bar_only_on_a_tty_or_when_asked(enabled, drawn):
    """The bar is silent when stderr is not a terminal, unless --progress; it shows files/s and counts."""
    from provenance.audit import Totals
    from provenance.audit._progress import Progress

    stream = io.StringIO()
    bar = Progress(enabled=enabled, stream=stream)
    totals = Totals()
    totals.add({"status": "skipped", "cached": False}, flagged=False)
    bar.close(totals, found=3)
    assert ("files/s" in stream.getvalue()) is drawn
    assert ("1/3 files" in stream.getvalue()) is drawn


def test_progress_shows_an_eta_while_the_walk_is_still_feeding_workers(tmp_path, capsys):
    """The ETA used to wait for the lazy walk to finish, which it does only when the last file is handed
    to a worker: it never showed. A quick count of the walk gives the total from the start."""
    import re

    from provenance.audit import AuditOptions, Totals, audit_paths
    from provenance.audit._progress import Progress

    data = save_png(tmp_path / "00.png", 70, 384).read_bytes()
    for i in range(1, 40):  # ~1-2 s of work (no cache: copies cost as much): several redraws (every 0.2 s)
        (tmp_path / f"{i:02d}.png").write_bytes(data)
    audit_paths([str(tmp_path)], AuditOptions(forensics=False, workers=1, progress=True))
    err = capsys.readouterr().err
    drawn = re.findall(r"audit\s+\d+% (\d+)/(\d+) files [^\r]*ETA", err)
    # Before, an ETA could show only once the walk had handed out its last file: 1 file left at most.
    assert any(int(total) - int(done) >= 2 for done, total in drawn), err[-3000:]

    totals = Totals()
    totals.analysed = 5
    line = Progress(enabled=True, stream=io.StringIO()).line(totals, found=6, walk_done=False, expected=40)
    assert "/40 files" in line and "ETA" in line
    assert "ETA" not in Progress(enabled=True, stream=io.StringIO()).line(totals, found=6, walk_done=False)
