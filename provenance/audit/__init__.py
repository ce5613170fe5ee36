"""audit: verify whole folders in a worker pool, resumably, with JSONL, CSV and HTML reports.

Submodules: ``_walk`` (which files), ``_file`` (``audit_file``: the per-file work, a plain function
any engine can call), ``_pool`` (the local engine: workers with a time limit and a memory guard),
``_ray`` (the Ray engine: shards of files on actors that each hold one ``_pool`` worker, retried),
``_cache`` (SQLite, keyed by content hash + options fingerprint); the rows, totals and HTML page
are rendered by :mod:`provenance.report`;
``_outputs`` (output paths that never destroy an input; reports replaced atomically),
``_progress`` (the stderr bar), ``_run`` (the orchestration).
"""
from __future__ import annotations

from ..report import CSV_COLUMNS, Totals, render_html, summary_row
from ._cache import AuditCache, CacheError, default_cache_path, options_fingerprint
from ._file import AuditFileOptions, AuditRow, audit_file
from ._run import AuditOptions, AuditSummary, audit_paths, read_input_list
from ._walk import WalkEntry, classify_file, walk_files

__all__ = [
    "AuditCache",
    "AuditFileOptions",
    "AuditOptions",
    "AuditRow",
    "AuditSummary",
    "CSV_COLUMNS",
    "CacheError",
    "Totals",
    "WalkEntry",
    "audit_file",
    "audit_paths",
    "classify_file",
    "default_cache_path",
    "options_fingerprint",
    "read_input_list",
    "render_html",
    "summary_row",
    "walk_files",
]
