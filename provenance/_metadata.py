"""Write the metadata a stamped image carries outside C2PA (``detectors.metadata`` reads it).

- EXIF (piexif): Software, ImageDescription, DateTime, and UserComment holding the generation
  record as JSON.
- XMP: ``Iptc4xmpExt:DigitalSourceType`` = trainedAlgorithmicMedia plus the IPTC 2023.2 AI fields
  (AISystemUsed, AISystemVersionUsed, AIPromptInformation), ``xmp:CreatorTool`` and our content id.
- PNG: an AUTOMATIC1111-style ``parameters`` text chunk so SD tools show prompt and settings.

Encoding choices are deliberate (see docs/BENCHMARKS.md): PNG through ``_png`` (OpenCV, zlib level 1
with the RLE strategy: ~6x faster than Pillow's default and about as small), JPEG and WebP at
quality 95 unless asked, WebP at libwebp effort 0.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from xml.sax.saxutils import escape

import numpy as np
import piexif
import piexif.helper
from PIL import Image

from ._png import encode_png
from ._record import GenerationRecord, a1111_parameters

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP_PNG_KEY = "XML:com.adobe.xmp"
DEFAULT_QUALITY = 95
#: libwebp effort 0-6: Pillow's default 4 takes ~3x as long as 0 (133 vs 42 ms at 1024x1024) for no smaller files.
WEBP_METHOD = 0
#: PNG text keys we write; a source image's own chunks with these keys are replaced, others kept.
OUR_PNG_KEYS = ("parameters", XMP_PNG_KEY, "provenance:content_id")


#: EXIF tags in which generators write their settings to JPEG and WebP files (A1111 and Forge:
#: UserComment = their ``parameters`` text; Fooocus: UserComment = its JSON, MakerNote = the scheme).
GENERATOR_EXIF_TAGS = (piexif.ExifIFD.UserComment, piexif.ExifIFD.MakerNote)


def generator_exif_tags(data: bytes) -> dict[int, bytes]:
    """The generator's own EXIF tags of a JPEG or WebP file, as Exif-IFD values to carry into its
    stamped copy. A1111 and Forge write them in the Exif IFD (kept byte for byte); Fooocus'
    Pillow writer puts them in IFD0, where piexif cannot write them: they move to the Exif IFD,
    where EXIF defines them (our reader, exiftool and A1111 read them there; Fooocus' own
    reader looks in IFD0 only). Our own stamp's UserComment (re-stamping a stamped file) is not
    carried: the new stamp writes its own."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            exif = img.getexif()
            exif_ifd = dict(exif.get_ifd(0x8769))
            ifd0 = dict(exif)
    except Exception:  # no EXIF, or EXIF Pillow cannot read: nothing to carry
        return {}
    out = {}
    for tag in GENERATOR_EXIF_TAGS:
        value = exif_ifd.get(tag, ifd0.get(tag))
        if isinstance(value, str) and value:
            value = piexif.helper.UserComment.dump(value, encoding="unicode") if tag == piexif.ExifIFD.UserComment \
                else value.encode("utf-8")
        if isinstance(value, bytes) and value:
            out[tag] = value
    comment = out.get(piexif.ExifIFD.UserComment)
    if comment is not None:
        try:
            ours = json.loads(piexif.helper.UserComment.load(comment))
        except (ValueError, UnicodeDecodeError):
            ours = None
        if isinstance(ours, dict) and "content_id" in ours and "generation" in ours:
            del out[piexif.ExifIFD.UserComment]
    return out


def build_exif(record: GenerationRecord, *, software: str, content_id: str, when: dt.datetime,
               carry: dict[int, bytes] | None = None) -> bytes:
    """Our EXIF. ``carry``: the source generator's own Exif-IFD tags (:func:`generator_exif_tags`),
    kept as they were; a carried UserComment takes the place of ours (the record is then in XMP and
    the C2PA manifest), so the tool that wrote it still reads its settings back."""
    description = (record.prompt or "AI-generated image")[:2000]
    zeroth = {
        piexif.ImageIFD.Software: software.encode(),
        piexif.ImageIFD.ImageDescription: description.encode("utf-8"),
        piexif.ImageIFD.DateTime: when.strftime("%Y:%m:%d %H:%M:%S").encode(),
    }
    comment = json.dumps({"content_id": content_id, "generation": record.to_dict()}, ensure_ascii=False)
    exif = {
        piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(comment, encoding="unicode"),
        piexif.ExifIFD.DateTimeOriginal: when.strftime("%Y:%m:%d %H:%M:%S").encode(),
        **(carry or {}),
    }
    return piexif.dump({"0th": zeroth, "Exif": exif})


def build_xmp(record: GenerationRecord, *, software: str, content_id: str, when: dt.datetime) -> str:
    ai_system = escape(record.model or record.generator or "unknown")
    fields = [
        f"<Iptc4xmpExt:DigitalSourceType>{TRAINED_ALGORITHMIC_MEDIA}</Iptc4xmpExt:DigitalSourceType>",
        f"<Iptc4xmpExt:AISystemUsed>{ai_system}</Iptc4xmpExt:AISystemUsed>",
        f"<xmp:CreatorTool>{escape(software)}</xmp:CreatorTool>",
        f"<xmp:CreateDate>{when.isoformat(timespec='seconds')}</xmp:CreateDate>",
        f"<provenance:ContentId>{content_id}</provenance:ContentId>",
    ]
    version = record.generator_version or record.diffusers_version
    if version:
        fields.append(f"<Iptc4xmpExt:AISystemVersionUsed>{escape(version)}</Iptc4xmpExt:AISystemVersionUsed>")
    if record.prompt:
        fields.append(f"<Iptc4xmpExt:AIPromptInformation>{escape(record.prompt)}</Iptc4xmpExt:AIPromptInformation>")
    fields += _generation_fields(record)
    body = "\n    ".join(fields)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:provenance="https://github.com/provenance-tool/ns/1.0/">\n'
        f"    {body}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


#: Settings of the record that XMP carries in our namespace beside the IPTC AI fields (record
#: attribute, XMP property), so a reader of XMP alone sees what the C2PA record says.
XMP_SETTINGS = (
    ("generator", "Generator"), ("negative_prompt", "NegativePrompt"), ("model_hash", "ModelHash"),
    ("sampler", "Sampler"), ("scheduler", "Scheduler"), ("steps", "Steps"), ("guidance", "Guidance"),
    ("seed", "Seed"), ("upscaler", "Upscaler"),
)
#: Lists of the record written as rdf:Seq, one compact JSON object per item (the record's own form).
XMP_LISTS = (("checkpoints", "Checkpoints"), ("loras", "Loras"), ("controlnets", "ControlNets"))


def _generation_fields(record: GenerationRecord) -> list[str]:
    out = []
    for attr, name in XMP_SETTINGS:
        value = getattr(record, attr)
        if value is not None:
            text = f"{value:g}" if isinstance(value, float) else str(value)
            out.append(f"<provenance:{name}>{escape(text)}</provenance:{name}>")
    d = record.to_dict()
    for attr, name in XMP_LISTS:
        if d.get(attr):
            items = "".join(f"<rdf:li>{escape(json.dumps(item, ensure_ascii=False, sort_keys=True))}</rdf:li>"
                            for item in d[attr])
            out.append(f"<provenance:{name}><rdf:Seq>{items}</rdf:Seq></provenance:{name}>")
    return out


def encode_image(rgb: np.ndarray, fmt: str, *, alpha: np.ndarray | None = None, exif: bytes | None = None,
                 xmp: str | None = None, text: dict[str, str] | None = None, icc_profile: bytes | None = None,
                 quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode pixels plus metadata to PNG, JPEG or WebP bytes."""
    if fmt == "PNG":
        chunks = dict(text or {})
        if xmp:
            chunks[XMP_PNG_KEY] = xmp
        return encode_png(rgb, alpha=alpha, text=chunks, exif=exif, icc_profile=icc_profile)
    img = Image.fromarray(rgb, "RGB")
    if alpha is not None and fmt == "WEBP":
        img.putalpha(Image.fromarray(alpha, "L"))
    buf = io.BytesIO()
    kwargs: dict = {"quality": quality, "xmp": xmp.encode() if xmp else b""}
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    if exif:
        kwargs["exif"] = exif
    if fmt == "JPEG":
        img.save(buf, "JPEG", **kwargs)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", method=WEBP_METHOD, **kwargs)
    else:
        raise ValueError(f"cannot write {fmt}")
    return buf.getvalue()


def stamp_metadata(record: GenerationRecord, *, software: str, content_id: str, fmt: str,
                   when: dt.datetime | None = None, carry_exif: dict[int, bytes] | None = None) -> dict:
    """The keyword arguments for :func:`encode_image` that carry our metadata."""
    when = when or dt.datetime.now(dt.timezone.utc)
    meta = {
        "exif": build_exif(record, software=software, content_id=content_id, when=when, carry=carry_exif),
        "xmp": build_xmp(record, software=software, content_id=content_id, when=when),
        "text": {},
    }
    if fmt == "PNG":
        meta["text"] = {"parameters": a1111_parameters(record), "provenance:content_id": content_id}
    return meta
