#!/usr/bin/env python3
"""Time invisible-watermark's dwtDct / dwtDctSvd against our vectorised port (``_fast_iw``).

For each method, size (512x512 and 1024x1024: ``samples/landscape.png`` resized) and operation
(embed, decode) it runs iw 0.2.0's original class and our function five times each and reports
the median, on one thread (OMP/OpenBLAS/MKL threads and OpenCV's set to 1 before numpy and cv2
load). It also checks that the two give identical pixels and bits, and fails if they do not.

Usage::

    python bench/iw_speed.py [--runs N]

Prints a markdown table to stdout.
"""
from __future__ import annotations

import _one_core  # noqa: F401  (first: pins the thread pools before numpy loads)

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from provenance.watermark import _fast_iw as fast  # noqa: E402
from provenance.watermark._imwatermark import _iw_module  # noqa: E402

N_BITS = 136
SIZES = (512, 1024)


def _image(size: int) -> np.ndarray:
    sample = cv2.imread(str(REPO_ROOT / "samples" / "landscape.png"), cv2.IMREAD_COLOR)
    if sample is None:  # no sample: a smooth synthetic image
        yy, xx = np.mgrid[0:size, 0:size] / size
        sample = np.stack([120 + 80 * np.sin(6 * xx), 110 + 70 * np.cos(5 * yy), 100 + 90 * xx * yy], 2)
        return np.clip(sample, 0, 255).astype(np.uint8)
    interp = cv2.INTER_AREA if size < sample.shape[0] else cv2.INTER_CUBIC
    return cv2.resize(sample, (size, size), interpolation=interp)


def _median_ms(fn, runs: int) -> tuple[float, object]:
    result = fn()  # warm-up (imports, caches); also the result we compare
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per cell (median reported)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)

    methods = {
        "dwtDct": (_iw_module("maxDct").EmbedMaxDct, fast.embed_dwt_dct, fast.decode_dwt_dct),
        "dwtDctSvd": (_iw_module("dwtDctSvd").EmbedDwtDctSvd, fast.embed_dwt_dct_svd,
                      fast.decode_dwt_dct_svd),
    }
    bits = np.random.default_rng(0).integers(0, 2, N_BITS).astype(np.uint8)
    rows, mismatches = [], []
    for name, (iw_class, embed, decode) in methods.items():
        for size in SIZES:
            img = _image(size)
            iw_enc = iw_class(watermarks=list(bits), wmLen=N_BITS)
            iw_dec = iw_class(watermarks=[], wmLen=N_BITS)
            t_iw, iw_marked = _median_ms(lambda: iw_enc.encode(img), args.runs)
            t_ours, our_marked = _median_ms(lambda: embed(img, bits), args.runs)
            if not np.array_equal(iw_marked, our_marked):
                mismatches.append(f"{name} {size} embed")
            rows.append((name, size, "embed", t_iw, t_ours))
            t_iw, iw_bits = _median_ms(lambda: iw_dec.decode(iw_marked), args.runs)
            t_ours, our_bits = _median_ms(lambda: decode(iw_marked, N_BITS)[0], args.runs)
            if not np.array_equal(np.asarray(iw_bits, np.uint8), our_bits):
                mismatches.append(f"{name} {size} decode")
            rows.append((name, size, "decode", t_iw, t_ours))

    print(f"invisible-watermark original vs `provenance.watermark._fast_iw`: {N_BITS} bits, "
          f"median of {args.runs} runs, one thread, {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}, OpenCV {cv2.__version__}\n")
    print("| method | size | op | iw 0.2.0 (ms) | ours (ms) | speed-up |")
    print("|---|---|---|---:|---:|---:|")
    for name, size, op, t_iw, t_ours in rows:
        print(f"| {name} | {size}x{size} | {op} | {t_iw:.1f} | {t_ours:.1f} | {t_iw / t_ours:.0f}x |")
    print()
    print("identical output: " + ("yes (every embed pixel-identical, every decode bit-identical)"
                                  if not mismatches else "NO: " + ", ".join(mismatches)))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
