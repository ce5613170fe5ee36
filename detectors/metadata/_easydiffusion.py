"""Easy Diffusion: easydiffusion ui/easydiffusion/utils/save_utils.py + sdkit
save_dicts(output_format="embed"): PNG: one tEXt chunk per request key, value str(val) (keys of
TASK_TEXT_MAPPING, or its display names when the "txt" metadata format is also chosen);
JPEG/WebP: EXIF UserComment = json.dumps."""
from __future__ import annotations

from typing import Any

from provenance import Lora
from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import MAX_TEXT_BYTES, ImageSources
from ._values import clean_text, extra_fields, json_dict, to_float, to_int


_EASY_DISPLAY = {
    "Prompt": "prompt", "Negative Prompt": "negative_prompt", "Seed": "seed",
    "Stable Diffusion model": "use_stable_diffusion_model", "Clip Skip": "clip_skip",
    "VAE model": "use_vae_model", "Sampler": "sampler_name", "Width": "width", "Height": "height",
    "Steps": "num_inference_steps", "Guidance Scale": "guidance_scale", "Prompt Strength": "prompt_strength",
    "LoRA model": "use_lora_model", "LoRA Strength": "lora_alpha", "Use Upscaling": "use_upscale",
    "Upscale By": "upscale_amount", "Use Face Correction": "use_face_correction",
}


def _quoted_strings(text: str) -> list[str]:
    """The quoted items of a Python list repr, in one linear pass (no regex backtracking)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n and len(out) < 64:
        starts = [p for p in (text.find("'", i), text.find('"', i)) if p >= 0]
        if not starts:
            break
        start = min(starts)
        quote, k = text[start], start + 1
        while k < n and text[k] != quote:
            k += 2 if text[k] == "\\" else 1
        out.append(text[start + 1 : k].replace("\\" + quote, quote))
        i = k + 1
    return out


def _python_list(value: Any) -> list[Any]:
    """Values written with str(list): "['a', 'b']" or "[0.5, 1]"; a plain value gives [value]."""
    if isinstance(value, list):
        return value[:64]
    if not isinstance(value, str):
        return [value] if value is not None else []
    text = value.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return [text] if text and text != "None" else []
    inner = text[1:-1]
    quoted = _quoted_strings(inner)
    return quoted if quoted else [v.strip() for v in inner.split(",")[:64] if v.strip()]


def read_easy_diffusion(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """Easy Diffusion's per-key PNG text, or its JSON EXIF UserComment."""
    data: dict[str, Any] = {}
    where = ""
    if "use_stable_diffusion_model" in src.text or "Stable Diffusion model" in src.text:
        data = {_EASY_DISPLAY.get(k, k): v for k, v in src.text.items()}
        where = "png:text"
    else:
        comment = json_dict(src.user_comment, where="exif:UserComment", errors=src.errors)
        if comment and ("use_stable_diffusion_model" in comment or "Stable Diffusion model" in comment):
            data = {_EASY_DISPLAY.get(k, k): v for k, v in comment.items() if isinstance(k, str)}
            where = "exif:UserComment"
    if not data:
        return None
    names, weights = _python_list(data.get("use_lora_model")), _python_list(data.get("lora_alpha"))
    loras = [Lora(name=str(n)[:500], weight=to_float(weights[i]) if i < len(weights) else None)
             for i, n in enumerate(names) if n]
    upscaler = clean_text(data.get("use_upscale"), limit=200)
    mapped = {"prompt", "negative_prompt", "seed", "use_stable_diffusion_model", "sampler_name", "width", "height",
              "num_inference_steps", "guidance_scale", "use_lora_model", "lora_alpha", "use_upscale"}
    raw_text = ("\n".join(f"{k}: {v}" for k, v in src.text.items())[:MAX_TEXT_BYTES] if where == "png:text"
                else src.user_comment)
    return GeneratorInfo(
        tool="Easy Diffusion",
        prompt=clean_text(data.get("prompt")), negative_prompt=clean_text(data.get("negative_prompt")),
        model=clean_text(data.get("use_stable_diffusion_model"), limit=500), loras=loras,
        sampler=clean_text(data.get("sampler_name"), limit=200),
        steps=to_int(data.get("num_inference_steps")), cfg=to_float(data.get("guidance_scale")),
        seed=to_int(data.get("seed")), width=to_int(data.get("width")), height=to_int(data.get("height")),
        upscaler=None if upscaler in ("None", "False") else upscaler, source="local",
        extra=extra_fields(data, mapped), raw={where: raw_text or ""},
    )
