"""GPU check for `generate`: does stamping at the source slow batch generation down?

SD 1.5- and SDXL-architecture pipelines with random weights (timings and memory do not depend on
weight values, so nothing is downloaded), fp16, 30 steps: SD 1.5 at 512x512 with batch 1 and 8,
SDXL at 1024x1024 with batch 1 and 4. For each, seconds per image and peak VRAM for generation alone
and for generation + stamping (stamping in worker processes, overlapping the next batch), measured
in the same run. Goal: stamping adds at most 2% to wall time at batch throughput.

Two overheads per row: until every file is written (the last batch's stamping, which overlaps
nothing, included), and steady state (the clock stops when the last batch is generated: what a
long run pays per batch). With few batches the first carries the one drain over few images.

    .venv/bin/python bench/gpu_generate.py [--arch sd15 sdxl] [--steps 30] [--repeats 5 3] [--json FILE]

Needs a CUDA GPU and the generate extra; refuses to run without them rather than report CPU numbers
(`provenance bench` measures any device, the CPU included).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

GRID = {"sd15": (512, [1, 8]), "sdxl": (1024, [1, 4])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", nargs="+", choices=sorted(GRID), default=["sd15", "sdxl"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, nargs="+", default=[5, 3],
                    help="batches timed per grid point, one value or one per --arch (default: 5 for sd15, 3 for sdxl)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternate plain and stamped measurements this many times (default 2)")
    ap.add_argument("--workers", type=int, help="stamping worker processes (default: CPUs - 1, at most 4)")
    ap.add_argument("--gpu-hour-cost", type=float, help="price of an hour of this GPU, for cost per 1,000 images")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if len(args.repeats) not in (1, len(args.arch)) or min(args.repeats) < 1:
        ap.error("--repeats takes one positive value or one per --arch")
    repeats = dict(zip(args.arch, args.repeats * len(args.arch) if len(args.repeats) == 1 else args.repeats))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    try:
        import torch
    except ImportError:
        print("gpu_generate: torch is not installed", file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print("gpu_generate: no CUDA GPU; this benchmark reports GPU figures only. "
              "For any device, the CPU included, use `provenance bench --model DIR`.", file=sys.stderr)
        return 1

    from provenance.generate import LoadedPipeline, bench_generation, build_pipeline, describe_pipeline

    card = torch.cuda.get_device_name(0)
    rows = []

    def save() -> None:  # after each architecture, so a run stopped part way keeps what it measured
        if args.json:
            Path(args.json).write_text(json.dumps({"card": card, "torch": torch.__version__, "steps": args.steps,
                                                   "repeats": repeats, "rounds": args.rounds, "rows": rows}, indent=2))

    for arch in args.arch:
        size, batches = GRID[arch]
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp, torch.device("cuda"):
            pipe = build_pipeline(arch, work_dir=Path(tmp))  # built on the GPU: no 10 GB of CPU-side init
        # the scheduler's tables must stay on the CPU (diffusers reads them with numpy)
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
        pipe.to(torch.float16)
        pipe.set_progress_bar_config(disable=True)
        record = describe_pipeline(pipe).merged(model=f"random-weights {arch}")
        loaded = LoadedPipeline(pipe=pipe, record=record, device="cuda", load_seconds=time.perf_counter() - t0)
        print(f"{arch}: built in {loaded.load_seconds:.1f} s", file=sys.stderr, flush=True)
        for row in bench_generation(loaded, sizes=[size], steps=[args.steps], batches=batches,
                                    repeats=repeats[arch], rounds=args.rounds, gpu_hour_cost=args.gpu_hour_cost, workers=args.workers):
            rows.append({"arch": arch, **row.to_dict()})
        print(f"{arch}: measured in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        save()
        del pipe, loaded
        torch.cuda.empty_cache()

    print(f"card: {card}; torch {torch.__version__}; fp16, {args.steps} steps; {args.rounds} alternated rounds of "
          + ", ".join(f"{n} batches ({a})" for a, n in repeats.items()))
    print("| model | size | batch | images | s/image | s/image + stamp (all written) | overhead (by round) "
          "| steady s/image + stamp | steady overhead (by round) | drain (s) | peak VRAM (MiB) | stamp CPU ms/image |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")

    def rounds_of(values: list[float]) -> str:
        return " / ".join(f"{v:+.1%}" for v in values)

    for r in rows:
        print(f"| {r['arch']} | {r['size']}² | {r['batch']} | {r['images']} | {r['s_per_image']:.3f} "
              f"| {r['s_per_image_stamped']:.3f} | {r['overhead']:+.1%} ({rounds_of(r['overhead_by_round'])}) "
              f"| {r['s_per_image_steady']:.3f} | {r['overhead_steady']:+.1%} ({rounds_of(r['overhead_steady_by_round'])}) "
              f"| {r['drain_s']:.2f} | {r['peak_vram_mb']:.0f} | {r['stamp_ms_per_image']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
