"""Shared fixtures: synthetic natural-looking images, an isolated PROVENANCE_HOME, a signing identity.
The helpers the tests import are in ``support/`` (tests/ is on sys.path, see pyproject.toml)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import SHARED_DATA, natural_image


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return natural_image(512, 512, seed=3)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty PROVENANCE_HOME for one test."""
    h = tmp_path / "home"
    monkeypatch.setenv("PROVENANCE_HOME", str(h))
    monkeypatch.delenv("PROVENANCE_KEY_PASSPHRASE", raising=False)
    return h


@pytest.fixture
def identity(home):
    """Keys created in the test's PROVENANCE_HOME, loaded for signing."""
    from provenance import init_keys, load_identity

    init_keys(org="Test Org")
    return load_identity()


@pytest.fixture
def photo_png(tmp_path, photo) -> Path:
    p = tmp_path / "input.png"
    Image.fromarray(photo).save(p)
    return p


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "real" / "MANIFEST.csv").exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


# A real PostgreSQL server (session) and a fresh database per test: tests/support/postgres.py.
from support.postgres import postgres_server, postgres_url  # noqa: E402,F401
