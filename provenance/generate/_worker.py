"""The per-image stamping job, run in a worker process (or thread) while the GPU goes on generating.

It is a module-level function of picklable arguments so that a ``spawn`` process pool can run it:
the parent may hold CUDA state, which must never be forked.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._imageio import LoadedImage, atomic_write, decode_image
from .._keys import SigningIdentity
from .._record import GenerationRecord
from .._stamp import StampResult, stamp_image


@dataclass
class StampJob:
    rgb: np.ndarray  # H x W x 3 uint8, as decoded by the pipeline
    path: Path
    fmt: str
    identity: SigningIdentity
    record: GenerationRecord
    method: str
    quality: int
    overwrite: bool
    parent: Path | None = None  # the init image of an image-to-image run, kept as a C2PA ingredient


@dataclass
class StampOutcome:
    result: StampResult
    manifest: dict
    rgb: np.ndarray  # the pixels as written (watermarked; for JPEG/WebP, after compression)


def warm_up(method: str, identity: SigningIdentity) -> None:
    """Run in each new worker before the first image arrives: stamp a small synthetic image in
    memory (nothing is written), so that imports, the watermark's set-up, the signer and the
    perceptual hash's first call (about 0.3 s together) happen while the pipeline is still
    generating, not on the first batch's images."""
    rgb = np.random.default_rng(0).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    signed, _, _ = stamp_image(LoadedImage(path=None, format="PNG", rgb=rgb), fmt="PNG", identity=identity,
                               record=GenerationRecord(), method=method, title="warm-up")
    decode_image(signed, name="warm-up")


def run_stamp_job(job: StampJob) -> StampOutcome:
    """Watermark, write metadata, sign and atomically write one generated image."""
    image = LoadedImage(path=None, format="PNG", rgb=job.rgb)
    signed, result, manifest = stamp_image(image, fmt=job.fmt, identity=job.identity, record=job.record,
                                           method=job.method, quality=job.quality, title=job.path.name,
                                           parent=job.parent, parent_action="c2pa.edited")
    atomic_write(job.path, signed, overwrite=job.overwrite)
    result.output = str(job.path)
    return StampOutcome(result=result, manifest=manifest, rgb=decode_image(signed, name=str(job.path)).rgb)
