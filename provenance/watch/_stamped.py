"""What has been stamped already, asked of the registry: never stamp a file twice.

A file is done when the registry knows its sha256 as a stamp's (it is a stamped output: ours in
an output folder inside a watched one, or a file stamped in place), or as a stamp's *source*
whose stamped copy still exists elsewhere. Both are indexed look-ups (``find_by_sha256``,
``find_by_source_sha256``: the registry's ``source_sha256`` column, schema 3), so a watch starts
at once whatever the registry's size, and sees stamps other processes make meanwhile.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .._registry_backend import RegistryBackend


@dataclass
class Done:
    """Why a file needs no stamp."""

    reason: str  # "stamped-output" | "stamped-source"
    content_id: str
    output: str | None


class StampedIndex:
    """The registry's stamps by output sha256 and by source sha256."""

    def __init__(self, registry: RegistryBackend) -> None:
        self.registry = registry

    def done(self, sha256: str, path: str) -> Done | None:
        """Why the file at ``path`` with this digest needs no stamp, or None when it does."""
        rows = self.registry.find_by_sha256(sha256)
        if rows:
            return Done("stamped-output", rows[0].content_id, rows[0].output_path)
        here = os.path.realpath(path)
        for row in self.registry.find_by_source_sha256(sha256):
            # Its stamped copy must still be there, and elsewhere: a stamp in place that never
            # replaced its file (the rename failed) left the source as it was, to be stamped again.
            output = row.output_path
            if output and os.path.realpath(output) != here and os.path.isfile(output):
                return Done("stamped-source", row.content_id, output)
        return None
