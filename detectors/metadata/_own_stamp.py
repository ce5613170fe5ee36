"""This tool's own stamp: provenance/_metadata.py writes EXIF UserComment = {"content_id",
"generation": record} and XMP with provenance:ContentId plus the IPTC AI fields."""
from __future__ import annotations

from provenance import Lora
from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import ImageSources
from ._values import clean_text, extra_fields, json_dict, to_float, to_int


def read_provenance(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """Our stamp: the generation record from EXIF UserComment, else the XMP fields it also wrote."""
    comment = json_dict(src.user_comment, where="exif:UserComment", errors=src.errors)
    if comment and isinstance(comment.get("content_id"), str) and isinstance(comment.get("generation"), dict):
        record = comment["generation"]
        size = (to_int(record.get("width")), to_int(record.get("height")))
        loras = []
        record_loras = record.get("loras")
        for item in record_loras[:64] if isinstance(record_loras, list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                loras.append(Lora(name=item["name"][:500], weight=to_float(item.get("weight")),
                                  hash=clean_text(item.get("hash") or item.get("short_hash"), limit=128)))
        mapped = {"prompt", "negative_prompt", "model", "model_hash", "model_short_hash", "loras", "scheduler",
                  "steps", "guidance", "seed", "width", "height", "upscaler", "generator_version", "source",
                  "sampler", "checkpoints", "controlnets"}
        # Records with a sampler name it apart from the schedule; older ones (and diffusers')
        # name only the scheduler, which is what they sampled with.
        sampler = clean_text(record.get("sampler"), limit=200)
        scheduler = clean_text(record.get("scheduler"), limit=200)
        if sampler is None:
            sampler, scheduler = scheduler, None
        checkpoints = []
        for item in record.get("checkpoints")[:16] if isinstance(record.get("checkpoints"), list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                digest = clean_text(item.get("hash") or item.get("short_hash"), limit=128)
                checkpoints.append({"name": item["name"][:500], "role": clean_text(item.get("role"), limit=40) or "base",
                                    **({"hash": digest} if digest else {})})
        controlnets = []
        for item in record.get("controlnets")[:16] if isinstance(record.get("controlnets"), list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                unit = {"name": item["name"][:500]}
                for key in ("weight", "start", "end"):
                    if to_float(item.get(key)) is not None:
                        unit[key] = to_float(item.get(key))
                for key in ("hash", "preprocessor"):
                    if clean_text(item.get(key), limit=200):
                        unit[key] = clean_text(item.get(key), limit=200)
                controlnets.append(unit)
        extra = extra_fields(record, mapped)
        extra["content_id"] = comment["content_id"][:64]
        return GeneratorInfo(
            tool="provenance",
            prompt=clean_text(record.get("prompt")),
            negative_prompt=clean_text(record.get("negative_prompt")),
            model=clean_text(record.get("model"), limit=500),
            model_hash=clean_text(record.get("model_hash") or record.get("model_short_hash"), limit=128),
            loras=loras,
            sampler=sampler, scheduler=scheduler, checkpoints=checkpoints, controlnets=controlnets,
            steps=to_int(record.get("steps")),
            cfg=to_float(record.get("guidance")),
            seed=to_int(record.get("seed")),
            width=size[0], height=size[1],
            upscaler=clean_text(record.get("upscaler"), limit=200),
            version=clean_text(record.get("generator_version"), limit=200),
            source=record.get("source") if record.get("source") in ("local", "api") else None,
            extra=extra,
            raw={"exif:UserComment": src.user_comment or ""},
        )
    content_id = clean_text(src.xmp.get("provenance:ContentId"), limit=64)
    if content_id:
        return GeneratorInfo(
            tool="provenance",
            prompt=clean_text(src.xmp.get("Iptc4xmpExt:AIPromptInformation")),
            model=clean_text(src.xmp.get("Iptc4xmpExt:AISystemUsed"), limit=500),
            version=clean_text(src.xmp.get("Iptc4xmpExt:AISystemVersionUsed"), limit=200),
            extra={"content_id": content_id},
            raw={"xmp": src.xmp_packet or ""},
        )
    return None
