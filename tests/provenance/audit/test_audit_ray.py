"""audit --engine ray on a local two-node Ray cluster: the same rows as the local pool, nothing lost
when a worker node goes away mid-run or the driver is killed with -9."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import cli  # noqa: E402
from provenance.audit import AuditFileOptions  # noqa: E402
from provenance.audit._ray import run_ray, wait_for_nodes  # noqa: E402

from support import REPO, run_cli  # noqa: E402
from support.audit_data import FAST, read_jsonl, save_png  # noqa: E402

pytestmark = pytest.mark.slow

#: Fast node-loss detection: a removed node is declared dead in about 2 s instead of 15.
SYSTEM_CONFIG = {"health_check_period_ms": 500, "health_check_failure_threshold": 4,
                 "health_check_initial_delay_ms": 0}


@pytest.fixture(scope="module")
def cluster():
    """A head node and one worker node, one CPU each, on this machine (ray.cluster_utils.Cluster)."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "_system_config": SYSTEM_CONFIG})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, log_to_driver=False, logging_level=logging.WARNING)
    wait_for_nodes(ray, 2)
    yield c
    ray.shutdown()
    c.shutdown()


def _comparable(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for r in rows:
        r = dict(r, audit={k: v for k, v in r["audit"].items() if k != "seconds"})
        r.pop("timing_ms", None)
        out[r["file"]] = r
    return out


def _mixed_folder(base: Path, registry_location: str | None = None) -> Path:
    """Stamped (and registered: in ``registry_location``, else the home's SQLite registry), plain,
    corrupt and not-an-image files."""
    from provenance import GenerationRecord, init_keys, load_identity, open_registry, registry_path, stamp_file

    folder = base / "imgs"
    folder.mkdir()
    init_keys(org="Ray Test Org")
    identity = load_identity()
    with open_registry(registry_location or str(registry_path())) as registry:
        for i in range(3):
            src = save_png(base / f"src{i}.png", 40 + i)
            stamp_file(src, folder / f"stamped{i}.png", identity=identity, registry=registry,
                       record=GenerationRecord(model="tiny-sd", seed=i, prompt="a lighthouse"))
    for i in range(4):
        save_png(folder / f"plain{i}.png", 60 + i)
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_same_rows_as_the_local_pool(cluster, home, tmp_path, capsys):
    """Every file, label and report of --engine ray equals the local pool's on the same folder,
    registry matches included (the workers read a snapshot of the SQLite registry)."""
    folder = _mixed_folder(tmp_path)
    common = ["audit", str(folder), "--no-cache", "--no-forensics", "--workers", "2"]
    assert cli.main([*common, "--jsonl", str(tmp_path / "local.jsonl")]) == cli.EXIT_ERROR  # corrupt.png
    assert cli.main([*common, "--engine", "ray", "--ray-address", cluster.address, "--shard-size", "2",
                     "--jsonl", str(tmp_path / "ray.jsonl"), "--csv", str(tmp_path / "ray.csv")]) == cli.EXIT_ERROR
    local, on_ray = _comparable(read_jsonl(tmp_path / "local.jsonl")), _comparable(read_jsonl(tmp_path / "ray.jsonl"))
    assert sorted(on_ray) == sorted(local) and len(on_ray) == 9
    assert on_ray == local
    stamped = on_ray[str(folder / "stamped0.png")]
    assert stamped["verdict"]["label"] == "ai-generated" and stamped["registry"]["match"] != "none"
    assert on_ray[str(folder / "corrupt.png")]["audit"]["status"] == "error"
    assert len((tmp_path / "ray.csv").read_text().splitlines()) == 1 + 9


def test_workers_look_up_a_shared_postgresql_registry(cluster, home, tmp_path, postgres_url):
    """--registry postgresql://...: the workers query the shared registry itself (no snapshot), and
    find what was stamped into it, as the local pool does."""
    folder = _mixed_folder(tmp_path, postgres_url)
    common = ["audit", str(folder), "--no-cache", "--no-forensics", "--registry", postgres_url]
    assert cli.main([*common, "--jsonl", str(tmp_path / "local.jsonl")]) == cli.EXIT_ERROR
    assert cli.main([*common, "--engine", "ray", "--ray-address", cluster.address, "--shard-size", "2",
                     "--jsonl", str(tmp_path / "ray.jsonl")]) == cli.EXIT_ERROR
    local, on_ray = _comparable(read_jsonl(tmp_path / "local.jsonl")), _comparable(read_jsonl(tmp_path / "ray.jsonl"))
    assert on_ray == local
    matched = [r for r in on_ray.values() if r["registry"]["match"] not in ("none", None)]
    assert sorted(Path(r["file"]).name for r in matched) == ["stamped0.png", "stamped1.png", "stamped2.png"]


def test_a_lost_worker_node_loses_no_file(cluster, tmp_path, caplog):
    """The worker node removed mid-run: its shards go to the head node's actor; every file once, no error."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    paths = [str(save_png(folder / f"img{i:02d}.png", 200 + i)) for i in range(24)]
    worker = next(n for n in cluster.worker_nodes)
    options = AuditFileOptions(forensics=False, registry_path=None)
    rows, removed = [], False
    with caplog.at_level(logging.WARNING, logger="provenance.audit._ray"):
        for row in run_ray(iter(paths), options, workers=2, timeout=60, shard_size=2):
            rows.append(row)
            if len(rows) == 2 and not removed:
                cluster.remove_node(worker)
                removed = True
    assert Counter(r.path for r in rows) == Counter(paths)
    assert [r.path for r in rows if r.report.get("errors")] == []
    assert any("failed on attempt 1" in m for m in caplog.messages), caplog.messages  # a shard was retried
    cluster.add_node(num_cpus=1)
    wait_for_nodes(ray, 2)


def test_shards_that_always_fail_become_error_rows(cluster, tmp_path, monkeypatch):
    """A shard lost on every attempt ends as an error row per file, never a missing one."""
    import provenance.audit._ray as engine

    class Dies(engine._ShardRunner):
        def audit(self, shard):
            os._exit(1)  # the actor process dies, as on a lost node

    monkeypatch.setattr(engine, "_ShardRunner", Dies)
    monkeypatch.setattr(engine, "MAX_FAILURES_IN_A_ROW", 100)
    paths = [str(save_png(tmp_path / f"img{i}.png", 300 + i)) for i in range(3)]
    rows = list(run_ray(iter(paths), AuditFileOptions(forensics=False), workers=1, timeout=60, shard_size=2))
    assert Counter(r.path for r in rows) == Counter(paths)
    assert all("lost 3 times on the Ray cluster" in r.report["errors"][0]["error"] for r in rows)


def _cached_rows(path: Path) -> int:
    import sqlite3

    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT count(*) FROM results").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_driver_killed_then_rerun_loses_nothing(cluster, tmp_path, capsys):
    """kill -9 of the driver mid-run; the re-run with the same cache audits only what is missing."""
    n = 20
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(n):
        save_png(folder / f"img{i:02d}.png", 400 + i)
    (tmp_path / "list.txt").write_text("".join(f"{folder / f'img{i:02d}.png'}\n" for i in range(n)))
    cache = tmp_path / "cache.sqlite"
    argv = ["audit", "--input-list", str(tmp_path / "list.txt"), "--engine", "ray", "--ray-address", cluster.address,
            "--shard-size", "1", "--cache", str(cache), *FAST]
    env = dict(os.environ, PROVENANCE_HOME=str(tmp_path / "home"))
    with open(tmp_path / "killed.log", "wb") as err:
        proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), *argv, "--jsonl", str(tmp_path / "k.jsonl")],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 120
    while _cached_rows(cache) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    done = _cached_rows(cache)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()
    assert 3 <= done < n
    assert not (tmp_path / "k.jsonl").exists()  # reports appear only whole

    out = tmp_path / "resumed.jsonl"
    assert cli.main([*argv, "--jsonl", str(out)]) == cli.EXIT_OK
    rows = read_jsonl(out)
    assert Counter(Path(r["file"]).name for r in rows) == Counter(f"img{i:02d}.png" for i in range(n))
    assert sum(not r["audit"]["cached"] for r in rows) == n - done
    assert _cached_rows(cache) == n
    assert f"({n - done} analysed, {done} from the cache)" in capsys.readouterr().out


def test_input_list_audits_the_listed_files_only(tmp_path, home, capsys):
    """--input-list (local engine too): the listed files, none walked; a listed report path is refused."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        save_png(folder / f"img{i}.png", 500 + i)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / 'img0.png'}\n\n{folder / 'img2.png'}\n{tmp_path / 'missing.png'}\n")
    out = tmp_path / "out.jsonl"
    assert cli.main(["audit", "--input-list", str(listing), "--no-cache", *FAST, "--jsonl", str(out)]) == cli.EXIT_ERROR
    rows = {Path(r["file"]).name: r["audit"]["status"] for r in read_jsonl(out)}
    assert rows == {"img0.png": "ok", "img2.png": "ok", "missing.png": "error"}
    capsys.readouterr()
    before = (folder / "img2.png").read_bytes()
    code, _out, err = run_cli(capsys, "audit", "--input-list", str(listing), "--no-cache", *FAST,
                              "--jsonl", str(folder / "img2.png"))
    assert code == cli.EXIT_USAGE and "is one of the files being audited" in err
    assert (folder / "img2.png").read_bytes() == before
    code, _out, err = run_cli(capsys, "audit", "--no-cache")
    assert code == cli.EXIT_USAGE and "--input-list" in err


def test_time_limit_and_memory_guard_hold_on_the_workers(cluster, tmp_path, monkeypatch):
    """--timeout and --max-memory act inside each actor's worker process, as in the local pool."""
    from PIL import Image

    from support.audit_data import memory_bomb

    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    memory_bomb(folder / "zeros.png", 9000)
    save_png(folder / "small.png", 22, 128)
    out = tmp_path / "r.jsonl"
    ray_args = ["--engine", "ray", "--ray-address", cluster.address, "--workers", "1", "--no-cache", *FAST]
    assert cli.main(["audit", str(folder), "--jsonl", str(out), "--max-memory", "150", *ray_args]) == cli.EXIT_ERROR
    rows = {Path(r["file"]).name: r for r in read_jsonl(out)}
    assert "out of memory" in rows["zeros.png"]["errors"][0]["error"] and rows["small.png"]["audit"]["status"] == "ok"
    slow = tmp_path / "slow"
    slow.mkdir()
    Image.new("RGB", (3000, 3000), (90, 100, 110)).save(slow / "big.png")
    assert cli.main(["audit", str(slow), "--jsonl", str(out), "--timeout", "0.05", *ray_args]) == cli.EXIT_ERROR
    [row] = read_jsonl(out)
    assert "timed out after 0.05 s" in row["errors"][0]["error"]


def test_parquet_shards_hold_the_csv_rows(tmp_path, home, capsys, monkeypatch):
    """--parquet DIR: the CSV's rows, typed, in shards; a re-run replaces the dataset; a folder that
    holds other files, or lies in an audited folder, is refused."""
    import csv

    pq = pytest.importorskip("pyarrow.parquet")
    import provenance.report._parquet as parquet

    monkeypatch.setattr(parquet, "ROWS_PER_SHARD", 2)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        save_png(folder / f"img{i}.png", 600 + i)
    (folder / "notes.txt").write_text("x")
    out = tmp_path / "dataset"
    args = ["audit", str(folder), "--no-cache", *FAST, "--csv", str(tmp_path / "r.csv"), "--parquet", str(out)]
    assert cli.main(args) == cli.EXIT_OK
    shards = sorted(p.name for p in out.iterdir())
    assert shards == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    table = pq.read_table(out)
    with open(tmp_path / "r.csv", newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert table.num_rows == len(csv_rows) == 6
    rows = sorted(table.to_pylist(), key=lambda r: r["path"])
    assert [r["path"] for r in rows] == sorted(r["path"] for r in csv_rows)
    png = next(r for r in rows if r["path"].endswith("img0.png"))
    assert png["width"] == 256 and isinstance(png["confidence"], float) and png["cached"] is False
    assert next(r for r in rows if r["path"].endswith("notes.txt"))["width"] is None
    assert cli.main(args) == cli.EXIT_OK and pq.read_table(out).num_rows == 6  # replaced, not appended
    (out / "mine.txt").write_text("keep")
    code, _o, err = run_cli(capsys, *args)
    assert code == cli.EXIT_ERROR and "not this tool's Parquet shards" in err and (out / "mine.txt").exists()
    code, _o, err = run_cli(capsys, "audit", str(folder), "--no-cache", *FAST, "--parquet", str(folder / "pq"))
    assert code == cli.EXIT_USAGE and "inside the audited folder" in err
    assert not list(tmp_path.glob(".dataset.*"))  # no partial folder left behind
