"""audit: walk folders, verify each image in a worker pool (cached by content), stream the reports."""
from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from .._errors import OutputError, ProvenanceError
from .._version import __version__
from ._cache import AuditCache, options_fingerprint
from ._html import evidence_of, write_html
from ._pool import FileResult, WorkerConfig, error_report, run_pool
from ._progress import Progress
from ._rows import CSV_COLUMNS, Totals, flags_of, summary_row
from ._walk import WalkEntry, walk_files

DEFAULT_TIMEOUT = 120.0
DEFAULT_MEMORY_MB = 4096


@dataclass
class AuditOptions:
    """How to audit: verify options (as ``verify``), the pool, the cache and the walk rules."""

    trust_anchors_pem: bytes = b""
    registry_path: str | None = None  # None: no registry lookup
    forensics: bool = True
    watermark_methods: list[str] | None = None
    fast_watermarks: bool = False  # our watermarks' fast scan only (verify --fast)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout: float | None = DEFAULT_TIMEOUT  # seconds per file; None: no limit
    memory_mb: int | None = DEFAULT_MEMORY_MB  # per-worker head-room; None: no guard
    cache_path: str | None = None  # None: no cache
    follow_symlinks: bool = False
    hidden: bool = False
    fail_on: frozenset[str] = frozenset()
    progress: bool | None = None  # None: only when stderr is a terminal


@dataclass
class AuditSummary:
    """What a finished audit found: the totals, and whether anything was flagged or failed."""

    totals: Totals
    flagged: int
    errors: int
    outputs: dict[str, str]
    #: Seconds from the start of the audit: ``seconds`` to the end, ``first_result`` and
    #: ``last_result`` when the pool returned its first and last file (None: it returned none).
    #: Between those two the pool is warm: worker start-up (imports, the forensic model) is before.
    timing: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.totals.to_dict(), "errors": self.errors, "outputs": self.outputs, "timing": self.timing}


def _open_text(path: str | None, what: str) -> IO[str] | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdout
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"--{what} {p}: is a directory")
    try:
        return open(p, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise OutputError(f"--{what} {p}: cannot write ({e.strerror or e})") from e


def _check_html_path(path: str | None) -> None:
    if path is None:
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise OutputError(f"--html {p}: is a directory")
    if not parent.is_dir():
        raise OutputError(f"--html {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--html {p}: folder {parent} is not writable")


def audit_paths(roots: list[str], options: AuditOptions, *, jsonl: str | None = None, csv_path: str | None = None,
                html: str | None = None) -> AuditSummary:
    """Audit every file under ``roots``; write the requested reports; return the totals.

    Reports are overwritten. Nothing is written inside the audited folders except reports or a
    cache you point there yourself (those are then left out of the walk).
    """
    started = time.perf_counter()
    for r in roots:
        if not os.path.exists(r):
            raise ProvenanceError(f"{r}: no such file or folder")
    _check_html_path(html)
    own_files = [p for p in (jsonl, csv_path, html) if p and p != "-"]
    if options.cache_path:
        own_files += [options.cache_path + s for s in ("", "-wal", "-shm", "-journal")]

    registry_size = None
    if options.registry_path:
        from .._registry import Registry

        with Registry(options.registry_path) as reg:
            registry_size = reg.count()
    fingerprint = options_fingerprint(trust_anchors_pem=options.trust_anchors_pem, forensics=options.forensics,
                                      watermark_methods=options.watermark_methods,
                                      registry_path=options.registry_path, registry_size=registry_size,
                                      fast_watermarks=options.fast_watermarks)
    cache = AuditCache(options.cache_path, fingerprint) if options.cache_path else None
    config = WorkerConfig(trust_anchors_pem=options.trust_anchors_pem, forensics=options.forensics,
                          watermark_methods=tuple(options.watermark_methods) if options.watermark_methods else None,
                          registry_path=options.registry_path, cache_path=options.cache_path,
                          fingerprint=fingerprint, thumbnails=html is not None, memory_mb=options.memory_mb,
                          fast_watermarks=options.fast_watermarks)

    totals = Totals()
    first_result = last_result = None  # seconds from the start to the pool's first and latest file
    progress = Progress(enabled=options.progress)
    found = [0, False]  # files met by the walk so far, walk finished
    errors = 0
    jsonl_fh = csv_fh = store_fh = None
    store_path: Path | None = None
    try:
        jsonl_fh = _open_text(jsonl, "jsonl")
        csv_fh = _open_text(csv_path, "csv")
        csv_writer = csv.DictWriter(csv_fh, fieldnames=CSV_COLUMNS, lineterminator="\n") if csv_fh else None
        if csv_writer:
            csv_writer.writeheader()
        if html:
            fd, name = tempfile.mkstemp(prefix="provenance-audit-", suffix=".jsonl")
            store_path = Path(name)
            store_fh = os.fdopen(fd, "w", encoding="utf-8")

        def emit(path: str, status: str, *, report: dict | None = None, reason: str | None = None,
                 cached: bool = False, thumb: bytes | None = None, seconds: float = 0.0) -> None:
            nonlocal errors
            if report is not None and report.get("errors"):
                status = "error"
            row = summary_row(path, status, report=report, reason=reason, cached=cached)
            flagged = bool(report is not None and flags_of(report) & options.fail_on)
            errors += status == "error"
            totals.add(row, flagged=flagged)
            if jsonl_fh is not None and report is not None:
                audit = {"status": status, "cached": cached, "seconds": round(seconds, 3)}
                jsonl_fh.write(json.dumps({**report, "audit": audit}, ensure_ascii=False, default=str) + "\n")
                jsonl_fh.flush()
            if csv_writer is not None:
                csv_writer.writerow(row)
            if store_fh is not None:
                store_fh.write(json.dumps({"row": row, "evidence": evidence_of(row, report, thumb)},
                                          ensure_ascii=False, default=str) + "\n")
            progress.update(totals, found=found[0], walk_done=found[1])

        def images() -> Iterator[str]:
            for entry in walk_files(roots, follow_symlinks=options.follow_symlinks, hidden=options.hidden,
                                    exclude=own_files):
                found[0] += 1
                if entry.status == "image":
                    yield entry.path
                else:
                    _emit_entry(entry)
            found[1] = True

        def _emit_entry(entry: WalkEntry) -> None:
            if entry.status == "error":
                emit(entry.path, "error", report=error_report(entry.path, None, "read", entry.reason or "unreadable"),
                     reason=entry.reason)
            else:
                emit(entry.path, "skipped", reason=entry.reason)

        def tick() -> None:
            progress.update(totals, found=found[0], walk_done=found[1])

        result: FileResult
        for result in run_pool(images(), config, workers=options.workers, timeout=options.timeout, on_tick=tick):
            if cache is not None and not result.cached and result.cacheable and result.sha256:
                cache.put(result.sha256, {k: v for k, v in result.report.items() if k != "file"})
            last_result = round(time.perf_counter() - started, 3)
            first_result = last_result if first_result is None else first_result
            emit(result.path, "ok", report=result.report, cached=result.cached, thumb=result.thumbnail,
                 seconds=result.seconds)
        progress.close(totals, found=found[0])
        for fh in (jsonl_fh, csv_fh):
            if fh is not None and fh is not sys.stdout:
                fh.close()
        jsonl_fh = csv_fh = None
        if store_fh is not None:
            store_fh.close()
            store_fh = None
            roots_text = [str(r) for r in roots]
            opts = (f"forensics {'on' if options.forensics else 'off'}, watermarks "
                    f"{','.join(options.watermark_methods) if options.watermark_methods else 'all default'}, "
                    f"registry {'on' if options.registry_path else 'off'}")
            write_html(html, store_path, totals, roots=roots_text, version=__version__, options=opts,
                       created=_dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    finally:
        for fh in (jsonl_fh, csv_fh, store_fh):
            if fh is not None and fh is not sys.stdout:
                fh.close()
        if store_path is not None and store_path.exists():
            store_path.unlink()
        if cache is not None:
            cache.close()
    outputs = {k: v for k, v in (("jsonl", jsonl), ("csv", csv_path), ("html", html),
                                 ("cache", options.cache_path)) if v}
    timing = {"seconds": round(time.perf_counter() - started, 3), "first_result": first_result,
              "last_result": last_result}
    return AuditSummary(totals=totals, flagged=totals.flagged, errors=errors, outputs=outputs, timing=timing)
