"""Render the bundled sample inputs: synthetic scenes the project makes itself (no third-party images).

Deterministic: the same files come out on every machine. Run from the repository root:
    python samples/render_samples.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent


def _fractal_noise(h: int, w: int, rng: np.random.Generator, octaves: int = 6) -> np.ndarray:
    out = np.zeros((h, w))
    for o in range(octaves):
        size = 2 ** (o + 2)
        grid = rng.standard_normal((size, size))
        layer = np.asarray(Image.fromarray(grid.astype(np.float32), "F").resize((w, h), Image.BICUBIC))
        out += layer / 2**o
    return (out - out.min()) / (np.ptp(out) + 1e-9)


def landscape(w: int = 512, h: int = 512, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None]
    sky = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.95 - 0.2 * y], axis=2) * np.ones((1, w, 1))
    ridge = _fractal_noise(1, w, rng)[0] * 0.25 + 0.45
    yy = np.arange(h)[:, None] / h
    mountain = yy > ridge[None, :]
    tex = _fractal_noise(h, w, rng)[:, :, None]
    rock = np.concatenate([0.30 + 0.3 * tex, 0.28 + 0.25 * tex, 0.25 + 0.2 * tex], axis=2)
    img = np.where(mountain[:, :, None], rock, sky)
    sun = ((np.arange(w)[None, :] - 0.75 * w) ** 2 + (np.arange(h)[:, None] - 0.2 * h) ** 2) < (0.06 * w) ** 2
    img[sun] = [1.0, 0.92, 0.7]
    img += rng.normal(0, 0.012, img.shape)  # sensor-like grain
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return pil.filter(ImageFilter.GaussianBlur(0.6))


def still_life(w: int = 640, h: int = 480, seed: int = 2) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    wall = 0.55 + 0.25 * _fractal_noise(h, w, rng)
    img = np.stack([wall * 0.9, wall * 0.8, wall * 0.7], axis=2)
    for cx, cy, r, col in [(0.3, 0.55, 0.16, (0.8, 0.2, 0.15)), (0.6, 0.6, 0.12, (0.9, 0.7, 0.1)),
                           (0.85, 0.5, 0.09, (0.2, 0.5, 0.25))]:
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        shade = np.clip(1.0 - (d / r) ** 2, 0, 1)[:, :, None]
        inside = (d < r)[:, :, None]
        img = np.where(inside, np.array(col) * (0.4 + 0.6 * shade), img)
    img += rng.normal(0, 0.015, img.shape)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.5))


def main() -> None:
    landscape().save(HERE / "landscape.png", optimize=True)
    still_life().save(HERE / "still_life.jpg", quality=92)
    print("wrote samples/landscape.png, samples/still_life.jpg")


if __name__ == "__main__":
    main()
