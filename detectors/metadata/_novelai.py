"""NovelAI: PNG text Software = "NovelAI", Description = prompt, Source = "<model name> <HASH>",
Comment = JSON {prompt, uc, steps, scale, seed, sampler, noise_schedule, width, height, ...}.
The same keys, gzipped as one JSON object, go into the alpha LSBs (NovelAI/novelai-image-metadata):
``novelai_info`` reads them for the stealth parser too."""
from __future__ import annotations

import re
from typing import Any

from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import ImageSources
from ._values import clean_text, extra_fields, json_dict, to_float, to_int


def novelai_info(fields: dict[str, Any], *, where: str, errors: list[str]) -> GeneratorInfo | None:
    software = clean_text(fields.get("Software"), limit=100)
    comment = fields.get("Comment")
    if isinstance(comment, str):
        comment = json_dict(comment, where=f"{where} Comment", errors=errors)
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
        extra=extra_fields(comment, mapped),
        raw=raw,
    )


def read_novelai(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """NovelAI's PNG text chunks."""
    if clean_text(src.text.get("Software"), limit=100) != "NovelAI":
        return None
    fields = {k: src.text[k] for k in ("Title", "Description", "Software", "Source", "Generation time", "Comment")
              if k in src.text}
    return novelai_info(fields, where="png:Comment", errors=src.errors)
