"""Run a service on uvicorn, on a socket bound first (so ``--port 0`` can say which port it got)."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

from .._errors import ProvenanceError


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ProvenanceError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.listen(256)
    return sock


def server_for(app, sock: socket.socket):
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            timeout_keep_alive=5, limit_concurrency=512)
    return uvicorn.Server(config)


def serve(*, host: str, port: int, registry: Path, **options) -> None:
    from . import create_app
    from ._app import ServiceConfig

    app = create_app(ServiceConfig(registry_path=registry, **options))
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"provenance: serving {registry} on http://{shown}:{sock.getsockname()[1]} (Ctrl-C stops)",
          file=sys.stderr, flush=True)
    server_for(app, sock).run(sockets=[sock])
