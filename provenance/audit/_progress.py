"""A one-line progress bar on stderr: files done, files/s, ETA (once the walk is complete), counts."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from ._rows import Totals


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

    def line(self, totals: Totals, *, found: int, walk_done: bool) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        done = totals.files
        rate = (totals.analysed + totals.cached) / elapsed
        total = f"{found}" if walk_done else f"{found}+"
        eta = ""
        if walk_done and rate > 0 and found > done:
            eta = f"  ETA {_duration((found - done) / rate)}"
        c = totals.cards
        pct = f" {100 * done / found:3.0f}%" if walk_done and found else ""
        return (f"audit{pct} {done}/{total} files  {rate:.1f} files/s{eta}  "
                f"ai {c['ai']} signed {c['signed']} tampered {c['tampered']} camera {c['camera']} "
                f"unknown {c['unknown']} errors {c['error']} skipped {c['skipped']} cached {totals.cached}")

    def update(self, totals: Totals, *, found: int, walk_done: bool, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write("\r\x1b[2K" + self.line(totals, found=found, walk_done=walk_done))
        self.stream.flush()
        self._drawn = True

    def close(self, totals: Totals, *, found: int) -> None:
        if self.enabled:
            self.update(totals, found=found, walk_done=True, force=True)
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
