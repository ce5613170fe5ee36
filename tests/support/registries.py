"""Every registry backend as one parametrized fixture: a test that takes ``registry`` (or
``registry_location``) runs once on a SQLite file and once on a fresh PostgreSQL database."""
from __future__ import annotations

import json

import pytest

#: The backends the contract tests run (pytest ids).
BACKENDS = ["sqlite", "postgresql"]


def stamp_row(content_id: str | None = None, phash: str = "ffff0000ffff0000", **kw):
    """A registry row as stamp writes one, with made-up values (keywords override them)."""
    from provenance import StampRecord, new_content_id

    base = dict(content_id=content_id or new_content_id(), sha256="0" * 64, phash=phash, method="dwtDctSvd",
                format="PNG", width=512, height=512, signer="CN=Test", created_at="2026-11-26T00:00:00+00:00",
                output_path="/tmp/x.png", source_path="/tmp/in.png", manifest_json=json.dumps({"title": "x"}))
    base.update(kw)
    return StampRecord(**base)


@pytest.fixture(params=BACKENDS)
def registry_location(request, tmp_path) -> str:
    """Where a new, empty registry of each backend is: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "registry.sqlite")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def registry(registry_location):
    """An open, empty registry of each backend (``open_registry``), closed after the test."""
    from provenance import open_registry

    with open_registry(registry_location) as reg:
        yield reg
