"""The verify collector table: every source of evidence, in the order verify runs them.

A collector reads one thing about a file (its C2PA manifest store, our watermarks, its metadata,
the registry, the forensic classifier) and returns the evidence for one member of the report
(``member``: ``c2pa``, ``watermarks``, ``metadata``, ``registry``, ``forensics``). verify runs the
table in ``order``; a later collector can read what earlier ones found (the registry lookup reads
the watermark ids). The same table gives the audit cache its fingerprint (what, if it changed,
would change a report) and the audit workers their warm-up.

The table holds this package's collectors and those other installed packages register through
the ``provenance.collectors`` entry-point group (``detectors`` adds metadata, the public SD
watermarks and forensics): ``provenance/`` never imports them by name. A plugin that fails to
load raises :class:`CollectorLoadError`: a broken install must not pass for absent evidence.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._errors import ProvenanceError

if TYPE_CHECKING:
    from ._imageio import LoadedImage
    from ._verify import VerifyOptions, VerifyReport

log = logging.getLogger(__name__)

#: The entry-point group through which other packages add collectors (each entry a Collector).
COLLECTOR_GROUP = "provenance.collectors"


class CollectorLoadError(ProvenanceError):
    """A registered collector could not be loaded (an import error in a plugin, a wrong object)."""


@dataclass
class CollectContext:
    """What a collector gets: the file's bytes and digest, its pixels (None when they did not
    decode: byte-level collectors still run), the verify options and the report so far."""

    data: bytes
    sha256: str
    name: str
    format: str
    image: LoadedImage | None
    options: VerifyOptions
    report: VerifyReport


@runtime_checkable
class Collector(Protocol):
    """One source of evidence. ``name`` is unique in the table; ``member`` is the report member it
    fills and the key of its time in ``timing_ms`` and of its ``errors`` entries (two collectors
    may share a list member: ours and the public watermarks both fill ``watermarks``)."""

    name: str
    member: str
    order: int

    def absent(self, ctx: CollectContext) -> Any | None:
        """The member's value when this collector has nothing to do for this file (turned off, no
        pixels to read), with the reason; None to run :meth:`collect`."""

    def collect(self, ctx: CollectContext) -> Any:
        """The evidence (a dict, or a list for a list member). A dict's ``errors`` (messages) are
        moved into the report's ``errors`` under ``member``. Raise ProvenanceError for a
        failure the report should show; any other exception is reported as a collector bug."""

    def fingerprint(self, options: VerifyOptions) -> Any:
        """JSON-able: everything besides the file that shapes this collector's evidence (a model's
        digest, the methods scanned, the registry's size), for the audit cache's key."""

    def warm_up(self, options: VerifyOptions) -> None:
        """Load what the first file would otherwise pay for (imports, models)."""


_registered: list[Collector] = []  # added at run time with register_collector
_table: list[Collector] | None = None
_lock = threading.Lock()


def register_collector(collector: Collector) -> Collector:
    """Add ``collector`` to the table from code (an installed package registers through the
    entry-point group instead, so that it loads without being imported by name)."""
    if not isinstance(collector, Collector):
        raise CollectorLoadError(f"{collector!r} is not a Collector (name, member, order, absent, collect, "
                                 "fingerprint, warm_up)")
    global _table
    with _lock:
        if any(c.name == collector.name for c in _registered):
            raise CollectorLoadError(f"a collector named {collector.name!r} is already registered")
        _registered.append(collector)
        _table = None
    return collector


def _plugins() -> list[Collector]:
    out = []
    for ep in sorted(entry_points(group=COLLECTOR_GROUP), key=lambda ep: ep.name):
        try:
            obj = ep.load()
        except Exception as e:
            raise CollectorLoadError(f"the {ep.name!r} collector ({ep.value}, registered by "
                                     f"{ep.dist.name if ep.dist else 'an installed package'}) failed to load: "
                                     f"{type(e).__name__}: {e}") from e
        if not isinstance(obj, Collector):
            raise CollectorLoadError(f"the {ep.name!r} collector ({ep.value}) is not a Collector: {obj!r}")
        out.append(obj)
    if not out:  # detectors ships in the same distribution: none at all means it is not installed
        log.warning("no collectors registered under %s: metadata and forensics will be absent "
                    "(is provenance-tool installed? pip install -e . in a checkout)", COLLECTOR_GROUP)
    return out


def collectors() -> list[Collector]:
    """Every collector, this package's and the plugins', in the order verify runs them (loaded once)."""
    global _table
    if _table is None:
        from ._collectors import BUILTIN

        with _lock:
            if _table is None:
                table = [*BUILTIN, *_registered, *_plugins()]
                names = [c.name for c in table]
                twice = sorted({n for n in names if names.count(n) > 1})
                if twice:
                    raise CollectorLoadError(f"two collectors are named {', '.join(map(repr, twice))}")
                _table = sorted(table, key=lambda c: c.order)
    return list(_table)


def fingerprint(options: VerifyOptions) -> dict[str, Any]:
    """Every collector's fingerprint, by name: the part of the audit cache key the table owns."""
    return {c.name: c.fingerprint(options) for c in collectors()}


def warm_up(options: VerifyOptions) -> None:
    """Load every collector and let each load what it needs (a batch worker calls this once at
    start-up, so the first file's time, its time limit and its memory head-room are its own). A
    collector whose warm-up fails is left to fail, and be reported, per file."""
    for c in collectors():
        try:
            c.warm_up(options)
        except Exception as e:  # reported with each file; nothing to do here
            log.debug("collector %s not warmed up: %s", c.name, e)


__all__ = [
    "COLLECTOR_GROUP",
    "CollectContext",
    "Collector",
    "CollectorLoadError",
    "collectors",
    "fingerprint",
    "register_collector",
    "warm_up",
]
