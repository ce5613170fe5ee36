"""This package's own collectors: C2PA, our watermarks, and the registry of stamps.

:data:`BUILTIN` is the start of the verify collector table (``provenance.collectors``); the
detectors package adds metadata, the public SD watermarks and forensics through the entry-point group.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING

from ._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE
from ._registry_backend import RegistryBackend

if TYPE_CHECKING:
    from .collectors import CollectContext
    from .evidence import C2paEvidence, WatermarkResult


class C2paCollector:
    """The C2PA manifest store, read and validated from the bytes (whatever the pixels say)."""

    name = member = "c2pa"
    order = 10

    def absent(self, ctx: CollectContext) -> None:
        return None

    def collect(self, ctx: CollectContext) -> C2paEvidence:
        from ._c2pa_evidence import collect_c2pa

        return collect_c2pa(ctx.data, trust_anchors_pem=ctx.options.trust_anchors_pem or None,
                            public_trust=ctx.options.public_trust)

    def fingerprint(self, options) -> str:
        from ._trust import trust_fingerprint

        # every anchor, pinned certificate and accepted EKU: a ``trust update`` changes it
        return trust_fingerprint(options.trust_anchors_pem, public=options.public_trust)

    def warm_up(self, options) -> None:
        from . import _c2pa_evidence  # noqa: F401  (c2pa-python loads its native library)


class WatermarkCollector:
    """Our watermark methods (the full detectors, or the fast scan with ``--fast``), on the pixels."""

    name = "watermarks"
    member = "watermarks"
    order = 20

    def absent(self, ctx: CollectContext) -> list | None:
        return [] if ctx.image is None else None

    def collect(self, ctx: CollectContext) -> list[WatermarkResult]:
        from .watermark import detect_watermarks

        marks = detect_watermarks(ctx.image.rgb, methods=ctx.options.watermark_methods,
                                  fast=ctx.options.fast_watermarks)
        return [replace(m, kind="content-id") for m in marks]

    def fingerprint(self, options) -> dict:
        from .watermark import method_names

        methods = sorted(options.watermark_methods) if options.watermark_methods else ["default", *method_names()]
        return {"methods": methods, "search": "fast" if options.fast_watermarks else "full"}

    def warm_up(self, options) -> None:
        from . import watermark  # noqa: F401


def _candidate(row, **extra) -> dict:
    """One registry candidate as the report lists it: which stamp, when, where, how close."""
    return {"content_id": row.content_id, "created_at": row.created_at, "output_path": row.output_path, **extra}


def _by_sha256(sha256: str, registry: RegistryBackend) -> dict | None:
    exact = registry.find_by_sha256(sha256)
    if not exact:
        return None
    return {"match": "fingerprint", "hash": "sha256", "distance": 0, "record": exact[0].to_dict(),
            "identical_file": True, "candidates": [_candidate(r, kind="sha256", distance=0) for r in exact]}


def registry_lookup(rgb, sha256: str, watermarks: list[WatermarkResult], registry: RegistryBackend) -> dict:
    """The registry's answer: by our watermark's id (the file carries the stamp's mark), by the
    file's sha256 (it is the stamped file), else by look (PDQ with flips, pHash): every stamp
    within the thresholds, best first. A look-alike is evidence that the image resembles a stamp,
    not that it is one: ``_verdict`` decides what it may say."""
    from ._fingerprint import DIHEDRAL, pdq_hashes, perceptual_hash

    for w in watermarks:
        if not w.ours:
            continue
        rows = registry.find_by_prefix(w.payload) if w.partial else \
            [r for r in [registry.get(w.payload)] if r is not None]
        if rows:  # a short id prefix can name several stamps
            found = {"match": "watermark", "scheme": w.scheme, "record": rows[0].to_dict(),
                     "identical_file": len(rows) == 1 and rows[0].sha256 == sha256,
                     "candidates": [_candidate(r, kind="watermark") for r in rows]}
            if len(rows) > 1:
                found["ambiguous"] = len(rows)
            return found
    exact = _by_sha256(sha256, registry)
    if exact:
        return exact
    if registry.is_empty():  # nothing to compare with: the hashes are not worth computing
        return {"match": "none"}
    look, phash = pdq_hashes(rgb), perceptual_hash(rgb)
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


class RegistryCollector:
    """The local registry of stamps: by watermark id, by sha256, by look. Without pixels, by sha256 only."""

    name = member = "registry"
    order = 40  # after every watermark collector: it looks their ids up

    def absent(self, ctx: CollectContext) -> dict | None:
        if ctx.options.registry is None:
            return {"match": "none", "reason": ctx.options.registry_note}
        return None

    def collect(self, ctx: CollectContext) -> dict:
        registry = ctx.options.registry
        if ctx.image is None:  # the lookup that needs no pixels: a byte-identical copy of a stamped file
            return _by_sha256(ctx.sha256, registry) or \
                {"match": "none", "reason": "the pixels did not decode: looked up by sha256 only"}
        return registry_lookup(ctx.image.rgb, ctx.sha256, ctx.report.watermarks, registry)

    def fingerprint(self, options) -> list:
        registry = options.registry
        return [None, None] if registry is None else [registry.location, registry.count()]

    def warm_up(self, options) -> None:
        from . import _fingerprint  # noqa: F401


class ResolverCollector:
    """Soft Binding Resolution services (``verify --resolver``): asked only when the file holds no
    manifest of its own and the local registry knows no manifest for it; their answer, once it
    passes the checks of :mod:`provenance._recover`, replaces the registry member."""

    name = "resolver"
    member = "registry"
    order = 45  # after the local registry: a service is asked only for what it could not answer

    def absent(self, ctx: CollectContext):
        reg = ctx.report.registry
        local = reg.matched and (reg.record or {}).get("manifest")
        if not ctx.options.resolvers or ctx.image is None or local or ctx.report.c2pa.present:
            return reg  # unchanged: nothing to ask (or nothing may be asked)
        return None

    def collect(self, ctx: CollectContext) -> dict:
        from ._recover import recover

        return recover(ctx, ctx.options.resolvers, previous=ctx.report.registry.to_dict())

    def fingerprint(self, options) -> list:
        return sorted(getattr(r, "url", repr(r)) for r in options.resolvers)

    def warm_up(self, options) -> None:
        from . import _recover, _resolver  # noqa: F401


#: This package's collectors, in the order verify runs them.
BUILTIN = (C2paCollector(), WatermarkCollector(), RegistryCollector(), ResolverCollector())
