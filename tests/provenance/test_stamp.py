"""Stamping end to end: watermark + metadata + signed C2PA + registry, read back with real c2pa.Reader."""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.read_back import read_metadata
from support import natural_image
from provenance import (
    GenerationRecord,
    ImageError,
    ImageTooSmallError,
    OutputExistsError,
    Registry,
    RegistryError,
    load_image,
    read_manifest,
    stamp_file,
)
from provenance._c2pa import GENERATION_ASSERTION
from provenance._metadata import TRAINED_ALGORITHMIC_MEDIA
from provenance._registry import hamming
from provenance._stamp import perceptual_hash
from provenance.watermark import get_method

RECORD = GenerationRecord.from_dict({
    "generator": "diffusers", "prompt": "a lighthouse at dusk", "negative_prompt": "blurry",
    "model": "sdxl-base-1.0", "model_hash": "ab" * 32, "loras": [{"name": "film", "weight": 0.8}],
    "scheduler": "EulerDiscreteScheduler", "steps": 30, "guidance": 7.5, "seed": 7, "precision": "fp16",
    "device": "cpu", "seconds": 1.5, "peak_vram_mb": 0, "source": "local",
})


def _sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def registry(home):
    with Registry() as reg:
        yield reg


@pytest.mark.parametrize("suffix", [pytest.param(".png", id="png"), pytest.param(".jpg", id="jpeg"),
                                    pytest.param(".webp", id="webp")])
def test_stamp_reads_back_trusted_with_everything(suffix, tmp_path, photo_png, identity, registry):
    """Stamped output: trusted signature, AI source type, generation record, one content id everywhere."""
    src_hash = _sha(photo_png)
    out = tmp_path / f"out{suffix}"
    result = stamp_file(photo_png, out, identity=identity, record=RECORD, registry=registry)
    assert _sha(photo_png) == src_hash, "input must never be modified"
    data = out.read_bytes()

    report = read_manifest(data, trust_anchors_pem=identity.anchors_pem)
    assert report.state == "Trusted", report.failures
    assert "signingCredential.trusted" in report.success_codes
    actions = report.assertion("c2pa.actions.v2")["actions"]
    created = next(a for a in actions if a["action"] == "c2pa.created")
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert any(a["action"] == "c2pa.watermarked" for a in actions)
    generation = report.assertion(GENERATION_ASSERTION)
    assert generation["model"] == "sdxl-base-1.0" and generation["seed"] == 7 and generation["steps"] == 30
    assert generation["loras"] == [{"name": "film", "weight": 0.8, "hash": None}]
    soft = report.assertion("c2pa.soft-binding")
    assert soft["blocks"][0]["value"] == result.content_id

    mark = get_method(result.method).detect(load_image(out).rgb)
    assert mark.detected and mark.payload == result.content_id[: get_method(result.method).codec.id_hex_len]
    row = registry.get(result.content_id)
    assert row is not None and row.sha256 == hashlib.sha256(data).hexdigest() and row.output_path == str(out.resolve())
    meta = read_metadata(data)
    assert json.loads(meta["exif"]["UserComment"])["content_id"] == result.content_id
    assert result.content_id in meta["xmp"]


def test_untrusted_signer_is_valid_not_trusted(tmp_path, photo_png, identity):
    """Without our root as a trust anchor the signature is Valid, not Trusted."""
    out = tmp_path / "out.png"
    stamp_file(photo_png, out, identity=identity, record=RECORD)
    assert read_manifest(out.read_bytes()).state == "Valid"


def test_metadata_fields(tmp_path, photo_png, identity):
    """EXIF, XMP (IPTC AI fields) and the A1111 parameters chunk carry the record."""
    out = tmp_path / "out.png"
    stamp_file(photo_png, out, identity=identity, record=RECORD)
    meta = read_metadata(out.read_bytes())
    assert meta["exif"]["Software"].startswith("provenance/")
    assert meta["exif"]["ImageDescription"] == "a lighthouse at dusk"
    assert json.loads(meta["exif"]["UserComment"])["generation"]["scheduler"] == "EulerDiscreteScheduler"
    xmp = meta["xmp"]
    assert "<Iptc4xmpExt:DigitalSourceType>" + TRAINED_ALGORITHMIC_MEDIA in xmp
    assert "<Iptc4xmpExt:AISystemUsed>sdxl-base-1.0<" in xmp
    assert "<Iptc4xmpExt:AIPromptInformation>a lighthouse at dusk<" in xmp
    params = meta["text"]["parameters"]
    assert params.startswith("a lighthouse at dusk <lora:film:0.8>\nNegative prompt: blurry\n")
    assert "Steps: 30, Sampler: EulerDiscreteScheduler, CFG scale: 7.5, Seed: 7, Size: 512x512" in params
    assert params.endswith("Size: 512x512, Model hash: ababababab, Model: sdxl-base-1.0")


def test_one_changed_pixel_is_a_hard_binding_mismatch(tmp_path, photo_png, identity):
    """Changing one pixel after signing (manifest kept) is reported as a data-hash mismatch."""
    out = tmp_path / "out.png"
    stamp_file(photo_png, out, identity=identity, record=RECORD)
    data = out.read_bytes()
    manifest_chunks = [c for c in _png_chunks(data) if c[0] == b"caBX"]
    assert manifest_chunks, "the stamped PNG has a caBX (C2PA) chunk"
    pixels = np.array(Image.open(io.BytesIO(data)))
    pixels[100, 100, 0] ^= 1
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    chunks = _png_chunks(buf.getvalue())
    tampered = _png_from_chunks(chunks[:1] + manifest_chunks + chunks[1:])
    report = read_manifest(tampered, trust_anchors_pem=identity.anchors_pem)
    assert report.state == "Invalid"
    assert "assertion.dataHash.mismatch" in report.failure_codes
    assert read_manifest(data, trust_anchors_pem=identity.anchors_pem).state == "Trusted"


def test_changed_jpeg_bytes_are_a_hard_binding_mismatch(tmp_path, photo_png, identity):
    """Flipping a byte of the JPEG scan data after signing is reported as a data-hash mismatch."""
    out = tmp_path / "out.jpg"
    stamp_file(photo_png, out, identity=identity, record=RECORD)
    data = bytearray(out.read_bytes())
    data[-200] ^= 0x01
    report = read_manifest(bytes(data), trust_anchors_pem=identity.anchors_pem)
    assert "assertion.dataHash.mismatch" in report.failure_codes


def test_reencoded_copy_is_found_by_watermark_and_registry(tmp_path, photo_png, identity, registry):
    """A JPEG q90 re-encode (metadata and manifest gone) still yields the content id and its registry row."""
    out = tmp_path / "out.png"
    result = stamp_file(photo_png, out, identity=identity, record=RECORD, registry=registry,
                        content_id="5eed0f00dcafe123")  # fixed, so the JPEG step is deterministic
    copy = tmp_path / "copy.jpg"
    Image.open(out).convert("RGB").save(copy, quality=90)
    data = copy.read_bytes()
    assert read_manifest(data).state is None
    assert "exif" not in read_metadata(data)
    rgb = load_image(copy).rgb
    mark = get_method("provenanceWM").detect(rgb)
    assert mark.detected and mark.partial and mark.payload == result.content_id[:12]
    [row] = registry.find_by_prefix(mark.payload)
    assert row is not None and row.output_path == str(out.resolve())
    assert json.loads(row.manifest_json)["assertions"][2]["data"]["seed"] == 7
    nearest = registry.find_by_phash(perceptual_hash(rgb))
    assert nearest and nearest[0][1].content_id == result.content_id
    assert hamming(perceptual_hash(rgb), row.phash) <= 4


def test_parent_ingredient_for_an_upscale(tmp_path, photo_png, identity):
    """--parent adds the parent as a parentOf ingredient with a c2pa.resized action; both stay trusted."""
    gen = tmp_path / "gen.png"
    stamp_file(photo_png, gen, identity=identity, record=RECORD)
    up = tmp_path / "up_in.png"
    Image.open(gen).resize((1024, 1024), Image.LANCZOS).save(up)
    out = tmp_path / "up.png"
    stamp_file(up, out, identity=identity, record=RECORD.merged(upscaler="Lanczos x2"), parent=gen,
               parent_action="c2pa.resized")
    report = read_manifest(out.read_bytes(), trust_anchors_pem=identity.anchors_pem)
    assert report.state == "Trusted", report.failures
    ingredients = report.active["ingredients"]
    assert len(ingredients) == 1 and ingredients[0]["relationship"] == "parentOf"
    assert ingredients[0]["title"] == "gen.png"
    assert ingredients[0].get("active_manifest"), "the parent's own manifest travels with it"
    actions = [a["action"] for a in report.assertion("c2pa.actions.v2")["actions"]]
    assert actions == ["c2pa.opened", "c2pa.resized", "c2pa.watermarked"]


def test_output_exists_is_refused(tmp_path, photo_png, identity):
    """An existing output is not replaced without overwrite, and nothing else is left behind."""
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        stamp_file(photo_png, out, identity=identity)
    assert out.read_bytes() == b"keep me"
    stamp_file(photo_png, out, identity=identity, overwrite=True)
    assert out.read_bytes() != b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["home", "input.png", "out.png"]


def test_input_is_never_the_output(tmp_path, photo_png, identity):
    """Stamping onto the input file itself is refused even with overwrite."""
    before = _sha(photo_png)
    with pytest.raises(Exception, match="never modifies its input"):
        stamp_file(photo_png, photo_png, identity=identity, overwrite=True)
    assert _sha(photo_png) == before


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def _png_from_chunks(chunks) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return out


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (the data is never decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return _png_from_chunks([(b"IHDR", ihdr), (b"IDAT", idat), (b"IEND", b"")])


@pytest.mark.parametrize("content,error,match", [
    pytest.param(_bomb_png(40000, 40000), ImageError, "decompression bomb", id="bomb"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ImageError, "corrupt", id="corrupt-png"),
    pytest.param(b"GIF89a not really", ImageError, "corrupt", id="corrupt-gif"),
    pytest.param(b"plain text", ImageError, "not a supported image", id="text"),
])
def test_bad_input_leaves_no_output(tmp_path, identity, content, error, match):
    """Unreadable inputs fail clearly and create no output file."""
    src = tmp_path / "bad.png"
    src.write_bytes(content)
    with pytest.raises(error, match=match):
        stamp_file(src, tmp_path / "out.png", identity=identity)
    assert not (tmp_path / "out.png").exists()


def test_too_small_image_is_refused(tmp_path, identity):
    """Images below the watermark's minimum are refused with the minimum named, not stamped unmarked."""
    src = tmp_path / "small.png"
    Image.fromarray(natural_image(200, 300)).save(src)
    with pytest.raises(ImageTooSmallError, match="256x256"):
        stamp_file(src, tmp_path / "out.png", identity=identity)
    assert not (tmp_path / "out.png").exists()


def test_registry_failure_removes_the_output(tmp_path, photo_png, identity, registry, monkeypatch):
    """If the registry cannot record a stamp, the stamped file is removed again."""
    def fail(record, **kwargs):
        raise RegistryError("disk full")

    monkeypatch.setattr(registry, "add", fail)
    with pytest.raises(RegistryError):
        stamp_file(photo_png, tmp_path / "out.png", identity=identity, registry=registry)
    assert not (tmp_path / "out.png").exists()


def test_alpha_and_source_parameters_are_kept(tmp_path, identity):
    """An RGBA PNG keeps its alpha; an A1111 parameters chunk survives when no prompt is given."""
    from PIL.PngImagePlugin import PngInfo

    rgba = np.dstack([natural_image(320, 320), np.full((320, 320), 200, np.uint8)])
    src = tmp_path / "a1111.png"
    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Seed: 1")
    Image.fromarray(rgba, "RGBA").save(src, pnginfo=info)
    out = tmp_path / "out.png"
    stamp_file(src, out, identity=identity, record=GenerationRecord(model="sd15"))
    img = Image.open(out)
    assert img.mode == "RGBA" and np.asarray(img)[5, 5, 3] == 200
    assert img.text["parameters"] == "a cat\nSteps: 20, Sampler: Euler a, Seed: 1"
    assert read_manifest(out.read_bytes(), trust_anchors_pem=identity.anchors_pem).state == "Trusted"


def _stamp_many(home: str, src: str, out_dir: str, n: int, tag: str) -> None:
    os.environ["PROVENANCE_HOME"] = home
    from provenance import Registry, load_identity, stamp_file

    identity = load_identity()
    with Registry() as reg:
        for i in range(n):
            stamp_file(src, f"{out_dir}/{tag}-{i}.jpg", identity=identity, registry=reg)


@pytest.mark.slow
def test_two_stamping_processes_share_one_registry(tmp_path, photo_png, identity, home):
    """Two processes stamping at once into one registry: every stamp recorded, database intact."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_stamp_many, args=(str(home), str(photo_png), str(tmp_path), 6, tag))
             for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    with Registry() as reg:
        rows = list(reg.iter_all())
        assert len(rows) == 12 and reg.integrity_ok()
        assert {Path(r.output_path).name for r in rows} == {f"{t}-{i}.jpg" for t in "ab" for i in range(6)}


def test_restamping_a_signed_image_warns_about_its_manifest(tmp_path, photo_png, identity, caplog):
    """Stamping an image that already has Content Credentials, without --parent, warns how to keep them."""
    first = tmp_path / "first.png"
    stamp_file(photo_png, first, identity=identity)
    with caplog.at_level("WARNING", logger="provenance"):
        stamp_file(first, tmp_path / "second.png", identity=identity)
    assert "--parent" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="provenance"):
        stamp_file(first, tmp_path / "third.png", identity=identity, parent=first)
    assert "--parent" not in caplog.text
