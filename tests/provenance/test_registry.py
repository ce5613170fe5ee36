"""The SQLite registry: lookups, export, and two processes stamping at once."""
from __future__ import annotations

import csv
import io
import json
import multiprocessing as mp
import sqlite3

import pytest

from provenance import Registry, StampRecord
from provenance import new_content_id
from provenance import export_records


def _row(content_id: str | None = None, phash: str = "ffff0000ffff0000", **kw) -> StampRecord:
    base = dict(content_id=content_id or new_content_id(), sha256="0" * 64, phash=phash, method="dwtDctSvd",
                format="PNG", width=512, height=512, signer="CN=Test", created_at="2026-11-26T00:00:00+00:00",
                output_path="/tmp/x.png", source_path="/tmp/in.png", manifest_json=json.dumps({"title": "x"}))
    base.update(kw)
    return StampRecord(**base)


def test_add_get_and_lookups(tmp_path):
    """Rows come back by content id, id prefix, sha256 and perceptual hash distance."""
    with Registry(tmp_path / "r.sqlite") as reg:
        a = _row(sha256="a" * 64, phash="ffff0000ffff0000")
        b = _row(sha256="b" * 64, phash="0000ffff0000ffff")
        reg.add(a)
        reg.add(b)
        assert reg.get(a.content_id) == a
        assert reg.get(a.content_id.upper()) == a
        assert reg.find_by_prefix(a.content_id[:6]) == [a]
        assert reg.find_by_prefix("zz") == []
        assert reg.find_by_prefix(a.content_id) == [a] and reg.find_by_prefix(a.content_id[:12].upper()) == [a]
        assert reg.find_by_sha256("b" * 64) == [b]
        near = reg.find_by_phash("ffff0000ffff0001", max_distance=4)
        assert [(d, r.content_id) for d, r in near] == [(1, a.content_id)]
        assert reg.count() == 2 and reg.integrity_ok()


def test_prefix_lookup_is_an_index_range(tmp_path):
    """An id prefix (provenanceWM carries 48 bits) names exactly the ids that start with it, at the
    edges of the hex range too, through the primary-key index rather than a scan of every row."""
    ids = ["0000000000000000", "00000000000000ff", "0000000000010000", "ffffffffffff0000", "ffffffffffffffff",
           "fffffffffffe0000", "7f00000000000000", "7fffffffffffffff", "8000000000000000"]
    with Registry(tmp_path / "r.sqlite") as reg:
        for i, cid in enumerate(ids):
            reg.add(_row(content_id=cid, sha256=f"{i:064x}"))
        for prefix in ("", "0", "00000000000000", "000000000000", "ffffffffffff", "7f", "7fff", "8", "80", "81", "f"):
            got = sorted(r.content_id for r in reg.find_by_prefix(prefix))
            assert got == ([] if not prefix else sorted(c for c in ids if c.startswith(prefix))), prefix
        seen: list[str] = []
        reg._db.set_trace_callback(seen.append)
        reg.find_by_prefix("ffffffffffff")
        reg._db.set_trace_callback(None)
        [sql] = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
        plan = " ".join(str(row[-1]) for row in reg._db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SEARCH stamps USING INDEX" in plan and "SCAN stamps" not in plan, plan


def test_duplicate_content_id_is_refused(tmp_path):
    """A content id is recorded once; a second row with it is an error, not an overwrite."""
    from provenance import RegistryError

    with Registry(tmp_path / "r.sqlite") as reg:
        r = _row()
        reg.add(r)
        with pytest.raises(RegistryError, match=r.content_id):
            reg.add(_row(r.content_id, sha256="c" * 64))
        assert reg.get(r.content_id).sha256 == "0" * 64


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_export_formats(tmp_path, fmt):
    """Every row is exported, with its manifest, in each format."""
    with Registry(tmp_path / "r.sqlite") as reg:
        rows = [_row() for _ in range(3)]
        for r in rows:
            reg.add(r)
        text = export_records(list(reg.iter_all()), fmt)
    ids = {r.content_id for r in rows}
    if fmt == "json":
        assert {d["content_id"] for d in json.loads(text)} == ids
    elif fmt == "jsonl":
        parsed = [json.loads(line) for line in text.splitlines()]
        assert {d["content_id"] for d in parsed} == ids and parsed[0]["manifest"] == {"title": "x"}
    else:
        assert {d["content_id"] for d in csv.DictReader(io.StringIO(text))} == ids


def _writer(path: str, n: int, queue) -> None:
    ids = []
    with Registry(path) as reg:
        for _ in range(n):
            r = _row()
            reg.add(r)
            ids.append(r.content_id)
    queue.put(ids)


def test_two_processes_writing_at_once(tmp_path):
    """Two processes adding 200 rows each lose none and leave an intact database."""
    path = str(tmp_path / "shared.sqlite")
    Registry(path).close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, 200, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    ids = queue.get(timeout=120) + queue.get(timeout=120)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with Registry(path) as reg:
        assert reg.count() == 400 and reg.integrity_ok()
        assert {r.content_id for r in reg.iter_all()} == set(ids)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _open_and_add(path: str, n: int) -> None:
    for _ in range(n):
        with Registry(path) as reg:
            reg.add(_row())


def test_many_processes_opening_a_new_registry_at_once(tmp_path):
    """Four processes creating and opening the same new registry file repeatedly never see 'locked'."""
    path = str(tmp_path / "fresh.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open_and_add, args=(path, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    with Registry(path) as reg:
        assert reg.count() == 100 and reg.integrity_ok()


_V1_SCHEMA = """
CREATE TABLE stamps (content_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, phash TEXT, method TEXT NOT NULL,
    format TEXT NOT NULL, width INTEGER, height INTEGER, signer TEXT, created_at TEXT NOT NULL,
    output_path TEXT, source_path TEXT, manifest_json TEXT);
CREATE INDEX stamps_sha256 ON stamps(sha256);
CREATE INDEX stamps_created ON stamps(created_at);
PRAGMA user_version=1;
"""


def test_version_1_registry_is_migrated_and_reindexed(tmp_path, monkeypatch, capsys):
    """A registry written before the look-up index opens as version 2 with its pHashes indexed;
    `registry reindex` then computes the PDQ fingerprint from the stamped file, and a flipped
    copy of it matches."""
    import numpy as np
    from PIL import Image

    from support import natural_image, run_cli
    from provenance._fingerprint import pdq_hashes, perceptual_hash

    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path))
    img = natural_image(400, 300, seed=5)
    out = tmp_path / "old-stamp.png"
    Image.fromarray(img).save(out)
    db = sqlite3.connect(tmp_path / "registry.sqlite")
    db.executescript(_V1_SCHEMA)
    db.execute("INSERT INTO stamps VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               ("00112233445566ff", "a" * 64, perceptual_hash(img), "provenanceWM", "PNG", 400, 300, None,
                "2026-11-01T00:00:00+00:00", str(out), None, None))
    db.commit()
    db.close()
    with Registry() as reg:
        assert reg._db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert [r.content_id for _, r in reg.find_by_phash(perceptual_hash(img))] == ["00112233445566ff"]
        assert reg.get("00112233445566ff").pdq is None
    code, out_text, _ = run_cli(capsys, "registry", "reindex", "--json")
    assert code == 0 and json.loads(out_text)["indexed"] == 1
    flipped = pdq_hashes(np.ascontiguousarray(img[:, ::-1]))
    with Registry() as reg:
        [m] = reg.find_similar(pdq=flipped.hashes)
        assert m.record.content_id == "00112233445566ff" and m.pdq_distance == 0 and m.pdq_variant == 5


def test_find_similar_is_exact_within_the_thresholds(tmp_path):
    """Every stamp within the PDQ and pHash thresholds is found, whichever chunks the differing
    bits fall in, and nothing farther: the index never changes the answer of a full scan."""
    import random

    from provenance._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE

    rng = random.Random(3)
    rows = [_row(phash=f"{rng.getrandbits(64):016x}", pdq=f"{rng.getrandbits(256):064x}", pdq_quality=100)
            for _ in range(300)]
    with Registry(tmp_path / "r.sqlite") as reg:
        reg.add_many(rows)
        for base in rows[:40]:
            pdq, ph = int(base.pdq, 16), int(base.phash, 16)
            d = rng.randint(0, PDQ_MAX_DISTANCE + 3)
            for b in rng.sample(range(256), d):
                pdq ^= 1 << b
            e = rng.randint(0, PHASH_MAX_DISTANCE + 2)
            for b in rng.sample(range(64), e):
                ph ^= 1 << b
            got = {m.record.content_id for m in reg.find_similar(pdq=[f"{pdq:064x}"], phash=f"{ph:016x}")}
            want = {r.content_id for r in rows
                    if (int(r.pdq, 16) ^ pdq).bit_count() <= PDQ_MAX_DISTANCE
                    or (int(r.phash, 16) ^ ph).bit_count() <= PHASH_MAX_DISTANCE}
            assert got == want and (base.content_id in got) == (d <= PDQ_MAX_DISTANCE or e <= PHASH_MAX_DISTANCE)
