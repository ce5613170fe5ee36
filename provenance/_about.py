"""What ``provenance --version`` prints: this tool's version and the C2PA libraries under it.

A C2PA validation result depends on the c2pa-rs release doing the checking as much as on ours,
so a bug report or a cited verdict needs both.
"""
from __future__ import annotations

import importlib.metadata

from ._version import __version__


def library_versions() -> dict[str, str]:
    """``{"provenance", "c2pa-python", "c2pa-rs"}`` -> version; a library that cannot be loaded
    says why instead of failing ``--version``."""
    versions = {"provenance": __version__}
    try:
        import c2pa

        versions["c2pa-python"] = importlib.metadata.version("c2pa-python")
        versions["c2pa-rs"] = c2pa.sdk_version()  # c2pa-rs and its C FFI are released in lockstep
    except Exception as e:  # a missing or broken native library: say so, keep --version working
        versions.setdefault("c2pa-python", f"unavailable ({type(e).__name__}: {e})")
        versions.setdefault("c2pa-rs", "unavailable")
    return versions


def version_text() -> str:
    """One line: ``provenance 0.1.0 (c2pa-python 0.38.1, c2pa-rs 0.91.3)``."""
    v = library_versions()
    return f"provenance {v['provenance']} (c2pa-python {v['c2pa-python']}, c2pa-rs {v['c2pa-rs']})"
