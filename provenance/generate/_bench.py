"""Hardware cost of generating, and of stamping at the source, measured in the same run.

For each size x steps x batch: one warm-up call of each kind and every stamping worker warmed up
(not timed), then ``repeats`` batches with the bare pipeline and ``repeats`` batches through
:class:`StampedPipeline` with each batch's stamping overlapping the next batch's generation (the
way ``generate`` runs), ``rounds`` times in alternating order. Both use per-image CPU
generators and the same seeds, so they do the same work on the device. The stamping overhead is
the ratio of the two wall times, until every file is written; the steady-state overhead stops the
clock when the last batch is generated, leaving out the one drain (the last batch's stamping) that a
long run pays once rather than per batch. Outputs, keys (when none are given) and the registry live in a
temporary folder that is removed afterwards.
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._keys import SigningIdentity, init_keys, load_identity
from .._registry import Registry
from ._load import LoadedPipeline
from ._pipeline import StampedPipeline

log = logging.getLogger(__name__)

BENCH_PROMPT = "a lighthouse on a cliff at dusk, photograph"


@dataclass
class BenchRow:
    """One grid point: plain generation vs generation + stamping on the same device."""

    size: int
    steps: int
    batch: int
    images: int  # per measurement (repeats x batch)
    device: str
    precision: str | None
    s_per_image: float  # generation alone
    s_per_image_stamped: float  # generation + stamping (overlapped), until every file is written
    images_per_min: float
    images_per_min_stamped: float
    overhead: float  # s_per_image_stamped / s_per_image - 1
    # Steady state: until the last batch is generated (its stamping is the drain that a long run
    # pays once, not per batch). Waits for earlier batches' stamping are inside it.
    s_per_image_steady: float
    overhead_steady: float  # s_per_image_steady / s_per_image - 1
    drain_s: float  # from the last batch generated to its last file written (mean over rounds)
    rounds: int  # measurements of each kind, alternated (see bench_generation)
    overhead_by_round: list[float]
    overhead_steady_by_round: list[float]
    peak_vram_mb: float | None
    stamp_ms_per_image: float  # mean CPU time of one stamp inside the workers (not wall time)
    cost_per_1000: float | None = None  # at gpu_hour_cost, generation alone
    cost_per_1000_stamped: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cost(s_per_image: float, gpu_hour_cost: float | None) -> float | None:
    return None if gpu_hour_cost is None else round(s_per_image * 1000 / 3600 * gpu_hour_cost, 4)


def _generators(seeds: list[int]):
    import torch

    return [torch.Generator("cpu").manual_seed(s) for s in seeds]


def _time_plain(pipe, call: dict, seeds: list[list[int]], cuda: bool) -> tuple[float, float | None]:
    """Seconds for the bare pipeline over ``seeds`` (one batch each), and peak VRAM in MiB."""
    import torch

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for s in seeds:
        pipe(**call, generator=_generators(s))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return seconds, (round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None)


def _time_stamped(stamped: StampedPipeline, call: dict, seeds: list[list[int]]) -> tuple[float, float, list[float]]:
    """(seconds until every file is written, seconds until the last batch is generated, stamp ms
    per image) with each batch's stamping overlapping the next batch's generation."""
    t0 = time.perf_counter()
    pending, stamp_ms = None, []
    for s in seeds:
        nxt = stamped.submit(**call, seed=s)
        if pending is not None:
            pending.result()
            stamp_ms += [sum(i.stamp.timings_ms.values()) for i in pending.images]
        pending = nxt
    generated = time.perf_counter() - t0
    pending.result()
    stamp_ms += [sum(i.stamp.timings_ms.values()) for i in pending.images]
    return time.perf_counter() - t0, generated, stamp_ms


def bench_generation(loaded: LoadedPipeline, *, sizes: list[int], steps: list[int], batches: list[int],
                     repeats: int = 2, rounds: int = 1, gpu_hour_cost: float | None = None,
                     identity: SigningIdentity | None = None, executor: str = "process", workers: int | None = None,
                     prompt: str = BENCH_PROMPT) -> list[BenchRow]:
    """``rounds`` > 1 alternates the two measurements (plain, stamped, stamped, plain, ...) so that
    a drift of the device's speed over the run falls on both; each round's overhead is kept, and
    their spread says how far to trust the difference."""
    import torch

    if min(repeats, rounds) < 1:
        raise ValueError("repeats and rounds must be at least 1")
    pipe, rows = loaded.pipe, []
    cuda = torch.cuda.is_available() and loaded.device.startswith("cuda")
    with tempfile.TemporaryDirectory(prefix="provenance-bench-") as tmp:
        work = Path(tmp)
        if identity is None:
            identity = load_identity(directory=init_keys(org="provenance bench", directory=work / "keys"))
        with Registry(work / "registry.sqlite") as registry, StampedPipeline(
                pipe, identity=identity, out_dir=work / "out", registry=registry, record=loaded.record,
                executor=executor, workers=workers) as stamped:
            for size in sizes:
                for n_steps in steps:
                    for batch in batches:
                        call = dict(prompt=prompt, num_inference_steps=n_steps, width=size, height=size,
                                    num_images_per_prompt=batch)
                        # warm-up at this shape, both paths (kernels, allocator), then every worker
                        # started and warmed up, so that no start-up is timed
                        stamped(**call, seed=0)
                        pipe(**call, generator=_generators(list(range(batch))))
                        stamped.wait_ready()
                        plain = with_stamp = generated = 0.0
                        peak, stamp_ms, by_round, steady_by_round = None, [], [], []
                        for r in range(rounds):
                            seeds = [[1000 * (r * repeats + k) + i for i in range(batch)] for k in range(repeats)]
                            if r % 2 == 0:
                                p, pk = _time_plain(pipe, call, seeds, cuda)
                                w, g, ms = _time_stamped(stamped, call, seeds)
                            else:
                                w, g, ms = _time_stamped(stamped, call, seeds)
                                p, pk = _time_plain(pipe, call, seeds, cuda)
                            plain, with_stamp, generated = plain + p, with_stamp + w, generated + g
                            peak = pk if peak is None or (pk is not None and pk > peak) else peak
                            stamp_ms += ms
                            by_round.append(round(w / p - 1, 4))
                            steady_by_round.append(round(g / p - 1, 4))

                        n = rounds * repeats * batch
                        spi, spi_s, spi_g = plain / n, with_stamp / n, generated / n
                        rows.append(BenchRow(
                            size=size, steps=n_steps, batch=batch, images=n, device=loaded.record.device or "",
                            precision=loaded.record.precision, s_per_image=round(spi, 4),
                            s_per_image_stamped=round(spi_s, 4), images_per_min=round(60 / spi, 2),
                            images_per_min_stamped=round(60 / spi_s, 2), overhead=round(spi_s / spi - 1, 4),
                            s_per_image_steady=round(spi_g, 4), overhead_steady=round(spi_g / spi - 1, 4),
                            drain_s=round((with_stamp - generated) / rounds, 4), rounds=rounds,
                            overhead_by_round=by_round, overhead_steady_by_round=steady_by_round,
                            peak_vram_mb=peak, stamp_ms_per_image=round(sum(stamp_ms) / len(stamp_ms), 1),
                            cost_per_1000=_cost(spi, gpu_hour_cost), cost_per_1000_stamped=_cost(spi_s, gpu_hour_cost),
                        ))
                        log.info("bench %s", rows[-1])
    return rows
