"""audit throughput: files/s, peak RSS and the cost split, against c2pa-python's Reader alone.

    .venv/bin/python bench/audit.py --data out/bench-audit-data   # the issue's size (keeps the images)
    .venv/bin/python bench/audit.py --files 200 --jpeg512 200 --markdown out/bench-audit.md

Two image sets, made once into ``--data`` (a temporary folder without it) by all cores and reused
when they are already there: N mixed images (512²-2048² in five sizes, JPEG q90 / PNG / WebP q90 in
equal shares, natural-looking synthetic scenes, every file's pixels distinct, a fixed seed) and a
set of 512² JPEGs (the issue's goal: >= 15 files/s with forensics on 2 cores, >= 1.8x from 1 to 2
workers). PNGs are written at zlib level 1 and WebPs with libwebp's fastest method: it makes the
set in minutes instead of an hour, and decoding, what the audit pays, hardly depends on either.

Each configuration (set x forensics on/off x workers) runs ``audit_paths``, the code behind
``provenance audit``, in its own process (cache and registry off, JSONL on, the default watermark
detectors, provenanceWM's geometric search and flips included, unless ``--methods`` or ``--fast``),
so its peak RSS is its own. Per configuration:

- files/s two ways: over the whole run (``wall``: worker start-up, imports and the forensic model
  included), and between the pool's first and last result (``warm``: (n - 1) / (last - first)),
  which is what scales with workers; ``start`` is the time to the first result;
- peak RSS: the parent's VmHWM, the largest worker VmHWM, and the largest sum over the workers
  sampled every 100 ms; and whether memory stays flat: the workers' summed RSS when a quarter and
  when nine tenths of the files were done (a leak grows with the number of files);
- the cost split: each collector's mean ``timing_ms`` per file inside a worker, and ``other``:
  the worker's whole time per file less the collectors (reading, hashing, fusing, the report);
- the load average at the start and end, since other jobs on the machine slow every figure.

c2pa-python's ``Reader`` alone reads the same files in the same run, in 1 and 2 processes. Before
and after the runs, the same per-file work without the pool in 1 process, then in 2 at once, says
how far this machine itself scales at that moment (other jobs, shared caches): the bound for
the audit's scaling.
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

COLLECTORS = ("decode", "c2pa", "watermarks", "metadata", "forensics")
MIXED_SIZES = (512, 768, 1024, 1536, 2048)
MIXED_FORMATS = ("JPEG", "PNG", "WEBP")
SCENES_PER_SIZE = 8
#: Every SIGNED_EVERY-th file is stamped (watermark, metadata, signed C2PA manifest), so that the
#: c2pa collector and the Reader baseline validate real manifests, not only find none.
SIGNED_EVERY = 50
#: Bump when the images change, so that an old ``--data`` folder is made again.
DATA_VERSION = 3
ENCODE = {"JPEG": {"quality": 90}, "PNG": {"compress_level": 1}, "WEBP": {"quality": 90, "method": 0}}


# --------------------------------------------------------------------------------------------
# Image sets


def _plan(n: int, *, sizes: tuple[int, ...], formats: tuple[str, ...], seed: int) -> list[tuple[int, str, int]]:
    """(side, format, scene seed) per file: sizes and formats in equal shares, shuffled."""
    rng = np.random.default_rng(seed)
    combos = [(s, f) for s in sizes for f in formats]
    picks = [combos[i % len(combos)] for i in range(n)]
    rng.shuffle(picks)
    scene_seeds = {(s, k): int(rng.integers(1 << 30)) for s in sizes for k in range(SCENES_PER_SIZE)}
    return [(s, f, scene_seeds[(s, i % SCENES_PER_SIZE)]) for i, (s, f) in enumerate(picks)]


_scenes: dict[tuple[int, int], np.ndarray] = {}


def _scene(side: int, seed: int) -> np.ndarray:
    """A natural-looking scene drawn at 512² and scaled to ``side``, with grain at full size."""
    from support import natural_image
    from PIL import Image

    key = (side, seed)
    if key not in _scenes:
        base = Image.fromarray(natural_image(512, 512, seed=seed)).resize((side, side))
        grain = np.random.default_rng(seed).normal(0, 2.0, (side, side, 3))
        _scenes[key] = np.clip(np.asarray(base, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    return _scenes[key]


def _write_images(folder: str, keys: str, jobs: list[tuple[int, int, str, int]]) -> None:
    from PIL import Image

    from provenance.audit._pool import _reuse_freed_memory

    _reuse_freed_memory()  # as the audit's workers do: image-sized arrays without page faults
    identity = None
    for i, side, fmt, seed in jobs:
        rgb = _scene(side, seed).copy()
        rgb[i % side, :, :] ^= 1  # one changed row: distinct content hashes, the same cost
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, **ENCODE[fmt])
        path = Path(folder, f"img{i:05d}.{fmt.lower().replace('jpeg', 'jpg')}")
        path.write_bytes(buf.getvalue())
        if i % SIGNED_EVERY == 0:
            from provenance import GenerationRecord, load_identity, stamp_file

            identity = identity or load_identity(directory=Path(keys))
            stamped = path.with_name("stamped-" + path.name)
            stamp_file(path, stamped, identity=identity, record=GenerationRecord(model="bench-audit"))
            stamped.replace(path)


def make_images(folder: Path, n: int, *, sizes: tuple[int, ...], formats: tuple[str, ...], seed: int) -> bool:
    """Write the set into ``folder`` with every core, unless it is already there; True if written."""
    stamp = {"version": DATA_VERSION, "n": n, "sizes": list(sizes), "formats": list(formats), "seed": seed}
    manifest = folder / "bench-set.json"
    if manifest.exists() and json.loads(manifest.read_text()) == stamp:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    keys = folder.parent / "keys"
    if not keys.exists():
        from provenance import init_keys

        init_keys(org="bench-audit", directory=keys)
    jobs = [(i, side, fmt, s) for i, (side, fmt, s) in enumerate(_plan(n, sizes=sizes, formats=formats, seed=seed))]
    # Group by scene so each process draws a scene once; deal the groups out largest first.
    by_scene: dict[tuple[int, int], list] = {}
    for job in jobs:
        by_scene.setdefault((job[1], job[3]), []).append(job)
    cores = os.cpu_count() or 1
    shares: list[list] = [[] for _ in range(cores)]
    for group in sorted(by_scene.values(), key=lambda g: -g[0][1] ** 2 * len(g)):
        min(shares, key=lambda s: sum(j[1] ** 2 for j in s)).extend(group)
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_write_images, [str(folder)] * cores, [str(keys)] * cores, shares))
    manifest.write_text(json.dumps(stamp))
    return True


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".jpg", ".png", ".webp"))


# --------------------------------------------------------------------------------------------
# One configuration, in its own process


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children() -> list[int]:
    """This process's child pids (Linux: each thread's ``children`` list; no scan of every process)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


class _Sampler(threading.Thread):
    """Every 100 ms: each audit worker's VmRSS and VmHWM, and how many files the JSONL holds so far."""

    def __init__(self, jsonl: Path) -> None:
        super().__init__(daemon=True)
        self.jsonl = jsonl
        self.stop = threading.Event()
        self.hwm: dict[int, int] = {}  # pid -> peak KiB
        self.rss_sum_max = 0
        self.timeline: list[tuple[int, int]] = []  # (files done, summed worker RSS KiB)
        self.cpu = 0.0  # this thread's own CPU seconds, not the audit's

    def run(self) -> None:
        done, fh = 0, None
        workers: set[int] = set()  # audit workers (not multiprocessing's resource tracker)
        while not self.stop.is_set():
            if fh is None and self.jsonl.exists():
                fh = open(self.jsonl, "rb")
            if fh is not None:
                done += fh.read().count(b"\n")
            total = 0
            for pid in _children():
                if pid not in workers:
                    # Asked again each time until it says so: a child caught between fork and exec
                    # still shows this process's command line (one run lost its worker's RSS that way).
                    try:
                        if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                            continue
                    except OSError:
                        continue
                    workers.add(pid)
                total += _status_kib(pid, "VmRSS")
                self.hwm[pid] = max(self.hwm.get(pid, 0), _status_kib(pid, "VmHWM"))
            self.rss_sum_max = max(self.rss_sum_max, total)
            if total:
                self.timeline.append((done, total))
            self.cpu = time.thread_time()
            self.stop.wait(0.1)
        if fh is not None:
            fh.close()


def _rss_at(timeline: list[tuple[int, int]], files: int) -> float | None:
    """Summed worker RSS (MiB) at the last sample taken with at most ``files`` files done."""
    before = [rss for done, rss in timeline if done <= files]
    return round(before[-1] / 1024) if before else None


def run_one(spec: dict) -> dict:
    """One audit configuration, in this process: throughput, RSS and the cost split."""
    from provenance.audit import AuditOptions, audit_paths

    out = Path(spec["jsonl"])
    options = AuditOptions(forensics=spec["forensics"], watermark_methods=spec["methods"], workers=spec["workers"],
                           fast_watermarks=spec.get("fast", False), engine=spec.get("engine", "local"),
                           timeout=None, cache_path=None, registry_path=None, progress=False)
    load_start = os.getloadavg()[0]
    sampler = _Sampler(out)
    sampler.start()
    cpu = time.process_time()
    summary = audit_paths([spec["folder"]], options, jsonl=str(out))
    sampler.stop.set()
    sampler.join()
    cpu = time.process_time() - cpu - sampler.cpu  # the parent's share: walking, the pipes, the JSONL
    split = dict.fromkeys(COLLECTORS, 0.0)
    per_file = first_file = 0.0
    n = 0
    with open(out) as fh:
        for line in fh:
            row = json.loads(line)
            n += 1
            per_file += row["audit"]["seconds"] * 1000
            first_file = first_file or row["audit"]["seconds"]
            for k in COLLECTORS:
                split[k] += row["timing_ms"].get(k, 0.0)
    busy_s = per_file / 1000  # the workers' summed time on files
    split = {k: v / max(n, 1) for k, v in split.items()}
    split["other"] = per_file / max(n, 1) - sum(split.values())
    t = summary.timing
    files = summary.totals.analysed
    span = (t["last_result"] or 0.0) - (t["first_result"] or 0.0)
    warm = (files - 1) / span if files > 1 and span > 0 else None
    if spec.get("engine") == "ray":  # rows arrive a shard at a time: the span between them is no warm rate
        warm = None
    # Share of the warm span the workers spent on files (first file excluded as it precedes the span):
    # near 100% means the pool keeps them fed, and a slower file time with more workers is the cores.
    busy = (busy_s - first_file) / (spec["workers"] * span) if span > 0 and warm is not None else None
    return {"files": files, "errors": summary.errors, "seconds": t["seconds"],
            "files_per_s": files / t["seconds"], "warm_files_per_s": warm, "workers_busy": busy,
            "first_result_s": t["first_result"],
            "start_up_s": None if t["first_result"] is None else t["first_result"] - first_file,
            "parent_cpu_ms_per_file": 1000 * cpu / max(files, 1),
            "rss_parent_mb": _status_kib(os.getpid(), "VmHWM") / 1024,
            "rss_worker_mb": max(sampler.hwm.values(), default=0) / 1024,
            "rss_workers_total_mb": sampler.rss_sum_max / 1024,
            "rss_workers_quarter_mb": _rss_at(sampler.timeline, files // 4),
            "rss_workers_late_mb": _rss_at(sampler.timeline, files * 9 // 10),
            "split_ms": split, "load": [round(load_start, 2), round(os.getloadavg()[0], 2)]}


def _subprocess(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"configuration {spec} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# How well this machine scales at the moment, without the pool


def _verify_loop(path: str, repeats: int, start_at: float) -> float:
    """Seconds for ``repeats`` in-process verifications of one file, begun at ``start_at`` (wall clock)."""
    from provenance._verify import VerifyOptions, verify_bytes
    from provenance.audit._pool import _reuse_freed_memory

    _reuse_freed_memory()
    data, options = Path(path).read_bytes(), VerifyOptions(forensics=False)
    verify_bytes(data, name=path, options=options)  # imports, first-call set-up
    time.sleep(max(0.0, start_at - time.time()))
    t = time.perf_counter()
    for _ in range(repeats):
        verify_bytes(data, name=path, options=options)
    return time.perf_counter() - t


def machine_scaling(path: Path, repeats: int = 40) -> dict:
    """The same per-file work (verify, forensics off) in one process, then in two at once: 2.0x if
    the machine gives two free cores. Other jobs, shared caches and memory bandwidth lower it; the
    audit's own scaling cannot beat it."""
    from multiprocessing import get_context

    from provenance._threads import single_threaded_env

    with single_threaded_env(), ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        list(pool.map(abs, [0, 0]))  # start both processes first
        one = min(pool.submit(_verify_loop, str(path), repeats, time.time() + 1.0).result() for _ in range(2))
        two = [f.result() for f in [pool.submit(_verify_loop, str(path), repeats, time.time() + 1.0)
                                    for _ in range(2)]]
    return {"file": path.name, "one_s": one, "two_s": two, "scaling": 2 * one / (sum(two) / 2),
            "load": round(os.getloadavg()[0], 2)}


# --------------------------------------------------------------------------------------------
# c2pa-python's Reader alone

_MIMES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def _read_manifests(paths: list[str]) -> int:
    import c2pa

    found = 0
    for path in paths:
        with open(path, "rb") as fh:
            try:
                reader = c2pa.Reader.try_create(_MIMES[Path(path).suffix], fh)
            except c2pa.C2paError:
                reader = None
            if reader is not None:
                found += 1
                reader.close()
    return found


def c2pa_reader_alone(folder: Path, processes: int) -> dict:
    """Open every file with ``c2pa.Reader.try_create`` in ``processes`` processes (started beforehand)."""
    paths = [str(p) for p in image_files(folder)]
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_read_manifests, [[]] * processes))  # start the processes and import c2pa
        t = time.perf_counter()
        found = sum(pool.map(_read_manifests, [paths[i::processes] for i in range(processes)]))
        seconds = time.perf_counter() - t
    return {"files": len(paths), "processes": processes, "seconds": seconds, "files_per_s": len(paths) / seconds,
            "manifests": found}


# --------------------------------------------------------------------------------------------
# Report


def _fmt(x, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def render(rows: list[dict], readers: list[dict], names: dict[str, str]) -> str:
    lines = [
        "| files | forensics | workers | files/s wall | files/s warm | workers busy | start-up (s) | peak RSS parent / "
        "largest worker / all workers (MiB) | workers' RSS at 1/4 → 9/10 of files (MiB) | decode | c2pa | "
        "watermarks | metadata | forensics | other | parent CPU | errors | load avg start → end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["split_ms"]
        lines.append(
            f"| {names[r['set']]} | {'on' if r['forensics'] else 'off'} | {r['workers']}"
            f"{' (ray)' if r.get('engine') == 'ray' else ''} | {r['files_per_s']:.2f} | "
            f"{_fmt(r['warm_files_per_s'], '.2f')} | {_fmt(r['workers_busy'] and 100 * r['workers_busy'], '.0f')}% | "
            f"{_fmt(r['start_up_s'])} | {r['rss_parent_mb']:.0f} / {r['rss_worker_mb']:.0f} / "
            f"{r['rss_workers_total_mb']:.0f} | {_fmt(r['rss_workers_quarter_mb'], '.0f')} → "
            f"{_fmt(r['rss_workers_late_mb'], '.0f')} | "
            + " | ".join(f"{s[k]:.1f}" for k in (*COLLECTORS, "other"))
            + f" | {r['parent_cpu_ms_per_file']:.1f} | {r['errors']} | {r['load'][0]:.1f} → {r['load'][1]:.1f} |")
    text = "\n".join(lines) + "\n\nCost split: mean ms per file inside a worker; parent CPU: the audit process's " \
        "own CPU ms per file. warm: (n - 1) files between the pool's first and last result; wall: the whole run; " \
        "start-up: to the first result, less that file's own time; workers busy: their time on files over " \
        "workers x the warm span (near 100%: the pool keeps them fed).\n"
    scaling = []
    for set_name in names:
        for forensics in (True, False):
            by_w = {r["workers"]: r for r in rows if r["set"] == set_name and r["forensics"] == forensics
                    and r.get("engine", "local") == "local"}
            if 1 in by_w and 2 in by_w:
                warm = [by_w[w]["warm_files_per_s"] for w in (1, 2)]
                ratio = f"{warm[1] / warm[0]:.2f}x warm" if all(warm) else "warm -"
                scaling.append(f"{names[set_name]}, forensics {'on' if forensics else 'off'}: {ratio}, "
                               f"{by_w[2]['files_per_s'] / by_w[1]['files_per_s']:.2f}x wall from 1 to 2 workers")
    for r in rows:
        if r.get("engine") != "ray":
            continue
        local = next((x for x in rows if x.get("engine", "local") == "local" and x["set"] == r["set"]
                      and x["forensics"] == r["forensics"] and x["workers"] == r["workers"]), None)
        if local is not None:
            scaling.append(f"{names[r['set']]}, forensics {'on' if r['forensics'] else 'off'}, {r['workers']} workers: "
                           f"Ray / local pool {r['files_per_s'] / local['files_per_s']:.2f} wall (Ray's start-up "
                           f"{r['start_up_s'] or 0:.1f} s included; rows come a shard at a time, so no warm rate; "
                           "Ray's workers are not this process's children: their RSS is not sampled)")
    if scaling:
        text += "\n" + "\n".join(f"- {s}" for s in scaling) + "\n"
    if readers:
        text += "\nc2pa-python `Reader.try_create` alone over the same files:\n\n" + "\n".join(
            f"- {names[r['set']]}, {r['processes']} process{'es' if r['processes'] > 1 else ''}: "
            f"{r['files_per_s']:.0f} files/s ({1000 * r['seconds'] / r['files']:.2f} ms per file per process "
            f"x {r['processes']}), {r['manifests']} manifests" for r in readers) + "\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000, help="mixed images (default 2000)")
    ap.add_argument("--jpeg512", type=int, default=500, help="512² JPEGs for the goal check (default 500)")
    ap.add_argument("--data", help="folder for the image sets, kept and reused (default: a temporary folder)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--forensics", choices=["on", "off"], nargs="+", default=["on", "off"])
    ap.add_argument("--engine", choices=["local", "ray"], nargs="+", default=["local"],
                    help="audit engines to time, each configuration on each (ray: a local Ray instance)")
    ap.add_argument("--methods", help="watermark methods to name, comma-separated (default: the default scan)")
    ap.add_argument("--fast", action="store_true",
                    help="our watermarks' fast scan (audit --fast) instead of the default full detectors")
    ap.add_argument("--markdown", help="also write the tables here")
    ap.add_argument("--json", help="also write every figure here")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        data = Path(args.data) if args.data else Path(tmp)
        sets = {"jpeg512": args.jpeg512, "mixed": args.files}
        names = {"jpeg512": f"{args.jpeg512} JPEG 512²", "mixed": f"{args.files} mixed 512²-2048² JPEG/PNG/WebP"}
        sets = {k: v for k, v in sets.items() if v > 0}
        names = {k: v for k, v in names.items() if k in sets}
        t = time.perf_counter()
        load = os.getloadavg()[0]
        made = [make_images(data / "jpeg512", args.jpeg512, sizes=(512,), formats=("JPEG",), seed=2)
                if "jpeg512" in sets else False,
                make_images(data / "mixed", args.files, sizes=MIXED_SIZES, formats=MIXED_FORMATS, seed=1)
                if "mixed" in sets else False]
        print(f"images {'made' if any(made) else 'reused'} in {time.perf_counter() - t:.0f} s "
              f"(load {load:.1f} → {os.getloadavg()[0]:.1f})", file=sys.stderr)
        probe = image_files(data / next(iter(sets)))[1]  # a plain (unsigned) file of the first set
        scaling = [machine_scaling(probe)]
        print(json.dumps(scaling[0]), file=sys.stderr)
        rows = []
        for set_name in sets:
            for forensics in args.forensics:
                for workers in args.workers:
                    for engine in args.engine:
                        spec = {"folder": str(data / set_name), "forensics": forensics == "on", "workers": workers,
                                "methods": args.methods.split(",") if args.methods else None, "fast": args.fast,
                                "engine": engine,
                                "jsonl": str(Path(tmp) / f"{set_name}-{workers}-{forensics}-{engine}.jsonl")}
                        r = _subprocess(spec)
                        r.update(set=set_name, forensics=forensics == "on", workers=workers, engine=engine)
                        rows.append(r)
                        print(json.dumps(r), file=sys.stderr)
        scaling.append(machine_scaling(probe))
        print(json.dumps(scaling[1]), file=sys.stderr)
        readers = []
        for set_name in sets:
            for processes in sorted(set(args.workers)):
                r = c2pa_reader_alone(data / set_name, processes)
                r["set"] = set_name
                readers.append(r)
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "c2pa_reader": readers, "machine_scaling": scaling},
                                                  indent=1))

    scan = f"watermark scan: {args.methods}" if args.methods else "watermark scan: the default"
    scan += " (fast scan, --fast)" if args.fast else " (full detectors: the geometric search and flips)"
    text = f"{scan}; {os.cpu_count()} cores\n\n" + render(rows, readers, names)
    text += "\nThe machine's own scaling, the same verify work in 1 process then 2 at once (before / after the " \
        "runs): " + " / ".join(f"{s['scaling']:.2f}x (load {s['load']:.1f})" for s in scaling) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
