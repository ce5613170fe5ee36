"""Where keys and the registry live.

``PROVENANCE_HOME`` puts everything under one folder (tests, CI, demos, several identities).
Without it, keys go to the user's config dir and the registry to the user's data dir.

Folders the tool creates are 0700 whatever the umask (under ``umask 000`` a plain ``mkdir`` would
give 0777 around the keys and the registry); folders that exist are left as they are.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "provenance"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700, set explicitly (not left to the umask)."""
    missing = []
    p = Path(path)
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process: theirs to keep
            continue
        os.chmod(d, 0o700)
    return Path(path)


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


def trust_dir() -> Path:
    """Where ``provenance trust update`` installs newer copies of the public trust lists."""
    home = _home_override()
    return home / "trust" if home else Path(platformdirs.user_config_dir(APP)) / "trust"
