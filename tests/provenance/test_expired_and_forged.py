"""Expired is not broken: a signature that verifies under a certificate that has expired since keeps
its declarations (labelled, at lower confidence); a signature that fails stays invalid; and no
expired or broken manifest's AI label outranks a camera capture that validates (a forged label)."""
from __future__ import annotations

import pytest
from PIL import Image

from support.signing import MakerCA, jpeg_bytes, sign_image, wait_until_expired
from provenance import VerifyOptions, verify_bytes

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
LIFETIME = 2.0  # seconds: the certificates below expire while the module's fixture waits


def gemini_manifest(title: str, dst: str | None = IPTC + "trainedAlgorithmicMedia") -> dict:
    action = {"action": "c2pa.created", **({"digitalSourceType": dst} if dst else {})}
    m = {"claim_generator_info": [{"name": "Google C2PA Core Generator Library", "version": "1.0"}], "title": title,
         "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]}
    return m if dst else dict(m, claim_version=1)


def camera_photo(leica: MakerCA) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Leica Camera AG", "LEICA M11-P"
    exif[0x8769] = {0x9003: "2026:11:30 09:12:00"}
    manifest = {"claim_generator_info": [{"name": "Leica M11-P", "version": "2.0"}], "title": "L1000123.jpg",
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}]}}]}
    chain, key = leica.signer("Leica Camera AG Content Signer")
    return sign_image(manifest, chain, key, jpeg_bytes(seed=5, exif=exif.tobytes()))


def forged_over(photo: bytes, chain: bytes, key: bytes) -> bytes:
    """The camera photo as parent, under a manifest that calls it AI-generated."""
    manifest = {"claim_generator_info": [{"name": "Totally Real AI", "version": "1"}], "title": "forgedtitle.jpg",
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                    {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
                    {"action": "c2pa.edited", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}]}}]}
    return sign_image(manifest, chain, key, photo, parent=photo)


@pytest.fixture(scope="module")
def signed():
    """Files signed under certificates that expire a few seconds later (waited out once)."""
    google, leica, forger = MakerCA("Google LLC"), MakerCA("Leica Camera AG"), MakerCA("Forger")
    out = {"google_root": google.pem, "leica_root": leica.pem}
    chain, key = google.signer("Google Media Processing Services", seconds=LIFETIME)
    out["gemini"] = sign_image(gemini_manifest("geminititle.jpg"), chain, key)
    chain, key = google.signer("Google Media Processing Services", seconds=LIFETIME)
    out["gemini_no_type"] = sign_image(gemini_manifest("geminititle.jpg", dst=None), chain, key)
    photo = camera_photo(leica)
    out["photo"] = photo
    chain, key = forger.signer("Forger Signer", seconds=LIFETIME)
    out["forged_expired"] = forged_over(photo, chain, key)
    chain, key = forger.signer("Forger Signer")
    out["forged"] = forged_over(photo, chain, key)
    wait_until_expired(LIFETIME)
    return out


def _verify(data: bytes, anchors: bytes = b""):
    return verify_bytes(data, name="x.jpg", options=VerifyOptions(trust_anchors_pem=anchors, forensics=False))


def _break_claim(data: bytes, title: bytes) -> bytes:
    assert data.count(title) == 1
    return data.replace(title, title[:-5] + b"X" + title[-4:])


def test_expired_certificate_keeps_ai_declaration_at_lower_confidence(home, signed):
    """Gemini's case: the signature verifies, the certificate has expired since (no timestamp):
    status expired, not invalid; the AI declaration stays, labelled, below a valid one's 0.95."""
    r = _verify(signed["gemini"], signed["google_root"])
    assert r.c2pa.status == "expired" and "signingCredential.expired" in r.c2pa.codes
    assert "claimSignature.validated" in r.c2pa.success_codes
    assert r.c2pa.expiry == {"timestamp": "none", "time": None}
    v = r.verdict
    assert v.label == "ai-generated" and v.rules[0] == "c2pa-ai-expired" and v.confidence == 0.85
    assert "signed by Google Media Processing Services; the certificate has expired since" in v.summary
    assert v.how["vendor"] == "Google" and v.how["source"] == "api"
    assert "invalid" not in r.flags and v.conflicts == []


def test_expired_without_source_type_names_the_generator(home, signed):
    """An expired manifest whose c2pa.created names a generator (no source type) is AI at 0.8."""
    v = _verify(signed["gemini_no_type"]).verdict
    assert v.label == "ai-generated" and v.rules[0] == "c2pa-ai-expired" and v.confidence == 0.8


def test_failing_signature_under_expired_certificate_stays_invalid(home, signed):
    """The same expired manifest with one byte of its claim changed: the signature fails, so it is
    invalid, and its AI declaration counts for nothing."""
    r = _verify(_break_claim(signed["gemini"], b"geminititle.jpg"), signed["google_root"])
    assert r.c2pa.status == "invalid" and "claimSignature.mismatch" in r.c2pa.codes
    assert r.verdict.label == "unknown" and not {"c2pa-ai", "c2pa-ai-expired"} & set(r.verdict.rules)
    assert any("invalid" in c for c in r.verdict.conflicts)


@pytest.mark.parametrize("variant", ["invalid", "expired", "tampered"])
def test_forged_ai_manifest_on_camera_photo_is_a_conflict(home, signed, variant):
    """A camera-signed photo under a manifest that calls it AI: when that manifest does not hold
    (its signature fails, its certificate expired, or the pixels changed), the AI label is not
    taken; the verdict follows the camera evidence and says what conflicts."""
    photo = _verify(signed["photo"], signed["leica_root"])
    assert photo.c2pa.status == "trusted" and photo.verdict.label == "camera-signed"
    data = {"invalid": lambda: _break_claim(signed["forged"], b"forgedtitle.jpg"),
            "expired": lambda: signed["forged_expired"],
            "tampered": lambda: _flip_pixels(signed["forged"])}[variant]()
    r = _verify(data, signed["leica_root"])
    assert r.c2pa.status == variant and r.c2pa.ai_generated is True
    [ing] = r.c2pa.ingredients
    assert ing["digital_source_type"] == IPTC + "digitalCapture" and ing["status"] in ("trusted", "valid")
    assert r.verdict.label not in ("ai-generated", "likely-ai-generated"), r.verdict
    assert r.verdict.label == "likely-camera"  # the camera EXIF; the broken manifest proves nothing
    assert any("declares AI but is " + variant in c and "camera capture" in c for c in r.verdict.conflicts)


def test_valid_ai_edit_over_camera_photo_is_still_ai(home, signed):
    """A manifest that holds (generative fill on a camera photo, signed validly) keeps its AI label."""
    r = _verify(signed["forged"], signed["leica_root"])
    assert r.c2pa.status == "valid" and r.verdict.label == "ai-generated"


def _flip_pixels(data: bytes) -> bytes:
    from support import flip_scan_bit

    return flip_scan_bit(data)
