"""InvokeAI: invokeai_metadata (3.x+: CoreMetadata, model {model_name|name, hash}, loras
[{lora|model, weight}]), sd-metadata (2.x: {model_weights, model_hash, app_version, image: {prompt,
sampler, ...}}) and Dream (1.x/2.x: '"prompt [negative]" -s steps -S seed -W w -H h -C cfg -A sampler')."""
from __future__ import annotations

import re
from typing import Any

from provenance import Lora
from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import ImageSources
from ._values import clean_text, extra_fields, json_dict, to_float, to_int


def _split_bracketed_negative(text: str) -> tuple[str, str]:
    """InvokeAI 2.x puts negative prompt parts in [square brackets] inside the prompt."""
    positive, negative, depth, buf_neg = [], [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
            if depth == 1:
                continue
        elif ch == "]" and depth:
            depth -= 1
            if depth == 0:
                negative.append("".join(buf_neg).strip())
                buf_neg = []
                continue
        (buf_neg if depth else positive).append(ch)
    return "".join(positive).strip(" ,"), ", ".join(n for n in negative if n)


def _invoke_model(model: Any) -> tuple[str | None, str | None]:
    if isinstance(model, dict):
        return (clean_text(model.get("name") or model.get("model_name"), limit=500),
                clean_text(model.get("hash"), limit=200))
    return clean_text(model, limit=500), None


def _invokeai_metadata(text: str, src: ImageSources) -> GeneratorInfo | None:
    data = json_dict(text, where="png:invokeai_metadata", errors=src.errors)
    if data is None:
        return None
    model, model_hash = _invoke_model(data.get("model"))
    loras = []
    for item in data.get("loras") if isinstance(data.get("loras"), list) else []:
        if isinstance(item, dict):
            name, digest = _invoke_model(item.get("model") or item.get("lora"))
            if name:
                loras.append(Lora(name=name, weight=to_float(item.get("weight")), hash=digest))
    mapped = {"positive_prompt", "negative_prompt", "model", "loras", "scheduler", "steps", "cfg_scale", "seed",
              "width", "height", "app_version", "controlnets", "t2iAdapters"}
    extra = extra_fields(data, mapped)
    checkpoints = []
    refiner, refiner_hash = _invoke_model(data.get("refiner_model"))
    if model and refiner:  # CoreMetadata's SDXL refiner fields
        checkpoints = [{"name": model, "role": "base", **({"hash": model_hash} if model_hash else {})},
                       {"name": refiner, "role": "refiner", **({"hash": refiner_hash} if refiner_hash else {})}]
    controlnets = []
    for key, model_key, weight_key in (("controlnets", "control_model", "control_weight"),
                                       ("t2iAdapters", "t2i_adapter_model", "weight")):
        for item in data.get(key) if isinstance(data.get(key), list) else []:
            if not isinstance(item, dict) or len(controlnets) >= 16:
                continue
            name, digest = _invoke_model(item.get(model_key))
            if not name:
                continue
            unit: dict = {"name": name}
            for field_name, value in (("weight", to_float(item.get(weight_key))),
                                      ("hash", digest),
                                      ("start", to_float(item.get("begin_step_percent"))),
                                      ("end", to_float(item.get("end_step_percent")))):
                if value is not None:
                    unit[field_name] = value
            controlnets.append(unit)
    vae, _ = _invoke_model(data.get("vae"))
    if vae:
        extra["vae"] = vae
    return GeneratorInfo(
        tool="InvokeAI",
        prompt=clean_text(data.get("positive_prompt")),
        negative_prompt=clean_text(data.get("negative_prompt")),
        model=model, model_hash=model_hash, loras=loras, checkpoints=checkpoints, controlnets=controlnets,
        scheduler=clean_text(data.get("scheduler"), limit=200),
        steps=to_int(data.get("steps")), cfg=to_float(data.get("cfg_scale")), seed=to_int(data.get("seed")),
        width=to_int(data.get("width")), height=to_int(data.get("height")),
        version=clean_text(data.get("app_version"), limit=100), source="local",
        extra=extra, raw={"png:invokeai_metadata": text},
    )


def _sd_metadata(text: str, src: ImageSources) -> GeneratorInfo | None:
    data = json_dict(text, where="png:sd-metadata", errors=src.errors)
    if data is None:
        return None
    images = data.get("images")  # a grid: one entry per image, the first one's settings
    image = data.get("image") if isinstance(data.get("image"), dict) else \
        next((i for i in images if isinstance(i, dict)), None) if isinstance(images, list) else None
    if image is None:
        return None
    prompts = image.get("prompt")
    if isinstance(prompts, list):
        prompt_text = " ".join(p.get("prompt", "") for p in prompts[:32]
                               if isinstance(p, dict) and isinstance(p.get("prompt"), str))
    else:
        prompt_text = prompts if isinstance(prompts, str) else ""
    positive, negative = _split_bracketed_negative(prompt_text[:200_000])
    upscaler = None
    for step in image.get("postprocessing") if isinstance(image.get("postprocessing"), list) else []:
        if isinstance(step, dict) and step.get("type") in ("esrgan", "realesrgan"):
            upscaler = clean_text(step.get("type"), limit=100)
    mapped = {"prompt", "sampler", "steps", "cfg_scale", "seed", "width", "height", "postprocessing"}
    extra = extra_fields(image, mapped)
    # The weights' name: "model_weights" (2.3), "model_id" (2.0-2.2, ldm/invoke/args.py
    # metadata_dumps); "model" is always the family, "stable diffusion".
    model_key = next((k for k in ("model_weights", "model_id") if isinstance(data.get(k), str) and data[k]), None)
    extra.update(extra_fields(data, {"image", "images", "model_weights", "model_id", "model_hash", "app_version"}))
    return GeneratorInfo(
        tool="InvokeAI",
        prompt=clean_text(positive), negative_prompt=clean_text(negative),
        model=clean_text(data.get(model_key), limit=500) if model_key else None,
        model_hash=clean_text(data.get("model_hash"), limit=200),
        sampler=clean_text(image.get("sampler"), limit=200),
        steps=to_int(image.get("steps")), cfg=to_float(image.get("cfg_scale")), seed=to_int(image.get("seed")),
        width=to_int(image.get("width")), height=to_int(image.get("height")),
        upscaler=upscaler, version=clean_text(data.get("app_version"), limit=100), source="local",
        extra=extra, raw={"png:sd-metadata": text},
    )


_DREAM_FLAG = re.compile(r"-[A-Za-z][A-Za-z_]{0,15}")
_DREAM_ARGS = {"-s": "steps", "-S": "seed", "-W": "width", "-H": "height", "-C": "cfg", "-A": "sampler"}


def _dream(text: str) -> GeneratorInfo | None:
    stripped = text.strip()
    end = stripped.rfind('"')
    if not stripped.startswith('"') or end <= 0:
        return None
    positive, negative = _split_bracketed_negative(stripped[1:end][:200_000])
    tokens = stripped[end + 1 :].split()[:400]
    values: dict[str, str] = {}
    for flag, value in zip(tokens, tokens[1:]):
        if _DREAM_FLAG.fullmatch(flag):
            values.setdefault(flag, value)
    return GeneratorInfo(
        tool="InvokeAI",
        prompt=clean_text(positive), negative_prompt=clean_text(negative),
        sampler=clean_text(values.get("-A"), limit=200),
        steps=to_int(values.get("-s")), cfg=to_float(values.get("-C")), seed=to_int(values.get("-S")),
        width=to_int(values.get("-W")), height=to_int(values.get("-H")), source="local",
        extra={k: v[:200] for k, v in values.items() if k not in _DREAM_ARGS},
        raw={"png:Dream": text},
    )


def read_invokeai(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """InvokeAI's ``invokeai_metadata``, ``sd-metadata`` or ``Dream`` PNG text."""
    if "invokeai_metadata" in src.text:
        info = _invokeai_metadata(src.text["invokeai_metadata"], src)
        if info:
            return info
    if "sd-metadata" in src.text:
        info = _sd_metadata(src.text["sd-metadata"], src)
        if info:
            return info
    if "Dream" in src.text:
        return _dream(src.text["Dream"])
    return None
