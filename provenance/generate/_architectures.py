"""Stable Diffusion pipelines with random weights, built from configs: nothing is downloaded.

Timings and memory do not depend on weight values, so these stand in for real checkpoints in the
GPU benchmark (full-size SD 1.5 and SDXL architectures) and in the tests (tiny ones). The CLIP
tokenizer is built from a byte-level vocabulary written here, with no merges: every byte is a token.
"""
from __future__ import annotations

import json
from pathlib import Path

from ._require import require_diffusers

#: Architectures by name: text encoder(s), UNet and VAE configs. ``tiny-*`` are for tests
#: (256x256 images in well under a second per step on a CPU); the others match the real models.
ARCHITECTURES = ("tiny-sd", "tiny-sdxl", "sd15", "sdxl")

_VAE_TINY = dict(
    block_out_channels=[8, 8, 16, 16], in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=4,
    sample_size=256,
)
_VAE_SD = dict(
    block_out_channels=[128, 256, 512, 512], in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=32,
    sample_size=512, scaling_factor=0.18215,
)
_CLIP_TINY = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                  max_position_embeddings=77, projection_dim=32, hidden_act="gelu")
#: The tiny SDXL's second text encoder is wider than its first, as in SDXL (CLIP ViT-L 768 and OpenCLIP
#: ViT-bigG 1280): diffusers tells the two apart by width when it reads a single-file checkpoint.
_CLIP_TINY_G = dict(_CLIP_TINY, hidden_size=48, intermediate_size=53, projection_dim=48)
_CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
               max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu")
_CLIP_BIGG = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                  max_position_embeddings=77, projection_dim=1280, hidden_act="gelu")
_UNET_TINY_SD = dict(
    block_out_channels=[16, 32], layers_per_block=1, sample_size=64, in_channels=4, out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
)
_UNET_TINY_SDXL = dict(
    block_out_channels=[16, 32], layers_per_block=1, sample_size=64, in_channels=4, out_channels=4,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"], up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
    attention_head_dim=[2, 4], use_linear_projection=True, addition_embed_type="text_time",
    addition_time_embed_dim=8, transformer_layers_per_block=[1, 1],
    projection_class_embeddings_input_dim=6 * 8 + 48, cross_attention_dim=32 + 48, norm_num_groups=8,
)
_UNET_SD15 = dict(
    block_out_channels=[320, 640, 1280, 1280], layers_per_block=2, sample_size=64, in_channels=4, out_channels=4,
    down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, cross_attention_dim=768, attention_head_dim=8,
)
_UNET_SDXL = dict(
    block_out_channels=[320, 640, 1280], layers_per_block=2, sample_size=128, in_channels=4, out_channels=4,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], attention_head_dim=[5, 10, 20],
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    transformer_layers_per_block=[1, 2, 10], projection_class_embeddings_input_dim=2816, cross_attention_dim=2048,
)
_SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                  steps_offset=1, timestep_spacing="leading")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_tokenizer_files(directory: str | Path) -> Path:
    """Write a byte-level CLIP vocabulary (514 tokens, no merges) to ``directory``; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return directory


def build_tokenizer(directory: str | Path, *, pad_token: str = "<|endoftext|>"):
    from transformers import CLIPTokenizer

    directory = write_tokenizer_files(directory)
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), pad_token=pad_token,
                         model_max_length=77)


def _text_encoder(cfg: dict, *, projection: bool, seed: int):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=49408 if cfg["hidden_size"] >= 768 else 1000, bos_token_id=512,
                            eos_token_id=513, pad_token_id=513, **cfg)
    torch.manual_seed(seed)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def build_pipeline(architecture: str, *, work_dir: str | Path, seed: int = 0):
    """A diffusers pipeline of ``architecture`` (see :data:`ARCHITECTURES`) with random weights.

    ``work_dir`` receives the tokenizer files. Weights are fp32 on the CPU; move and cast as needed.
    """
    diffusers = require_diffusers()
    import torch

    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {', '.join(ARCHITECTURES)}")
    tiny = architecture.startswith("tiny-")
    xl = architecture.endswith("sdxl")
    torch.manual_seed(seed)
    unet = diffusers.UNet2DConditionModel(**(
        (_UNET_TINY_SDXL if xl else _UNET_TINY_SD) if tiny else (_UNET_SDXL if xl else _UNET_SD15)))
    torch.manual_seed(seed + 1)
    vae_cfg = dict(_VAE_TINY if tiny else _VAE_SD)
    if xl and not tiny:
        vae_cfg.update(sample_size=1024, scaling_factor=0.13025, force_upcast=True)
    vae = diffusers.AutoencoderKL(**vae_cfg)
    scheduler = diffusers.EulerDiscreteScheduler(**_SCHEDULER)
    tokenizer = build_tokenizer(Path(work_dir) / "tokenizer")
    if not xl:
        text_encoder = _text_encoder(_CLIP_TINY if tiny else _CLIP_L, projection=False, seed=seed + 2)
        return diffusers.StableDiffusionPipeline(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    text_encoder = _text_encoder(_CLIP_TINY if tiny else _CLIP_L, projection=False, seed=seed + 2)
    text_encoder_2 = _text_encoder(_CLIP_TINY_G if tiny else _CLIP_BIGG, projection=True, seed=seed + 3)
    tokenizer_2 = build_tokenizer(Path(work_dir) / "tokenizer_2", pad_token="!")
    return diffusers.StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler)
