"""A process pool that runs verify on one file per task, with a time limit and a memory guard.

Each worker is a fresh (spawned) process that opens its own registry, reads the cache, loads the
verify options once, then takes one file at a time over a pipe. The parent gives a task only to an
idle worker, so a file that hangs or eats memory costs exactly that file: past ``timeout`` seconds
the worker is killed and replaced and the file becomes an error row; a worker limited by
``RLIMIT_AS`` fails the allocation (or dies) instead of taking the machine down, and is replaced.
Results come back in completion order as plain dicts; nothing here holds more than the files in
flight.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing import connection, get_context
from typing import Callable, Iterator

from .._threads import single_threaded_env

log = logging.getLogger(__name__)

THUMB_PX = 160
#: Worker start-ups that may fail in a row before the audit gives up (an install problem, not a file).
MAX_START_FAILURES = 3


@dataclass(frozen=True)
class WorkerConfig:
    trust_anchors_pem: bytes
    forensics: bool
    watermark_methods: tuple[str, ...] | None
    registry_path: str | None  # None: no registry lookup
    cache_path: str | None  # None: no cache reads
    fingerprint: str
    thumbnails: bool
    memory_mb: int | None  # address-space head-room per worker over its start-up size
    fast_watermarks: bool = False  # our watermarks' fast scan only (verify --fast)
    max_pixels: int | None = None  # None: verify's default limit
    registry_note: str = "registry lookup disabled"  # why there is no lookup, when registry_path is None


@dataclass
class FileResult:
    """What the pool returns per file: the verify report (schema provenance.verify/1) and how it was got."""

    path: str
    report: dict
    sha256: str | None
    cached: bool
    cacheable: bool  # False for time-outs, crashes and memory failures (they may pass another time)
    thumbnail: bytes | None = None
    seconds: float = 0.0


def make_thumbnail(data: bytes, size: int = THUMB_PX, *, rgb=None, max_pixels: int | None = None) -> bytes | None:
    """A small JPEG (longest side ``size``) of image bytes, or None when they do not decode.
    ``rgb``: the pixels, already decoded (by verify): resized from there instead of decoding the
    bytes again (a 2048 px PNG: 8 ms instead of 164). A JPEG is still opened from its bytes, at a
    reduced scale (``draft``): cheaper than resizing the full decode."""
    from PIL import Image

    from .._imageio import MAX_PIXELS, _register_heif, sniff_format

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


def error_report(path: str, sha256: str | None, collector: str, message: str) -> dict:
    """A schema-valid verify object for a file the audit could not analyse."""
    from .._verdict import fuse
    from .._verify import VerifyReport

    report = VerifyReport(file=path, sha256=sha256, errors=[{"collector": collector, "error": message}])
    report.verdict = fuse(report)
    return report.to_dict()


def _set_memory_limit(memory_mb: int | None) -> None:
    if not memory_mb:
        return
    try:
        import resource

        with open("/proc/self/statm") as fh:  # Linux: current address-space size, in pages
            current = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = current + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (ImportError, OSError, ValueError) as e:  # not Linux: no guard, but the time limit still holds
        log.debug("memory guard unavailable: %s", e)


#: glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (mallopt parameter numbers).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _reuse_freed_memory() -> None:
    """Let glibc keep freed image-sized blocks for the next file instead of returning them to the OS.

    By default glibc serves blocks over 128 KiB-32 MiB (its threshold adapts) with fresh mmap()s
    and gives them back on free(), so every file's decoded pixels and transforms are new pages
    that the kernel must fault in and zero again: about 4,000-4,500 page faults per file on 512²
    JPEGs and on mixed 512²-2048² images, costly on virtual machines. With heap allocation up to
    32 MiB (glibc's upper limit) and 256 MiB of free heap kept, a worker reuses the same pages file
    after file (3-160 faults per file); its RSS stays at its peak instead of rising and falling.
    Not glibc (musl, macOS, Windows): nothing to do.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    mallopt(_M_TRIM_THRESHOLD, 256 * 1024 * 1024)


def _worker_main(conn, config: WorkerConfig) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    started = time.perf_counter()
    _reuse_freed_memory()
    from .._c2pa_evidence import collect_c2pa  # noqa: F401  (import everything before the first file)
    from .._registry import Registry
    from .._verify import VerifyOptions, warm_up
    from ._cache import AuditCache

    registry = Registry(config.registry_path) if config.registry_path else None
    cache = AuditCache(config.cache_path, config.fingerprint, readonly=True) if config.cache_path else None
    options = VerifyOptions(trust_anchors_pem=config.trust_anchors_pem, registry=registry,
                            forensics=config.forensics,
                            watermark_methods=list(config.watermark_methods) if config.watermark_methods else None,
                            fast_watermarks=config.fast_watermarks, registry_note=config.registry_note,
                            **({"max_pixels": config.max_pixels} if config.max_pixels else {}))
    warm_up(options)  # the forensic model (seconds, hundreds of MB) is not the first file's cost
    _set_memory_limit(config.memory_mb)
    log.debug("audit worker %d ready in %.1f s", os.getpid(), time.perf_counter() - started)
    try:
        _serve(conn, config, options, cache)
    except (EOFError, OSError):  # the parent is gone (killed, even with -9): nothing left to do
        pass
    finally:
        if registry is not None:
            registry.close()
        if cache is not None:
            cache.close()


def _serve(conn, config: WorkerConfig, options, cache) -> None:
    from .._errors import ProvenanceError
    from .._imageio import read_bytes
    from .._text import file_fields
    from .._verify import verify_bytes, verify_file

    conn.send(("ready", os.getpid()))
    while True:
        task = conn.recv()
        if task is None:
            break
        path = task
        t0 = time.perf_counter()
        sha = None
        try:
            try:
                data = read_bytes(path)
            except ProvenanceError:
                result = FileResult(path, verify_file(path, options=options).to_dict(), None, False, True)
            else:
                sha = hashlib.sha256(data).hexdigest()
                hit = cache.get(sha) if cache is not None else None
                decoded = []
                if hit is not None:
                    report, cached = {"schema": hit.get("schema"), **file_fields(path), **hit}, True
                else:
                    report = verify_bytes(data, name=path, options=options, sha256=sha,
                                          on_decoded=decoded.append if config.thumbnails else None).to_dict()
                    cached = False
                thumb = None
                if config.thumbnails and not report.get("errors"):
                    thumb = make_thumbnail(data, rgb=decoded[0].rgb if decoded else None,
                                           max_pixels=config.max_pixels)
                del decoded
                result = FileResult(path, report, sha, cached, True, thumb)
                del data
        except MemoryError:
            result = FileResult(path, error_report(path, sha, "audit", "out of memory: the file needs more than "
                                                   f"the per-worker limit of {config.memory_mb} MB"),
                                sha, False, False)
            result.seconds = time.perf_counter() - t0
            # A fresh worker is cleaner than one that just failed an allocation: "retire" asks the
            # parent to replace this one now. Exiting by itself is not enough: under RLIMIT_AS the
            # interpreter's shutdown can stall, and the parent, seeing an idle worker, would hand it
            # the next file, which then "timed out" after the whole --timeout.
            conn.send(("retire", result))
            break
        except Exception as e:  # a bug in a collector is caught by verify; this is the last net
            result = FileResult(path, error_report(path, sha, "audit", f"{type(e).__name__}: {e}"), sha, False, False)
        result.seconds = time.perf_counter() - t0
        conn.send(("done", result))


class _Worker:
    def __init__(self, ctx, config: WorkerConfig) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, config), daemon=True)
        with single_threaded_env():
            self.proc.start()
        child.close()
        self.ready = False
        self.task: str | None = None
        self.deadline = float("inf")
        self.started = time.monotonic()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def run_pool(paths: Iterator[str], config: WorkerConfig, *, workers: int, timeout: float | None,
             on_tick: Callable[[], None] | None = None, tick: float = 0.25) -> Iterator[FileResult]:
    """Verify every path from ``paths`` (pulled lazily) in ``workers`` processes; yield results as they finish."""
    from .._errors import ProvenanceError

    ctx = get_context("spawn")
    pool = [_Worker(ctx, config) for _ in range(max(1, workers))]
    source_done = False
    start_failures = 0
    try:
        while True:
            for w in pool:
                if w.ready and w.task is None and not source_done:
                    try:
                        w.task = next(paths)
                    except StopIteration:
                        source_done = True
                        break
                    w.conn.send(w.task)
                    w.deadline = time.monotonic() + timeout if timeout else float("inf")
            if source_done and all(w.task is None for w in pool):
                return
            now = time.monotonic()
            wait_for = min([tick] + [w.deadline - now for w in pool if w.task is not None])
            ready = connection.wait([w.conn for w in pool] + [w.proc.sentinel for w in pool], max(0.0, wait_for))
            replace: list[_Worker] = []
            for w in pool:
                if w.conn in ready:
                    try:
                        kind, payload = w.conn.recv()
                    except (EOFError, OSError):
                        kind, payload = "dead", None
                    if kind == "ready":
                        w.ready, start_failures = True, 0
                        continue
                    if kind in ("done", "retire"):
                        w.task = None
                        if kind == "retire":  # replaced below, before it can be given another file
                            w.ready = False
                            replace.append(w)
                        yield payload
                        continue
                if not w.proc.is_alive() and not w.conn.poll():
                    replace.append(w)
                    if w.task is not None:
                        code = w.proc.exitcode
                        why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                        yield FileResult(w.task, error_report(w.task, None, "audit", f"the worker analysing this "
                                                              f"file died ({why}; out of memory?)"), None, False, False)
                    elif not w.ready:
                        start_failures += 1
                        if start_failures >= MAX_START_FAILURES:
                            raise ProvenanceError(f"audit workers fail to start (exit code {w.proc.exitcode}); "
                                                  "run with -v for details")
                elif w.task is not None and time.monotonic() > w.deadline:
                    replace.append(w)
                    yield FileResult(w.task, error_report(w.task, None, "audit", f"timed out after {timeout:g} s "
                                                          "(the limit per file; see --timeout)"), None, False, False)
            for w in replace:
                w.kill()
                pool[pool.index(w)] = _Worker(ctx, config)
            if on_tick is not None:
                on_tick()
    finally:
        stopping = []
        for w in pool:
            if w.proc.is_alive() and w.task is None and w.ready:
                try:
                    w.conn.send(None)
                    stopping.append(w)
                except OSError:
                    pass
        for w in pool:
            if w in stopping:
                w.proc.join(2)
            w.kill()  # busy (interrupted) or still starting: no need to wait
