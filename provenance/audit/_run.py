"""audit: walk folders, verify each image in a worker pool (cached by content), stream the reports."""
from __future__ import annotations

import csv
import datetime as _dt
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Iterable, Iterator

from .._errors import OutputError, ProvenanceError
from .._imageio import MAX_PIXELS
from .._text import dumps_json, printable
from .._version import __version__
from ..report import CSV_COLUMNS, HtmlStore, Totals, as_report, summary_row, write_html
from ._cache import AuditCache, options_fingerprint
from ._file import AuditFileOptions, AuditRow, error_report
from ._outputs import ReportFile, check_output_folder, check_outputs, make_parent
from ._pool import run_pool
from ._progress import Progress
from ._walk import WalkEntry, walk_files

DEFAULT_TIMEOUT = 120.0
DEFAULT_MEMORY_MB = 4096
#: Skipped images the summary names (the CSV and JSONL list every one).
MAX_SKIPPED_NAMED = 1000


@dataclass
class AuditOptions:
    """How to audit: verify options (as ``verify``), the pool, the cache and the walk rules."""

    trust_anchors_pem: bytes = b""
    public_trust: bool = True  # the public C2PA lists too (--no-public-trust: off)
    registry_path: str | None = None  # a SQLite file or a postgresql:// URL (open_registry); None: no lookup
    registry_note: str = "registry lookup disabled"  # the reports' reason when registry_path is None
    forensics: bool = True
    watermark_methods: list[str] | None = None
    fast_watermarks: bool = False  # our watermarks' fast scan only (verify --fast)
    workers: int | None = field(default_factory=lambda: os.cpu_count() or 1)  # None with ray: the cluster's CPUs
    timeout: float | None = DEFAULT_TIMEOUT  # seconds per file; None: no limit
    memory_mb: int | None = DEFAULT_MEMORY_MB  # per-worker head-room; None: no guard
    cache_path: str | None = None  # None: no cache
    cache_is_default: bool = False  # the cache path was not chosen by the user (may lie in an audited folder)
    follow_symlinks: bool = False
    skip_hidden: bool = False  # hidden files are audited unless skipped on purpose (then listed as skipped)
    allow_inside: bool = False  # reports and cache may be written inside an audited folder
    fail_on: frozenset[str] = frozenset()
    progress: bool | None = None  # None: only when stderr is a terminal
    max_pixels: int = MAX_PIXELS  # larger images are not decoded (verify's limit)
    engine: str = "local"  # local: this machine's process pool; ray: a Ray cluster (audit/_ray.py)
    ray_address: str | None = None  # None: Ray starts a local instance
    shard_size: int = 16  # files per Ray task
    resolvers: tuple[str, ...] = ()  # Soft Binding Resolution services (verify --resolver)
    resolver_timeout: float = 5.0


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
    #: The skipped images (their content or name says image), "path (reason)", the first
    #: ``MAX_SKIPPED_NAMED``; ``totals.skipped_images`` counts them all.
    skipped_images: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**self.totals.to_dict(), "errors": self.errors, "outputs": self.outputs, "timing": self.timing,
                "skipped_image_files": self.skipped_images}


def _check_html_path(path: str | None) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"--html {printable(str(p))}: is a directory")
    parent = make_parent(p, "html")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--html {printable(str(p))}: folder {printable(str(parent))} is not writable")


def _skipped_report(path: str, reason: str, fmt: str | None) -> dict:
    """A schema-valid verify object for a file the audit skipped: no evidence, and it says why."""
    from ..evidence import Verdict, VerifyReport

    report = VerifyReport(file=path, format=fmt, verdict=Verdict(summary=f"Not analysed: {printable(reason)}."),
                          registry={"match": "none", "reason": "not analysed"},
                          forensics={"status": "absent", "reason": "not analysed"})
    return report.to_dict()


def _chain(roots: list[str], input_list: str | None) -> Iterator[str]:
    yield from roots
    if input_list is not None:
        yield from read_input_list(input_list)


def _start_count(roots: Iterable[str], options: AuditOptions, exclude: list[str]) -> tuple[dict, threading.Event]:
    """Count the walk's entries in a background thread (names only, no file read), so the
    progress bar can show an ETA long before the lazy walk that feeds the workers reaches the end."""
    result: dict[str, int | None] = {"n": None}
    stop = threading.Event()

    def count() -> None:
        n = 0
        try:
            for _ in walk_files(roots, follow_symlinks=options.follow_symlinks, skip_hidden=options.skip_hidden,
                                exclude=exclude, sniff=False):
                if stop.is_set():
                    return
                n += 1
        except Exception:  # a count is decoration: the bar then shows no ETA until the walk ends
            return
        result["n"] = n

    threading.Thread(target=count, name="audit-count", daemon=True).start()
    return result, stop


def read_input_list(path: str) -> Iterator[str]:
    """The paths of an ``--input-list`` file, one per line (blank lines skipped), read lazily. Bytes
    that are not UTF-8 stay as they are (surrogate escapes), so any file name can be listed."""
    try:
        fh = open(path, encoding="utf-8", errors="surrogateescape", newline="\n")
    except OSError as e:
        raise ProvenanceError(f"--input-list {printable(path)}: {e.strerror or e}") from e
    with fh:
        for line in fh:
            line = line.rstrip("\n").rstrip("\r")
            if line:
                yield line


def _listed_outputs(input_list: str, outputs: list[str | None]) -> list[str]:
    """The listed paths that could be one of the outputs (same base name): what check_outputs must see."""
    names = {os.path.basename(p) for p in outputs if p and p != "-"}
    return [p for p in read_input_list(input_list) if os.path.basename(p) in names]


def _runner(options: AuditOptions):
    if options.engine == "ray":
        from ._ray import run_ray

        return lambda paths, file_options, on_tick: run_ray(
            paths, file_options, address=options.ray_address, workers=options.workers, timeout=options.timeout,
            memory_mb=options.memory_mb, shard_size=options.shard_size, on_tick=on_tick)
    if options.engine != "local":
        raise ProvenanceError(f"unknown engine {options.engine!r} (local, ray)")
    return lambda paths, file_options, on_tick: run_pool(
        paths, file_options, workers=options.workers or os.cpu_count() or 1, timeout=options.timeout,
        memory_mb=options.memory_mb, on_tick=on_tick)


def audit_paths(roots: list[str], options: AuditOptions, *, jsonl: str | None = None, csv_path: str | None = None,
                html: str | None = None, input_list: str | None = None, parquet: str | None = None) -> AuditSummary:
    """Audit every file under ``roots``; write the requested reports; return the totals.

    Output paths are checked first (:func:`check_outputs`): none may be an audited file, lie in an
    audited folder without ``allow_inside``, or replace a file that is not a report. Reports are
    replaced when the run completes (written beside their destination meanwhile), so an
    interrupted or killed run leaves the previous ones whole; ``jsonl="-"`` streams to stdout.
    """
    started = time.perf_counter()
    for r in roots:
        if not os.path.lexists(r):
            raise ProvenanceError(f"{printable(r)}: no such file or folder")
    run = _runner(options)
    checked_roots = list(roots)
    if input_list is not None:  # its files are audited as given: none may be overwritten by a report
        checked_roots += _listed_outputs(input_list, [jsonl, csv_path, html, options.cache_path])
    check_outputs(checked_roots, {"jsonl": jsonl, "csv": csv_path, "html": html, "cache": options.cache_path},
                  allow_inside=options.allow_inside, implicit=("cache",) if options.cache_is_default else ())
    _check_html_path(html)
    if parquet:
        from ..report._parquet import check_parquet_dir

        check_output_folder(checked_roots, "parquet", parquet, allow_inside=options.allow_inside)
        check_parquet_dir(parquet)
    own_files = [p for p in (jsonl, csv_path, html) if p and p != "-"]
    if options.cache_path:
        own_files += [options.cache_path + s for s in ("", "-wal", "-shm", "-journal")]

    file_options = AuditFileOptions(
        trust_anchors_pem=options.trust_anchors_pem, public_trust=options.public_trust,
        registry_path=options.registry_path,
        registry_note=options.registry_note, forensics=options.forensics,
        watermark_methods=tuple(options.watermark_methods) if options.watermark_methods else None,
        fast_watermarks=options.fast_watermarks, max_pixels=options.max_pixels, cache_path=options.cache_path,
        thumbnails=html is not None, memory_mb=options.memory_mb, resolvers=tuple(options.resolvers),
        resolver_timeout=options.resolver_timeout)
    if options.registry_path:
        from .._registry_backend import open_registry

        with open_registry(options.registry_path) as reg:  # its location and size are part of the key
            fingerprint = options_fingerprint(file_options.verify_options(reg))
    else:
        fingerprint = options_fingerprint(file_options.verify_options())
    file_options = replace(file_options, fingerprint=fingerprint)
    cache = AuditCache(options.cache_path, fingerprint) if options.cache_path else None

    totals = Totals()
    first_result = last_result = None  # seconds from the start to the pool's first and latest file
    progress = Progress(enabled=options.progress)
    found = [0, False]  # files met by the walk so far, walk finished
    errors = 0
    skipped_images: list[str] = []
    reports: list[ReportFile] = []
    jsonl_fh: IO[str] | None = None
    store: HtmlStore | None = None
    expected: dict = {"n": None}
    stop_count = None
    try:
        if jsonl == "-":
            jsonl_fh = sys.stdout
        elif jsonl:
            reports.append(ReportFile(jsonl, "jsonl"))
            jsonl_fh = reports[-1].fh
        csv_writer = None
        if csv_path:
            reports.append(ReportFile(csv_path, "csv"))
            csv_writer = csv.DictWriter(reports[-1].fh, fieldnames=CSV_COLUMNS, lineterminator="\n")
            csv_writer.writeheader()
        if parquet:
            from ..report._parquet import ParquetShards

            reports.append(ParquetShards(parquet))
            parquet_out = reports[-1]
        else:
            parquet_out = None
        if html:
            store = HtmlStore()
            own_files.append(str(store.path))
        own_files += [str(r.temp_path) for r in reports if r.temp_path is not None and not r.temp_path.is_dir()]
        if progress.enabled:
            expected, stop_count = _start_count(_chain(roots, input_list), options, own_files)

        def emit(path: str, status: str, *, report: dict | None = None, reason: str | None = None,
                 cached: bool = False, thumb: bytes | None = None, seconds: float = 0.0, fmt: str | None = None,
                 image: bool = False) -> None:
            nonlocal errors
            typed = as_report(report)  # once per file: the row and the HTML panel read its facts
            if typed is not None and typed.errors:
                status = "error"
            row = summary_row(path, status, report=typed, reason=reason, cached=cached, fmt=fmt, image=image)
            flags = set(row["flags"].split())
            flagged = bool(flags & options.fail_on)
            errors += status == "error"
            totals.add(row, flagged=flagged)
            if "skipped" in flags and len(skipped_images) < MAX_SKIPPED_NAMED:
                skipped_images.append(f"{row['path']} ({row['reason']})")
            if jsonl_fh is not None:
                audit = {"status": status, "cached": cached, "seconds": round(seconds, 3)}
                if report is None:  # skipped: still a line, so JSONL and CSV list the same files
                    report = _skipped_report(path, reason or "skipped", fmt)
                    audit.update(reason=row["reason"], image=image)
                jsonl_fh.write(dumps_json({**report, "audit": audit}, default=str) + "\n")
                jsonl_fh.flush()
            if csv_writer is not None:
                csv_writer.writerow(row)
            if parquet_out is not None:
                parquet_out.add(row)
            if store is not None:
                store.add(row, typed if status != "skipped" else None, thumb)
            progress.update(totals, found=found[0], walk_done=found[1], expected=expected["n"])

        def images() -> Iterator[str]:
            for entry in walk_files(_chain(roots, input_list), follow_symlinks=options.follow_symlinks, skip_hidden=options.skip_hidden,
                                    exclude=own_files):
                found[0] += 1
                if entry.status == "image":
                    yield entry.path
                else:
                    _emit_entry(entry)
            found[1] = True

        def _emit_entry(entry: WalkEntry) -> None:
            if entry.status == "error":
                emit(entry.path, "error", reason=entry.reason, fmt=entry.format,
                     report=error_report(entry.path, None, "decode" if entry.format or entry.is_image else "read",
                                         entry.reason or "unreadable"))
            else:
                emit(entry.path, "skipped", reason=entry.reason, fmt=entry.format, image=entry.is_image)

        def tick() -> None:
            progress.update(totals, found=found[0], walk_done=found[1], expected=expected["n"])

        result: AuditRow
        for result in run(images(), file_options, tick):
            if cache is not None and not result.cached and result.cacheable and result.sha256:
                cache.put(result.sha256, {k: v for k, v in result.report.items()
                                          if k not in ("file", "file_bytes_b64")})
            last_result = round(time.perf_counter() - started, 3)
            first_result = last_result if first_result is None else first_result
            emit(result.path, "ok", report=result.report, cached=result.cached, thumb=result.thumbnail,
                 seconds=result.seconds)
        progress.close(totals, found=found[0])
        if store is not None:
            store.close()
            roots_text = [printable(str(r)) for r in roots]
            opts = (f"forensics {'on' if options.forensics else 'off'}, watermarks "
                    f"{','.join(options.watermark_methods) if options.watermark_methods else 'all default'}, "
                    f"registry {'on' if options.registry_path else 'off'}")
            write_html(html, store, totals, roots=roots_text, version=__version__, options=opts,
                       created=_dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
        for r in reports:  # all done: replace the previous reports, each in one step
            r.commit()
    finally:
        if stop_count is not None:
            stop_count.set()
        for r in reports:
            r.discard()
        if store is not None:
            store.remove()
        if cache is not None:
            cache.close()
    outputs = {k: v for k, v in (("jsonl", jsonl), ("csv", csv_path), ("html", html), ("parquet", parquet),
                                 ("cache", options.cache_path)) if v}
    timing = {"seconds": round(time.perf_counter() - started, 3), "first_result": first_result,
              "last_result": last_result}
    return AuditSummary(totals=totals, flagged=totals.flagged, errors=errors, outputs=outputs, timing=timing,
                        skipped_images=skipped_images)
