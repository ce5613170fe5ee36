"""Camera EXIF, XMP/IPTC DigitalSourceType and AI fields, and our own stamp read back."""
from __future__ import annotations

import io
import json

import numpy as np
import piexif
import pytest
from PIL import Image, PngImagePlugin

from detectors.metadata import read_image_metadata
from provenance import GenerationRecord, Lora, load_image, stamp_file
from provenance import decode_image

LATITUDE = ((52, 1), (31, 1), (1234, 100))


def _camera_jpeg(*, software: str = "Ver.1.00", modified: str | None = None) -> bytes:
    """A JPEG with the EXIF a camera writes (piexif): body, lens, capture time, GPS."""
    zeroth = {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS R5",
              piexif.ImageIFD.Software: software.encode()}
    if modified:
        zeroth[piexif.ImageIFD.DateTime] = modified.encode()
    exif = {piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:20:30",
            piexif.ExifIFD.LensModel: b"RF24-105mm F4 L IS USM",
            piexif.ExifIFD.LensMake: b"Canon", piexif.ExifIFD.OffsetTimeOriginal: b"+02:00"}
    gps = {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: LATITUDE,
           piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((13, 1), (24, 1), (5678, 100))}
    raw = piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps})
    buf = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(buf, "JPEG", exif=raw, quality=90)
    return buf.getvalue()


def test_camera_exif_summary():
    """Make, model, lens, capture time and GPS presence are read; the photo is not flagged as edited."""
    evidence = read_image_metadata(decode_image(_camera_jpeg(modified="2024:05:01 10:20:30")))
    exif = evidence.exif
    assert (exif["make"], exif["model"], exif["lens"], exif["lens_make"]) == ("Canon", "Canon EOS R5",
                                                                              "RF24-105mm F4 L IS USM", "Canon")
    assert (exif["capture_time"], exif["capture_time_offset"]) == ("2024:05:01 10:20:30", "+02:00")
    assert exif["gps_present"] is True and exif["camera"] is True
    assert exif["edited"] is False and "edits" not in exif
    assert evidence.generator is None and evidence.errors == []


def test_gps_coordinates_never_reach_the_summary():
    """The evidence JSON says GPS is present but carries no coordinate values."""
    evidence = read_image_metadata(decode_image(_camera_jpeg()))
    assert evidence.exif["gps_present"] is True
    assert [k for k in evidence.exif if "gps" in k.lower()] == ["gps_present"]
    text = json.dumps(evidence.to_dict(raw=True))
    assert "GPS" not in text and "1234" not in text and "5678" not in text


@pytest.mark.parametrize("software,modified,reasons", [
    pytest.param("Adobe Photoshop 25.0 (Windows)", None, ["Software names an editor"], id="editor-software"),
    pytest.param("Ver.1.00", "2024:06:11 08:00:00", ["modified 2024:06:11 08:00:00 after capture"], id="modify-date"),
    pytest.param("GIMP 2.10.36", "2024:06:11 08:00:00", ["Software names an editor", "modified"], id="both"),
])
def test_signs_of_editing(software, modified, reasons):
    """An editor in Software, or a ModifyDate other than DateTimeOriginal, marks the file as edited."""
    exif = read_image_metadata(decode_image(_camera_jpeg(software=software, modified=modified))).exif
    assert exif["edited"] is True
    assert len(exif["edits"]) == len(reasons)
    for edit, reason in zip(exif["edits"], reasons):
        assert edit.startswith(reason)


def _xmp(body: str, attrs: str = "") -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" {attrs}>'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>"
    )


IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@pytest.mark.parametrize("xmp,code,ai", [
    pytest.param(_xmp(f"<Iptc4xmpExt:DigitalSourceType>{IPTC}trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>"),
                 "trainedAlgorithmicMedia", True, id="element-trained"),
    pytest.param(_xmp("", f'Iptc4xmpExt:DigitalSourceType="{IPTC}compositeWithTrainedAlgorithmicMedia"'),
                 "compositeWithTrainedAlgorithmicMedia", True, id="attribute-composite"),
    pytest.param(_xmp(f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{IPTC}algorithmicMedia"/>'),
                 "algorithmicMedia", True, id="resource-algorithmic"),
    pytest.param(_xmp(f"<Iptc4xmpExt:DigitalSourceType>{IPTC}compositeSynthetic</Iptc4xmpExt:DigitalSourceType>"),
                 "compositeSynthetic", True, id="composite-synthetic"),
    pytest.param(_xmp(f"<Iptc4xmpExt:DigitalSourceType>{IPTC}digitalCapture</Iptc4xmpExt:DigitalSourceType>"),
                 "digitalCapture", False, id="digital-capture"),
])
@pytest.mark.parametrize("container", [pytest.param("jpeg", id="jpeg"), pytest.param("png", id="png")])
def test_xmp_digital_source_type(xmp, code, ai, container):
    """DigitalSourceType is read in element, attribute and resource form; the AI values are flagged."""
    buf = io.BytesIO()
    image = Image.fromarray(np.full((32, 32, 3), 90, np.uint8))
    if container == "jpeg":
        image.save(buf, "JPEG", xmp=xmp.encode())
    else:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp)
        image.save(buf, "PNG", pnginfo=info)
    evidence = read_image_metadata(decode_image(buf.getvalue()))
    assert evidence.xmp["digital_source_type"] == IPTC + code
    assert evidence.xmp["digital_source_type_code"] == code
    assert evidence.xmp["ai_generated"] is ai
    assert evidence.ai_declared is ai
    assert evidence.errors == []


def test_xmp_iptc_ai_fields_and_creator_tool():
    """The IPTC 2023.2 AI fields, CreatorTool and a lang-alternative description are read."""
    xmp = _xmp(
        "<Iptc4xmpExt:AISystemUsed>Midjourney</Iptc4xmpExt:AISystemUsed>"
        "<Iptc4xmpExt:AISystemVersionUsed>6.1</Iptc4xmpExt:AISystemVersionUsed>"
        "<Iptc4xmpExt:AIPromptInformation>a quiet harbour at dawn</Iptc4xmpExt:AIPromptInformation>"
        "<xmp:CreatorTool>Adobe Photoshop 25.0</xmp:CreatorTool>"
        '<dc:description><rdf:Alt><rdf:li xml:lang="de">Hafen</rdf:li>'
        '<rdf:li xml:lang="x-default">Harbour</rdf:li></rdf:Alt></dc:description>'
    )
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(buf, "JPEG", xmp=xmp.encode())
    evidence = read_image_metadata(decode_image(buf.getvalue()))
    x = evidence.xmp
    assert (x["ai_system_used"], x["ai_system_version_used"], x["ai_prompt_information"]) == (
        "Midjourney", "6.1", "a quiet harbour at dawn")
    assert (x["creator_tool"], x["description"], x["edited"]) == ("Adobe Photoshop 25.0", "Harbour", True)
    assert "digital_source_type" not in x


@pytest.mark.parametrize("suffix", [pytest.param(".png", id="png"), pytest.param(".jpg", id="jpeg")])
def test_our_stamp_reads_back_as_provenance(tmp_path, photo_png, identity, suffix):
    """A file stamped by provenance reads back as tool "provenance" with its generation record."""
    record = GenerationRecord(generator="diffusers", prompt="a lighthouse at dusk", negative_prompt="blurry",
                              model="sdxl-base-1.0", model_hash="ab" * 32, steps=30, guidance=5.5, seed=1234,
                              width=512, height=512, scheduler="EulerDiscreteScheduler",
                              loras=[Lora(name="film-grain", weight=0.6, hash="cd" * 32)], source="local")
    out = tmp_path / f"stamped{suffix}"
    result = stamp_file(photo_png, out, identity=identity, record=record)
    evidence = read_image_metadata(load_image(out))
    info = evidence.generator
    assert info is not None and info.tool == "provenance"
    assert (info.prompt, info.negative_prompt, info.model, info.model_hash) == (
        "a lighthouse at dusk", "blurry", "sdxl-base-1.0", "ab" * 32)
    assert (info.steps, info.cfg, info.seed, info.width, info.height, info.sampler, info.source) == (
        30, 5.5, 1234, 512, 512, "EulerDiscreteScheduler", "local")
    assert [(lo.name, lo.weight, lo.hash) for lo in info.loras] == [("film-grain", 0.6, "cd" * 32)]
    assert info.extra["content_id"] == result.content_id and info.extra["generator"] == "diffusers"
    assert evidence.xmp["ai_generated"] is True and evidence.xmp["content_id"] == result.content_id
    assert evidence.exif["software"].startswith("provenance/")
    assert evidence.exif["edited"] is False
    assert [e for e in evidence.errors if "internal error" in e] == []
