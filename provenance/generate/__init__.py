"""Generate images with a diffusers pipeline and stamp every one at the source.

Needs the ``generate`` extra (diffusers, transformers, safetensors, accelerate, peft); importing
this package works without it, and the first call that needs diffusers names the extra.
"""
from __future__ import annotations

from ._architectures import ARCHITECTURES, build_pipeline
from ._bench import BenchRow, bench_generation
from ._hashing import a1111_lora_hash, a1111_short_hash, file_sha256, folder_sha256
from ._load import (
    DTYPES,
    OFFLOAD_MODES,
    QUANTIZATIONS,
    SCHEDULER_ALIASES,
    LoadedPipeline,
    LoraSpec,
    load_pipeline,
)
from ._pipeline import PendingGeneration, StampedImage, StampedPipeline, describe_pipeline, read_init_image

__all__ = [
    "ARCHITECTURES",
    "BenchRow",
    "DTYPES",
    "LoadedPipeline",
    "LoraSpec",
    "OFFLOAD_MODES",
    "PendingGeneration",
    "QUANTIZATIONS",
    "SCHEDULER_ALIASES",
    "StampedImage",
    "StampedPipeline",
    "a1111_lora_hash",
    "a1111_short_hash",
    "bench_generation",
    "build_pipeline",
    "describe_pipeline",
    "file_sha256",
    "folder_sha256",
    "load_pipeline",
    "read_init_image",
]
