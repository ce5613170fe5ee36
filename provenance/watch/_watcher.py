"""The watch loop: hear of files, wait until each is complete, stamp it from its own metadata.

One thread does the stamping, so the registry connection and the signing identity are used from
one place; the source (inotify or polling) only queues paths. A file that fails becomes an
``error`` event and the watch goes on; a file that never becomes complete is an error after
``give_up`` seconds.
"""
from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .._errors import OutputError, ProvenanceError
from .._imageio import MAX_PIXELS, sniff_format
from .._jumbf import locate_manifest_store
from .._keys import SigningIdentity
from .._metadata import DEFAULT_QUALITY
from .._record import GenerationRecord
from .._registry_backend import RegistryBackend
from .._stamp import stamp_file
from ..watermark import DEFAULT_METHOD
from ._complete import Candidate, decodes, observe, read_whole, settled
from ._sources import open_source
from ._stamped import StampedIndex

log = logging.getLogger(__name__)


@dataclass
class WatchOptions:
    """How to watch. Exactly one of ``out_dir`` (stamped copies, the folders' layout mirrored)
    and ``in_place`` (each file replaced by its stamped self)."""

    dirs: list[Path]
    out_dir: Path | None = None
    in_place: bool = False
    backup: bool = False  # with in_place: keep the original as NAME.bak
    once: bool = False  # stamp what is there, then stop
    settle: float = 0.5  # seconds a file's size and time must stay the same
    poll_interval: float = 1.0  # the polling fallback's rescan interval
    give_up: float = 600.0  # seconds after which a file that never became complete is an error
    backend: str = "auto"  # auto | watchdog | poll
    record: GenerationRecord = field(default_factory=GenerationRecord)  # over each file's own metadata
    method: str = DEFAULT_METHOD
    quality: int = DEFAULT_QUALITY
    max_pixels: int = MAX_PIXELS
    #: glob patterns of files and folders left alone, matched against the path under the watched
    #: folder and each of its parts (``thumbnails``: InvokeAI's gallery thumbnails; ``*-grids``)
    exclude: tuple[str, ...] = ()
    #: Soft Binding Resolution services each stamp is also published to (``--publish``), and the
    #: store token (``--publish-token-file`` / PROVENANCE_PUBLISH_TOKEN).
    publish: tuple[str, ...] = ()
    publish_token: str | None = None


@dataclass
class WatchEvent:
    """What happened to one file: ``stamped``, ``skipped`` (with ``reason``) or ``error``."""

    event: str
    file: str
    output: str | None = None
    content_id: str | None = None
    generator: str | None = None
    reason: str | None = None
    error: str | None = None
    seconds: float | None = None  # from the file being seen to its stamped copy written
    #: per --publish service: {"endpoint", "manifest_id", "bindings"} or {"endpoint", "error"}
    published: list[dict] | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Watcher:
    """Watch ``options.dirs``; ``run()`` until stopped (or, with ``once``, until what was there is done)."""

    def __init__(self, options: WatchOptions, *, identity: SigningIdentity, registry: RegistryBackend,
                 on_event: Callable[[WatchEvent], None] | None = None) -> None:
        if bool(options.out_dir) == bool(options.in_place):
            raise ValueError("give exactly one of out_dir and in_place")
        self.options = options
        self.identity = identity
        self.registry = registry
        self.on_event = on_event or (lambda event: None)
        self.roots = [Path(os.path.realpath(d)) for d in options.dirs]
        for root in self.roots:
            if not root.is_dir():
                raise OutputError(f"{root}: not a folder")
        if options.out_dir is not None:
            out = Path(options.out_dir)
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"{out}: cannot create the output folder ({e.strerror or e})") from e
            self.out_dir = Path(os.path.realpath(out))
        else:
            self.out_dir = None
        self.prefixes = _output_prefixes(self.roots)
        self.index = StampedIndex(registry)
        self.paths: queue.Queue[str] = queue.Queue()
        self.pending: dict[str, Candidate] = {}
        self.finished: dict[str, tuple[int, int]] = {}  # path -> (size, mtime) when it was last dealt with
        self.source = None
        self.counts = {"stamped": 0, "skipped": 0, "error": 0}
        self.unpublished = 0  # stamps a --publish service did not take (the stamps stand)

    @property
    def _give_up(self) -> float:
        """With ``once`` a file found incomplete is not waited for long: what is there is what there is."""
        if self.options.once:
            return min(self.options.give_up, max(4 * self.options.settle, 2.0))
        return self.options.give_up

    @property
    def backend(self) -> str | None:
        return self.source.name if self.source is not None else None

    def start(self) -> None:
        """Start hearing of files (the first scan queues everything already there)."""
        self.source = open_source(self.roots, self.paths, backend=self.options.backend,
                                  interval=self.options.poll_interval)
        log.info("watching %s (%s)", ", ".join(map(str, self.roots)), self.backend)

    def close(self) -> None:
        if self.source is not None:
            self.source.stop()
            self.source = None

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> dict[str, int]:
        """Watch until ``stop`` is set (or, with ``once``, until nothing is pending); the counts."""
        stop = stop or threading.Event()
        tick = min(0.1, max(0.02, self.options.settle / 10))
        if self.source is None:
            self.start()
        while not stop.is_set():
            self.step()
            if self.options.once and not self.pending and self.paths.empty():
                break
            stop.wait(tick)
        return dict(self.counts)

    def step(self, now: float | None = None) -> None:
        """Take in the queued paths, then stamp every pending file that has become complete."""
        now = time.monotonic() if now is None else now
        while True:
            try:
                path = self.paths.get_nowait()
            except queue.Empty:
                break
            if path not in self.pending and not self._excluded(path):
                self.pending[path] = Candidate(path=path, changed_at=now, first_seen=now)
        for path in list(self.pending):
            candidate = self.pending[path]
            if observe(candidate, now):  # gone (a tool's temporary file, renamed away)
                del self.pending[path]
                continue
            if self.finished.get(path) == (candidate.size, candidate.mtime_ns):
                del self.pending[path]  # an event for a file already dealt with, unchanged since
                continue
            if settled(candidate, now, self.options.settle):
                self._try(candidate, now)
            elif candidate.checked is not None and now - candidate.changed_at > self._give_up:
                del self.pending[path]
                self.finished[path] = (candidate.size, candidate.mtime_ns)
                self._emit(WatchEvent("error", path, error=f"not complete after {self._give_up:g} s unchanged: "
                                                           f"{candidate.problem}"))

    def _try(self, candidate: Candidate, now: float) -> None:
        data = read_whole(candidate)
        if data is None:
            if candidate.size >= 0:
                log.debug("%s: not complete yet: %s", candidate.path, candidate.problem)
            return
        try:
            event = self._handle(candidate, data)
        except ProvenanceError as e:
            event = WatchEvent("error", candidate.path, error=str(e))
        except MemoryError:
            event = WatchEvent("error", candidate.path, error="out of memory stamping this file")
        except Exception as e:  # a bug must not end the watch: reported loudly, the watch goes on
            log.exception("stamping %s failed", candidate.path)
            event = WatchEvent("error", candidate.path, error=f"internal error: {type(e).__name__}: {e}")
        if event is None:  # a whole container that does not decode (yet): wait for it to change
            log.debug("%s: not complete yet: %s", candidate.path, candidate.problem)
            return
        del self.pending[candidate.path]
        if event.event == "stamped":
            event.seconds = round(time.monotonic() - candidate.first_seen, 3)
        self._remember(candidate.path)
        if event.event == "stamped" and event.output:  # our own output arriving next needs no look-up
            self._remember(event.output)
        self._emit(event)

    def _remember(self, path: str) -> None:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return
        self.finished[path] = (st.st_size, st.st_mtime_ns)

    def _emit(self, event: WatchEvent) -> None:
        self.counts[event.event] += 1
        if event.event == "error":
            log.error("%s: %s", event.file, event.error)
        elif event.event == "skipped":
            log.debug("%s: skipped: %s", event.file, event.reason)
        self.on_event(event)

    # --- one file ---------------------------------------------------------------------------

    def _handle(self, candidate: Candidate, data: bytes) -> WatchEvent | None:
        """Skip it, or stamp it; None when the whole file does not decode (yet). The digest comes
        first: at a restart most of a folder is stamped already, and is not decoded again."""
        path = candidate.path
        sha256 = hashlib.sha256(data).hexdigest()
        done = self.index.done(sha256, path)
        if done is not None:
            why = "a stamped file" if done.reason == "stamped-output" else f"already stamped as {done.output}"
            return WatchEvent("skipped", path, output=done.output, content_id=done.content_id, reason=why)
        if locate_manifest_store(data, sniff_format(data[:64])) is not None:
            return WatchEvent("skipped", path, reason="carries Content Credentials of its own; left as it is")
        if not decodes(candidate, data, max_pixels=self.options.max_pixels):
            return None
        dst = None if self.options.in_place else self._output_for(path)
        if dst is not None:
            dst.parent.mkdir(parents=True, exist_ok=True)
        result = stamp_file(path, dst, identity=self.identity, record=self.options.record,
                            method=self.options.method, quality=self.options.quality, registry=self.registry,
                            max_pixels=self.options.max_pixels, from_metadata=True,
                            in_place=self.options.in_place, backup=self.options.backup)
        event = WatchEvent("stamped", path, output=result.output, content_id=result.content_id,
                           generator=result.generator)
        if self.options.publish:
            event.published = self._publish(result)
        return event

    def _publish(self, result) -> list[dict]:
        """Publish a stamp to every service; a service that refuses or is down is logged and counted
        (``unpublished``): the stamp stands, the file and the local registry have it."""
        from .._publish import publish_stamp

        out = []
        for url in self.options.publish:
            try:
                if not result.manifest_store:
                    raise ProvenanceError("no manifest store to publish")
                out.append(publish_stamp(url, result.manifest_store, result.bindings,
                                         token=self.options.publish_token))
            except ProvenanceError as e:
                log.error("%s: stamped, but not published to %s: %s", result.output, url, e)
                self.unpublished += 1
                out.append({"endpoint": url, "error": str(e)})
        return out

    def _excluded(self, path: str) -> bool:
        if not self.options.exclude:
            return False
        real = os.path.realpath(path)
        for root, _prefix in self.prefixes:
            if real.startswith(str(root) + os.sep):
                rel = Path(os.path.relpath(real, root))
                return any(fnmatch.fnmatch(rel.as_posix(), pattern) or
                           any(fnmatch.fnmatch(part, pattern) for part in rel.parts)
                           for pattern in self.options.exclude)
        return False

    def _output_for(self, path: str) -> Path:
        """The stamped copy's path: the file's place under its watched folder, mirrored under
        ``out_dir`` (under a folder named after it when several are watched); PNG, JPEG and
        WebP keep their format."""
        real = os.path.realpath(path)
        for root, prefix in self.prefixes:
            if real == str(root) or real.startswith(str(root) + os.sep):
                rel = Path(os.path.relpath(real, root))
                return self.out_dir / prefix / rel
        raise OutputError(f"{path}: not under a watched folder")


def _output_prefixes(roots: list[Path]) -> list[tuple[Path, Path]]:
    """Per watched folder, the folder under the output folder its copies go to: none when one
    folder is watched, else its name (``name-2``, ... when two share one). Deepest folders first,
    so a file is placed by the most specific folder that holds it."""
    if len(roots) == 1:
        return [(roots[0], Path())]
    used: dict[str, int] = {}
    out = []
    for root in roots:
        name = root.name or "root"
        used[name] = used.get(name, 0) + 1
        out.append((root, Path(name if used[name] == 1 else f"{name}-{used[name]}")))
    return sorted(out, key=lambda item: len(item[0].parts), reverse=True)
