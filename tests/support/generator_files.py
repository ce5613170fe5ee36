"""Image files as AUTOMATIC1111, ComfyUI, InvokeAI and Fooocus save them (their PNG text chunks
written with Pillow's PngInfo, as each tool does), with what a correct reading of each must give.

The metadata itself is the parser tests' fixtures, each written from the tool's own source
(tests/test_metadata_parsers.py, test_metadata_multi_model.py, test_metadata_checkpoints_controlnets.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, PngImagePlugin

from support import natural_image
from support.metadata_samples import A1111_REFINER_CONTROLNET
from support.metadata_samples import BASE, POSITIVE, REFINER, SDXL_REFINER_PROMPT, SDXL_REFINER_WORKFLOW
from support.metadata_samples import A1111_TEXT, FOOOCUS, INVOKE_V3, INVOKE_V5


@dataclass
class ToolFile:
    """One tool's file: its text chunks and the reading they must give."""

    tool: str
    text: dict[str, str]
    prompt: str
    seed: int
    checkpoints: list[tuple[str, str]]  # (name, role), in order
    extra_checks: dict = field(default_factory=dict)  # record field -> expected value


INVOKE_V5_REFINER = dict(INVOKE_V5, refiner_model={"key": "r1", "hash": "blake3:feed", "name": "sdxl-refiner",
                                                     "base": "sdxl-refiner", "type": "main"})

TOOL_FILES = {
    "a1111": ToolFile(
        "AUTOMATIC1111", {"parameters": A1111_TEXT},
        prompt="masterpiece, best quality, a lighthouse at dusk <lora:detailTweaker:0.8>", seed=965400086,
        checkpoints=[("v1-5-pruned-emaonly", "base")],
        extra_checks={"sampler": "DPM++ 2M", "scheduler": "Karras", "steps": 28, "guidance": 6.5,
                      "model_short_hash": "6ce0161689", "upscaler": "R-ESRGAN 4x+", "width": 512, "height": 768}),
    "a1111-refiner-controlnet": ToolFile(
        "AUTOMATIC1111", {"parameters": A1111_REFINER_CONTROLNET}, prompt="a knight in a misty forest", seed=1234,
        checkpoints=[("sd_xl_base_1.0", "base"), ("sd_xl_refiner_1.0", "refiner")]),
    "comfyui-base-refiner": ToolFile(
        "ComfyUI", {"prompt": json.dumps(SDXL_REFINER_PROMPT), "workflow": json.dumps(SDXL_REFINER_WORKFLOW)},
        prompt=POSITIVE, seed=721897303308196, checkpoints=[(BASE, "base"), (REFINER, "refiner")],
        extra_checks={"sampler": "euler", "scheduler": "normal", "steps": 25, "guidance": 8.0,
                      "model_hash": SDXL_REFINER_WORKFLOW["models"][0]["hash"]}),
    "invokeai-3": ToolFile(
        "InvokeAI", {"invokeai_metadata": json.dumps(INVOKE_V3)}, prompt=INVOKE_V3["positive_prompt"],
        seed=3293022630, checkpoints=[("juggernautXL", "base")],
        extra_checks={"generator_version": "3.4.0", "steps": 35}),
    "invokeai-5-refiner": ToolFile(
        "InvokeAI", {"invokeai_metadata": json.dumps(INVOKE_V5_REFINER)}, prompt="a castle", seed=7,
        checkpoints=[("Deliberate v2", "base"), ("sdxl-refiner", "refiner")],
        extra_checks={"model_hash": "blake3:abcdef0123"}),
    "fooocus": ToolFile(
        "Fooocus", {"parameters": json.dumps(FOOOCUS, sort_keys=True), "fooocus_scheme": "fooocus"},
        prompt="a red fox in the snow", seed=1234567890,
        checkpoints=[("juggernautXL_v8Rundiffusion.safetensors", "base")],
        extra_checks={"model_short_hash": "aeb7e9e689", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras"}),
}


def png_with_text(text: dict[str, str], *, size: int = 256, seed: int = 0) -> bytes:
    """A natural-looking PNG carrying ``text`` as the tools write it (Pillow PngInfo.add_text)."""
    import io

    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.fromarray(natural_image(size, size, seed=seed)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def write_tool_png(path: Path, name: str, *, size: int = 256, seed: int = 0) -> ToolFile:
    """Write TOOL_FILES[name] as a PNG at ``path``; return what its reading must give."""
    spec = TOOL_FILES[name]
    path.write_bytes(png_with_text(spec.text, size=size, seed=seed))
    return spec
