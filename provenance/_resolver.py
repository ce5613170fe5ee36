"""The resolver client: get a stripped copy's Content Credentials back from a Soft Binding
Resolution service (C2PA 2.4; ``provenance serve`` is one), and decide whether they are its own.

``verify --resolver URL`` (repeatable; or ``PROVENANCE_RESOLVERS``, URLs separated by spaces or
commas) asks each service in turn, when the file holds no manifest of its own and the local
registry had none for it: ``byBinding`` with each of our watermark ids the image carries, then
``byContent`` with the image itself. For each match (best first) it fetches the manifest store and
accepts it only when

1. the binding looked up is one of the manifest's soft bindings (spec 2.2 §18.10.5.1) and every
   soft binding of ours in it agrees with the image (its watermark id, if the image carries one);
2. the image's own PDQ fingerprint is within the registry's threshold of the one the manifest
   signed (a watermark copied onto another image must not carry the credentials over);
3. c2pa-python validates the manifest against the image: signature and claim good. A copy whose
   pixels differ from the signed ones (the hard binding fails) is reported as such
   (``pixels: differ``, expected for a re-encoded or resized copy), never as tampered.

Every request to a service shares one deadline (``timeout``, default 5 s), so a service that is
down or slow costs at most that, and is named in ``errors``. A URL is the service's root (its
``/.well-known/c2pa-soft-binding-resolution`` names the API endpoint) or the API endpoint itself.
No request is made unless the user named a resolver.
"""
from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

from ._errors import ResolverError
from ._version import __version__

log = logging.getLogger(__name__)

RESOLVERS_ENV = "PROVENANCE_RESOLVERS"
DEFAULT_TIMEOUT_S = 5.0
WELL_KNOWN = "/.well-known/c2pa-soft-binding-resolution"
MAX_JSON_BYTES = 1024 * 1024
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
#: Matches tried per service (best first) before giving up on it.
MAX_CANDIDATES = 3


def resolvers_from_env(given: list[str] | None) -> list[str]:
    """The resolver URLs: those given on the command line, else ``PROVENANCE_RESOLVERS``."""
    if given:
        return list(given)
    return [u for u in os.environ.get(RESOLVERS_ENV, "").replace(",", " ").split() if u]


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise ResolverError(f"no answer within its {self.seconds:g} s timeout")
        return left


@dataclass
class HttpResolver:
    """One service, over HTTP(S) with the standard library: no redirects followed, bounded
    answers, one deadline for everything asked of it (:meth:`start`)."""

    url: str
    timeout: float = DEFAULT_TIMEOUT_S
    _api: str | None = field(default=None, repr=False)
    _deadline: Deadline | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ResolverError(f"{self.url}: a resolver is an http:// or https:// URL")

    @property
    def endpoint(self) -> str:
        return self._api or self.url.rstrip("/")

    def start(self) -> None:
        """Start this service's deadline: every request from now on shares it."""
        self._deadline = Deadline(self.timeout)

    # -- HTTP ------------------------------------------------------------------------------------

    def _request(self, method: str, url: str, *, body: bytes | None = None, content_type: str | None = None,
                 limit: int = MAX_JSON_BYTES, token: str | None = None) -> tuple[int, str, bytes]:
        deadline = self._deadline or Deadline(self.timeout)
        parts = urllib.parse.urlsplit(url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        kwargs = {"context": ssl.create_default_context()} if parts.scheme == "https" else {}
        conn = conn_cls(parts.hostname, parts.port, timeout=deadline.left(), **kwargs)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": f"provenance/{__version__}", "Accept": "application/json, application/c2pa"}
        if content_type:
            headers["Content-Type"] = content_type
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=body, headers=headers)
            conn.sock.settimeout(deadline.left())
            resp = conn.getresponse()
            chunks, size = [], 0
            while True:
                conn.sock.settimeout(deadline.left()) if conn.sock else None
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise ResolverError(f"answered more than {limit:,} bytes to {method} {parts.path}")
                chunks.append(chunk)
            return resp.status, resp.getheader("Content-Type") or "", b"".join(chunks)
        except ResolverError:
            raise
        except (socket.timeout, TimeoutError):
            raise ResolverError(f"no answer within its {self.timeout:g} s timeout") from None
        except (OSError, http.client.HTTPException) as e:
            raise ResolverError(f"cannot reach it ({type(e).__name__}: {e})") from None
        finally:
            conn.close()

    def _json(self, method: str, url: str, **kw) -> dict:
        status, _ctype, body = self._request(method, url, **kw)
        try:
            obj = json.loads(body) if body else {}
        except ValueError:
            obj = None
        if status != 200:
            why = obj.get("error") if isinstance(obj, dict) and isinstance(obj.get("error"), str) else ""
            raise ResolverError(f"{method} {urllib.parse.urlsplit(url).path} answered {status}"
                                + (f": {why[:200]}" if why else ""))
        if not isinstance(obj, dict):
            raise ResolverError(f"{method} {urllib.parse.urlsplit(url).path} did not answer a JSON object")
        return obj

    def api(self) -> str:
        """The API endpoint: the well-known document's ``apiEndpoint`` when the URL has one, else the URL."""
        if self._api is None:
            base = self.url.rstrip("/")
            status, _ctype, body = self._request("GET", base + WELL_KNOWN)
            api = base
            if status == 200:
                try:
                    found = json.loads(body).get("apiEndpoint")
                except (ValueError, AttributeError):
                    found = None
                if isinstance(found, str) and found:
                    api = urllib.parse.urljoin(base + "/", found).rstrip("/")
                    if urllib.parse.urlsplit(api).scheme not in ("http", "https"):
                        raise ResolverError(f"its well-known document names an API endpoint that is not http(s): {found[:100]!r}")
            self._api = api
        return self._api

    # -- the API ---------------------------------------------------------------------------------

    def by_binding(self, alg: str, value_b64: str, *, max_results: int = MAX_CANDIDATES) -> list[dict]:
        body = json.dumps({"alg": alg, "value": value_b64}).encode()
        obj = self._json("POST", f"{self.api()}/matches/byBinding?maxResults={max_results}", body=body,
                         content_type="application/json")
        return _matches(obj)

    def by_content(self, data: bytes, mime: str, *, max_results: int = MAX_CANDIDATES) -> list[dict]:
        obj = self._json("POST", f"{self.api()}/matches/byContent?maxResults={max_results}", body=data,
                         content_type=mime)
        return _matches(obj)

    def manifest(self, manifest_id: str) -> bytes:
        url = f"{self.api()}/manifests/{urllib.parse.quote(manifest_id, safe=':')}"
        status, _ctype, body = self._request("GET", url, limit=MAX_MANIFEST_BYTES)
        if status != 200:
            raise ResolverError(f"GET /manifests/{manifest_id[:100]} answered {status}")
        return body


def _matches(obj: dict) -> list[dict]:
    out = []
    for m in obj.get("matches") or []:
        if isinstance(m, dict) and isinstance(m.get("manifestId"), str) and m["manifestId"]:
            score = m.get("similarityScore")
            out.append({"manifestId": m["manifestId"][:500],
                        "similarityScore": float(score) if isinstance(score, (int, float)) else None})
    return out


def b64_of_hex(key: str) -> str:
    return base64.b64encode(bytes.fromhex(key if len(key) % 2 == 0 else key[:-1])).decode("ascii")
