"""Where keys and the registry live.

``PROVENANCE_HOME`` puts everything under one folder (tests, CI, demos, several identities).
Without it, keys go to the user's config dir and the registry to the user's data dir.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "provenance"


def _home_override() -> Path | None:
    value = os.environ.get("PROVENANCE_HOME")
    return Path(value).expanduser() if value else None


def keys_dir() -> Path:
    home = _home_override()
    return home / "keys" if home else Path(platformdirs.user_config_dir(APP)) / "keys"


def registry_path() -> Path:
    home = _home_override()
    base = home if home else Path(platformdirs.user_data_dir(APP))
    return base / "registry.sqlite"


def trust_file() -> Path:
    """Extra trust anchors (PEM) that verify always uses, beside the tool's own root CA."""
    home = _home_override()
    return home / "trust-anchors.pem" if home else Path(platformdirs.user_config_dir(APP)) / "trust-anchors.pem"
