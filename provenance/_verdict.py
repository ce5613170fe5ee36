"""Fusing evidence into one verdict. Every rule is documented, with an example, in docs/VERDICTS.md.

Strong evidence (a valid signature, our watermark at a tiny false-positive rate, a public SD
watermark, generator metadata, an IPTC AI source type, a registry match) outranks the classifier;
the classifier speaks only when nothing else does, and says it is an estimate. Rules are tried in
order; the first that applies sets the label, later applicable rules add to ``evidence``.
"""
from __future__ import annotations

from typing import Any

from ._makers import SOURCE_PHRASE, MakerMatch, declaring_action, identify
from .evidence import AI_LABELS, C2paEvidence, Verdict, VerifyReport

#: A validated classifier's levels when its sidecar records none (older models): fixed p_ai cuts.
FORENSICS_AI = 0.8
FORENSICS_CAMERA = 0.2


def _levels(levels: dict | None) -> dict:
    """The validated classifier's decision levels (``forensics.levels``, set at 1% false positives
    and 1% misses in grouped cross-validation), or the fixed cuts when it records none."""
    lv = levels or {}
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


def _how(report: VerifyReport, family: str | None, *, use_registry: bool, maker: MakerMatch | None = None) -> dict:
    """How it was made. The file's own evidence first (its signed manifest, then its generator
    metadata); the registry's record only fills what the file does not say, and only when the
    file is that stamp (``use_registry``: its watermark, its bytes, or a look-alike the file's own
    evidence backs), never for a mere look-alike."""
    own = report.c2pa.generation or {}
    gen = report.metadata.generator
    meta_gen = {} if gen is None else {"tool": gen.tool, "model": gen.model, "model_hash": gen.model_hash,
                                       "loras": gen.loras}
    reg = (report.registry.record_generation if use_registry else None) or {}

    def first(*values):
        return next((v for v in values if v not in (None, "", [])), None)

    how: dict[str, Any] = {
        "generator_family": family,
        "tool": first(own.get("generator"), meta_gen.get("tool"), reg.get("generator")),
        "model": first(own.get("model"), meta_gen.get("model"), reg.get("model"), maker.model if maker else None),
        "model_hash": first(own.get("model_hash"), meta_gen.get("model_hash"), reg.get("model_hash")),
        "loras": first(own.get("loras"), meta_gen.get("loras"), reg.get("loras")) or [],
        # the file's own record says local or api; else the maker's row does
        "source": first(*(s for s in (own.get("source"), reg.get("source")) if s != "unknown"),
                        maker.maker.source if maker else None) or "unknown",
    }
    if maker is not None:
        how.update(vendor=maker.maker.vendor, product=maker.maker.product, maker=maker.maker.id)
    return {k: v for k, v in how.items() if v not in (None, [])} | {"source": how["source"]}


def _same_hash(a: str, b: str, short: str | None = None) -> bool:
    """Model hashes agree when one is a prefix of the other (A1111 writes sha256's first 10 hex
    digits) or ``a`` is the record's own A1111 short hash."""
    a, b = str(a).lower(), str(b).lower()
    return a.startswith(b) or b.startswith(a) or (short is not None and a == str(short).lower())


def _registry_conflicts(report: VerifyReport) -> list[str]:
    """Where the file's own generation evidence (manifest, metadata) and the registry's record of
    the matched stamp disagree: reported, never resolved in the registry's favour."""
    record = report.registry.record_generation
    if not record:
        return []
    cid = report.registry.record_id
    sources = [("Content Credentials", report.c2pa.generation or {})]
    gen = report.metadata.generator
    if gen is not None:
        sources.append((f"{gen.tool or 'generator'} metadata", gen))
    out = []
    for where, own in sources:
        for name in ("model", "model_hash", "seed", "prompt"):
            mine, theirs = own.get(name), record.get(name)
            if mine in (None, "") or theirs in (None, ""):
                continue
            same = _same_hash(mine, theirs, record.get("model_short_hash")) if name == "model_hash" \
                else str(mine).strip() == str(theirs).strip()
            if not same:
                out.append(f"the file's {where} gives {name} {mine!r}, but the registry's stamp {cid} records {theirs!r}")
    return out


def _lookalike(report: VerifyReport) -> tuple[str, list[str]]:
    """For a registry match by look: a phrase naming the stamp and the distance, and what in the
    file itself backs it (an empty list: nothing; the image only resembles the stamp)."""
    reg, c2pa, meta = report.registry, report.c2pa, report.metadata
    rec = reg.record or {}
    cid = reg.record_id
    hash_name = {"pdq": "PDQ", "phash": "pHash"}.get(reg.hash, reg.hash)
    more = len(reg.candidates) - 1
    phrase = (f"stamp {cid} (stamped {rec.get('created_at')}, {rec.get('output_path')}; {hash_name} distance "
              f"{reg.distance})" + (f" and {more} other stamp{'s' if more > 1 else ''}" if more > 0 else ""))
    backing = []
    if c2pa.present and (c2pa.ai_generated or cid in c2pa.binding_values):
        backing.append("its Content Credentials")
    if meta.generator_tool:
        backing.append(f"its {meta.generator_tool} metadata")
    if meta.xmp_ai_source:
        backing.append("its XMP AI source type")
    return phrase, backing


def _camera_ingredient(c2pa: C2paEvidence) -> dict | None:
    """An ingredient whose own manifest validates and declares a camera capture (the photo an
    edit, or a forged label, was laid over), or None."""
    from ._c2pa_evidence import CAMERA_SOURCE_TYPES  # (loads c2pa-python: only when there are ingredients)

    if not c2pa.ingredients:
        return None
    return next((i for i in c2pa.ingredients if i.get("status") in ("trusted", "valid")
                 and i.get("digital_source_type") in CAMERA_SOURCE_TYPES), None)


def _signed_by(c2pa: C2paEvidence) -> str:
    """"a signer trusted through the C2PA Trust List", "X, a signer not in the trust list", ..."""
    signer = c2pa.signer_label or "an unknown signer"
    if c2pa.status == "trusted":
        where = (c2pa.anchored_by or {}).get("list")
        if not where:
            return "a trusted signer"
        through = {"own root": "this tool's own root CA", "--trust": "a --trust anchor",
                   "trust-anchors.pem": "the configured trust-anchors.pem"}.get(where, f"the {where}")
        return f"{signer}, a signer trusted through {through}"
    if c2pa.status == "expired":
        stamp = "its timestamp" if (c2pa.expiry or {}).get("timestamp") == "present" else "no trusted timestamp"
        return f"{signer}; the certificate has expired since ({stamp})"
    return f"{signer}, a signer not in the trust list"


def _maker_sentence(maker: MakerMatch, source: str, *, labelled: bool, ai: bool = False) -> str:
    """"Made with Adobe Firefly, a cloud service." (docs/MAKERS.md). ``source``: how.source (the
    file's own record may say api where the tool's row says local)."""
    m = maker.maker
    if m.source == "capture":  # a phone that also edits with AI: its credentials, not a capture claim
        return f"Its Content Credentials come from a {m.display}." if ai else f"Captured with a {m.display}."
    said = f"Made with {m.display}, {SOURCE_PHRASE.get(source, SOURCE_PHRASE[m.source])}"
    return f"{said}." if labelled else f"{said}; nothing in the file says whether it is AI-generated or a camera photo."


def _resolver_rule(reg) -> tuple[str, str | None, float, str]:
    """Credentials a resolution service returned for this image, once its checks held: what they
    declare, who signed them, and whether these are the signed pixels. A copy whose pixels differ
    is said to be one (re-encoded, resized), never called tampered: the hard binding covers the
    file that was signed, and this is not that file."""
    trusted = reg.status == "trusted"
    who = f"{reg.signer or 'an unknown signer'}" + ("" if trusted else ", a signer not in the trust list")
    where = f"Content Credentials recovered from {reg.endpoint} (manifest {reg.manifest_id}), signed by {who},"
    pixels = (" Its pixels differ from the signed image's (expected for a re-encoded or resized copy); its "
              "watermark and fingerprint match that image." if reg.pixels == "differ"
              else " Its pixels are the signed image's.")
    if reg.ai_generated:
        return ("resolver-c2pa-ai", "ai-generated", 0.99 if trusted else 0.95, f"{where} declare it AI-generated.{pixels}")
    if reg.ai_generated is False:
        return ("resolver-c2pa-camera", "camera-signed", 0.9 if trusted else 0.8,
                f"{where} declare a camera capture ({(reg.digital_source_type or '').rsplit('/', 1)[-1]}).{pixels}")
    return ("resolver-c2pa", None, 0.0, f"{where} declare no digital source type.{pixels}")


def fuse(report: VerifyReport) -> Verdict:
    c2pa, meta, reg, forensics = report.c2pa, report.metadata, report.registry, report.forensics
    strong_ours = report.strong_marks
    public = report.public_marks
    generator = meta.generator
    camera = meta.camera
    xmp_ai = meta.xmp_ai_source
    # An unvalidated classifier (grouped-CV AUC below the bar) is reported but never decides.
    p_ai = forensics.decisive_p_ai
    status = c2pa.status
    intact = c2pa.intact
    signer = c2pa.signer_label or "an unknown signer"
    maker = identify(report)
    # A generator named by the creating action declares AI where no source type does.
    declared = declaring_action(c2pa) if c2pa.ai_generated is None and (intact or c2pa.expired) else None
    # An expired or broken manifest never outranks camera evidence that validates (a forged label).
    camera_under = _camera_ingredient(c2pa)

    fired: list[tuple[str, str | None, float, str]] = []  # (rule, label or None: evidence only, confidence, sentence)
    if intact and c2pa.ai_generated:
        fired.append(("c2pa-ai", "ai-generated", 0.99 if status == "trusted" else 0.95,
                      f"Content Credentials signed by {_signed_by(c2pa)} declare it AI-generated "
                      f"({c2pa.claim_generator or 'unknown tool'})."))
    if intact and declared is not None:
        fired.append(("c2pa-ai-agent", "ai-generated", 0.9 if status == "trusted" else 0.85,
                      f"Content Credentials signed by {_signed_by(c2pa)} record that {declared.maker.display} "
                      "created it (a generator; the manifest declares no digital source type)."))
    if c2pa.expired and (c2pa.ai_generated or declared is not None) and camera_under is None:
        how_said = "declare it AI-generated" if c2pa.ai_generated else \
            f"record that {declared.maker.display} created it (a generator)"
        fired.append(("c2pa-ai-expired", "ai-generated", 0.85 if c2pa.ai_generated else 0.8,
                      f"Content Credentials signed by {_signed_by(c2pa)} {how_said}; the signature verifies."))
    if reg.match == "resolver":  # a signed manifest whose bindings and fingerprint fit this image
        fired.append(_resolver_rule(reg))
    if strong_ours:
        w = strong_ours[0]
        fired.append(("watermark-ours", "ai-generated", 0.99,
                      f"It carries a {w.scheme} watermark with content id {w.shown_id} "
                      f"(false-positive rate {w.false_positive_rate:.0e})."))
    if public:
        fired.append(("watermark-public", "ai-generated", 0.97,
                      f"It carries the public {public[0].scheme.upper()} Stable Diffusion watermark."))
    if reg.match == "watermark" and not strong_ours:
        fired.append(("registry-watermark", "ai-generated", 0.9,
                      f"Its {reg.scheme} watermark id prefix matches a stamp in the local registry."))
    # A match by look says "near-duplicate of stamp X", not "AI-generated": an unstamped original
    # looks exactly like its stamp. It raises the label only with the file's own backing, or
    # when the file is byte for byte the stamped output.
    use_registry = reg.match in ("watermark", "resolver")
    if reg.match == "fingerprint":
        rec = reg.record or {}
        if reg.identical_file:
            use_registry = True
            fired.append(("registry-fingerprint", "ai-generated", 0.95,
                          f"It is byte for byte stamp {reg.record_id} of the local registry "
                          f"(stamped {rec.get('created_at')})."))
        else:
            phrase, backing = _lookalike(report)
            if backing:
                use_registry = True
                fired.append(("registry-fingerprint", "ai-generated", 0.95,
                              f"It looks like {phrase}, and {' and '.join(backing)} agree{'s' if len(backing) == 1 else ''}."))
            elif strong_ours:
                fired.append(("registry-lookalike", None, 0.0,
                              f"It looks like {phrase}, but carries another stamp's watermark."))
            else:
                fired.append(("registry-lookalike", None, 0.0,
                              f"It looks like {phrase}, but carries no watermark: an original, or a copy whose "
                              f"mark was removed."))
    if generator is not None and generator.tool:
        fired.append(("generator-metadata", "ai-generated", 0.9,
                      f"Its metadata was written by {generator.tool}"
                      + (f" (model {generator.model})." if generator.model else ".")))
    if xmp_ai:
        fired.append(("iptc-ai", "ai-generated", 0.9,
                      f"Its XMP declares IPTC digital source type {xmp_ai.rsplit('/', 1)[-1]}."))
    if status == "tampered" and c2pa.ai_generated and camera_under is None:
        fired.append(("c2pa-ai-tampered", "likely-ai-generated", 0.8,
                      "Its Content Credentials declare it AI-generated, but the file changed after signing."))
    if (intact or c2pa.expired) and c2pa.ai_generated is False:
        fired.append(("c2pa-camera", "camera-signed",
                      0.95 if status == "trusted" else 0.85 if status == "valid" else 0.75,
                      f"Content Credentials signed by {_signed_by(c2pa) if c2pa.expired else signer} declare a "
                      f"camera capture ({(c2pa.digital_source_type or '').rsplit('/', 1)[-1]})."))
    lv = _levels(forensics.levels)
    if p_ai is not None and _is_ai(p_ai, lv):
        fired.append(("forensics-ai", "likely-ai-generated", round(float(p_ai), 3), _forensic_ai_sentence(p_ai, lv)))
    if camera:
        fired.append(("camera-exif", "likely-camera", 0.6,
                      f"Its EXIF names a camera ({camera}); EXIF is easy to copy or forge."))
    if p_ai is not None and _is_camera(p_ai, lv):
        fired.append(("forensics-camera", "likely-camera", round(0.8 * (1.0 - float(p_ai)), 3),
                      _forensic_camera_sentence(p_ai, lv)))

    verdict = Verdict()
    # Evidence-only rules (label None: a look-alike) are listed, and said in the summary, but
    # never set the label.
    labelled = [f for f in fired if f[1] is not None]
    # The classifier's family (named only where its family head was accurate enough, see the
    # forensics collector) is reported for an image called AI-generated, never for one called a camera photo.
    called_ai = bool(labelled) and labelled[0][1] in AI_LABELS
    family = (public[0].scheme if public else None) or \
        (forensics.family if p_ai is not None and called_ai else None)
    if labelled:
        rule, label, confidence, sentence = labelled[0]
        verdict.label, verdict.confidence, verdict.summary = label, confidence, sentence
    notes = [f[3] for f in fired if f[1] is None]
    if notes:
        verdict.summary = " ".join(notes) if not labelled else f"{verdict.summary} {' '.join(notes)}"
    verdict.rules = [f[0] for f in fired]
    verdict.how = _how(report, family, use_registry=use_registry, maker=maker)
    if maker is not None:
        sentence = _maker_sentence(maker, verdict.how["source"], labelled=bool(labelled), ai=called_ai)
        verdict.summary = f"{verdict.summary} {sentence}" if labelled or notes or report.errors else sentence
    verdict.conflicts = _conflicts(report, labelled, camera, declared=declared) + _registry_conflicts(report)
    if report.errors and not labelled:
        verdict.summary = "The file could not be fully analysed: " + "; ".join(e.error for e in report.errors[:2]) \
            + (f" {' '.join(notes)}" if notes else "")
    return verdict


def _conflicts(report: VerifyReport, fired: list[tuple[str, str, float, str]], camera: str | None, *,
               declared: MakerMatch | None = None) -> list[str]:
    c2pa = report.c2pa
    ai_rules = {r for r, label, *_ in fired if label in AI_LABELS and r not in ("forensics-ai",)}
    out = []
    status = c2pa.status
    under = _camera_ingredient(c2pa)
    if under is not None and status in ("expired", "invalid", "tampered") and (c2pa.ai_generated or declared):
        out.append(f"a manifest that declares AI but is {status} sits over a camera capture that validates "
                   f"(ingredient {under.get('title')!r} signed by {under.get('signer') or 'an unknown signer'}, "
                   f"{under['status']}): the AI label is not taken")
    if status == "tampered":
        out.append("C2PA manifest present but the file changed after signing (hard-binding hash mismatch)")
    elif status == "invalid":
        out.append("C2PA manifest present but invalid: " + ", ".join(c2pa.codes or [c2pa.error or "?"]))
    for ing in c2pa.failed_ingredients:
        out.append(f"ingredient {ing.get('title')!r} has a failed manifest ({ing['status']}: "
                   + ", ".join(ing.get("codes") or []) + ")")
    if camera and ai_rules:
        out.append(f"camera EXIF present ({camera}) but AI evidence found ({', '.join(sorted(ai_rules))})")
    if c2pa.ai_generated is False and c2pa.intact and ai_rules - {"c2pa-ai"}:
        out.append("C2PA manifest declares a camera capture but AI evidence found (" + ", ".join(sorted(ai_rules)) + ")")
    p_ai = report.forensics.decisive_p_ai
    lv = _levels(report.forensics.levels)
    if p_ai is not None and _is_camera(p_ai, lv) and ai_rules:
        out.append(f"the forensic classifier estimates a camera photo (p_ai={p_ai:.2f}) despite AI evidence")
    if p_ai is not None and _is_ai(p_ai, lv) and any(r == "c2pa-camera" for r, *_ in fired):
        out.append(f"signed as a camera capture but the forensic classifier estimates AI (p_ai={p_ai:.2f})")
    return out
