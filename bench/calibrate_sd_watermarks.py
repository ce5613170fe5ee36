"""Calibrate the public Stable Diffusion watermark detectors (detectors/sd_watermarks.py).

    .venv/bin/python bench/calibrate_sd_watermarks.py [--data ../shared/data] [--positives 60]

1. Unmarked: every camera photo in ``real/`` (>= 256x256): the distribution of the best agreement
   (either polarity) with each public message, and how many reach each candidate threshold.
2. Marked: ``--positives`` camera photos marked exactly as the SD releases do (invisible-watermark's
   own encoder: SD 1.x / SD 2 on uint8 BGR like the reference scripts; SDXL on float RGB like
   diffusers' ``StableDiffusionXLWatermarker``), read back untouched and after JPEG q90: how many
   reach each threshold.
3. The shared ``generated/sd1|sd2|sdxl`` images as they are (centre crops of published outputs).
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

from detectors.sd_watermarks import PUBLIC_MARKS, SDXL_MESSAGE, best_reading  # noqa: E402
from provenance import ImageError, load_image  # noqa: E402

THRESHOLDS = (0.80, 0.85, 0.90, 0.95, 0.98, 1.0)


def sd_mark(rgb: np.ndarray, scheme: str) -> np.ndarray:
    """Mark an RGB uint8 image the way each SD release does, with invisible-watermark itself."""
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    if scheme == "sdxl":  # diffusers: float RGB in 0..255 handed to encode() as if BGR
        enc.set_watermark("bits", [int(b) for b in bin(SDXL_MESSAGE)[2:]])
        out = enc.encode(rgb.astype(np.float32), "dwtDct")
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
    enc.set_watermark("bytes", b"StableDiffusionV1" if scheme == "sd1" else b"SDV2")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    return np.ascontiguousarray(enc.encode(bgr, "dwtDct")[:, :, ::-1])


def _jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(buf).convert("RGB"))


def _images(data: Path, split: str, family: str | None = None):
    with (data / split / "MANIFEST.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if family and row.get("family") != family:
                continue
            try:
                rgb = load_image(data / row["file"]).rgb
            except ImageError:
                continue
            if rgb.shape[0] * rgb.shape[1] >= 256 * 256:
                yield row["file"], rgb


def _best(rgb: np.ndarray, mark) -> float:
    return best_reading(rgb, mark)[0]


def _summary(values: list[float]) -> str:
    v = np.asarray(values)
    counts = " ".join(f"≥{t:.2f}:{int((v >= t - 1e-9).sum())}" for t in THRESHOLDS)
    return f"n={len(v)} median={np.median(v):.3f} p99={np.quantile(v, 0.99):.3f} max={v.max():.3f} | {counts}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--positives", type=int, default=60)
    args = ap.parse_args()

    real = list(_images(args.data, "real"))
    print(f"## Unmarked camera photos ({len(real)})\n")
    worst: dict[str, tuple[float, str]] = {}
    for mark in PUBLIC_MARKS:
        vals = [_best(rgb, mark) for _, rgb in real]
        i = int(np.argmax(vals))
        worst[mark.scheme] = (vals[i], real[i][0])
        print(f"- {mark.scheme} ({mark.n_bits} bits): {_summary(vals)}; highest: {real[i][0]}")

    print(f"\n## Marked as the SD releases do ({args.positives} camera photos)\n")
    for mark in PUBLIC_MARKS:
        clean, q90, how = [], [], {}
        for _, rgb in real[:: max(1, len(real) // args.positives)][: args.positives]:
            marked = sd_mark(rgb, mark.scheme)
            value, domain, polarity = best_reading(marked, mark)
            how[(domain, polarity)] = how.get((domain, polarity), 0) + 1
            clean.append(value)
            q90.append(_best(_jpeg(marked, 90), mark))
        readings = ", ".join(f"{d}/{p}: {n}" for (d, p), n in sorted(how.items()))
        print(f"- {mark.scheme} untouched: {_summary(clean)} (best reading {readings})")
        print(f"- {mark.scheme} JPEG q90: {_summary(q90)}")

    print("\n## Shared generated images, as stored\n")
    for mark in PUBLIC_MARKS:
        vals = [_best(rgb, mark) for _, rgb in _images(args.data, "generated", mark.scheme)]
        if vals:
            print(f"- generated/{mark.scheme}: {_summary(vals)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
