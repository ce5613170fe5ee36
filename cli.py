"""``python cli.py ...``: the ``provenance`` command run from a source checkout.

The CLI lives in ``provenance/cli/`` (installed as the ``provenance`` console script and as
``python -m provenance``); this file only forwards to it, and is not part of the installed package.
"""
from __future__ import annotations

import sys

from provenance.cli import EXIT_ERROR, EXIT_FLAGGED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
