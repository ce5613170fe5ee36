"""``provenance watch``: stamp every image a local generator saves (AUTOMATIC1111/Forge,
ComfyUI, InvokeAI, Fooocus), from the settings the tool itself wrote into the file.

``Watcher(WatchOptions(dirs=[...], out_dir=...), identity=..., registry=...).run()`` watches the
folders recursively (inotify through watchdog, else polling), waits until each new file is
complete, and stamps it with ``stamp_file(..., from_metadata=True)``, never twice (the registry
knows every stamp's output and source by sha256). See README "Watching a generator's output folder".
"""
from __future__ import annotations

from ._complete import container_complete
from ._sources import BACKENDS, WATCHED_SUFFIXES
from ._watcher import WatchEvent, Watcher, WatchOptions

__all__ = ["BACKENDS", "WATCHED_SUFFIXES", "WatchEvent", "WatchOptions", "Watcher", "container_complete"]
