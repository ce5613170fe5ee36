"""Generator metadata naming more than one model: ComfyUI's SDXL base + refiner graph (both its API
and UI forms, as ComfyUI's SaveImage writes them), a hires-fix second pass, and InvokeAI 2.x
``sd-metadata`` whose weights name sits in ``model_id``."""
from __future__ import annotations

import copy
import json

from support.metadata_samples import generator, png_bytes
from support.metadata_samples import BASE, NEGATIVE, POSITIVE, REFINER, SDXL_REFINER_PROMPT, SDXL_REFINER_WORKFLOW







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
    from support.metadata_samples import COMFY_PROMPT

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
