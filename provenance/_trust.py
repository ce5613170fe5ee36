"""Trust anchors for verification: the tool's own root CA, a configured file, and ``--trust`` files."""
from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import _paths
from ._errors import SigningKeyError
from ._keys import ROOT_CERT


def _read_pem_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError as e:
        raise SigningKeyError(f"{path}: trust anchor file not found") from e
    except (OSError, ValueError) as e:
        raise SigningKeyError(f"{path}: not a PEM certificate file ({e})") from e
    return certs


def trust_anchors(extra: list[str | Path] | None = None, *, include_defaults: bool = True) -> tuple[bytes, list[str]]:
    """PEM bundle of every anchor, and the files it came from (missing default files are skipped)."""
    sources: list[Path] = []
    if include_defaults:
        sources += [p for p in (_paths.keys_dir() / ROOT_CERT, _paths.trust_file()) if p.is_file()]
    sources += [Path(p) for p in (extra or [])]
    pem = b""
    for path in sources:
        for cert in _read_pem_certs(path):
            pem += cert.public_bytes(serialization.Encoding.PEM)
    return pem, [str(p) for p in sources]
