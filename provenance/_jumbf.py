"""Where a file keeps its C2PA manifest store, found from the bytes alone.

Whether a file *has* Content Credentials must not depend on the SDK managing to read them: a
store that c2pa-python cannot parse (a flipped byte in a JUMBF label, a box claiming 2^63 bytes)
is present and broken, which is ``invalid``, not ``absent``. This module walks the container
(JPEG APP11 segments, PNG ``caBX`` chunks, WebP ``C2PA`` chunks, ISO-BMFF ``uuid`` boxes) to the
JUMBF superbox of the store and checks its box header; anything else that carries the C2PA JUMBF
description box is found by its signature. Nothing here trusts a length it has not checked
against the bytes it has.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

#: The JUMBF description type of a C2PA manifest store: "c2pa" + 0011-0010-8000-00AA00389B71.
C2PA_STORE_UUID = b"c2pa" + bytes.fromhex("00110010800000aa00389b71")
#: The ISO-BMFF ``uuid`` box usertype of C2PA (HEIF, AVIF, MP4).
C2PA_BMFF_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_SIGNATURE = b"jumd" + C2PA_STORE_UUID
#: Most container parts (segments, chunks, boxes) walked before giving up.
_MAX_PARTS = 100_000


@dataclass(frozen=True)
class StoreLocation:
    """A C2PA manifest store found in a file: in which part, where, how long, and what is wrong
    with its JUMBF box header (``problem`` None: nothing we can see)."""

    container: str  # "JPEG APP11", "PNG caBX", "WebP C2PA", "BMFF uuid", "unrecognised place"
    offset: int  # byte offset of the JUMBF superbox (first segment's box, for JPEG)
    length: int | None  # bytes the superbox declares (None: could not be read)
    problem: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _box_problem(box: bytes, offset: int, available: int) -> tuple[int | None, str | None]:
    """(declared length, problem) of the JUMBF superbox whose bytes start ``box``; ``available``:
    the bytes the container holds for it."""
    if len(box) < 8:
        return None, f"JUMBF box at byte {offset} is cut off ({len(box)} bytes)"
    lbox, tbox = int.from_bytes(box[:4], "big"), box[4:8]
    header = 8
    if lbox == 1:
        if len(box) < 16:
            return None, f"JUMBF box at byte {offset} is cut off inside its 64-bit length"
        lbox, header = int.from_bytes(box[8:16], "big"), 16
    elif lbox == 0:
        lbox = available
    if tbox != b"jumb":
        return lbox, f"the box at byte {offset} is {tbox!r}, not a JUMBF superbox ('jumb')"
    if lbox < header + 8:
        return lbox, f"JUMBF box at byte {offset} declares {lbox} bytes, less than its own header"
    if lbox > available:
        return lbox, (f"JUMBF box at byte {offset} declares {lbox:,} bytes, but the file holds "
                      f"{available:,} for it")
    return lbox, None


def _is_c2pa_superbox(box: bytes) -> bool:
    """True when the superbox's description box names C2PA (its type UUID or its label)."""
    header = 16 if box[:4] == b"\x00\x00\x00\x01" else 8
    jumd = box[header:header + 64]
    if jumd[4:8] != b"jumd":
        return _SIGNATURE in box[:256]  # damaged header: the description may sit a little further
    return jumd[8:24] == C2PA_STORE_UUID or jumd[25:30] == b"c2pa\x00"


def _jpeg(data: bytes) -> StoreLocation | None:
    """APP11 segments with the JPEG-XT 'JP' identifier: the first of each box instance holds
    the superbox header; continuation segments repeat it and carry more of its payload."""
    pos, parts = 2, 0
    boxes: dict[int, list] = {}  # box instance -> [offset of first box, first box bytes, payload bytes]
    while pos + 4 <= len(data) and parts < _MAX_PARTS:
        parts += 1
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more metadata segments
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        body = data[pos + 4:pos + 2 + length]
        if marker == 0xEB and body[:2] == b"JP" and len(body) >= 8:
            instance = int.from_bytes(body[2:4], "big")
            sequence = int.from_bytes(body[4:8], "big")
            box = body[8:]
            if instance not in boxes:
                boxes[instance] = [pos + 12, box, len(box)]
            elif sequence > 1:  # a continuation: its own copy of the box header, then payload
                header = 16 if box[:4] == b"\x00\x00\x00\x01" else 8
                boxes[instance][2] += max(0, len(box) - header)
        pos += 2 + length
    for offset, box, available in boxes.values():
        if _is_c2pa_superbox(box):
            length, problem = _box_problem(box, offset, available)
            return StoreLocation("JPEG APP11", offset, length, problem)
    return None


def _png(data: bytes) -> StoreLocation | None:
    pos, parts = 8, 0
    while pos + 8 <= len(data) and parts < _MAX_PARTS:
        parts += 1
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind == b"caBX":
            body = data[pos + 8:pos + 8 + length]
            declared, problem = _box_problem(body, pos + 8, len(body))
            if problem is None and len(body) < length:
                problem = f"the caBX chunk at byte {pos} declares {length:,} bytes but the file ends first"
            return StoreLocation("PNG caBX", pos + 8, declared, problem)
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


def _webp(data: bytes) -> StoreLocation | None:
    pos, parts = 12, 0
    while pos + 8 <= len(data) and parts < _MAX_PARTS:
        parts += 1
        kind = data[pos:pos + 4]
        length = int.from_bytes(data[pos + 4:pos + 8], "little")
        if kind == b"C2PA":
            body = data[pos + 8:pos + 8 + length]
            declared, problem = _box_problem(body, pos + 8, len(body))
            return StoreLocation("WebP C2PA", pos + 8, declared, problem)
        pos += 8 + length + (length & 1)
    return None


def _bmff(data: bytes) -> StoreLocation | None:
    pos, parts = 0, 0
    while pos + 8 <= len(data) and parts < _MAX_PARTS:
        parts += 1
        size, kind, header = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8], 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:
            size = len(data) - pos
        if kind == b"uuid" and data[pos + header:pos + header + 16] == C2PA_BMFF_UUID:
            start = data.find(b"jumb", pos + header + 16, pos + header + 128)
            if start < 4:
                return StoreLocation("BMFF uuid", pos, None, f"C2PA uuid box at byte {pos} holds no JUMBF box")
            body = data[start - 4:pos + size]
            declared, problem = _box_problem(body, start - 4, len(body))
            return StoreLocation("BMFF uuid", start - 4, declared, problem)
        if size < header:
            break
        pos += size
    return None


_WALKERS = {"JPEG": _jpeg, "PNG": _png, "WEBP": _webp, "HEIF": _bmff, "AVIF": _bmff}


def locate_manifest_store(data: bytes, fmt: str | None) -> StoreLocation | None:
    """Where ``data`` (a file of format ``fmt``, as :func:`provenance._imageio.sniff_format`
    names it) keeps a C2PA manifest store, or None when it holds none."""
    walker = _WALKERS.get(fmt or "")
    found = walker(data) if walker is not None else None
    if found is not None:
        return found
    at = data.find(_SIGNATURE)
    if at < 0:
        return None
    offset = max(0, at - 8)
    if walker is None:  # TIFF, GIF, ...: the SDK knows where these keep it; we only see that it is there
        return StoreLocation("JUMBF", offset, None)
    return StoreLocation("unrecognised place", offset, None,
                         f"a C2PA manifest store (JUMBF) is at byte {offset}, but not where {fmt} files keep one")
