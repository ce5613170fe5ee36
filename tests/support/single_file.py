"""Save a diffusers SD-1.x or SDXL pipeline as one original-layout (LDM) checkpoint, like DreamShaper 8.

A1111, ComfyUI and Civitai distribute models as a single ``.safetensors`` in the layout of the
original CompVis code (``model.diffusion_model.*``, ``first_stage_model.*``,
``cond_stage_model.transformer.*``). diffusers only converts that layout *to* diffusers, so the
tests write it here from the tiny pipeline's weights, and ``from_single_file`` must undo it exactly.
"""
from __future__ import annotations

import re
from pathlib import Path

#: diffusers UNet names that keep their meaning under another name in the LDM layout
_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
}
_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet(rest: str) -> str:
    part, _, tail = rest.partition(".")
    return f"{_UNET_RESNET.get(part, part)}.{tail}"


def unet_key(key: str, *, layers_per_block: int, up_attention: list[bool]) -> str:
    """The LDM name of one diffusers UNet parameter (SD 1.x/2.x layout)."""
    n = layers_per_block + 1
    for old, new in _UNET_FIXED.items():
        if key.startswith(old + "."):
            return new + key[len(old):]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = 1 + block * n + layer
        return f"input_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{index}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{(int(m[1]) + 1) * n}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)", key):
        kind, layer, rest = m[1], int(m[2]), m[3]
        return f"middle_block.{2 * layer}.{_resnet(rest)}" if kind == "resnets" else f"middle_block.1.{rest}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = block * n + layer
        return f"output_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{index}.1.{rest}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        block = int(m[1])
        return f"output_blocks.{block * n + layers_per_block}.{2 if up_attention[block] else 1}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet parameter {key!r}")


def vae_key(key: str, *, num_up_blocks: int) -> str:
    """The LDM name of one diffusers AutoencoderKL parameter."""
    key = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    key = re.sub(r"down_blocks\.(\d+)\.resnets\.", r"down.\1.block.", key)
    key = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0\.", r"down.\1.downsample.", key)
    key = re.sub(r"up_blocks\.(\d+)\.resnets\.", lambda m: f"up.{num_up_blocks - 1 - int(m[1])}.block.", key)
    key = re.sub(r"up_blocks\.(\d+)\.upsamplers\.0\.", lambda m: f"up.{num_up_blocks - 1 - int(m[1])}.upsample.", key)
    key = re.sub(r"mid_block\.resnets\.(\d+)\.", lambda m: f"mid.block_{int(m[1]) + 1}.", key)
    if m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)$", key):
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{m[3]}"
    return key


def _unet_and_vae(pipe) -> dict:
    """The UNet's and the VAE's parameters under their LDM names (SD 1.x/2.x and SDXL alike)."""
    unet_cfg, vae_cfg = pipe.unet.config, pipe.vae.config
    up_attention = ["CrossAttn" in t for t in unet_cfg.up_block_types]
    state = {}
    for k, v in pipe.unet.state_dict().items():
        if m := re.match(r"add_embedding\.linear_([12])\.(.+)", k):  # SDXL's size/crop conditioning
            name = f"label_emb.0.{0 if m[1] == '1' else 2}.{m[2]}"
        else:
            name = unet_key(k, layers_per_block=unet_cfg.layers_per_block, up_attention=up_attention)
        state["model.diffusion_model." + name] = v
    for k, v in pipe.vae.state_dict().items():
        name = vae_key(k, num_up_blocks=len(vae_cfg.up_block_types))
        if ".mid.attn_1." in name and name.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]  # the original VAE attention uses 1x1 convolutions
        state["first_stage_model." + name] = v
    return state


def _clip(encoder, prefix: str) -> dict:
    """A transformers CLIP text encoder under ``prefix`` in its own (Hugging Face) names."""
    return {prefix + (k if k.startswith("text_model.") or k == "text_projection.weight" else "text_model." + k): v
            for k, v in encoder.state_dict().items()}


def _open_clip(encoder, prefix: str) -> dict:
    """A transformers CLIPTextModelWithProjection in OpenCLIP's names (SDXL's second encoder):
    fused q/k/v projections, ``resblocks``, ``ln_*``, ``c_fc``/``c_proj``, a transposed projection."""
    import torch

    sd = {k.removeprefix("text_model."): v for k, v in encoder.state_dict().items()}
    state = {prefix + "positional_embedding": sd["embeddings.position_embedding.weight"],
             prefix + "token_embedding.weight": sd["embeddings.token_embedding.weight"],
             prefix + "ln_final.weight": sd["final_layer_norm.weight"],
             prefix + "ln_final.bias": sd["final_layer_norm.bias"],
             prefix + "text_projection": sd["text_projection.weight"].T}
    for i in range(encoder.config.num_hidden_layers):
        old, new = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            state[new + f"attn.in_proj_{kind}"] = torch.cat([sd[old + f"self_attn.{p}_proj.{kind}"] for p in "qkv"])
            for ours, theirs in (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                                 ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
                state[new + f"{ours}.{kind}"] = sd[old + f"{theirs}.{kind}"]
    return state


def _save(state: dict, path: str | Path) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def save_sd1_single_file(pipe, path: str | Path) -> Path:
    """Write ``pipe`` (a StableDiffusionPipeline) as one LDM-layout ``.safetensors`` file."""
    return _save({**_unet_and_vae(pipe), **_clip(pipe.text_encoder, "cond_stage_model.transformer.")}, path)


def save_sdxl_single_file(pipe, path: str | Path) -> Path:
    """Write ``pipe`` (a StableDiffusionXLPipeline) as one SDXL-layout ``.safetensors`` file, as
    Civitai's SDXL checkpoints are: the first text encoder in transformers' names under
    ``conditioner.embedders.0.transformer.``, the second in OpenCLIP's under ``conditioner.embedders.1.model.``."""
    return _save({**_unet_and_vae(pipe), **_clip(pipe.text_encoder, "conditioner.embedders.0.transformer."),
                  **_open_clip(pipe.text_encoder_2, "conditioner.embedders.1.model.")}, path)
