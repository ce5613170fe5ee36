"""Tiny SD-1.x-like and SDXL-like diffusers models with random weights, saved like real ones.

Nothing is downloaded: configs, weights and the CLIP tokenizer are all made here. The LoRA is made
with peft on the tiny UNet, with non-zero up-projections so that it visibly changes the output.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TinyModels:
    sd: Path  # diffusers folder, StableDiffusionPipeline
    sdxl: Path  # diffusers folder, StableDiffusionXLPipeline
    lora: Path  # LoRA for ``sd``, safetensors
    single_file: Path  # ``sd``'s weights as one original-layout checkpoint (like DreamShaper 8)
    sdxl_single_file: Path  # ``sdxl``'s weights as one SDXL-layout checkpoint (like Juggernaut XL)


def _make_lora(pipe, directory: Path) -> Path:
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = pipe.unet
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=True,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    torch.manual_seed(5)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_B" in name:  # initialised to zero by peft: the adapter would change nothing
                param.normal_(0.0, 0.5)
    layers = get_peft_model_state_dict(unet)
    StableDiffusionPipeline.save_lora_weights(directory, unet_lora_layers=layers, safe_serialization=True,
                                              weight_name="tiny_style.safetensors")
    return directory / "tiny_style.safetensors"


def make_tiny_models(root: Path) -> TinyModels:
    from support.single_file import save_sd1_single_file, save_sdxl_single_file
    from diffusers.utils import logging as dlogging

    from provenance.generate import build_pipeline

    dlogging.disable_progress_bar()
    sd = build_pipeline("tiny-sd", work_dir=root / "work-sd", seed=0)
    sd.save_pretrained(root / "tiny-sd")
    single_file = save_sd1_single_file(sd, root / "checkpoints" / "tiny_dreamshaper.safetensors")
    sdxl = build_pipeline("tiny-sdxl", work_dir=root / "work-sdxl", seed=0)
    sdxl.save_pretrained(root / "tiny-sdxl")
    sdxl_single_file = save_sdxl_single_file(sdxl, root / "checkpoints" / "tiny_juggernaut_xl.safetensors")
    lora = _make_lora(sd, root / "loras")  # after saving: the saved UNet has no adapter
    return TinyModels(sd=root / "tiny-sd", sdxl=root / "tiny-sdxl", lora=lora, single_file=single_file,
                      sdxl_single_file=sdxl_single_file)
