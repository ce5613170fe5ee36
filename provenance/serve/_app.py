"""The Soft Binding Resolution API (C2PA 2.4, ``shared/specs``'s OpenAPI document) as a Starlette app.

Routes live under ``/v1`` (the document's server URL), discovery at
``/.well-known/c2pa-soft-binding-resolution``, the upload page at ``/`` (provenance.serve._web).
Query and fetch routes are open unless ``private``; store and delete need a bearer token with the
route's scope (401 without a valid one, 403 when it lacks the scope).

Hostile clients: every body is read against a size limit (413, before the rest is read when
``Content-Length`` says so); an uploaded image is sniffed (415 when it is not an image we decode)
and its pixel count checked from the header before decoding (413: a decompression bomb); each
request runs under a time limit (500 with the reason); every error is ``{"error": ...}`` JSON
without a stack trace; the service never makes an outbound request (``byReference``, which would
fetch a client's URL, answers 501).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._errors import ImageError, ImageTooLargeError, ProvenanceError
from .._imageio import MAX_PIXELS, decode_image, sniff_format
from .._registry import Registry
from .._softbinding import SoftBindingError, algorithms, get_algorithm
from ._auth import TokenStore
from ._lookup import Lookup, best_first

log = logging.getLogger(__name__)

SPEC_VERSION = "2.4.0"
API_PREFIX = "/v1"
MAX_BODY_BYTES = 50 * 1024 * 1024
MAX_JSON_BYTES = 64 * 1024
DEFAULT_TIME_LIMIT_S = 30.0
DEFAULT_MAX_RESULTS = 10
MAX_RESULTS_CAP = 100
CAPABILITIES = ["queryByBinding", "queryByContent", "fetchManifests", "storeManifests", "storeBindings",
                "deleteManifests"]


@dataclass
class ServiceConfig:
    """How one service runs: its registry, who may store, and the limits put on every client."""

    registry_path: Path
    tokens: TokenStore = field(default_factory=TokenStore)
    private: bool = False  # query and fetch need a token with fetch:manifests too
    max_body_bytes: int = MAX_BODY_BYTES
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    max_pixels: int = MAX_PIXELS
    #: How many image analyses (byContent, the web page's verify) run at once; more wait their turn.
    analysis_workers: int = 2
    trust_anchors_pem: bytes = b""  # for the web page's verify
    web: bool = True  # the upload page at / (provenance.serve._web)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Service:
    """The state behind the routes: per-thread registry connections, the lookup, the limits."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.lookup = Lookup()
        self._local = threading.local()
        self.analysis = anyio.CapacityLimiter(max(1, config.analysis_workers))
        Registry(config.registry_path).close()  # create it (and fail now, not on the first request)

    def registry(self) -> Registry:
        reg = getattr(self._local, "registry", None)
        if reg is None:
            reg = self._local.registry = Registry(self.config.registry_path)
        return reg

    async def run(self, fn: Callable, *args, heavy: bool = False):
        """``fn(*args)`` in a worker thread (image analysis through the bounded pool)."""
        limiter = self.analysis if heavy else None
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), abandon_on_cancel=True, limiter=limiter)


# --- request helpers --------------------------------------------------------------------------

async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ApiError(413, f"the request body is {int(declared):,} bytes; the limit is {limit:,}")
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise ApiError(413, f"the request body passes the limit of {limit:,} bytes")
    return bytes(buf)


async def read_json(request: Request, required: tuple[str, ...]) -> dict:
    body = await read_body(request, MAX_JSON_BYTES)
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not JSON") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "the request body must be a JSON object")
    for name in required:
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise ApiError(400, f"{name!r} (a non-empty string) is required")
    return obj


def max_results(request: Request) -> int:
    text = request.query_params.get("maxResults")
    if text is None:
        return DEFAULT_MAX_RESULTS
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ApiError(400, "maxResults must be an integer of at least 1")
    return min(n, MAX_RESULTS_CAP)


def _algorithm(alg: str | None):
    if not alg:
        raise ApiError(400, "'alg' is required")
    found = get_algorithm(alg)
    if found is None:
        raise ApiError(400, f"unsupported soft-binding algorithm {alg[:100]!r} (GET /v1/services/supportedAlgorithms)")
    return found


def _key(alg, value: str) -> str:
    try:
        return alg.key(value)
    except SoftBindingError as e:
        raise ApiError(400, str(e)) from None


def endpoint(scope: str | None = None, *, always_auth: bool = False):
    """Wrap a route: bearer-token check for ``scope`` (store routes always, query and fetch routes
    only on a private service), the time limit, and errors as JSON."""
    def wrap(fn: Callable[[Request, Service], Awaitable[Response]]):
        @functools.wraps(fn)
        async def route(request: Request) -> Response:
            service: Service = request.app.state.service
            try:
                if scope is not None and (always_auth or service.config.private):
                    authorize(request, service, scope)
                with anyio.fail_after(service.config.time_limit_s):
                    return await fn(request, service)
            except ApiError as e:
                return error_response(e.status, e.message, e.headers)
            except TimeoutError:
                return error_response(500, f"the request took longer than the service's limit of "
                                           f"{service.config.time_limit_s:g} s")
        return route
    return wrap


def authorize(request: Request, service: Service, scope: str) -> None:
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": f'Bearer scope="{scope}"'}
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(401, f"this route needs a bearer token with the {scope} scope", challenge)
    scopes = service.config.tokens.scopes_of(token.strip())
    if scopes is None:
        raise ApiError(401, "the bearer token is not valid here", challenge)
    if scope not in scopes:
        raise ApiError(403, f"the bearer token lacks the {scope} scope")


# --- query ------------------------------------------------------------------------------------

@endpoint("fetch:manifests")
async def get_by_binding(request: Request, service: Service) -> Response:
    value, alg = request.query_params.get("value"), request.query_params.get("alg")
    if value is not None and len(value) > 2048:
        raise ApiError(414, "the value is longer than this service reads from a query string; use POST")
    if not value:
        raise ApiError(400, "'value' is required")
    return await _by_binding(service, alg, value, max_results(request))


@endpoint("fetch:manifests")
async def post_by_binding(request: Request, service: Service) -> Response:
    limit = max_results(request)
    body = await read_json(request, ("value", "alg"))
    return await _by_binding(service, body["alg"], body["value"], limit)


async def _by_binding(service: Service, alg_name: str | None, value: str, limit: int) -> Response:
    alg = _algorithm(alg_name)
    key = _key(alg, value)
    matches = await service.run(lambda: service.lookup.by_key(service.registry(), alg, key, limit=limit))
    return JSONResponse({"matches": [m.to_api() for m in best_first(matches, limit)]})


@endpoint("fetch:manifests")
async def post_by_content(request: Request, service: Service) -> Response:
    limit = max_results(request)
    alg = request.query_params.get("alg")
    if alg is not None:
        _algorithm(alg)
    hint_alg, hint_value = request.query_params.get("hintAlg"), request.query_params.get("hintValue")
    data = await read_body(request, service.config.max_body_bytes)
    rgb = await service.run(decode_upload, data, service.config.max_pixels, heavy=True)
    matches = await service.run(lambda: service.lookup.by_content(service.registry(), rgb, alg=alg, limit=limit),
                                heavy=True)
    if not matches and hint_alg and hint_value:  # the caller's own binding, used when extraction found nothing
        a = _algorithm(hint_alg)
        key = _key(a, hint_value)
        matches = await service.run(lambda: service.lookup.by_key(service.registry(), a, key, limit=limit))
    return JSONResponse({"matches": [m.to_api() for m in matches]})


def decode_upload(data: bytes, max_pixels: int):
    """An uploaded image's RGB pixels: 415 when the bytes are not an image we read, 413 when its
    header declares more pixels than the limit (checked before decoding)."""
    if not data:
        raise ApiError(400, "the request body is empty; send the image's bytes")
    if sniff_format(data[:64]) is None:
        raise ApiError(415, "the body is not an image this service reads (PNG, JPEG, WebP, GIF, TIFF, BMP, "
                            "HEIF, AVIF)")
    try:
        return decode_image(data, name="upload", max_pixels=max_pixels).rgb
    except ImageTooLargeError as e:
        raise ApiError(413, str(e).replace("--max-pixels raises the limit", "the service's limit")) from None
    except ImageError as e:
        raise ApiError(415, f"the image does not decode: {e}") from None


@endpoint("fetch:manifests")
async def post_by_reference(request: Request, service: Service) -> Response:
    raise ApiError(501, "byReference is not supported: this service never fetches a URL on a client's behalf; "
                        "POST the asset to /v1/matches/byContent instead")


# --- fetch ------------------------------------------------------------------------------------

@endpoint("fetch:manifests")
async def get_manifest(request: Request, service: Service) -> Response:
    manifest_id = request.path_params["manifest_id"]
    store = await service.run(lambda: service.registry().get_manifest_store(manifest_id))
    if store is None:
        raise ApiError(404, f"no manifest {manifest_id[:200]!r} here")
    return Response(store, media_type="application/c2pa")


@endpoint("fetch:manifests")
async def receipts(request: Request, service: Service) -> Response:
    if request.method == "POST":
        await read_body(request, MAX_JSON_BYTES)
    raise ApiError(404, "this service keeps no repository receipts")


# --- store ------------------------------------------------------------------------------------

@endpoint("store:manifests", always_auth=True)
async def post_manifest(request: Request, service: Service) -> Response:
    from .._c2pa import read_manifest_store

    if request.query_params.get("returnReceipt", "false").lower() in ("true", "1"):
        raise ApiError(400, "this service does not issue repository receipts (returnReceipt=true)")
    store = await read_body(request, service.config.max_body_bytes)
    active = await service.run(read_manifest_store, store, heavy=True)
    if active is None:
        raise ApiError(400, "the body is not a C2PA manifest store (application/c2pa JUMBF) c2pa-python can read")
    bindings = _own_bindings(active)
    content_id = next((k for a, k in bindings if a.startswith("org.provenance.watermark.")), None)
    await service.run(lambda: service.registry().add_with_manifest(None, active["label"], store, bindings,
                                                                   content_id=content_id))
    service.lookup.invalidate()
    return JSONResponse({"manifestId": active["label"]})


def _own_bindings(active: dict) -> list[tuple[str, str]]:
    """The manifest's own soft-binding assertions that this service can match (ours: the value
    is the key as hex), bound at once when the manifest is stored."""
    from .._c2pa import soft_bindings_of

    table = algorithms()
    out = []
    for b in soft_bindings_of(active):
        alg = table.get(b["alg"])
        if alg is None or alg.alg == "io.iscc.v0":
            continue
        try:
            out.append((alg.alg, alg.to_key(bytes.fromhex(b["value"]))))
        except (ValueError, SoftBindingError):
            continue
    return out


async def _binding_body(request: Request, service: Service):
    body = await read_json(request, ("bindingValue", "manifestId"))
    manifest_id = body["manifestId"]
    alg_name = body.get("alg")
    if alg_name is not None and not isinstance(alg_name, str):
        raise ApiError(400, "'alg' must be a string")
    if alg_name:
        alg = _algorithm(alg_name)
        return alg, _key(alg, body["bindingValue"]), manifest_id
    # No alg (the document's Binding has none): the one of the manifest's own soft bindings whose
    # value this is.
    from .._c2pa import read_manifest_store

    store = await service.run(lambda: service.registry().get_manifest_store(manifest_id))
    if store is None:
        raise ApiError(404, f"no manifest {manifest_id[:200]!r} here")
    active = await service.run(read_manifest_store, store) or {}
    for a, key in _own_bindings(active):
        alg = get_algorithm(a)
        try:
            if alg.key(body["bindingValue"]) == key:
                return alg, key, manifest_id
        except SoftBindingError:
            continue
    raise ApiError(400, "name the value's algorithm in 'alg': it is not one of the manifest's own soft bindings")


@endpoint("store:bindings", always_auth=True)
async def post_binding(request: Request, service: Service) -> Response:
    alg, key, manifest_id = await _binding_body(request, service)
    ok = await service.run(lambda: service.registry().add_binding(alg.alg, key, manifest_id))
    if not ok:
        raise ApiError(404, f"no manifest {manifest_id[:200]!r} here")
    service.lookup.invalidate()
    return Response(status_code=204)


@endpoint("store:bindings", always_auth=True)
async def put_binding(request: Request, service: Service) -> Response:
    alg, key, manifest_id = await _binding_body(request, service)
    missing = await service.run(lambda: service.registry().replace_binding(alg.alg, key, manifest_id))
    if missing == "binding":
        raise ApiError(404, "no such soft-binding value here")
    if missing == "manifest":
        raise ApiError(404, f"no manifest {manifest_id[:200]!r} here")
    service.lookup.invalidate()
    return Response(status_code=204)


@endpoint("store:manifests", always_auth=True)
async def delete_manifest(request: Request, service: Service) -> Response:
    manifest_id = request.path_params["manifest_id"]
    gone = await service.run(lambda: service.registry().delete_manifest_store(manifest_id))
    if not gone:
        raise ApiError(404, f"no manifest {manifest_id[:200]!r} here")
    service.lookup.invalidate()
    return Response(status_code=204)


async def manifest_route(request: Request) -> Response:
    return await (delete_manifest if request.method == "DELETE" else get_manifest)(request)


async def binding_route(request: Request) -> Response:
    return await (put_binding if request.method == "PUT" else post_binding)(request)


# --- service ----------------------------------------------------------------------------------

@endpoint()
async def supported_algorithms(request: Request, service: Service) -> Response:
    table = algorithms().values()
    return JSONResponse({"watermarks": [{"alg": a.alg} for a in table if a.kind == "watermark"],
                         "fingerprints": [{"alg": a.alg} for a in table if a.kind == "fingerprint"]})


@endpoint()
async def capabilities(request: Request, service: Service) -> Response:
    return JSONResponse({"c2paSpecificationVersion": SPEC_VERSION, "supportedCapabilities": CAPABILITIES})


@endpoint()
async def status(request: Request, service: Service) -> Response:
    def check() -> str:
        try:
            service.registry().is_empty()
            return "ok"
        except ProvenanceError:
            return "down"
    state = await service.run(check)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return JSONResponse({"status": state, "timestamp": now})


@endpoint()
async def well_known(request: Request, service: Service) -> Response:
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"apiEndpoint": base + API_PREFIX, "c2paSpecificationVersion": SPEC_VERSION,
                         "capabilitiesEndpoint": base + API_PREFIX + "/services/capabilities",
                         "statusEndpoint": base + API_PREFIX + "/services/status"})


# --- the app ----------------------------------------------------------------------------------

async def _http_error(request: Request, exc: HTTPException) -> Response:
    message = {404: "no such route", 405: "method not allowed on this route"}.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, message, getattr(exc, "headers", None))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(500, "internal error")


def create_app(config: ServiceConfig, extra_routes: list[Route] = ()) -> Starlette:
    """The ASGI app of one service (run it with uvicorn: provenance.serve._run), with
    ``extra_routes`` (the upload page) beside the API."""
    p = API_PREFIX
    routes = [
        Route(p + "/matches/byBinding", get_by_binding, methods=["GET"]),
        Route(p + "/matches/byBinding", post_by_binding, methods=["POST"]),
        Route(p + "/matches/byContent", post_by_content, methods=["POST"]),
        Route(p + "/matches/byReference", post_by_reference, methods=["POST"]),
        Route(p + "/manifests", post_manifest, methods=["POST"]),
        Route(p + "/manifests/{manifest_id:path}/receipts", receipts, methods=["GET", "POST"]),
        Route(p + "/manifests/{manifest_id:path}", manifest_route, methods=["GET", "DELETE"]),
        Route(p + "/bindings", binding_route, methods=["POST", "PUT"]),
        Route(p + "/services/supportedAlgorithms", supported_algorithms, methods=["GET"]),
        Route(p + "/services/capabilities", capabilities, methods=["GET"]),
        Route(p + "/services/status", status, methods=["GET"]),
        Route("/.well-known/c2pa-soft-binding-resolution", well_known, methods=["GET"]),
    ]
    routes += list(extra_routes)
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _internal_error})
    app.state.service = Service(config)
    return app
