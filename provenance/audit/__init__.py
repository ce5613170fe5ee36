"""audit: verify whole folders in a worker pool, resumably, with JSONL, CSV and HTML reports.

Submodules: ``_walk`` (which files), ``_pool`` (workers with a time limit and a memory guard),
``_cache`` (SQLite, keyed by content hash + options fingerprint), ``_rows`` / ``_html`` (reports),
``_outputs`` (output paths that never destroy an input; reports replaced atomically),
``_progress`` (the stderr bar), ``_run`` (the orchestration).
"""
from __future__ import annotations

from ._cache import AuditCache, CacheError, default_cache_path, options_fingerprint
from ._html import render_html
from ._rows import CSV_COLUMNS, Totals, summary_row
from ._run import AuditOptions, AuditSummary, audit_paths
from ._walk import WalkEntry, classify_file, walk_files

__all__ = [
    "AuditCache",
    "AuditOptions",
    "AuditSummary",
    "CSV_COLUMNS",
    "CacheError",
    "Totals",
    "WalkEntry",
    "audit_paths",
    "classify_file",
    "default_cache_path",
    "options_fingerprint",
    "render_html",
    "summary_row",
    "walk_files",
]
