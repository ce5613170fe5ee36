"""verify: each collector, the damaged-manifest cases, the verdict rules, the schema, the CLI exit codes."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import flip_scan_bit, natural_image
from support import run_cli as run
from provenance import GenerationRecord, Registry, init_keys, load_identity, stamp_file
from provenance._data_files import VERIFY_SCHEMA, load_json
from provenance import trust_anchors
from provenance import VerifyOptions, verify_bytes, verify_file

RECORD = GenerationRecord.from_dict({"generator": "diffusers", "model": "sdxl-base-1.0", "seed": 7, "source": "local",
                                     "extra": {"marker": "ASSERTIONMARKER"}})
SCHEMA = load_json(VERIFY_SCHEMA)


def _validate(report: dict) -> None:
    import jsonschema

    jsonschema.validate(report, SCHEMA)


@pytest.fixture
def registry(home):
    with Registry() as reg:
        yield reg


@pytest.fixture
def options(identity, registry):
    pem, _ = trust_anchors()
    return VerifyOptions(trust_anchors_pem=pem, registry=registry, forensics=False)


@pytest.fixture
def stamped_png(tmp_path, photo_png, identity, registry):
    out = tmp_path / "stamped.png"
    stamp_file(photo_png, out, identity=identity, record=RECORD, registry=registry, content_id="5eed0f00dcafe123")
    return out


@pytest.fixture
def stamped_jpg(tmp_path, photo_png, identity, registry):
    out = tmp_path / "signed-title.jpg"
    stamp_file(photo_png, out, identity=identity, record=RECORD, registry=registry, content_id="5eed0f00dcafe123")
    return out


def test_stamped_image_is_ai_generated_trusted(stamped_jpg, options):
    """Our own stamp: trusted C2PA declaring AI, our watermark, a registry match; schema-valid JSON."""
    r = verify_file(stamped_jpg, options=options)
    d = r.to_dict()
    _validate(d)
    assert d["c2pa"]["status"] == "trusted" and d["c2pa"]["ai_generated"] is True
    assert d["c2pa"]["generation"]["seed"] == 7
    assert d["c2pa"]["soft_bindings"][0]["value"] == "5eed0f00dcafe123"
    assert d["verdict"]["label"] == "ai-generated" and d["verdict"]["rules"][0] == "c2pa-ai"
    assert {"watermark-ours", "registry-watermark"} & set(d["verdict"]["rules"]) == {"watermark-ours"}
    assert d["registry"]["match"] == "watermark" and d["registry"]["identical_file"] is True
    assert d["verdict"]["how"]["model"] == "sdxl-base-1.0" and d["verdict"]["how"]["source"] == "local"
    assert d["verdict"]["conflicts"] == [] and d["errors"] == []


def test_unknown_signer_is_valid_not_an_error(stamped_jpg, tmp_path, monkeypatch):
    """Without our root as an anchor the manifest is 'valid' and the verdict says the signer is not trusted."""
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "other"))
    init_keys(org="Someone Else")
    pem, _ = trust_anchors()
    r = verify_file(stamped_jpg, options=VerifyOptions(trust_anchors_pem=pem, forensics=False)).to_dict()
    assert r["c2pa"]["status"] == "valid" and r["errors"] == []
    assert "not in the trust list" in r["verdict"]["summary"]
    assert r["verdict"]["confidence"] == 0.95


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1 and len(old) == len(new)
    return data.replace(old, new)


@pytest.mark.parametrize("damage,status,code", [
    pytest.param("pixels", "tampered", "assertion.dataHash.mismatch", id="pixels-changed"),
    pytest.param("claim", "invalid", "claimSignature.mismatch", id="signature-fails"),
    pytest.param("assertion", "invalid", "assertion.hashedURI.mismatch", id="assertion-uri-mismatch"),
])
def test_damaged_manifests(stamped_jpg, options, damage, status, code):
    """Each way of damaging a manifest is named, reported with its raw code, and listed as a conflict."""
    data = stamped_jpg.read_bytes()
    if damage == "pixels":
        data = flip_scan_bit(data)  # inside the entropy-coded scan: decoded pixels change
    elif damage == "claim":
        data = _replace_once(data, b"signed-title.jpg", b"signed-titlX.jpg")  # dc:title inside the signed claim
    else:
        data = _replace_once(data, b"ASSERTIONMARKER", b"ASSERTIONMARKEX")  # inside our generation assertion
    report = verify_bytes(data, name="damaged.jpg", options=options)
    r = report.to_dict()
    _validate(r)
    assert r["c2pa"]["status"] == status and code in r["c2pa"]["codes"]
    expected = "changed after signing" if status == "tampered" else code
    assert any(c.startswith("C2PA manifest present") and expected in c for c in r["verdict"]["conflicts"])
    assert status in report.flags


def test_ingredient_with_failed_signature_is_reported(tmp_path, photo_png, identity, options):
    """A parent whose own signature fails is reported on its ingredient while the active manifest stays valid."""
    parent = tmp_path / "parent-title.jpg"
    stamp_file(photo_png, parent, identity=identity, record=RECORD)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(_replace_once(parent.read_bytes(), b"parent-title.jpg", b"parent-titlX.jpg"))
    child = tmp_path / "child.jpg"
    stamp_file(photo_png, child, identity=identity, record=RECORD, parent=broken)
    r = verify_file(child, options=options).to_dict()
    assert r["c2pa"]["status"] == "trusted"
    [ing] = r["c2pa"]["ingredients"]
    assert ing["status"] == "invalid" and "claimSignature.mismatch" in ing["codes"]
    assert any("ingredient" in c and "invalid" in c for c in r["verdict"]["conflicts"])


def test_stripped_copies_are_found(stamped_png, tmp_path, options):
    """A JPEG re-encode and a half-size copy keep the watermark (the default detector searches
    scales), and the registry returns the stamp's record."""
    img = Image.open(stamped_png).convert("RGB")
    q90 = tmp_path / "q90.jpg"
    img.save(q90, quality=90)
    small = tmp_path / "small.png"
    img.resize((256, 256), Image.BICUBIC).save(small)
    for copy in (q90, small):
        r = verify_file(copy, options=options).to_dict()
        _validate(r)
        assert r["c2pa"]["status"] == "absent" and r["registry"]["match"] == "watermark"
        assert r["registry"]["record"]["content_id"] == "5eed0f00dcafe123"
        assert r["verdict"]["label"] == "ai-generated" and r["verdict"]["rules"][0] == "watermark-ours"
        assert r["verdict"]["how"]["model"] == "sdxl-base-1.0"  # from the registry's manifest


def _copy(img: Image.Image, edit: str) -> Image.Image:
    w, h = img.size
    if edit == "resize-half":
        return img.resize((w // 2, h // 2), Image.BICUBIC)
    if edit == "rotate-2":
        return img.rotate(2.0, resample=Image.BICUBIC)
    if edit == "flip":
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if edit == "screenshot":  # shown at 80% and grabbed as PNG
        return img.resize((round(w * 0.8), round(h * 0.8)), Image.BILINEAR)
    raise AssertionError(edit)


@pytest.mark.parametrize("edit", ["resize-half", "rotate-2", "flip", "screenshot"])
def test_edited_copies_are_found_without_any_registry(stamped_png, tmp_path, monkeypatch, edit):
    """On someone else's machine (a fresh PROVENANCE_HOME: no registry, no keys), a resized,
    rotated, flipped or screenshot copy is still AI-generated by its watermark, with the id."""
    copy = tmp_path / f"{edit}.png"
    _copy(Image.open(stamped_png).convert("RGB"), edit).save(copy)
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "someone-else"))
    with Registry() as empty:
        r = verify_file(copy, options=VerifyOptions(registry=empty, forensics=False)).to_dict()
    _validate(r)
    [mark] = [w for w in r["watermarks"] if w["scheme"] == "provenanceWM"]
    assert mark["detected"] and mark["payload"] == "5eed0f00dcaf"
    assert r["verdict"]["label"] == "ai-generated" and r["verdict"]["rules"][0] == "watermark-ours"
    assert r["registry"]["match"] == "none"


def test_unstamped_original_is_a_lookalike_not_ai(photo_png, stamped_png, options, capsys):
    """The camera photo a stamp was made from matches the stamp by look only: the report names the
    stamp and its distance and says the mark is missing, the label is not AI, --fail-on ai passes."""
    r = verify_file(photo_png, options=options).to_dict()
    _validate(r)
    assert r["registry"]["match"] == "fingerprint" and r["registry"]["identical_file"] is False
    [c] = r["registry"]["candidates"]
    assert c["content_id"] == "5eed0f00dcafe123" and c["pdq_distance"] <= 14 and c["created_at"] and c["output_path"]
    assert r["verdict"]["label"] == "unknown" and r["verdict"]["rules"] == ["registry-lookalike"]
    assert "looks like stamp 5eed0f00dcafe123" in r["verdict"]["summary"]
    assert "carries no watermark: an original, or a copy whose mark was removed" in r["verdict"]["summary"]
    assert r["verdict"]["how"] == {"source": "unknown"}  # the stamp's record is not this file's
    assert run(capsys, "verify", str(photo_png), "--fail-on", "ai", "--no-forensics")[0] == 0


def test_two_lookalike_stamps_are_both_listed(photo_png, tmp_path, identity, registry, options):
    """One original stamped twice: its unmarked original lists both stamps, best first."""
    for cid in ("aaaa0000aaaa0000", "bbbb0000bbbb0000"):
        stamp_file(photo_png, tmp_path / f"{cid}.png", identity=identity, record=RECORD, registry=registry,
                   content_id=cid)
    r = verify_file(photo_png, options=options).to_dict()
    _validate(r)
    ids = [c["content_id"] for c in r["registry"]["candidates"]]
    assert sorted(ids) == ["aaaa0000aaaa0000", "bbbb0000bbbb0000"]
    ranks = [c["pdq_distance"] for c in r["registry"]["candidates"]]
    assert ranks == sorted(ranks)
    assert "and 1 other stamp" in r["verdict"]["summary"] and r["verdict"]["label"] == "unknown"


def _a1111_png(rgb: np.ndarray, path: Path, model: str) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", f"a red fox\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, "
                                f"Size: {rgb.shape[1]}x{rgb.shape[0]}, Model: {model}")
    Image.fromarray(rgb).save(path, pnginfo=info)


def test_files_own_a1111_model_survives_a_registry_match(stamped_png, tmp_path, options):
    """A copy (found by its watermark) whose own A1111 metadata names another model keeps that
    model in ``how``; the registry's differing record is a conflict, not a replacement."""
    p = tmp_path / "a1111.png"
    _a1111_png(np.asarray(Image.open(stamped_png).convert("RGB")), p, "dreamshaper_8")
    r = verify_file(p, options=options).to_dict()
    _validate(r)
    assert r["registry"]["match"] == "watermark"
    assert r["verdict"]["how"]["model"] == "dreamshaper_8"
    assert any("AUTOMATIC1111 metadata gives model 'dreamshaper_8'" in c and "'sdxl-base-1.0'" in c
               and "5eed0f00dcafe123" in c for c in r["verdict"]["conflicts"])


def test_lookalike_backed_by_generator_metadata_is_ai(photo_png, stamped_png, tmp_path, options):
    """A look-alike of a stamp whose own file says a generator made it may be called AI-generated
    (the file backs the match), and a differing model is a conflict."""
    p = tmp_path / "lookalike-a1111.png"
    _a1111_png(np.asarray(Image.open(photo_png).convert("RGB")), p, "dreamshaper_8")
    r = verify_file(p, options=options).to_dict()
    assert r["registry"]["match"] == "fingerprint"
    assert r["verdict"]["label"] == "ai-generated" and r["verdict"]["rules"][0] == "registry-fingerprint"
    assert "AUTOMATIC1111 metadata agrees" in r["verdict"]["summary"]
    assert r["verdict"]["how"]["model"] == "dreamshaper_8"
    assert any("dreamshaper_8" in c and "sdxl-base-1.0" in c for c in r["verdict"]["conflicts"])


def test_public_sd_watermark(tmp_path, options):
    """An image marked like the SD 1.x reference script is ai-generated by the public-watermark rule."""
    from support.sd_marks import sd_mark

    p = tmp_path / "sd1.png"
    Image.fromarray(sd_mark(natural_image(512, 512, seed=1), "sd1")).save(p)
    r = verify_file(p, options=options).to_dict()
    assert r["verdict"]["label"] == "ai-generated" and "watermark-public" in r["verdict"]["rules"]
    assert r["verdict"]["how"]["generator_family"] == "sd1"


def test_plain_image_is_unknown(tmp_path, options):
    """An image with no evidence at all gets 'unknown' and no errors."""
    p = tmp_path / "plain.png"
    Image.fromarray(natural_image(320, 320, seed=9)).save(p)
    r = verify_file(p, options=options).to_dict()
    _validate(r)
    assert r["verdict"]["label"] == "unknown" and r["errors"] == [] and r["c2pa"]["status"] == "absent"


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="zero-bytes"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", id="truncated-png"),
    pytest.param(b"GIF89a" + b"\xff" * 50, id="corrupt-gif"),
    pytest.param(b"<html>not an image</html>", id="html"),
])
def test_bad_files_become_error_entries(tmp_path, options, content):
    """Unreadable files give an errors entry and 'unknown', never an exception."""
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    r = verify_file(p, options=options).to_dict()
    _validate(r)
    assert r["verdict"]["label"] == "unknown" and r["errors"]


def test_missing_file_is_an_error_entry(options):
    """A path that does not exist is reported, not raised."""
    r = verify_file("/nonexistent/x.png", options=options).to_dict()
    assert r["errors"][0]["collector"] == "read" and r["verdict"]["label"] == "unknown"


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_verify_json_and_exit_codes(capsys, stamped_jpg, tmp_path):
    """--json prints one schema-valid object per file; --fail-on gives 3 only when a file is flagged."""
    plain = tmp_path / "plain.png"
    Image.fromarray(natural_image(300, 300, seed=4)).save(plain)
    code, out, _ = run(capsys, "verify", str(stamped_jpg), str(plain), "--json", "--no-forensics")
    reports = json.loads(out)
    assert code == 0 and [r["file"] for r in reports] == [str(stamped_jpg), str(plain)]
    for r in reports:
        _validate(r)
    assert run(capsys, "verify", str(stamped_jpg), "--fail-on", "ai")[0] == 3
    # Without the classifier (which now speaks when validated) the plain image has no evidence at all.
    assert run(capsys, "verify", str(plain), "--no-forensics", "--fail-on", "ai,tampered,invalid")[0] == 0
    assert run(capsys, "verify", str(plain), "--no-forensics", "--fail-on", "unknown")[0] == 3


def test_cli_verify_human_output(capsys, stamped_jpg):
    """The terminal report names the verdict, the signer and the watermark."""
    code, out, _ = run(capsys, "verify", str(stamped_jpg), "--no-forensics")
    assert code == 0
    assert "AI-GENERATED" in out and "c2pa: trusted" in out and "watermark: provenanceWM id prefix 5eed0f00dcaf " in out


def test_cli_fast_skips_the_search(capsys, stamped_png, tmp_path):
    """`verify --fast` and `watermark detect --fast` do not find a resized copy's mark; without
    the flag both do."""
    small = tmp_path / "small.png"
    Image.open(stamped_png).convert("RGB").resize((300, 300), Image.BICUBIC).save(small)

    def found(*argv) -> bool:
        code, out, _ = run(capsys, *argv, "--json")
        assert code == 0
        doc = json.loads(out)[0]
        return any(w["detected"] and w["scheme"] == "provenanceWM" for w in doc["watermarks"])

    assert found("verify", str(small), "--no-forensics", "--no-registry")
    assert not found("verify", str(small), "--no-forensics", "--no-registry", "--fast")
    assert found("watermark", "detect", str(small))
    assert not found("watermark", "detect", str(small), "--fast")


def test_cli_verify_help_says_what_is_searched(capsys):
    """verify --help names what the default detector finds and what --fast leaves out."""
    code, out, _ = run(capsys, "verify", "--help")
    text = " ".join(out.split())
    assert code == 0 and "What is searched:" in text
    for words in ("scaled 0.3-2x", "rotated up to 7 degrees", "cropped to a quarter", "flipped",
                  "--fast: at the stamped geometry only", "never makes an image AI-generated"):
        assert words in text, words


def test_cli_verify_errors_exit_1_and_usage_exit_2(capsys, tmp_path, home):
    """An unreadable file exits 1 (others still reported); a bad --fail-on value or --trust file exits 2/1."""
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    code, out, _ = run(capsys, "verify", str(bad), "--json", "--no-forensics")
    assert code == 1 and json.loads(out)[0]["errors"]
    assert run(capsys, "verify", str(bad), "--fail-on", "purple")[0] == 2
    garbage = tmp_path / "anchors.pem"
    garbage.write_text("not a certificate")
    code, _, err = run(capsys, "verify", str(bad), "--trust", str(garbage))
    assert code == 1 and "not a PEM certificate" in err


def test_cli_verify_trust_option(capsys, stamped_jpg, tmp_path, monkeypatch):
    """--trust PEM makes another signer's manifest 'trusted'."""
    root = (Path(load_identity.__globals__["_paths"].keys_dir()) / "root-ca.pem").read_bytes()
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(root)
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "elsewhere"))
    code, out, _ = run(capsys, "verify", str(stamped_jpg), "--json", "--no-forensics")
    assert json.loads(out)[0]["c2pa"]["status"] == "valid"
    code, out, _ = run(capsys, "verify", str(stamped_jpg), "--json", "--no-forensics", "--trust", str(anchors))
    assert json.loads(out)[0]["c2pa"]["status"] == "trusted"


def test_mutated_files_never_crash_verify(stamped_jpg, options):
    """Property test: random byte flips, truncations and insertions in a signed JPEG never raise."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    original = stamped_jpg.read_bytes()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)), max_size=8),
           st.integers(16, len(original)), st.binary(max_size=64))
    def check(flips, cut, insert):
        data = bytearray(original[:cut])
        for pos, value in flips:
            if pos < len(data):
                data[pos] = value
        data[len(data) // 2:len(data) // 2] = insert
        report = verify_bytes(bytes(data), name="mutated.jpg", options=options).to_dict()
        _validate(report)

    check()


def _exif_camera() -> bytes:
    import piexif

    return piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS R5"},
                        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00"}})


def test_generator_metadata_rule(tmp_path, options):
    """A PNG with an AUTOMATIC1111 parameters chunk is ai-generated by the generator-metadata rule."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a red fox\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                                "Seed: 42, Size: 320x320, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
    p = tmp_path / "a1111.png"
    Image.fromarray(natural_image(320, 320, seed=6)).save(p, pnginfo=info)
    r = verify_file(p, options=options).to_dict()
    _validate(r)
    assert r["metadata"]["generator"]["tool"] == "AUTOMATIC1111" and r["metadata"]["generator"]["seed"] == 42
    assert r["verdict"]["label"] == "ai-generated" and r["verdict"]["rules"][0] == "generator-metadata"
    assert r["verdict"]["how"]["model"] == "v1-5-pruned-emaonly"


def test_camera_exif_is_likely_camera(tmp_path, options):
    """Camera EXIF alone gives likely-camera, with the EXIF caveat in the summary."""
    p = tmp_path / "camera.jpg"
    Image.fromarray(natural_image(320, 320, seed=7)).save(p, quality=92, exif=_exif_camera())
    r = verify_file(p, options=options).to_dict()
    assert r["metadata"]["exif"]["make"] == "Canon"
    assert r["verdict"]["label"] == "likely-camera" and "forge" in r["verdict"]["summary"]


def test_camera_exif_with_our_watermark_is_a_conflict(tmp_path, photo, options):
    """Camera EXIF on a watermarked image is reported as a conflict; the watermark decides the label."""
    from provenance.watermark import embed_watermark

    p = tmp_path / "fake-camera.jpg"
    Image.fromarray(embed_watermark(photo, "5eed0f00dcafe123")).save(p, quality=95, exif=_exif_camera())
    r = verify_file(p, options=options).to_dict()
    assert r["verdict"]["label"] == "ai-generated"
    assert any(c.startswith("camera EXIF present (Canon Canon EOS R5)") for c in r["verdict"]["conflicts"])


def test_shipped_forensics_collector_is_validated_and_decides_at_its_levels(tmp_path, options):
    """The shipped classifier's estimate is reported with its validation AUC (at least the 0.85
    floor) and its two decision levels; the verdict follows them."""
    from dataclasses import replace

    p = tmp_path / "plain.png"
    Image.fromarray(natural_image(320, 320, seed=9)).save(p)
    r = verify_file(p, options=replace(options, forensics=True)).to_dict()
    _validate(r)
    f = r["forensics"]
    assert f["status"] == "estimate" and 0.0 <= f["p_ai"] <= 1.0 and f["model"].startswith("forensics-v2@")
    assert f["validated"] is True and f["validation_auc"] >= 0.85
    lv = f["levels"]
    assert lv["ai_fpr"] == 0.01 and lv["camera_miss"] == 0.01 and lv["camera"] < lv["ai"]
    expected = ("likely-ai-generated" if f["p_ai"] > lv["ai"] else
                "likely-camera" if f["p_ai"] < lv["camera"] else "unknown")
    assert r["verdict"]["label"] == expected


def test_forensics_on_a_thumbnail_is_absent_not_an_error(tmp_path, options):
    """An image too small for forensic analysis gets forensics "absent" with the reason; the
    file's other evidence is still read and nothing is reported as an error."""
    from dataclasses import replace

    p = tmp_path / "thumb.png"
    Image.fromarray(natural_image(100, 90, seed=9)).save(p)
    r = verify_file(p, options=replace(options, forensics=True)).to_dict()
    _validate(r)
    assert r["forensics"]["status"] == "absent" and "too small" in r["forensics"]["reason"]
    assert r["errors"] == [] and r["verdict"]["label"] == "unknown"


def test_each_distinct_error_once_with_its_count():
    """100,000 tiny tEXt chunks gave 99,741 copies of one message (a 9 MB report): verify lists each
    distinct (collector, error) once, with how many times it was given, and the report stays small."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    buf = io.BytesIO()
    Image.fromarray(natural_image(128, 128, seed=61)).save(buf, "PNG")
    data = buf.getvalue()
    end = data.rfind(b"IEND") - 4
    data = data[:end] + b"".join(chunk(b"tEXt", b"k%d\x00v" % n) for n in range(100_000)) + data[end:]
    report = verify_bytes(data, name="chunky.png", options=VerifyOptions(forensics=False)).to_dict()
    _validate(report)
    pairs = [(e["collector"], e["error"]) for e in report["errors"]]
    assert len(pairs) == len(set(pairs)) <= 5
    assert sum(e.get("count", 1) for e in report["errors"]) > 99_000
    assert len(json.dumps(report)) < 50_000


def _sidecar_model(auc: float, *, ai_level: float, camera_level: float, family_acc: float):
    """A small logistic model whose sidecar records a grouped-CV AUC, decision levels and a family
    confusion matrix as given (the shipped model's sidecar has the same fields)."""
    from detectors._classifier import TrainConfig, train_model
    from detectors.features import feature_names

    cfg = TrainConfig(head="logistic", extractors=("texture_colour",))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, len(feature_names())))
    y = np.arange(60) % 2
    fam = np.where(y == 1, np.where(np.arange(60) % 4 == 1, "famA", "famB"), "real")
    model = train_model(x, y, fam, np.arange(60), config=cfg)
    model.family_classes = ["famA", "famB"]  # 15 images each is above MIN_FAMILY_IMAGES anyway
    right = round(10 * family_acc)
    model.sidecar = {"evaluation": {
        "conditions": {"stored": {"auc": auc, "threshold_at_1pct_fpr": ai_level, "tpr_at_1pct_fpr": 0.62,
                                  "threshold_at_1pct_miss": camera_level, "tnr_at_1pct_miss": 0.4}},
        "confusion": {"stored": {"labels": ["famA", "famB", "unknown"],
                                 "matrix": [[right, 10 - right, 0], [10 - right, right, 0], [0, 0, 0]]}}}}
    return model


@pytest.mark.parametrize("auc,label", [pytest.param(0.84, "unknown", id="below-the-floor"),
                                       pytest.param(0.93, "likely-ai-generated", id="above-the-floor")])
def test_forensic_model_speaks_only_above_the_auc_floor(tmp_path, options, monkeypatch, auc, label):
    """The same estimate of the same image: a model whose recorded grouped-CV AUC is below 0.85
    changes nothing; one above it calls the image AI-generated at its 1% false-positive level and
    says so; the family is named only where the family head's validation accuracy reaches 0.7."""
    from dataclasses import replace

    import detectors.forensics as forensics

    p = tmp_path / "plain.png"
    Image.fromarray(natural_image(320, 320, seed=9)).save(p)
    model = _sidecar_model(auc, ai_level=0.0, camera_level=0.0, family_acc=0.9)
    monkeypatch.setattr(forensics, "load_default_model", lambda *a, **k: model)
    r = verify_file(p, options=replace(options, forensics=True)).to_dict()
    _validate(r)
    f, v = r["forensics"], r["verdict"]
    assert f["validated"] is (auc >= 0.85) and f["validation_auc"] == auc and v["label"] == label
    if label == "unknown":
        assert v["rules"] == [] and "levels" not in f
    else:
        assert v["rules"] == ["forensics-ai"] and "1 photo in 100 is wrongly flagged" in v["summary"]
        assert "62%" in v["summary"] and f["levels"]["ai_fpr"] == 0.01
        assert f["family"] in ("famA", "famB") and v["how"]["generator_family"] == f["family"]
    low = _sidecar_model(auc, ai_level=0.0, camera_level=0.0, family_acc=0.6)
    monkeypatch.setattr(forensics, "load_default_model", lambda *a, **k: low)
    r = verify_file(p, options=replace(options, forensics=True)).to_dict()
    assert r["forensics"]["family"] is None and r["forensics"]["family_validation_accuracy"] == pytest.approx(0.6)
    assert "generator_family" not in r["verdict"]["how"]
