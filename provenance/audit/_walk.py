"""Finding the files an audit looks at: a lazy, recursive walk that sniffs content, not names.

Rules: symbolic links are listed as skipped unless ``follow_symlinks`` (then directory loops are
detected by device and inode and survived); hidden entries (a name starting with ``.``) are listed
once as skipped and not descended into unless ``hidden``; a regular file is an image when its first
bytes name a format we decode (:func:`provenance._imageio.sniff_format`), otherwise it is skipped
with the reason. Paths named on the command line are taken as given, hidden or linked.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .._imageio import heif_support, sniff_format

HEAD_BYTES = 64

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


def _describe_other(head: bytes) -> str:
    if not head:
        return "empty file"
    for magic, what in _OTHER_SIGNATURES:
        if head.startswith(magic):
            return f"not an image ({what})"
    if b"\x00" not in head:
        return "not an image (text)"
    return "not an image (content not recognised)"


def classify_file(path: str) -> WalkEntry:
    """Sniff one regular file by its first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as e:
        return WalkEntry(path, "error", reason=f"cannot read: {e.strerror or e}")
    fmt = sniff_format(head)
    if fmt is None:
        return WalkEntry(path, "skipped", reason=_describe_other(head))
    if fmt in ("HEIF", "AVIF") and (missing := heif_support(fmt)) is not None:
        return WalkEntry(path, "skipped", format=fmt, reason=missing)
    return WalkEntry(path, "image", format=fmt)


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def walk_files(roots: Iterable[str | os.PathLike[str]], *, follow_symlinks: bool = False, hidden: bool = False,
               exclude: Iterable[str | os.PathLike[str]] = ()) -> Iterator[WalkEntry]:
    """Yield every file under ``roots`` in a stable (sorted) order, one :class:`WalkEntry` each.

    ``exclude`` names files never to list (the audit's own outputs and cache, when they are
    written inside an audited folder).
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
            yield from _walk_dir(root, st, follow_symlinks, hidden, excluded, seen_dirs)
        elif not excluded or os.path.realpath(root) not in excluded:
            yield classify_file(root) if stat.S_ISREG(st.st_mode) else \
                WalkEntry(root, "skipped", reason="not a regular file")


def _walk_dir(root: str, root_st: os.stat_result, follow: bool, hidden: bool, excluded: set[str],
              seen_dirs: set[tuple[int, int]]) -> Iterator[WalkEntry]:
    # An explicit stack of directories (no recursion limit); entries sorted for a stable order.
    stack: list[tuple[str, tuple[int, int]]] = [(root, (root_st.st_dev, root_st.st_ino))]
    while stack:
        folder, key = stack.pop()
        if key in seen_dirs:
            yield WalkEntry(folder, "skipped", reason="folder already visited (a symbolic-link loop or a second path)")
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            yield WalkEntry(folder, "error", reason=f"cannot list folder: {e.strerror or e}")
            continue
        subdirs = []
        for entry in entries:
            path = entry.path
            if not hidden and _is_hidden(entry.name):
                yield WalkEntry(path, "skipped", reason="hidden (use --hidden to include)")
                continue
            try:
                is_link = entry.is_symlink()
                if is_link and not follow:
                    yield WalkEntry(path, "skipped", reason="symbolic link (use --follow-symlinks to follow)")
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError as e:
                reason = "broken symbolic link" if entry.is_symlink() else f"cannot stat: {e.strerror or e}"
                yield WalkEntry(path, "skipped" if entry.is_symlink() else "error", reason=reason)
                continue
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((path, (st.st_dev, st.st_ino)))
            elif excluded and os.path.realpath(path) in excluded:
                continue
            elif stat.S_ISREG(st.st_mode):
                yield classify_file(path)
            else:
                yield WalkEntry(path, "skipped", reason="not a regular file (device, socket or pipe)")
        stack.extend(reversed(subdirs))  # pop() then visits them in sorted order


def is_inside(path: str | os.PathLike[str], folders: Iterable[str | os.PathLike[str]]) -> bool:
    """Whether ``path`` lies inside one of ``folders`` (after resolving links)."""
    p = Path(os.path.realpath(path))
    for f in folders:
        f = Path(os.path.realpath(f))
        if f.is_dir() and (p == f or f in p.parents):
            return True
    return False
