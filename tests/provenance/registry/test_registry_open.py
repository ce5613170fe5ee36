"""``open_registry``: which registry a location string (or PROVENANCE_REGISTRY, or nothing) means."""
from __future__ import annotations

import pytest

from provenance import PostgresRegistry, Registry, RegistryError, open_existing_registry, open_registry, \
    registry_location


def test_default_is_the_sqlite_file_in_provenance_home(home, monkeypatch):
    """Without --registry or PROVENANCE_REGISTRY: registry.sqlite in PROVENANCE_HOME, as before."""
    monkeypatch.delenv("PROVENANCE_REGISTRY", raising=False)
    assert registry_location() == str(home / "registry.sqlite")
    with open_registry() as reg:
        assert isinstance(reg, Registry) and reg.location == str(home / "registry.sqlite")


def test_environment_then_explicit_location(home, tmp_path, monkeypatch):
    """PROVENANCE_REGISTRY replaces the default; an explicit location replaces both."""
    monkeypatch.setenv("PROVENANCE_REGISTRY", str(tmp_path / "env.sqlite"))
    assert registry_location() == str(tmp_path / "env.sqlite")
    assert registry_location(tmp_path / "arg.sqlite") == str(tmp_path / "arg.sqlite")
    with open_registry() as reg:
        assert reg.location == str(tmp_path / "env.sqlite")
    assert not (home / "registry.sqlite").exists()


def test_sqlite_url_and_unknown_schemes(tmp_path):
    """sqlite:///path opens that file; another scheme or a sqlite URL with a host is a clear error."""
    with open_registry(f"sqlite://{tmp_path}/u.sqlite") as reg:
        assert reg.location == str(tmp_path / "u.sqlite")
    for bad in ("mysql://h/db", "sqlite://otherhost/x.sqlite", "https://example.org/registry"):
        with pytest.raises(RegistryError, match="registry"):
            open_registry(bad)


def test_postgres_url_opens_postgres(postgres_url, monkeypatch):
    """A postgresql:// location, given or from PROVENANCE_REGISTRY, is the PostgreSQL backend."""
    monkeypatch.setenv("PROVENANCE_REGISTRY", postgres_url)
    with open_registry() as reg:
        assert isinstance(reg, PostgresRegistry) and reg.location == postgres_url
    reg, note = open_existing_registry()
    assert isinstance(reg, PostgresRegistry) and note is None
    reg.close()
    with open_registry(postgres_url.replace("postgresql://", "postgres://", 1)) as reg:
        assert isinstance(reg, PostgresRegistry)


def test_looking_up_does_not_create_a_sqlite_file(tmp_path):
    """open_existing_registry answers (None, why) for a missing file and leaves no file behind."""
    path = tmp_path / "none.sqlite"
    reg, note = open_existing_registry(path)
    assert reg is None and str(path) in note and not path.exists()
    open_registry(path).close()
    reg, note = open_existing_registry(path)
    assert isinstance(reg, Registry) and note is None
    reg.close()
