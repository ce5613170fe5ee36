"""C2PA evidence: what a file's Content Credentials say, and whether they hold.

Status, from c2pa-rs's validation codes (read offline, trusting only the configured anchors):

- ``absent``: no manifest;
- ``trusted``: signature and hashes good, signer chains to a configured trust anchor;
- ``valid``: signature and hashes good, signer not in the trust list. Not an error: it means
  "intact, but we do not know this signer";
- ``tampered``: the hard binding (the hash over the file's bytes) does not match: the pixels or
  the file changed after signing;
- ``invalid``: anything else that fails: signature mismatch, assertion hash mismatch, missing
  claim, unreadable manifest.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ._c2pa import GENERATION_ASSERTION, ManifestReport, read_manifest

IPTC_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI_SOURCE_TYPES = frozenset(IPTC_SOURCE + t for t in (
    "trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "compositeSynthetic", "algorithmicMedia",
))
CAMERA_SOURCE_TYPES = frozenset(IPTC_SOURCE + t for t in (
    "digitalCapture", "negativeFilm", "positiveFilm", "print", "computationalCapture",
))
HARD_BINDING_MISMATCH = frozenset({
    "assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch",
    "assertion.collectionHash.mismatch",
})
#: Failure codes that do not make a manifest invalid: the signer is merely not in our trust list.
NOT_FAILURES = frozenset({"signingCredential.untrusted"})


def classify(failure_codes: list[str], trusted_state: bool) -> str:
    failures = [c for c in failure_codes if c not in NOT_FAILURES]
    if any(c in HARD_BINDING_MISMATCH for c in failures):
        return "tampered"
    if failures:
        return "invalid"
    return "trusted" if trusted_state else "valid"


@dataclass
class C2paEvidence:
    status: str  # absent | trusted | valid | invalid | tampered
    codes: list[str] = field(default_factory=list)  # failure codes, raw
    success_codes: list[str] = field(default_factory=list)
    signer: dict | None = None
    claim_generator: str | None = None
    title: str | None = None
    digital_source_type: str | None = None
    ai_generated: bool | None = None  # from digitalSourceType: True AI, False camera, None unknown
    actions: list[dict] = field(default_factory=list)
    ingredients: list[dict] = field(default_factory=list)
    soft_bindings: list[dict] = field(default_factory=list)
    generation: dict | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _claim_generator(active: dict) -> str | None:
    info = active.get("claim_generator_info") or []
    if info:
        first = info[0]
        return " ".join(x for x in (first.get("name"), first.get("version")) if x) or None
    return active.get("claim_generator")


def _ingredient(ing: dict) -> dict:
    results = (ing.get("validation_results") or {}).get("activeManifest") or {}
    failures = [r.get("code") for r in results.get("failure", [])]
    if not failures and ing.get("validation_status"):  # older manifest stores
        failures = [r.get("code") for r in ing["validation_status"]]
    has_manifest = bool(ing.get("active_manifest"))
    status = classify(failures, trusted_state=False) if has_manifest else "absent"
    return {"title": ing.get("title"), "relationship": ing.get("relationship"), "format": ing.get("format"),
            "status": status, "codes": failures}


def c2pa_evidence(report: ManifestReport) -> C2paEvidence:
    """Turn a :class:`ManifestReport` into evidence (pure: no I/O)."""
    if report.state is None:
        return C2paEvidence(status="absent")
    if report.active is None:
        return C2paEvidence(status="invalid", codes=report.failure_codes, error=report.error or "no active manifest")
    active = report.active
    actions = (report.assertion("c2pa.actions.v2") or report.assertion("c2pa.actions") or {}).get("actions", [])
    source_types = [a["digitalSourceType"] for a in actions if a.get("digitalSourceType")]
    dst = source_types[0] if source_types else None
    ai = True if any(t in AI_SOURCE_TYPES for t in source_types) else (False if dst in CAMERA_SOURCE_TYPES else None)
    sig = active.get("signature_info") or {}
    soft = report.assertion("c2pa.soft-binding")
    return C2paEvidence(
        status=classify(report.failure_codes, report.state == "Trusted"),
        codes=report.failure_codes,
        success_codes=report.success_codes,
        signer={"common_name": sig.get("common_name"), "issuer": sig.get("issuer"), "alg": sig.get("alg"),
                "serial": sig.get("cert_serial_number"), "time": sig.get("time")} if sig else None,
        claim_generator=_claim_generator(active),
        title=active.get("title"),
        digital_source_type=dst,
        ai_generated=ai,
        actions=[{k: a.get(k) for k in ("action", "digitalSourceType", "softwareAgent", "when") if a.get(k)}
                 for a in actions],
        ingredients=[_ingredient(i) for i in active.get("ingredients", [])],
        soft_bindings=[{"alg": soft.get("alg"), "value": b.get("value")} for b in soft.get("blocks", [])] if soft else [],
        generation=report.assertion(GENERATION_ASSERTION),
        error=report.error,
    )


def collect_c2pa(data: bytes, *, trust_anchors_pem: bytes | None) -> C2paEvidence:
    return c2pa_evidence(read_manifest(data, trust_anchors_pem=trust_anchors_pem))
