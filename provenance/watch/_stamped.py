"""What has been stamped already, asked of the registry: never stamp a file twice.

A file is done when the registry knows its sha256 as a stamp's (it is a stamped output: ours in
an output folder inside a watched one, or a file stamped in place), or as a stamp's *source*
whose stamped copy still exists elsewhere. Registry rows keep the source's sha256 in their
manifest (``org.provenance.generation``'s ``source_sha256``) but not as a column, so the sources
are indexed once, when the watch starts, from every row, and kept up to date as it stamps.
(An indexed ``find_by_source_sha256`` in the registry would make that start-up pass unneeded.)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .._registry import Registry

_SOURCE = re.compile(r'"source_sha256":\s*"([0-9a-f]{64})"')


@dataclass
class Done:
    """Why a file needs no stamp."""

    reason: str  # "stamped-output" | "stamped-source"
    content_id: str
    output: str | None


class StampedIndex:
    """The registry's stamps by output sha256 (a query) and by source sha256 (this index)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._sources: dict[str, list[tuple[str, str | None]]] = {}
        for row in registry.iter_all():
            match = _SOURCE.search(row.manifest_json or "")
            if match:
                self._sources.setdefault(match.group(1), []).append((row.content_id, row.output_path))

    def __len__(self) -> int:
        return len(self._sources)

    def add(self, source_sha256: str | None, content_id: str, output: str | None) -> None:
        if source_sha256:
            self._sources.setdefault(source_sha256, []).append((content_id, output))

    def done(self, sha256: str, path: str) -> Done | None:
        """Why the file at ``path`` with this digest needs no stamp, or None when it does."""
        rows = self.registry.find_by_sha256(sha256)
        if rows:
            return Done("stamped-output", rows[0].content_id, rows[0].output_path)
        here = os.path.realpath(path)
        for content_id, output in self._sources.get(sha256, []):
            # Its stamped copy must still be there, and elsewhere: a stamp in place that never
            # replaced its file (the rename failed) left the source as it was, to be stamped again.
            if output and os.path.realpath(output) != here and os.path.isfile(output):
                return Done("stamped-source", content_id, output)
        return None
