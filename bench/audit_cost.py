"""CPU seconds per audited file, by image size, format and options: the figures docs/SCALE.md builds on.

    .venv/bin/python bench/audit_cost.py [--repeat 7] [--sizes 512 1024 2048] [--json out.json]

One process, thread pools pinned to one (as an audit worker runs), ``audit_file`` (the per-file work
of both audit engines) on synthetic natural-looking images written as JPEG q90 and PNG. For each
configuration: one warm-up call, then ``--repeat`` calls; the median CPU time (``time.process_time``:
what a core is busy for, so a loaded machine inflates it far less than wall time) and the median wall
time. Options: forensics on/off x our watermarks' full search (the default) / the fast scan.
The cache and the registry are off: a cache hit costs the read and the hash only.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _one_core  # noqa: E402,F401  (first: pins the thread pools before numpy/OpenCV load)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "tests"))  # support/, after the repo so that tests/provenance shadows nothing

from PIL import Image  # noqa: E402

from support import natural_image  # noqa: E402


def measure(path: str, options, repeat: int) -> dict:
    from provenance.audit import audit_file

    row = audit_file(path, options)  # warm-up: imports, models, the first allocation
    assert not row.report.get("errors"), row.report["errors"]
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        audit_file(path, options)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return {"cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--json")
    args = ap.parse_args()
    from provenance.audit import AuditFileOptions

    configs = {"forensics on, full search": AuditFileOptions(forensics=True),
               "forensics on, fast scan": AuditFileOptions(forensics=True, fast_watermarks=True),
               "forensics off, full search": AuditFileOptions(forensics=False),
               "forensics off, fast scan": AuditFileOptions(forensics=False, fast_watermarks=True)}
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-audit-cost-") as tmp:
        for side in args.sizes:
            img = Image.fromarray(natural_image(side, side, seed=side))
            files = {"JPEG": Path(tmp) / f"{side}.jpg", "PNG": Path(tmp) / f"{side}.png"}
            img.save(files["JPEG"], quality=90)
            img.save(files["PNG"], compress_level=1)
            for fmt, path in files.items():
                for name, options in configs.items():
                    r = measure(str(path), options, args.repeat)
                    r.update(size=side, format=fmt, options=name)
                    rows.append(r)
                    print(json.dumps(r), file=sys.stderr)
    print(f"one core; load average {load:.1f} → {os.getloadavg()[0]:.1f}; median of {args.repeat}\n")
    print("| size | format | " + " | ".join(configs) + " |")
    print("|---|---|" + "---:|" * len(configs))
    for side in args.sizes:
        for fmt in ("JPEG", "PNG"):
            cells = [next(r for r in rows if r["size"] == side and r["format"] == fmt and r["options"] == n)
                     for n in configs]
            print(f"| {side}² | {fmt} | " + " | ".join(f"{1000 * c['cpu_s']:.0f} ms CPU ({1000 * c['wall_s']:.0f} wall)"
                                                      for c in cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
