"""The generation record: how an image was made. Every field is optional; absent means unknown."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ._errors import ParamsError

SOURCES = ("local", "api")


@dataclass
class Lora:
    name: str
    weight: float | None = None
    hash: str | None = None  # sha256 of the file
    #: what A1111 writes in "Lora hashes": 12 hex digits of the sha256 of a .safetensors file's tensor
    #: data, without its JSON header (the kohya/"addnet" hash, Civitai's AutoV3)
    short_hash: str | None = None


#: Roles a checkpoint can play, in the order an image goes through them: ``base`` made it from
#: noise, ``refiner`` (an SDXL refiner) and ``hires`` (A1111's hires-fix checkpoint) worked on it after.
CHECKPOINT_ROLES = ("base", "refiner", "hires")


@dataclass
class Checkpoint:
    """One model checkpoint that took part in the generation (a record may list several: SDXL
    base + refiner). ``hash``: the sha256 of the file, or ``algorithm:hex`` as the tool wrote it
    (InvokeAI's ``blake3:...``); ``short_hash``: A1111's 10-hex-digit short hash (the sha256's start)."""

    name: str
    role: str = "base"
    hash: str | None = None
    short_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ControlNet:
    """A ControlNet (or T2I adapter) applied during the generation: its model, the preprocessor
    that made its control image (``canny``, ``depth_midas``, ...), its weight and the part of the
    sampling it acted on (``start``/``end``, fractions of the steps)."""

    name: str
    weight: float | None = None
    hash: str | None = None
    preprocessor: str | None = None
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class GenerationRecord:
    """Settings and environment of one generation. Serialised without the fields that are None."""

    generator: str | None = None  # the tool that made the image (diffusers, A1111, ComfyUI, an API)
    generator_version: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    model_hash: str | None = None  # sha256 of the model file
    model_short_hash: str | None = None  # A1111's 10-hex-digit short hash
    loras: list[Lora] = field(default_factory=list)
    pipeline: str | None = None
    #: the sampling method (A1111 "Sampler", ComfyUI sampler_name: "DPM++ 2M", "euler"); records
    #: made before this field existed, and diffusers', name only the scheduler
    sampler: str | None = None
    scheduler: str | None = None  # diffusers scheduler class, or the noise schedule (Karras, normal)
    scheduler_config: dict | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    precision: str | None = None  # fp32, fp16, bf16
    quantization: str | None = None
    offload: str | None = None
    device: str | None = None
    torch_version: str | None = None
    diffusers_version: str | None = None
    seconds: float | None = None
    peak_vram_mb: float | None = None
    source: str | None = None  # local | api
    upscaler: str | None = None
    #: every checkpoint, in the order the image went through them (base first); ``model`` is the base
    checkpoints: list[Checkpoint] = field(default_factory=list)
    controlnets: list[ControlNet] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        out = {k: v for k, v in d.items() if v not in (None, [], {})}
        for lora in out.get("loras", []):
            if lora.get("short_hash") is None:  # only LoRA files we hashed have one; no null in every manifest
                lora.pop("short_hash", None)
        if self.checkpoints:
            out["checkpoints"] = [c.to_dict() for c in self.checkpoints]
        if self.controlnets:
            out["controlnets"] = [c.to_dict() for c in self.controlnets]
        return out

    def merged(self, **overrides: Any) -> GenerationRecord:
        """A copy with the non-None ``overrides`` applied (CLI flags win over ``--params``)."""
        d = self.to_dict()
        d.update({k: v for k, v in overrides.items() if v is not None})
        return GenerationRecord.from_dict(d)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        if not isinstance(data, dict):
            raise ParamsError("the generation record must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {"extra": dict(data.get("extra") or {})}
        for key, value in data.items():
            if key == "extra" or value is None:
                continue
            if key not in known:
                kwargs["extra"][key] = value  # keep what we do not model; never drop user data
                continue
            kwargs[key] = _coerce(key, value)
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path: str | Path) -> GenerationRecord:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ParamsError(f"{p}: no such file") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ParamsError(f"{p}: cannot read ({e})") from e
        except json.JSONDecodeError as e:
            raise ParamsError(f"{p}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from e
        return cls.from_dict(data)


_INTS = {"steps", "seed", "width", "height"}
_FLOATS = {"guidance", "seconds", "peak_vram_mb"}


def _coerce(key: str, value: Any) -> Any:
    try:
        if key in _INTS:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if key in _FLOATS:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
    except (TypeError, ValueError):
        raise ParamsError(f"{key}: expected a number, got {value!r}") from None
    if key == "loras":
        return [_lora(item) for item in (value if isinstance(value, list) else [value])]
    if key == "checkpoints":
        return [_checkpoint(item) for item in (value if isinstance(value, list) else [value])]
    if key == "controlnets":
        return [_controlnet(item) for item in (value if isinstance(value, list) else [value])]
    if key == "source" and value not in SOURCES:
        raise ParamsError(f"source: expected one of {', '.join(SOURCES)}, got {value!r}")
    if key == "scheduler_config":
        if not isinstance(value, dict):
            raise ParamsError("scheduler_config: expected an object")
        return value
    if not isinstance(value, (str, int, float)):
        raise ParamsError(f"{key}: expected a string, got {type(value).__name__}")
    return str(value)


def _lora(item: Any) -> Lora:
    if isinstance(item, str):
        name, _, weight = item.partition(":")
        return Lora(name=name, weight=float(weight) if weight else None)
    if isinstance(item, dict) and "name" in item:
        try:
            weight = float(item["weight"]) if item.get("weight") is not None else None
        except (TypeError, ValueError):
            raise ParamsError(f"loras: weight of {item['name']!r} is not a number") from None
        return Lora(name=str(item["name"]), weight=weight, hash=item.get("hash"),
                    short_hash=item.get("short_hash"))
    raise ParamsError(f"loras: each entry needs a name (\"name\" or \"name:weight\"), got {item!r}")


def _optional_text(item: dict, key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ParamsError(f"{where}: {key} of {item.get('name')!r} is not a string")
    return str(value)


def _optional_float(item: dict, key: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise ParamsError(f"{where}: {key} of {item.get('name')!r} is not a number") from None


def _checkpoint(item: Any) -> Checkpoint:
    if isinstance(item, str):
        return Checkpoint(name=item)
    if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
        role = _optional_text(item, "role", "checkpoints") or "base"
        return Checkpoint(name=item["name"], role=role, hash=_optional_text(item, "hash", "checkpoints"),
                          short_hash=_optional_text(item, "short_hash", "checkpoints"))
    raise ParamsError(f"checkpoints: each entry needs a name (\"name\", optional \"role\", \"hash\"), got {item!r}")


def _controlnet(item: Any) -> ControlNet:
    if isinstance(item, str):
        return ControlNet(name=item)
    if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
        return ControlNet(name=item["name"], weight=_optional_float(item, "weight", "controlnets"),
                          hash=_optional_text(item, "hash", "controlnets"),
                          preprocessor=_optional_text(item, "preprocessor", "controlnets"),
                          start=_optional_float(item, "start", "controlnets"),
                          end=_optional_float(item, "end", "controlnets"))
    raise ParamsError(f"controlnets: each entry needs a name, got {item!r}")


def _is_hex(text: str | None, lengths: tuple[int, ...]) -> bool:
    return bool(text) and len(text) in lengths and all(c in "0123456789abcdefABCDEF" for c in text)


def _short(hash_: str | None, short: str | None, n: int) -> str | None:
    """A1111's short form of a hash: the short hash itself, else the start of a plain sha256."""
    if short:
        return short
    return hash_[:n] if _is_hex(hash_, (64,)) else None


def a1111_parameters(record: GenerationRecord) -> str:
    """Render the record as AUTOMATIC1111's ``parameters`` text, which most SD tools read."""
    lines = [record.prompt or ""]
    if record.negative_prompt:
        lines.append(f"Negative prompt: {record.negative_prompt}")
    pairs: list[tuple[str, Any]] = [
        ("Steps", record.steps),
        # A1111 1.9+ writes the sampler and the schedule apart; a record with no sampler (diffusers')
        # names its scheduler as the sampler, as before
        ("Sampler", record.sampler or record.scheduler),
        ("Schedule type", record.scheduler if record.sampler else None),
        ("CFG scale", record.guidance),
        ("Seed", record.seed),
        ("Size", f"{record.width}x{record.height}" if record.width and record.height else None),
        ("Model hash", record.model_short_hash or _short(record.model_hash, None, 10)),
        ("Model", record.model),
        ("Denoising strength", (record.extra or {}).get("strength")),  # image-to-image
    ]
    for role, key in (("refiner", "Refiner"), ("hires", "Hires checkpoint")):
        ckpt = next((c for c in record.checkpoints if c.role == role), None)
        if ckpt is not None:  # A1111 writes these as its checkpoint titles, "name [short hash]"
            short = _short(ckpt.hash, ckpt.short_hash, 10)
            pairs.append((key, _quoted(f"{ckpt.name} [{short}]" if short else ckpt.name)))
    if record.loras:
        # A1111 strips ":" and "," from the names so that the quoted list parses back
        hashes = ", ".join(f"{lo.name.replace(':', '').replace(',', '')}: {_short(lo.hash, lo.short_hash, 12)}"
                           for lo in record.loras if _short(lo.hash, lo.short_hash, 12))
        if hashes:
            pairs.append(("Lora hashes", f'"{hashes}"'))
    for i, cn in enumerate(record.controlnets):  # sd-webui-controlnet's infotext, one quoted unit each
        short = _short(cn.hash, None, 8) or (cn.hash if _is_hex(cn.hash, (8, 10, 12)) else None)
        unit = [("Module", cn.preprocessor or "none"), ("Model", f"{cn.name} [{short}]" if short else cn.name),
                ("Weight", cn.weight), ("Guidance Start", cn.start), ("Guidance End", cn.end)]
        pairs.append((f"ControlNet {i}", _quoted(", ".join(f"{k}: {_a1111_value(v)}" for k, v in unit
                                                            if v is not None))))
    pairs += [("Hires upscaler", record.upscaler), ("Version", record.generator_version)]
    settings = ", ".join(f"{k}: {_a1111_value(v)}" for k, v in pairs if v is not None)
    prompt = lines[0]
    if record.loras:
        # a prompt read from A1111's own text already holds its tags: not twice
        tags = " ".join(f"<lora:{lo.name}:{lo.weight if lo.weight is not None else 1}>" for lo in record.loras
                        if f"<lora:{lo.name}:".lower() not in prompt.lower())
        prompt = f"{prompt} {tags}".strip()
    lines[0] = prompt
    if settings:
        lines.append(settings)
    return "\n".join(lines)


def _a1111_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _quoted(text: str) -> str:
    """A value as A1111 quotes one that holds a comma or colon (JSON string syntax)."""
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"') else text
