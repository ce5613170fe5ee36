"""Generator metadata naming more than one model: ComfyUI's SDXL base + refiner graph (both its API
and UI forms, as ComfyUI's SaveImage writes them), a hires-fix second pass, and InvokeAI 2.x
``sd-metadata`` whose weights name sits in ``model_id``."""
from __future__ import annotations

import copy
import json

from test_metadata_parsers import generator, png_bytes

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


def _check_base_and_refiner(info):
    assert info.tool == "ComfyUI"
    assert info.model == BASE and info.model_hash == SDXL_REFINER_WORKFLOW["models"][0]["hash"]
    assert [(c["name"], c["role"]) for c in info.checkpoints] == [(BASE, "base"), (REFINER, "refiner")]
    assert info.checkpoints[0]["hash"] == info.model_hash and "hash" not in info.checkpoints[1]
    # The base added the noise: its seed (the refiner's noise_seed is 0, noise disabled), its steps.
    assert (info.seed, info.steps, info.cfg, info.sampler, info.scheduler) == (721897303308196, 25, 8.0, "euler",
                                                                             "normal")
    assert (info.prompt, info.negative_prompt) == (POSITIVE, NEGATIVE)
    assert (info.width, info.height) == (1024, 1024) and info.extra["sampling_passes"] == 2
    out = info.to_dict()
    assert out["model"] == BASE and [c["role"] for c in out["checkpoints"]] == ["base", "refiner"]


def test_comfyui_sdxl_base_and_refiner_api_graph():
    """The API graph of ComfyUI's SDXL refiner example: both checkpoints in order with their roles,
    the model is the base, and the seed is the base sampler's (it used to report only the refiner)."""
    _check_base_and_refiner(generator(png_bytes({"prompt": json.dumps(SDXL_REFINER_PROMPT),
                                                 "workflow": json.dumps(SDXL_REFINER_WORKFLOW)})))


def test_comfyui_sdxl_base_and_refiner_ui_graph():
    """The same workflow with only the UI graph (links table, widget values) gives the same reading."""
    _check_base_and_refiner(generator(png_bytes({"workflow": json.dumps(SDXL_REFINER_WORKFLOW)})))


def test_comfyui_hires_fix_second_pass_is_one_checkpoint():
    """A second sampling pass with the same checkpoint (latent upscale, denoise 0.5) lists the
    checkpoint once, as the base; the seed and steps are the first pass's."""
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 42, "steps": 30, "cfg": 7, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "10": {"class_type": "LatentUpscaleBy", "inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5,
                                                           "samples": ["3", 0]}},
        "11": {"class_type": "KSampler", "inputs": {
            "seed": 43, "steps": 12, "cfg": 7, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 0.5,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["10", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "hires", "images": ["8", 0]}},
    }
    info = generator(png_bytes({"prompt": json.dumps(graph)}))
    assert info.model == "dreamshaper_8.safetensors"
    assert info.checkpoints == [{"name": "dreamshaper_8.safetensors", "role": "base"}]
    assert (info.seed, info.steps, info.extra["sampling_passes"]) == (42, 30, 2)
    assert (info.width, info.height) == (512, 768)


def test_comfyui_single_sampler_lists_its_checkpoint():
    """The basic one-sampler graph keeps its reading, with the one checkpoint as the base."""
    from test_metadata_parsers import COMFY_PROMPT

    info = generator(png_bytes({"prompt": json.dumps(copy.deepcopy(COMFY_PROMPT))}))
    assert info.checkpoints == [{"name": "v1-5-pruned-emaonly.safetensors", "role": "base"}]
    assert info.seed == 8566257 and "sampling_passes" not in info.extra


# InvokeAI 2.0-2.2 (ldm/invoke/args.py metadata_dumps): the weights' name is "model_id"; "model"
# is always "stable diffusion". 2.3 renamed it "model_weights".
INVOKE_2_SD_METADATA = {
    "model": "stable diffusion", "model_id": "stable-diffusion-1.5",
    "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
    "app_id": "invoke-ai/InvokeAI", "app_version": "2.2.5",
    "image": {"prompt": [{"prompt": "a watercolour lighthouse", "weight": 1.0}], "steps": 30, "cfg_scale": 7.5,
              "threshold": 0, "perlin": 0, "height": 512, "width": 512, "seed": 1234567, "type": "txt2img",
              "postprocessing": None, "sampler": "k_euler_a", "variations": []},
}


def test_invokeai_2x_model_id_is_the_model():
    """InvokeAI 2.x's model name (model_id) is reported as the model, not left in extra."""
    info = generator(png_bytes({"sd-metadata": json.dumps(INVOKE_2_SD_METADATA)}))
    assert info.tool == "InvokeAI" and info.model == "stable-diffusion-1.5"
    assert info.model_hash == INVOKE_2_SD_METADATA["model_hash"] and info.version == "2.2.5"
    assert "model_id" not in info.extra and info.extra.get("model") == "stable diffusion"
    assert (info.prompt, info.seed, info.steps, info.sampler) == ("a watercolour lighthouse", 1234567, 30, "k_euler_a")


def test_invokeai_2x_grid_reads_the_first_image():
    """A grid's sd-metadata has "images" (one per seed): the first one's settings are read."""
    grid = copy.deepcopy(INVOKE_2_SD_METADATA)
    first = grid.pop("image")
    grid["images"] = [first, dict(first, seed=7654321)]
    info = generator(png_bytes({"sd-metadata": json.dumps(grid)}))
    assert (info.model, info.seed) == ("stable-diffusion-1.5", 1234567)
