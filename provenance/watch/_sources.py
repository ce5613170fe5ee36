"""Where the watcher hears of new files: inotify through the ``watchdog`` package, or a polling
scan where watchdog is not installed, inotify is unavailable (its watch limit reached, a network
file system whose remote writes it never sees) or ``--poll`` asks for it.

Both push paths into one queue; the watcher decides what a path is. Each starts with a full scan
of the folders, so files that appeared while no watcher ran are seen too.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

#: The image formats the watched tools write and stamping can write back.
WATCHED_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
BACKENDS = ("auto", "watchdog", "poll")


def is_watched_name(path: str) -> bool:
    """An image by its name, not hidden (editors', our own temporary files: ``.name.tmp``)."""
    name = os.path.basename(path)
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in WATCHED_SUFFIXES


def walk_images(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every watched image under ``root``, recursively, in name order; hidden folders and symbolic
    links are not entered (a link could lead out of the folder, or loop)."""
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            log.warning("%s: cannot list (%s)", folder, e.strerror or e)
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and is_watched_name(entry.path):
                    yield entry.path, entry.stat(follow_symlinks=False)
            except OSError:
                continue
        stack.extend(reversed(subfolders))


class PollingSource:
    """Rescans the folders every ``interval`` seconds; a new file, or one whose size or time changed, is pushed."""

    name = "poll"

    def __init__(self, roots: list[Path], paths: queue.Queue, *, interval: float) -> None:
        self.roots, self.paths, self.interval = roots, paths, interval
        self._seen: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan(self) -> None:
        seen = {}
        for root in self.roots:
            for path, st in walk_images(root):
                seen[path] = (st.st_size, st.st_mtime_ns)
                if self._seen.get(path) != seen[path]:
                    self.paths.put(path)
        self._seen = seen

    def start(self) -> None:
        self.scan()
        self._thread = threading.Thread(target=self._run, name="provenance-watch-poll", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.scan()
            except Exception:  # a scan that fails (a folder gone) must not end the watch
                log.exception("polling scan failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class WatchdogSource:
    """inotify (or the platform's equivalent) through watchdog: created, modified, closed and
    moved-in files are pushed as they happen; a first scan pushes what is already there."""

    name = "watchdog"
    #: seconds between safety-net rescans: inotify drops events when its queue overflows
    #: (IN_Q_OVERFLOW), and a rescan costs a stat per file (the watcher drops the unchanged ones)
    rescan_interval = 300.0

    def __init__(self, roots: list[Path], paths: queue.Queue) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self.roots, self.paths = roots, paths
        push = self.paths.put

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.is_directory:
                    if event.event_type in ("created", "moved"):  # a folder moved in: what it holds
                        folder = getattr(event, "dest_path", "") or event.src_path
                        for path, _st in walk_images(Path(os.fsdecode(folder))):
                            push(path)
                    return
                if event.event_type in ("created", "modified", "closed"):
                    path = os.fsdecode(event.src_path)
                elif event.event_type == "moved":
                    path = os.fsdecode(event.dest_path)
                else:
                    return
                if is_watched_name(path):
                    push(path)

        self._observer = Observer()
        self._handler = _Handler()
        self._stop = threading.Event()
        self._rescanner: threading.Thread | None = None

    def _scan(self) -> None:
        for root in self.roots:
            for path, _st in walk_images(root):
                self.paths.put(path)

    def start(self) -> None:
        for root in self.roots:
            self._observer.schedule(self._handler, str(root), recursive=True)
        self._observer.start()  # OSError when inotify is unavailable (no watches left, not supported)
        self._scan()  # after the watches exist: nothing written meanwhile is missed
        self._rescanner = threading.Thread(target=self._rescan, name="provenance-watch-rescan", daemon=True)
        self._rescanner.start()

    def _rescan(self) -> None:
        while not self._stop.wait(self.rescan_interval):
            try:
                self._scan()
            except Exception:
                log.exception("rescan failed")

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=5)


def open_source(roots: list[Path], paths: queue.Queue, *, backend: str = "auto", interval: float = 1.0):
    """A started source: watchdog's unless it is missing or fails to start (then polling, with a
    log line saying why), or the one ``backend`` names."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend in ("auto", "watchdog"):
        try:
            source = WatchdogSource(roots, paths)
            source.start()
            return source
        except ImportError:
            if backend == "watchdog":
                from .._errors import MissingDependencyError

                raise MissingDependencyError("watching with inotify needs watchdog: pip install "
                                             "'provenance-tool[watch]' (or poll instead)") from None
            log.info("watchdog is not installed (pip install 'provenance-tool[watch]'): polling every %g s", interval)
        except OSError as e:
            if backend == "watchdog":
                raise
            log.warning("inotify is unavailable (%s): polling every %g s instead", e.strerror or e, interval)
            try:
                source.stop()
            except Exception:
                pass
    source = PollingSource(roots, paths, interval=interval)
    source.start()
    return source
