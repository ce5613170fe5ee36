"""Draw Things: XMP (PNG iTXt XML:com.adobe.xmp, or JPEG XMP) with xmp:CreatorTool = "Draw
Things", exif:UserComment = JSON {c: prompt, uc: negative, model, sampler, scale, seed, size "WxH",
steps, strength, seed_mode, lora/v2.loras [{file|model, weight}]} and dc:description = A1111-like
text."""
from __future__ import annotations

from typing import Any

from provenance import Lora
from provenance import LoadedImage

from ._a1111 import a1111_info
from ._model import GeneratorInfo
from ._sources import ImageSources
from ._values import clean_text, extra_fields, json_dict, parse_size, to_float, to_int


def read_draw_things(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """Draw Things's XMP UserComment JSON (or its description text)."""
    tool = clean_text(src.xmp.get("xmp:CreatorTool"), limit=200)
    if not tool or "draw things" not in tool.lower():
        return None
    comment = src.xmp.get("exif:UserComment")
    data = json_dict(comment if isinstance(comment, str) else None, where="xmp exif:UserComment", errors=src.errors)
    if data is None:
        description = src.xmp.get("dc:description")
        if isinstance(description, str):
            # Draw Things writes "prompt\n-negative\nSteps: ..."; make it A1111's "Negative prompt:".
            lines = description.split("\n")
            if len(lines) >= 3 and lines[1].startswith("-"):
                lines[1] = "Negative prompt: " + lines[1][1:]
            info = a1111_info("\n".join(lines), where="xmp:dc:description")
            if info is not None:
                info.tool, info.version = "Draw Things", None
                info.cfg = info.cfg if info.cfg is not None else to_float(info.extra.get("Guidance Scale"))
                return info
        return GeneratorInfo(tool="Draw Things", raw={"xmp": src.xmp_packet or ""})
    lora_items: list[Any] = []
    for source in (data.get("lora"), (data.get("v2") or {}).get("loras") if isinstance(data.get("v2"), dict) else None):
        if isinstance(source, list):
            lora_items.extend(source[:64])
    loras = []
    for item in lora_items:
        if isinstance(item, dict):
            name = item.get("file") or item.get("model")
            if isinstance(name, str) and name:
                loras.append(Lora(name=name[:500], weight=to_float(item.get("weight"))))
    size = parse_size(data.get("size"))
    mapped = {"c", "uc", "model", "sampler", "scale", "seed", "size", "steps", "lora", "v2", "upscaler"}
    return GeneratorInfo(
        tool="Draw Things",
        prompt=clean_text(data.get("c")), negative_prompt=clean_text(data.get("uc")),
        model=clean_text(data.get("model"), limit=500), loras=loras,
        sampler=clean_text(data.get("sampler"), limit=200),
        steps=to_int(data.get("steps")), cfg=to_float(data.get("scale")), seed=to_int(data.get("seed")),
        width=size[0] if size else None, height=size[1] if size else None,
        upscaler=clean_text(data.get("upscaler"), limit=200), source="local",
        extra=extra_fields(data, mapped), raw={"xmp:exif:UserComment": comment if isinstance(comment, str) else ""},
    )
