"""Fusing evidence into one verdict. Every rule is documented, with an example, in docs/VERDICTS.md.

Strong evidence (a valid signature, our watermark at a tiny false-positive rate, a public SD
watermark, generator metadata, an IPTC AI source type, a registry match) outranks the classifier;
the classifier speaks only when nothing else does, and says it is an estimate. Rules are tried in
order; the first that applies sets the label, later applicable rules add to ``evidence``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._verify import VerifyReport

STRONG_WATERMARK_FPR = 1e-6
#: A validated classifier's levels when its sidecar records none (older models): fixed p_ai cuts.
FORENSICS_AI = 0.8
FORENSICS_CAMERA = 0.2


def _levels(forensics: dict) -> dict:
    """The validated classifier's decision levels (``forensics.levels``, set at 1% false positives
    and 1% misses in grouped cross-validation), or the fixed cuts when it records none."""
    lv = forensics.get("levels") or {}
    if lv.get("ai") is None or lv.get("camera") is None:
        return {"ai": FORENSICS_AI, "camera": FORENSICS_CAMERA}
    # A camera level at or above the AI level would let one score mean both; the AI level wins.
    return dict(lv, camera=min(lv["camera"], lv["ai"]))


def _is_ai(p_ai: float, lv: dict) -> bool:
    return p_ai > lv["ai"] if "ai_fpr" in lv else p_ai >= lv["ai"]


def _is_camera(p_ai: float, lv: dict) -> bool:
    return p_ai < lv["camera"] if "camera_miss" in lv else p_ai <= lv["camera"]


def _rate(x: float | None) -> str:
    return "an unknown share" if x is None else f"{round(100 * x)}%"


def _forensic_ai_sentence(p_ai: float, lv: dict) -> str:
    if "ai_fpr" not in lv:
        return f"The forensic classifier estimates it is AI-generated (p={p_ai:.2f}); an estimate, not proof."
    n = round(1 / lv["ai_fpr"])
    return (f"The forensic classifier scores it {p_ai:.2f}, above its level for AI-generated images ({lv['ai']:.2f}; "
            f"estimated; 1 photo in {n} is wrongly flagged at this level, and {_rate(lv.get('ai_tpr'))} of generated "
            "images reach it); an estimate, not proof.")


def _forensic_camera_sentence(p_ai: float, lv: dict) -> str:
    if "camera_miss" not in lv:
        return f"The forensic classifier estimates it is a camera photo (p_ai={p_ai:.2f}); an estimate."
    n = round(1 / lv["camera_miss"])
    return (f"The forensic classifier scores it {p_ai:.2f}, below its level for camera photos ({lv['camera']:.2f}; "
            f"estimated; 1 generated image in {n} scores this low, as do {_rate(lv.get('camera_tnr'))} of real "
            "photos); an estimate.")


@dataclass
class Verdict:
    label: str = "unknown"  # ai-generated | likely-ai-generated | likely-camera | camera-signed | unknown
    confidence: float = 0.0
    summary: str = "No evidence about this image's origin was found."
    how: dict = field(default_factory=lambda: {"source": "unknown"})
    conflicts: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # the rules that fired, strongest first


def _camera_exif(meta: dict) -> str | None:
    exif = meta.get("exif") or {}
    make, model = exif.get("make"), exif.get("model")
    return " ".join(x for x in (make, model) if x) or None


def _xmp_ai(meta: dict) -> str | None:
    xmp = meta.get("xmp") or {}
    return xmp.get("digital_source_type") if xmp.get("ai_generated") else None


def _generation_from_record(record: dict | None) -> dict | None:
    if not record:
        return None
    for a in (record.get("manifest") or {}).get("assertions", []):
        if a.get("label") == "org.provenance.generation":
            return a.get("data")
    return None


def _how(report: VerifyReport, family: str | None) -> dict:
    gen = report.c2pa.get("generation") or _generation_from_record(report.registry.get("record")) or {}
    meta_gen = (report.metadata or {}).get("generator") or {}
    loras = gen.get("loras") or meta_gen.get("loras") or []
    how: dict[str, Any] = {
        "generator_family": family,
        "tool": gen.get("generator") or meta_gen.get("tool"),
        "model": gen.get("model") or meta_gen.get("model"),
        "model_hash": gen.get("model_hash") or meta_gen.get("model_hash"),
        "loras": loras,
        "source": gen.get("source") or "unknown",
    }
    return {k: v for k, v in how.items() if v not in (None, [])} | {"source": how["source"]}


def fuse(report: VerifyReport) -> Verdict:
    c2pa, meta = report.c2pa or {}, report.metadata or {}
    marks = report.watermarks or []
    ours = [w for w in marks if w.get("kind") == "content-id" and w.get("detected")]
    strong_ours = [w for w in ours if (w.get("false_positive_rate") or 1.0) <= STRONG_WATERMARK_FPR]
    public = [w for w in marks if w.get("kind") == "public" and w.get("detected")]
    generator = meta.get("generator") or None
    camera = _camera_exif(meta)
    xmp_ai = _xmp_ai(meta)
    reg = report.registry or {}
    forensics = report.forensics or {}
    # An unvalidated classifier (grouped-CV AUC below the bar) is reported but never decides.
    p_ai = forensics.get("p_ai") if forensics.get("validated") else None
    status = c2pa.get("status", "absent")
    intact = status in ("trusted", "valid")
    signer = (c2pa.get("signer") or {}).get("common_name") or "an unknown signer"

    fired: list[tuple[str, str, float, str]] = []  # (rule, label, confidence, sentence)
    if intact and c2pa.get("ai_generated"):
        trust = "a trusted signer" if status == "trusted" else f"{signer}, a signer not in the trust list"
        fired.append(("c2pa-ai", "ai-generated", 0.99 if status == "trusted" else 0.95,
                      f"Content Credentials signed by {trust} declare it AI-generated "
                      f"({c2pa.get('claim_generator') or 'unknown tool'})."))
    if strong_ours:
        w = strong_ours[0]
        fired.append(("watermark-ours", "ai-generated", 0.99,
                      f"It carries a {w['scheme']} watermark with content id "
                      f"{w['payload'] + '…' if w.get('partial') else w['payload']} "
                      f"(false-positive rate {w['false_positive_rate']:.0e})."))
    if public:
        fired.append(("watermark-public", "ai-generated", 0.97,
                      f"It carries the public {public[0]['scheme'].upper()} Stable Diffusion watermark."))
    if reg.get("match") == "watermark" and not strong_ours:
        fired.append(("registry-watermark", "ai-generated", 0.9,
                      f"Its {reg.get('scheme')} watermark id prefix matches a stamp in the local registry."))
    if reg.get("match") == "fingerprint":
        fired.append(("registry-fingerprint", "ai-generated", 0.95 if reg.get("distance") == 0 else 0.9,
                      f"It matches a stamped image in the local registry (pHash distance {reg.get('distance')})."))
    if generator and generator.get("tool"):
        fired.append(("generator-metadata", "ai-generated", 0.9,
                      f"Its metadata was written by {generator['tool']}"
                      + (f" (model {generator['model']})." if generator.get("model") else ".")))
    if xmp_ai:
        fired.append(("iptc-ai", "ai-generated", 0.9,
                      f"Its XMP declares IPTC digital source type {xmp_ai.rsplit('/', 1)[-1]}."))
    if status == "tampered" and c2pa.get("ai_generated"):
        fired.append(("c2pa-ai-tampered", "likely-ai-generated", 0.8,
                      "Its Content Credentials declare it AI-generated, but the file changed after signing."))
    if intact and c2pa.get("ai_generated") is False:
        fired.append(("c2pa-camera", "camera-signed", 0.95 if status == "trusted" else 0.85,
                      f"Content Credentials signed by {signer} declare a camera capture "
                      f"({(c2pa.get('digital_source_type') or '').rsplit('/', 1)[-1]})."))
    lv = _levels(forensics)
    if p_ai is not None and _is_ai(p_ai, lv):
        fired.append(("forensics-ai", "likely-ai-generated", round(float(p_ai), 3), _forensic_ai_sentence(p_ai, lv)))
    if camera:
        fired.append(("camera-exif", "likely-camera", 0.6,
                      f"Its EXIF names a camera ({camera}); EXIF is easy to copy or forge."))
    if p_ai is not None and _is_camera(p_ai, lv):
        fired.append(("forensics-camera", "likely-camera", round(0.8 * (1.0 - float(p_ai)), 3),
                      _forensic_camera_sentence(p_ai, lv)))

    verdict = Verdict()
    # The classifier's family (named only where its family head was accurate enough, see _verify)
    # is reported for an image called AI-generated, never for one called a camera photo.
    called_ai = bool(fired) and fired[0][1] in ("ai-generated", "likely-ai-generated")
    family = (public[0]["scheme"] if public else None) or \
        (forensics.get("family") if p_ai is not None and called_ai else None)
    if fired:
        rule, label, confidence, sentence = fired[0]
        verdict.label, verdict.confidence, verdict.summary = label, confidence, sentence
        verdict.rules = [f[0] for f in fired]
    verdict.how = _how(report, family)
    verdict.conflicts = _conflicts(report, fired, camera)
    if report.errors and not fired:
        verdict.summary = "The file could not be fully analysed: " + "; ".join(e["error"] for e in report.errors[:2])
    return verdict


def _conflicts(report: VerifyReport, fired: list[tuple[str, str, float, str]], camera: str | None) -> list[str]:
    c2pa = report.c2pa or {}
    ai_rules = {r for r, label, *_ in fired if label in ("ai-generated", "likely-ai-generated")
                and r not in ("forensics-ai",)}
    out = []
    status = c2pa.get("status")
    if status == "tampered":
        out.append("C2PA manifest present but the file changed after signing (hard-binding hash mismatch)")
    elif status == "invalid":
        out.append("C2PA manifest present but invalid: " + ", ".join(c2pa.get("codes") or [c2pa.get("error") or "?"]))
    for ing in c2pa.get("ingredients") or []:
        if ing.get("status") in ("invalid", "tampered"):
            out.append(f"ingredient {ing.get('title')!r} has a failed manifest ({ing['status']}: "
                       + ", ".join(ing.get("codes") or []) + ")")
    if camera and ai_rules:
        out.append(f"camera EXIF present ({camera}) but AI evidence found ({', '.join(sorted(ai_rules))})")
    if c2pa.get("ai_generated") is False and status in ("trusted", "valid") and ai_rules - {"c2pa-ai"}:
        out.append("C2PA manifest declares a camera capture but AI evidence found (" + ", ".join(sorted(ai_rules)) + ")")
    forensics = report.forensics or {}
    p_ai = forensics.get("p_ai") if forensics.get("validated") else None
    lv = _levels(forensics)
    if p_ai is not None and _is_camera(p_ai, lv) and ai_rules:
        out.append(f"the forensic classifier estimates a camera photo (p_ai={p_ai:.2f}) despite AI evidence")
    if p_ai is not None and _is_ai(p_ai, lv) and any(r == "c2pa-camera" for r, *_ in fired):
        out.append(f"signed as a camera capture but the forensic classifier estimates AI (p_ai={p_ai:.2f})")
    return out
