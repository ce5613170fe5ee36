"""A one-line progress bar on stderr: files done, files/s, ETA (from a quick count of the walk), counts."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from ..report import Totals


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Redraws at most every ``interval`` seconds; silent unless ``enabled`` (a TTY, or asked)."""

    def __init__(self, *, enabled: bool | None = None, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def line(self, totals: Totals, *, found: int, walk_done: bool, expected: int | None = None) -> str:
        """``expected``: the number of entries a quick count of the walk found (None: still counting).
        Until the walk itself is done it gives the total, so the ETA shows from the start."""
        elapsed = max(time.monotonic() - self.start, 1e-6)
        done = totals.files
        rate = (totals.analysed + totals.cached) / elapsed
        known = walk_done or expected is not None
        total_n = found if walk_done else max(found, expected or 0, done)
        total = f"{total_n}" if known else f"{found}+"
        eta = ""
        if known and rate > 0 and total_n > done:
            eta = f"  ETA {_duration((total_n - done) / rate)}"
        c = totals.cards
        pct = f" {100 * done / total_n:3.0f}%" if known and total_n else ""
        return (f"audit{pct} {done}/{total} files  {rate:.1f} files/s{eta}  "
                f"ai {c['ai']} signed {c['signed']} tampered {c['tampered']} camera {c['camera']} "
                f"unknown {c['unknown']} errors {c['error']} skipped {c['skipped']} cached {totals.cached}")

    def update(self, totals: Totals, *, found: int, walk_done: bool, expected: int | None = None,
               force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write("\r\x1b[2K" + self.line(totals, found=found, walk_done=walk_done, expected=expected))
        self.stream.flush()
        self._drawn = True

    def close(self, totals: Totals, *, found: int) -> None:
        if self.enabled:
            self.update(totals, found=found, walk_done=True, force=True)
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
