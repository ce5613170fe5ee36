"""The evidence model: JSON round trips, the defaults' JSON, and the facts every consumer reads."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from support import REPO, natural_image
from provenance import VerifyOptions, verify_file
from provenance.evidence import (C2paEvidence, EvidenceError, ForensicsEvidence, RegistryEvidence, Verdict,
                                 VerifyReport, WatermarkResult)

SAMPLES = sorted(p for p in (REPO / "samples").iterdir() if p.is_file())


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_a_report_survives_its_json(path):
    """Every sample's report (signed, tampered, re-encoded, corrupt, not an image) read back from
    its JSON writes the same JSON, and fusing the read-back evidence gives the same verdict."""
    from provenance._verdict import fuse

    trust = (REPO / "samples" / "trust" / "demo-root.pem").read_bytes()
    d = verify_file(path, options=VerifyOptions(trust_anchors_pem=trust, forensics=False)).to_dict()
    back = VerifyReport.from_dict(json.loads(json.dumps(d)))
    assert back.to_dict() == d
    assert json.dumps(back.to_dict()) == json.dumps(d)  # key order too
    assert fuse(back) == back.verdict


def test_unknown_members_are_kept():
    """A member this version does not model (an audit's ``audit``, a newer field) survives a round trip."""
    d = VerifyReport(file="x.png").to_dict() | {"audit": {"status": "ok"}}
    d["registry"] = {"match": "none", "endpoint": "https://resolver.example"}
    back = VerifyReport.from_dict(d)
    assert back.to_dict() == d and back.extra == {"audit": {"status": "ok"}}


def test_defaults_write_what_the_schema_says():
    """A report with nothing collected: the members' minimal JSON (as verify has always written it)."""
    d = VerifyReport(file="x").to_dict()
    assert (d["c2pa"], d["registry"], d["forensics"], d["metadata"], d["watermarks"]) == \
        ({"status": "absent"}, {"match": "none"}, {"status": "absent"}, {}, [])
    assert RegistryEvidence(match="none", reason="why").to_dict() == {"match": "none", "reason": "why"}
    assert ForensicsEvidence(status="absent", reason="off").to_dict() == {"status": "absent", "reason": "off"}
    assert EvidenceError("c", "e").to_dict() == {"collector": "c", "error": "e"}
    assert EvidenceError("c", "e", 3).text == "c: e (3 times)"


def test_a_report_given_as_json_members_is_typed():
    """Members given as their JSON become evidence types (callers and tests that hold dicts)."""
    r = VerifyReport(file="x", c2pa={"status": "valid", "signer": {"common_name": "Cam"}},
                     watermarks=[{"scheme": "s", "detected": True, "payload": "ab", "kind": "content-id",
                                  "false_positive_rate": 1e-9}],
                     errors=[{"collector": "c", "error": "e"}], verdict={"label": "ai-generated"})
    assert isinstance(r.c2pa, C2paEvidence) and r.c2pa.intact and r.c2pa.signer_name == "Cam"
    assert isinstance(r.watermarks[0], WatermarkResult) and r.strong_marks == r.watermarks
    assert isinstance(r.verdict, Verdict) and r.errors == [EvidenceError("c", "e")]


@pytest.mark.parametrize("label,c2pa,errors,flags", [
    pytest.param("ai-generated", "absent", [], {"ai"}, id="ai"),
    pytest.param("likely-ai-generated", "tampered", [], {"ai", "tampered"}, id="likely-ai-tampered"),
    pytest.param("unknown", "invalid", [{"collector": "c", "error": "e"}], {"unknown", "invalid", "error"},
                 id="unknown-invalid-error"),
    pytest.param("camera-signed", "trusted", [], set(), id="camera-signed"),
    pytest.param("likely-camera", "valid", [], set(), id="likely-camera"),
])
def test_fail_on_flags(label, c2pa, errors, flags):
    """The --fail-on flags of a report, one definition for verify and audit."""
    r = VerifyReport(file="x", verdict={"label": label}, c2pa={"status": c2pa}, errors=errors)
    assert r.flags == flags


@pytest.mark.parametrize("fpr,kind,strong", [(2.3e-10, "content-id", True), (1e-3, "content-id", False),
                                             (None, "content-id", False), (0.0, "public", False)])
def test_which_marks_are_strong(fpr, kind, strong):
    """Ours at a false-positive rate of at most 1e-6 decides alone; a public mark is not ours."""
    w = WatermarkResult(scheme="s", detected=True, payload="ab", false_positive_rate=fpr, kind=kind)
    assert w.strong is strong and w.ours is (kind == "content-id")


def test_content_ids_are_completed_from_the_manifest(tmp_path):
    """An id prefix (provenanceWM carries 48 bits) is completed to the full id the manifest binds."""
    r = VerifyReport(file="x", c2pa={"status": "valid", "soft_bindings": [{"value": "0123456789abcdef"}]},
                     watermarks=[{"scheme": "provenanceWM", "detected": True, "payload": "0123456789ab",
                                  "partial": True, "kind": "content-id"}])
    assert r.content_ids == ["0123456789abcdef"]


def test_the_registry_record_generation():
    """The matched stamp's own generation record, read from its manifest's assertion."""
    reg = RegistryEvidence.from_dict({"match": "watermark", "record": {"content_id": "ab", "manifest": {
        "assertions": [{"label": "c2pa.actions.v2", "data": {}},
                       {"label": "org.provenance.generation", "data": {"model": "m"}}]}}})
    assert reg.record_generation == {"model": "m"} and reg.ids == ["ab"] and reg.matched


def test_a_plain_file_round_trips_with_forensics(tmp_path):
    """With the classifier on, the forensic member (estimate, levels) survives its JSON too."""
    p = tmp_path / "x.png"
    Image.fromarray(natural_image(320, 320, seed=8)).save(p)
    d = verify_file(p, options=VerifyOptions()).to_dict()
    assert d["forensics"]["status"] == "estimate"
    assert VerifyReport.from_dict(d).to_dict() == d
