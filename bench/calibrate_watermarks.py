#!/usr/bin/env python3
"""Measure how often each watermark detector reports a mark on images that carry none.

Why: the invisible-watermark decoders do not return random bits on unmarked images. They return
all-zero or all-one words (and other strongly biased words) far more often than chance, and an
all-zero word is a valid BCH codeword. The payload is therefore whitened (XOR with a fixed key
stream) and a detection needs both a BCH decode within ``max_corrections`` and a matching CRC
(see ``provenance/_payload.py``). The codec's ``false_positive_rate`` is what that check allows
for *uniformly random* words; this script measures the real false-detection rate on unmarked
data, and how biased the raw decoder outputs are, so the theoretical number can be checked.

For every image in ``real/MANIFEST.csv`` and ``generated/MANIFEST.csv`` under ``--data`` and for
every method it reports: images tested, false detections (with file names), the codec's
theoretical rate and the expected count ``n * rate``, the Wilson 95% upper bound on the true
rate given ``k`` detections out of ``n``, how many raw words were all zeros or all ones, the
fraction of ones in the raw words (mean, min, max), and the most common raw words. rivaGan
(about 1 s per image) runs on an evenly spaced, deterministic subset of the usable images.

A positive control embeds a fresh content id with each method into the first ``--control``
usable images and checks that detection on the unattacked result recovers it exactly.

Usage::

    python bench/calibrate_watermarks.py [--data DIR] [--limit N] [--methods M ...]
                                         [--rivagan-subset N] [--control N] [--out-json PATH]

The markdown report goes to stdout; progress goes to stderr.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from provenance._errors import ImageError  # noqa: E402
from provenance._imageio import load_image  # noqa: E402
from provenance._payload import new_content_id  # noqa: E402
from provenance.watermark import get_method, method_names  # noqa: E402

MANIFESTS = ("real/MANIFEST.csv", "generated/MANIFEST.csv")
#: Methods too slow to run on every image; they get an evenly spaced subset.
SLOW_METHODS = frozenset({"rivaGan"})
Z95 = 1.959963984540054  # two-sided 95% normal quantile
#: Default rivaGan subset. 200 was the plan, but rivaGan detect takes 2.1-3.3 s/image on the
#: ~512x512 images here (2 shared cores; a second process does not help, onnxruntime already uses
#: both) and its 40-image positive control another 90-140 s. Default runs took 663 s at 200 (with
#: invisible-watermark's own dwt code), 662 s at 150 and 359 s at 100 (with the vectorised port).
RIVAGAN_SUBSET = 100
#: Target wall time of a default run; the report flags a run that took longer.
TARGET_SECONDS = 600


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Entry:
    """One image listed in a manifest."""

    file: str  # relative to the data dir
    label: str  # "real" or "generated"


@dataclass
class Probe:
    """One method's detector output on one image."""

    detected: bool
    payload: str | None
    raw_bits: str
    seconds: float


@dataclass
class Scan:
    """Everything learnt about one image: why it was unusable, or its size and probes."""

    entry: Entry
    error: str | None = None
    size: tuple[int, int] | None = None  # (width, height)
    probes: dict[str, Probe] = field(default_factory=dict)
    too_small: list[str] = field(default_factory=list)  # methods whose min_size it misses


def read_manifests(data: Path) -> list[Entry]:
    """All manifest entries, real then generated, in file order."""
    entries: list[Entry] = []
    for name in MANIFESTS:
        with open(data / name, newline="") as fh:
            for row in csv.DictReader(fh):
                entries.append(Entry(row["file"], row.get("label") or name.split("/")[0]))
    return entries


def spread(items: Sequence[Any], n: int) -> list[Any]:
    """``n`` evenly spaced items of ``items`` (all of them when ``n`` is 0 or too large)."""
    if n <= 0 or n >= len(items):
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


# --------------------------------------------------------------------------- scanning


def _fits(method: str, size: tuple[int, int]) -> bool:
    min_w, min_h = get_method(method).min_size
    return size[0] >= min_w and size[1] >= min_h


def scan_image(data: Path, entry: Entry, methods: Sequence[str]) -> Scan:
    """Load one image and run the named detectors on it."""
    scan = Scan(entry)
    try:
        rgb = load_image(data / entry.file).rgb
    except ImageError as e:
        scan.error = f"{type(e).__name__}: {e}"
        return scan
    scan.size = (int(rgb.shape[1]), int(rgb.shape[0]))
    for name in methods:
        if not _fits(name, scan.size):
            scan.too_small.append(name)
            continue
        t0 = time.perf_counter()
        r = get_method(name).detect(rgb)
        scan.probes[name] = Probe(r.detected, r.payload, r.raw_bits or "", time.perf_counter() - t0)
    return scan


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads only contend


def _scan_task(args: tuple[Path, Entry, tuple[str, ...]]) -> Scan:
    return scan_image(*args)


def scan_all(data: Path, entries: Sequence[Entry], methods: Sequence[str], workers: int,
             label: str) -> list[Scan]:
    """``scan_image`` over ``entries``, in order, on ``workers`` processes (1: in this one)."""
    tasks = [(data, e, tuple(methods)) for e in entries]
    scans: list[Scan] = []
    every = max(1, len(tasks) // 10)
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            for scan in pool.imap(_scan_task, tasks, chunksize=8):
                scans.append(scan)
                _progress(label, len(scans), len(tasks), every)
    else:
        for task in tasks:
            scans.append(_scan_task(task))
            _progress(label, len(scans), len(tasks), every)
    return scans


def _progress(label: str, done: int, total: int, every: int) -> None:
    if done % every == 0 or done == total:
        print(f"[{label}] {done}/{total}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- statistics


def wilson_upper(k: int, n: int, z: float = Z95) -> float:
    """Upper end of the Wilson score interval for ``k`` successes in ``n`` trials."""
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + margin) / (1 + z * z / n))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    below = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k))
    return max(0.0, 1.0 - below)


def ones_fraction(raw_hex: str, bits: int) -> float:
    return bin(int(raw_hex, 16)).count("1") / bits


def summarize_method(name: str, scans: Sequence[Scan]) -> dict[str, Any]:
    """False-detection and raw-bit statistics of one method over the scans that ran it."""
    method = get_method(name)
    codec = method.codec
    probed = [(s.entry, s.probes[name]) for s in scans if name in s.probes]
    n = len(probed)
    words = [p.raw_bits for _, p in probed]
    fractions = [ones_fraction(w, codec.bits) for w in words]
    hits = [{"file": e.file, "label": e.label, "payload": p.payload, "raw_bits": p.raw_bits}
            for e, p in probed if p.detected]
    k = len(hits)
    fpr = codec.false_positive_rate
    by_label = {
        label: {
            "tested": sum(1 for e, _ in probed if e.label == label),
            "false_detections": sum(1 for h in hits if h["label"] == label),
            "ones_fraction_mean": _mean([f for (e, _), f in zip(probed, fractions) if e.label == label]),
        }
        for label in sorted({e.label for e, _ in probed})
    }
    return {
        "method": name,
        "codec": codec.name,
        "bits": codec.bits,
        "codec_false_positive_rate": fpr,
        "tested": n,
        "too_small": sum(1 for s in scans if name in s.too_small),
        "false_detections": k,
        "false_detection_files": hits,
        "expected_false_detections": n * fpr,
        "p_at_least_observed": binomial_tail(k, n, fpr),
        "wilson95_upper": wilson_upper(k, n),
        "raw_all_zero": sum(1 for f in fractions if f == 0.0),
        "raw_all_one": sum(1 for f in fractions if f == 1.0),
        "ones_fraction": {"mean": _mean(fractions), "min": min(fractions, default=math.nan),
                          "max": max(fractions, default=math.nan)},
        "distinct_raw_words": len(set(words)),
        "top_raw_words": Counter(words).most_common(3),
        "detect_seconds_mean": _mean([p.seconds for _, p in probed]),
        "by_label": by_label,
    }


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


# --------------------------------------------------------------------------- positive control


def positive_control(data: Path, entries: Sequence[Entry], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Embed a fresh id with each method and detect it on the unattacked result."""
    images = [load_image(data / e.file).rgb for e in entries]
    results: dict[str, dict[str, Any]] = {}
    for name in methods:
        method = get_method(name)
        exact, corrected, failures = 0, [], []
        t0 = time.perf_counter()
        for entry, rgb in zip(entries, images):
            cid = new_content_id()
            r = method.detect(method.embed(rgb, cid))
            if r.detected and r.payload == cid[: method.codec.id_hex_len]:
                exact += 1
                corrected.append(r.bit_errors or 0)
            else:
                why = f"wrong payload {r.payload}" if r.detected else "not detected"
                failures.append({"file": entry.file, "why": why, "raw_bits": r.raw_bits})
        results[name] = {
            "images": len(entries),
            "exact_recovery": exact,
            "rate": exact / len(entries) if entries else math.nan,
            "corrected_bits_mean": _mean(corrected),
            "failures": failures,
            "seconds": time.perf_counter() - t0,
        }
        print(f"[control {name}] {exact}/{len(entries)}", file=sys.stderr, flush=True)
    return results


# --------------------------------------------------------------------------- report


def _fmt_rate(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2e}"


def render_markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        "# Watermark false-detection calibration",
        "",
        f"- data: `{cfg['data']}` ({cfg['images_listed']} images listed, "
        f"{cfg['images_scanned']} scanned, {cfg['load_errors']} unreadable)",
        f"- methods: {', '.join(cfg['methods'])}; workers: {cfg['workers']}; "
        f"positive control: first {cfg['control']} usable images",
        f"- wall time: {report['wall_seconds']:.0f} s"
        + (f" (over the {TARGET_SECONDS} s target: lower --rivagan-subset)"
           if report["wall_seconds"] > TARGET_SECONDS else ""),
    ]
    if SLOW_METHODS & set(cfg["methods"]):
        lines.append(f"- rivaGan runs on an evenly spaced subset of {cfg['rivagan_subset'] or 'all'} usable "
                     f"images (default {RIVAGAN_SUBSET}, reduced from 200: 200 took a default run past "
                     "10 minutes on 2 cores)")
    lines += [
        "",
        "## Unmarked images",
        "",
        "| method | codec | tested | false det. | expected n·FPR | codec FPR | Wilson 95% upper | "
        "P(≥k) | all-0 words | all-1 words | ones fraction mean [min, max] | distinct words | s/img |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for s in report["methods"].values():
        of = s["ones_fraction"]
        lines.append(
            f"| {s['method']} | {s['codec']} | {s['tested']} | {s['false_detections']} | "
            f"{s['expected_false_detections']:.2g} | {_fmt_rate(s['codec_false_positive_rate'])} | "
            f"{s['wilson95_upper']:.2%} | {s['p_at_least_observed']:.2g} | "
            f"{s['raw_all_zero']} ({s['raw_all_zero'] / max(1, s['tested']):.0%}) | "
            f"{s['raw_all_one']} ({s['raw_all_one'] / max(1, s['tested']):.0%}) | "
            f"{of['mean']:.3f} [{of['min']:.3f}, {of['max']:.3f}] | {s['distinct_raw_words']} | "
            f"{s['detect_seconds_mean']:.3f} |"
        )
    lines += ["", "By label:", "", "| method | label | tested | false det. | ones fraction mean |",
              "|---|---|--:|--:|--:|"]
    for s in report["methods"].values():
        for label, b in s["by_label"].items():
            lines.append(f"| {s['method']} | {label} | {b['tested']} | {b['false_detections']} | "
                         f"{b['ones_fraction_mean']:.3f} |")
    lines += ["", "Most common raw words (hex, count):", ""]
    for s in report["methods"].values():
        top = ", ".join(f"`{w}` ×{c}" for w, c in s["top_raw_words"])
        lines.append(f"- {s['method']}: {top}")
    lines += ["", "False detections:", ""]
    hits = [(s["method"], h) for s in report["methods"].values() for h in s["false_detection_files"]]
    lines += [f"- {m}: `{h['file']}` payload `{h['payload']}` raw `{h['raw_bits']}`" for m, h in hits] or ["- none"]
    lines += _render_control(report["control"])
    lines += _render_skips(report)
    return "\n".join(lines) + "\n"


def _render_control(control: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["", "## Positive control (embed fresh id, detect unattacked)", "",
             "| method | images | exact recovery | mean corrected bits |", "|---|--:|--:|--:|"]
    for name, c in control.items():
        lines.append(f"| {name} | {c['images']} | {c['exact_recovery']} ({c['rate']:.0%}) | "
                     f"{c['corrected_bits_mean']:.2f} |")
    fails = [(n, f) for n, c in control.items() for f in c["failures"]]
    if fails:
        lines += ["", "Control failures:", ""]
        lines += [f"- {n}: `{f['file']}` ({f['why']}; raw `{f['raw_bits']}`)" for n, f in fails]
    return lines


def _render_skips(report: dict[str, Any]) -> list[str]:
    lines = ["", "## Skipped", ""]
    for reason, count in report["load_errors"].items():
        lines.append(f"- unreadable ({count}): {reason}")
    for s in report["methods"].values():
        if s["too_small"]:
            lines.append(f"- {s['method']}: {s['too_small']} images below its minimum size")
    if len(lines) == 3:
        lines.append("- none")
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data",
                   help="data dir holding real/MANIFEST.csv and generated/MANIFEST.csv "
                        "(default: ../shared/data from the repo root)")
    p.add_argument("--limit", type=int, default=0, help="use N evenly spaced manifest images (0: all)")
    p.add_argument("--methods", nargs="+", choices=method_names(),
                   default=[m for m in method_names() if get_method(m).available()],
                   help="default: every registered method whose dependencies are installed")
    p.add_argument("--rivagan-subset", type=int, default=RIVAGAN_SUBSET,
                   help=f"evenly spaced usable images to run rivaGan on (0: all; default {RIVAGAN_SUBSET}, "
                        "reduced from 200 to keep a default run under 10 minutes on 2 cores)")
    p.add_argument("--control", type=int, default=40, help="images in the positive control (0: skip)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--out-json", type=Path, help="also write the full report as JSON here")
    return p.parse_args(argv)


def _load_errors(scans: Iterable[Scan]) -> dict[str, int]:
    return dict(Counter(s.error for s in scans if s.error).most_common())


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    listed = read_manifests(args.data)
    entries = spread(listed, args.limit)
    fast = [m for m in args.methods if m not in SLOW_METHODS]
    slow = [m for m in args.methods if m in SLOW_METHODS]

    scans = scan_all(args.data, entries, fast, args.workers, "scan " + ",".join(fast or ["load"]))
    by_file = {s.entry.file: s for s in scans}
    for name in slow:
        usable = [s.entry for s in scans if s.size and _fits(name, s.size)]
        for extra in scan_all(args.data, spread(usable, args.rivagan_subset), [name], 1, f"scan {name}"):
            by_file[extra.entry.file].probes.update(extra.probes)

    fits_all = [s.entry for s in scans if s.size and all(_fits(m, s.size) for m in args.methods)]
    control = positive_control(args.data, fits_all[: args.control], args.methods) if args.control else {}
    return {
        "config": {
            "data": str(args.data),
            "images_listed": len(listed),
            "images_scanned": len(entries),
            "load_errors": sum(1 for s in scans if s.error),
            "methods": list(args.methods),
            "rivagan_subset": args.rivagan_subset,
            "control": args.control,
            "workers": args.workers,
            "nproc": os.cpu_count(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv,
        },
        "methods": {m: summarize_method(m, scans) for m in args.methods},
        "control": control,
        "load_errors": _load_errors(scans),
        "wall_seconds": time.perf_counter() - t0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    sys.stdout.write(render_markdown(report))
    if args.out_json:
        args.out_json.write_text(json.dumps(_jsonable(report), indent=2, allow_nan=False) + "\n")
    return 0


def _jsonable(obj: Any) -> Any:
    """``obj`` with NaN as null and tuples as lists, so strict JSON readers accept it."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


if __name__ == "__main__":
    raise SystemExit(main())
