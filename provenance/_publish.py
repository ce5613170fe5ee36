"""Publishing a stamp to a Soft Binding Resolution service (``stamp``/``generate --publish URL``):
the signed manifest store (``POST /manifests``), then each soft binding it can be found by
(``POST /bindings``: its watermark id, its PDQ hash and, with iscc-core, its ISCC Image-Code).

The store routes need a bearer token with the ``store:manifests`` and ``store:bindings`` scopes
(``provenance serve --new-token``): from ``--publish-token-file`` (a file readable by its owner
only) or ``PROVENANCE_PUBLISH_TOKEN``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ._errors import ProvenanceError, ResolverError

TOKEN_ENV = "PROVENANCE_PUBLISH_TOKEN"
DEFAULT_TIMEOUT_S = 30.0


def publish_token(path: str | None) -> str | None:
    """The publishing token from ``path`` (refused when other users can read it) or the environment."""
    if path:
        try:
            mode = os.stat(path).st_mode
            if os.name == "posix" and mode & 0o077:
                raise ProvenanceError(f"--publish-token-file {path}: readable by other users (mode {mode & 0o777:o}); "
                                      f"chmod 600 {path}")
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as e:
            raise ProvenanceError(f"--publish-token-file {path}: cannot read ({e.strerror or e})") from e
    return os.environ.get(TOKEN_ENV) or None


def publish_stamp(url: str, manifest_store: bytes, bindings: list[tuple[str, str]], *, token: str | None,
                  timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """Send one stamp to the service at ``url``: ``{"endpoint", "manifest_id", "bindings"}``.
    Raises ResolverError when the service refuses or cannot be reached."""
    from ._resolver import HttpResolver
    from ._softbinding import get_algorithm

    service = HttpResolver(url, timeout=timeout)
    service.start()
    api = service.api()
    status, _ctype, body = service._request("POST", f"{api}/manifests", body=manifest_store,
                                            content_type="application/c2pa", token=token)
    answer = _answer(status, body)
    if status != 200 or not isinstance(answer.get("manifestId"), str):
        raise ResolverError(f"{api}: POST /manifests answered {status}: {answer.get('error') or 'no manifestId'}")
    manifest_id = answer["manifestId"]
    sent = []
    for alg_name, key in bindings:
        alg = get_algorithm(alg_name)
        if alg is None:
            continue
        payload = json.dumps({"bindingValue": alg.value(key), "manifestId": manifest_id, "alg": alg_name}).encode()
        status, _ctype, body = service._request("POST", f"{api}/bindings", body=payload,
                                                content_type="application/json", token=token)
        if status != 204:
            raise ResolverError(f"{api}: POST /bindings ({alg_name}) answered {status}: "
                                f"{_answer(status, body).get('error') or ''}")
        sent.append(alg_name)
    return {"endpoint": api, "manifest_id": manifest_id, "bindings": sent}


def _answer(status: int, body: bytes) -> dict:
    try:
        obj = json.loads(body) if body else {}
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}
