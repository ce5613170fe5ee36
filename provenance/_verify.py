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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ._errors import ProvenanceError
from ._imageio import MAX_FILE_BYTES, MAX_PIXELS, LoadedImage, decode_image, read_bytes, sniff_format
from ._registry import Registry
from ._text import file_fields, printable
from ._verdict import Verdict, fuse
from .collectors import CollectContext

log = logging.getLogger(__name__)

SCHEMA = "provenance.verify/1"


@dataclass
class VerifyOptions:
    trust_anchors_pem: bytes = b""
    registry: Registry | None = None
    forensics: bool = True
    watermark_methods: list[str] | None = None  # None: every registered, installed method
    max_pixels: int = MAX_PIXELS  # larger images are not decoded (their bytes are still read)
    #: Why there is no registry lookup when ``registry`` is None (e.g. no registry exists yet).
    registry_note: str = "registry lookup disabled"
    #: Our watermarks' fast scan only (``--fast``): the stamped geometry, no search for scaled,
    #: rotated, stretched or flipped copies. Default: the full detectors.
    fast_watermarks: bool = False


@dataclass
class VerifyReport:
    file: str
    sha256: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    verdict: Verdict = field(default_factory=Verdict)
    c2pa: dict = field(default_factory=lambda: {"status": "absent"})
    watermarks: list[dict] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    registry: dict = field(default_factory=lambda: {"match": "none"})
    forensics: dict = field(default_factory=lambda: {"status": "absent"})
    errors: list[dict] = field(default_factory=list)
    timing_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        name = file_fields(d.pop("file"))  # a name that is not UTF-8: escaped, plus its bytes in base64
        return {"schema": SCHEMA, **name, **d}

    @property
    def flags(self) -> set[str]:
        """What ``--fail-on`` can select: ai, tampered, invalid, error, unknown."""
        out = set()
        if self.verdict.label in ("ai-generated", "likely-ai-generated"):
            out.add("ai")
        if self.c2pa.get("status") in ("tampered", "invalid"):
            out.add(self.c2pa["status"])
        if self.errors:
            out.add("error")
        if self.verdict.label == "unknown":
            out.add("unknown")
        return out


def merge_errors(errors: list[dict]) -> list[dict]:
    """Each distinct (collector, error) once, in first-seen order, with ``count`` when it repeats.

    A hostile file can make a parser say the same thing per chunk (100,000 tEXt chunks gave 99,741
    copies of one message: a 9 MB report line); the count keeps the information, not the copies.
    """
    merged: dict[tuple[str, str], dict] = {}
    for e in errors:
        key = (e["collector"], e["error"])
        if key in merged:
            merged[key]["count"] = merged[key].get("count", 1) + e.get("count", 1)
        else:
            merged[key] = dict(e)
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
        report.errors.append({"collector": member, "error": str(e)})
    except MemoryError:  # this file is too much for this machine; the next one may not be
        report.errors.append({"collector": member, "error": "out of memory"})
    except Exception as e:  # a collector bug must not take the others down; it is reported loudly
        log.exception("collector %s failed", collector.name)
        report.errors.append({"collector": member, "error": f"{type(e).__name__}: {e}"})
    else:
        if isinstance(found, dict) and "errors" in found:
            report.errors += [{"collector": member, "error": str(e)} for e in found.pop("errors")]
        _store(report, member, found)
    finally:
        ms = (time.perf_counter() - t) * 1000.0
        report.timing_ms[member] = round(report.timing_ms.get(member, 0.0) + ms, 2)


def _store(report: VerifyReport, member: str, value) -> None:
    if isinstance(getattr(report, member), list):  # a list member: every collector of it adds its part
        getattr(report, member).extend(value)
    else:
        setattr(report, member, value)


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
        report.errors.append({"collector": "decode", "error": str(e)})
    report.timing_ms["decode"] = round((time.perf_counter() - t) * 1000.0, 2)
    fmt = loaded.format if loaded is not None else sniff_format(data[:64])
    if fmt is None:  # not an image at all: there is nothing more to read
        report.verdict = fuse(report)
        return report
    report.format = fmt
    if loaded is not None:
        report.width, report.height = loaded.width, loaded.height
        report.errors += [{"collector": "decode", "error": note} for note in loaded.notes]
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
    report = VerifyReport(file=str(path), errors=[{"collector": collector, "error": printable(message)}])
    report.verdict = fuse(report)
    return report
