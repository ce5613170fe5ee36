"""verify benchmark: median milliseconds per image, by collector, with and without forensics.

    .venv/bin/python bench/verify.py [--repeat 7] [--sizes 512 1024]

One thread. For each size: a stamped PNG (manifest, watermark, registry row) and a plain JPEG
(nothing to find), verified ``--repeat`` times after a warm-up; reports the median total and the
median per collector (decode, c2pa, watermarks, metadata, registry, forensics).
"""
from __future__ import annotations

import _one_core  # noqa: F401  (first: pins the thread pools before numpy loads)

import os  # noqa: E402

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "samples"))
cv2.setNumThreads(1)

from render_samples import landscape  # noqa: E402

from provenance import GenerationRecord, Registry, init_keys, load_identity, stamp_file  # noqa: E402
from provenance._trust import trust_anchors  # noqa: E402
from provenance._verify import VerifyOptions, verify_file  # noqa: E402

COLLECTORS = ["decode", "c2pa", "watermarks", "metadata", "registry", "forensics"]


def bench(path: Path, options: VerifyOptions, repeat: int) -> dict:
    verify_file(path, options=options)  # warm-up (imports, model load)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        report = verify_file(path, options=options)
        runs.append({"total": (time.perf_counter() - t) * 1000.0, **report.timing_ms})
    return {k: round(statistics.median(r.get(k, 0.0) for r in runs), 1) for k in ["total", *COLLECTORS]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ["PROVENANCE_HOME"] = str(tmp_path / "home")
        init_keys(org="Bench")
        identity = load_identity()
        pem, _ = trust_anchors()
        with Registry() as registry:
            for size in args.sizes:
                src = tmp_path / f"src{size}.png"
                landscape(size, size).save(src)
                stamped = tmp_path / f"stamped{size}.png"
                stamp_file(src, stamped, identity=identity, record=GenerationRecord(model="bench"), registry=registry)
                plain = tmp_path / f"plain{size}.jpg"
                landscape(size, size, seed=9).save(plain, quality=90)
                for label, path in (("stamped PNG", stamped), ("plain JPEG", plain)):
                    for forensics in (False, True):
                        options = VerifyOptions(trust_anchors_pem=pem, registry=registry, forensics=forensics)
                        row = bench(path, options, args.repeat)
                        rows.append({"size": size, "file": label, "forensics": forensics, **row})
                        print(rows[-1], file=sys.stderr)
    print("| size | file | forensics | total | " + " | ".join(COLLECTORS) + " |")
    print("|---|---|---|---:|" + "---:|" * len(COLLECTORS))
    for r in rows:
        print(f"| {r['size']}² | {r['file']} | {'yes' if r['forensics'] else 'no'} | {r['total']} | "
              + " | ".join(str(r[c]) for c in COLLECTORS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
