"""StableSwarmUI: SwarmUI docs (docs/Image Metadata Format.md): a JSON object in PNG ``parameters``
or EXIF UserComment with sui_image_params {prompt, negativeprompt, model, seed, steps, cfgscale,
width, height, sampler, scheduler, loras, loraweights, swarm_version, ...}, optional sui_extra_data
and sui_models [{name, param, hash}]."""
from __future__ import annotations

from typing import Any

from provenance import Lora
from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import ImageSources
from ._values import clean_text, extra_fields, json_dict, to_float, to_int


def _listish(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value[:64] if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    if isinstance(value, str) and value:
        return [v.strip() for v in value.split(",")[:64]]
    return []


def read_swarmui(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """StableSwarmUI's ``sui_image_params`` JSON."""
    for where, text in (("png:parameters", src.text.get("parameters")), ("exif:UserComment", src.user_comment)):
        data = json_dict(text, where=where, errors=src.errors)
        if data is None or not isinstance(data.get("sui_image_params"), dict):
            continue
        params = data["sui_image_params"]
        names, weights = _listish(params.get("loras")), _listish(params.get("loraweights"))
        hashes = {}
        for model in data.get("sui_models") if isinstance(data.get("sui_models"), list) else []:
            if isinstance(model, dict) and isinstance(model.get("name"), str) and isinstance(model.get("hash"), str):
                hashes[(model.get("param"), model["name"].rsplit(".", 1)[0])] = model["hash"][:200]
        model = clean_text(params.get("model"), limit=500)
        loras = [Lora(name=n[:500], weight=to_float(weights[i]) if i < len(weights) else None,
                      hash=next((h for (param, name), h in hashes.items() if name == n and param != "model"), None))
                 for i, n in enumerate(names) if n]
        mapped = {"prompt", "negativeprompt", "model", "seed", "steps", "cfgscale", "width", "height", "sampler",
                  "scheduler", "loras", "loraweights", "swarm_version", "refinerupscalemethod"}
        extra = extra_fields(params, mapped)
        if isinstance(data.get("sui_extra_data"), dict):
            extra.update(extra_fields(data["sui_extra_data"], set(), limit=30))
        return GeneratorInfo(
            tool="StableSwarmUI",
            prompt=clean_text(params.get("prompt")), negative_prompt=clean_text(params.get("negativeprompt")),
            model=model, model_hash=hashes.get(("model", model)) if model else None, loras=loras,
            sampler=clean_text(params.get("sampler"), limit=200),
            scheduler=clean_text(params.get("scheduler"), limit=200),
            steps=to_int(params.get("steps")), cfg=to_float(params.get("cfgscale")), seed=to_int(params.get("seed")),
            width=to_int(params.get("width")), height=to_int(params.get("height")),
            upscaler=clean_text(params.get("refinerupscalemethod"), limit=200),
            version=clean_text(params.get("swarm_version"), limit=100), source="local",
            extra=extra, raw={where: text or ""},
        )
    return None
