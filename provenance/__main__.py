"""``python -m provenance``: the same program as the ``provenance`` console script.

The command-line adapter still lives in the top-level ``cli`` module (installed beside the
package); when it moves into the package, import ``main`` from its new home here and point
``[project.scripts]`` at it.
"""
from __future__ import annotations

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
