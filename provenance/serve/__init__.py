"""``provenance serve``: the C2PA Soft Binding Resolution API over the registry of stamps.

A verifier holding a copy whose metadata is gone sends its watermark id or fingerprint (or the
image itself) and gets back the signed manifest store it was stamped with. Needs the ``serve``
extra (Starlette, uvicorn, iscc-core): ``pip install ".[serve]"``.
"""
from __future__ import annotations

from .._errors import MissingDependencyError


def _require() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"provenance serve needs the serve extra ({e.name} is missing): "
                                     'pip install "provenance-tool[serve]"') from e


def create_app(config):
    """The ASGI app for ``config`` (a :class:`ServiceConfig`)."""
    _require()
    from ._app import create_app as _create
    from ._web import web_routes

    return _create(config, web_routes() if config.web else [])


def __getattr__(name: str):
    if name in ("ServiceConfig", "SPEC_VERSION", "API_PREFIX", "MAX_BODY_BYTES"):
        _require()
        from . import _app

        return getattr(_app, name)
    if name in ("TokenStore", "new_token", "SCOPES", "STORE_SCOPES"):
        from . import _auth

        return getattr(_auth, name)
    raise AttributeError(name)


__all__ = ["API_PREFIX", "MAX_BODY_BYTES", "SCOPES", "SPEC_VERSION", "STORE_SCOPES", "ServiceConfig", "TokenStore",
           "create_app", "new_token"]
