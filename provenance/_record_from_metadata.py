"""The generation record of an image read from its own generator metadata (``stamp --from-metadata``).

A1111/Forge, ComfyUI, InvokeAI and Fooocus already write how they made an image (A1111's
``parameters``, ComfyUI's ``prompt``/``workflow`` graphs, InvokeAI's ``invokeai_metadata``,
Fooocus' JSON). verify's metadata collector reads all of them into one normalised ``generator``
object; this module maps that object onto a :class:`GenerationRecord`, so the stamp's C2PA
record, EXIF and XMP say what the tool wrote.

``provenance/`` never imports ``detectors/``: the parsers are reached through the verify
collector table (the collector whose member is ``metadata``), as verify itself reaches them.
"""
from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from ._errors import MissingDependencyError
from ._record import GenerationRecord

if TYPE_CHECKING:
    from ._imageio import LoadedImage

log = logging.getLogger(__name__)

#: generator fields copied as they are: (GeneratorInfo's name, GenerationRecord's name).
_SAME = (("tool", "generator"), ("version", "generator_version"), ("prompt", "prompt"),
         ("negative_prompt", "negative_prompt"), ("model", "model"), ("sampler", "sampler"),
         ("scheduler", "scheduler"), ("steps", "steps"), ("cfg", "guidance"), ("seed", "seed"),
         ("width", "width"), ("height", "height"), ("upscaler", "upscaler"), ("source", "source"))
#: Settings our own stamp's reader puts in ``extra`` that describe the old stamp, not the generation.
_STALE = ("content_id",)


def _is_hex(text: str, lengths: tuple[int, ...]) -> bool:
    return len(text) in lengths and all(c in "0123456789abcdef" for c in text.lower())


def split_hash(value: Any) -> tuple[str | None, str | None]:
    """(hash, short_hash) of a hash as a tool wrote it: a sha256 (64 hex digits, ``sha256:`` or
    ``0x`` prefixed too) is a ``hash``; 8-12 hex digits (A1111's and Fooocus' model hashes, the
    LoRA "AutoV3" hash) a ``short_hash``; anything else (InvokeAI's ``blake3:...``) stays the
    ``hash`` as written, its algorithm named by its prefix."""
    if not isinstance(value, str) or not value.strip():
        return None, None
    text = value.strip()
    bare = text.lower().removeprefix("sha256:").removeprefix("0x")
    if _is_hex(bare, (64,)):
        return bare, None
    if _is_hex(bare, (8, 10, 12)):
        return None, bare
    return text, None


def record_from_generator(generator: dict[str, Any] | None, *, found_in: list[str] | None = None) -> GenerationRecord:
    """The record that a metadata collector's ``generator`` object (``detectors.metadata``'s
    GeneratorInfo.to_dict()) describes. ``extra`` keeps the tool's other settings and, under
    ``metadata_source``, where in the file the settings were read (``png:parameters``, ...): the
    stamp says the record comes from the tool's metadata, not from watching the generation."""
    if not generator:
        return GenerationRecord()
    data: dict[str, Any] = {}
    for src, dst in _SAME:
        value = generator.get(src)
        if value is not None:
            data[dst] = value
    model_hash, model_short = split_hash(generator.get("model_hash"))
    if model_hash:
        data["model_hash"] = model_hash
    if model_short:
        data["model_short_hash"] = model_short
    loras = []
    for lora in generator.get("loras") or []:
        if isinstance(lora, dict) and lora.get("name"):
            digest, short = split_hash(lora.get("hash"))
            loras.append({"name": lora["name"], "weight": lora.get("weight"), "hash": digest, "short_hash": short})
    if loras:
        data["loras"] = loras
    checkpoints = []
    for ckpt in generator.get("checkpoints") or []:
        if isinstance(ckpt, dict) and ckpt.get("name"):
            digest, short = split_hash(ckpt.get("hash"))
            checkpoints.append({"name": ckpt["name"], "role": ckpt.get("role") or "base", "hash": digest,
                                "short_hash": short})
    if not checkpoints and generator.get("model"):  # one model: the base checkpoint, by the same name
        checkpoints.append({"name": generator["model"], "role": "base", "hash": model_hash, "short_hash": model_short})
    data["checkpoints"] = checkpoints
    data["controlnets"] = [dict(cn) for cn in generator.get("controlnets") or []
                           if isinstance(cn, dict) and cn.get("name")]
    extra = {k: v for k, v in (generator.get("extra") or {}).items() if k not in _STALE}
    if generator.get("tool") == "provenance" and isinstance(extra.get("generator"), str):
        data["generator"] = extra.pop("generator")  # re-stamping our own stamp: the tool it named
    where = found_in if found_in is not None else generator.get("found_in")
    if where:
        extra["metadata_source"] = list(where)
    data["extra"] = extra
    return GenerationRecord.from_dict(data)


def _metadata_collector():
    from .collectors import collectors

    for collector in collectors():
        if collector.member == "metadata":
            return collector
    raise MissingDependencyError("reading generator metadata needs the metadata collector, which the detectors "
                                 "package registers; it is not installed (pip install provenance-tool)")


def read_generator(image: LoadedImage, *, name: str = "<image>") -> dict[str, Any] | None:
    """The ``generator`` object verify's metadata collector reads from ``image`` (its bytes and
    decoded pixels), or None when the file holds no generator metadata."""
    from ._verify import VerifyOptions, VerifyReport
    from .collectors import CollectContext

    collector = _metadata_collector()
    sha256 = hashlib.sha256(image.data).hexdigest()
    ctx = CollectContext(data=image.data, sha256=sha256, name=name, format=image.format, image=image,
                         options=VerifyOptions(forensics=False), report=VerifyReport(file=name, sha256=sha256))
    evidence = collector.collect(ctx)
    for error in (evidence or {}).get("errors") or []:
        log.warning("%s: metadata: %s", name, error)
    return (evidence or {}).get("generator")


def record_from_metadata(image: LoadedImage, *, name: str = "<image>") -> GenerationRecord | None:
    """The generation record ``image``'s own generator metadata describes; None when it has none."""
    generator = read_generator(image, name=name)
    return record_from_generator(generator) if generator else None


def overlay(base: GenerationRecord, top: GenerationRecord) -> GenerationRecord:
    """``base`` with every field ``top`` sets put over it (``--params`` and flags over the
    metadata's record); ``extra`` is merged key by key, ``top`` winning."""
    merged = base.to_dict()
    upper = top.to_dict()
    extra = {**merged.pop("extra", {}), **upper.pop("extra", {})}
    merged.update(upper)
    if extra:
        merged["extra"] = extra
    return GenerationRecord.from_dict(merged)
