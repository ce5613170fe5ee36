"""``python -m provenance``: the same program as the ``provenance`` console script."""
from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
