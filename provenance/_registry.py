"""The registry of stamped images: a real SQLite file, safe for several processes at once.

Every stamp adds a row keyed by the watermark content id. It answers "did we make this?" when
the metadata is gone: by content id (from the watermark), by sha256 (an untouched copy), or by
perceptual hash within a Hamming distance (a re-encoded or resized copy).

Concurrency: WAL journal, a 30 s busy timeout and ``BEGIN IMMEDIATE`` for writes, so two stamping
processes queue on the write lock instead of failing or corrupting the file.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from . import _paths
from ._errors import RegistryError

SCHEMA_VERSION = 1

#: Largest pHash Hamming distance treated as "the same image" (bench/calibrate_phash.py on 300
#: shared images: JPEG q50-q90, WebP q80 and 50% resizes of an image stay within 2 bits, while
#: no two different images came closer than 6).
PHASH_MAX_DISTANCE = 4

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
    manifest_json TEXT
);
CREATE INDEX IF NOT EXISTS stamps_sha256 ON stamps(sha256);
CREATE INDEX IF NOT EXISTS stamps_created ON stamps(created_at);
"""


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

    def to_dict(self, *, with_manifest: bool = True) -> dict:
        d = asdict(self)
        manifest = d.pop("manifest_json")
        if with_manifest:
            d["manifest"] = json.loads(manifest) if manifest else None
        return d


_COLUMNS = [f for f in StampRecord.__dataclass_fields__]


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


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

    def _init_schema(self) -> None:
        """WAL mode and the schema, written only when missing, retried while another process
        holds the lock (SQLite can answer "locked" at once, without waiting, while a second
        connection upgrades the journal mode or creates tables)."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    self._db.execute("BEGIN IMMEDIATE")
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    self._db.execute("COMMIT")
                return
            except sqlite3.OperationalError as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, record: StampRecord) -> None:
        values = [getattr(record, c) for c in _COLUMNS]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                f"INSERT INTO stamps ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", values
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise RegistryError(f"cannot add {record.content_id} to the registry: {e}") from e

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
        if not p or any(c not in "0123456789abcdef" for c in p):
            return []
        # A range on the primary key (ids are lowercase hex, and "g" sorts after "f"): an index
        # seek, where substr() would read every row. provenanceWM carries a 48-bit prefix, so this
        # is the lookup behind most watermark matches.
        return self._rows("SELECT * FROM stamps WHERE content_id >= ? AND content_id < ? ORDER BY created_at",
                          (p, p + "g"))

    def find_by_sha256(self, sha256: str) -> list[StampRecord]:
        return self._rows("SELECT * FROM stamps WHERE sha256 = ?", (sha256.lower(),))

    def find_by_phash(self, phash: str, *, max_distance: int = PHASH_MAX_DISTANCE) -> list[tuple[int, StampRecord]]:
        """Rows whose perceptual hash is within ``max_distance`` bits, nearest first (a linear scan)."""
        matches = []
        for r in self.iter_all():
            if r.phash:
                d = hamming(phash, r.phash)
                if d <= max_distance:
                    matches.append((d, r))
        return sorted(matches, key=lambda m: m[0])

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

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM stamps").fetchone()[0])

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


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
