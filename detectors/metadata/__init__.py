"""Metadata evidence: camera EXIF, XMP/IPTC (DigitalSourceType, AI fields) and generator settings.

``read_image_metadata(load_image(path))`` returns a :class:`MetadataEvidence`. Generator settings
come from the first parser in :data:`PARSERS` (an ordered table, like sd-parsers' parser list)
that recognises the file; add your own with :func:`register_parser`.
"""
from __future__ import annotations

from ._a1111 import read_a1111
from ._comfyui import read_comfyui
from ._drawthings import read_draw_things
from ._easydiffusion import read_easy_diffusion
from ._fooocus import read_fooocus
from ._invokeai import read_invokeai
from ._model import GeneratorInfo, MetadataEvidence
from ._novelai import read_novelai
from ._own_stamp import read_provenance
from ._read import read_image_metadata
from ._table import PARSERS, register_parser
from ._stealth import read_stealth_info
from ._swarmui import read_swarmui

# The built-in order: specific formats before general ones, the pixel scan last.
_BUILTIN = (
    ("provenance", read_provenance, "this tool's own stamp (EXIF UserComment record, XMP)"),
    ("NovelAI", read_novelai, "PNG Software=NovelAI, Comment JSON"),
    ("ComfyUI", read_comfyui, "PNG prompt/workflow graphs; WebP EXIF prompt:/workflow:"),
    ("InvokeAI", read_invokeai, "PNG invokeai_metadata, sd-metadata, Dream"),
    ("StableSwarmUI", read_swarmui, "sui_image_params JSON in parameters or UserComment"),
    ("Fooocus", read_fooocus, "parameters JSON with fooocus_scheme; EXIF UserComment + MakerNote"),
    ("Easy Diffusion", read_easy_diffusion, "per-key PNG text; EXIF UserComment JSON"),
    ("Draw Things", read_draw_things, "XMP CreatorTool + exif:UserComment JSON"),
    ("AUTOMATIC1111", read_a1111, "PNG parameters; JPEG/WebP EXIF UserComment (also Forge)"),
    ("stealth", read_stealth_info, "alpha/RGB LSB stealth_png*/stealth_rgb* (A1111, NovelAI)"),
)
for _name, _read, _description in _BUILTIN:
    if not any(p.name == _name for p in PARSERS):
        register_parser(_name, _read, description=_description)

__all__ = [
    "GeneratorInfo",
    "MetadataEvidence",
    "PARSERS",
    "read_image_metadata",
    "register_parser",
]
