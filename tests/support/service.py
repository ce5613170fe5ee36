"""A real ``provenance serve`` app on uvicorn, on an ephemeral loopback port, for one test, and
the OpenAPI document's response schemas to check every answer against."""
from __future__ import annotations

import contextlib
import threading
import time
from functools import lru_cache
from pathlib import Path

import yaml
from openapi_schema_validator import OAS30Validator

from . import REPO

OPENAPI = REPO / "provenance" / "schemas" / "c2pa-soft-binding-resolution-api.openapi.yaml"
SHARED_OPENAPI = REPO.parent / "shared" / "specs" / "c2pa-soft-binding-resolution-api.openapi.yaml"


@contextlib.contextmanager
def running_service(registry_path: Path, **options):
    """``http://127.0.0.1:PORT`` of a service over ``registry_path`` (ServiceConfig options), stopped after."""
    from provenance.serve import ServiceConfig, create_app
    from provenance.serve._run import bind, server_for

    app = create_app(ServiceConfig(registry_path=Path(registry_path), **options))
    sock = bind("127.0.0.1", 0)
    server = server_for(app, sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@lru_cache(maxsize=1)
def openapi() -> dict:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def _resolve(node, doc):
    """The node with every ``$ref`` inlined (the document has no recursive references)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolve(target, doc)
        return {k: _resolve(v, doc) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, doc) for v in node]
    return node


def documented_statuses(path: str, method: str) -> set[int]:
    op = openapi()["paths"][path][method.lower()]
    return {int(s) for s in op["responses"]}


def check_response(path: str, method: str, resp) -> None:
    """Fail unless ``resp`` (an httpx response) is what the OpenAPI document lets ``method path``
    answer: a documented status, the documented media type, a body valid against its schema."""
    doc = openapi()
    op = doc["paths"][path][method.lower()]
    responses = op["responses"]
    assert str(resp.status_code) in responses, \
        f"{method} {path} answered {resp.status_code}, not in the document ({sorted(responses)}): {resp.text[:200]}"
    spec = _resolve(responses[str(resp.status_code)], doc)
    content = spec.get("content")
    if not content:  # 204: no body
        assert resp.content == b"", f"{method} {path} {resp.status_code} has a body"
        return
    ctype = resp.headers.get("content-type", "").split(";")[0].strip()
    assert ctype in content, f"{method} {path} {resp.status_code}: content type {ctype!r}, documented {list(content)}"
    schema = content[ctype].get("schema") or {}
    if ctype == "application/json":
        OAS30Validator(schema).validate(resp.json())
    else:
        assert schema.get("format") == "binary" and resp.content
