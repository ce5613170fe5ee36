"""The registry of stamped images: a real SQLite file, safe for several processes at once.

Every stamp adds a row keyed by the watermark content id. It answers "did we make this?" when
the metadata is gone: by content id (from the watermark), by sha256 (an untouched copy), or by
look (``find_similar``: PDQ, flips included, and pHash within a Hamming distance: a re-encoded or
resized copy, or an unmarked look-alike; ``_verify`` reports such a match as evidence, not as a
verdict).

Lookups by look are indexed (multi-index hashing, Norouzi et al. 2012): every hash is cut into
m 16-bit chunks, one ``fingerprint_chunks`` row each. A lookup probes, for each chunk, the values
within r bits of the query's, keeps the stamps that c chunks or more hit, and checks only those
bit by bit. It misses nothing within T bits when T < (m - c + 1)(r + 1): a stamp hit by fewer
than c chunks differs by r + 1 bits or more in each of the other m - c + 1. PDQ (256 bits, m =
16) probes exact chunk values and needs two hits (r = 0, c = 2: exact up to 14 bits, 16 probes
per query hash; a random stamp shares two 16-bit chunks with a query once in 36 million, so
hardly anything but the true matches is ever read back); pHash (64 bits, m = 4) probes within one
bit and needs two hits (r = 1, c = 2: exact up to 5, 68 probes). ``bench/registry_lookup.py``
times it at 1,000,000 stamps.

Concurrency: WAL journal, a 30 s busy timeout and ``BEGIN IMMEDIATE`` for writes, so two stamping
processes queue on the write lock instead of failing or corrupting the file.

This is the embedded backend (the default); ``provenance._registry_pg`` is the PostgreSQL one for
a shared registry, with the same methods (``provenance._registry_backend.RegistryBackend``, checked
by tests/provenance/registry/test_registry_contract.py). The row type, the index codes and the distance
checks below are shared by both.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import re
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from . import _paths
from ._errors import RegistryError

log = logging.getLogger(__name__)

#: 1: stamps only; 2: PDQ columns and the fingerprint index; 3: the ``source_sha256`` column
#: (``_MIGRATIONS`` upgrades an older file; the PostgreSQL backend keeps the same numbering).
SCHEMA_VERSION = 3

#: Largest pHash Hamming distance treated as "the same image" (bench/calibrate_phash.py on 300
#: shared images: JPEG q50-q90, WebP q80 and 50% resizes of an image stay within 2 bits, while
#: no two different images came closer than 6).
PHASH_MAX_DISTANCE = 4
#: Largest PDQ Hamming distance (of 256 bits) treated as a near-duplicate. bench/
#: calibrate_fingerprints.py on all 1,905 shared images: a 0.5 resize or JPEG q50 moves an image by
#: at most 12 bits, a flip by 0 (dihedral hashes), while the nearest different picture (Easy
#: Diffusion's thumbnails: one seed, one prompt, another style word) is 18 bits away. 14 is also
#: the most the index finds exactly with one probe per chunk and two hits (module doc).
PDQ_MAX_DISTANCE = 14

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stamps (
    content_id    TEXT PRIMARY KEY,
    sha256        TEXT NOT NULL,
    phash         TEXT,
    method        TEXT NOT NULL,
    format        TEXT NOT NULL,
    width         INTEGER,
    height        INTEGER,
    signer        TEXT,
    created_at    TEXT NOT NULL,
    output_path   TEXT,
    source_path   TEXT,
    manifest_json TEXT,
    pdq           TEXT,
    pdq_quality   INTEGER,
    source_sha256 TEXT
);
CREATE INDEX IF NOT EXISTS stamps_sha256 ON stamps(sha256);
CREATE INDEX IF NOT EXISTS stamps_created ON stamps(created_at);
"""
#: Version 3: stamps by the sha256 of the file they were stamped from (``find_by_source_sha256``).
_SOURCE_INDEX = "CREATE INDEX IF NOT EXISTS stamps_source_sha256 ON stamps(source_sha256)"

#: The look-up index (version 2): per stamp its fingerprints as integers (``key``: the content id
#: as a signed 64-bit integer), and one row per 16-bit chunk of each hash.
_INDEX_SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprints (
    key    INTEGER PRIMARY KEY,
    phash  INTEGER,
    pdq    BLOB
);
CREATE TABLE IF NOT EXISTS fingerprint_chunks (
    code   INTEGER NOT NULL,
    key    INTEGER NOT NULL,
    PRIMARY KEY (code, key)
) WITHOUT ROWID;
"""

#: What the resolution service (``provenance serve``) and stamping keep beside the stamps: each
#: signed C2PA manifest store (the bytes ``GET /manifests/{id}`` serves, ``application/c2pa``) by
#: its manifest id (the active manifest's label, ``urn:c2pa:...``), and the soft bindings that lead
#: to it (``alg`` and its normalised ``key``, provenance._softbinding). Created when missing, in
#: files of any schema version: they add to version 2 and change nothing in it.
_SERVICE_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest_stores (
    manifest_id  TEXT PRIMARY KEY,
    content_id   TEXT,
    store        BLOB NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS manifest_stores_content ON manifest_stores(content_id);
CREATE TABLE IF NOT EXISTS soft_bindings (
    alg          TEXT NOT NULL,
    key          TEXT NOT NULL,
    manifest_id  TEXT NOT NULL,
    PRIMARY KEY (alg, key, manifest_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS soft_bindings_manifest ON soft_bindings(manifest_id);
"""

#: Which hash a chunk row belongs to (the code's top bits), and how many 16-bit chunks it has.
_KINDS = {"phash": (1, 4), "pdq": (2, 16)}
#: Per hash, the probe radius r and the hits c a candidate needs (module doc): the cheapest pair
#: that is exact at the hash's threshold.
_PROBE = {"phash": (1, 2), "pdq": (0, 2)}
_PDQ_MIN_QUALITY = 50  # as provenance._fingerprint.PDQ_MIN_QUALITY (kept here: no numpy import)


@dataclass
class StampRecord:
    content_id: str
    sha256: str
    phash: str | None
    method: str
    format: str
    width: int | None
    height: int | None
    signer: str | None
    created_at: str
    output_path: str | None
    source_path: str | None
    manifest_json: str | None
    pdq: str | None = None  # 64 hex digits (256 bits), None for stamps made before it existed
    pdq_quality: int | None = None
    #: sha256 of the file stamped (``stamp``, ``watch``); None for generated images and pixels stamped
    #: in memory. Rows older than schema 3 have it from their manifest (the migration reads it there).
    source_sha256: str | None = None

    def to_dict(self, *, with_manifest: bool = True) -> dict:
        d = asdict(self)
        manifest = d.pop("manifest_json")
        if with_manifest:
            d["manifest"] = json.loads(manifest) if manifest else None
        return d


_COLUMNS = [f for f in StampRecord.__dataclass_fields__]

#: Where a manifest records the file it was stamped from (``org.provenance.generation``).
_MANIFEST_SOURCE = re.compile(r'"source_sha256":\s*"([0-9a-f]{64})"')


def manifest_source_sha256(manifest_json: str | None) -> str | None:
    """The ``source_sha256`` a stamp's manifest JSON records, if any (migrating to schema 3)."""
    match = _MANIFEST_SOURCE.search(manifest_json or "")
    return match.group(1) if match else None


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass
class SimilarStamp:
    """A stamp that looks like the query: its record, the PDQ distance (the best of the query's
    dihedral hashes; ``pdq_variant`` is that hash's index, 0 = the image as it is) and the pHash
    distance, each None where either side has no such hash."""

    record: StampRecord
    pdq_distance: int | None
    pdq_variant: int | None
    phash_distance: int | None

    @property
    def rank(self) -> float:
        """How close, as a share of the threshold of the closer of the two hashes (0: identical)."""
        shares = [d / t for d, t in ((self.pdq_distance, PDQ_MAX_DISTANCE), (self.phash_distance, PHASH_MAX_DISTANCE))
                  if d is not None]
        return min(shares) if shares else float("inf")


def _key(content_id: str) -> int:
    """A 16-hex-digit content id as the signed 64-bit integer SQLite stores."""
    return int.from_bytes(bytes.fromhex(content_id), "big", signed=True)


def _content_id(key: int) -> str:
    return (key & (2**64 - 1)).to_bytes(8, "big").hex()


def _chunks(value: int, kind: str) -> list[int]:
    """The index codes of a hash (as an unsigned integer): one per 16-bit chunk, most significant
    first, each ``kind << 20 | chunk << 16 | bits``."""
    tag, m = _KINDS[kind]
    return [tag << 20 | i << 16 | (value >> (16 * (m - 1 - i))) & 0xFFFF for i in range(m)]


def _probes(value: int, kind: str, radius: int) -> list[int]:
    """Every code within ``radius`` (0 or 1) bits of each of the hash's chunks."""
    out = []
    for code in _chunks(value, kind):
        out.append(code)
        if radius:
            out.extend(code ^ (1 << b) for b in range(16))
    return out


def _exact_limit(kind: str, radius: int, hits: int) -> int:
    """The largest distance a lookup probing ``radius`` and needing ``hits`` never misses."""
    m = _KINDS[kind][1]
    return (m - hits + 1) * (radius + 1) - 1


def _signed(value: int, bits: int = 64) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def _index_rows(record: StampRecord) -> tuple[tuple, list[tuple[int, int]]]:
    """A stamp's ``fingerprints`` row and its ``fingerprint_chunks`` rows."""
    key = _key(record.content_id)
    phash = int(record.phash, 16) if record.phash else None
    usable = record.pdq and (record.pdq_quality is None or record.pdq_quality >= _PDQ_MIN_QUALITY)
    pdq = int(record.pdq, 16) if usable else None
    codes = (_chunks(phash, "phash") if phash is not None else []) + (_chunks(pdq, "pdq") if pdq is not None else [])
    row = (key, None if phash is None else _signed(phash), None if pdq is None else bytes.fromhex(record.pdq))
    return row, [(c, key) for c in codes]


def _probe_plan(kind: str, values: Sequence[int], limit: int) -> tuple[list[tuple[int, int]] | None, int]:
    """The (query number, index code) pairs a lookup of ``kind`` hashes within ``limit`` bits
    probes, and the hits a stamp needs among one query's probes to be a candidate (module doc).
    None instead of the pairs: the limit is wider than any probe finds exactly (pHash 7, PDQ 31
    bits), so every stamp with that hash is a candidate (a scan, never a miss)."""
    radius, hits = _PROBE[kind]
    if limit > _exact_limit(kind, radius, hits):  # a wider threshold than the default: probe wider
        radius, hits = 1, 1
        if limit > _exact_limit(kind, radius, hits):
            return None, 0
    return [(i, c) for i, v in enumerate(values) for c in _probes(v, kind, radius)], hits


def _near(rows: Iterable[tuple[int, int | None, bytes | None]], queries: Sequence[int], phash: str | None,
          pdq_max: int, phash_max: int) -> dict[str, tuple[int | None, int | None, int | None]]:
    """Of the candidates' ``fingerprints`` rows (key, pHash as a signed integer, PDQ bytes), those
    truly within the limits, by content id: (PDQ distance, its query's index, pHash distance)."""
    matches: dict[str, tuple[int | None, int | None, int | None]] = {}
    for key, ph, blob in rows:
        dp = (int(phash, 16) ^ (ph & (2**64 - 1))).bit_count() if phash is not None and ph is not None else None
        dq = vq = None
        if blob is not None and queries:
            stored = int.from_bytes(blob, "big")
            dq, vq = min(((q ^ stored).bit_count(), i) for i, q in enumerate(queries))
        if (dq is not None and dq <= pdq_max) or (dp is not None and dp <= phash_max):
            matches[_content_id(key)] = (dq, vq, dp)
    return matches


def _ranked(records: Iterable[StampRecord],
            matches: dict[str, tuple[int | None, int | None, int | None]]) -> list[SimilarStamp]:
    found = [SimilarStamp(r, *matches[r.content_id]) for r in records]
    return sorted(found, key=lambda m: (m.rank, m.record.created_at, m.record.content_id))


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


class Registry:
    """Open (creating if needed) the registry at ``path`` (default: the user's data dir)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else _paths.registry_path()
        try:
            _paths.ensure_private_dir(self.path.parent)  # 0700 under any umask
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=30000")
            self._init_schema()
        except (sqlite3.Error, OSError) as e:
            raise RegistryError(f"cannot open the registry at {self.path}: {e}") from e
        self._db.row_factory = sqlite3.Row

    @property
    def location(self) -> str:
        """Where the registry is, for messages and cache keys: the file's path."""
        return str(self.path)

    def _init_schema(self) -> None:
        """WAL mode and the schema, written only when missing (or migrated from an older version),
        retried while another process holds the lock (SQLite can answer "locked" at once, without
        waiting, while a second connection upgrades the journal mode or creates tables)."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise RegistryError(f"the registry at {self.path} has schema version {version}, newer than "
                                        f"this version of provenance knows ({SCHEMA_VERSION}): upgrade provenance")
                if version < SCHEMA_VERSION:
                    self._db.execute("BEGIN IMMEDIATE")
                    # Read again under the lock: another process may have just done it.
                    version = self._db.execute("PRAGMA user_version").fetchone()[0]
                    if version < SCHEMA_VERSION:
                        fresh = self._db.execute(
                            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'stamps'").fetchone()[0] == 0
                        if fresh:
                            for statement in filter(str.strip, (_SCHEMA + _INDEX_SCHEMA).split(";")):
                                self._db.execute(statement)
                            self._db.execute(_SOURCE_INDEX)
                        else:
                            for target, step in _MIGRATIONS:
                                if version < target:
                                    step(self)
                                    log.info("registry %s upgraded to schema version %d", self.path, target)
                        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    self._db.execute("COMMIT")
                if self._db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                    "name IN ('manifest_stores', 'soft_bindings')").fetchone()[0] < 2:
                    self._db.execute("BEGIN IMMEDIATE")
                    for statement in filter(str.strip, _SERVICE_SCHEMA.split(";")):
                        self._db.execute(statement)
                    self._db.execute("COMMIT")
                return
            except sqlite3.OperationalError as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _columns(self) -> set[str]:
        return {r[1] for r in self._db.execute("PRAGMA table_info(stamps)")}

    def _migrate_to_2(self) -> None:
        """Version 1 -> 2, inside the caller's transaction: the PDQ columns, and every existing
        stamp's pHash into the look-up index. Old stamps have no PDQ hash (it needs the pixels);
        ``provenance registry reindex`` computes it from the stamped files that still exist."""
        columns = self._columns()
        for name, kind in (("pdq", "TEXT"), ("pdq_quality", "INTEGER")):
            if name not in columns:
                self._db.execute(f"ALTER TABLE stamps ADD COLUMN {name} {kind}")
        for statement in filter(str.strip, _INDEX_SCHEMA.split(";")):
            self._db.execute(statement)
        cur = self._db.execute("SELECT * FROM stamps")
        names = [d[0] for d in cur.description]
        for values in cur.fetchall():
            self._index(StampRecord(**dict(zip(names, values))))

    def _migrate_to_3(self) -> None:
        """Version 2 -> 3, inside the caller's transaction: the ``source_sha256`` column and its
        index, filled for existing stamps from what their manifests record."""
        if "source_sha256" not in self._columns():
            self._db.execute("ALTER TABLE stamps ADD COLUMN source_sha256 TEXT")
        rows = self._db.execute("SELECT content_id, manifest_json FROM stamps "
                                "WHERE manifest_json LIKE '%source_sha256%'").fetchall()
        self._db.executemany("UPDATE stamps SET source_sha256 = ? WHERE content_id = ?",
                             [(manifest_source_sha256(m), cid) for cid, m in rows if manifest_source_sha256(m)])
        self._db.execute(_SOURCE_INDEX)

    def _index(self, record: StampRecord) -> None:
        """(Re)write one stamp's look-up index rows, inside the caller's transaction."""
        row, chunks = _index_rows(record)
        self._db.execute("DELETE FROM fingerprint_chunks WHERE key = ?", (row[0],))
        self._db.execute("INSERT OR REPLACE INTO fingerprints (key, phash, pdq) VALUES (?, ?, ?)", row)
        self._db.executemany("INSERT OR IGNORE INTO fingerprint_chunks (code, key) VALUES (?, ?)", chunks)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, record: StampRecord, *, manifest: tuple[str, bytes, list[tuple[str, str]]] | None = None) -> None:
        """Add one stamp; ``manifest`` (manifest id, signed store, soft bindings) is kept with it,
        in the same transaction (:meth:`add_with_manifest`)."""
        if manifest is not None:
            self.add_with_manifest(record, *manifest)
        else:
            self.add_many([record])

    def add_many(self, records: Iterable[StampRecord]) -> None:
        """Add stamps in one transaction (all or none), each with its look-up index rows."""
        records = list(records)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._insert_stamps(records)
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            what = records[0].content_id if len(records) == 1 else f"{len(records)} stamps"
            raise RegistryError(f"cannot add {what} to the registry: {e}") from e

    def _insert_stamps(self, records: list[StampRecord]) -> None:
        """Insert stamp rows and their look-up index rows, inside the caller's transaction."""
        insert = f"INSERT INTO stamps ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        index = [_index_rows(r) for r in records]
        self._db.executemany(insert, ([getattr(r, c) for c in _COLUMNS] for r in records))
        self._db.executemany("INSERT INTO fingerprints (key, phash, pdq) VALUES (?, ?, ?)", (row for row, _ in index))
        # Sorted: appends to the chunk index's B-tree pages instead of scattering over them.
        self._db.executemany("INSERT OR IGNORE INTO fingerprint_chunks (code, key) VALUES (?, ?)",
                             sorted(c for _, chunks in index for c in chunks))

    def set_pdq(self, content_id: str, pdq: str, quality: int) -> None:
        """Record the PDQ hash of a stamp made before the registry kept one (``registry reindex``)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE stamps SET pdq = ?, pdq_quality = ? WHERE content_id = ?",
                             (pdq, quality, content_id.lower()))
            rec = self.get(content_id)
            if rec is not None:
                self._index(rec)
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise RegistryError(f"cannot update {content_id} in the registry: {e}") from e

    def _rows(self, sql: str, params: tuple = ()) -> list[StampRecord]:
        try:
            return [StampRecord(**dict(r)) for r in self._db.execute(sql, params)]
        except sqlite3.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e

    def get(self, content_id: str) -> StampRecord | None:
        rows = self._rows("SELECT * FROM stamps WHERE content_id = ?", (content_id.lower(),))
        return rows[0] if rows else None

    def find_by_prefix(self, prefix: str) -> list[StampRecord]:
        """Rows whose content id starts with ``prefix`` (methods that carry only an id prefix)."""
        p = prefix.lower()
        if not _is_hex(p):
            return []
        # A range on the primary key (ids are lowercase hex, and "g" sorts after "f"): an index
        # seek, where substr() would read every row. provenanceWM carries a 48-bit prefix, so this
        # is the lookup behind most watermark matches.
        return self._rows("SELECT * FROM stamps WHERE content_id >= ? AND content_id < ? ORDER BY created_at",
                          (p, p + "g"))

    def find_by_sha256(self, sha256: str) -> list[StampRecord]:
        return self._rows("SELECT * FROM stamps WHERE sha256 = ?", (sha256.lower(),))

    def find_by_phash(self, phash: str, *, max_distance: int = PHASH_MAX_DISTANCE) -> list[tuple[int, StampRecord]]:
        """Rows whose perceptual hash is within ``max_distance`` bits, nearest first."""
        found = self.find_similar(phash=phash, pdq=(), phash_max=max_distance, pdq_max=-1)
        return [(m.phash_distance, m.record) for m in found if m.phash_distance is not None]

    def find_by_source_sha256(self, sha256: str) -> list[StampRecord]:
        """Stamps made from the file with this sha256 (``watch``: is this source stamped already?),
        oldest first."""
        return self._rows("SELECT * FROM stamps WHERE source_sha256 = ? ORDER BY created_at, content_id",
                          (sha256.lower(),))

    def _candidates(self, kind: str, values: Sequence[int], limit: int) -> set[int]:
        """Stamps whose ``kind`` hash may lie within ``limit`` bits of one of ``values`` (query
        hashes as unsigned integers): a superset of those that do (module doc), usually with
        stamps that share a chunk by chance."""
        plan, hits = _probe_plan(kind, values, limit)
        if plan is None:
            return {key for (key,) in self._db.execute(f"SELECT key FROM fingerprints WHERE {kind} IS NOT NULL")}
        if not plan:
            return set()
        # Integers this code made, so they go into the statement as literals: one statement of
        # all the probes, joined on the chunk index inside SQLite.
        probes = ",".join(f"({q},{c})" for q, c in plan)
        sql = f"WITH probe(q, code) AS (VALUES {probes}) SELECT "
        if hits == 1:
            sql += "DISTINCT c.key FROM probe JOIN fingerprint_chunks AS c ON c.code = probe.code"
        else:
            sql += ("c.key FROM probe JOIN fingerprint_chunks AS c ON c.code = probe.code "
                    f"GROUP BY probe.q, c.key HAVING count(*) >= {hits}")
        return {key for (key,) in self._db.execute(sql)}

    def find_similar(self, *, pdq: Sequence[str] = (), phash: str | None = None,
                     pdq_max: int = PDQ_MAX_DISTANCE, phash_max: int = PHASH_MAX_DISTANCE) -> list[SimilarStamp]:
        """Stamps that look like the query: PDQ within ``pdq_max`` bits of any of the query's
        hashes (``pdq``: its 8 dihedral hashes, the image as it is first, so a flipped copy
        matches), or pHash within ``phash_max``. Best first (``SimilarStamp.rank``), each with
        both distances. A negative limit leaves that hash out."""
        try:
            queries = [int(h, 16) for h in pdq] if pdq_max >= 0 else []
            keys = set(self._candidates("pdq", queries, pdq_max)) if queries else set()
            if phash is not None and phash_max >= 0:
                keys |= set(self._candidates("phash", [int(phash, 16)], phash_max))
            if not keys:
                return []
            listed = ",".join(str(k) for k in keys)
            rows = self._db.execute(f"SELECT key, phash, pdq FROM fingerprints WHERE key IN ({listed})").fetchall()
        except sqlite3.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e
        matches = _near(rows, queries, phash, pdq_max, phash_max)
        if not matches:
            return []
        ids = ",".join("?" * len(matches))
        return _ranked(self._rows(f"SELECT * FROM stamps WHERE content_id IN ({ids})", tuple(matches)), matches)

    # --- manifest stores and soft bindings (the resolution service; provenance.serve) -----------

    def _write(self, what: str, fn):
        """Run ``fn()`` in one write transaction; a database error is a RegistryError naming ``what``."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            out = fn()
            self._db.execute("COMMIT")
            return out
        except sqlite3.Error as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise RegistryError(f"cannot {what}: {e}") from e

    def add_with_manifest(self, record: StampRecord | None, manifest_id: str, store: bytes,
                          bindings: Iterable[tuple[str, str]] = (), *, created_at: str | None = None,
                          content_id: str | None = None) -> None:
        """Keep a signed manifest store under ``manifest_id`` with the soft bindings ``(alg, key)``
        that lead to it, and (``record``) the stamp's row, all in one transaction. A manifest id
        already stored is replaced (its bindings are added to). ``content_id``: the stamp the
        manifest belongs to, when there is no ``record`` (a manifest published to a service)."""
        bindings = list(bindings)
        when = created_at or (record.created_at if record is not None else _now())
        cid = record.content_id if record is not None else (content_id.lower() if content_id else None)

        def write():
            if record is not None:
                self._insert_stamps([record])
            self._db.execute("INSERT OR REPLACE INTO manifest_stores (manifest_id, content_id, store, created_at) "
                             "VALUES (?, ?, ?, ?)", (manifest_id, cid, store, when))
            self._db.executemany("INSERT OR IGNORE INTO soft_bindings (alg, key, manifest_id) VALUES (?, ?, ?)",
                                 [(a, k, manifest_id) for a, k in bindings])
        self._write(f"store manifest {manifest_id}", write)

    def get_manifest_store(self, manifest_id: str) -> bytes | None:
        """The signed manifest store kept under ``manifest_id``, None when there is none."""
        row = self._db.execute("SELECT store FROM manifest_stores WHERE manifest_id = ?", (manifest_id,)).fetchone()
        return bytes(row[0]) if row else None

    def manifest_id_for(self, content_id: str) -> str | None:
        """The manifest id of a stamp's manifest store, None for stamps made before stores were kept."""
        row = self._db.execute("SELECT manifest_id FROM manifest_stores WHERE content_id = ? ORDER BY created_at DESC",
                               (content_id.lower(),)).fetchone()
        return row[0] if row else None

    def delete_manifest_store(self, manifest_id: str) -> bool:
        """Remove a manifest store and every soft binding to it (the stamp's row stays: it records
        that the stamp was made). False when there was no such manifest."""
        def delete():
            gone = self._db.execute("DELETE FROM manifest_stores WHERE manifest_id = ?", (manifest_id,)).rowcount
            self._db.execute("DELETE FROM soft_bindings WHERE manifest_id = ?", (manifest_id,))
            return gone > 0
        return self._write(f"delete manifest {manifest_id}", delete)

    def add_binding(self, alg: str, key: str, manifest_id: str) -> bool:
        """Bind ``(alg, key)`` to a stored manifest; False when the manifest is not stored."""
        def add():
            if self._db.execute("SELECT 1 FROM manifest_stores WHERE manifest_id = ?", (manifest_id,)).fetchone() is None:
                return False
            self._db.execute("INSERT OR IGNORE INTO soft_bindings (alg, key, manifest_id) VALUES (?, ?, ?)",
                             (alg, key, manifest_id))
            return True
        return self._write(f"bind {alg} to {manifest_id}", add)

    def replace_binding(self, alg: str, key: str, manifest_id: str) -> str | None:
        """Point the binding ``(alg, key)`` at another stored manifest. None when done, else what
        is missing: ``"binding"`` (no such binding) or ``"manifest"`` (no such manifest)."""
        def replace():
            if self._db.execute("SELECT 1 FROM soft_bindings WHERE alg = ? AND key = ?", (alg, key)).fetchone() is None:
                return "binding"
            if self._db.execute("SELECT 1 FROM manifest_stores WHERE manifest_id = ?", (manifest_id,)).fetchone() is None:
                return "manifest"
            self._db.execute("DELETE FROM soft_bindings WHERE alg = ? AND key = ?", (alg, key))
            self._db.execute("INSERT INTO soft_bindings (alg, key, manifest_id) VALUES (?, ?, ?)", (alg, key, manifest_id))
            return None
        return self._write(f"rebind {alg}", replace)

    def find_bindings(self, alg: str, key: str, *, prefix: bool = False, limit: int = 100) -> list[tuple[str, str]]:
        """``(key, manifest_id)`` of the bindings of ``alg`` whose key is ``key`` or (``prefix``)
        starts with it, or is a prefix of it (a watermark that carries only an id prefix, and a
        binding stored as one), newest manifest first."""
        try:
            if prefix:
                key = key.lower()
                if not key or any(c not in "0123456789abcdef" for c in key):
                    return []
                shorter = [key[:i] for i in range(1, len(key))]
                sql = ("SELECT b.key, b.manifest_id FROM soft_bindings AS b JOIN manifest_stores AS m USING (manifest_id) "
                       "WHERE b.alg = ? AND ((b.key >= ? AND b.key < ?) OR b.key IN (%s)) "
                       "ORDER BY m.created_at DESC LIMIT ?" % (",".join("?" * len(shorter)) or "NULL"))
                rows = self._db.execute(sql, (alg, key, key + "g", *shorter, limit))
            else:
                rows = self._db.execute("SELECT b.key, b.manifest_id FROM soft_bindings AS b JOIN manifest_stores AS m "
                                        "USING (manifest_id) WHERE b.alg = ? AND b.key = ? "
                                        "ORDER BY m.created_at DESC LIMIT ?", (alg, key, limit))
            return [(k, m) for k, m in rows]
        except sqlite3.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e

    def bindings_of(self, alg: str) -> list[tuple[str, str]]:
        """Every ``(key, manifest_id)`` of ``alg`` (the fingerprint neighbour search reads them)."""
        try:
            return [(k, m) for k, m in self._db.execute("SELECT key, manifest_id FROM soft_bindings WHERE alg = ?", (alg,))]
        except sqlite3.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e

    def bindings_for(self, manifest_id: str) -> list[tuple[str, str]]:
        """Every ``(alg, key)`` bound to one manifest."""
        return [(a, k) for a, k in self._db.execute("SELECT alg, key FROM soft_bindings WHERE manifest_id = ? "
                                                    "ORDER BY alg, key", (manifest_id,))]

    def count_manifest_stores(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM manifest_stores").fetchone()[0])

    def iter_all(self) -> Iterator[StampRecord]:
        try:
            cur = self._db.execute("SELECT * FROM stamps ORDER BY created_at, content_id")
            for r in cur:
                yield StampRecord(**dict(r))
        except sqlite3.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e

    def list(self, *, limit: int | None = None) -> list[StampRecord]:
        sql = "SELECT * FROM stamps ORDER BY created_at DESC, content_id"
        return self._rows(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())

    def is_empty(self) -> bool:
        """No stamp at all (an index probe, where ``count`` reads every row)."""
        return self._db.execute("SELECT 1 FROM stamps LIMIT 1").fetchone() is None

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM stamps").fetchone()[0])

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])


#: Each schema version after the first, with the step that upgrades a file to it from the one before.
_MIGRATIONS = [(2, Registry._migrate_to_2), (3, Registry._migrate_to_3)]


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def export_records(records: list[StampRecord], fmt: str) -> str:
    """Serialise rows as ``json`` (a list), ``jsonl`` or ``csv`` (manifest as a JSON column)."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in records:
            w.writerow(asdict(r))
        return buf.getvalue()
    raise ValueError(f"unknown export format {fmt!r}")
