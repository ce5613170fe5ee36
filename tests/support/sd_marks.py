"""A public Stable Diffusion watermark embedded the way the SD pipelines do (invisible-watermark)."""
from __future__ import annotations

import numpy as np

from detectors.sd_watermarks import SDXL_MESSAGE


def sd_mark(rgb: np.ndarray, scheme: str) -> np.ndarray:
    """Mark like the reference code: CompVis/Stability scripts (uint8 BGR) or diffusers' SDXL (float RGB)."""
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    if scheme == "sdxl":
        enc.set_watermark("bits", [int(b) for b in bin(SDXL_MESSAGE)[2:]])
        return np.clip(np.round(enc.encode(rgb.astype(np.float32), "dwtDct")), 0, 255).astype(np.uint8)
    enc.set_watermark("bytes", b"StableDiffusionV1" if scheme == "sd1" else b"SDV2")
    return np.ascontiguousarray(enc.encode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDct")[:, :, ::-1])
