"""The PostgreSQL registry itself: many processes stamping into it at once, schema versions and
their migration under concurrent start-up, and a server that is not there. What every backend
does: test_registry_contract.py."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import psycopg
import pytest

from provenance import PostgresRegistry, RegistryError, open_registry
from provenance._registry import SCHEMA_VERSION
from provenance._registry_pg import redact
from support.registries import stamp_row as _row

PROCESSES = 8


def _stamper(url: str, n: int, reopen: bool, queue) -> None:
    """Record ``n`` stamps as ``provenance stamp`` does (one row each, with its index rows):
    through one open registry, or opening it anew for each stamp as separate stamp commands do."""
    ids = []
    reg = None if reopen else open_registry(url)
    try:
        for i in range(n):
            r = _row(pdq=f"{(hash((url, i, mp.current_process().pid)) & (2**256 - 1)):064x}", pdq_quality=100)
            if reopen:
                with open_registry(url) as once:
                    once.add(r)
            else:
                reg.add(r)
            ids.append(r.content_id)
    finally:
        if reg is not None:
            reg.close()
    queue.put(ids)


@pytest.mark.slow
def test_eight_processes_stamping_at_once_lose_no_row(postgres_url):
    """Eight processes recording 60 stamps each into one PostgreSQL registry at once (half reopening
    it for every stamp) leave all 480 rows and their index rows, every one found again."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_stamper, args=(postgres_url, 60, i % 2 == 1, queue)) for i in range(PROCESSES)]
    for p in procs:
        p.start()
    ids = [cid for _ in procs for cid in queue.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(ids) == len(set(ids)) == PROCESSES * 60
    with open_registry(postgres_url) as reg:
        assert reg.count() == PROCESSES * 60 and reg.integrity_ok()
        assert {r.content_id for r in reg.iter_all()} == set(ids)
        for r in list(reg.iter_all())[::37]:
            assert [m.record.content_id for m in reg.find_similar(pdq=[r.pdq], pdq_max=0)] == [r.content_id]


def _real_stamper(url: str, sources: list[str], out_dir: str, queue) -> None:
    """``provenance stamp`` as a library call: each source stamped into the PostgreSQL registry."""
    from provenance import load_identity, stamp_file

    identity = load_identity()
    done = []
    for src in sources:
        with open_registry(url) as reg:
            result = stamp_file(src, Path(out_dir) / (Path(src).stem + ".stamped.png"), identity=identity,
                                registry=reg)
        done.append((result.content_id, result.sha256, result.output))
    queue.put(done)


@pytest.mark.slow
def test_eight_processes_really_stamping_lose_no_row(postgres_url, identity, tmp_path):
    """Eight processes running real stamps (watermark, manifest, signature, registry row) into one
    PostgreSQL registry at once: every stamp is there with the stamped file's sha256 and source."""
    import hashlib

    from PIL import Image

    from support import natural_image

    srcs = []
    for i in range(PROCESSES * 2):
        p = tmp_path / f"src{i:02d}.png"
        Image.fromarray(natural_image(256, 256, seed=100 + i)).save(p)
        srcs.append(str(p))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_real_stamper, args=(postgres_url, srcs[2 * i:2 * i + 2], str(tmp_path), queue))
             for i in range(PROCESSES)]
    for p in procs:
        p.start()
    stamped = [s for _ in procs for s in queue.get(timeout=600)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(stamped) == PROCESSES * 2
    with open_registry(postgres_url) as reg:
        assert reg.count() == PROCESSES * 2 and reg.integrity_ok()
        for content_id, sha256, output in stamped:
            row = reg.get(content_id)
            assert row.sha256 == sha256 == hashlib.sha256(Path(output).read_bytes()).hexdigest()
            src = srcs[int(output.rsplit("src", 1)[1][:2])]
            assert reg.find_by_source_sha256(hashlib.sha256(Path(src).read_bytes()).hexdigest()) == [row]


def _open_and_add(url: str, queue) -> None:
    with open_registry(url) as reg:
        reg.add(_row())
    queue.put("ok")


def test_processes_opening_a_new_database_at_once_migrate_it_once(postgres_url):
    """Eight processes opening the same empty database together all succeed; each schema version
    is applied exactly once (the advisory lock), and every process's row is there."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_open_and_add, args=(postgres_url, queue)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    assert [queue.get(timeout=120) for _ in procs] == ["ok"] * PROCESSES
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM registry_schema ORDER BY version").fetchall() == [(SCHEMA_VERSION,)]
    with open_registry(postgres_url) as reg:
        assert reg.count() == PROCESSES


def test_newer_schema_is_refused(postgres_url):
    """A database written by a newer version of the tool is an error naming both versions."""
    PostgresRegistry(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO registry_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(RegistryError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade provenance"):
        PostgresRegistry(postgres_url)


def test_unreachable_server_is_a_registry_error_without_the_password(tmp_path):
    """No server at the address: a RegistryError that says where (its password hidden) and why, at once."""
    url = f"postgresql://stamper:s3cret-pw@/provenance?host={tmp_path}&port=1"
    with pytest.raises(RegistryError) as e:
        open_registry(url)
    text = str(e.value)
    assert "cannot open the registry at postgresql://stamper:***@/provenance" in text
    assert "s3cret-pw" not in text and ("No such file" in text or "connection" in text), text


def test_redact_hides_only_the_password():
    """Locations in messages and reports keep user, host, port and database, never the password."""
    assert redact("postgresql://u:pw@db.example:5433/reg?sslmode=require") == \
        "postgresql://u:***@db.example:5433/reg?sslmode=require"
    assert redact("postgresql://u@db/reg") == "postgresql://u@db/reg"
    assert redact("postgresql:///reg?host=/run/pg") == "postgresql:///reg?host=/run/pg"


def test_location_and_data_are_shared_by_two_registries(postgres_url):
    """Two open registries on one database (two machines) see each other's stamps at once."""
    with open_registry(postgres_url) as a, open_registry(postgres_url) as b:
        r = _row()
        a.add(r)
        assert b.get(r.content_id) == r and b.location == postgres_url
