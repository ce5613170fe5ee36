"""The audit's per-file work as one plain function: ``audit_file(path, options) -> AuditRow``.

Everything a file costs an audit happens here: read it (regular files only, with the size cap),
hash it, serve it from the cache or verify it, make its thumbnail. The local process pool
(``_pool``) calls it in its workers; another engine can call it the same way: the options are a
small frozen dataclass of plain values (picklable), and what a process opens for them (the
registry, the read-only cache connection) is opened on first use and kept for the next file.
"""
from __future__ import annotations

import atexit
import hashlib
import io
import threading
import time
from dataclasses import dataclass

from .._imageio import MAX_PIXELS

THUMB_PX = 160


@dataclass(frozen=True)
class AuditFileOptions:
    """How one file is audited: verify's options as plain values, the cache to read, thumbnails."""

    trust_anchors_pem: bytes = b""
    public_trust: bool = True
    registry_path: str | None = None  # a SQLite file or a postgresql:// URL (open_registry); None: no lookup
    registry_note: str = "registry lookup disabled"  # the reports' reason when registry_path is None
    forensics: bool = True
    watermark_methods: tuple[str, ...] | None = None  # None: every method scanned by default
    fast_watermarks: bool = False  # our watermarks' fast scan only (verify --fast)
    max_pixels: int = MAX_PIXELS  # larger images are not decoded
    cache_path: str | None = None  # None: no cache reads
    fingerprint: str = ""  # the cache rows these options may use (``options_fingerprint``)
    thumbnails: bool = False
    memory_mb: int | None = None  # the worker's memory guard, named in an out-of-memory row
    resolvers: tuple[str, ...] = ()  # Soft Binding Resolution service URLs (verify --resolver)
    resolver_timeout: float = 5.0

    def verify_options(self, registry=None):
        """The VerifyOptions these stand for, with ``registry`` (an open Registry) for the lookup."""
        from .._verify import VerifyOptions

        return VerifyOptions(trust_anchors_pem=self.trust_anchors_pem, public_trust=self.public_trust, registry=registry, forensics=self.forensics,
                             watermark_methods=list(self.watermark_methods) if self.watermark_methods else None,
                             fast_watermarks=self.fast_watermarks, registry_note=self.registry_note,
                             max_pixels=self.max_pixels, resolvers=_resolvers(self.resolvers, self.resolver_timeout))


def _resolvers(urls: tuple[str, ...], timeout: float) -> tuple:
    if not urls:
        return ()
    from .._resolver import HttpResolver

    return tuple(HttpResolver(u, timeout=timeout) for u in urls)


@dataclass
class AuditRow:
    """One audited file: its verify report (schema provenance.verify/1) and how it was got."""

    path: str
    report: dict
    sha256: str | None
    cached: bool
    cacheable: bool  # False for time-outs, crashes and memory failures (they may pass another time)
    thumbnail: bytes | None = None
    seconds: float = 0.0
    #: The process ran out of memory on this file: the pool replaces it rather than trust it again.
    worker_spent: bool = False


def error_report(path: str, sha256: str | None, collector: str, message: str) -> dict:
    """A schema-valid verify object for a file the audit could not analyse."""
    from .._verdict import fuse
    from .._verify import VerifyReport

    report = VerifyReport(file=path, sha256=sha256, errors=[{"collector": collector, "error": message}])
    report.verdict = fuse(report)
    return report.to_dict()


def make_thumbnail(data: bytes, size: int = THUMB_PX, *, rgb=None, max_pixels: int | None = None) -> bytes | None:
    """A small JPEG (longest side ``size``) of image bytes, or None when they do not decode.
    ``rgb``: the pixels, already decoded (by verify): resized from there instead of decoding the
    bytes again (a 2048 px PNG: 8 ms instead of 164). A JPEG is still opened from its bytes, at a
    reduced scale (``draft``): cheaper than resizing the full decode."""
    from PIL import Image

    from .._imageio import _register_heif, sniff_format

    try:
        fmt = sniff_format(data[:64])
        if rgb is not None and fmt != "JPEG":
            img = Image.fromarray(rgb)
            img.thumbnail((size, size))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=70)
            return out.getvalue()
        if fmt == "HEIF":
            _register_heif()
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > (max_pixels or MAX_PIXELS):  # the audit's --max-pixels
                return None
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            img.thumbnail((size, size))
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=70)
            return out.getvalue()
    except Exception:  # a thumbnail is decoration; the report says why the file failed
        return None


class _Opened:
    """What a process holds for one set of options: the registry, the read-only cache, verify's options."""

    def __init__(self, options: AuditFileOptions) -> None:
        from .._registry_backend import open_registry
        from ._cache import AuditCache

        self.registry = open_registry(options.registry_path) if options.registry_path else None
        self.cache = AuditCache(options.cache_path, options.fingerprint, readonly=True) if options.cache_path else None
        self.verify = options.verify_options(self.registry)

    def close(self) -> None:
        for handle in (self.registry, self.cache):
            if handle is not None:
                handle.close()


_opened: dict[AuditFileOptions, _Opened] = {}
_opened_lock = threading.Lock()


def _for(options: AuditFileOptions) -> _Opened:
    with _opened_lock:
        state = _opened.get(options)
        if state is None:
            state = _opened[options] = _Opened(options)
        return state


@atexit.register
def close_all() -> None:
    """Close what :func:`audit_file` opened in this process (also run at exit)."""
    with _opened_lock:
        for state in _opened.values():
            state.close()
        _opened.clear()


def warm_up(options: AuditFileOptions) -> None:
    """Open what ``options`` need and load every collector's imports and models, before the first
    file (so its time, its time limit and its memory head-room are its own)."""
    from .._verify import warm_up as warm_up_verify

    warm_up_verify(_for(options).verify)


def audit_file(path: str, options: AuditFileOptions) -> AuditRow:
    """Audit one file: never raises for the file's sake; what went wrong is in the row's report."""
    from .._errors import ProvenanceError
    from .._imageio import read_bytes
    from .._text import file_fields
    from .._verify import verify_bytes, verify_file

    state = _for(options)
    t0 = time.perf_counter()
    sha = None
    try:
        try:
            data = read_bytes(path)
        except ProvenanceError:
            row = AuditRow(path, verify_file(path, options=state.verify).to_dict(), None, False, True)
        else:
            sha = hashlib.sha256(data).hexdigest()
            hit = state.cache.get(sha) if state.cache is not None else None
            decoded = []
            if hit is not None:
                report, cached = {"schema": hit.get("schema"), **file_fields(path), **hit}, True
            else:
                report = verify_bytes(data, name=path, options=state.verify, sha256=sha,
                                      on_decoded=decoded.append if options.thumbnails else None).to_dict()
                cached = False
            thumb = None
            if options.thumbnails and not report.get("errors"):
                thumb = make_thumbnail(data, rgb=decoded[0].rgb if decoded else None, max_pixels=options.max_pixels)
            del decoded
            row = AuditRow(path, report, sha, cached, True, thumb)
            del data
    except MemoryError:
        limit = f"the per-worker limit of {options.memory_mb} MB" if options.memory_mb else "the memory available"
        row = AuditRow(path, error_report(path, sha, "audit", f"out of memory: the file needs more than {limit}"),
                       sha, False, False, worker_spent=True)
    except Exception as e:  # a bug in a collector is caught by verify; this is the last net
        row = AuditRow(path, error_report(path, sha, "audit", f"{type(e).__name__}: {e}"), sha, False, False)
    row.seconds = time.perf_counter() - t0
    return row
