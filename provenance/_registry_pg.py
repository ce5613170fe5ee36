"""The registry in PostgreSQL: one database that many stamping machines and a resolution service share.

The same rows, look-ups and answers as the SQLite file (``provenance._registry``; the contract
tests run both): ``stamps`` keyed by content id, ``fingerprints`` and the multi-index-hashing
``fingerprint_chunks`` for look-ups by look, probed the same way (one statement: the probe codes
go in as two arrays, ``unnest`` joins them to the chunk index's primary key, and the candidates'
fingerprints come back in the same round trip). Text columns that are sorted or range-scanned
(content id prefixes, creation times) use the "C" collation, so order is byte order, as in SQLite,
whatever the server's locale.

Connections come from a psycopg pool (one registry object may serve many threads: the resolution
service). Writes are single transactions; a stamp's rows arrive by ``COPY`` (a million stamps,
21 million index rows, load in minutes rather than an hour of INSERTs). Several processes stamping
at once need nothing more: PostgreSQL's row locks and the primary key keep every row, and two
stamps never collide on an index row (its key is the stamp's content id).

Schema versions are numbered as SQLite's (``SCHEMA_VERSION``) and kept in ``registry_schema``, one
row per version applied; opening migrates under a transaction-scoped advisory lock, so processes
starting together apply each step once. PostgreSQL databases start at version 3 (the backend came
with it); a later version appends its step to ``_MIGRATIONS``.
"""
from __future__ import annotations

import datetime as _dt

import logging
from typing import Iterable, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

from ._errors import MissingDependencyError, RegistryError
from ._registry import (PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE, SCHEMA_VERSION, SimilarStamp, StampRecord, _COLUMNS,
                        _index_rows, _is_hex, _near, _probe_plan, _ranked)

log = logging.getLogger(__name__)

#: pg_advisory_xact_lock key held while the schema is checked and migrated ("prov" in ASCII).
_SCHEMA_LOCK = 0x70726F76
#: What stamping keeps for a resolution service (the SQLite registry's _SERVICE_SCHEMA, in PostgreSQL).
_SERVICE_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest_stores (
    manifest_id  text PRIMARY KEY,
    content_id   text,
    store        bytea NOT NULL,
    created_at   text NOT NULL
);
CREATE INDEX IF NOT EXISTS manifest_stores_content ON manifest_stores(content_id);
CREATE TABLE IF NOT EXISTS soft_bindings (
    alg          text NOT NULL,
    key          text NOT NULL,
    manifest_id  text NOT NULL,
    PRIMARY KEY (alg, key, manifest_id)
);
CREATE INDEX IF NOT EXISTS soft_bindings_manifest ON soft_bindings(manifest_id);
"""

_VERSION_3 = """
CREATE TABLE stamps (
    content_id    text COLLATE "C" PRIMARY KEY,
    sha256        text NOT NULL,
    phash         text,
    method        text NOT NULL,
    format        text NOT NULL,
    width         integer,
    height        integer,
    signer        text,
    created_at    text COLLATE "C" NOT NULL,
    output_path   text,
    source_path   text,
    manifest_json text,
    pdq           text,
    pdq_quality   integer,
    source_sha256 text
);
CREATE INDEX stamps_sha256 ON stamps (sha256);
CREATE INDEX stamps_created ON stamps (created_at, content_id);
CREATE INDEX stamps_source_sha256 ON stamps (source_sha256);
CREATE TABLE fingerprints (
    key    bigint PRIMARY KEY,
    phash  bigint,
    pdq    bytea
);
CREATE TABLE fingerprint_chunks (
    code   integer NOT NULL,
    key    bigint NOT NULL,
    PRIMARY KEY (code, key)
);
"""

#: (version, the SQL that upgrades the version before it to this one), oldest first.
_MIGRATIONS: list[tuple[int, str]] = [(3, _VERSION_3)]

#: Candidates of both hashes (each with its own hits needed) and their fingerprints, in one statement.
_CANDIDATES = """
WITH candidate AS (
    SELECT c.key FROM unnest(%(pdq_q)s::int[], %(pdq_code)s::int[]) AS probe(q, code)
    JOIN fingerprint_chunks AS c ON c.code = probe.code
    GROUP BY probe.q, c.key HAVING count(*) >= %(pdq_hits)s
    UNION
    SELECT c.key FROM unnest(%(phash_q)s::int[], %(phash_code)s::int[]) AS probe(q, code)
    JOIN fingerprint_chunks AS c ON c.code = probe.code
    GROUP BY probe.q, c.key HAVING count(*) >= %(phash_hits)s
)
SELECT f.key, f.phash, f.pdq FROM candidate JOIN fingerprints AS f ON f.key = candidate.key
"""


def redact(url: str) -> str:
    """A database URL without its password (for messages, reports and cache keys)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _psycopg():
    try:
        import psycopg
        import psycopg_pool
    except ImportError as e:
        raise MissingDependencyError("a PostgreSQL registry needs psycopg 3 and its pool: "
                                     "pip install 'provenance-tool[postgresql]'") from e
    return psycopg, psycopg_pool


class PostgresRegistry:
    """Open the registry in the PostgreSQL database at ``url`` (``postgresql://...``), creating or
    migrating its tables if needed. ``max_connections``: the pool's size (threads served at once)."""

    def __init__(self, url: str, *, max_connections: int = 4, connect_timeout: float = 10.0) -> None:
        psycopg, psycopg_pool = _psycopg()
        self._psycopg = psycopg
        self._url = url
        self.location = redact(url)
        kwargs = {"autocommit": True, "connect_timeout": max(1, round(connect_timeout)),
                  "application_name": "provenance"}
        try:
            # A first connection of its own: a server that cannot be reached says why now (the pool
            # would only time out), and the schema is ready before the pool hands out connections.
            with psycopg.connect(url, **kwargs) as conn:
                self._init_schema(conn)
        except psycopg.Error as e:
            raise RegistryError(f"cannot open the registry at {self.location}: {e}") from e
        self._pool = psycopg_pool.ConnectionPool(url, min_size=1, max_size=max_connections, kwargs=kwargs,
                                                 check=psycopg_pool.ConnectionPool.check_connection,
                                                 timeout=30.0, open=False, name="provenance-registry")
        self._pool.open(wait=False)

    def _init_schema(self, conn) -> None:
        self._init_service_tables(conn)
        current = conn.execute("SELECT to_regclass('registry_schema') IS NOT NULL").fetchone()[0] and \
            conn.execute("SELECT max(version) FROM registry_schema").fetchone()[0]
        if current == SCHEMA_VERSION:  # the usual case: no lock taken
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS registry_schema (version integer PRIMARY KEY, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            version = conn.execute("SELECT coalesce(max(version), 0) FROM registry_schema").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RegistryError(f"the registry at {self.location} has schema version {version}, newer than "
                                    f"this version of provenance knows ({SCHEMA_VERSION}): upgrade provenance")
            for target, sql in _MIGRATIONS:
                if version < target:
                    conn.execute(sql)
                    conn.execute("INSERT INTO registry_schema (version) VALUES (%s)", (target,))
                    log.info("registry %s upgraded to schema version %d", self.location, target)

    def _init_service_tables(self, conn) -> None:
        """The manifest stores and soft bindings stamping keeps beside the stamps (as in SQLite:
        created when missing, outside the versioned schema), under the schema lock."""
        if conn.execute("SELECT to_regclass('soft_bindings') IS NOT NULL").fetchone()[0]:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(_SERVICE_SCHEMA)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresRegistry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, what: str, work) -> None:
        """``work(conn)`` in one transaction; a database error becomes a RegistryError naming ``what``."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                work(conn)
        except self._psycopg.Error as e:
            raise RegistryError(f"cannot {what}: {e}") from e

    def _rows(self, sql: str, params: Sequence | dict = ()) -> list[StampRecord]:
        from psycopg.rows import class_row

        try:
            with self._pool.connection() as conn, conn.cursor(row_factory=class_row(StampRecord)) as cur:
                return cur.execute(sql, params).fetchall()
        except self._psycopg.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e

    def _value(self, sql: str, params: Sequence = ()):
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql, params).fetchone()[0]
        except self._psycopg.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e

    def add(self, record: StampRecord, *, manifest: tuple[str, bytes, list[tuple[str, str]]] | None = None) -> None:
        """Add one stamp; ``manifest`` (manifest id, signed store, soft bindings) is kept with it, in
        the same transaction, as the SQLite registry keeps it (what a resolution service serves)."""
        if manifest is None:
            self.add_many([record])
        else:
            self.add_with_manifest(record, *manifest)

    def add_with_manifest(self, record: StampRecord | None, manifest_id: str, store: bytes,
                          bindings: Iterable[tuple[str, str]] = (), *, created_at: str | None = None,
                          content_id: str | None = None) -> None:
        """The stamp's row (``record``), its signed manifest store and its soft bindings, all or none."""
        bindings = list(bindings)
        when = created_at or (record.created_at if record is not None else
                              _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"))
        cid = record.content_id if record is not None else (content_id.lower() if content_id else None)
        index = [_index_rows(record)] if record is not None else []

        def work(conn) -> None:
            with conn.cursor() as cur:
                if record is not None:
                    cur.execute(f"INSERT INTO stamps ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})",
                                [getattr(record, c) for c in _COLUMNS])
                    for row, chunks in index:
                        cur.execute("INSERT INTO fingerprints (key, phash, pdq) VALUES (%s, %s, %s)", row)
                        cur.executemany("INSERT INTO fingerprint_chunks (code, key) VALUES (%s, %s) "
                                        "ON CONFLICT DO NOTHING", sorted(chunks))
                cur.execute("INSERT INTO manifest_stores (manifest_id, content_id, store, created_at) "
                            "VALUES (%s, %s, %s, %s) ON CONFLICT (manifest_id) DO UPDATE SET "
                            "content_id = EXCLUDED.content_id, store = EXCLUDED.store, created_at = EXCLUDED.created_at",
                            (manifest_id, cid, store, when))
                cur.executemany("INSERT INTO soft_bindings (alg, key, manifest_id) VALUES (%s, %s, %s) "
                                "ON CONFLICT DO NOTHING", [(a, k, manifest_id) for a, k in bindings])

        self._write(f"store manifest {manifest_id}", work)

    def get_manifest_store(self, manifest_id: str) -> bytes | None:
        """The signed manifest store kept under ``manifest_id``, None when there is none."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT store FROM manifest_stores WHERE manifest_id = %s", (manifest_id,)).fetchone()
        return bytes(row[0]) if row else None

    def add_many(self, records: Iterable[StampRecord]) -> None:
        """Add stamps in one transaction (all or none), each with its look-up index rows."""
        records = list(records)
        if not records:
            return
        index = [_index_rows(r) for r in records]

        def work(conn) -> None:
            with conn.cursor() as cur:
                with cur.copy(f"COPY stamps ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                    for r in records:
                        copy.write_row([getattr(r, c) for c in _COLUMNS])
                with cur.copy("COPY fingerprints (key, phash, pdq) FROM STDIN") as copy:
                    for row, _ in index:
                        copy.write_row(row)
                with cur.copy("COPY fingerprint_chunks (code, key) FROM STDIN") as copy:
                    for chunk in sorted(c for _, chunks in index for c in chunks):
                        copy.write_row(chunk)

        what = records[0].content_id if len(records) == 1 else f"{len(records)} stamps"
        self._write(f"add {what} to the registry", work)

    def set_pdq(self, content_id: str, pdq: str, quality: int) -> None:
        """Record the PDQ hash of a stamp made before the registry kept one (``registry reindex``)."""
        from psycopg.rows import class_row

        def work(conn) -> None:
            with conn.cursor(row_factory=class_row(StampRecord)) as cur:
                rec = cur.execute("UPDATE stamps SET pdq = %s, pdq_quality = %s WHERE content_id = %s RETURNING *",
                                  (pdq, quality, content_id.lower())).fetchone()
            if rec is None:
                return
            row, chunks = _index_rows(rec)
            conn.execute("DELETE FROM fingerprint_chunks WHERE key = %s", (row[0],))
            conn.execute("INSERT INTO fingerprints (key, phash, pdq) VALUES (%s, %s, %s) ON CONFLICT (key) "
                         "DO UPDATE SET phash = excluded.phash, pdq = excluded.pdq", row)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO fingerprint_chunks (code, key) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                chunks)

        self._write(f"update {content_id} in the registry", work)

    def get(self, content_id: str) -> StampRecord | None:
        rows = self._rows("SELECT * FROM stamps WHERE content_id = %s", (content_id.lower(),))
        return rows[0] if rows else None

    def find_by_prefix(self, prefix: str) -> list[StampRecord]:
        """Rows whose content id starts with ``prefix`` (methods that carry only an id prefix)."""
        p = prefix.lower()
        if not _is_hex(p):
            return []
        # A range on the primary key, as in SQLite ("g" sorts after "f" in the "C" collation).
        return self._rows("SELECT * FROM stamps WHERE content_id >= %s AND content_id < %s "
                          "ORDER BY created_at, content_id", (p, p + "g"))

    def find_by_sha256(self, sha256: str) -> list[StampRecord]:
        return self._rows("SELECT * FROM stamps WHERE sha256 = %s", (sha256.lower(),))

    def find_by_source_sha256(self, sha256: str) -> list[StampRecord]:
        """Stamps made from the file with this sha256, oldest first."""
        return self._rows("SELECT * FROM stamps WHERE source_sha256 = %s ORDER BY created_at, content_id",
                          (sha256.lower(),))

    def find_by_phash(self, phash: str, *, max_distance: int = PHASH_MAX_DISTANCE) -> list[tuple[int, StampRecord]]:
        """Rows whose perceptual hash is within ``max_distance`` bits, nearest first."""
        found = self.find_similar(phash=phash, pdq=(), phash_max=max_distance, pdq_max=-1)
        return [(m.phash_distance, m.record) for m in found if m.phash_distance is not None]

    def find_similar(self, *, pdq: Sequence[str] = (), phash: str | None = None,
                     pdq_max: int = PDQ_MAX_DISTANCE, phash_max: int = PHASH_MAX_DISTANCE) -> list[SimilarStamp]:
        """As the SQLite registry's: PDQ within ``pdq_max`` of any query hash, or pHash within
        ``phash_max``, best first; a negative limit leaves that hash out."""
        queries = [int(h, 16) for h in pdq] if pdq_max >= 0 else []
        pdq_plan, pdq_hits = _probe_plan("pdq", queries, pdq_max) if queries else ([], 1)
        use_phash = phash is not None and phash_max >= 0
        phash_plan, phash_hits = _probe_plan("phash", [int(phash, 16)], phash_max) if use_phash else ([], 1)
        # A limit wider than the index finds exactly (None): every stamp with that hash is a candidate.
        scans = [kind for kind, plan in (("pdq", pdq_plan), ("phash", phash_plan)) if plan is None]
        pdq_plan, phash_plan = pdq_plan or [], phash_plan or []
        if not pdq_plan and not phash_plan and not scans:
            return []
        params = {"pdq_q": [q for q, _ in pdq_plan], "pdq_code": [c for _, c in pdq_plan], "pdq_hits": pdq_hits,
                  "phash_q": [q for q, _ in phash_plan], "phash_code": [c for _, c in phash_plan],
                  "phash_hits": phash_hits}
        try:
            with self._pool.connection() as conn:
                rows = conn.execute(_CANDIDATES, params).fetchall() if pdq_plan or phash_plan else []
                for kind in scans:
                    rows += conn.execute(f"SELECT key, phash, pdq FROM fingerprints WHERE {kind} IS NOT NULL").fetchall()
        except self._psycopg.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e
        matches = _near(rows, queries, phash, pdq_max, phash_max)
        if not matches:
            return []
        return _ranked(self._rows("SELECT * FROM stamps WHERE content_id = ANY(%s)", (list(matches),)), matches)

    def iter_all(self) -> Iterator[StampRecord]:
        """Every stamp, oldest first, read in batches through a server-side cursor."""
        from psycopg.rows import class_row

        try:
            with self._pool.connection() as conn, conn.transaction():
                with conn.cursor(name="provenance_iter_all", row_factory=class_row(StampRecord)) as cur:
                    cur.itersize = 2000
                    cur.execute("SELECT * FROM stamps ORDER BY created_at, content_id")
                    yield from cur
        except self._psycopg.Error as e:
            raise RegistryError(f"registry query failed: {e}") from e

    def list(self, *, limit: int | None = None) -> list[StampRecord]:
        sql = "SELECT * FROM stamps ORDER BY created_at DESC, content_id"
        return self._rows(sql + (" LIMIT %s" if limit else ""), (limit,) if limit else ())

    def is_empty(self) -> bool:
        return bool(self._value("SELECT NOT EXISTS (SELECT 1 FROM stamps)"))

    def count(self) -> int:
        return int(self._value("SELECT count(*) FROM stamps"))

    def integrity_ok(self) -> bool:
        """Every stamp has its fingerprints row and every index row its stamp (what a write that
        stopped halfway would break; PostgreSQL itself keeps its pages whole)."""
        return bool(self._value(
            "SELECT (SELECT count(*) FROM stamps) = (SELECT count(*) FROM fingerprints) AND NOT EXISTS "
            "(SELECT 1 FROM fingerprint_chunks AS c LEFT JOIN fingerprints AS f ON f.key = c.key WHERE f.key IS NULL)"))

    def schema_version(self) -> int:
        return int(self._value("SELECT max(version) FROM registry_schema"))
