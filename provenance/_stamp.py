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

from ._c2pa import ManifestSpec, build_manifest, manifest_store_label, sign_asset_with_store
from ._errors import OutputError, OutputExistsError
from ._imageio import (
    MAX_PIXELS,
    LoadedImage,
    atomic_write,
    check_output_path,
    format_for_suffix,
    decode_image,
    load_image,
    mime_type,
)
from ._keys import SigningIdentity
from ._metadata import DEFAULT_QUALITY, OUR_PNG_KEYS, encode_image, generator_exif_tags, stamp_metadata
from ._payload import new_content_id, normalize_content_id
from ._record import GenerationRecord
from ._fingerprint import pdq_hash, perceptual_hash
from ._registry import StampRecord
from ._registry_backend import RegistryBackend
from ._softbinding import image_bindings
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
    source_sha256: str | None = None  # of the file stamped (stamp_file); None for pixels stamped in memory
    generator: str | None = None  # the tool the record names (ComfyUI, AUTOMATIC1111, ...), when it names one
    manifest_id: str | None = None  # the signed manifest's label (urn:c2pa:...), its id in a resolution service
    published: list[dict] = field(default_factory=list)  # per --publish service: endpoint, manifest id or error
    #: The signed manifest store alone (what a resolution service keeps) and the soft bindings
    #: (alg, key) it is registered and published under; not part of the JSON result.
    manifest_store: bytes | None = field(default=None, repr=False)
    bindings: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("manifest_store")
        d.pop("bindings")
        return d


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
                content_id: str | None = None, keep_source_metadata: bool = False,
                source_sha256: str | None = None) -> tuple[bytes, StampResult, dict]:
    """Stamp decoded pixels in memory. Returns (signed bytes, result, the manifest definition).

    The source's PNG text chunks are kept (a generator's ``prompt``/``workflow`` graphs,
    ``invokeai_metadata``, ``fooocus_scheme``, ...), except those we write ourselves.
    ``keep_source_metadata`` (``--from-metadata``) keeps its ``parameters`` chunk too, and, for a
    JPEG or WebP output, the generator's EXIF UserComment and MakerNote: the tool that made the
    image still reads its own settings back from the stamped copy.
    """
    timer = _Timer()
    t = time.perf_counter()
    content_id = content_id or new_content_id()
    if record.width is None and record.height is None:
        record = record.merged(width=image.width, height=image.height)
    marked = get_method(method).embed(image.rgb, content_id)
    t = timer.lap("watermark", t)

    carry = generator_exif_tags(image.data) if keep_source_metadata and fmt in ("JPEG", "WEBP") and image.data \
        else None
    meta = stamp_metadata(record, software=SOFTWARE, content_id=content_id, fmt=fmt, carry_exif=carry)
    text = {k: v for k, v in image.text.items() if k not in OUR_PNG_KEYS}
    if "parameters" in image.text and (keep_source_metadata or not record.prompt):
        meta["text"].pop("parameters", None)  # keep the source tool's own parameters (A1111, Forge)
        text["parameters"] = image.text["parameters"]
    text.update(meta["text"])
    t = timer.lap("metadata", t)
    encoded = encode_image(marked, fmt, alpha=image.alpha, exif=meta["exif"], xmp=meta["xmp"], text=text,
                           icc_profile=image.icc_profile, quality=quality)
    t = timer.lap("encode", t)

    look = pdq_hash(marked)
    spec = ManifestSpec(title=title, software=SOFTWARE, content_id=content_id, method=method, record=record,
                        parent=parent, parent_action=parent_action, thumbnail=thumbnail,
                        source_sha256=source_sha256, pdq=look.hash if look.usable else None)
    signed, store = sign_asset_with_store(encoded, mime_type(fmt), spec, identity)
    t = timer.lap("sign", t)

    result = StampResult(
        content_id=content_id, method=method, format=fmt, width=image.width, height=image.height,
        sha256=hashlib.sha256(signed).hexdigest(), phash=perceptual_hash(marked),
        signer=identity.signer_name, bytes=len(signed), timings_ms=timer.ms, source_sha256=source_sha256,
        generator=record.generator, manifest_id=manifest_store_label(store), manifest_store=store,
    )
    result.pdq, result.pdq_quality = look.hash, look.quality
    result.bindings = image_bindings(marked, content_id=content_id, method=method, pdq=look.hash,
                                     pdq_quality=look.quality)
    timer.lap("hash", t)
    return signed, result, build_manifest(spec, parent_label="parent" if parent else None)


def stamp_file(src: str | os.PathLike[str], dst: str | os.PathLike[str] | None = None, *,
               identity: SigningIdentity, record: GenerationRecord | None = None, method: str = DEFAULT_METHOD,
               fmt: str | None = None, quality: int = DEFAULT_QUALITY, overwrite: bool = False,
               parent: str | os.PathLike[str] | None = None, parent_action: str = "c2pa.edited",
               thumbnail: bool = False, registry: RegistryBackend | None = None, content_id: str | None = None,
               max_pixels: int = MAX_PIXELS, from_metadata: bool = False, in_place: bool = False,
               backup: bool = False) -> StampResult:
    """Stamp ``src`` into a new file ``dst``; the input is never modified (unless ``in_place``).

    ``registry`` receives a row for the stamp; if adding it fails the output is removed again,
    so there is never a stamped file the registry does not know. ``content_id`` (16 hex digits)
    is for callers that allocate ids themselves; by default a fresh random one is drawn.
    ``max_pixels``: larger sources are refused before they are decoded.

    ``from_metadata``: the record starts from the file's own generator metadata (A1111, ComfyUI,
    InvokeAI, Fooocus, ...: :mod:`provenance._record_from_metadata`), with every field ``record``
    sets put over it, and the source's generator metadata is kept in the output. A file without
    any is stamped with ``record`` alone, with a warning.

    ``in_place``: replace ``src`` itself (``dst`` None or the same file), in its own format, in
    one atomic step, and only once the registry holds the stamp; ``backup`` first keeps the
    original as ``NAME.bak`` (never replacing an existing one). A source that changes while it is
    being stamped is left as it is (OutputError).
    """
    src_p = Path(src)
    if in_place:
        if dst is not None and Path(dst) != src_p and not (Path(dst).exists() and os.path.samefile(src_p, dst)):
            raise OutputError(f"{dst}: an in-place stamp writes to its source {src_p}, not elsewhere")
        dst_p = src_p
    else:
        if dst is None:
            raise OutputError(f"{src_p}: no output file given (or stamp it in place)")
        dst_p = Path(dst)
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
    if in_place:
        fmt = image.format
        if fmt not in ("PNG", "JPEG", "WEBP"):
            raise OutputError(f"{src_p}: a {fmt} file cannot be stamped in place (PNG, JPEG and WebP can); "
                              "write a stamped copy instead")
        bak = src_p.with_name(src_p.name + ".bak")
        if backup and (bak.exists() or bak.is_symlink()):
            raise OutputExistsError(f"{bak}: a backup already exists; not replacing it")
    return _stamp_loaded(image, t0, src_p=src_p, dst_p=dst_p, fmt=fmt, identity=identity, record=record,
                         method=method, quality=quality, overwrite=overwrite, parent=parent,
                         parent_action=parent_action, thumbnail=thumbnail, registry=registry,
                         content_id=content_id, from_metadata=from_metadata, in_place=in_place, backup=backup)


def stamp_bytes(data: bytes, dst: str | os.PathLike[str], *, identity: SigningIdentity,
                record: GenerationRecord | None = None, method: str = DEFAULT_METHOD, fmt: str | None = None,
                quality: int = DEFAULT_QUALITY, overwrite: bool = False, registry: RegistryBackend | None = None,
                from_metadata: bool = False, name: str = "<image>", max_pixels: int = MAX_PIXELS) -> StampResult:
    """Stamp an encoded image held in memory (a generator's output before it is ever written, as
    the ComfyUI node does) into ``dst``, as :func:`stamp_file` would stamp it from a file: only
    the stamped file ever exists. ``name`` labels it in messages; the registry row has no source path."""
    dst_p = Path(dst)
    check_output_path(dst_p, overwrite=overwrite)
    fmt = (fmt or format_for_suffix(dst_p) or "").upper()
    fmt = "JPEG" if fmt == "JPG" else fmt
    if fmt not in ("PNG", "JPEG", "WEBP"):
        raise OutputError(f"{dst_p}: cannot tell the output format from the name; use .png, .jpg or .webp")
    t0 = time.perf_counter()
    image = decode_image(data, name=name, max_pixels=max_pixels)
    return _stamp_loaded(image, t0, src_p=None, dst_p=dst_p, fmt=fmt, identity=identity, record=record,
                         method=method, quality=quality, overwrite=overwrite, parent=None,
                         parent_action="c2pa.edited", thumbnail=False, registry=registry, content_id=None,
                         from_metadata=from_metadata, in_place=False, backup=False, name=name)


def _stamp_loaded(image: LoadedImage, t0: float, *, src_p: Path | None, dst_p: Path, fmt: str,
                  identity: SigningIdentity, record: GenerationRecord | None, method: str, quality: int,
                  overwrite: bool, parent, parent_action: str, thumbnail: bool, registry: RegistryBackend | None,
                  content_id: str | None, from_metadata: bool, in_place: bool, backup: bool,
                  name: str | None = None) -> StampResult:
    """The part of stamping after the source is decoded, shared by :func:`stamp_file` and :func:`stamp_bytes`."""
    label = name or str(src_p)
    bak = src_p.with_name(src_p.name + ".bak") if src_p is not None else None
    for note in image.notes:  # e.g. text chunks the decoder refused: the stamp will not carry them over
        log.warning("%s: %s", label, note)
    if parent is None and _has_c2pa(image.data):
        log.warning("%s carries a C2PA manifest of its own; pass --parent %s to keep it as an ingredient",
                    label, label)
    source_sha256 = hashlib.sha256(image.data).hexdigest()
    record = record or GenerationRecord()
    if from_metadata:
        from ._record_from_metadata import overlay, record_from_metadata

        found = record_from_metadata(image, name=label)
        if found is None:
            log.warning("%s: no generator metadata found; stamped with the given settings only", label)
        record = overlay(found or GenerationRecord(), record)
    decode_ms = round((time.perf_counter() - t0) * 1000.0, 2)
    signed, result, manifest = stamp_image(
        image, fmt=fmt, identity=identity, record=record, method=method,
        quality=quality, title=dst_p.name, parent=Path(parent) if parent else None,
        parent_action=parent_action, thumbnail=thumbnail,
        content_id=normalize_content_id(content_id) if content_id else None,
        keep_source_metadata=from_metadata, source_sha256=source_sha256,
    )
    t = time.perf_counter()
    if in_place:
        staged = _stage_beside(src_p, signed)
    else:
        atomic_write(dst_p, signed, overwrite=overwrite)
    result.timings_ms = {"decode": decode_ms, **result.timings_ms,
                         "write": round((time.perf_counter() - t) * 1000.0, 2)}
    result.output = str(dst_p)
    committed = False  # once the registry holds the row, the stamped file stays (an interrupt included)
    try:
        if registry is not None:
            t = time.perf_counter()
            row = StampRecord(
                content_id=result.content_id, sha256=result.sha256, phash=result.phash, method=method, format=fmt,
                width=result.width, height=result.height, signer=result.signer,
                created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                output_path=str(dst_p.resolve()), source_path=str(src_p.resolve()) if src_p is not None else None,
                manifest_json=json.dumps(manifest, ensure_ascii=False), pdq=result.pdq,
                pdq_quality=result.pdq_quality, source_sha256=source_sha256,
            )
            if in_place:
                _check_unchanged(src_p, source_sha256)  # before the registry learns of a stamp we would not write
            registry.add(row, manifest=(result.manifest_id, result.manifest_store, result.bindings)
                         if result.manifest_id and result.manifest_store else None)
            committed = not in_place
            result.registry = registry.location
            result.timings_ms["registry"] = round((time.perf_counter() - t) * 1000.0, 2)
        if in_place:
            _check_unchanged(src_p, source_sha256)
            if backup:
                _keep_backup(src_p, bak)
            os.replace(staged, src_p)
    except BaseException:
        if in_place:
            staged.unlink(missing_ok=True)
        elif not committed:
            dst_p.unlink(missing_ok=True)
        raise
    return result


def _stage_beside(path: Path, data: bytes) -> Path:
    """``data`` in a new hidden file beside ``path`` (same folder, so the final rename is atomic),
    with ``path``'s permission bits."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot create a file in {path.parent} ({e.strerror or e})") from e
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: write failed ({e.strerror or e})") from e
    return Path(tmp)


def _check_unchanged(path: Path, sha256: str) -> None:
    try:
        now = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise OutputError(f"{path}: cannot read it again before replacing it ({e.strerror or e})") from e
    if now != sha256:
        raise OutputError(f"{path}: changed while it was being stamped; left as it is")


def _keep_backup(path: Path, bak: Path) -> None:
    """The original under ``NAME.bak``: a hard link (no copy, and it fails if the name exists),
    else a copy written atomically."""
    try:
        os.link(path, bak)
    except FileExistsError as e:
        raise OutputExistsError(f"{bak}: a backup already exists; not replacing it") from e
    except OSError:
        atomic_write(bak, path.read_bytes())
