"""audit throughput: files/s, peak RSS and the cost split, against c2pa-python's Reader alone.

    .venv/bin/python bench/audit.py                    # the issue's size: 2,000 mixed images
    .venv/bin/python bench/audit.py --files 300 --jpeg512 200 --markdown out/bench-audit.md

Writes, into a temporary folder, N mixed images (512²-2048², JPEG/PNG/WebP, natural-looking
synthetic scenes, a fixed seed) and a set of 512² JPEGs (the issue's goal: >= 15 files/s with
forensics on 2 cores, and >= 1.8x from 1 to 2 workers). Each configuration runs in its own
process with the cache off, so its peak RSS (parent and largest worker) is its own. The cost split
is the mean of each collector's ``timing_ms`` over the run. The c2pa-python Reader pass reads the
same files in one process in the same run. The default watermark scan (every method, including
slow ones) is timed on a small subset, beside the fast ``dwtDctSvd``-only scan.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

COLLECTORS = ("decode", "c2pa", "watermarks", "metadata", "forensics")


def make_images(folder: Path, n: int, *, sizes: list[int], formats: list[str], seed: int) -> None:
    from conftest import natural_image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tiles = {}
    for i in range(n):
        side = int(rng.choice(sizes))
        fmt = str(rng.choice(formats))
        key = (side, i % 8)
        if key not in tiles:  # a few distinct scenes per size (drawn at 512², grain added at full size)
            base = Image.fromarray(natural_image(512, 512, seed=int(rng.integers(1 << 30)))).resize((side, side))
            grain = rng.normal(0, 2.0, (side, side, 3))
            tiles[key] = np.clip(np.asarray(base, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        rgb = tiles[key].copy()
        rgb[i % side, :, :] ^= 1  # a one-row change: distinct content hashes, same cost
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
        (folder / f"img{i:05d}.{fmt.lower().replace('jpeg', 'jpg')}").write_bytes(buf.getvalue())


def run_one(spec: dict) -> dict:
    """One audit configuration (in this process); returns throughput, RSS and the cost split."""
    from provenance.audit import AuditOptions, audit_paths

    out = Path(spec["jsonl"])
    options = AuditOptions(forensics=spec["forensics"], watermark_methods=spec["methods"], workers=spec["workers"],
                           timeout=None, cache_path=None, registry_path=None, progress=False)
    peak = {"workers_max": 0, "workers_sum": 0}
    stop = threading.Event()

    def sample() -> None:  # resident size of the worker processes, every 50 ms
        me = psutil.Process()
        while not stop.is_set():
            rss = []
            for child in me.children():
                try:
                    rss.append(child.memory_info().rss)
                except psutil.Error:
                    pass
            peak["workers_max"] = max(peak["workers_max"], max(rss, default=0))
            peak["workers_sum"] = max(peak["workers_sum"], sum(rss))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    summary = audit_paths([spec["folder"]], options, jsonl=str(out))
    seconds = time.perf_counter() - t
    stop.set()
    sampler.join()
    split = dict.fromkeys(COLLECTORS, 0.0)
    n = 0
    with open(out) as fh:
        for line in fh:
            timing = json.loads(line)["timing_ms"]
            n += 1
            for k in COLLECTORS:
                split[k] += timing.get(k, 0.0)
    return {"files": summary.totals.analysed, "errors": summary.errors, "seconds": seconds,
            "files_per_s": summary.totals.analysed / seconds,
            "rss_parent_mb": _vm_hwm_mb(),  # ru_maxrss would include what a forked parent held before exec
            "rss_worker_mb": peak["workers_max"] / 2**20, "rss_workers_total_mb": peak["workers_sum"] / 2**20,
            "split_ms": {k: v / max(n, 1) for k, v in split.items()}}


def _vm_hwm_mb() -> float:
    """This process's peak resident size since exec (Linux), in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def c2pa_reader_alone(folder: Path) -> dict:
    import c2pa

    mimes = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
    files = sorted(folder.iterdir())
    t = time.perf_counter()
    found = 0
    for f in files:
        with open(f, "rb") as fh:
            try:
                reader = c2pa.Reader.try_create(mimes[f.suffix], fh)
            except c2pa.C2paError:
                reader = None
            if reader is not None:
                found += 1
                reader.close()
    seconds = time.perf_counter() - t
    return {"files": len(files), "seconds": seconds, "files_per_s": len(files) / seconds, "manifests": found}


def _subprocess(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000, help="mixed images (default 2000)")
    ap.add_argument("--jpeg512", type=int, default=500, help="512² JPEGs for the goal check (default 500)")
    ap.add_argument("--default-scan", type=int, default=20, help="files for the every-method scan (default 20)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--markdown", help="also write the table here")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        make_images(tmp / "mixed", args.files, sizes=[512, 768, 1024, 1536, 2048], formats=["JPEG", "PNG", "WEBP"],
                    seed=1)
        make_images(tmp / "jpeg512", args.jpeg512, sizes=[512], formats=["JPEG"], seed=2)
        make_images(tmp / "subset", args.default_scan, sizes=[512, 1024], formats=["JPEG", "PNG"], seed=3)
        print(f"generated images in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        rows = []
        plan = [(set_name, methods, forensics, w)
                for set_name in ("jpeg512", "mixed") for forensics in (True, False) for w in args.workers
                for methods in (["dwtDctSvd"],)]
        plan += [("subset", None, True, w) for w in args.workers]
        sizes = {"jpeg512": args.jpeg512, "mixed": args.files, "subset": args.default_scan}
        plan = [step for step in plan if sizes[step[0]] > 0]
        for set_name, methods, forensics, workers in plan:
            spec = {"folder": str(tmp / set_name), "methods": methods, "forensics": forensics, "workers": workers,
                    "jsonl": str(tmp / f"{set_name}-{workers}-{forensics}.jsonl")}
            r = _subprocess(spec)
            r.update(set=set_name, methods="every default method" if methods is None else ",".join(methods),
                     forensics=forensics, workers=workers)
            rows.append(r)
            print(json.dumps(r), file=sys.stderr)
        readers = {name: c2pa_reader_alone(tmp / name) for name in ("jpeg512", "mixed") if sizes[name] > 0}

    header = ("| files | watermark scan | forensics | workers | files/s | peak RSS parent / largest worker / all children (MiB) | "
              "decode | c2pa | watermarks | metadata | forensics | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    names = {"jpeg512": f"{args.jpeg512} JPEG 512²", "mixed": f"{args.files} mixed 512²-2048² JPEG/PNG/WebP",
             "subset": f"{args.default_scan} mixed 512²/1024² JPEG/PNG"}
    lines = [header]
    for r in rows:
        s = r["split_ms"]
        lines.append(f"| {names[r['set']]} | {r['methods']} | {'on' if r['forensics'] else 'off'} | {r['workers']} | "
                     f"{r['files_per_s']:.2f} | {r['rss_parent_mb']:.0f} / {r['rss_worker_mb']:.0f} / "
                     f"{r['rss_workers_total_mb']:.0f} | "
                     + " | ".join(f"{s[k]:.0f}" for k in COLLECTORS) + f" | {r['errors']} |")
    for name, r in readers.items():
        lines.append(f"| {names[name]} | c2pa-python `Reader` alone, 1 process | - | 1 | {r['files_per_s']:.1f} | - "
                     "| - | - | - | - | - | - |")
    scaling = []
    for set_name in ("jpeg512", "mixed"):
        for forensics in (True, False):
            by_w = {r["workers"]: r["files_per_s"] for r in rows if r["set"] == set_name and r["forensics"] == forensics}
            if by_w.get(1) and 2 in by_w:
                scaling.append(f"{names[set_name]}, forensics {'on' if forensics else 'off'}: "
                               f"{by_w[2] / by_w[1]:.2f}x from 1 to 2 workers")
    text = "\n".join(lines) + "\n\nCost split: mean ms per file for each collector, inside a worker.\n\n" + \
        "\n".join(f"- {s}" for s in scaling) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
