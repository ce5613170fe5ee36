"""Watermark robustness: exact content-id recovery of every registered method under common attacks.

    .venv/bin/python bench/watermark.py [--data ../shared/data] [--images 20] [--methods ...]

For each method, each of ``--images`` natural images (camera photos from ``real/`` of the shared
data, centre-cropped to 512x512; synthetic images when the data is absent) is marked with a fresh
random content id, attacked, and decoded. "Recovered" means the detector reported exactly that id
(or, for 32-bit methods, its prefix); anything else, including a miss, counts as a failure. PSNR
of the marked image against the original is reported too.

Attacks are a table (``ATTACKS``): add one and every method is measured under it.
"""
from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from provenance import ImageError, load_image  # noqa: E402
from provenance._payload import new_content_id  # noqa: E402
from provenance.watermark import get_method, method_names  # noqa: E402


def _jpeg(q: int) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=q)
        return np.asarray(Image.open(buf).convert("RGB"))
    return attack


def _webp(q: int) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "WEBP", quality=q)
        return np.asarray(Image.open(buf).convert("RGB"))
    return attack


def _resize(f: float) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        h, w = rgb.shape[:2]
        return np.asarray(Image.fromarray(rgb).resize((round(w * f), round(h * f)), Image.BICUBIC))
    return attack


def _center_crop(area: float) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        h, w = rgb.shape[:2]
        s = area ** 0.5
        ch, cw = round(h * s), round(w * s)
        y, x = (h - ch) // 2, (w - cw) // 2
        return rgb[y:y + ch, x:x + cw]
    return attack


def _brightness(f: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rgb: np.clip(rgb.astype(np.float64) * f, 0, 255).astype(np.uint8)


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda rgb: rgb,
    "PNG round trip": lambda rgb: np.asarray(Image.open(io.BytesIO(_png(rgb))).convert("RGB")),
    "JPEG q90": _jpeg(90),
    "JPEG q75": _jpeg(75),
    "JPEG q50": _jpeg(50),
    "WebP q80": _webp(80),
    "resize 0.5": _resize(0.5),
    "resize 1.5": _resize(1.5),
    "crop 50% area (centre)": _center_crop(0.5),
    "brightness +20%": _brightness(1.2),
}


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def load_images(data: Path, n: int) -> tuple[list[np.ndarray], str]:
    manifest = data / "real" / "MANIFEST.csv"
    if not manifest.exists():
        from conftest import natural_image

        return [natural_image(512, 512, seed=s) for s in range(n)], "synthetic (tests/conftest.py natural_image)"
    images = []
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[::max(1, len(rows) // (4 * n))]:
        try:
            rgb = load_image(data / row["file"]).rgb
        except ImageError:
            continue
        h, w = rgb.shape[:2]
        if min(h, w) < 320:
            continue
        s = min(h, w, 512)
        y, x = (h - s) // 2, (w - s) // 2
        images.append(np.ascontiguousarray(rgb[y:y + s, x:x + s]))
        if len(images) == n:
            break
    return images, f"{len(images)} camera photos from {manifest.parent}, centre crops up to 512x512"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--methods", nargs="+", default=method_names())
    args = ap.parse_args()

    images, source = load_images(args.data, args.images)
    print(f"images: {source}", file=sys.stderr)
    table: dict[str, dict[str, str]] = {}
    for name in args.methods:
        method = get_method(name)
        if not method.available():
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        hits = {a: 0 for a in ATTACKS}
        psnrs, t0 = [], time.perf_counter()
        for rgb in images:
            cid = new_content_id()
            expected = cid[: method.codec.id_hex_len]
            marked = method.embed(rgb, cid)
            psnrs.append(_psnr(rgb, marked))
            for attack, fn in ATTACKS.items():
                r = method.detect(fn(marked))
                hits[attack] += bool(r.detected and r.payload == expected)
        n = len(images)
        table[name] = {"PSNR dB (median)": f"{statistics.median(psnrs):.1f}",
                       **{a: f"{100 * h / n:.0f}%" for a, h in hits.items()}}
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    methods = list(table)
    print(f"Exact content-id recovery, {len(images)} images ({source}).\n")
    print("| attack | " + " | ".join(methods) + " |")
    print("|---|" + "---:|" * len(methods))
    for row in ["PSNR dB (median)", *ATTACKS]:
        print(f"| {row} | " + " | ".join(table[m][row] for m in methods) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
