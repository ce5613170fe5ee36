"""The resumable audit cache: one SQLite row per analysed content, committed as soon as it is known.

A row is keyed by the file's sha256 *and* a fingerprint of everything else that shapes a verify
report (tool version, and each collector's own: trust anchors, watermark methods, forensics
on/off and the model file, registry location and size). So a re-run skips what is done, a renamed or moved file is found by
its content, and changing an option or upgrading the tool re-analyses instead of serving stale
evidence. Each result is its own transaction, so ``kill -9`` loses at most the files in flight.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import platformdirs

from .. import _paths
from .._errors import ProvenanceError
from .._text import dumps_json
from .._version import __version__

CACHE_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    sha256      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    report_json TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (sha256, fingerprint)
);
"""


class CacheError(ProvenanceError):
    """The audit cache cannot be opened or written."""


def default_cache_path() -> Path:
    """``$PROVENANCE_HOME/audit-cache.sqlite``, else the user's cache dir (never an audited folder)."""
    home = os.environ.get("PROVENANCE_HOME")
    base = Path(home).expanduser() if home else Path(platformdirs.user_cache_dir(_paths.APP))
    return base / "audit-cache.sqlite"


def options_fingerprint(options) -> str:
    """A short digest of the tool version and everything besides a file that shapes its verify
    report: the decoding limit and every collector's own fingerprint (trust anchors, watermark
    methods and search, the registry's location and size, the forensic model's digest, ...)."""
    from ..collectors import fingerprint

    spec = {
        "tool": __version__,
        "cache_schema": CACHE_SCHEMA_VERSION,
        "max_pixels": options.max_pixels,
        "collectors": fingerprint(options),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


class AuditCache:
    """Open (creating if needed) the cache at ``path``; ``readonly`` for the worker processes."""

    def __init__(self, path: str | os.PathLike[str], fingerprint: str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        try:
            if readonly:
                self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0,
                                           isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives kill -9
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA user_version={CACHE_SCHEMA_VERSION}")
            self._db.execute("PRAGMA busy_timeout=30000")
        except (sqlite3.Error, OSError) as e:
            raise CacheError(f"cannot open the audit cache at {self.path}: {e}") from e

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AuditCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, sha256: str) -> dict | None:
        try:
            row = self._db.execute("SELECT report_json FROM results WHERE sha256 = ? AND fingerprint = ?",
                                   (sha256, self.fingerprint)).fetchone()
        except sqlite3.Error as e:
            raise CacheError(f"audit cache query failed: {e}") from e
        return json.loads(row[0]) if row else None

    def put(self, sha256: str, report: dict) -> None:
        try:
            self._db.execute("INSERT OR REPLACE INTO results (sha256, fingerprint, report_json, created_at) "
                             "VALUES (?, ?, ?, ?)",
                             (sha256, self.fingerprint, dumps_json(report), time.time()))
        except sqlite3.Error as e:
            raise CacheError(f"cannot write to the audit cache {self.path}: {e}") from e

    def count(self, *, all_fingerprints: bool = False) -> int:
        if all_fingerprints:
            return int(self._db.execute("SELECT count(*) FROM results").fetchone()[0])
        return int(self._db.execute("SELECT count(*) FROM results WHERE fingerprint = ?",
                                    (self.fingerprint,)).fetchone()[0])
