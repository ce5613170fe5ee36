"""When is a file that a generator is writing complete? Its size and time stay the same for a
short interval, its container is whole (a PNG ends with IEND, a JPEG with EOI, a WebP's RIFF size
covers the file) and it decodes.

The interval alone is not enough: a writer that pauses (a slow disk, a tool writing its text
chunks after the pixels) leaves a file that looks settled but is cut short. The container check
is cheap and catches that before the decoder is asked; the decoder catches the rest.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .._errors import ProvenanceError
from .._imageio import MAX_PIXELS, decode_image, read_bytes, sniff_format

_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def container_complete(data: bytes, fmt: str | None) -> bool:
    """Whether ``data`` holds a whole PNG, JPEG or WebP container (other formats: True, the decoder decides)."""
    if fmt == "PNG":
        return data.endswith(_IEND)
    if fmt == "JPEG":
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")  # some writers pad after EOI
    if fmt == "WEBP":
        if len(data) < 12:
            return False
        size = int.from_bytes(data[4:8], "little") + 8
        return size in (len(data), len(data) - 1)  # a pad byte after an odd-sized RIFF is allowed
    return True


@dataclass
class Candidate:
    """A file seen in a watched folder and not yet stamped, skipped or given up on."""

    path: str
    size: int = -1
    mtime_ns: int = -1
    changed_at: float = 0.0  # monotonic time its size or time last changed
    first_seen: float = 0.0
    checked: tuple[int, int] | None = None  # (size, mtime) of the last completeness check that failed
    problem: str | None = None  # why that check failed


def observe(candidate: Candidate, now: float) -> bool:
    """Stat the file again; True when it is gone. A change restarts its settle interval."""
    try:
        st = os.stat(candidate.path, follow_symlinks=False)
    except FileNotFoundError:
        return True
    except OSError:
        return False  # unreadable for now (a permission being set): look again next time
    if (st.st_size, st.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
        # The file's own modification time says how long it has been unchanged already (a file
        # found at start-up was written long ago); a clock ahead of ours counts as "just now".
        age = max(0.0, time.time() - st.st_mtime_ns / 1e9)
        candidate.size, candidate.mtime_ns, candidate.changed_at = st.st_size, st.st_mtime_ns, now - age
    return False


def settled(candidate: Candidate, now: float, settle: float) -> bool:
    """Unchanged for ``settle`` seconds, and not already found incomplete at this size and time."""
    return (candidate.size > 0 and now - candidate.changed_at >= settle
            and candidate.checked != (candidate.size, candidate.mtime_ns))


def read_whole(candidate: Candidate) -> bytes | None:
    """The file's bytes when its container is whole, else None with ``candidate.problem`` saying
    why (it is not checked again until it changes). Cheap: no decoding, so files already stamped
    (most of a folder, at a restart) are told apart by their digest without being decoded."""
    try:
        data = read_bytes(candidate.path)
    except ProvenanceError as e:
        candidate.checked, candidate.problem = (candidate.size, candidate.mtime_ns), str(e)
        return None
    if len(data) != candidate.size:  # it moved on since the last stat: wait for it to settle again
        candidate.size = -1
        return None
    fmt = sniff_format(data[:64])
    problem = None
    if fmt is None:
        problem = "not a recognised image (yet)"
    elif not container_complete(data, fmt):
        problem = f"the {fmt} file ends before its last chunk (still being written?)"
    if problem is not None:
        candidate.checked, candidate.problem = (candidate.size, candidate.mtime_ns), problem
        return None
    return data


def decodes(candidate: Candidate, data: bytes, *, max_pixels: int = MAX_PIXELS) -> bool:
    """Whether the whole file decodes; if not, ``candidate.problem`` says why (checked again once it changes)."""
    try:
        decode_image(data, name=candidate.path, max_pixels=max_pixels)
    except ProvenanceError as e:
        candidate.checked, candidate.problem = (candidate.size, candidate.mtime_ns), str(e)
        return False
    return True
