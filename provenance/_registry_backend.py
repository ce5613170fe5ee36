"""Which registry: the backends' common interface, and the one function that opens a registry.

Two backends keep the same rows and answer the same questions: SQLite (``provenance._registry``,
one file, nothing to start: the default) and PostgreSQL (``provenance._registry_pg``: a shared
registry that many machines stamp into and a resolution service answers from). Everything that
opens a registry (stamp, generate, verify, audit, watch, ``registry``) goes through
:func:`open_registry`, so the same location string works everywhere:

* ``postgresql://user@host/db`` (or ``postgres://``): a PostgreSQL database (needs the
  ``postgresql`` extra: psycopg 3 and its pool);
* ``sqlite:///abs/path.sqlite`` or a plain path: a SQLite file;
* nothing: ``PROVENANCE_REGISTRY`` if set, else ``registry.sqlite`` in ``PROVENANCE_HOME`` or the
  user's data folder (as before there was a choice).

A method added to the registry goes into :class:`RegistryBackend`, into both backends, and into the
contract tests (tests/provenance/registry/test_registry_contract.py), which run every backend.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence, runtime_checkable
from urllib.parse import urlsplit

from . import _paths
from ._errors import RegistryError
from ._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE, SimilarStamp, StampRecord

#: The environment variable naming the registry (a path or a postgresql:// URL) when no --registry is given.
REGISTRY_ENV = "PROVENANCE_REGISTRY"
_PG_SCHEMES = ("postgresql://", "postgres://")


@runtime_checkable
class RegistryBackend(Protocol):
    """What every registry backend does (each method as the SQLite ``Registry`` documents it)."""

    @property
    def location(self) -> str:
        """Where it is, for messages and cache keys (a path, or a URL without its password)."""

    def close(self) -> None: ...
    def __enter__(self) -> RegistryBackend: ...
    def __exit__(self, *exc) -> None: ...
    def add(self, record: StampRecord) -> None: ...
    def add_many(self, records: Iterable[StampRecord]) -> None: ...
    def set_pdq(self, content_id: str, pdq: str, quality: int) -> None: ...
    def get(self, content_id: str) -> StampRecord | None: ...
    def find_by_prefix(self, prefix: str) -> list[StampRecord]: ...
    def find_by_sha256(self, sha256: str) -> list[StampRecord]: ...
    def find_by_source_sha256(self, sha256: str) -> list[StampRecord]: ...
    def find_by_phash(self, phash: str, *, max_distance: int = PHASH_MAX_DISTANCE) -> list[tuple[int, StampRecord]]: ...
    def find_similar(self, *, pdq: Sequence[str] = (), phash: str | None = None, pdq_max: int = PDQ_MAX_DISTANCE,
                     phash_max: int = PHASH_MAX_DISTANCE) -> list[SimilarStamp]: ...
    def iter_all(self) -> Iterator[StampRecord]: ...
    def list(self, *, limit: int | None = None) -> list[StampRecord]: ...
    def is_empty(self) -> bool: ...
    def count(self) -> int: ...
    def integrity_ok(self) -> bool: ...
    def schema_version(self) -> int: ...


def is_postgres_url(location: str | os.PathLike | None) -> bool:
    return isinstance(location, str) and location.lower().startswith(_PG_SCHEMES)


def registry_location(location: str | os.PathLike | None = None) -> str:
    """The registry meant: ``location`` if given, else ``PROVENANCE_REGISTRY``, else the default file."""
    if location:
        return str(location)
    return os.environ.get(REGISTRY_ENV) or str(_paths.registry_path())


def _sqlite_path(location: str) -> Path:
    if location.lower().startswith("sqlite://"):
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise RegistryError(f"not a SQLite registry URL: {location!r} (use sqlite:///absolute/path.sqlite)")
        return Path(parts.path)
    if "://" in location:
        raise RegistryError(f"unknown registry {location!r}: give a file path, sqlite:///path or postgresql://...")
    return Path(location).expanduser()


def open_registry(location: str | os.PathLike | None = None) -> RegistryBackend:
    """Open (creating or migrating its schema if needed) the registry at ``location`` (see the module doc)."""
    where = registry_location(location)
    if is_postgres_url(where):
        from ._registry_pg import PostgresRegistry

        return PostgresRegistry(where)
    from ._registry import Registry

    return Registry(_sqlite_path(where))


def open_existing_registry(location: str | os.PathLike | None = None) -> tuple[RegistryBackend | None, str | None]:
    """(the registry, None), or (None, why) when it is a SQLite file that does not exist yet: looking
    up (verify, audit, ``registry list``) must not create one. A PostgreSQL registry is a server the
    user named: it is opened (its schema made if missing), and a server that cannot be reached is a
    :class:`RegistryError`."""
    where = registry_location(location)
    if not is_postgres_url(where):
        path = _sqlite_path(where)
        if not path.exists():
            return None, f"no registry yet ({path} does not exist)"
    return open_registry(where), None
