"""Bearer tokens for the store and delete routes: kept hashed, compared in constant time.

A token file holds one token per line as ``sha256:<hex of the token's SHA-256> SCOPE[,SCOPE...]``
(``#`` starts a comment). The token itself is shown once, when ``provenance serve --new-token``
makes it, and is never written: a leaked file does not leak a usable token. The scopes are the
OpenAPI document's: ``store:manifests`` (POST and DELETE /manifests), ``store:bindings`` (POST
and PUT /bindings), ``fetch:manifests`` (the query and fetch routes, when ``--private`` closes them).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import ProvenanceError

SCOPES = ("fetch:manifests", "store:manifests", "store:bindings")
STORE_SCOPES = ("store:manifests", "store:bindings")


class TokenFileError(ProvenanceError):
    """A token file that cannot be read or holds a line that is not ``sha256:HEX SCOPES``."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class TokenStore:
    """The hashed tokens a service accepts, each with its scopes."""

    entries: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> TokenStore:
        if path is None:
            return cls()
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise TokenFileError(f"--token-file {path}: cannot read ({e.strerror or e})") from e
        entries = []
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            digest = parts[0].removeprefix("sha256:")
            scopes = frozenset(s for p in parts[1:] for s in p.split(",") if s)
            if not parts[0].startswith("sha256:") or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise TokenFileError(f"{path}:{n}: expected 'sha256:<64 hex digits> SCOPE[,SCOPE]'")
            if not scopes or scopes - set(SCOPES):
                raise TokenFileError(f"{path}:{n}: scopes must be from {', '.join(SCOPES)}")
            entries.append((digest, scopes))
        return cls(entries)

    def scopes_of(self, token: str) -> frozenset[str] | None:
        """The scopes of a presented token, None when it is not one of ours. Every entry is
        compared (in constant time each), so the time taken says nothing about which matched."""
        presented = hash_token(token)
        found = None
        for digest, scopes in self.entries:
            if hmac.compare_digest(presented, digest):
                found = scopes
        return found


def new_token(path: str | os.PathLike[str], scopes: tuple[str, ...] = STORE_SCOPES) -> str:
    """A fresh random token: its hash and scopes appended to ``path`` (created 0600), the token returned."""
    bad = set(scopes) - set(SCOPES)
    if bad:
        raise TokenFileError(f"unknown scope {', '.join(sorted(bad))}; choose from {', '.join(SCOPES)}")
    token = secrets.token_urlsafe(32)
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(f"sha256:{hash_token(token)} {','.join(scopes)}\n")
    except OSError as e:
        raise TokenFileError(f"--token-file {path}: cannot write ({e.strerror or e})") from e
    return token
