"""Watermark robustness: exact content-id recovery of every registered method under attacks.

    .venv/bin/python bench/watermark.py [--data ../shared/data] [--images 20] [--slow-images 5]
                                        [--methods ...] [--attacks ...] [--no-timing]

For each method, each of ``--images`` images (half camera photos from ``real/``, half generated
images from ``generated/`` of the shared data, centre-cropped to at most 512x512; synthetic images
when the data is absent) is marked with a fresh random content id, attacked, and decoded.
"Recovered" means the detector reported exactly that id (or, for 32-bit methods, its prefix);
anything else, including a miss, counts as a failure; detections that name another id are
counted separately ("wrong ids"). "Bit accuracy" compares the raw received
word with the embedded one (a detector that found no synchronisation returns no word: counted as
50%, chance). PSNR and SSIM (luminance, Gaussian window) of the marked image against the
original, and the median embed / detect time at 512x512 and 1024x1024 on one thread (detect
also on an unmarked image, with the default detector and with the fast scan, and the same on the
first 20 bench images as they are, unmarked), are reported too.
``--fast`` measures recovery with the fast scan (``verify --fast``) instead of the default
detector. Slow methods (rivaGan, ~2 s per call here) run on the first ``--slow-images``.

Attacks are a table (``ATTACKS``): add one and every method is measured under it.
"""
from __future__ import annotations

import _one_core  # noqa: F401  (first: one thread for numpy and OpenCV)
import argparse
import csv
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from provenance import ImageError, load_image  # noqa: E402
from provenance._payload import new_content_id  # noqa: E402
from provenance.watermark import get_method, method_names  # noqa: E402


def _reencode(fmt: str, q: int) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, quality=q)
        return np.asarray(Image.open(buf).convert("RGB"))
    return attack


def _jpeg(q: int) -> Callable[[np.ndarray], np.ndarray]:
    return _reencode("JPEG", q)


def _webp(q: int) -> Callable[[np.ndarray], np.ndarray]:
    return _reencode("WEBP", q)


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


def _corner_crop(area: float) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        h, w = rgb.shape[:2]
        s = area ** 0.5
        return rgb[h - round(h * s):, w - round(w * s):]  # bottom-right corner: a non-zero offset
    return attack


def _aspect(fx: float, fy: float) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        h, w = rgb.shape[:2]
        return np.asarray(Image.fromarray(rgb).resize((round(w * fx), round(h * fy)), Image.BICUBIC))
    return attack


def _rotate(deg: float) -> Callable[[np.ndarray], np.ndarray]:
    # Same canvas, black corners, as an editor's "straighten" without auto-crop.
    return lambda rgb: np.asarray(Image.fromarray(rgb).rotate(deg, resample=Image.BICUBIC))


def _brightness(f: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rgb: np.clip(rgb.astype(np.float64) * f, 0, 255).astype(np.uint8)


def _contrast(f: float) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        x = rgb.astype(np.float64)
        return np.clip((x - x.mean()) * f + x.mean(), 0, 255).astype(np.uint8)
    return attack


def _gamma(g: float) -> Callable[[np.ndarray], np.ndarray]:
    lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** g), 0, 255).astype(np.uint8)
    return lambda rgb: lut[rgb]


def _noise(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    def attack(rgb):
        rng = np.random.default_rng(1234)  # fixed: every method sees the same noise
        return np.clip(rgb + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8)
    return attack


def _blur(radius: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rgb: np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))


def _median(size: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rgb: np.asarray(Image.fromarray(rgb).filter(ImageFilter.MedianFilter(size)))


def _quantize(colors: int) -> Callable[[np.ndarray], np.ndarray]:
    # Screenshot / GIF-like palette reduction with dithering.
    return lambda rgb: np.asarray(Image.fromarray(rgb).quantize(colors).convert("RGB"))


def _combined(rgb: np.ndarray) -> np.ndarray:
    return _center_crop(0.8)(_resize(0.75)(_jpeg(75)(rgb)))


def _hflip(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def _vflip(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[::-1])


def _png_roundtrip(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(_png(rgb))).convert("RGB"))


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda rgb: rgb,
    "PNG round trip": lambda rgb: np.asarray(Image.open(io.BytesIO(_png(rgb))).convert("RGB")),
    "JPEG q90": _jpeg(90),
    "JPEG q75": _jpeg(75),
    "JPEG q50": _jpeg(50),
    "JPEG q30": _jpeg(30),
    "WebP q80": _webp(80),
    "resize 0.5": _resize(0.5),
    "resize 0.3": _resize(0.3),
    "resize 1.5": _resize(1.5),
    "crop 50% area (centre)": _center_crop(0.5),
    "crop 25% area (centre)": _center_crop(0.25),
    "crop 50% area (corner)": _corner_crop(0.5),
    "crop 25% area (corner)": _corner_crop(0.25),
    "aspect 4:3 (width x0.75)": _aspect(0.75, 1.0),
    "rotation 2°": _rotate(2.0),
    "rotation 5°": _rotate(5.0),
    "brightness +20%": _brightness(1.2),
    "brightness -20%": _brightness(0.8),
    "contrast 0.8": _contrast(0.8),
    "gamma 1.5": _gamma(1.5),
    "noise σ=5": _noise(5.0),
    "noise σ=10": _noise(10.0),
    "blur σ=1": _blur(1.0),
    "median 3x3": _median(3),
    "quantise 64 colours": _quantize(64),
    "JPEG75+resize0.75+crop80%": _combined,
    "resize 2": _resize(2.0),
    "screenshot (resize 0.8, PNG)": lambda rgb: _png_roundtrip(_resize(0.8)(rgb)),
    "resize 0.75 + JPEG q75": lambda rgb: _jpeg(75)(_resize(0.75)(rgb)),
    "flip horizontal": _hflip,
    "flip vertical": _vflip,
    "flip horizontal + rotation 2°": lambda rgb: _rotate(2.0)(_hflip(rgb)),
    "flip vertical + resize 0.5": lambda rgb: _resize(0.5)(_vflip(rgb)),
}


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the luminance (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03)."""
    import cv2

    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
    mx, my = g(x), g(y)
    vx, vy, cxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(m.mean())


SLOW_METHODS = {"rivaGan"}


def load_images(data: Path, n: int, min_side: int = 320) -> tuple[list[np.ndarray], str]:
    """``n`` images, half real photos and half generated images, centre crops of at most 512x512
    from images whose shorter side is at least ``min_side``."""
    manifests = [data / "real" / "MANIFEST.csv", data / "generated" / "MANIFEST.csv"]
    if not manifests[0].exists():
        from support import natural_image

        return [natural_image(512, 512, seed=s) for s in range(n)], "synthetic (tests/support natural_image)"
    per = {manifests[0]: n - n // 2, manifests[1]: n // 2}
    picked: dict[Path, list[np.ndarray]] = {}
    for manifest, want in per.items():
        images: list[np.ndarray] = []
        if want and manifest.exists():
            with manifest.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            for row in rows[::max(1, len(rows) // (4 * want))]:
                try:
                    rgb = load_image(data / row["file"]).rgb
                except ImageError:
                    continue
                h, w = rgb.shape[:2]
                if min(h, w) < min_side:
                    continue
                s = min(h, w, 512)
                y, x = (h - s) // 2, (w - s) // 2
                images.append(np.ascontiguousarray(rgb[y:y + s, x:x + s]))
                if len(images) == want:
                    break
        picked[manifest] = images
    real, gen = picked[manifests[0]], picked[manifests[1]]
    mixed = [im for pair in zip(real, gen) for im in pair] + real[len(gen):] + gen[len(real):]
    sizes = sorted({im.shape[0] for im in mixed})
    return mixed, (f"{len(real)} camera photos + {len(gen)} generated images from {data}, interleaved, "
                   f"centre crops of {sizes[0]}-{sizes[-1]} px square")


def _bit_accuracy(method, result, cid: str) -> float:
    if not result.raw_bits:
        return 0.5
    sent = method.codec.encode(cid)
    got = np.unpackbits(np.frombuffer(bytes.fromhex(result.raw_bits), np.uint8))[: sent.size]
    return float(np.mean(got == sent))


TIMED = ("embed", "detect", "detect unmarked", "fast scan unmarked")
#: Bench images (unmarked originals) timed for the extra cost of the default detector.
TIMED_IMAGES = 20


def _image_timings(method, images: list[np.ndarray], repeat: int) -> dict[str, str]:
    """On the first ``TIMED_IMAGES`` bench images as they are (unmarked): the median over images
    of each image's median milliseconds, default detector and fast scan, and the default's extra
    cost over the fast scan (median and 90th percentile over images), one thread."""
    full, fast = [], []
    for img in images[:TIMED_IMAGES]:
        for out, fn in ((full, method.detect), (fast, method.scan)):
            fn(img)
            ts = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn(img)
                ts.append(1e3 * (time.perf_counter() - t0))
            out.append(statistics.median(ts))
    extra = np.array(full) - np.array(fast)
    n = len(full)
    return {"detect unmarked ms (bench images, median)": f"{statistics.median(full):.0f}",
            "fast scan unmarked ms (bench images, median)": f"{statistics.median(fast):.0f}",
            "extra over the fast scan, unmarked bench images ms (median / p90)":
                f"{np.median(extra):.0f} / {np.quantile(extra, 0.9):.0f} ({n} images)"}


def _timings(method, repeat: int) -> dict[str, float]:
    """Median milliseconds at 512x512 and 1024x1024 on a synthetic photo-like image: embed,
    detect (the default detector, as verify and audit run it) on the marked image, and on the
    unmarked one both the default detector and the fast scan (``--fast``; the same as detect for
    methods without a geometric search). An unmarked image is the common case of a bulk audit
    and the costliest: the detector gives up only after its whole search."""
    from support import natural_image

    out = {}
    for n in (512, 1024):
        img = natural_image(n, n, seed=7)
        cid = new_content_id()
        marked = method.embed(img, cid)
        ops = (("embed", lambda: method.embed(img, cid)), ("detect", lambda: method.detect(marked)),
               ("detect unmarked", lambda: method.detect(img)), ("fast scan unmarked", lambda: method.scan(img)))
        for op, fn in ops:
            fn()  # warm-up: first-call table building is not the per-image cost
            ts = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                ts.append(1e3 * (time.perf_counter() - t0))
            out[f"{op} ms {n}²"] = statistics.median(ts)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--min-side", type=int, default=320,
                    help="use only images whose shorter side is at least this (512: every crop is 512x512)")
    ap.add_argument("--slow-images", type=int, default=5, help="images for slow methods (rivaGan)")
    ap.add_argument("--methods", nargs="+", default=method_names())
    ap.add_argument("--repeat", type=int, default=5, help="timing repetitions (median)")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--seed", type=int, default=None,
                    help="draw the content ids from this seed (default: fresh random ids each run; "
                         "rates move by an image or two between draws)")
    ap.add_argument("--attacks", nargs="+", choices=list(ATTACKS), metavar="ATTACK",
                    help="only these rows of the attack table (quote names with spaces); default all")
    ap.add_argument("--fast", action="store_true",
                    help="measure the fast scan (verify --fast) instead of the default detector")
    args = ap.parse_args()
    attacks = {a: ATTACKS[a] for a in args.attacks} if args.attacks else ATTACKS

    import cv2

    cv2.setNumThreads(1)  # timings are for one core (also set OMP_NUM_THREADS=1 for numpy's BLAS)
    load0 = os.getloadavg()[0]
    images, source = load_images(args.data, args.images, args.min_side)
    print(f"images: {source}", file=sys.stderr)
    table: dict[str, dict[str, str]] = {}
    counts: dict[str, int] = {}
    for name in args.methods:
        method = get_method(name)
        if not method.available():
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        use = images[: args.slow_images] if name in SLOW_METHODS else images
        hits = {a: 0 for a in attacks}
        wrong = 0  # detections naming another id: a failure worse than a miss
        acc: dict[str, list[float]] = {a: [] for a in attacks}
        psnrs, ssims, t0 = [], [], time.perf_counter()
        ids = np.random.default_rng(args.seed) if args.seed is not None else None
        for rgb in use:
            cid = new_content_id() if ids is None else ids.bytes(8).hex()
            expected = cid[: method.codec.id_hex_len]
            marked = method.embed(rgb, cid)
            psnrs.append(_psnr(rgb, marked))
            ssims.append(_ssim(rgb, marked))
            for attack, fn in attacks.items():
                r = (method.scan if args.fast else method.detect)(fn(marked))
                hits[attack] += bool(r.detected and r.payload == expected)
                wrong += bool(r.detected and r.payload != expected)
                acc[attack].append(_bit_accuracy(method, r, cid))
        n = len(use)
        counts[name] = n
        row = {"PSNR dB (median)": f"{statistics.median(psnrs):.1f}",
               "PSNR dB (min)": f"{min(psnrs):.1f}",
               "SSIM (median)": f"{statistics.median(ssims):.4f}",
               "wrong ids (all attacks)": f"{wrong} of {n * len(attacks)}"}
        # The count too: a whole-percent rounding would hide a miss (158/160 = 98.75% prints as 99%).
        row.update({a: f"{100 * hits[a] / n:.1f}% = {hits[a]}/{n} ({100 * statistics.mean(acc[a]):.0f}%)"
                    for a in attacks})
        if not args.no_timing:
            row.update({k: f"{v:.0f}" for k, v in _timings(method, 1 if name in SLOW_METHODS else args.repeat).items()})
            row.update(_image_timings(method, use, 1 if name in SLOW_METHODS else args.repeat))
        table[name] = row
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    methods = list(table)
    print(f"Exact payload recovery (mean bit accuracy of the raw word in brackets); images: {source}; "
          + ", ".join(f"{m}: {counts[m]} images" for m in methods)
          + f"; load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n")
    print("| attack | " + " | ".join(methods) + " |")
    print("|---|" + "---:|" * len(methods))
    rows = ["PSNR dB (median)", "PSNR dB (min)", "SSIM (median)", *attacks, "wrong ids (all attacks)"]
    if not args.no_timing:
        rows += [f"{op} ms {n}²" for n in (512, 1024) for op in TIMED]
        rows += ["detect unmarked ms (bench images, median)", "fast scan unmarked ms (bench images, median)",
                 "extra over the fast scan, unmarked bench images ms (median / p90)"]
    for row in rows:
        print(f"| {row} | " + " | ".join(table[m][row] for m in methods) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
