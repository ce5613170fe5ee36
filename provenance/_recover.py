"""Recovering a stripped copy's Content Credentials from resolution services, and the checks that
decide whether a recovered manifest belongs to this image (see :mod:`provenance._resolver`).

The result is the report's ``registry`` member with ``match: "resolver"``: the service
(``endpoint``), the manifest id, the manifest's ``status`` (``trusted`` or ``valid``: signature
and claim good), whether this copy's ``pixels`` are the signed ones (``identical``) or not
(``differ``: a re-encoded, resized or otherwise changed copy, which the hard binding no longer
covers), the ``signer`` and, in ``record``, the signed manifest's assertions (the generation record
among them). Manifests that failed a check are listed under ``rejected`` with the reason.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ._errors import ResolverError

log = logging.getLogger(__name__)


@dataclass
class Lookup:
    """What was asked: ``by`` binding (``alg``, ``key``: one of our watermark ids) or content."""

    by: str
    alg: str | None = None
    key: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in (("by", self.by), ("alg", self.alg), ("value", self.key)) if v is not None}


def _mark_agrees(mark_payload: str, partial: bool, value: str) -> bool:
    value = value.lower()
    return value.startswith(mark_payload) if partial else value == mark_payload


def check_bindings(active: dict, lookup: Lookup, marks, look) -> tuple[bool, list[dict], str | None]:
    """Whether the manifest's soft bindings fit this image: (ok, each binding with its check, why not)."""
    from ._c2pa import PDQ_SOFT_BINDING, soft_bindings_of
    from ._fingerprint import hamming
    from ._registry import PDQ_MAX_DISTANCE
    from ._softbinding import WATERMARK_PREFIX

    bindings = soft_bindings_of(active)
    checks: list[dict] = []
    problems: list[str] = []
    found_lookup = lookup.by == "content"
    fingerprint_ok = False
    for b in bindings:
        alg, value = str(b.get("alg")), str(b.get("value"))
        entry = {"alg": alg, "value": value}
        if alg.startswith(WATERMARK_PREFIX):
            scheme = alg[len(WATERMARK_PREFIX):]
            mine = [m for m in marks if m.scheme == scheme]
            if lookup.by == "binding" and lookup.alg == alg and _mark_agrees(lookup.key or "", True, value):
                found_lookup = True
            if mine:
                agrees = any(_mark_agrees(m.payload, m.partial, value) for m in mine)
                entry["check"] = "agrees with the image's watermark" if agrees else "differs from the image's watermark"
                if not agrees:
                    problems.append(f"the manifest binds {scheme} id {value}, the image carries {mine[0].payload}")
            else:
                entry["check"] = "the image carries no such watermark"
        elif alg == PDQ_SOFT_BINDING:
            try:
                distance = min(hamming(h, value) for h in look.hashes) if look is not None and look.usable else None
            except ValueError:
                distance = None
            entry["distance"] = distance
            if distance is None:
                entry["check"] = "the image is too flat for PDQ"
            elif distance <= PDQ_MAX_DISTANCE:
                entry["check"] = "agrees with the image's PDQ"
                fingerprint_ok = True
            else:
                entry["check"] = "differs from the image's PDQ"
                problems.append(f"the image's PDQ fingerprint is {distance} bits from the signed image's "
                                f"(at most {PDQ_MAX_DISTANCE} for the same picture): another image")
        else:
            entry["check"] = "not an algorithm this tool computes"
        checks.append(entry)
    if not found_lookup:
        problems.insert(0, f"the manifest has no soft binding {lookup.alg} {lookup.key} (the value looked up)")
    if not fingerprint_ok and not any("PDQ" in p for p in problems):
        problems.append("the manifest signs no fingerprint this image matches, so nothing shows it is this image")
    return not problems, checks, "; ".join(problems) or None


def validate(data: bytes, mime: str | None, store: bytes, trust_anchors_pem: bytes | None):
    """c2pa-python's validation of ``store`` against the image: (evidence, signature status or
    None when invalid, pixels identical/differ)."""
    from ._c2pa import read_manifest
    from ._c2pa_evidence import HARD_BINDING_MISMATCH, NOT_FAILURES, c2pa_evidence

    report = read_manifest(data, mime, trust_anchors_pem=trust_anchors_pem, manifest_store=store)
    ev = c2pa_evidence(report)
    if report.active is None:
        return ev, report, None, None
    failures = [c for c in report.failure_codes if c not in NOT_FAILURES]
    pixels = "differ" if any(c in HARD_BINDING_MISMATCH for c in failures) else "identical"
    other = [c for c in failures if c not in HARD_BINDING_MISMATCH]
    if other:
        return ev, report, None, pixels
    trusted = "signingCredential.trusted" in report.success_codes
    return ev, report, "trusted" if trusted else "valid", pixels


def recover(ctx, resolvers, *, previous: dict) -> dict:
    """The ``registry`` member from the resolvers (``previous``: the local registry's answer,
    kept when no service has the image)."""
    from ._fingerprint import pdq_hashes
    from ._imageio import mime_type
    from ._resolver import MAX_CANDIDATES, b64_of_hex
    from ._softbinding import watermark_alg

    marks = [w for w in ctx.report.strong_marks if w.payload]
    look = pdq_hashes(ctx.image.rgb)
    mime = mime_type(ctx.format) if ctx.format in ("PNG", "JPEG", "WEBP") else "application/octet-stream"
    errors: list[str] = []
    rejected: list[dict] = []
    for resolver in resolvers:
        resolver.start()
        try:
            asked: list[tuple[Lookup, list[dict]]] = []
            for w in marks:
                lookup = Lookup("binding", watermark_alg(w.scheme), w.payload)
                found = resolver.by_binding(lookup.alg, b64_of_hex(w.payload))
                if found:
                    asked.append((lookup, found))
            if not asked:
                asked.append((Lookup("content"), resolver.by_content(ctx.data, mime)))
            tried = 0
            for lookup, matches in asked:
                for m in matches:
                    if tried >= MAX_CANDIDATES:
                        break
                    tried += 1
                    outcome = _try(ctx, resolver, lookup, m, marks, look)
                    if outcome.get("match") == "resolver":
                        if rejected:
                            outcome["rejected"] = rejected
                        if errors:
                            outcome["errors"] = errors
                        return outcome
                    rejected.append(outcome)
        except ResolverError as e:
            errors.append(f"resolver {resolver.url}: {e}")
    out = dict(previous)
    out.pop("errors", None)
    if rejected:
        out["rejected"] = rejected
    if out.get("match", "none") == "none":
        names = ", ".join(r.url for r in resolvers)
        out["reason"] = f"no resolver ({names}) returned a manifest that belongs to this image"
    if errors:
        out["errors"] = errors
    return out


def _try(ctx, resolver, lookup: Lookup, match: dict, marks, look) -> dict:
    """Fetch and check one match: the ``registry`` member when it holds, else a rejection."""
    manifest_id = match["manifestId"]
    base = {"endpoint": resolver.endpoint, "manifest_id": manifest_id, "looked_up": lookup.to_dict()}
    store = resolver.manifest(manifest_id)
    ev, report, status, pixels = validate(ctx.data, None, store, ctx.options.trust_anchors_pem or None)
    if report.active is None:
        return {**base, "reason": f"the service's manifest store is not readable: {report.error or ev.error}"}
    ok, checks, why = check_bindings(report.active, lookup, marks, look)
    base["soft_bindings"] = checks
    if not ok:
        return {**base, "reason": why}
    if status is None:
        codes = ", ".join(report.failure_codes) or ev.error or "invalid"
        return {**base, "reason": f"the manifest does not validate against this image: {codes}"}
    signer = ev.signer or {}
    generation = ev.generation or {}
    return {
        "match": "resolver", **base, "status": status, "pixels": pixels,
        "signer": signer.get("common_name"), "issuer": signer.get("issuer"),
        "claim_generator": ev.claim_generator, "digital_source_type": ev.digital_source_type,
        "ai_generated": ev.ai_generated, "similarity": match.get("similarityScore"),
        "identical_file": False,
        "record": {"content_id": generation.get("content_id"), "manifest_id": manifest_id,
                   "signer": signer.get("common_name"), "created_at": signer.get("time"),
                   "manifest": {"label": report.active.get("label") or manifest_id,
                                "assertions": report.active.get("assertions") or []}},
    }
