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
from ..watermark import get_method


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
    content_id: str | None = None  # None: a fresh random id


@dataclass
class StampOutcome:
    result: StampResult
    manifest: dict
    rgb: np.ndarray  # the pixels as written (watermarked; for JPEG/WebP, after compression)
    #: Whether the method's own default scan (what verify runs) finds the mark in those pixels,
    #: with the written id; None for methods verify does not scan by default (rivaGan: seconds).
    watermark_detected: bool | None = None


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
                                           parent=job.parent, parent_action="c2pa.edited",
                                           content_id=job.content_id)
    atomic_write(job.path, signed, overwrite=job.overwrite)
    result.output = str(job.path)
    written = decode_image(signed, name=str(job.path)).rgb
    return StampOutcome(result=result, manifest=manifest, rgb=written,
                        watermark_detected=mark_found(written, job.method, result.content_id))


def mark_found(rgb: np.ndarray, method: str, content_id: str) -> bool | None:
    """Whether verify, as it runs by default, finds ``content_id`` (the part the mark carries) in
    the written pixels: the check that nothing is generated with a mark its own detector misses (a
    busy image at the method's smallest size can fall below what the mark needs). The method's
    fast scan first (provenanceWM: 4 ms at 256², 12 at 512², 50 at 1024², one core); only when it
    misses, the full detector verify runs by default. None for methods verify does not run unless
    named (rivaGan: seconds per image)."""
    m = get_method(method)
    if not m.scan_by_default or not m.available():
        return None
    for look in (m.scan, m.detect):
        found = look(rgb)
        if found.detected and found.payload and content_id.startswith(found.payload):
            return True
    return False
