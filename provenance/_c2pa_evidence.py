"""C2PA evidence: what a file's Content Credentials say, and whether they hold.

Status, from c2pa-rs's ``validation_state`` and its failure codes (read offline, trusting only the
configured anchors); :func:`classify` is the whole rule:

- ``absent``: the bytes hold no manifest store (found from the container, not from the SDK);
- ``trusted``: state Trusted: signature and hashes good, signer chains to a configured anchor;
- ``valid``: state Valid: signature and hashes good, signer not in the trust list. Not an error:
  it means "intact, but we do not know this signer";
- ``expired``: the signature and hashes verify (``claimSignature.validated``), but the signing
  certificate had expired when c2pa-rs checked it (``signingCredential.expired`` is the only
  failure): at the signature's timestamp when it has one, else now. Its declarations stay
  evidence, at lower confidence (docs/VERDICTS.md); ``expiry`` says whether a timestamp was there;
- ``tampered``: the hard binding (the hash over the file's bytes) does not match: the pixels or
  the file changed after signing;
- ``invalid``: anything else that fails: state Invalid (also when only an ingredient failed, e.g.
  its hashed URI no longer matches its manifest), a failure code of the active manifest, a store
  that is present but unreadable.

Each ingredient keeps its own status and codes (what c2pa-rs finds now, plus what it recorded when
the ingredient was added).
"""
from __future__ import annotations

from ._c2pa import GENERATION_ASSERTION, ManifestReport, read_manifest
from .evidence import C2paEvidence

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
EXPIRED = "signingCredential.expired"
SIGNATURE_VALIDATED = "claimSignature.validated"


def classify(failure_codes: list[str], validation_state: str | None, success_codes: list[str] = ()) -> str:
    """The status of a present manifest store from c2pa-rs's failure codes for the active manifest
    and its ``validation_state`` (Trusted | Valid | Invalid; None: it gave none). The SDK's state
    is followed; a failure code it left at Valid (other than the untrusted signer) still fails.
    An expired certificate alone, over a signature that verified (``success_codes``), is ``expired``."""
    failures = [c for c in failure_codes if c not in NOT_FAILURES]
    if any(c in HARD_BINDING_MISMATCH for c in failures):
        return "tampered"
    if failures == [EXPIRED] and SIGNATURE_VALIDATED in success_codes:
        return "expired"
    if failures or validation_state not in ("Trusted", "Valid"):
        return "invalid"
    return "trusted" if validation_state == "Trusted" else "valid"


def _claim_generators(active: dict) -> list[str]:
    """Every name the claim generator goes by (the v1 string, each ``claim_generator_info``)."""
    out = [active["claim_generator"]] if active.get("claim_generator") else []
    for info in active.get("claim_generator_info") or []:
        if isinstance(info, dict):
            out.append(" ".join(str(x) for x in (info.get("name"), info.get("version")) if x))
    return [x for x in dict.fromkeys(out) if x]


def _expiry(sig: dict) -> dict:
    """How an expired certificate was judged: at the signature's timestamp, or now (none)."""
    return {"timestamp": "present" if sig.get("time") else "none", "time": sig.get("time")}


def _claim_generator(active: dict) -> str | None:
    info = active.get("claim_generator_info") or []
    if info:
        first = info[0]
        return " ".join(x for x in (first.get("name"), first.get("version")) if x) or None
    return active.get("claim_generator")


def _source_types(manifest: dict) -> list[str]:
    for a in manifest.get("assertions", []):
        if a.get("label") in ("c2pa.actions.v2", "c2pa.actions"):
            return [x["digitalSourceType"] for x in (a.get("data") or {}).get("actions", [])
                    if isinstance(x, dict) and x.get("digitalSourceType")]
    return []


def _ingredient(ing: dict, live: dict[str, list[str]], manifests: dict | None = None) -> dict:
    """One ingredient: what c2pa-rs finds now (``live``, by ingredient assertion label) and what it
    recorded when the ingredient was added (the ingredient's ``validation_results``)."""
    results = (ing.get("validation_results") or {}).get("activeManifest") or {}
    recorded = [r.get("code") for r in results.get("failure", [])]
    if not recorded and ing.get("validation_status"):  # older manifest stores
        recorded = [r.get("code") for r in ing["validation_status"]]
    failures = list(dict.fromkeys([*live.get(ing.get("label") or "", []), *recorded]))
    has_manifest = bool(ing.get("active_manifest"))
    status = classify(failures, "Valid") if has_manifest else "absent"
    out = {"title": ing.get("title"), "relationship": ing.get("relationship"), "format": ing.get("format"),
           "status": status, "codes": [c for c in failures if c]}
    own = (manifests or {}).get(ing.get("active_manifest") or "") or {}
    types = _source_types(own)
    if types:  # what the ingredient's own manifest declares (a camera capture under an edit)
        out["digital_source_type"] = types[0]
    if own.get("signature_info"):
        out["signer"] = own["signature_info"].get("common_name") or own["signature_info"].get("issuer")
    return out


def _state_reason(status: str, state: str | None, failures: list[str], ingredients: list[dict]) -> str | None:
    """Why a store is invalid when its active manifest has no failure code of its own."""
    if status != "invalid" or [c for c in failures if c not in NOT_FAILURES]:
        return None
    bad = [i for i in ingredients if i["status"] in ("invalid", "tampered")]
    if bad:
        return f"c2pa-rs validation_state is {state}: " + "; ".join(
            f"ingredient {i['title']!r} failed ({', '.join(i['codes']) or i['status']})" for i in bad)
    return f"c2pa-rs validation_state is {state or 'missing'}"


def c2pa_evidence(report: ManifestReport) -> C2paEvidence:
    """Turn a :class:`ManifestReport` into evidence (pure: no I/O)."""
    store = report.store.to_dict() if report.store is not None else None
    if report.state is None:
        return C2paEvidence(status="absent")
    if report.active is None:
        return C2paEvidence(status="invalid", codes=report.failure_codes, validation_state=report.state, store=store,
                            error=report.error or "no active manifest")
    active = report.active
    actions = (report.assertion("c2pa.actions.v2") or report.assertion("c2pa.actions") or {}).get("actions", [])
    source_types = [a["digitalSourceType"] for a in actions if a.get("digitalSourceType")]
    dst = source_types[0] if source_types else None
    ai = True if any(t in AI_SOURCE_TYPES for t in source_types) else (False if dst in CAMERA_SOURCE_TYPES else None)
    sig = active.get("signature_info") or {}
    soft = report.assertion("c2pa.soft-binding")
    ingredients = [_ingredient(i, report.ingredient_failures, report.manifests) for i in active.get("ingredients", [])]
    status = classify(report.failure_codes, report.state, report.success_codes)
    reason = _state_reason(status, report.state, report.failure_codes, ingredients)
    return C2paEvidence(
        status=status,
        codes=report.failure_codes,
        success_codes=report.success_codes,
        signer={"common_name": sig.get("common_name"), "issuer": sig.get("issuer"), "alg": sig.get("alg"),
                "serial": sig.get("cert_serial_number"), "time": sig.get("time")} if sig else None,
        claim_generator=_claim_generator(active),
        title=active.get("title"),
        digital_source_type=dst,
        ai_generated=ai,
        actions=[{k: a.get(k) for k in ("action", "digitalSourceType", "softwareAgent", "description", "parameters",
                                         "when") if a.get(k)}
                 for a in actions],
        claim_generators=_claim_generators(active),
        expiry=_expiry(sig) if status == "expired" else None,
        ingredients=ingredients,
        soft_bindings=[{"alg": soft.get("alg"), "value": b.get("value")} for b in soft.get("blocks", [])] if soft else [],
        generation=report.assertion(GENERATION_ASSERTION),
        validation_state=report.state,
        store=store,
        error="; ".join(e for e in (report.error, reason) if e) or None,
    )


def collect_c2pa(data: bytes, *, trust_anchors_pem: bytes | None, public_trust: bool = False) -> C2paEvidence:
    """Read, validate and describe the manifest. Trusted: the local anchors (``trust_anchors_pem``)
    and, with ``public_trust``, the public C2PA lists; the interim list's EKUs are accepted either way.
    A trusted signer's anchor is named (``anchored_by``)."""
    from dataclasses import replace

    from ._trust import anchoring_source, trust_config

    config = trust_config(trust_anchors_pem or b"", public=public_trust)
    evidence = c2pa_evidence(read_manifest(data, trust=config.settings()))
    if evidence.status != "trusted":
        return evidence

    def trusted_with(settings: dict) -> bool:
        return read_manifest(data, trust=settings).state == "Trusted"

    source = anchoring_source(config, trusted_with)
    refused = source.refuses((evidence.signer or {}).get("time")) if source else None
    if refused:  # the interim list judges only content signed before it froze
        return replace(evidence, status="valid", anchored_by=dict(source.to_dict(), refused=refused), as_read=None)
    return replace(evidence, anchored_by=source.to_dict() if source else None, as_read=None)
