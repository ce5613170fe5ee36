"""Registry look-up by fingerprint at scale: ``find_similar`` on synthetic stamps, SQLite and PostgreSQL.

    .venv/bin/python bench/registry_lookup.py [--stamps 1000000] [--queries 300]
        [--backends sqlite,postgresql] [--db FILE] [--pg URL] [--scan-queries 20]

Fills each registry with the same synthetic stamps (one seed): random content ids, uniformly
random 256-bit PDQ and 64-bit pHash values (real hashes are close to that: PDQ sets half its bits
by a median), no manifest. SQLite: ``--db`` (kept, and reused when it already holds ``--stamps``
rows) or a temporary file. PostgreSQL: ``--pg URL`` (an empty database you give), else a
throw-away server started here (initdb + pg_ctl, as tests/support/postgres.py does: unix socket,
fsync off, shared_buffers 256MB), analysed and vacuumed after the load as autovacuum would.
Then times look-ups the way ``verify`` makes them (one pHash, 8 dihedral PDQ hashes), the same
queries on every backend:

* **misses**: random query hashes (an unmarked, unknown image: the common case of an audit);
* **hits**: a stored stamp's PDQ hash with d random bits flipped (d from 0 to the registry's
  threshold) put among 7 random hashes (a flipped copy matches through one of them), and its
  pHash with up to ``PHASH_MAX_DISTANCE`` bits flipped; every hit must be found.

PostgreSQL baseline in the same run (``--scan-queries``): the same misses answered without the
index, by a full scan comparing ``bit_count(pdq # query)`` on a ``bit(256)`` copy of the hashes
(PostgreSQL 14+), to show what the chunk index buys.

Reports the build time, the size on disk, and the p50 / p99 / max milliseconds of each kind, wall
and CPU (the client process's own time; a PostgreSQL query's work is mostly the server's, so its
wall time is the figure). One client thread; load average before and after.
"""
from __future__ import annotations

import _one_core  # noqa: F401  (first: one thread)
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from provenance import open_registry  # noqa: E402
from provenance._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE, StampRecord  # noqa: E402


def _flip(value: int, bits: int, n: int, rng: np.random.Generator) -> int:
    for b in rng.choice(bits, size=n, replace=False):
        value ^= 1 << int(b)
    return value


def build(reg, n: int, seed: int, batch: int = 20000) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    t = time.perf_counter()
    have = reg.count()
    while done < n:
        k = min(batch, n - done)
        ids, pdq, ph = rng.bytes(8 * k), rng.bytes(32 * k), rng.bytes(8 * k)
        done += k
        if done <= have:  # already there (a kept --db): same seed, same rows
            continue
        rows = [StampRecord(content_id=ids[8 * i:8 * i + 8].hex(), sha256="0" * 64, phash=ph[8 * i:8 * i + 8].hex(),
                            method="provenanceWM", format="PNG", width=512, height=512, signer=None,
                            created_at="2026-12-01T00:00:00.000+00:00", output_path=None, source_path=None,
                            manifest_json=None, pdq=pdq[32 * i:32 * i + 32].hex(), pdq_quality=100)
                for i in range(k)]
        reg.add_many(rows)
        if done % 100000 < batch:
            print(f"{done} stamps, {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)


def _pct(ts: list[float]) -> str:
    a = np.array(ts)
    return f"{np.median(a):.2f} / {np.quantile(a, 0.99):.2f} / {a.max():.2f}"


def _queries(sample: list[tuple[str, str]], seed: int) -> list[tuple[list[str], str, list[str], str, str]]:
    """Per sampled stamp: (miss PDQ hashes, miss pHash, hit PDQ hashes, hit pHash, the stamp's PDQ)."""
    rng = np.random.default_rng(seed)
    out = []
    for phash, pdq in sample:
        miss = [rng.bytes(32).hex() for _ in range(8)]
        miss_ph = rng.bytes(8).hex()
        hit = [rng.bytes(32).hex() for _ in range(8)]
        hit[int(rng.integers(0, 8))] = f"{_flip(int(pdq, 16), 256, int(rng.integers(0, PDQ_MAX_DISTANCE + 1)), rng):064x}"
        hit_ph = f"{_flip(int(phash, 16), 64, int(rng.integers(0, PHASH_MAX_DISTANCE + 1)), rng):016x}"
        out.append((miss, miss_ph, hit, hit_ph, pdq))
    return out


def time_lookups(reg, queries) -> dict:
    misses, hits, cpu_misses, cpu_hits, found = [], [], [], [], 0
    for miss, miss_ph, hit, hit_ph, pdq in queries:
        t, c = time.perf_counter(), time.process_time()
        reg.find_similar(pdq=miss, phash=miss_ph)
        misses.append(1e3 * (time.perf_counter() - t))
        cpu_misses.append(1e3 * (time.process_time() - c))
        t, c = time.perf_counter(), time.process_time()
        got = reg.find_similar(pdq=hit, phash=hit_ph)
        hits.append(1e3 * (time.perf_counter() - t))
        cpu_hits.append(1e3 * (time.process_time() - c))
        found += any(m.record.pdq == pdq for m in got)
    return {"misses": misses, "hits": hits, "cpu_misses": cpu_misses, "cpu_hits": cpu_hits, "found": found}


def pg_scan_baseline(url: str, queries, n: int) -> list[float]:
    """Misses answered by a full scan (bit_count of the XOR with each of the 8 query hashes)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS scan_pdq AS "
                     "SELECT key, ('x' || encode(pdq, 'hex'))::bit(256) AS pdq FROM fingerprints")
        conn.execute("VACUUM ANALYZE scan_pdq")
        where = " OR ".join(f"bit_count(pdq # %(q{i})s::bit(256)) <= {PDQ_MAX_DISTANCE}" for i in range(8))
        out = []
        for miss, *_ in queries[:n]:
            params = {f"q{i}": "x" + h for i, h in enumerate(miss)}
            params = {k: bin(int(v[1:], 16))[2:].zfill(256) for k, v in params.items()}
            t = time.perf_counter()
            conn.execute(f"SELECT key FROM scan_pdq WHERE {where}", params).fetchall()
            out.append(1e3 * (time.perf_counter() - t))
        conn.execute("DROP TABLE scan_pdq")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stamps", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--db", type=Path, help="SQLite registry file to fill (kept; reused when already full)")
    ap.add_argument("--pg", help="an empty PostgreSQL database to fill (default: a throw-away server started here)")
    ap.add_argument("--scan-queries", type=int, default=20, help="PostgreSQL full-scan baseline queries (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    load0 = os.getloadavg()[0]
    results, server = [], None
    rng = np.random.default_rng(args.seed + 1)
    sample_at = set(rng.choice(args.stamps, size=min(args.queries, args.stamps), replace=False).tolist())
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        try:
            queries = None
            for backend in backends:
                if backend == "sqlite":
                    location = str(args.db or Path(tmp) / "registry.sqlite")
                else:
                    if args.pg:
                        location = args.pg
                    else:
                        from support.postgres import PostgresServer, postgres_bin

                        server = PostgresServer(postgres_bin()).start(settings={"shared_buffers": "256MB"})
                        location = server.url(server.create_database())
                with open_registry(location) as reg:
                    t = time.perf_counter()
                    build(reg, args.stamps, args.seed)
                    if backend == "postgresql":
                        import psycopg

                        with psycopg.connect(location, autocommit=True) as conn:
                            conn.execute("VACUUM ANALYZE")
                            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                    else:
                        size = sum(os.path.getsize(location + s) for s in ("", "-wal") if os.path.exists(location + s))
                    built = time.perf_counter() - t
                    n = reg.count()
                    if queries is None:  # the same stamps and queries on every backend
                        sample = _sample(reg, args.stamps, args.seed, sample_at)
                        queries = _queries(sample, args.seed + 2)
                    timed = time_lookups(reg, queries)
                    if backend == "postgresql" and args.scan_queries:
                        timed["scan"] = pg_scan_baseline(location, queries, args.scan_queries)
                    results.append((backend, n, built, size, timed))
        finally:
            if server is not None:
                server.stop()
    print(f"{results[0][1]:,} synthetic stamps; {args.queries} queries of each kind, the same on each backend, one "
          f"client thread; load average {load0:.1f} → {os.getloadavg()[0]:.1f}\n")
    print("| backend | built in | size | look-up (pHash + 8 dihedral PDQ hashes) | wall ms p50 / p99 / max | "
          "client CPU ms p50 / p99 / max | found |")
    print("|---|---:|---:|---|---:|---:|---:|")
    ok = True
    for backend, n, built, size, t in results:
        head = f"| {backend} | {built:.0f} s | {size / 2**20:.0f} MiB"
        print(f"{head} | miss (random hashes) | {_pct(t['misses'])} | {_pct(t['cpu_misses'])} | – |")
        print(f"| | | | hit (PDQ within {PDQ_MAX_DISTANCE}, pHash within {PHASH_MAX_DISTANCE}) | {_pct(t['hits'])} | "
              f"{_pct(t['cpu_hits'])} | {t['found']}/{len(t['hits'])} |")
        if "scan" in t:
            print(f"| | | | miss, full scan with bit_count (no index; {len(t['scan'])} queries) | {_pct(t['scan'])} | – | – |")
        ok &= t["found"] == len(t["hits"])
    return 0 if ok else 1


def _sample(reg, n: int, seed: int, at: set[int]) -> list[tuple[str, str]]:
    """The (pHash, PDQ) of the stamps built at positions ``at``, regenerated from the seed (no scan)."""
    rng = np.random.default_rng(seed)
    out, done, batch = [], 0, 20000
    while done < n:
        k = min(batch, n - done)
        _ids, pdq, ph = rng.bytes(8 * k), rng.bytes(32 * k), rng.bytes(8 * k)
        for i in range(k):
            if done + i in at:
                out.append((ph[8 * i:8 * i + 8].hex(), pdq[32 * i:32 * i + 32].hex()))
        done += k
    return out


if __name__ == "__main__":
    sys.exit(main())
