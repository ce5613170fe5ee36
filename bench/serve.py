"""Load on `provenance serve` over loopback: 32 concurrent clients for 30 s against byBinding,
byContent and the manifest fetch; requests/s, p50/p99 latency, errors, and the server's RSS
sampled every second (flat = no growth across the run).

    python bench/serve.py [--clients 32] [--seconds 30] [--stamps 20] [--extra-bindings 10000] [--json]

The server is a real `provenance serve` subprocess on 127.0.0.1 (an ephemeral port) over a fresh
registry: ``--stamps`` images stamped for real (manifest stores, watermark, PDQ and ISCC
bindings), plus ``--extra-bindings`` synthetic manifests with random watermark ids and PDQ
hashes, so lookups search a non-trivial table. Clients are threads, each with its own keep-alive
connection; every request loop is bounded by the time limit and stops by itself.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def prepare(home: Path, n_stamps: int, extra: int):
    from PIL import Image

    os.environ["PROVENANCE_HOME"] = str(home)
    from provenance import Registry, init_keys, load_identity, stamp_file
    from support import natural_image

    init_keys(org="Bench")
    identity = load_identity()
    reg_path = home / "service.sqlite"
    results = []
    with Registry(reg_path) as reg:
        for i in range(n_stamps):
            src = home / f"src{i}.png"
            Image.fromarray(natural_image(512, 512, seed=100 + i)).save(src)
            results.append(stamp_file(src, home / f"stamped{i}.png", identity=identity, registry=reg))
        rng = random.Random(0)
        store = results[0].manifest_store
        for j in range(extra):
            cid = f"{rng.getrandbits(64):016x}"
            reg.add_with_manifest(None, f"urn:c2pa:bench-{j}", store,
                                  [("org.provenance.watermark.provenanceWM", cid),
                                   ("org.provenance.fingerprint.pdq", f"{rng.getrandbits(256):064x}")],
                                  content_id=cid)
    im = Image.open(home / "stamped0.png").convert("RGB").resize((256, 256))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return reg_path, results, buf.getvalue()


def start_server(reg_path: Path, home: Path):
    env = dict(os.environ, PROVENANCE_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "provenance", "serve", "--port", "0", "--registry", str(reg_path),
                             "--no-web"], stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    line = proc.stderr.readline()
    while "serving" not in line:
        if proc.poll() is not None:
            raise SystemExit(f"server did not start: {line}")
        line = proc.stderr.readline()
    port = int(line.split("http://127.0.0.1:")[1].split()[0])
    return proc, port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load(port: int, make_request, *, clients: int, seconds: float, pid: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad = [], []
        i = 0
        while time.monotonic() < stop_at:
            method, path, body, headers = make_request(k, i)
            i += 1
            t = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad.append(str(resp.status))
            except (OSError, http.client.HTTPException) as e:
                bad.append(type(e).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine.append(time.perf_counter() - t)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    rss = []
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss.append(rss_mb(pid))
        time.sleep(1.0)
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [lat[0] * 1000] * 99 if lat else [0] * 99
    return {"requests": len(lat), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
            "rps": round(len(lat) / wall, 1), "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1),
            "rss_start_mb": round(rss[0], 1), "rss_warm_mb": round(rss[min(5, len(rss) - 1)], 1),
            "rss_end_mb": round(rss[-1], 1), "rss_max_mb": round(max(rss), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--stamps", type=int, default=20)
    ap.add_argument("--extra-bindings", type=int, default=10000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        home = Path(tmp)
        reg_path, results, query_png = prepare(home, args.stamps, args.extra_bindings)
        proc, port = start_server(reg_path, home)
        try:
            wm = "org.provenance.watermark.provenanceWM"
            values = [base64.b64encode(bytes.fromhex(r.content_id[:12])).decode() for r in results]
            ids = [r.manifest_id for r in results]

            def by_binding(k, i):
                body = json.dumps({"alg": wm, "value": values[(k + i) % len(values)]})
                return "POST", "/v1/matches/byBinding", body, {"Content-Type": "application/json"}

            def by_content(k, i):
                return "POST", "/v1/matches/byContent", query_png, {"Content-Type": "image/png"}

            def fetch(k, i):
                return "GET", "/v1/manifests/" + ids[(k + i) % len(ids)], None, {}

            out = {"clients": args.clients, "seconds": args.seconds, "stamps": args.stamps,
                   "extra_manifests": args.extra_bindings, "cpus": os.cpu_count(), "routes": {}}
            for name, fn in (("byBinding", by_binding), ("manifest fetch", fetch), ("byContent", by_content)):
                out["routes"][name] = load(port, fn, clients=args.clients, seconds=args.seconds, pid=proc.pid)
                print(f"{name}: {out['routes'][name]}", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(10)
            proc.stderr.close()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print("| route | requests/s | p50 ms | p99 ms | requests | errors | server RSS MB: start, after 5 s, end (max) |")
        print("|---|---|---|---|---|---|---|")
        for name, r in out["routes"].items():
            print(f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['requests']} | {r['errors']} | "
                  f"{r['rss_start_mb']}, {r['rss_warm_mb']}, {r['rss_end_mb']} ({r['rss_max_mb']}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
