"""AUTOMATIC1111 / Forge "parameters" text (its stealth, pixel LSB, variant: ``_stealth``).

The text is what A1111 writes to the PNG ``parameters`` chunk and to the EXIF UserComment of JPEG
and WebP files (``modules/infotext_utils.py``): prompt lines, an optional ``Negative prompt:`` part,
then one line of ``Key: value`` settings separated by commas, where a value may be a JSON-quoted
string. A1111 reads that line with a regular expression; we read it with a linear scanner, so a
multi-megabyte line cannot make matching take quadratic time.
"""
from __future__ import annotations

import json
import re

from provenance import Lora
from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import MAKER_NOTE, ImageSources
from ._values import clean_text, parse_size, scalar, to_float, to_int

_KEY = re.compile(r"\w[\w \-/]+")
_LORA_TAG = re.compile(r"<(lora|lyco):([^:>]{1,256})(?::([^:>]{0,64}))?(?::[^>]{0,256})?>", re.IGNORECASE)
MAX_SETTINGS = 200


def split_settings(line: str) -> dict[str, str]:
    """``Key: value, Key: "quoted, value"`` to a dict, in one left-to-right pass."""
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n and len(out) < MAX_SETTINGS:
        colon = line.find(":", i)
        if colon < 0:
            break
        key_start = line.rfind(",", i, colon) + 1 or i
        key = line[max(key_start, i) : colon].strip()
        j = colon + 1
        while j < n and line[j] == " ":
            j += 1
        if j < n and line[j] == '"':
            k = j + 1
            while k < n and line[k] != '"':
                k += 2 if line[k] == "\\" else 1
            quoted = line[j : k + 1]
            try:
                value = json.loads(quoted)
            except ValueError:
                value = quoted.strip('"')
            comma = line.find(",", k + 1)
        else:
            comma = line.find(",", j)
            value = line[j : n if comma < 0 else comma].strip()
        if len(key) <= 100 and _KEY.fullmatch(key) and isinstance(value, str):
            out.setdefault(key, value)
        i = n if comma < 0 else comma + 1
    return out


def _pop_civitai_hashes(line: str) -> tuple[str, dict | None]:
    """Civitai appends ``Hashes: {json}``; take it out before splitting on commas."""
    start = line.find("Hashes: {")
    if start < 0:
        return line, None
    end = line.find("}", start)
    if end < 0:
        return line, None
    try:
        hashes = json.loads(line[start + len("Hashes: ") : end + 1])
    except ValueError:
        return line, None
    return line[:start].rstrip(", ") + line[end + 1 :], hashes if isinstance(hashes, dict) else None


def parse_parameters(text: str) -> tuple[str, str, dict[str, str]] | None:
    """(prompt, negative prompt, settings) of A1111 infotext; None when there is no settings line."""
    lines = text.strip().split("\n")
    last = lines[-1]
    last, hashes = _pop_civitai_hashes(last)
    settings = split_settings(last)
    if len(settings) < 3 or "Steps" not in settings:
        return None
    lines = lines[:-1]
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    if hashes:
        settings["Hashes"] = json.dumps(hashes)[:4000]
    return "\n".join(prompt), "\n".join(negative), settings


def loras_from_prompt(prompt: str, hashes: dict[str, str] | None = None) -> list[Lora]:
    """``<lora:name:weight>`` (and ``<lyco:...>``) tags of a prompt, with hashes where known."""
    loras = []
    for match in _LORA_TAG.finditer(prompt):
        name = match.group(2).strip()
        weight = to_float(match.group(3)) if match.group(3) else 1.0
        loras.append(Lora(name=name, weight=weight, hash=(hashes or {}).get(name)))
        if len(loras) >= 64:
            break
    return loras


def _tool_for_version(version: str | None) -> str:
    if version:
        low = version.lower()
        if low.startswith("fooocus"):
            return "Fooocus"
        if re.match(r"f\d", low) or "forge" in low:
            return "Forge"
    return "AUTOMATIC1111"


_MAPPED = {"Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model",
           "Hires upscaler", "Version", "Lora hashes", "Refiner", "Hires checkpoint"}
#: A checkpoint title as A1111 writes it (``sd_models.CheckpointInfo.title``): "name [short hash]".
_TITLE = re.compile(r"(.*?)\s*\[([0-9a-fA-F]{8,12})\]")
#: sd-webui-controlnet's infotext: ``ControlNet 0: "Module: canny, Model: name [hash], Weight: 1, ..."``
#: (one quoted unit per ControlNet), or the flat keys of its first versions
#: (``ControlNet-0 Model: ...``, ``ControlNet Model: ...``).
_CONTROLNET_UNIT = re.compile(r"ControlNet (\d{1,2})")
_CONTROLNET_FLAT = re.compile(r"ControlNet(?:-(\d{1,2}))? (Module|Model|Weight|Guidance Start|Guidance End|Enabled)")


def split_title(title: str | None) -> tuple[str | None, str | None]:
    """(name, short hash) of an A1111 checkpoint title; the hash is None when the title has none."""
    text = clean_text(title, limit=600)
    if text is None:
        return None, None
    match = _TITLE.fullmatch(text)
    return (match.group(1).strip() or None, match.group(2).lower()) if match else (text[:500], None)


def _controlnet(unit: dict[str, str]) -> dict | None:
    name, digest = split_title(unit.get("Model"))
    if not name or name == "None":
        return None
    out: dict = {"name": name}
    for key, field_name in (("Weight", "weight"), ("Guidance Start", "start"), ("Guidance End", "end")):
        number = to_float(unit.get(key))
        if number is not None:
            out[field_name] = number
    if digest:
        out["hash"] = digest
    module = clean_text(unit.get("Module"), limit=200)
    if module and module != "none":
        out["preprocessor"] = module
    return out


def controlnets_from_settings(settings: dict[str, str]) -> tuple[list[dict], set[str]]:
    """The ControlNet units of A1111 settings, in unit order, and the settings keys they used."""
    units: dict[int, dict[str, str]] = {}
    used = set()
    for key, value in settings.items():
        if match := _CONTROLNET_UNIT.fullmatch(key):
            units.setdefault(int(match.group(1)), {}).update(split_settings(value))
            used.add(key)
        elif match := _CONTROLNET_FLAT.fullmatch(key):
            units.setdefault(int(match.group(1) or 0), {})[match.group(2)] = value
            used.add(key)
    found = []
    for _index, unit in sorted(units.items())[:16]:
        if unit.get("Enabled", "True") != "False" and (cn := _controlnet(unit)) is not None:
            found.append(cn)
    return found, used


def a1111_info(text: str, *, where: str) -> GeneratorInfo | None:
    """GeneratorInfo from A1111 infotext, or None when ``text`` is not in that format."""
    parsed = parse_parameters(text)
    if parsed is None:
        return None
    prompt, negative, settings = parsed
    lora_hashes = {}
    for item in settings.get("Lora hashes", "").split(","):
        name, sep, digest = item.partition(":")
        if sep and name.strip():
            lora_hashes[name.strip()] = digest.strip()
    size = parse_size(settings.get("Size"))
    version = clean_text(settings.get("Version"), limit=200)
    model = clean_text(settings.get("Model"), limit=500)
    model_hash = clean_text(settings.get("Model hash"), limit=128)
    checkpoints = []
    for role, key in (("refiner", "Refiner"), ("hires", "Hires checkpoint")):
        name, digest = split_title(settings.get(key))
        if name and name != "Use same checkpoint":
            checkpoints.append({"name": name, "role": role, **({"hash": digest} if digest else {})})
    if checkpoints and model:  # several models: the base first, as the other formats list them
        checkpoints.insert(0, {"name": model, "role": "base", **({"hash": model_hash} if model_hash else {})})
    controlnets, controlnet_keys = controlnets_from_settings(settings)
    return GeneratorInfo(
        tool=_tool_for_version(version),
        prompt=clean_text(prompt),
        negative_prompt=clean_text(negative),
        model=model,
        model_hash=model_hash,
        loras=loras_from_prompt(prompt, lora_hashes),
        sampler=clean_text(settings.get("Sampler"), limit=200),
        scheduler=clean_text(settings.get("Schedule type"), limit=200),
        steps=to_int(settings.get("Steps")),
        cfg=to_float(settings.get("CFG scale")),
        seed=to_int(settings.get("Seed")),
        width=size[0] if size else None,
        height=size[1] if size else None,
        upscaler=clean_text(settings.get("Hires upscaler"), limit=200),
        version=version,
        source="local",
        checkpoints=checkpoints,
        controlnets=controlnets,
        extra={k: scalar(v) for k, v in settings.items()
               if k not in _MAPPED and k not in controlnet_keys and scalar(v) is not None},
        raw={where: text},
    )


def read_a1111(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """PNG ``parameters`` text, or the EXIF UserComment of JPEG/WebP (and PNGs converted from them)."""
    text = src.text.get("parameters")
    if text is not None:
        info = a1111_info(text, where="png:parameters")
        if info is not None:
            return info
    if src.user_comment and not src.user_comment.lstrip().startswith(("{", "[")):
        info = a1111_info(src.user_comment, where="exif:UserComment")
        if info is not None:
            maker_note = clean_text(src.exif_value(MAKER_NOTE), limit=40)
            if maker_note == "a1111" and info.tool == "AUTOMATIC1111":
                info.tool = "Fooocus"  # Fooocus's "a1111" scheme: A1111 text, scheme name in MakerNote
            return info
    return None
