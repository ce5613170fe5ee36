"""Generator-metadata fixtures several test modules share: files written the way each tool writes
them (A1111 infotext, ComfyUI graphs incl. SDXL base + refiner, InvokeAI, Fooocus), and the
reader the parser tests use. Moved here from the test modules that define them."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image, PngImagePlugin

from detectors.metadata import GeneratorInfo, read_image_metadata
from provenance import decode_image


# --- from tests/detectors/metadata/test_metadata_parsers.py ---

def random_pixels(width: int = 64, height: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)

def png_bytes(text: dict[str, str] | None = None, *, itxt: dict[str, str] | None = None,
              image: Image.Image | None = None) -> bytes:
    """A PNG with tEXt (latin-1) and iTXt (UTF-8) chunks, as Pillow's PngInfo writes them."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    buf = io.BytesIO()
    (image or Image.fromarray(random_pixels())).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()

def generator(data: bytes) -> GeneratorInfo:
    evidence = read_image_metadata(decode_image(data))
    assert evidence.generator is not None, evidence.errors
    assert not [e for e in evidence.errors if "internal error" in e]
    return evidence.generator

A1111_TEXT = (
    "masterpiece, best quality, a lighthouse at dusk <lora:detailTweaker:0.8>\n"
    "Negative prompt: lowres, bad anatomy\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 965400086, "
    "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, "
    "Hires upscale: 2, Hires upscaler: R-ESRGAN 4x+, Lora hashes: \"detailTweaker: 5b0e4a9b4d29\", "
    "Version: v1.10.1"
)

COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {
        "cfg": 8, "denoise": 1, "latent_image": ["5", 0], "model": ["4", 0], "negative": ["7", 0],
        "positive": ["6", 0], "sampler_name": "euler", "scheduler": "normal", "seed": 8566257, "steps": 20}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"batch_size": 1, "height": 512, "width": 512}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "masterpiece best quality girl"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "bad hands"}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}

INVOKE_V3 = {
    "generation_mode": "sdxl_txt2img",
    "positive_prompt": "digital artwork, oil painting. painterly brushstrokes, holidays,",
    "negative_prompt": "grainy+, photo, oversaturated", "width": 1024, "height": 1024, "seed": 3293022630,
    "rand_device": "cpu", "cfg_scale": 8.0, "cfg_rescale_multiplier": 0.0, "steps": 35, "scheduler": "euler",
    "model": {"model_name": "juggernautXL", "base_model": "sdxl", "model_type": "main"},
    "loras": [{"lora": {"model_name": "pixel-art-xl", "base_model": "sdxl"}, "weight": 0.75}],
    "vae": {"model_name": "VAEFix", "base_model": "sdxl"}, "app_version": "3.4.0",
}

INVOKE_V5 = {
    "generation_mode": "txt2img", "positive_prompt": "a castle", "negative_prompt": "", "width": 512, "height": 512,
    "seed": 7, "cfg_scale": 7.5, "steps": 30, "scheduler": "dpmpp_2m_k", "app_version": "5.6.0",
    "model": {"key": "0a1b", "hash": "blake3:abcdef0123", "name": "Deliberate v2", "base": "sd-1", "type": "main"},
    "loras": [{"model": {"key": "77", "hash": "blake3:1234", "name": "film-grain", "base": "sd-1", "type": "lora"},
               "weight": 0.5}],
}

FOOOCUS = {
    "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "base_model_hash": "aeb7e9e689", "full_negative_prompt": ["(worst quality, low quality:1.4)"],
    "full_prompt": ["a red fox in the snow", "cinematic still"], "guidance_scale": 4, "loras": [
        ["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"]],
    "metadata_scheme": "fooocus", "negative_prompt": "", "performance": "Speed", "prompt": "a red fox in the snow",
    "prompt_expansion": "a red fox in the snow, cinematic", "refiner_model": "None", "refiner_switch": 0.5,
    "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "seed": "1234567890",
    "sharpness": 2, "steps": 30, "styles": "['Fooocus V2', 'Fooocus Enhance']", "vae": "Default (model)",
    "version": "Fooocus v2.5.5",
}


# --- from tests/detectors/metadata/test_metadata_multi_model.py ---

# ComfyUI_examples' SDXL refiner workflow (sdxl/sdxl_refiner_prompt_example): the base
# KSamplerAdvanced adds the noise and stops at step 20 with leftover noise; the refiner's
# KSamplerAdvanced takes its latent from step 20 to the end and feeds the VAE decode.
BASE, REFINER = "sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors"

POSITIVE = "evening sunset scenery blue sky nature, glass bottle with a galaxy in it"

NEGATIVE = "text, watermark"

SDXL_REFINER_PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": BASE}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE, "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["4", 1]}},
    "10": {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "enable", "noise_seed": 721897303308196, "steps": 25, "cfg": 8, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 0, "end_at_step": 20, "return_with_leftover_noise": "enable",
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "11": {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "disable", "noise_seed": 0, "steps": 25, "cfg": 8, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 20, "end_at_step": 10000, "return_with_leftover_noise": "disable",
        "model": ["12", 0], "positive": ["15", 0], "negative": ["16", 0], "latent_image": ["10", 0]}},
    "12": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": REFINER}},
    "15": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE, "clip": ["12", 1]}},
    "16": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["12", 1]}},
    "17": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["12", 2]}},
    "19": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["17", 0]}},
}

def _ui_node(node_id, kind, widgets, inputs=(), outputs=()):
    return {"id": node_id, "type": kind, "mode": 0, "properties": {}, "widgets_values": list(widgets),
            "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
            "outputs": [{"name": n, "type": t, "links": links} for n, t, links in outputs]}

# The same graph in the UI form (nodes with widgets_values, a links table), as in the workflow chunk.
SDXL_REFINER_WORKFLOW = {
    "last_node_id": 19, "last_link_id": 20, "version": 0.4,
    "nodes": [
        _ui_node(4, "CheckpointLoaderSimple", [BASE],
                 outputs=[("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [2, 3]), ("VAE", "VAE", [])]),
        _ui_node(5, "EmptyLatentImage", [1024, 1024, 1], outputs=[("LATENT", "LATENT", [4])]),
        _ui_node(6, "CLIPTextEncode", [POSITIVE], inputs=[("clip", "CLIP", 2)],
                 outputs=[("CONDITIONING", "CONDITIONING", [5])]),
        _ui_node(7, "CLIPTextEncode", [NEGATIVE], inputs=[("clip", "CLIP", 3)],
                 outputs=[("CONDITIONING", "CONDITIONING", [6])]),
        _ui_node(10, "KSamplerAdvanced", ["enable", 721897303308196, "fixed", 25, 8, "euler", "normal", 0, 20,
                                          "enable"],
                 inputs=[("model", "MODEL", 1), ("positive", "CONDITIONING", 5), ("negative", "CONDITIONING", 6),
                         ("latent_image", "LATENT", 4)], outputs=[("LATENT", "LATENT", [7])]),
        _ui_node(11, "KSamplerAdvanced", ["disable", 0, "fixed", 25, 8, "euler", "normal", 20, 10000, "disable"],
                 inputs=[("model", "MODEL", 8), ("positive", "CONDITIONING", 9), ("negative", "CONDITIONING", 10),
                         ("latent_image", "LATENT", 7)], outputs=[("LATENT", "LATENT", [11])]),
        _ui_node(12, "CheckpointLoaderSimple", [REFINER],
                 outputs=[("MODEL", "MODEL", [8]), ("CLIP", "CLIP", [12, 13]), ("VAE", "VAE", [14])]),
        _ui_node(15, "CLIPTextEncode", [POSITIVE], inputs=[("clip", "CLIP", 12)],
                 outputs=[("CONDITIONING", "CONDITIONING", [9])]),
        _ui_node(16, "CLIPTextEncode", [NEGATIVE], inputs=[("clip", "CLIP", 13)],
                 outputs=[("CONDITIONING", "CONDITIONING", [10])]),
        _ui_node(17, "VAEDecode", [], inputs=[("samples", "LATENT", 11), ("vae", "VAE", 14)],
                 outputs=[("IMAGE", "IMAGE", [15])]),
        _ui_node(19, "SaveImage", ["ComfyUI"], inputs=[("images", "IMAGE", 15)]),
    ],
    "links": [[1, 4, 0, 10, 0, "MODEL"], [2, 4, 1, 6, 0, "CLIP"], [3, 4, 1, 7, 0, "CLIP"],
              [4, 5, 0, 10, 3, "LATENT"], [5, 6, 0, 10, 1, "CONDITIONING"], [6, 7, 0, 10, 2, "CONDITIONING"],
              [7, 10, 0, 11, 3, "LATENT"], [8, 12, 0, 11, 0, "MODEL"], [9, 15, 0, 11, 1, "CONDITIONING"],
              [10, 16, 0, 11, 2, "CONDITIONING"], [11, 11, 0, 17, 0, "LATENT"], [12, 12, 1, 15, 0, "CLIP"],
              [13, 12, 1, 16, 0, "CLIP"], [14, 12, 2, 17, 1, "VAE"], [15, 17, 0, 19, 0, "IMAGE"]],
    "models": [{"name": BASE, "hash": "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b",
                "hash_type": "SHA256", "directory": "checkpoints"}],
}


# --- from tests/detectors/metadata/test_metadata_checkpoints_controlnets.py ---

# sd-webui-controlnet (scripts/infotext.py): one quoted "ControlNet N" entry per unit, its fields
# "Key: value" joined by ", "; A1111 1.6+ writes the refiner as its checkpoint title.
A1111_REFINER_CONTROLNET = (
    "a knight in a misty forest\n"
    "Negative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 1024x1024, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Refiner: sd_xl_refiner_1.0 [7440042bbd], "
    "Refiner switch at: 0.8, "
    'ControlNet 0: "Module: canny, Model: diffusers_xl_canny_full [2b69fca4], Weight: 0.9, '
    'Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 100, Threshold B: 200, '
    'Guidance Start: 0.0, Guidance End: 0.8, Pixel Perfect: True, Control Mode: Balanced", '
    'ControlNet 1: "Module: none, Model: t2i-adapter_diffusers_xl_depth_midas [9c183166], Weight: 0.5, '
    'Guidance Start: 0.1, Guidance End: 1.0", '
    "Version: v1.10.1"
)


COMFY_WORKFLOW = {
    "last_node_id": 9, "last_link_id": 9,
    "nodes": [
        {"id": 7, "type": "CLIPTextEncode", "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 5}],
         "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [6], "slot_index": 0}],
         "properties": {}, "widgets_values": ["text, watermark"]},
        {"id": 6, "type": "CLIPTextEncode", "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
         "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [4], "slot_index": 0}],
         "properties": {},
         "widgets_values": ["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"]},
        {"id": 5, "type": "EmptyLatentImage", "mode": 0,
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2], "slot_index": 0}],
         "properties": {}, "widgets_values": [512, 512, 1]},
        {"id": 3, "type": "KSampler", "mode": 0,
         "inputs": [{"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": 4},
                    {"name": "negative", "type": "CONDITIONING", "link": 6},
                    {"name": "latent_image", "type": "LATENT", "link": 2}],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7], "slot_index": 0}],
         "properties": {}, "widgets_values": [156680208700286, True, 20, 8, "euler", "normal", 1]},
        {"id": 8, "type": "VAEDecode", "mode": 0,
         "inputs": [{"name": "samples", "type": "LATENT", "link": 7}, {"name": "vae", "type": "VAE", "link": 8}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [9], "slot_index": 0}], "properties": {}},
        {"id": 9, "type": "SaveImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 9}],
         "properties": {}},
        {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0,
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1], "slot_index": 0},
                     {"name": "CLIP", "type": "CLIP", "links": [3, 5], "slot_index": 1},
                     {"name": "VAE", "type": "VAE", "links": [8], "slot_index": 2}],
         "properties": {}, "widgets_values": ["v1-5-pruned-emaonly.ckpt"]},
    ],
    "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"],
              [4, 6, 0, 3, 1, "CONDITIONING"], [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"],
              [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"]],
    "groups": [], "config": {}, "extra": {}, "version": 0.4,
    "models": [{"name": "v1-5-pruned-emaonly.ckpt",
                "hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
                "hash_type": "SHA256", "directory": "checkpoints"}],
}


def fooocus_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x9286] = json.dumps(FOOOCUS)
    exif[0x0131] = "Fooocus v2.5.5"
    exif[0x927C] = "fooocus"
    return exif
