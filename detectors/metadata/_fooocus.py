"""Fooocus: lllyasviel/Fooocus modules/meta_parser.py: PNG ``parameters`` = JSON
(FooocusMetadataParser: prompt, negative_prompt, full_prompt, base_model, base_model_hash, loras
[[name, weight, hash]], sampler, scheduler, steps, guidance_scale, seed, resolution "(w, h)",
version "Fooocus v2.x") and ``fooocus_scheme`` = "fooocus"; JPEG/WebP: EXIF 0x9286 UserComment =
the JSON, 0x927C MakerNote = the scheme, 0x0131 Software = "Fooocus v...". (Its "a1111" scheme
is read by the A1111 parser.)"""
from __future__ import annotations

from typing import Any

from provenance import Lora
from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import MAKER_NOTE, ImageSources
from ._values import clean_text, extra_fields, json_dict, parse_size, to_float, to_int


def _looks_fooocus(data: dict[str, Any]) -> bool:
    version = data.get("version")
    return (isinstance(version, str) and version.lower().startswith("fooocus")) or (
        "base_model" in data and ("guidance_scale" in data or "sharpness" in data))


def read_fooocus(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """Fooocus's JSON scheme (its "a1111" scheme is read by the A1111 parser)."""
    candidates = [("png:parameters", src.text.get("parameters"), src.text.get("fooocus_scheme")),
                  ("png:fooocus", src.text.get("fooocus"), "fooocus"),
                  ("exif:UserComment", src.user_comment, clean_text(src.exif_value(MAKER_NOTE), limit=40))]
    for where, text, scheme in candidates:
        data = json_dict(text, where=where, errors=src.errors)
        if data is None or "sui_image_params" in data:
            continue
        if scheme != "fooocus" and not _looks_fooocus(data):
            continue
        loras = []
        for item in data.get("loras") if isinstance(data.get("loras"), list) else []:
            if isinstance(item, list) and item and isinstance(item[0], str):
                loras.append(Lora(name=item[0][:500], weight=to_float(item[1]) if len(item) > 1 else None,
                                  hash=clean_text(item[2], limit=128) if len(item) > 2 else None))
        if not loras:
            for key in sorted(k for k in data if isinstance(k, str) and k.startswith("lora_combined_"))[:16]:
                name, _, weight = str(data[key]).partition(" : ")
                if name and name != "None":
                    loras.append(Lora(name=name.strip()[:500], weight=to_float(weight)))
        size = parse_size(data.get("resolution"))
        prompt = clean_text(data.get("prompt"))
        if not prompt and isinstance(data.get("full_prompt"), list):
            prompt = clean_text(", ".join(p for p in data["full_prompt"][:64] if isinstance(p, str)))
        mapped = {"prompt", "negative_prompt", "base_model", "base_model_hash", "loras", "sampler", "scheduler",
                  "steps", "guidance_scale", "seed", "resolution", "version", "full_prompt", "full_negative_prompt"}
        model = clean_text(data.get("base_model"), limit=500)
        model_hash = clean_text(data.get("base_model_hash"), limit=128)
        checkpoints = []
        refiner = clean_text(data.get("refiner_model"), limit=500)
        if model and refiner and refiner != "None":  # set_data() writes it only when a refiner ran
            refiner_hash = clean_text(data.get("refiner_model_hash"), limit=128)
            checkpoints = [{"name": model, "role": "base", **({"hash": model_hash} if model_hash else {})},
                           {"name": refiner, "role": "refiner", **({"hash": refiner_hash} if refiner_hash else {})}]
            mapped |= {"refiner_model", "refiner_model_hash"}
        return GeneratorInfo(
            tool="Fooocus",
            prompt=prompt, negative_prompt=clean_text(data.get("negative_prompt")),
            model=model, model_hash=model_hash, loras=loras, checkpoints=checkpoints,
            sampler=clean_text(data.get("sampler"), limit=200), scheduler=clean_text(data.get("scheduler"), limit=200),
            steps=to_int(data.get("steps")), cfg=to_float(data.get("guidance_scale")), seed=to_int(data.get("seed")),
            width=size[0] if size else None, height=size[1] if size else None,
            version=clean_text(data.get("version"), limit=100), source="local",
            extra=extra_fields(data, mapped), raw={where: text or ""},
        )
    return None
