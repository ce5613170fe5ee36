"""Everything a metadata parser reads, extracted once per image, with every size capped.

PNG text chunks are read from the file bytes by our own chunk walker (not Pillow's), so chunks
after IDAT are seen, compressed text is inflated with a hard output limit (no zip bombs), and a
100 MB chunk is skipped with an ``errors`` entry instead of being copied or parsed. EXIF is read
with Pillow, whose warnings about corrupt EXIF become ``errors`` entries too.
"""
from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from provenance import LoadedImage

from ._values import clean_text, inflate_bounded
from ._xmp import parse_xmp

#: Largest text chunk (after inflating) or EXIF block we read. Generator metadata, ComfyUI
#: workflows included, is far below this; anything larger is noise or an attack.
MAX_TEXT_BYTES = 4 * 1024 * 1024
#: Most PNG chunks we walk before giving up (each is cheap, but a file can hold millions).
MAX_CHUNKS = 100_000
#: Most text chunks we keep, and most text we keep from one file in all.
MAX_TEXT_CHUNKS = 256
MAX_TOTAL_TEXT = 16 * 1024 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEY = "XML:com.adobe.xmp"

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
USER_COMMENT = 0x9286
MAKER_NOTE = 0x927C


@dataclass
class ImageSources:
    """The raw metadata of one image: PNG text, EXIF tags by IFD, the XMP packet and its properties."""

    format: str
    text: dict[str, str] = field(default_factory=dict)
    exif_ifd0: dict[int, Any] = field(default_factory=dict)
    exif_ifd: dict[int, Any] = field(default_factory=dict)
    gps_ifd: dict[int, Any] = field(default_factory=dict)
    user_comment: str | None = None
    xmp_packet: str | None = None
    xmp: dict[str, str | list[str]] = field(default_factory=dict)
    comment: str | None = None  # JPEG COM segment
    errors: list[str] = field(default_factory=list)

    def exif_value(self, tag: int) -> Any:
        """A tag from the Exif IFD, else from IFD0 (some tools, e.g. Fooocus, write UserComment there)."""
        if tag in self.exif_ifd:
            return self.exif_ifd[tag]
        return self.exif_ifd0.get(tag)


def decode_user_comment(value: Any) -> str | None:
    """EXIF UserComment as text: the 8-byte charset prefix honoured, UTF-16 byte order detected."""
    if isinstance(value, str):
        return clean_text(value, limit=MAX_TEXT_BYTES)
    if not isinstance(value, (bytes, bytearray)):
        return None
    value = bytes(value)
    prefix, body = value[:8], value[8:]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = body.decode("utf-16", errors="replace")
        else:
            # No BOM: ASCII-range text has its zero bytes first in big-endian order.
            even_zeros = body[0::2].count(0)
            odd_zeros = body[1::2].count(0)
            text = body.decode("utf-16-be" if even_zeros >= odd_zeros else "utf-16-le", errors="replace")
    elif prefix == b"ASCII\x00\x00\x00" or prefix == b"\x00" * 8:
        text = body.decode("utf-8", errors="replace")
    elif prefix == b"JIS\x00\x00\x00\x00\x00":
        text = body.decode("shift_jis", errors="replace")
    else:
        text = value.decode("utf-8", errors="replace")  # written without a prefix (e.g. by Pillow)
    return clean_text(text, limit=MAX_TEXT_BYTES)


def _text_chunk(kind: bytes, body: bytes, *, errors: list[str]) -> tuple[str, str] | None:
    keyword, sep, rest = body.partition(b"\x00")
    key = keyword.decode("latin-1")
    where = f"png {kind.decode()} {key[:40]!r}"
    if not sep or not 1 <= len(keyword) <= 79:
        errors.append(f"{where}: malformed text chunk (bad keyword); ignored")
        return None
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            errors.append(f"{where}: unknown compression method; ignored")
            return None
        raw = inflate_bounded(rest[1:], limit=MAX_TEXT_BYTES, where=where, what="compressed text", errors=errors)
        return None if raw is None else (key, raw.decode("latin-1"))
    # iTXt: compression flag, method, language, NUL, translated keyword, NUL, UTF-8 text
    if len(rest) < 2:
        errors.append(f"{where}: truncated iTXt chunk; ignored")
        return None
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) != 3:
        errors.append(f"{where}: malformed iTXt chunk; ignored")
        return None
    raw = parts[2]
    if flag:
        if method != 0:
            errors.append(f"{where}: unknown compression method; ignored")
            return None
        inflated = inflate_bounded(raw, limit=MAX_TEXT_BYTES, where=where, what="compressed text", errors=errors)
        if inflated is None:
            return None
        raw = inflated
    return key, raw.decode("utf-8", errors="replace")


def _walk_png(data: bytes, src: ImageSources) -> bytes | None:
    """Collect text chunks into ``src.text``; return the eXIf body, if any."""
    errors = src.errors
    exif: bytes | None = None
    pos, count, total, end_of_data = len(PNG_SIGNATURE), 0, 0, len(data)
    while pos + 12 <= end_of_data:
        count += 1
        if count > MAX_CHUNKS:
            errors.append(f"png: more than {MAX_CHUNKS:,} chunks; the rest were not read")
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        start, stop = pos + 8, pos + 8 + length
        if stop + 4 > end_of_data:
            errors.append(f"png: chunk {kind!r} at byte {pos} runs past the end of the file; reading stopped")
            break
        if kind in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
            if length > MAX_TEXT_BYTES:
                key = bytes(data[start : start + 80]).partition(b"\x00")[0].decode("latin-1")
                errors.append(f"png: {kind.decode()} chunk {key[:40]!r} is {length:,} bytes, over the "
                              f"{MAX_TEXT_BYTES:,}-byte limit; ignored")
            else:
                body = bytes(data[start:stop])
                crc = int.from_bytes(data[stop : stop + 4], "big")
                if zlib.crc32(kind + body) != crc:
                    errors.append(f"png: {kind.decode()} chunk at byte {pos} fails its CRC; ignored")
                elif kind == b"eXIf":
                    if exif is None:
                        exif = body
                elif len(src.text) >= MAX_TEXT_CHUNKS:
                    errors.append(f"png: more than {MAX_TEXT_CHUNKS} text chunks; the rest were ignored")
                else:
                    item = _text_chunk(kind, body, errors=errors)
                    if item is None or total > MAX_TOTAL_TEXT:
                        pass  # unreadable (already reported) or over the total budget (reported once)
                    elif total + len(item[1]) > MAX_TOTAL_TEXT:
                        errors.append(f"png: text chunks hold more than {MAX_TOTAL_TEXT:,} bytes in all; "
                                      f"{item[0][:40]!r} and later ones were ignored")
                        total = MAX_TOTAL_TEXT + 1
                    else:
                        src.text.setdefault(item[0], item[1])
                        total += len(item[1])
        elif kind == b"IEND":
            break
        pos = stop + 4
    return exif


def _pillow_info(data: bytes, fmt: str, src: ImageSources) -> tuple[bytes | None, bytes | str | None]:
    """EXIF and XMP of a JPEG, WebP, TIFF or GIF as Pillow finds them at open (no pixel decoding)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                info = img.info
                exif = info.get("exif")
                xmp = info.get("xmp")
                comment = info.get("comment")
                if fmt == "TIFF" and hasattr(img, "tag_v2"):
                    xmp = xmp or img.tag_v2.get(700)
        except Exception as e:  # a file Pillow cannot open says nothing more; not fatal for metadata
            src.errors.append(f"{fmt.lower()}: container unreadable for metadata ({type(e).__name__}: {e})")
            return None, None
    for warning in caught[:20]:
        src.errors.append(f"{fmt.lower()}: {str(warning.message).strip()}")
    if comment is not None:
        src.comment = clean_text(comment, limit=MAX_TEXT_BYTES)
    return (exif if isinstance(exif, (bytes, bytearray)) else None), xmp


def _read_exif(raw: bytes, src: ImageSources) -> None:
    if len(raw) > MAX_TEXT_BYTES:
        src.errors.append(f"exif: block is {len(raw):,} bytes, over the {MAX_TEXT_BYTES:,}-byte limit; ignored")
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exif = Image.Exif()
            exif.load(bytes(raw))
            src.exif_ifd0 = dict(exif)
            src.exif_ifd = dict(exif.get_ifd(EXIF_IFD))
            src.gps_ifd = dict(exif.get_ifd(GPS_IFD))
        except Exception as e:  # Pillow raises many types on hostile EXIF; each is just "malformed"
            src.errors.append(f"exif: malformed ({type(e).__name__}: {e}); tags read before the fault are kept")
    for warning in caught[:20]:
        src.errors.append(f"exif: {str(warning.message).strip()}")
    uc = src.exif_value(USER_COMMENT)
    if uc is not None:
        src.user_comment = decode_user_comment(uc)


def extract_sources(loaded: LoadedImage) -> ImageSources:
    """Read the metadata parts of ``loaded`` (from ``loaded.data`` when present, else ``loaded.text``)."""
    src = ImageSources(format=loaded.format)
    data = loaded.data or b""
    exif_raw: bytes | None = None
    xmp_raw: bytes | str | None = None
    if loaded.format == "PNG" and data.startswith(PNG_SIGNATURE):
        exif_raw = _walk_png(data, src)
    elif data and loaded.format in ("JPEG", "WEBP", "TIFF", "GIF"):
        exif_raw, xmp_raw = _pillow_info(data, loaded.format, src)
    if not src.text and loaded.text:
        for key, value in list(loaded.text.items())[:MAX_TEXT_CHUNKS]:
            if len(value) > MAX_TEXT_BYTES:
                src.errors.append(f"png: text {key[:40]!r} is {len(value):,} characters, over the "
                                  f"{MAX_TEXT_BYTES:,} limit; ignored")
            else:
                src.text[key] = value
    if exif_raw:
        _read_exif(exif_raw, src)
    if xmp_raw is None and XMP_KEY in src.text:
        xmp_raw = src.text[XMP_KEY]
    if xmp_raw:
        src.xmp_packet = (xmp_raw.decode("utf-8", errors="replace") if isinstance(xmp_raw, (bytes, bytearray))
                          else str(xmp_raw))[:MAX_TEXT_BYTES]
        src.xmp = parse_xmp(xmp_raw, errors=src.errors)
    return src
