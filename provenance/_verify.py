"""verify: decode an image once, run every evidence collector, fuse the evidence into a verdict.

Collectors are independent: each returns its evidence or, if it fails, an ``errors`` entry and an
``absent`` result; one collector's failure never hides another's evidence. Those that read the
file's bytes (C2PA, metadata, the registry lookup by sha256) run whatever the pixel decoder says:
a file whose pixels do not decode (a PNG with a hostile text chunk, a JPEG cut short) can still be
signed, registered and described by its metadata. A JPEG cut off inside its image data is
analysed as far as it decodes, with an ``errors`` entry saying so. The report is the evidence
model of DESIGN.md (``schema: provenance.verify/1``; JSON Schema in
provenance/schemas/verify.schema.json, shipped with the package).
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ._errors import ProvenanceError
from ._imageio import MAX_FILE_BYTES, MAX_PIXELS, LoadedImage, decode_image, read_bytes, sniff_format
from ._registry_backend import RegistryBackend
from ._text import printable
from ._verdict import fuse
from .collectors import CollectContext
from .evidence import MEMBER_TYPES, SCHEMA, EvidenceError, VerifyReport

log = logging.getLogger(__name__)

__all__ = ["SCHEMA", "VerifyOptions", "VerifyReport", "merge_errors", "verify_bytes", "verify_file", "warm_up"]


@dataclass
class VerifyOptions:
    trust_anchors_pem: bytes = b""
    #: Trust the public C2PA lists too (shipped, or installed by ``trust update``); --no-public-trust.
    public_trust: bool = True
    registry: RegistryBackend | None = None
    forensics: bool = True
    watermark_methods: list[str] | None = None  # None: every registered, installed method
    max_pixels: int = MAX_PIXELS  # larger images are not decoded (their bytes are still read)
    #: Why there is no registry lookup when ``registry`` is None (e.g. no registry exists yet).
    registry_note: str = "registry lookup disabled"
    #: Our watermarks' fast scan only (``--fast``): the stamped geometry, no search for scaled,
    #: rotated, stretched or flipped copies. Default: the full detectors.
    fast_watermarks: bool = False
    #: Soft Binding Resolution services to ask when the file holds no manifest and the local
    #: registry has none for it (provenance._resolver.HttpResolver, or any object with its
    #: methods); empty: none is asked, and no request leaves this machine.
    resolvers: tuple = ()


def merge_errors(errors: list[EvidenceError]) -> list[EvidenceError]:
    """Each distinct (collector, error) once, in first-seen order, with ``count`` when it repeats.

    A hostile file can make a parser say the same thing per chunk (100,000 tEXt chunks gave 99,741
    copies of one message: a 9 MB report line); the count keeps the information, not the copies.
    """
    merged: dict[tuple[str, str], EvidenceError] = {}
    for e in errors:
        key = (e.collector, e.error)
        merged[key] = replace(merged[key], count=merged[key].count + e.count) if key in merged else e
    return list(merged.values())


def _run(collector, ctx: CollectContext, report: VerifyReport) -> None:
    """Run one collector into its report member, timing it; a failure becomes an ``errors`` entry
    (and the member keeps its default), so one collector never hides another's evidence."""
    member = collector.member
    skipped = collector.absent(ctx)
    if skipped is not None:
        _store(report, member, skipped)
        return
    t = time.perf_counter()
    try:
        found = collector.collect(ctx)
    except ProvenanceError as e:
        report.errors.append(EvidenceError(member, str(e)))
    except MemoryError:  # this file is too much for this machine; the next one may not be
        report.errors.append(EvidenceError(member, "out of memory"))
    except Exception as e:  # a collector bug must not take the others down; it is reported loudly
        log.exception("collector %s failed", collector.name)
        report.errors.append(EvidenceError(member, f"{type(e).__name__}: {e}"))
    else:
        if isinstance(found, dict) and "errors" in found:
            found = dict(found)
            report.errors += [EvidenceError(member, str(e)) for e in found.pop("errors")]
        _store(report, member, found)
    finally:
        ms = (time.perf_counter() - t) * 1000.0
        report.timing_ms[member] = round(report.timing_ms.get(member, 0.0) + ms, 2)


def _store(report: VerifyReport, member: str, value) -> None:
    """Put a collector's evidence (its evidence type, or that type's JSON) into the report."""
    kind = MEMBER_TYPES[member]
    if isinstance(getattr(report, member), list):  # a list member: every collector of it adds its part
        getattr(report, member).extend(kind.from_dict(v) if isinstance(v, dict) else v for v in value)
    else:
        setattr(report, member, kind.from_dict(value) if isinstance(value, dict) else value)


def warm_up(options: VerifyOptions) -> None:
    """Load every collector's imports and models now rather than on the first file (see
    :func:`provenance.collectors.warm_up`)."""
    from .collectors import warm_up as warm_up_collectors

    warm_up_collectors(options)


def verify_bytes(data: bytes, *, name: str, options: VerifyOptions | None = None,
                 sha256: str | None = None,
                 on_decoded: Callable[[LoadedImage], None] | None = None) -> VerifyReport:
    """Verify an image given as bytes; ``name`` labels the report. ``sha256`` saves hashing again
    when the caller already has the bytes' digest. ``on_decoded`` is handed the decoded image
    (when it decodes), so a caller needing the pixels too (the audit's thumbnails) does not
    decode the file a second time."""
    from .collectors import collectors

    options = options or VerifyOptions()
    table = collectors()  # first: a plugin that fails to load is an error for the whole run
    report = VerifyReport(file=name, sha256=sha256 or hashlib.sha256(data).hexdigest())
    t = time.perf_counter()
    loaded: LoadedImage | None = None
    try:
        # messages quote the name: keep them writable
        loaded = decode_image(data, name=printable(name), max_pixels=options.max_pixels, partial=True)
    except ProvenanceError as e:
        report.errors.append(EvidenceError("decode", str(e)))
    report.timing_ms["decode"] = round((time.perf_counter() - t) * 1000.0, 2)
    fmt = loaded.format if loaded is not None else sniff_format(data[:64])
    if fmt is None:  # not an image at all: there is nothing more to read
        report.verdict = fuse(report)
        return report
    report.format = fmt
    if loaded is not None:
        report.width, report.height = loaded.width, loaded.height
        report.errors += [EvidenceError("decode", note) for note in loaded.notes]
        if on_decoded is not None:
            on_decoded(loaded)
    ctx = CollectContext(data=data, sha256=report.sha256, name=name, format=fmt, image=loaded, options=options,
                         report=report)
    for collector in table:
        _run(collector, ctx, report)
    report.errors = merge_errors(report.errors)
    report.verdict = fuse(report)
    return report


def verify_file(path: str | Path, *, options: VerifyOptions | None = None) -> VerifyReport:
    """Verify one file. Unreadable files give a report with an ``errors`` entry, never an exception."""
    try:
        data = read_bytes(path, max_bytes=MAX_FILE_BYTES)
    except ProvenanceError as e:
        return _failed(path, "read", printable(str(e)))
    except MemoryError:
        return _failed(path, "read", f"{path}: out of memory reading this file")
    try:
        return verify_bytes(data, name=str(path), options=options)
    except MemoryError:  # one file too large for this machine must not cost a batch its other reports
        del data
        return _failed(path, "verify", f"{path}: out of memory analysing this file")


def _failed(path: str | Path, collector: str, message: str) -> VerifyReport:
    report = VerifyReport(file=str(path), errors=[EvidenceError(collector, printable(message))])
    report.verdict = fuse(report)
    return report
