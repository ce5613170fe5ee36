"""Synthetic labelled data for the forensics tests: "camera" and "generated" images whose only
honest difference is a colour cast (the generated ones are more saturated, with overlap), while the
stored format (JPEG for camera, PNG for generated) separates them perfectly: the shortcut."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image

from support import natural_image


def synth_image(seed: int, is_ai: bool, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(1000 + seed)
    img = natural_image(size, size, seed=seed).astype(np.float64)
    grey = img.mean(axis=2, keepdims=True)
    gain = rng.uniform(1.25, 1.9) if is_ai else rng.uniform(0.6, 1.35)
    img = grey + (img - grey) * gain
    img += rng.normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def encode(rgb: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    else:
        Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def write_dataset(folder: Path, n_per_class: int = 16, *, swap_formats: bool = False, seed0: int = 0) -> Path:
    """Write images and a MANIFEST.csv (two sources per class) and return the manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(2 * n_per_class):
        is_ai = i % 2 == 1
        fmt = ("PNG" if is_ai else "JPEG") if not swap_formats else ("JPEG" if is_ai else "PNG")
        name = f"img{i:03d}.{'png' if fmt == 'PNG' else 'jpg'}"
        (folder / name).write_bytes(encode(synth_image(seed0 + i, is_ai), fmt))
        k = i // 2
        rows.append({"file": name, "label": "generated" if is_ai else "real",
                     "family": ("famA" if k % 2 else "famB") if is_ai else "",
                     "source_repo": f"{'gen' if is_ai else 'cam'}/{k % 2}"})
    manifest = folder / "MANIFEST.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "label", "family", "source_repo"])
        w.writeheader()
        w.writerows(rows)
    return manifest
