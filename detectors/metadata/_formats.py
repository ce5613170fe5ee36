"""Readers for the JSON-and-text generator formats: our own stamp, NovelAI, InvokeAI, Fooocus,
StableSwarmUI, Easy Diffusion and Draw Things. Each cites the format it follows."""
from __future__ import annotations

import re
from typing import Any

from provenance import Lora
from provenance._imageio import LoadedImage

from ._a1111 import a1111_info
from ._model import GeneratorInfo
from ._sources import MAKER_NOTE, MAX_TEXT_BYTES, ImageSources
from ._values import clean_text, load_json, parse_size, scalar, to_float, to_int


def _extra(data: dict[str, Any], mapped: set[str], *, limit: int = 100) -> dict[str, Any]:
    out = {}
    for key, value in list(data.items())[: limit * 4]:
        if key not in mapped and isinstance(key, str):
            kept = scalar(value)
            if kept is not None:
                out[key[:100]] = kept
                if len(out) >= limit:
                    break
    return out


def _json_dict(text: str | None, *, where: str, errors: list[str]) -> dict[str, Any] | None:
    if text is None:
        return None
    data = load_json(text, where=where, errors=errors)
    return data if isinstance(data, dict) else None


# --- provenance (this tool's own stamp) -------------------------------------------------------
# provenance/_metadata.py writes EXIF UserComment = {"content_id", "generation": record} and XMP
# with provenance:ContentId plus the IPTC AI fields.

def read_provenance(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """Our stamp: the generation record from EXIF UserComment, else the XMP fields it also wrote."""
    comment = _json_dict(src.user_comment, where="exif:UserComment", errors=src.errors)
    if comment and isinstance(comment.get("content_id"), str) and isinstance(comment.get("generation"), dict):
        record = comment["generation"]
        size = (to_int(record.get("width")), to_int(record.get("height")))
        loras = []
        record_loras = record.get("loras")
        for item in record_loras[:64] if isinstance(record_loras, list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                loras.append(Lora(name=item["name"][:500], weight=to_float(item.get("weight")),
                                  hash=clean_text(item.get("hash"), limit=128)))
        mapped = {"prompt", "negative_prompt", "model", "model_hash", "model_short_hash", "loras", "scheduler",
                  "steps", "guidance", "seed", "width", "height", "upscaler", "generator_version", "source"}
        extra = _extra(record, mapped)
        extra["content_id"] = comment["content_id"][:64]
        return GeneratorInfo(
            tool="provenance",
            prompt=clean_text(record.get("prompt")),
            negative_prompt=clean_text(record.get("negative_prompt")),
            model=clean_text(record.get("model"), limit=500),
            model_hash=clean_text(record.get("model_hash") or record.get("model_short_hash"), limit=128),
            loras=loras,
            sampler=clean_text(record.get("scheduler"), limit=200),
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


# --- NovelAI ----------------------------------------------------------------------------------
# PNG text: Software = "NovelAI", Description = prompt, Source = "<model name> <HASH>",
# Comment = JSON {prompt, uc, steps, scale, seed, sampler, noise_schedule, width, height, ...}.
# The same keys, gzipped as one JSON object, go into the alpha LSBs (NovelAI/novelai-image-metadata).

def novelai_info(fields: dict[str, Any], *, where: str, errors: list[str]) -> GeneratorInfo | None:
    software = clean_text(fields.get("Software"), limit=100)
    comment = fields.get("Comment")
    if isinstance(comment, str):
        comment = _json_dict(comment, where=f"{where} Comment", errors=errors)
    if not isinstance(comment, dict) or (software != "NovelAI" and "uc" not in comment):
        return None
    model = model_hash = None
    source_text = clean_text(fields.get("Source"), limit=500)
    if source_text:
        name, _, tail = source_text.rpartition(" ")
        if name and re.fullmatch(r"[0-9A-F]{6,16}", tail):
            model, model_hash = name, tail
        else:
            model = source_text
    mapped = {"prompt", "uc", "steps", "scale", "seed", "sampler", "noise_schedule", "width", "height"}
    raw = {where: "\n".join(f"{k}: {v}" for k, v in fields.items() if isinstance(v, str))[:4_000_000]}
    return GeneratorInfo(
        tool="NovelAI",
        prompt=clean_text(comment.get("prompt")) or clean_text(fields.get("Description")),
        negative_prompt=clean_text(comment.get("uc")),
        model=model, model_hash=model_hash,
        sampler=clean_text(comment.get("sampler"), limit=200),
        scheduler=clean_text(comment.get("noise_schedule"), limit=200),
        steps=to_int(comment.get("steps")),
        cfg=to_float(comment.get("scale")),
        seed=to_int(comment.get("seed")),
        width=to_int(comment.get("width")), height=to_int(comment.get("height")),
        source="api",
        extra=_extra(comment, mapped),
        raw=raw,
    )


def read_novelai(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """NovelAI's PNG text chunks."""
    if clean_text(src.text.get("Software"), limit=100) != "NovelAI":
        return None
    fields = {k: src.text[k] for k in ("Title", "Description", "Software", "Source", "Generation time", "Comment")
              if k in src.text}
    return novelai_info(fields, where="png:Comment", errors=src.errors)


# --- InvokeAI ---------------------------------------------------------------------------------
# invokeai_metadata (3.x+: CoreMetadata, model {model_name|name, hash}, loras [{lora|model, weight}]),
# sd-metadata (2.x: {model_weights, model_hash, app_version, image: {prompt, sampler, ...}}) and
# Dream (1.x/2.x: '"prompt [negative]" -s steps -S seed -W w -H h -C cfg -A sampler').

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
    data = _json_dict(text, where="png:invokeai_metadata", errors=src.errors)
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
              "width", "height", "app_version"}
    extra = _extra(data, mapped)
    vae, _ = _invoke_model(data.get("vae"))
    if vae:
        extra["vae"] = vae
    return GeneratorInfo(
        tool="InvokeAI",
        prompt=clean_text(data.get("positive_prompt")),
        negative_prompt=clean_text(data.get("negative_prompt")),
        model=model, model_hash=model_hash, loras=loras,
        scheduler=clean_text(data.get("scheduler"), limit=200),
        steps=to_int(data.get("steps")), cfg=to_float(data.get("cfg_scale")), seed=to_int(data.get("seed")),
        width=to_int(data.get("width")), height=to_int(data.get("height")),
        version=clean_text(data.get("app_version"), limit=100), source="local",
        extra=extra, raw={"png:invokeai_metadata": text},
    )


def _sd_metadata(text: str, src: ImageSources) -> GeneratorInfo | None:
    data = _json_dict(text, where="png:sd-metadata", errors=src.errors)
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
    extra = _extra(image, mapped)
    # The weights' name: "model_weights" (2.3), "model_id" (2.0-2.2, ldm/invoke/args.py
    # metadata_dumps); "model" is always the family, "stable diffusion".
    model_key = next((k for k in ("model_weights", "model_id") if isinstance(data.get(k), str) and data[k]), None)
    extra.update(_extra(data, {"image", "images", "model_weights", "model_id", "model_hash", "app_version"}))
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


# --- StableSwarmUI ----------------------------------------------------------------------------
# SwarmUI docs (docs/Image Metadata Format.md): a JSON object in PNG ``parameters`` or EXIF
# UserComment with sui_image_params {prompt, negativeprompt, model, seed, steps, cfgscale, width,
# height, sampler, scheduler, loras, loraweights, swarm_version, ...}, optional sui_extra_data and
# sui_models [{name, param, hash}].

def _listish(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value[:64] if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    if isinstance(value, str) and value:
        return [v.strip() for v in value.split(",")[:64]]
    return []


def read_swarmui(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """StableSwarmUI's ``sui_image_params`` JSON."""
    for where, text in (("png:parameters", src.text.get("parameters")), ("exif:UserComment", src.user_comment)):
        data = _json_dict(text, where=where, errors=src.errors)
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
        extra = _extra(params, mapped)
        if isinstance(data.get("sui_extra_data"), dict):
            extra.update(_extra(data["sui_extra_data"], set(), limit=30))
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


# --- Fooocus ----------------------------------------------------------------------------------
# lllyasviel/Fooocus modules/meta_parser.py: PNG ``parameters`` = JSON (FooocusMetadataParser:
# prompt, negative_prompt, full_prompt, base_model, base_model_hash, loras [[name, weight, hash]],
# sampler, scheduler, steps, guidance_scale, seed, resolution "(w, h)", version "Fooocus v2.x")
# and ``fooocus_scheme`` = "fooocus"; JPEG/WebP: EXIF 0x9286 UserComment = the JSON, 0x927C
# MakerNote = the scheme, 0x0131 Software = "Fooocus v...".

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
        data = _json_dict(text, where=where, errors=src.errors)
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
        return GeneratorInfo(
            tool="Fooocus",
            prompt=prompt, negative_prompt=clean_text(data.get("negative_prompt")),
            model=clean_text(data.get("base_model"), limit=500),
            model_hash=clean_text(data.get("base_model_hash"), limit=128), loras=loras,
            sampler=clean_text(data.get("sampler"), limit=200), scheduler=clean_text(data.get("scheduler"), limit=200),
            steps=to_int(data.get("steps")), cfg=to_float(data.get("guidance_scale")), seed=to_int(data.get("seed")),
            width=size[0] if size else None, height=size[1] if size else None,
            version=clean_text(data.get("version"), limit=100), source="local",
            extra=_extra(data, mapped), raw={where: text or ""},
        )
    return None


# --- Easy Diffusion ---------------------------------------------------------------------------
# easydiffusion ui/easydiffusion/utils/save_utils.py + sdkit save_dicts(output_format="embed"):
# PNG: one tEXt chunk per request key, value str(val) (keys of TASK_TEXT_MAPPING, or its display
# names when the "txt" metadata format is also chosen); JPEG/WebP: EXIF UserComment = json.dumps.

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
        comment = _json_dict(src.user_comment, where="exif:UserComment", errors=src.errors)
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
        extra=_extra(data, mapped), raw={where: raw_text or ""},
    )


# --- Draw Things ------------------------------------------------------------------------------
# XMP (PNG iTXt XML:com.adobe.xmp, or JPEG XMP) with xmp:CreatorTool = "Draw Things",
# exif:UserComment = JSON {c: prompt, uc: negative, model, sampler, scale, seed, size "WxH", steps,
# strength, seed_mode, lora/v2.loras [{file|model, weight}]} and dc:description = A1111-like text.

def read_draw_things(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """Draw Things's XMP UserComment JSON (or its description text)."""
    tool = clean_text(src.xmp.get("xmp:CreatorTool"), limit=200)
    if not tool or "draw things" not in tool.lower():
        return None
    comment = src.xmp.get("exif:UserComment")
    data = _json_dict(comment if isinstance(comment, str) else None, where="xmp exif:UserComment", errors=src.errors)
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
        extra=_extra(data, mapped), raw={"xmp:exif:UserComment": comment if isinstance(comment, str) else ""},
    )
