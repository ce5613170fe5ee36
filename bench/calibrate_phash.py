"""Choose the perceptual-hash distance at which the registry calls a copy "the same image".

    .venv/bin/python bench/calibrate_phash.py [--data ../shared/data] [--images 300]

For ``--images`` images of the shared data set (real and generated, evenly spaced), computes the
64-bit pHash (provenance._stamp.perceptual_hash) of the image and of edited copies (JPEG q90/q75/q50,
resize 0.5, WebP q80, crop 90% area), then reports (a) the Hamming distance from each image to
its own copies and (b) the smallest distance from each image to any *other* image. A threshold
must sit above (a) and below (b).
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from provenance import ImageError, load_image  # noqa: E402
from provenance._registry import hamming  # noqa: E402
from provenance._stamp import perceptual_hash  # noqa: E402


def _enc(rgb, fmt, **kw):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return np.asarray(Image.open(buf).convert("RGB"))


EDITS = {
    "JPEG q90": lambda a: _enc(a, "JPEG", quality=90),
    "JPEG q75": lambda a: _enc(a, "JPEG", quality=75),
    "JPEG q50": lambda a: _enc(a, "JPEG", quality=50),
    "WebP q80": lambda a: _enc(a, "WEBP", quality=80),
    "resize 0.5": lambda a: np.asarray(Image.fromarray(a).resize((a.shape[1] // 2, a.shape[0] // 2), Image.BICUBIC)),
    "crop 90% area": lambda a: a[int(a.shape[0] * 0.026):int(a.shape[0] * 0.974), int(a.shape[1] * 0.026):int(a.shape[1] * 0.974)],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--images", type=int, default=300)
    args = ap.parse_args()
    rows = []
    for split in ("real", "generated"):
        with (args.data / split / "MANIFEST.csv").open(newline="") as fh:
            rows += [r["file"] for r in csv.DictReader(fh)]
    rows = rows[:: max(1, len(rows) // args.images)][: args.images]
    hashes, self_d = [], {k: [] for k in EDITS}
    for rel in rows:
        try:
            rgb = load_image(args.data / rel).rgb
        except ImageError:
            continue
        h = perceptual_hash(rgb)
        hashes.append(h)
        for name, edit in EDITS.items():
            self_d[name].append(hamming(h, perceptual_hash(edit(rgb))))
    n = len(hashes)
    nearest = [min(hamming(hashes[i], hashes[j]) for j in range(n) if j != i) for i in range(n)]
    print(f"{n} images from {args.data}\n")
    print("| copy | median | p95 | max |")
    print("|---|--:|--:|--:|")
    for name, d in self_d.items():
        print(f"| {name} | {np.median(d):.0f} | {np.quantile(d, 0.95):.0f} | {max(d)} |")
    nn = np.asarray(nearest)
    print(f"\nnearest other image: min {nn.min()}, p1 {np.quantile(nn, 0.01):.0f}, p5 {np.quantile(nn, 0.05):.0f}, "
          f"median {np.median(nn):.0f}")
    for t in (4, 6, 8, 10, 12):
        kept = {k: float(np.mean(np.asarray(v) <= t)) for k, v in self_d.items()}
        false = int((nn <= t).sum())
        print(f"threshold {t}: copies matched " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in kept.items())
              + f"; images with another image within it: {false}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
