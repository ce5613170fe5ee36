"""``stamp --from-metadata``: the generation record read from the image's own generator metadata
(A1111, ComfyUI, InvokeAI, Fooocus), flags over it, the source's metadata kept, and the C2PA
record and XMP saying the same."""
from __future__ import annotations

import io
import json

import piexif
import piexif.helper
import pytest
from PIL import Image

from support.generator_files import TOOL_FILES, png_with_text, write_tool_png
from support.read_back import read_metadata
from support import natural_image, run_cli
from detectors.metadata._xmp import parse_xmp
from provenance import GenerationRecord, decode_image, read_manifest
from provenance._c2pa import GENERATION_ASSERTION
from provenance._record_from_metadata import overlay, record_from_generator, record_from_metadata, split_hash


@pytest.mark.parametrize("name", list(TOOL_FILES))
def test_record_from_each_tools_metadata(name):
    """Each tool's file gives its tool, prompt, seed and every checkpoint with its role, plus
    where the record was read (metadata_source)."""
    spec = TOOL_FILES[name]
    record = record_from_metadata(decode_image(png_with_text(spec.text)))
    assert record is not None
    assert (record.generator, record.prompt, record.seed) == (spec.tool, spec.prompt, spec.seed)
    assert [(c.name, c.role) for c in record.checkpoints] == spec.checkpoints
    assert record.model == spec.checkpoints[0][0]
    for key, value in spec.extra_checks.items():
        assert getattr(record, key) == value, key
    assert record.extra["metadata_source"] and record.source == "local"


def test_record_keeps_loras_and_controlnets_with_their_hashes():
    """A1111 LoRA short hashes, ControlNet units and the refiner's short hash land in the record's fields."""
    record = record_from_metadata(decode_image(png_with_text(TOOL_FILES["a1111-refiner-controlnet"].text)))
    assert [(c.name, c.role, c.short_hash) for c in record.checkpoints] == [
        ("sd_xl_base_1.0", "base", "31e35c80fc"), ("sd_xl_refiner_1.0", "refiner", "7440042bbd")]
    assert [(cn.name, cn.short_hash if hasattr(cn, "short_hash") else cn.hash, cn.preprocessor, cn.weight)
            for cn in record.controlnets] == [("diffusers_xl_canny_full", "2b69fca4", "canny", 0.9),
                                              ("t2i-adapter_diffusers_xl_depth_midas", "9c183166", None, 0.5)]
    a1111 = record_from_metadata(decode_image(png_with_text(TOOL_FILES["a1111"].text)))
    assert [(lo.name, lo.weight, lo.hash, lo.short_hash) for lo in a1111.loras] == [
        ("detailTweaker", 0.8, None, "5b0e4a9b4d29")]


@pytest.mark.parametrize("value,expected", [
    pytest.param("ab" * 32, ("ab" * 32, None), id="sha256"),
    pytest.param("sha256:" + "AB" * 32, ("ab" * 32, None), id="sha256-prefixed"),
    pytest.param("0x" + "cd" * 32, ("cd" * 32, None), id="swarmui-0x"),
    pytest.param("6ce0161689", (None, "6ce0161689"), id="a1111-10"),
    pytest.param("5b0e4a9b4d29", (None, "5b0e4a9b4d29"), id="lora-12"),
    pytest.param("blake3:abcdef0123", ("blake3:abcdef0123", None), id="invokeai-blake3"),
    pytest.param("", (None, None), id="empty"),
    pytest.param(None, (None, None), id="none"),
])
def test_split_hash(value, expected):
    """A tool's hash is a sha256, A1111's short hash, or kept as written with its algorithm prefix."""
    assert split_hash(value) == expected


def test_no_generator_gives_an_empty_record_and_our_own_stamp_names_its_tool():
    """None reads as an empty record; our own stamp read back names the tool it recorded, not
    "provenance", and drops the old stamp's content id."""
    assert record_from_generator(None).to_dict() == {}
    record = record_from_generator({"tool": "provenance", "seed": 3, "extra": {"generator": "ComfyUI",
                                                                               "content_id": "0" * 16},
                                    "found_in": ["exif:UserComment"]})
    assert record.generator == "ComfyUI" and record.seed == 3 and "content_id" not in record.extra


def test_overlay_flags_win_and_extra_merges():
    """Fields the flags set replace the metadata's; extra is merged key by key."""
    base = GenerationRecord(model="a", seed=1, extra={"metadata_source": ["png:prompt"], "k": 1})
    top = GenerationRecord(seed=9, extra={"k": 2})
    merged = overlay(base, top)
    assert (merged.model, merged.seed) == ("a", 9)
    assert merged.extra == {"metadata_source": ["png:prompt"], "k": 2}


# --- stamp --from-metadata, end to end --------------------------------------------------------------


def _stamp(capsys, tmp_path, src, *flags, out_name="out.png"):
    out = tmp_path / out_name
    code, stdout, err = run_cli(capsys, "stamp", str(src), "-o", str(out), "--from-metadata", "--json", *flags)
    assert code == 0, err
    return out, json.loads(stdout), err


@pytest.mark.parametrize("name", ["a1111", "comfyui-base-refiner", "invokeai-5-refiner", "fooocus"])
def test_stamp_from_metadata_end_to_end(name, tmp_path, capsys, identity):
    """The signed record names the tool, prompt, seed and every checkpoint; every text chunk of
    the source is kept byte for byte; the XMP says the same seed and checkpoints."""
    src = tmp_path / "src.png"
    spec = write_tool_png(src, name)
    out, result, _err = _stamp(capsys, tmp_path, src)
    data = out.read_bytes()
    report = read_manifest(data, trust_anchors_pem=identity.anchors_pem)
    assert report.state == "Trusted", report.failures
    generation = report.assertion(GENERATION_ASSERTION)
    assert (generation["generator"], generation["prompt"], generation["seed"]) == (spec.tool, spec.prompt, spec.seed)
    assert [(c["name"], c["role"]) for c in generation["checkpoints"]] == spec.checkpoints
    assert generation["source_sha256"] == result["source_sha256"]
    text = read_metadata(data)["text"]
    for key, value in spec.text.items():
        assert text[key] == value, f"{key} not kept"
    assert "parameters" in text  # the source's own, or our A1111 rendering where it had none
    xmp = parse_xmp(read_metadata(data)["xmp"], errors=[])
    assert xmp["provenance:Seed"] == str(spec.seed) and xmp["provenance:Generator"] == spec.tool
    assert [json.loads(item)["name"] for item in xmp["provenance:Checkpoints"]] == [n for n, _ in spec.checkpoints]
    assert xmp["Iptc4xmpExt:AIPromptInformation"] == spec.prompt


def test_flags_override_the_metadata(tmp_path, capsys, identity):
    """--seed, --model and --params fields replace what the metadata says; the rest stays."""
    src = tmp_path / "src.png"
    write_tool_png(src, "comfyui-base-refiner")
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"steps": 40, "extra": {"note": "hi"}}))
    out, _result, _err = _stamp(capsys, tmp_path, src, "--seed", "5", "--model", "mine.safetensors",
                                "--params", str(params))
    generation = read_manifest(out.read_bytes(), trust_anchors_pem=identity.anchors_pem).assertion(GENERATION_ASSERTION)
    assert (generation["seed"], generation["model"], generation["steps"]) == (5, "mine.safetensors", 40)
    assert generation["generator"] == "ComfyUI" and generation["extra"]["note"] == "hi"
    assert generation["extra"]["metadata_source"] == ["png:prompt", "png:workflow"]


def test_without_from_metadata_nothing_is_read(tmp_path, capsys, identity):
    """Plain stamp keeps its old behaviour: the record is the flags' alone (the chunks are still kept)."""
    src = tmp_path / "src.png"
    write_tool_png(src, "comfyui-base-refiner")
    out = tmp_path / "out.png"
    code, _o, err = run_cli(capsys, "stamp", str(src), "-o", str(out), "--seed", "3")
    assert code == 0, err
    generation = read_manifest(out.read_bytes(), trust_anchors_pem=identity.anchors_pem).assertion(GENERATION_ASSERTION)
    assert generation["seed"] == 3 and "generator" not in generation and "checkpoints" not in generation


def test_file_without_generator_metadata_is_stamped_with_a_warning(tmp_path, capsys, caplog, identity):
    """No generator metadata: stamped with the flags' record, and a warning says so."""
    src = tmp_path / "photo.png"
    Image.fromarray(natural_image(256, 256)).save(src)
    out, _result, _err = _stamp(capsys, tmp_path, src, "--generator", "Fooocus")
    assert "no generator metadata" in caplog.text
    generation = read_manifest(out.read_bytes(), trust_anchors_pem=identity.anchors_pem).assertion(GENERATION_ASSERTION)
    assert generation["generator"] == "Fooocus" and "metadata_source" not in generation.get("extra", {})


def _jpeg(exif) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(natural_image(256, 256)).save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def test_jpeg_keeps_the_tools_user_comment(tmp_path, capsys, identity):
    """A1111's JPEG: its parameters in EXIF UserComment stay there (A1111 reads them back), the
    record comes from them, and our XMP and C2PA carry it."""
    text = TOOL_FILES["a1111"].text["parameters"]
    exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(text, encoding="unicode")}})
    src = tmp_path / "a1111.jpg"
    src.write_bytes(_jpeg(exif))
    out, _result, _err = _stamp(capsys, tmp_path, src, out_name="out.jpg")
    data = out.read_bytes()
    assert read_metadata(data)["exif"]["UserComment"] == text
    generation = read_manifest(data, trust_anchors_pem=identity.anchors_pem).assertion(GENERATION_ASSERTION)
    assert generation["seed"] == 965400086 and generation["generator"] == "AUTOMATIC1111"
    assert parse_xmp(read_metadata(data)["xmp"], errors=[])["provenance:Seed"] == "965400086"


def test_fooocus_jpeg_keeps_user_comment_and_maker_note(tmp_path, capsys, identity):
    """Fooocus' JPEG (Pillow Exif in IFD0: UserComment = its JSON, MakerNote = its scheme) keeps
    both, in the Exif IFD (piexif writes no IFD0 UserComment), where our reader finds them."""
    from support.metadata_samples import fooocus_exif

    src = tmp_path / "fooocus.jpg"
    src.write_bytes(_jpeg(fooocus_exif()))
    out, _result, _err = _stamp(capsys, tmp_path, src, out_name="out.jpg")
    exif = piexif.load(out.read_bytes())["Exif"]
    assert json.loads(piexif.helper.UserComment.load(exif[piexif.ExifIFD.UserComment]))["seed"] == "1234567890"
    assert exif[piexif.ExifIFD.MakerNote] == b"fooocus"
    generation = read_manifest(out.read_bytes(), trust_anchors_pem=identity.anchors_pem).assertion(GENERATION_ASSERTION)
    assert generation["generator"] == "Fooocus" and generation["seed"] == 1234567890
