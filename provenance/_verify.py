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
import numpy as np
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ._c2pa_evidence import C2paEvidence, collect_c2pa
from ._errors import ImageTooSmallError, ProvenanceError
from ._imageio import MAX_FILE_BYTES, MAX_PIXELS, LoadedImage, decode_image, read_bytes, sniff_format
from ._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE, Registry
from ._text import file_fields, printable
from ._verdict import Verdict, fuse
from .watermark import detect_watermarks

log = logging.getLogger(__name__)

SCHEMA = "provenance.verify/1"
#: Our watermark detections below this false-positive rate count as strong evidence.
STRONG_WATERMARK_FPR = 1e-6


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


def _timed(report: VerifyReport, name: str, fn: Callable[[], Any]) -> Any:
    t = time.perf_counter()
    try:
        return fn()
    except ProvenanceError as e:
        report.errors.append({"collector": name, "error": str(e)})
    except MemoryError:  # this file is too much for this machine; the next one may not be
        report.errors.append({"collector": name, "error": "out of memory"})
    except Exception as e:  # a collector bug must not take the others down; it is reported loudly
        log.exception("collector %s failed", name)
        report.errors.append({"collector": name, "error": f"{type(e).__name__}: {e}"})
    finally:
        report.timing_ms[name] = round((time.perf_counter() - t) * 1000.0, 2)
    return None


def _watermarks(loaded: LoadedImage, options: VerifyOptions) -> list[dict]:
    from detectors.sd_watermarks import detect_public_marks

    ours = detect_watermarks(loaded.rgb, methods=options.watermark_methods, fast=options.fast_watermarks)
    return [dict(m.to_dict(), kind="content-id") for m in ours] + \
           [dict(m.to_dict(), kind="public") for m in detect_public_marks(loaded.rgb)]


def _candidate(row, **extra) -> dict:
    """One registry candidate as the report lists it: which stamp, when, where, how close."""
    return {"content_id": row.content_id, "created_at": row.created_at, "output_path": row.output_path, **extra}


def _registry_lookup(loaded: LoadedImage, sha256: str, watermarks: list[dict], registry: Registry) -> dict:
    """The registry's answer: by our watermark's id (the file carries the stamp's mark), by the
    file's sha256 (it is the stamped file), else by look (PDQ with flips, pHash): every stamp
    within the thresholds, best first. A look-alike is evidence that the image resembles a stamp,
    not that it is one: ``_verdict`` decides what it may say."""
    from ._fingerprint import DIHEDRAL, pdq_hashes, perceptual_hash

    for w in watermarks:
        if w.get("kind") != "content-id" or not w.get("detected"):
            continue
        rows = registry.find_by_prefix(w["payload"]) if w.get("partial") else \
            [r for r in [registry.get(w["payload"])] if r is not None]
        if rows:  # a short id prefix can name several stamps
            found = {"match": "watermark", "scheme": w["scheme"], "record": rows[0].to_dict(),
                     "identical_file": len(rows) == 1 and rows[0].sha256 == sha256,
                     "candidates": [_candidate(r, kind="watermark") for r in rows]}
            if len(rows) > 1:
                found["ambiguous"] = len(rows)
            return found
    exact = registry.find_by_sha256(sha256)
    if exact:
        return {"match": "fingerprint", "hash": "sha256", "distance": 0, "record": exact[0].to_dict(),
                "identical_file": True, "candidates": [_candidate(r, kind="sha256", distance=0) for r in exact]}
    if registry.is_empty():  # nothing to compare with: the hashes are not worth computing
        return {"match": "none"}
    look, phash = pdq_hashes(loaded.rgb), perceptual_hash(loaded.rgb)
    similar = registry.find_similar(pdq=look.hashes if look.usable else (), phash=phash)
    fingerprint = {"phash": phash, "pdq": look.hash, "pdq_quality": look.quality}
    if not similar:
        return {"match": "none", "fingerprint": fingerprint}
    candidates = []
    for m in similar:
        c = _candidate(m.record, kind="look", pdq_distance=m.pdq_distance, phash_distance=m.phash_distance)
        if m.pdq_variant:
            c["pdq_transform"] = DIHEDRAL[m.pdq_variant]
        candidates.append(c)
    best = similar[0]
    # The hash that matched best names the distance (schema: "distance" of "hash").
    use_pdq = best.pdq_distance is not None and (best.phash_distance is None or
                                                 best.pdq_distance / PDQ_MAX_DISTANCE <= best.phash_distance / PHASH_MAX_DISTANCE)
    return {"match": "fingerprint", "hash": "pdq" if use_pdq else "phash",
            "distance": best.pdq_distance if use_pdq else best.phash_distance,
            "max_distance": PDQ_MAX_DISTANCE if use_pdq else PHASH_MAX_DISTANCE,
            "record": best.record.to_dict(), "identical_file": False, "candidates": candidates,
            "fingerprint": fingerprint}


def _registry_by_sha256(sha256: str, registry: Registry) -> dict:
    """The lookup that needs no pixels: a byte-identical copy of a stamped file."""
    exact = registry.find_by_sha256(sha256)
    if exact:
        return {"match": "fingerprint", "hash": "sha256", "distance": 0, "record": exact[0].to_dict(),
                "identical_file": True, "candidates": [_candidate(r, kind="sha256", distance=0) for r in exact]}
    return {"match": "none", "reason": "the pixels did not decode: looked up by sha256 only"}


def _bytes_only(data: bytes, fmt: str) -> LoadedImage:
    """What the metadata collector reads when the pixels did not decode: the bytes, no pixels."""
    return LoadedImage(path=None, format=fmt, rgb=np.zeros((0, 0, 3), dtype=np.uint8), data=data)


def _metadata(loaded: LoadedImage) -> dict:
    try:
        from detectors.metadata import read_image_metadata
    except ImportError:
        return {"status": "absent", "reason": "metadata parsers not installed"}
    return read_image_metadata(loaded).to_dict()


#: A classifier speaks in the verdict only if its grouped cross-validation ROC AUC (as stored, from
#: the model's sidecar) reaches this; otherwise its estimate is reported but decides nothing.
MIN_VALIDATED_AUC = 0.85
#: The family head names a family only if, in that cross-validation, it named at least this share
#: of that family's images correctly (as stored).
MIN_FAMILY_ACCURACY = 0.7


def family_accuracies(evaluation: dict) -> dict[str, float]:
    """Per family, the share of its images the family head named correctly in the sidecar's
    grouped cross-validation, as stored (rows of the confusion matrix)."""
    conf = (evaluation.get("confusion") or {}).get("stored") or {}
    out = {}
    for label, row in zip(conf.get("labels", []), conf.get("matrix", [])):
        total = sum(row)
        if total:
            out[label] = row[conf["labels"].index(label)] / total
    return out


def forensic_levels(evaluation: dict) -> dict | None:
    """The two levels a validated classifier decides at, from its sidecar's grouped cross-validation
    (as stored): ``ai`` flags at most 1% of real photos (``ai_fpr``; ``ai_tpr`` of generated images
    reach it), ``camera`` lets at most 1% of generated images under it (``camera_miss``; ``camera_tnr``
    of real photos are under it). None when the sidecar does not record them."""
    stored = (evaluation.get("conditions") or {}).get("stored") or {}
    ai, cam = stored.get("threshold_at_1pct_fpr"), stored.get("threshold_at_1pct_miss")
    if ai is None or cam is None:
        return None
    return {"ai": ai, "ai_fpr": 0.01, "ai_tpr": stored.get("tpr_at_1pct_fpr"),
            "camera": cam, "camera_miss": 0.01, "camera_tnr": stored.get("tnr_at_1pct_miss")}


def _forensics(loaded: LoadedImage) -> dict:
    try:
        from detectors.forensics import analyze, load_default_model
    except ImportError:
        return {"status": "absent", "reason": "no forensic classifier installed"}
    model = load_default_model()
    try:
        result = analyze(loaded.rgb, model=model)
    except ImageTooSmallError as e:  # a thumbnail: nothing to estimate, nothing went wrong
        return {"status": "absent", "reason": str(e)}
    evaluation = model.sidecar.get("evaluation") or {}
    auc = ((evaluation.get("conditions") or {}).get("stored") or {}).get("auc")
    validated = auc is not None and auc >= MIN_VALIDATED_AUC
    family_acc = family_accuracies(evaluation).get(result.family)
    out = {"status": "estimate", **result.to_dict(),
           "family": result.family if family_acc is not None and family_acc >= MIN_FAMILY_ACCURACY
           and result.family != "unknown" else None,
           "family_validation_accuracy": family_acc, "validation_auc": auc, "validated": validated}
    if validated:
        out["levels"] = forensic_levels(evaluation)
    return out


def warm_up(options: VerifyOptions) -> None:
    """Import every collector and load the forensic model now rather than on the first file.

    A batch worker calls this once at start-up, so the first file's time, its time limit and its
    memory head-room are its own. A model that fails to load is left to fail (and be reported) per file.
    """
    try:
        import detectors.metadata  # noqa: F401
        import detectors.sd_watermarks  # noqa: F401
    except ImportError:  # the collectors say so per file
        pass
    if options.forensics:
        try:
            from detectors.forensics import prepare

            prepare()  # the model and the backbone network it reads
        except Exception as e:  # reported with each file by _forensics; nothing to do here
            log.debug("forensic model not preloaded: %s", e)


def verify_bytes(data: bytes, *, name: str, options: VerifyOptions | None = None,
                 sha256: str | None = None,
                 on_decoded: Callable[[LoadedImage], None] | None = None) -> VerifyReport:
    """Verify an image given as bytes; ``name`` labels the report. ``sha256`` saves hashing again
    when the caller already has the bytes' digest. ``on_decoded`` is handed the decoded image
    (when it decodes), so a caller needing the pixels too (the audit's thumbnails) does not
    decode the file a second time."""
    options = options or VerifyOptions()
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
        if on_decoded is not None:
            on_decoded(loaded)

    # From the bytes, whatever the pixel decoder said.
    c2pa_ev: C2paEvidence | None = _timed(report, "c2pa", lambda: collect_c2pa(
        data, trust_anchors_pem=options.trust_anchors_pem or None))
    if c2pa_ev is not None:
        report.c2pa = c2pa_ev.to_dict()
    if loaded is not None:
        marks = _timed(report, "watermarks", lambda: _watermarks(loaded, options))
        report.watermarks = marks or []
        report.errors += [{"collector": "decode", "error": note} for note in loaded.notes]
    meta = _timed(report, "metadata", lambda: _metadata(loaded if loaded is not None else _bytes_only(data, fmt)))
    if meta is not None:
        report.errors += [{"collector": "metadata", "error": str(e)} for e in meta.pop("errors", [])]
        report.metadata = meta
    if options.registry is not None:
        registry = options.registry
        found = _timed(report, "registry", lambda: _registry_lookup(loaded, report.sha256, report.watermarks, registry)
                       if loaded is not None else _registry_by_sha256(report.sha256, registry))
        if found is not None:
            report.registry = found
    else:
        report.registry = {"match": "none", "reason": options.registry_note}
    if not options.forensics:
        report.forensics = {"status": "absent", "reason": "forensics disabled"}
    elif loaded is None:
        report.forensics = {"status": "absent", "reason": "the pixels did not decode"}
    else:
        result = _timed(report, "forensics", lambda: _forensics(loaded))
        if result is not None:
            report.forensics = result
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
