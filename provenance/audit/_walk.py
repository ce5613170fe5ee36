"""Finding the files an audit looks at: a lazy, recursive walk that sniffs content, not names.

Rules: symbolic links are listed as skipped unless ``follow_symlinks`` (then directory loops are
detected by device and inode and survived); hidden entries (a name starting with ``.``) are walked
like any other unless ``skip_hidden`` (then each hidden image, in hidden folders too, is listed as
skipped: a CI gate must not be bypassed by a leading dot, so skipping them is a choice made on
purpose, and ``--fail-on skipped`` can still count them); a regular file is an image when its first
bytes name a format we decode (:func:`provenance._imageio.sniff_format`); a file whose *name* says
image but whose content is not one (empty, text, HEIC without its decoder) is an ``error``, as
``verify`` would report it; anything else is skipped with the reason. Paths named on the command
line are taken as given, hidden or linked.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Iterable, Iterator

from .._imageio import heif_support, sniff_format

HEAD_BYTES = 64

#: Names that say "image" (formats we decode): such a file that is not one is an error, not skipped.
IMAGE_SUFFIXES = frozenset({"png", "apng", "jpg", "jpeg", "jpe", "jfif", "webp", "gif", "tif", "tiff", "bmp", "dib",
                            "avif", "heic", "heif", "hif"})
SKIP_HIDDEN_REASON = "hidden, skipped on purpose (--skip-hidden)"

#: A few common non-image signatures, so a skipped row can say what the file is.
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office/EPUB document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
)


@dataclass(frozen=True)
class WalkEntry:
    """One file the walk met: ``status`` is image, skipped (with ``reason``) or error (with ``reason``)."""

    path: str
    status: str
    format: str | None = None
    reason: str | None = None

    @property
    def is_image(self) -> bool:
        """Whether its content (or, when unread, its name) says image: what ``--fail-on skipped`` counts."""
        return self.format is not None or image_suffix(self.path) is not None


def image_suffix(path: str) -> str | None:
    """The image suffix of ``path``'s name (``.jpg`` counts: a hidden name is still a name), or None."""
    name = os.path.basename(path)
    if "." not in name:
        return None
    suffix = name.rsplit(".", 1)[1].lower()
    return suffix if suffix in IMAGE_SUFFIXES else None


def _describe_other(head: bytes) -> str:
    if not head:
        return "empty file"
    for magic, what in _OTHER_SIGNATURES:
        if head.startswith(magic):
            return f"not an image ({what})"
    if b"\x00" not in head:
        return "not an image (text)"
    return "not an image (content not recognised)"


def _sniff(path: str) -> tuple[bytes | None, str | None]:
    """The first bytes and the format they name; (None, why) when the file cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as e:
        return None, f"cannot read: {e.strerror or e}"
    return head, sniff_format(head)


def classify_file(path: str) -> WalkEntry:
    """Sniff one regular file by its first bytes."""
    head, fmt = _sniff(path)
    if head is None:
        return WalkEntry(path, "error", reason=fmt)
    if fmt is None:
        what = _describe_other(head)
        if (suffix := image_suffix(path)) is not None:  # as verify: a .png that is not one is an error
            return WalkEntry(path, "error", reason=f"named like an image (.{suffix}) but "
                                                   f"{'the file is empty' if not head else what}")
        return WalkEntry(path, "skipped", reason=what)
    if fmt in ("HEIF", "AVIF") and (missing := heif_support(fmt)) is not None:
        return WalkEntry(path, "error", format=fmt, reason=missing)
    return WalkEntry(path, "image", format=fmt)


def _skipped_as(path: str, reason: str) -> WalkEntry:
    """A file skipped on purpose, with the format its content names (so a skipped image is known as one)."""
    _head, fmt = _sniff(path)
    return WalkEntry(path, "skipped", format=fmt if _head is not None else None, reason=reason)


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def walk_files(roots: Iterable[str | os.PathLike[str]], *, follow_symlinks: bool = False, skip_hidden: bool = False,
               exclude: Iterable[str | os.PathLike[str]] = (), sniff: bool = True) -> Iterator[WalkEntry]:
    """Yield every file under ``roots`` in a stable (sorted) order, one :class:`WalkEntry` each.

    ``exclude`` names files never to list (the audit's own outputs and cache, when they are
    written inside an audited folder). ``sniff=False`` reads no file: entries have status
    ``file`` (a quick count for the progress bar's ETA; hidden folders then count nothing).
    """
    excluded = {os.path.realpath(p) for p in exclude}
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        root = os.fspath(root)
        try:
            st = os.stat(root)  # a root is taken as given, links included
        except OSError as e:
            yield WalkEntry(root, "error", reason=f"cannot open: {e.strerror or e}")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(root, st, follow_symlinks, skip_hidden, excluded, seen_dirs, sniff)
        elif not excluded or os.path.realpath(root) not in excluded:
            if not sniff:
                yield WalkEntry(root, "file")
            elif stat.S_ISREG(st.st_mode):
                yield classify_file(root)
            else:
                yield WalkEntry(root, "skipped", reason="not a regular file")


def _walk_dir(root: str, root_st: os.stat_result, follow: bool, skip_hidden: bool, excluded: set[str],
              seen_dirs: set[tuple[int, int]], sniff: bool) -> Iterator[WalkEntry]:
    # An explicit stack of directories (no recursion limit); entries sorted for a stable order.
    # Each folder carries whether it is hidden itself or lies in a hidden one (with skip_hidden:
    # only its images are listed, as skipped, so that a skipped image is never silent).
    stack: list[tuple[str, tuple[int, int], bool]] = [(root, (root_st.st_dev, root_st.st_ino), False)]
    while stack:
        folder, key, in_hidden = stack.pop()
        if key in seen_dirs:
            if not in_hidden:
                yield WalkEntry(folder, "skipped",
                                reason="folder already visited (a symbolic-link loop or a second path)")
            continue
        seen_dirs.add(key)
        if in_hidden and not sniff:
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            if not in_hidden:
                yield WalkEntry(folder, "error", reason=f"cannot list folder: {e.strerror or e}")
            continue
        subdirs = []
        for entry in entries:
            path = entry.path
            hidden = in_hidden or (skip_hidden and _is_hidden(entry.name))
            try:
                is_link = entry.is_symlink()
                if is_link and not follow:
                    skipped = _skipped_link(path, sniff)
                    if not in_hidden or skipped.is_image:
                        yield skipped
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError as e:
                if in_hidden:
                    continue
                reason = "broken symbolic link" if entry.is_symlink() else f"cannot stat: {e.strerror or e}"
                yield WalkEntry(path, "skipped" if entry.is_symlink() else "error", reason=reason)
                continue
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((path, (st.st_dev, st.st_ino), hidden))
            elif excluded and os.path.realpath(path) in excluded:
                continue
            elif not sniff:
                yield WalkEntry(path, "file")
            elif hidden:
                if stat.S_ISREG(st.st_mode):
                    skipped = _skipped_as(path, SKIP_HIDDEN_REASON)
                    if skipped.is_image or not in_hidden:  # in a hidden folder, only its images
                        yield skipped
            elif stat.S_ISREG(st.st_mode):
                yield classify_file(path)
            else:
                yield WalkEntry(path, "skipped", reason="not a regular file (device, socket or pipe)")
        stack.extend(reversed(subdirs))  # pop() then visits them in sorted order


def _skipped_link(path: str, sniff: bool) -> WalkEntry:
    """A link not followed: skipped, with the format of what it points to when that is a file."""
    if not sniff:
        return WalkEntry(path, "file")
    reason = "symbolic link (use --follow-symlinks to follow)"
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return _skipped_as(path, reason)
    except OSError:
        reason = "broken symbolic link (not followed)"
    return WalkEntry(path, "skipped", reason=reason)
