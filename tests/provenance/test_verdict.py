"""Each verdict rule and conflict of docs/VERDICTS.md, on evidence built by hand."""
from __future__ import annotations

import pytest

from provenance._verdict import fuse
from provenance import VerifyReport

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
OURS = {"kind": "content-id", "scheme": "dwtDctSvd", "detected": True, "payload": "5eed0f00dcafe123",
        "bit_errors": 0, "false_positive_rate": 3.1e-10}
WEAK = {"kind": "content-id", "scheme": "rivaGan", "detected": True, "payload": "5eed0f", "partial": True,
        "bit_errors": 0, "false_positive_rate": 3.9e-3}
PUBLIC = {"kind": "public", "scheme": "sdxl", "detected": True, "payload": "SDXL", "bit_errors": 1,
          "false_positive_rate": 1e-9}
CAMERA_EXIF = {"exif": {"make": "Canon", "model": "EOS R5"}}


def report(**kw) -> VerifyReport:
    return VerifyReport(file="x.jpg", **kw)


@pytest.mark.parametrize("kw,rule,label,confidence", [
    pytest.param(dict(c2pa={"status": "trusted", "ai_generated": True}), "c2pa-ai", "ai-generated", 0.99, id="c2pa-ai-trusted"),
    pytest.param(dict(c2pa={"status": "valid", "ai_generated": True}), "c2pa-ai", "ai-generated", 0.95, id="c2pa-ai-valid"),
    pytest.param(dict(watermarks=[OURS]), "watermark-ours", "ai-generated", 0.99, id="watermark-ours"),
    pytest.param(dict(watermarks=[PUBLIC]), "watermark-public", "ai-generated", 0.97, id="watermark-public"),
    pytest.param(dict(watermarks=[WEAK], registry={"match": "watermark", "scheme": "rivaGan", "record": {}}),
                 "registry-watermark", "ai-generated", 0.9, id="registry-watermark"),
    pytest.param(dict(registry={"match": "fingerprint", "hash": "sha256", "distance": 0, "identical_file": True,
                                "record": {}}), "registry-fingerprint", "ai-generated", 0.95, id="registry-exact"),
    pytest.param(dict(metadata={"generator": {"tool": "ComfyUI", "model": "sdxl.safetensors"}}),
                 "generator-metadata", "ai-generated", 0.9, id="generator-metadata"),
    pytest.param(dict(metadata={"xmp": {"ai_generated": True, "digital_source_type": AI}}), "iptc-ai",
                 "ai-generated", 0.9, id="iptc-ai"),
    pytest.param(dict(c2pa={"status": "tampered", "ai_generated": True}), "c2pa-ai-tampered",
                 "likely-ai-generated", 0.8, id="c2pa-ai-tampered"),
    pytest.param(dict(c2pa={"status": "trusted", "ai_generated": False, "digital_source_type": CAPTURE}),
                 "c2pa-camera", "camera-signed", 0.95, id="c2pa-camera"),
    pytest.param(dict(forensics={"p_ai": 0.93, "validated": True}), "forensics-ai", "likely-ai-generated", 0.93, id="forensics-ai"),
    pytest.param(dict(metadata=CAMERA_EXIF), "camera-exif", "likely-camera", 0.6, id="camera-exif"),
    pytest.param(dict(forensics={"p_ai": 0.05, "validated": True}), "forensics-camera", "likely-camera", 0.76, id="forensics-camera"),
])
def test_each_rule(kw, rule, label, confidence):
    """The rule fires alone, sets the label and confidence, and writes a non-empty sentence."""
    v = fuse(report(**kw))
    assert v.rules == [rule] and v.label == label and v.confidence == pytest.approx(confidence)
    assert v.summary.endswith(".") and len(v.summary) > 20


def test_no_evidence_is_unknown():
    """Nothing to go on: unknown, confidence 0."""
    v = fuse(report())
    assert v.label == "unknown" and v.confidence == 0 and v.rules == [] and v.conflicts == []


def test_weak_watermark_alone_decides_nothing():
    """A rivaGan hit (1/256 false positives) without a registry match sets no label."""
    assert fuse(report(watermarks=[WEAK])).label == "unknown"


def test_strong_evidence_outranks_the_classifier():
    """A camera-leaning classifier does not override a watermark; the disagreement is a conflict."""
    v = fuse(report(watermarks=[OURS], forensics={"p_ai": 0.1, "validated": True}))
    assert v.label == "ai-generated" and v.rules == ["watermark-ours", "forensics-camera"]
    assert any("forensic classifier estimates a camera photo" in c for c in v.conflicts)


@pytest.mark.parametrize("kw,fragment", [
    pytest.param(dict(c2pa={"status": "tampered"}), "changed after signing", id="tampered"),
    pytest.param(dict(c2pa={"status": "invalid", "codes": ["claimSignature.mismatch"]}), "claimSignature.mismatch",
                 id="invalid"),
    pytest.param(dict(c2pa={"status": "trusted", "ai_generated": True,
                            "ingredients": [{"title": "p.jpg", "status": "invalid", "codes": ["claimSignature.mismatch"]}]}),
                 "ingredient 'p.jpg' has a failed manifest", id="ingredient"),
    pytest.param(dict(metadata=CAMERA_EXIF, watermarks=[PUBLIC]), "camera EXIF present (Canon EOS R5)", id="exif-vs-ai"),
    pytest.param(dict(c2pa={"status": "trusted", "ai_generated": False}, metadata={"generator": {"tool": "A1111"}}),
                 "declares a camera capture but AI evidence", id="capture-vs-ai"),
    pytest.param(dict(c2pa={"status": "trusted", "ai_generated": False}, forensics={"p_ai": 0.95, "validated": True}),
                 "signed as a camera capture but the forensic classifier", id="capture-vs-classifier"),
])
def test_conflicts(kw, fragment):
    """Evidence that does not fit together is listed in conflicts."""
    assert any(fragment in c for c in fuse(report(**kw)).conflicts)


def test_how_prefers_the_signed_record():
    """how comes from the signed generation record first, then generator metadata."""
    v = fuse(report(c2pa={"status": "trusted", "ai_generated": True,
                          "generation": {"model": "sdxl", "source": "api", "loras": [{"name": "x", "weight": 1}]}},
                    metadata={"generator": {"tool": "ComfyUI", "model": "other"}}))
    assert v.how["model"] == "sdxl" and v.how["source"] == "api" and v.how["tool"] == "ComfyUI"
    assert v.how["loras"] == [{"name": "x", "weight": 1}]


@pytest.mark.parametrize("p_ai", [0.02, 0.97])
def test_unvalidated_classifier_decides_nothing(p_ai):
    """A classifier whose grouped cross-validation failed the bar is reported but sets no label."""
    v = fuse(report(forensics={"p_ai": p_ai, "validated": False, "validation_auc": 0.43}))
    assert v.label == "unknown" and v.rules == [] and v.conflicts == []


LOOKALIKE = {"match": "fingerprint", "hash": "pdq", "distance": 6, "max_distance": 14, "identical_file": False,
             "record": {"content_id": "5eed0f00dcafe123", "created_at": "2026-12-01T10:00:00+00:00",
                        "output_path": "/out/a.png",
                        "manifest": {"assertions": [{"label": "org.provenance.generation",
                                                     "data": {"model": "sdxl-base-1.0", "seed": 7}}]}},
             "candidates": [{"content_id": "5eed0f00dcafe123"}, {"content_id": "0badc0de00000000"}]}


def test_a_lookalike_alone_is_evidence_not_a_label():
    """A match by look with nothing in the file behind it sets no label, names the stamp, the
    distance and the other candidates, and says the mark is missing; how takes nothing from it."""
    v = fuse(report(registry=LOOKALIKE))
    assert v.label == "unknown" and v.confidence == 0 and v.rules == ["registry-lookalike"]
    assert v.summary.startswith("It looks like stamp 5eed0f00dcafe123 (stamped 2026-12-01T10:00:00+00:00, "
                                "/out/a.png; PDQ distance 6) and 1 other stamp, but carries no watermark: "
                                "an original, or a copy whose mark was removed.")
    assert v.how == {"source": "unknown"} and v.conflicts == []


def test_a_lookalike_beside_camera_exif_stays_camera():
    """A camera photo that looks like a stamp (its unstamped original) keeps its camera label; the
    look-alike sentence follows."""
    v = fuse(report(registry=LOOKALIKE, metadata=CAMERA_EXIF))
    assert v.label == "likely-camera" and v.rules == ["registry-lookalike", "camera-exif"]
    assert "carries no watermark" in v.summary and v.conflicts == []


def test_a_lookalike_backed_by_the_file_raises_the_label():
    """With the file's own generator metadata behind it, the match says AI-generated at 0.95
    (above the metadata's own 0.9); the metadata's model wins in how, and the difference is a conflict."""
    v = fuse(report(registry=LOOKALIKE, metadata={"generator": {"tool": "ComfyUI", "model": "flux-dev", "seed": 7}}))
    assert v.label == "ai-generated" and v.confidence == 0.95
    assert v.rules == ["registry-fingerprint", "generator-metadata"] and "ComfyUI metadata agrees" in v.summary
    assert v.how["model"] == "flux-dev"
    assert v.conflicts == ["the file's ComfyUI metadata gives model 'flux-dev', but the registry's stamp "
                           "5eed0f00dcafe123 records 'sdxl-base-1.0'"]


def test_a_lookalike_with_another_stamps_watermark():
    """Our watermark of another id beside a look-alike: the watermark decides, the sentence says so."""
    v = fuse(report(registry=LOOKALIKE, watermarks=[OURS]))
    assert v.label == "ai-generated" and v.rules == ["watermark-ours", "registry-lookalike"]
    assert "carries another stamp's watermark" in v.summary


def test_registry_record_never_replaces_the_files_metadata():
    """A watermark match whose record disagrees with the file's A1111 metadata: the file's model
    and hash stay in how; each difference is a conflict; agreeing short hashes are not."""
    reg = dict(LOOKALIKE, match="watermark", scheme="provenanceWM")
    reg["record"] = dict(reg["record"], manifest={"assertions": [{"label": "org.provenance.generation", "data": {
        "model": "sdxl-base-1.0", "model_hash": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
        "seed": 7}}]})
    meta = {"generator": {"tool": "AUTOMATIC1111", "model": "v1-5-pruned", "model_hash": "6ce0161689", "seed": 8}}
    v = fuse(report(watermarks=[OURS], registry=reg, metadata=meta))
    assert v.how["model"] == "v1-5-pruned" and v.how["model_hash"] == "6ce0161689"
    assert v.conflicts == [
        "the file's AUTOMATIC1111 metadata gives model 'v1-5-pruned', but the registry's stamp 5eed0f00dcafe123 "
        "records 'sdxl-base-1.0'",
        "the file's AUTOMATIC1111 metadata gives seed 8, but the registry's stamp 5eed0f00dcafe123 records 7"]


LEVELS = {"ai": 0.71, "ai_fpr": 0.01, "ai_tpr": 0.64, "camera": 0.12, "camera_miss": 0.01, "camera_tnr": 0.41}


@pytest.mark.parametrize("p_ai,rule,label,fragment", [
    pytest.param(0.75, "forensics-ai", "likely-ai-generated", "1 photo in 100 is wrongly flagged at this level",
                 id="above-the-1pct-fpr-level"),
    pytest.param(0.05, "forensics-camera", "likely-camera", "1 generated image in 100 scores this low",
                 id="below-the-1pct-miss-level"),
])
def test_validated_classifier_decides_at_its_levels(p_ai, rule, label, fragment):
    """A classifier above the AUC floor decides at the levels its cross-validation set (1% false
    positives on photos, 1% misses on generated images) and says so, with the stated rates."""
    v = fuse(report(forensics={"p_ai": p_ai, "validated": True, "levels": LEVELS, "family": "sdxl"}))
    assert v.rules == [rule] and v.label == label and fragment in v.summary and "estimated" in v.summary
    assert ("64%" in v.summary) if label == "likely-ai-generated" else ("41%" in v.summary)
    assert v.how.get("generator_family") == ("sdxl" if label == "likely-ai-generated" else None)


@pytest.mark.parametrize("p_ai", [0.5, 0.7, 0.15])
def test_validated_classifier_between_its_levels_decides_nothing(p_ai):
    """Between the two levels the estimate is too uncertain either way: no label (0.7 < 0.71,
    0.15 > 0.12, though the fixed 0.8/0.2 cuts of older models would not apply either)."""
    v = fuse(report(forensics={"p_ai": p_ai, "validated": True, "levels": LEVELS}))
    assert v.label == "unknown" and v.rules == []


@pytest.mark.parametrize("p_ai", [0.01, 0.99])
def test_classifier_below_the_floor_never_changes_a_verdict(p_ai):
    """Below the AUC floor even decision levels in the report change nothing: no rule, no
    conflict, the other evidence's verdict unchanged."""
    for kw in ({}, {"metadata": CAMERA_EXIF}, {"watermarks": [OURS]}):
        base = fuse(report(**kw))
        v = fuse(report(**kw, forensics={"p_ai": p_ai, "validated": False, "levels": LEVELS, "family": "sd1"}))
        assert (v.label, v.rules, v.conflicts, v.summary, v.how) == \
            (base.label, base.rules, base.conflicts, base.summary, base.how)


def test_strong_evidence_outranks_the_validated_classifier():
    """A validated classifier that disagrees with a watermark does not set the label; it is a conflict."""
    v = fuse(report(watermarks=[OURS], forensics={"p_ai": 0.01, "validated": True, "levels": LEVELS}))
    assert v.label == "ai-generated" and v.rules == ["watermark-ours", "forensics-camera"]
    assert any("estimates a camera photo" in c for c in v.conflicts)
