"""Watch benchmark: seconds from a file's appearance in a watched folder to its stamped copy.

    .venv/bin/python bench/watch.py [--files 200] [--size 512] [--interval 0.5] [--settle 0.5]
                                    [--backend watchdog|poll] [--burst] [--json out.json]

A generator's output is simulated: ``--files`` PNGs carrying ComfyUI's SDXL base + refiner
``prompt``/``workflow`` chunks (tests/support/generator_files.py) are written, one every ``--interval``
seconds (``--burst``: all at once, as a batch lands), straight into the watched folder as the
tools write them. A file's latency is the time from the end of its write (close) to the watcher's
"stamped" event, which comes after the stamped copy is written and registered. Reported: p50,
p90, p99, max, and, as the baseline measured in the same run, ``stamp_file(..., from_metadata=True)``
on the same files without a watcher (what the latency is made of besides waiting ``--settle``
seconds and hearing of the file), and the time a restart over the same folder takes (every file
already stamped: read, hashed, looked up, skipped). The watcher runs as ``provenance watch`` runs it (one stamping
thread, an inotify or polling thread); PROVENANCE_HOME is a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": round(percentile(values, 0.5), 3), "p90": round(percentile(values, 0.9), 3),
            "p99": round(percentile(values, 0.99), 3), "max": round(max(values), 3),
            "mean": round(statistics.fmean(values), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between files (default 0.5)")
    ap.add_argument("--burst", action="store_true", help="write all files at once")
    ap.add_argument("--settle", type=float, default=0.5, help="the watcher's --settle (default 0.5, its default)")
    ap.add_argument("--backend", choices=["watchdog", "poll"], default="watchdog")
    ap.add_argument("--poll-interval", type=float, default=1.0)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    os.environ["PROVENANCE_HOME"] = str(home / "home")
    from support.generator_files import TOOL_FILES, png_with_text

    from provenance import Registry, init_keys, load_identity, stamp_file
    from provenance.watch import Watcher, WatchOptions

    init_keys(org="bench")
    identity = load_identity()
    text = TOOL_FILES["comfyui-base-refiner"].text
    variants = [png_with_text(text, size=args.size, seed=s) for s in range(8)]  # distinct pixels, rotated
    watched, out = home / "output", home / "stamped"
    watched.mkdir()

    # Baseline: the stamping alone, on files of the same kind, no watcher.
    base_dir = home / "baseline"
    base_dir.mkdir()
    baseline = []
    with Registry() as registry:
        for i in range(min(args.files, 40)):
            src = base_dir / f"src_{i:05}.png"
            src.write_bytes(_with_comment(variants[i % len(variants)], f"baseline file {i}"))
            t = time.perf_counter()
            stamp_file(src, base_dir / f"out_{i:05}.png", identity=identity, registry=registry, from_metadata=True)
            baseline.append(time.perf_counter() - t)

    appeared: dict[str, float] = {}
    latencies: list[float] = []
    done = threading.Event()
    errors: list[str] = []

    def on_event(event) -> None:
        now = time.perf_counter()
        if event.event == "stamped":
            latencies.append(now - appeared[event.file])
        elif event.event == "error":
            errors.append(f"{event.file}: {event.error}")
        if len(latencies) + len(errors) >= args.files:
            done.set()

    stop = threading.Event()
    box = {}

    def run() -> None:
        with Registry() as registry:
            watcher = Watcher(WatchOptions([watched], out_dir=out, settle=args.settle, backend=args.backend,
                                           poll_interval=args.poll_interval),
                              identity=identity, registry=registry, on_event=on_event)
            watcher.start()
            box["backend"] = watcher.backend
            box["ready"] = True
            try:
                watcher.run(stop)
            finally:
                watcher.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while "ready" not in box:
        time.sleep(0.01)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    for i in range(args.files):
        path = watched / f"ComfyUI_{i + 1:05}_.png"
        # the pixels repeat every 8 files: a chunk of its own gives each file its own sha256
        # (the watcher rightly skips a file whose content it has stamped already)
        data = _with_comment(variants[i % len(variants)], f"bench file {i}")
        with open(path, "wb") as fh:
            fh.write(data)
        appeared[str(path)] = time.perf_counter()
        if not args.burst:
            time.sleep(args.interval)
    done.wait(timeout=max(120.0, args.files * 5.0))
    wall = time.perf_counter() - t_start
    stop.set()
    thread.join(timeout=10)
    load_after = os.getloadavg()

    # A restart over the same folder: every file is stamped already, so each is read, hashed and
    # looked up (never decoded), then skipped.
    with Registry() as registry:
        t = time.perf_counter()
        again = Watcher(WatchOptions([watched], out_dir=out, once=True, settle=args.settle, backend=args.backend),
                        identity=identity, registry=registry)
        restart_counts = again.run()
        again.close()
        restart_s = time.perf_counter() - t

    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "files": args.files, "size": args.size, "interval_s": None if args.burst else args.interval,
        "burst": args.burst, "settle_s": args.settle, "backend": box.get("backend"),
        "latency_s": summary(latencies) if latencies else None,
        "baseline_stamp_file_s": summary(baseline),
        "stamped": len(latencies), "errors": errors[:5], "error_count": len(errors),
        "wall_s": round(wall, 2),
        "restart_s": round(restart_s, 2), "restart_counts": restart_counts,
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if len(latencies) == args.files else 1


def _with_comment(png: bytes, comment: str) -> bytes:
    """``png`` with a tEXt "Comment" chunk before IEND, so each benchmark file has its own sha256."""
    import struct
    import zlib

    body = b"Comment\x00" + comment.encode()
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    return png[:-12] + chunk + png[-12:]


if __name__ == "__main__":
    sys.exit(main())
