"""Registry look-up by fingerprint at scale: ``Registry.find_similar`` on synthetic stamps.

    .venv/bin/python bench/registry_lookup.py [--stamps 1000000] [--queries 300] [--db FILE]

Fills a registry (``--db``: kept and reused when it already holds ``--stamps`` rows; default a
temporary file) with synthetic stamps: random content ids, uniformly random 256-bit PDQ and 64-bit
pHash values (real hashes are close to that: PDQ sets half its bits by a median), no manifest.
Then times look-ups the way ``verify`` makes them (one pHash, 8 dihedral PDQ hashes):

* **misses**: random query hashes (an unmarked, unknown image: the common case of an audit);
* **hits**: a stored stamp's PDQ hash with d random bits flipped (d from 0 to the registry's
  threshold) put among 7 random hashes (a flipped copy matches through one of them), and its
  pHash with up to ``PHASH_MAX_DISTANCE`` bits flipped; every hit must be found.

Reports the build time, the file size, and the p50 / p99 / max milliseconds of each kind, wall
and CPU (the process's own time: less sensitive to other jobs on a shared machine). One thread;
load average before and after.
"""
from __future__ import annotations

import _one_core  # noqa: F401  (first: one thread)
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from provenance._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE, Registry, StampRecord  # noqa: E402


def _flip(value: int, bits: int, n: int, rng: np.random.Generator) -> int:
    for b in rng.choice(bits, size=n, replace=False):
        value ^= 1 << int(b)
    return value


def build(reg: Registry, n: int, rng: np.random.Generator, batch: int = 20000) -> None:
    done = reg.count()
    t = time.perf_counter()
    while done < n:
        k = min(batch, n - done)
        ids = rng.bytes(8 * k)
        pdq = rng.bytes(32 * k)
        ph = rng.bytes(8 * k)
        rows = [StampRecord(content_id=ids[8 * i:8 * i + 8].hex(), sha256="0" * 64, phash=ph[8 * i:8 * i + 8].hex(),
                            method="provenanceWM", format="PNG", width=512, height=512, signer=None,
                            created_at="2026-12-01T00:00:00.000+00:00", output_path=None, source_path=None,
                            manifest_json=None, pdq=pdq[32 * i:32 * i + 32].hex(), pdq_quality=100)
                for i in range(k)]
        reg.add_many(rows)
        done += k
        if done % 100000 < batch:
            print(f"{done} stamps, {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)


def _pct(ts: list[float]) -> str:
    a = np.array(ts)
    return f"{np.median(a):.2f} / {np.quantile(a, 0.99):.2f} / {a.max():.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stamps", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--db", type=Path, help="registry file to fill (kept; reused when already full)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        path = args.db or Path(tmp) / "registry.sqlite"
        with Registry(path) as reg:
            t = time.perf_counter()
            build(reg, args.stamps, rng)
            built = time.perf_counter() - t
            n = reg.count()
            size = sum(os.path.getsize(str(path) + s) for s in ("", "-wal") if os.path.exists(str(path) + s))
            sample = reg._db.execute(f"SELECT phash, pdq FROM stamps ORDER BY random() LIMIT {args.queries}").fetchall()
            misses, hits, cpu_misses, cpu_hits, found = [], [], [], [], 0
            for phash, pdq in sample:
                queries = [rng.bytes(32).hex() for _ in range(8)]
                t, c = time.perf_counter(), time.process_time()
                reg.find_similar(pdq=queries, phash=rng.bytes(8).hex())
                misses.append(1e3 * (time.perf_counter() - t))
                cpu_misses.append(1e3 * (time.process_time() - c))
                d = int(rng.integers(0, PDQ_MAX_DISTANCE + 1))
                near = f"{_flip(int(pdq, 16), 256, d, rng):064x}"
                queries[int(rng.integers(0, 8))] = near
                qph = f"{_flip(int(phash, 16), 64, int(rng.integers(0, PHASH_MAX_DISTANCE + 1)), rng):016x}"
                t, c = time.perf_counter(), time.process_time()
                got = reg.find_similar(pdq=queries, phash=qph)
                hits.append(1e3 * (time.perf_counter() - t))
                cpu_hits.append(1e3 * (time.process_time() - c))
                found += any(m.record.pdq == pdq for m in got)
    print(f"{n:,} synthetic stamps (built in {built:.0f} s this run; file {size / 2**20:.0f} MiB); "
          f"{args.queries} queries of each kind, one thread; load average {load0:.1f} → {os.getloadavg()[0]:.1f}\n")
    print("| look-up (pHash + 8 dihedral PDQ hashes) | wall ms p50 / p99 / max | CPU ms p50 / p99 / max | found |")
    print("|---|---:|---:|---:|")
    print(f"| miss (random hashes) | {_pct(misses)} | {_pct(cpu_misses)} | – |")
    print(f"| hit (PDQ within {PDQ_MAX_DISTANCE}, pHash within {PHASH_MAX_DISTANCE}) | {_pct(hits)} | "
          f"{_pct(cpu_hits)} | {found}/{len(hits)} |")
    return 0 if found == len(hits) else 1


if __name__ == "__main__":
    sys.exit(main())
