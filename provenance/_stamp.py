"""Stamping: watermark the pixels, write metadata, sign the C2PA manifest last, write atomically.

The order is fixed (see DESIGN.md): the watermark changes pixels, so it comes first; metadata is
part of the file, so it comes before signing; the signature's hard binding covers the final bytes,
so nothing may touch the file after it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._c2pa import ManifestSpec, build_manifest, sign_asset
from ._errors import OutputError, ProvenanceError
from ._imageio import (
    MAX_PIXELS,
    LoadedImage,
    atomic_write,
    check_output_path,
    format_for_suffix,
    load_image,
    mime_type,
)
from ._keys import SigningIdentity
from ._metadata import DEFAULT_QUALITY, OUR_PNG_KEYS, encode_image, stamp_metadata
from ._payload import new_content_id, normalize_content_id
from ._record import GenerationRecord
from ._fingerprint import pdq_hash, perceptual_hash
from ._registry import Registry, StampRecord
from ._version import __version__
from .watermark import DEFAULT_METHOD, get_method

log = logging.getLogger(__name__)

SOFTWARE = f"provenance/{__version__}"


def _has_c2pa(data: bytes) -> bool:
    """Cheap check for embedded C2PA data (a JUMBF box labelled c2pa), used only to warn."""
    return b"jumb" in data and b"c2pa" in data




@dataclass
class StampResult:
    content_id: str
    method: str
    format: str
    width: int
    height: int
    sha256: str
    phash: str
    signer: str
    output: str | None = None
    registry: str | None = None
    bytes: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    pdq: str | None = None  # PDQ hash (provenance._fingerprint), for the registry's look-up by look
    pdq_quality: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.ms[name] = round((now - since) * 1000.0, 2)
        return now


def stamp_image(image: LoadedImage, *, fmt: str, identity: SigningIdentity, record: GenerationRecord,
                method: str = DEFAULT_METHOD, quality: int = DEFAULT_QUALITY, title: str = "image",
                parent: Path | None = None, parent_action: str = "c2pa.edited", thumbnail: bool = False,
                content_id: str | None = None) -> tuple[bytes, StampResult, dict]:
    """Stamp decoded pixels in memory. Returns (signed bytes, result, the manifest definition)."""
    timer = _Timer()
    t = time.perf_counter()
    content_id = content_id or new_content_id()
    if record.width is None and record.height is None:
        record = record.merged(width=image.width, height=image.height)
    marked = get_method(method).embed(image.rgb, content_id)
    t = timer.lap("watermark", t)

    meta = stamp_metadata(record, software=SOFTWARE, content_id=content_id, fmt=fmt)
    text = {k: v for k, v in image.text.items() if k not in OUR_PNG_KEYS}
    if "parameters" in image.text and not record.prompt:
        meta["text"].pop("parameters", None)  # keep the source tool's own parameters (A1111, Forge)
        text["parameters"] = image.text["parameters"]
    text.update(meta["text"])
    t = timer.lap("metadata", t)
    encoded = encode_image(marked, fmt, alpha=image.alpha, exif=meta["exif"], xmp=meta["xmp"], text=text,
                           icc_profile=image.icc_profile, quality=quality)
    t = timer.lap("encode", t)

    spec = ManifestSpec(title=title, software=SOFTWARE, content_id=content_id, method=method, record=record,
                        parent=parent, parent_action=parent_action, thumbnail=thumbnail)
    signed = sign_asset(encoded, mime_type(fmt), spec, identity)
    t = timer.lap("sign", t)

    result = StampResult(
        content_id=content_id, method=method, format=fmt, width=image.width, height=image.height,
        sha256=hashlib.sha256(signed).hexdigest(), phash=perceptual_hash(marked),
        signer=identity.signer_name, bytes=len(signed), timings_ms=timer.ms,
    )
    look = pdq_hash(marked)
    result.pdq, result.pdq_quality = look.hash, look.quality
    timer.lap("hash", t)
    return signed, result, build_manifest(spec, parent_label="parent" if parent else None)


def stamp_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, identity: SigningIdentity,
               record: GenerationRecord | None = None, method: str = DEFAULT_METHOD, fmt: str | None = None,
               quality: int = DEFAULT_QUALITY, overwrite: bool = False, parent: str | os.PathLike[str] | None = None,
               parent_action: str = "c2pa.edited", thumbnail: bool = False,
               registry: Registry | None = None, content_id: str | None = None,
               max_pixels: int = MAX_PIXELS) -> StampResult:
    """Stamp ``src`` into a new file ``dst``; the input is never modified.

    ``registry`` receives a row for the stamp; if adding it fails the output is removed again,
    so there is never a stamped file the registry does not know. ``content_id`` (16 hex digits)
    is for callers that allocate ids themselves; by default a fresh random one is drawn.
    ``max_pixels``: larger sources are refused before they are decoded.
    """
    src_p, dst_p = Path(src), Path(dst)
    check_output_path(dst_p, overwrite=overwrite)
    if dst_p.exists() and src_p.exists() and os.path.samefile(src_p, dst_p):
        raise OutputError(f"{dst_p}: output is the input file; stamping never modifies its input")
    fmt = (fmt or format_for_suffix(dst_p) or "").upper()
    if fmt == "JPG":
        fmt = "JPEG"
    if fmt not in ("PNG", "JPEG", "WEBP"):
        raise OutputError(f"{dst_p}: cannot tell the output format from the name; use .png, .jpg or .webp, or --format")

    t0 = time.perf_counter()
    image = load_image(src_p, max_pixels=max_pixels)
    for note in image.notes:  # e.g. text chunks the decoder refused: the stamp will not carry them over
        log.warning("%s: %s", src_p, note)
    if parent is None and _has_c2pa(image.data):
        log.warning("%s carries a C2PA manifest of its own; pass --parent %s to keep it as an ingredient",
                    src_p, src_p)
    decode_ms = round((time.perf_counter() - t0) * 1000.0, 2)
    signed, result, manifest = stamp_image(
        image, fmt=fmt, identity=identity, record=record or GenerationRecord(), method=method,
        quality=quality, title=dst_p.name, parent=Path(parent) if parent else None,
        parent_action=parent_action, thumbnail=thumbnail,
        content_id=normalize_content_id(content_id) if content_id else None,
    )
    t = time.perf_counter()
    atomic_write(dst_p, signed, overwrite=overwrite)
    result.timings_ms = {"decode": decode_ms, **result.timings_ms,
                         "write": round((time.perf_counter() - t) * 1000.0, 2)}
    result.output = str(dst_p)
    if registry is not None:
        t = time.perf_counter()
        row = StampRecord(
            content_id=result.content_id, sha256=result.sha256, phash=result.phash, method=method, format=fmt,
            width=result.width, height=result.height, signer=result.signer,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            output_path=str(dst_p.resolve()), source_path=str(src_p.resolve()),
            manifest_json=json.dumps(manifest, ensure_ascii=False), pdq=result.pdq, pdq_quality=result.pdq_quality,
        )
        try:
            registry.add(row)
        except ProvenanceError:
            dst_p.unlink(missing_ok=True)
            raise
        result.registry = str(registry.path)
        result.timings_ms["registry"] = round((time.perf_counter() - t) * 1000.0, 2)
    return result
