"""Normalised summaries of camera EXIF and of XMP/IPTC: who made the file, with what, and how edited."""
from __future__ import annotations

import re
from typing import Any

from ._sources import EXIF_IFD, GPS_IFD, ImageSources
from ._values import clean_text

#: IPTC digital source types that mean the pixels were made (wholly or partly) by an algorithm.
AI_SOURCE_TYPES = frozenset({
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "compositeSynthetic",
    "algorithmicMedia",
})

#: Software names that mean the file went through an editor after capture.
EDITORS = re.compile(
    r"photoshop|lightroom|gimp|affinity|pixelmator|snapseed|capture one|darktable|rawtherapee|paint\.net|"
    r"photopea|canva|luminar|acdsee|picasa|facetune|polarr|vsco|picsart|fotor|photoscape|krita|"
    r"camera raw|photo ?director|aftershot",
    re.IGNORECASE,
)

_IFD0_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x0132: "DateTime", 0x013B: "Artist",
              0x010E: "ImageDescription", 0x013C: "HostComputer", 0x8298: "Copyright"}
_EXIF_TAGS = {0x9003: "DateTimeOriginal", 0x9004: "DateTimeDigitized", 0xA433: "LensMake", 0xA434: "LensModel",
              0x9010: "OffsetTime", 0x9011: "OffsetTimeOriginal", 0x829A: "ExposureTime", 0x829D: "FNumber",
              0x8827: "ISOSpeedRatings", 0x920A: "FocalLength", 0x9286: "UserComment", 0x927C: "MakerNote"}


def _tag_text(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray)):
        return clean_text(value, limit=2000)
    if isinstance(value, (tuple, list)):
        return clean_text(" ".join(str(v) for v in value[:16]), limit=2000)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return clean_text(value, limit=2000)
    try:  # IFDRational and friends
        return clean_text(str(float(value)), limit=64)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _is_generator_payload(text: str | None) -> bool:
    """ComfyUI's WebP/JPEG writer stores "prompt:{...}" / "workflow:{...}" in Make/Model."""
    return bool(text) and (text.startswith(("prompt:", "workflow:")) or text.lstrip().startswith("{"))


def exif_tags(src: ImageSources) -> dict[str, Any]:
    """Readable EXIF tags by name (GPS reduced to which tags are present)."""
    out: dict[str, Any] = {}
    for tags, ifd in ((_IFD0_TAGS, src.exif_ifd0), (_EXIF_TAGS, src.exif_ifd)):
        for tag, name in tags.items():
            if tag in ifd and tag not in (EXIF_IFD, GPS_IFD):
                text = src.user_comment if tag == 0x9286 else _tag_text(ifd[tag])
                if text is not None:
                    out[name] = text
    if src.gps_ifd:
        out["GPSTags"] = sorted(int(t) for t in src.gps_ifd)[:64]
    return out


def summarize_exif(src: ImageSources) -> dict[str, Any]:
    """make, model, lens, capture time, software, GPS present, and signs of editing."""
    ifd0, exif = src.exif_ifd0, src.exif_ifd
    if not ifd0 and not exif and not src.gps_ifd:
        return {}
    out: dict[str, Any] = {}
    make, model = _tag_text(ifd0.get(0x010F)), _tag_text(ifd0.get(0x0110))
    if make and not _is_generator_payload(make):
        out["make"] = make[:200]
    if model and not _is_generator_payload(model):
        out["model"] = model[:200]
    lens = _tag_text(exif.get(0xA434))
    lens_make = _tag_text(exif.get(0xA433))
    if lens:
        out["lens"] = lens[:200]
    if lens_make:
        out["lens_make"] = lens_make[:200]
    captured = _tag_text(exif.get(0x9003)) or _tag_text(exif.get(0x9004))
    modified = _tag_text(ifd0.get(0x0132))
    if captured:
        out["capture_time"] = captured[:64]
        offset = _tag_text(exif.get(0x9011))
        if offset:
            out["capture_time_offset"] = offset[:16]
    if modified:
        out["modify_time"] = modified[:64]
    software = _tag_text(ifd0.get(0x0131))
    if software:
        out["software"] = software[:200]
    # Only that GPS is there: a summary must never carry coordinates.
    out["gps_present"] = any(tag in src.gps_ifd for tag in (1, 2, 3, 4))
    edits = []
    if software and EDITORS.search(software):
        edits.append(f"Software names an editor: {software[:200]}")
    if captured and modified and captured.strip() != modified.strip():
        edits.append(f"modified {modified[:64]} after capture {captured[:64]}")
    out["edited"] = bool(edits)
    if edits:
        out["edits"] = edits
    out["camera"] = bool(out.get("make") or out.get("model")) and ("capture_time" in out or "lens" in out)
    return out


def _first(props: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = props.get(name)
        if isinstance(value, list):
            value = next((v for v in value if v), None)
        text = clean_text(value)
        if text:
            return text
    return None


def summarize_xmp(src: ImageSources) -> dict[str, Any]:
    """DigitalSourceType (flagging the AI ones), the IPTC AI fields, CreatorTool, dates, history."""
    props = src.xmp
    if not props:
        return {}
    out: dict[str, Any] = {}
    dst = _first(props, "Iptc4xmpExt:DigitalSourceType", "plus:DigitalSourceType")
    if dst:
        out["digital_source_type"] = dst
        code = dst.rstrip("/").rsplit("/", 1)[-1]
        out["digital_source_type_code"] = code
        out["ai_generated"] = code in AI_SOURCE_TYPES
    for key, name in (("ai_system_used", "Iptc4xmpExt:AISystemUsed"),
                      ("ai_system_version_used", "Iptc4xmpExt:AISystemVersionUsed"),
                      ("ai_prompt_information", "Iptc4xmpExt:AIPromptInformation"),
                      ("ai_prompt_writer_name", "Iptc4xmpExt:AIPromptWriterName"),
                      ("creator_tool", "xmp:CreatorTool"),
                      ("credit", "photoshop:Credit"),  # the IPTC Credit Line ("Made with Google AI")
                      ("create_date", "xmp:CreateDate"),
                      ("modify_date", "xmp:ModifyDate"),
                      ("description", "dc:description"),
                      ("content_id", "provenance:ContentId")):
        value = _first(props, name)
        if value:
            out[key] = value[:4000]
    history = props.get("xmpMM:History")
    if history:
        out["history_present"] = True
    tool = out.get("creator_tool")
    if tool and EDITORS.search(tool):
        out["edited"] = True
        out["edits"] = [f"CreatorTool names an editor: {tool[:200]}"]
    return out
