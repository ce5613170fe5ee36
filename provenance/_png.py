"""Fast PNG writing: OpenCV encodes the pixels, we add the metadata chunks ourselves.

Why not Pillow: at 1024x1024 Pillow's PNG writer takes ~600 ms at its default zlib level 6 and
~110 ms at level 1; OpenCV with zlib level 1 and the RLE strategy takes ~80 ms and, on photos and
diffusion outputs, gives files within a few percent of level 6 (``bench/stamp.py`` measures both).
Pixels and alpha are written losslessly either way.

Chunks we add right after IHDR (where the PNG spec allows all of them): iCCP (the source's colour
profile), eXIf, tEXt for ASCII text and iTXt for the rest (XMP goes in iTXt
``XML:com.adobe.xmp``, as Adobe and exiftool expect).
"""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ENCODE_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def text_chunk(key: str, value: str) -> bytes:
    keyword = key.encode("latin-1")
    if not 1 <= len(keyword) <= 79:
        raise ValueError(f"PNG text keyword must be 1-79 bytes: {key!r}")
    if value.isascii():
        return chunk(b"tEXt", keyword + b"\x00" + value.encode("latin-1"))
    # iTXt: keyword, null, compression flag, method, language tag, null, translated keyword, null, text
    return chunk(b"iTXt", keyword + b"\x00\x00\x00" + b"\x00" + b"\x00" + value.encode("utf-8"))


def encode_png(rgb: np.ndarray, *, alpha: np.ndarray | None = None, text: dict[str, str] | None = None,
               exif: bytes | None = None, icc_profile: bytes | None = None) -> bytes:
    """PNG bytes for an RGB (and optional alpha) uint8 image with the given metadata chunks."""
    if alpha is not None:
        pixels = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)
        pixels[:, :, 3] = alpha
    else:
        pixels = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", pixels, _ENCODE_PARAMS)
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    data = buf.tobytes()
    ihdr_end = len(_SIGNATURE) + 8 + 13 + 4
    if data[:8] != _SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("unexpected PNG layout from OpenCV")
    extra = b""
    if icc_profile:
        extra += chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile))
    if exif:
        body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif  # eXIf holds the TIFF data alone
        extra += chunk(b"eXIf", body)
    for key, value in (text or {}).items():
        extra += text_chunk(key, value)
    return data[:ihdr_end] + extra + data[ihdr_end:]
