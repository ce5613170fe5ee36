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
    scheduler: str | None = None
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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        out = {k: v for k, v in d.items() if v not in (None, [], {})}
        for lora in out.get("loras", []):
            if lora.get("short_hash") is None:  # only LoRA files we hashed have one; no null in every manifest
                lora.pop("short_hash", None)
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


def a1111_parameters(record: GenerationRecord) -> str:
    """Render the record as AUTOMATIC1111's ``parameters`` text, which most SD tools read."""
    lines = [record.prompt or ""]
    if record.negative_prompt:
        lines.append(f"Negative prompt: {record.negative_prompt}")
    pairs: list[tuple[str, Any]] = [
        ("Steps", record.steps),
        ("Sampler", record.scheduler),
        ("CFG scale", record.guidance),
        ("Seed", record.seed),
        ("Size", f"{record.width}x{record.height}" if record.width and record.height else None),
        ("Model hash", record.model_short_hash or (record.model_hash[:10] if record.model_hash else None)),
        ("Model", record.model),
        ("Denoising strength", (record.extra or {}).get("strength")),  # image-to-image
    ]
    if record.loras:
        # A1111 strips ":" and "," from the names so that the quoted list parses back
        hashes = ", ".join(f"{lo.name.replace(':', '').replace(',', '')}: {lo.short_hash or lo.hash[:12]}"
                           for lo in record.loras if lo.short_hash or lo.hash)
        if hashes:
            pairs.append(("Lora hashes", f'"{hashes}"'))
    pairs += [("Hires upscaler", record.upscaler), ("Version", record.generator_version)]
    settings = ", ".join(f"{k}: {_a1111_value(v)}" for k, v in pairs if v is not None)
    prompt = lines[0]
    if record.loras:
        tags = " ".join(f"<lora:{lo.name}:{lo.weight if lo.weight is not None else 1}>" for lo in record.loras)
        prompt = f"{prompt} {tags}".strip()
    lines[0] = prompt
    if settings:
        lines.append(settings)
    return "\n".join(lines)


def _a1111_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
