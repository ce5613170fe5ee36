"""Stamping benchmark: milliseconds per image, split by step, with the baseline measured in the same run.

    .venv/bin/python bench/stamp.py [--repeat 7] [--sizes 512 1024] [--methods ...] [--json out.json]

Runs on one core (thread pools pinned to 1) so figures compare across machines. For each size and
output format it stamps the same image ``--repeat`` times (after one warm-up) and reports the
median per step: decode (reading the source file), watermark, metadata (EXIF/XMP/A1111 text),
encode (pixels + metadata to PNG/JPEG), sign (C2PA manifest build + sign + embed), hash
(sha256 + perceptual hash), write (atomic write + fsync), registry (SQLite insert); "stamp steps"
is the total without decode, i.e. what stamping an image already in memory (``generate``) costs.
Methods: the default one (``provenance.watermark.DEFAULT_METHOD``, what ``stamp`` and ``generate``
use with no flag) first, then dwtDctSvd and dwtDct.

Baselines in the same run:
- ``imwatermark dwtDct``: invisible-watermark's own ``WatermarkEncoder.encode(bgr, "dwtDct")`` with a
  32-bit payload, the anchor the issue names;
- ``imwatermark dwtDctSvd``: the same for dwtDctSvd, the default before provenanceWM;
- the encoder and thumbnail choices: Pillow PNG at its default level 6 and at level 1 vs our
  writer (OpenCV, zlib level 1, RLE strategy), and C2PA signing with vs without the thumbnail.
"""
from __future__ import annotations

from _one_core import median_ms  # first: pins the thread pools before numpy loads

import os  # noqa: E402

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "samples"))

cv2.setNumThreads(1)

from render_samples import landscape  # noqa: E402

from provenance import GenerationRecord, Registry, init_keys, load_identity, stamp_file  # noqa: E402
from provenance._c2pa import ManifestSpec, sign_asset  # noqa: E402
from provenance._payload import new_content_id  # noqa: E402
from provenance.watermark import DEFAULT_METHOD  # noqa: E402

RECORD = GenerationRecord.from_json_file(REPO / "samples" / "params.json")


def bench_stamp(src: Path, out_dir: Path, fmt: str, identity, registry, repeat: int, method: str) -> dict:
    suffix = {"PNG": ".png", "JPEG": ".jpg"}[fmt]
    runs = []
    for i in range(repeat + 1):
        dst = out_dir / f"{src.stem}-{method}-{i}{suffix}"
        t = time.perf_counter()
        result = stamp_file(src, dst, identity=identity, record=RECORD, method=method, registry=registry)
        total = (time.perf_counter() - t) * 1000.0
        if i:  # skip the warm-up
            runs.append({**result.timings_ms, "total": total, "stamp steps": total - result.timings_ms["decode"]})
        dst.unlink()
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}


def bench_baselines(rgb: np.ndarray, repeat: int, identity) -> dict:
    from imwatermark import WatermarkEncoder  # imports torch: only the baseline pays for it

    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    enc = WatermarkEncoder()
    enc.set_watermark("bytes", b"test")
    out = {
        "imwatermark dwtDct (32-bit)": median_ms(lambda: enc.encode(bgr, "dwtDct"), repeat),
        "imwatermark dwtDctSvd (32-bit)": median_ms(lambda: enc.encode(bgr, "dwtDctSvd"), repeat),
    }
    img = Image.fromarray(rgb)

    def png(level):
        def run():
            buf = io.BytesIO()
            img.save(buf, "PNG", compress_level=level)
            return buf
        return run

    from provenance._png import encode_png

    out["Pillow PNG save, default level 6"] = median_ms(png(6), repeat)
    out["Pillow PNG save, level 1"] = median_ms(png(1), repeat)
    out["our PNG writer (OpenCV, zlib 1 + RLE)"] = median_ms(lambda: encode_png(rgb), repeat)
    out["PNG bytes: Pillow 6 / Pillow 1 / ours"] = (
        f"{len(png(6)().getvalue()):,} / {len(png(1)().getvalue()):,} / {len(encode_png(rgb)):,}")
    data = png(1)().getvalue()
    for thumb in (False, True):
        spec = ManifestSpec(title="x.png", software="provenance/bench", content_id=new_content_id(),
                            method="dwtDctSvd", record=RECORD, thumbnail=thumb)
        label = f"C2PA sign {'with' if thumb else 'without (ours)'} thumbnail"
        out[label] = median_ms(lambda: sign_asset(data, "image/png", spec, identity), repeat)
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--methods", nargs="+", default=list(dict.fromkeys([DEFAULT_METHOD, "dwtDctSvd", "dwtDct"])),
                    help="watermark methods to time (default: the default method, then dwtDctSvd and dwtDct)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ["PROVENANCE_HOME"] = str(tmp_path / "home")
        init_keys(org="Bench")
        identity = load_identity()
        registry = Registry()
        results: dict = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                                     "nproc": os.cpu_count(), "threads": 1},
                         "stamp": [], "baselines": {}}
        for size in args.sizes:
            src = tmp_path / f"src{size}.png"
            landscape(size, size).save(src)
            rgb = np.asarray(Image.open(src).convert("RGB"))
            for method in args.methods:
                for fmt in ("PNG", "JPEG"):
                    row = bench_stamp(src, tmp_path, fmt, identity, registry, args.repeat, method)
                    results["stamp"].append({"size": size, "format": fmt, "method": method, **row})
                    print(f"{size}² {fmt:4} {method:9}: " + ", ".join(f"{k} {v}" for k, v in row.items()),
                          file=sys.stderr)
            results["baselines"][size] = bench_baselines(rgb, args.repeat, identity)
            print(f"{size}² baselines: {results['baselines'][size]}", file=sys.stderr)
        registry.close()

    steps = ["decode", "watermark", "metadata", "encode", "sign", "hash", "write", "registry", "stamp steps", "total"]
    print("| size | format | method | " + " | ".join(steps) + " |")
    print("|---|---|---|" + "---:|" * len(steps))
    for r in results["stamp"]:
        print(f"| {r['size']}² | {r['format']} | {r['method']} | " + " | ".join(str(r.get(s, "")) for s in steps) + " |")
    print()
    print("| baseline (same run, one core) | " + " | ".join(f"{s}²" for s in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for key in results["baselines"][args.sizes[0]]:
        print(f"| {key} | " + " | ".join(str(results["baselines"][s][key]) for s in args.sizes) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
