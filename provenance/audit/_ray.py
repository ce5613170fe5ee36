"""The audit on a Ray cluster: the same :func:`audit_file` per file, shards of files per task.

Each Ray actor holds one :class:`LocalPool` worker process (the same warm-up, per-file time limit
and memory guard as the local pool) and audits one shard of files per call. The driver pulls paths
lazily, keeps two shards in flight per actor, and yields every file's row as its shard returns. A
shard whose actor dies (a crash, a lost node) is sent again to another actor, up to
``MAX_ATTEMPTS`` times in all, then each of its files becomes an error row: a file is never
missing and never reported twice. The actors are sized to the CPUs of the nodes alive, so a lost
node's work moves to the others instead of waiting for CPUs that are gone.

The files must be readable at the same paths on every node (a shared filesystem, as for any Ray
job over files); so must the cache, and ``PROVENANCE_HOME`` (its trust settings: the tool's own root
CA, trust-anchors.pem, installed trust lists), which the actors get from the driver. The SQLite registry is shipped with the job as a read-only
snapshot (each actor writes it to a temporary file), so workers need no access to the stamping home.
"""
from __future__ import annotations

import collections
import logging
import os
import sqlite3
import tempfile
import time
from dataclasses import replace
from typing import Callable, Iterator

from .._errors import MissingDependencyError, ProvenanceError
from ._file import AuditFileOptions, AuditRow, error_report

log = logging.getLogger(__name__)

#: Times a shard is sent before its files become error rows (the first try included).
MAX_ATTEMPTS = 3
DEFAULT_SHARD_SIZE = 16
#: Shards queued per actor: one running, one waiting, so an actor never idles between shards.
IN_FLIGHT_PER_ACTOR = 2
#: The driver's environment the actors get (where the trust settings live).
WORKER_ENV = ("PROVENANCE_HOME",)
#: Shards that may fail in a row, none returning, before the audit gives up (the nodes are broken).
MAX_FAILURES_IN_A_ROW = 12


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("audit --engine ray needs Ray: pip install 'provenance-tool[ray]'") from e
    return ray


def registry_snapshot(path: str) -> bytes:
    """A consistent copy of the SQLite registry at ``path`` as bytes (SQLite's online backup)."""
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(":memory:")
        try:
            src.backup(dst)
            return dst.serialize()
        finally:
            dst.close()
    finally:
        src.close()


class _ShardRunner:
    """A Ray actor: one worker process of :class:`LocalPool`, audits a shard per call."""

    def __init__(self, options: AuditFileOptions, timeout: float | None, memory_mb: int | None,
                 snapshot: bytes | None) -> None:
        from ._pool import LocalPool

        self._snapshot_dir = None
        if snapshot is not None:
            self._snapshot_dir = tempfile.TemporaryDirectory(prefix="provenance-registry-")
            path = os.path.join(self._snapshot_dir.name, "registry.sqlite")
            with open(path, "wb") as fh:
                fh.write(snapshot)
            os.chmod(path, 0o400)
            options = replace(options, registry_path=path)
        self._pool = LocalPool(options, workers=1, timeout=timeout, memory_mb=memory_mb)

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def audit(self, shard: list[str]) -> list[AuditRow]:
        return list(self._pool.run(iter(shard)))


def _alive_cpus(ray) -> int:
    return int(sum(n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")))


def run_ray(paths: Iterator[str], options: AuditFileOptions, *, address: str | None = None, workers: int | None = None,
            timeout: float | None, memory_mb: int | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
            on_tick: Callable[[], None] | None = None, tick: float = 0.25) -> Iterator[AuditRow]:
    """:func:`audit_file` on every path from ``paths`` on Ray (``address``: a running cluster,
    ``auto`` or ``ray://HOST:PORT``; None: a local instance started here and stopped at the end);
    at most ``workers`` actors (None: one per CPU of the cluster). Rows are yielded per shard."""
    ray = _import_ray()
    if shard_size < 1:
        raise ProvenanceError("the shard size must be at least 1")
    started_here = not ray.is_initialized()
    if started_here:
        try:
            # No address: always a new instance of our own ("local"); ray.init() alone would join
            # any instance it finds on this machine, even one another audit is shutting down.
            ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=False)
        except Exception as e:  # ConnectionError and Ray's own: a clear message, exit 1
            raise ProvenanceError(f"cannot start or reach Ray ({address or 'a local instance'}): {e}") from e
    snapshot_ref = None
    if options.registry_path and "://" not in options.registry_path:
        snapshot_ref = ray.put(registry_snapshot(options.registry_path))
    # The trust settings (own root CA, trust-anchors.pem, installed public lists) are read from
    # PROVENANCE_HOME in the worker, as in the local pool's children: the actors get the driver's.
    env = {k: os.environ[k] for k in WORKER_ENV if k in os.environ}
    runner = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_ShardRunner).options(
        runtime_env={"env_vars": env} if env else None)

    def target() -> int:
        alive = max(1, _alive_cpus(ray))
        return min(workers, alive) if workers else alive

    actors: list = []
    in_flight: dict = {}  # object ref -> (actor, shard, attempt)
    load: collections.Counter = collections.Counter()  # shards in flight per actor
    retry: collections.deque = collections.deque()  # (shard, attempt) to send again
    source_done = False
    failures = 0  # shards failed since the last one that returned
    first_failure = ""

    def new_actor():
        actor = runner.remote(options, timeout, memory_mb, snapshot_ref)
        actors.append(actor)
        return actor

    def drop(actor) -> None:
        if actor in actors:
            actors.remove(actor)
            load.pop(actor, None)
            try:
                ray.kill(actor)
            except Exception:  # already gone with its node
                pass

    def next_shard():
        nonlocal source_done
        if retry:
            return retry.popleft()
        if source_done:
            return None
        shard = []
        for path in paths:
            shard.append(path)
            if len(shard) >= shard_size:
                break
        else:
            source_done = True
        return (shard, 1) if shard else None

    try:
        while True:
            while len(actors) < target():
                new_actor()
            for actor in list(actors):
                while load[actor] < IN_FLIGHT_PER_ACTOR:
                    item = next_shard()
                    if item is None:
                        break
                    shard, attempt = item
                    in_flight[actor.audit.remote(shard)] = (actor, shard, attempt)
                    load[actor] += 1
            if not in_flight:
                if source_done and not retry:
                    return
                continue
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=tick)
            for ref in done:
                actor, shard, attempt = in_flight.pop(ref)
                load[actor] -= 1
                try:
                    rows = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.ObjectLostError, ray.exceptions.RayTaskError) as e:
                    why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
                    log.warning("a shard of %d files failed on attempt %d: %s", len(shard), attempt, why)
                    failures += 1
                    first_failure = first_failure if failures > 1 else why
                    if failures >= MAX_FAILURES_IN_A_ROW:  # nothing succeeds: the nodes, not the files
                        raise ProvenanceError(f"audit shards fail on the Ray cluster ({failures} in a row, "
                                              f"none done; first: {first_failure}; last: {why})") from e
                    drop(actor)
                    if attempt < MAX_ATTEMPTS:
                        retry.append((shard, attempt + 1))
                    else:
                        for path in shard:
                            yield AuditRow(path, error_report(path, None, "audit",
                                                              f"lost {MAX_ATTEMPTS} times on the Ray cluster "
                                                              f"(last: {why})"), None, False, False)
                    continue
                failures = 0
                yield from rows
            if on_tick is not None:
                on_tick()
    finally:
        for actor in list(actors):
            drop(actor)
        if started_here:
            ray.shutdown()


def wait_for_nodes(ray, n: int, seconds: float = 60.0) -> None:
    """Wait until ``n`` nodes are alive (tests and the bench, after starting a cluster)."""
    deadline = time.monotonic() + seconds
    while sum(1 for node in ray.nodes() if node.get("Alive")) < n:
        if time.monotonic() > deadline:
            raise ProvenanceError(f"Ray: fewer than {n} nodes alive after {seconds:g} s")
        time.sleep(0.2)
