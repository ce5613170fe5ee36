"""Result types of the metadata collector: what a generator wrote, and everything read beside it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provenance import Lora


@dataclass
class GeneratorInfo:
    """Generation settings that a tool wrote into the file, normalised, with the raw text kept.

    Every setting is optional: absent means the tool did not record it. ``raw`` maps where each
    piece was found (``png:parameters``, ``exif:UserComment``, ``alpha-lsb:stealth_pngcomp``, ...)
    to the text as read, so a report can cite the original and not only our reading of it.
    """

    tool: str
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    model_hash: str | None = None
    loras: list[Lora] = field(default_factory=list)
    sampler: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    upscaler: str | None = None
    version: str | None = None  # the tool's own version string, when it wrote one
    source: str | None = None  # local | api, when the format tells
    #: Every checkpoint that took part, in the order the image went through them, each
    #: ``{"name", "role"}`` (role ``base``, then ``refiner``) and ``hash`` when known; ``model`` is
    #: the base. Set by parsers of formats that can use several (ComfyUI).
    checkpoints: list[dict[str, str]] = field(default_factory=list)
    #: ControlNets (and T2I adapters) applied, each ``{"name"}`` with ``weight``, ``hash``,
    #: ``preprocessor``, ``start``, ``end`` (fractions of the steps) when the tool wrote them.
    controlnets: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # other settings, scalars only
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None

    def to_dict(self, *, raw: bool = False) -> dict[str, Any]:
        """The ``metadata.generator`` object of the evidence model; ``raw=True`` adds the raw texts."""
        out: dict[str, Any] = {"tool": self.tool}
        for key in ("prompt", "negative_prompt", "model", "model_hash"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.loras:
            out["loras"] = [
                {k: v for k, v in (("name", lo.name), ("weight", lo.weight), ("hash", lo.hash)) if v is not None}
                for lo in self.loras
            ]
        for key in ("sampler", "scheduler", "steps", "cfg", "seed", "size", "width", "height", "upscaler",
                    "version", "source"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.checkpoints:
            out["checkpoints"] = [dict(c) for c in self.checkpoints]
        if self.controlnets:
            out["controlnets"] = [dict(c) for c in self.controlnets]
        if self.extra:
            out["extra"] = dict(self.extra)
        out["found_in"] = sorted(self.raw)
        if raw:
            out["raw"] = dict(self.raw)
        return out


@dataclass
class MetadataEvidence:
    """What the file's metadata says: camera EXIF, XMP/IPTC, generator settings, and what went wrong.

    ``exif`` and ``xmp`` are short normalised summaries (GPS appears only as ``gps_present``, never as
    coordinates); ``exif_tags`` and ``xmp_properties`` keep what was read in full for callers that
    need it. ``errors`` lists every part that could not be read (malformed EXIF, oversized chunks,
    XML with a DOCTYPE, JSON nested too deeply, ...): the rest of the evidence is still reported.
    """

    exif: dict[str, Any] = field(default_factory=dict)
    xmp: dict[str, Any] = field(default_factory=dict)
    generator: GeneratorInfo | None = None
    errors: list[str] = field(default_factory=list)
    exif_tags: dict[str, Any] = field(default_factory=dict)
    xmp_properties: dict[str, Any] = field(default_factory=dict)
    text_chunks: dict[str, str] = field(default_factory=dict)

    @property
    def ai_declared(self) -> bool:
        """True when XMP declares an AI digital source type or a generator wrote its settings."""
        return bool(self.xmp.get("ai_generated")) or self.generator is not None

    def to_dict(self, *, raw: bool = False) -> dict[str, Any]:
        """The ``metadata`` object of the evidence model in DESIGN.md (plus this collector's errors)."""
        return {
            "exif": dict(self.exif),
            "xmp": dict(self.xmp),
            "generator": self.generator.to_dict(raw=raw) if self.generator else None,
            "errors": list(self.errors),
        }
