"""The SQLite registry itself: its query plans, WAL and several processes at once, and files made by
older versions (schema 1 and 2) migrated as they open. What every backend does: test_registry_contract.py."""
from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

import pytest

from provenance import Registry, RegistryError
from provenance._registry import SCHEMA_VERSION, _index_rows
from support.registries import stamp_row as _row


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
        assert reg.schema_version() == SCHEMA_VERSION == 3
        assert [r.content_id for _, r in reg.find_by_phash(perceptual_hash(img))] == ["00112233445566ff"]
        assert reg.get("00112233445566ff").pdq is None
    code, out_text, _ = run_cli(capsys, "registry", "reindex", "--json")
    assert code == 0 and json.loads(out_text)["indexed"] == 1
    flipped = pdq_hashes(np.ascontiguousarray(img[:, ::-1]))
    with Registry() as reg:
        [m] = reg.find_similar(pdq=flipped.hashes)
        assert m.record.content_id == "00112233445566ff" and m.pdq_distance == 0 and m.pdq_variant == 5


#: Schema 2 exactly as the version before the source_sha256 column wrote it.
_V2_SCHEMA = """
CREATE TABLE stamps (content_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, phash TEXT, method TEXT NOT NULL,
    format TEXT NOT NULL, width INTEGER, height INTEGER, signer TEXT, created_at TEXT NOT NULL,
    output_path TEXT, source_path TEXT, manifest_json TEXT, pdq TEXT, pdq_quality INTEGER);
CREATE INDEX stamps_sha256 ON stamps(sha256);
CREATE INDEX stamps_created ON stamps(created_at);
CREATE TABLE fingerprints (key INTEGER PRIMARY KEY, phash INTEGER, pdq BLOB);
CREATE TABLE fingerprint_chunks (code INTEGER NOT NULL, key INTEGER NOT NULL, PRIMARY KEY (code, key)) WITHOUT ROWID;
PRAGMA user_version=2;
"""


def test_version_2_registry_gets_source_sha256_from_its_manifests(tmp_path):
    """A schema-2 file (PDQ index, no source column) opens as version 3: each stamp's source sha256
    is read from its manifest's generation assertion into the new indexed column, rows without
    one stay None, and the PDQ index still answers."""
    path = tmp_path / "v2.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_V2_SCHEMA)
    src = "5" * 64
    manifest = {"assertions": [{"label": "org.provenance.generation", "data": {"prompt": "a", "source_sha256": src}}]}
    with_source = _row(pdq="12" * 32, pdq_quality=90, manifest_json=json.dumps(manifest))
    without = _row(pdq="34" * 32, pdq_quality=90, manifest_json=None)
    for r in (with_source, without):
        db.execute("INSERT INTO stamps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   [getattr(r, c) for c in list(r.__dataclass_fields__)[:14]])
        row, chunks = _index_rows(r)
        db.execute("INSERT INTO fingerprints VALUES (?,?,?)", row)
        db.executemany("INSERT INTO fingerprint_chunks VALUES (?,?)", chunks)
    db.commit()
    db.close()
    with Registry(path) as reg:
        assert reg.schema_version() == 3 and reg.count() == 2 and reg.integrity_ok()
        assert reg.find_by_source_sha256(src) == [_row(**{**with_source.__dict__, "source_sha256": src})]
        assert reg.get(without.content_id).source_sha256 is None
        assert [m.record.content_id for m in reg.find_similar(pdq=["34" * 32])] == [without.content_id]
        plan = " ".join(str(r[-1]) for r in reg._db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM stamps WHERE source_sha256 = ?", (src,)))
        assert "USING INDEX stamps_source_sha256" in plan, plan
    with Registry(path) as reg:  # opening again migrates nothing more
        assert reg.schema_version() == 3 and reg.count() == 2


def test_newer_schema_is_refused(tmp_path):
    """A file from a newer version of the tool is an error naming both versions, and stays as it was."""
    path = tmp_path / "future.sqlite"
    Registry(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RegistryError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade provenance"):
        Registry(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
