"""Metadata hidden in the least significant bits of the pixels ("stealth pnginfo").

Format, as written by the sd-webui-stealth-pnginfo extension (and read by A1111/Forge forks)
and by NovelAI: a bit stream taken pixel by pixel in column-major order (for x: for y:), from the
alpha channel's LSB ("alpha" mode) or from the R, G, B LSBs in turn ("rgb" mode). It holds a
15-byte signature, a 32-bit big-endian payload length *in bits*, then the payload: UTF-8 text, or
gzip of it for the ``*comp`` signatures. NovelAI uses ``stealth_pngcomp`` with a JSON payload.
``read_stealth`` extracts the payload; ``read_stealth_info`` (the "stealth" parser) reads it as
NovelAI's JSON or A1111's text.
"""
from __future__ import annotations

import zlib

import numpy as np

from provenance import LoadedImage

from ._a1111 import a1111_info
from ._model import GeneratorInfo
from ._novelai import novelai_info
from ._sources import ImageSources
from ._values import inflate_bounded, load_json

#: Largest payload we extract or inflate.
MAX_STEALTH_BYTES = 4 * 1024 * 1024

SIGNATURES = {
    "alpha": {b"stealth_pnginfo": False, b"stealth_pngcomp": True},
    "rgb": {b"stealth_rgbinfo": False, b"stealth_rgbcomp": True},
}
_HEADER_BITS = 15 * 8 + 32


def _bits(plane: np.ndarray, count: int) -> bytes:
    """The first ``count`` LSBs of ``plane`` (H x W or H x W x C) in column-major order, as bytes."""
    per_column = plane.shape[0] * (plane.shape[2] if plane.ndim == 3 else 1)
    columns = -(-count // per_column)
    stream = np.ascontiguousarray(plane[:, :columns].swapaxes(0, 1)).reshape(-1)[:count]
    return np.packbits(stream & 1).tobytes()


def read_stealth(loaded: LoadedImage, *, errors: list[str]) -> tuple[str, str] | None:
    """(signature, text) of stealth metadata in ``loaded``'s pixels, or None when there is none."""
    planes = []
    if loaded.alpha is not None:
        planes.append(("alpha", loaded.alpha))
    planes.append(("rgb", loaded.rgb))
    for mode, plane in planes:
        capacity = int(plane.size)
        if capacity < _HEADER_BITS:
            continue
        signature = _bits(plane, 15 * 8)
        if signature not in SIGNATURES[mode]:
            continue
        name = signature.decode()
        compressed = SIGNATURES[mode][signature]
        length_bits = int.from_bytes(_bits(plane, _HEADER_BITS)[15:19], "big")
        where = f"{mode}-lsb {name}"
        if length_bits == 0 or length_bits % 8:
            errors.append(f"{where}: payload length {length_bits} bits is not a whole number of bytes; ignored")
            return None
        if length_bits > capacity - _HEADER_BITS:
            errors.append(f"{where}: payload of {length_bits // 8:,} bytes does not fit in the image; ignored")
            return None
        if length_bits // 8 > MAX_STEALTH_BYTES:
            errors.append(f"{where}: payload of {length_bits // 8:,} bytes is over the "
                          f"{MAX_STEALTH_BYTES:,}-byte limit; ignored")
            return None
        payload = _bits(plane, _HEADER_BITS + length_bits)[19:]
        if compressed:
            payload = inflate_bounded(payload, limit=MAX_STEALTH_BYTES, where=where, what="gzip payload",
                                      errors=errors, wbits=16 + zlib.MAX_WBITS)
            if payload is None:
                return None
        return name, payload.decode("utf-8", errors="replace")
    return None


def read_stealth_info(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """A1111 infotext or NovelAI JSON hidden in the alpha or RGB least significant bits."""
    if loaded.format == "JPEG":  # lossy: no bit survives, and the scan would only find noise
        return None
    found = read_stealth(loaded, errors=src.errors)
    if found is None:
        return None
    signature, text = found
    where = f"{'alpha' if signature.startswith('stealth_png') else 'rgb'}-lsb:{signature}"
    data = load_json(text, where=where, errors=src.errors)
    if isinstance(data, dict):
        return novelai_info(data, where=where, errors=src.errors)
    return a1111_info(text, where=where)
