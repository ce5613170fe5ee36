"""A process pool that runs :func:`audit_file` on one file per task, with a time limit and a memory guard.

Each worker is a fresh (spawned) process that warms up once (its registry and cache connections,
every collector's models), then takes one file at a time over a pipe. The parent gives a task only to an
idle worker, so a file that hangs or eats memory costs exactly that file: past ``timeout`` seconds
the worker is killed and replaced and the file becomes an error row; a worker limited by
``RLIMIT_AS`` fails the allocation (or dies) instead of taking the machine down, and is replaced.
Rows come back in completion order; nothing here holds more than the files in flight.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from multiprocessing import connection, get_context
from typing import Callable, Iterator

from .._threads import single_threaded_env
from ._file import AuditFileOptions, AuditRow, audit_file, close_all, error_report, warm_up

log = logging.getLogger(__name__)

#: Worker start-ups that may fail in a row before the audit gives up (an install problem, not a file).
MAX_START_FAILURES = 3


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


def _worker_main(conn, options: AuditFileOptions, memory_mb: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    started = time.perf_counter()
    _reuse_freed_memory()
    warm_up(options)  # the forensic model (seconds, hundreds of MB) is not the first file's cost
    _set_memory_limit(memory_mb)
    log.debug("audit worker %d ready in %.1f s", os.getpid(), time.perf_counter() - started)
    try:
        conn.send(("ready", os.getpid()))
        while True:
            path = conn.recv()
            if path is None:
                break
            row = audit_file(path, options)
            if row.worker_spent:
                # A fresh worker is cleaner than one that just failed an allocation: "retire" asks
                # the parent to replace this one now. Exiting by itself is not enough: under
                # RLIMIT_AS the interpreter's shutdown can stall, and the parent, seeing an idle
                # worker, would hand it the next file, which then "timed out" after the whole --timeout.
                conn.send(("retire", row))
                break
            conn.send(("done", row))
    except (EOFError, OSError):  # the parent is gone (killed, even with -9): nothing left to do
        pass
    finally:
        close_all()


class _Worker:
    def __init__(self, ctx, options: AuditFileOptions, memory_mb: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, options, memory_mb), daemon=True)
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


class LocalPool:
    """``workers`` worker processes kept between batches: :meth:`run` audits one batch of paths,
    :meth:`close` stops them. The Ray engine keeps one per actor, so a worker node holds the same
    time limit and memory guard as the local pool."""

    def __init__(self, options: AuditFileOptions, *, workers: int, timeout: float | None,
                 memory_mb: int | None = None) -> None:
        self.options, self.timeout, self.memory_mb = options, timeout, memory_mb
        self._ctx = get_context("spawn")
        self._pool = [_Worker(self._ctx, options, memory_mb) for _ in range(max(1, workers))]
        self._start_failures = 0

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self._pool[self._pool.index(w)] = _Worker(self._ctx, self.options, self.memory_mb)

    def run(self, paths: Iterator[str], *, on_tick: Callable[[], None] | None = None,
            tick: float = 0.25) -> Iterator[AuditRow]:
        """:func:`audit_file` on every path from ``paths`` (pulled lazily); the rows as they finish."""
        from .._errors import ProvenanceError

        pool, timeout = self._pool, self.timeout
        source_done = False
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
                ready = connection.wait([w.conn for w in pool] + [w.proc.sentinel for w in pool],
                                        max(0.0, wait_for))
                replace: list[_Worker] = []
                for w in pool:
                    if w.conn in ready:
                        try:
                            kind, payload = w.conn.recv()
                        except (EOFError, OSError):
                            kind, payload = "dead", None
                        if kind == "ready":
                            w.ready, self._start_failures = True, 0
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
                            yield AuditRow(w.task, error_report(w.task, None, "audit", f"the worker analysing this "
                                                                  f"file died ({why}; out of memory?)"), None, False,
                                           False)
                            w.task = None
                        elif not w.ready:
                            self._start_failures += 1
                            if self._start_failures >= MAX_START_FAILURES:
                                raise ProvenanceError(f"audit workers fail to start (exit code {w.proc.exitcode}); "
                                                      "run with -v for details")
                    elif w.task is not None and time.monotonic() > w.deadline:
                        replace.append(w)
                        yield AuditRow(w.task, error_report(w.task, None, "audit", f"timed out after {timeout:g} s "
                                                              "(the limit per file; see --timeout)"), None, False, False)
                        w.task = None
                for w in replace:
                    self._replace(w)
                if on_tick is not None:
                    on_tick()
        finally:
            for w in list(pool):  # interrupted: a worker still busy with a file of this batch is not reused
                if w.task is not None:
                    self._replace(w)

    def close(self) -> None:
        stopping = []
        for w in self._pool:
            if w.proc.is_alive() and w.task is None and w.ready:
                try:
                    w.conn.send(None)
                    stopping.append(w)
                except OSError:
                    pass
        for w in self._pool:
            if w in stopping:
                w.proc.join(2)
            w.kill()  # busy (interrupted) or still starting: no need to wait

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_pool(paths: Iterator[str], options: AuditFileOptions, *, workers: int, timeout: float | None,
             memory_mb: int | None = None, on_tick: Callable[[], None] | None = None,
             tick: float = 0.25) -> Iterator[AuditRow]:
    """:func:`audit_file` on every path from ``paths`` (pulled lazily) in ``workers`` processes,
    each with ``memory_mb`` of head-room (None: no guard); yield the rows as they finish."""
    with LocalPool(options, workers=workers, timeout=timeout, memory_mb=memory_mb) as pool:
        yield from pool.run(paths, on_tick=on_tick, tick=tick)
