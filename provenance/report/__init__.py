"""Every rendering of a verify report: the text ``verify`` prints, the flat CSV/table row and the
audit's running totals, and the self-contained HTML page. Each reads the evidence model
(:mod:`provenance.evidence`); the JSON forms are ``VerifyReport.to_dict``."""
from __future__ import annotations

from ._html import HtmlStore, evidence_of, render_html, write_html
from ._rows import CARDS, CSV_COLUMNS, Totals, as_report, categories, family_hint, summary_row
from ._text import render_text, unread_error

__all__ = [
    "CARDS",
    "CSV_COLUMNS",
    "HtmlStore",
    "Totals",
    "as_report",
    "categories",
    "evidence_of",
    "family_hint",
    "render_html",
    "render_text",
    "summary_row",
    "unread_error",
    "write_html",
]
