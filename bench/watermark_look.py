"""A figure to look at: provenanceWM on flat and smooth content, where a mark would show first.

    .venv/bin/python bench/watermark_look.py [--out docs/figures/watermark-flat.png]

Three 512² images (a smooth colour gradient, one flat colour, a synthetic photo-like scene) are
marked; the figure shows the central 256² of each at 1:1: original | marked | difference x20
around mid-grey. The RMS, maximum and PSNR of each change go to stdout.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from provenance.watermark import embed_watermark  # noqa: E402


def scenes() -> dict[str, np.ndarray]:
    from support import natural_image

    yy, xx = np.mgrid[0:512, 0:512] / 512.0
    gradient = np.stack([60 + 120 * xx, 90 + 100 * yy, 170 - 60 * xx], -1).astype(np.uint8)
    flat = np.full((512, 512, 3), (120, 150, 200), np.uint8)
    return {"gradient": gradient, "flat": flat, "scene": natural_image(512, 512, seed=3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "watermark-flat.png")
    args = ap.parse_args()
    rows = []
    for name, rgb in scenes().items():
        marked = embed_watermark(rgb, "8f14e45fceea167a")
        d = marked.astype(np.int32) - rgb
        mse = float(np.mean(d.astype(np.float64) ** 2))
        print(f"{name}: change RMS {np.sqrt(mse):.2f}, max {np.abs(d).max()}, PSNR {10 * np.log10(255**2 / mse):.2f} dB")
        c = np.s_[128:384, 128:384]
        amp = np.clip(128 + 20 * d[c], 0, 255).astype(np.uint8)
        rows.append(np.concatenate([rgb[c], marked[c], amp], axis=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
