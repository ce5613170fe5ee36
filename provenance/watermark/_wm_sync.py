"""provenanceWM's synchronisation: the hypotheses (lattice, offset, flip) the detector decodes.

First at the embedder's own geometry (untouched, re-encoded, filtered or only cropped copies,
mirrored ones under ``FLIPS``: ``exact_hypotheses``), then the lattices of the geometric search
whose pilot proxy stands out (``searched_hypotheses``); each is folded and correlated with the
pilot, best pilot z first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._wm_fold import FLIPS, flipped, fold_tile, pilot_sync, soft_bits, whitened_spectrum, working_luma
from ._wm_search import geometry_candidates
from ._wm_tile import TILE_PX

#: A searched lattice is folded only when the pilot, read straight off the working copy's spectrum
#: at that lattice's frequencies, peaks at this z or more (``_wm_search._pilot_proxies``). On unmarked shared
#: images the best proxy of any candidate was under 5.2 (99% under 4.9); every searched lattice
#: that decoded on the bench images had a proxy of 6.1 or more (docs/WATERMARK.md). It is what
#: makes the search cheap on unmarked images: a fold costs 4 ms, a proxy 0.3 ms.
PROXY_Z = 5.0


#: A hypothesis: pilot z, the (flip-corrected) spectrum of the folded tile, the pilot offset,
#: the tile vectors v1, v2 and the flip it assumes.
Found = tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]


def _try(y: np.ndarray, lattices, flips: tuple[tuple[int, int], ...] = ((1, 1),)) -> list[Found]:
    """Fold ``y`` at each lattice and correlate with the pilot under each of ``flips``: one fold
    per lattice, one correlation per flip; best pilot z first."""
    results = []
    for v1, v2 in lattices:
        folded = fold_tile(y, v1, v2)
        if folded is None:
            continue
        spec = whitened_spectrum(folded)
        for flip in flips:
            fspec = flipped(spec, flip)
            z, offset = pilot_sync(fspec)
            results.append((z, fspec, offset, v1, v2, flip))
    return sorted(results, key=lambda r: -r[0])


def exact_hypotheses(y: np.ndarray, s: float, shape: tuple[int, int], *,
                     flips: tuple[tuple[int, int], ...] = ((1, 1),)) -> list[Found]:
    """Geometry untouched (or only cropped, or mirrored with ``flips``): the embedder's own tile
    sizes, no search."""
    return _try(y, [(np.array([p, 0.0]), np.array([0.0, p])) for p in own_periods(s, shape)], flips)


def own_periods(s: float, shape: tuple[int, int]) -> list[float]:
    """The tile sides the embedder may have used, in working pixels: its own for an image of this
    shape, and the next larger one (a crop of a bigger stamped image: 1024 px cropped to 724 px
    still has 256 px tiles), and 128 px."""
    k = max(1, min(shape) // 512)
    return [TILE_PX * j * s for j in sorted({1, k, k + 1})]


def searched_hypotheses(y: np.ndarray, priors: tuple[float, ...] = ()) -> list[Found]:
    """Scaled, rotated, stretched or flipped: the best lattices of the spectral search, folded
    when their proxy pilot z reaches ``PROXY_Z`` (on an unmarked image, usually none is)."""
    found: list[Found] = []
    for c in geometry_candidates(y, keep=4, priors=priors):
        if c.proxy_z >= PROXY_Z:
            found += _try(y, [(c.v1, c.v2)], c.flips)
    return sorted(found, key=lambda r: -r[0])


def find_hypotheses(rgb: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Every hypothesis the detector considers: (pilot z, soft bits), best first."""
    y, s = working_luma(rgb)
    own = tuple(own_periods(s, rgb.shape[:2]))
    results = sorted(exact_hypotheses(y, s, rgb.shape[:2], flips=FLIPS) + searched_hypotheses(y, own),
                     key=lambda r: -r[0])
    return [(r[0], soft_bits(r[1], r[2])) for r in results]


@dataclass(frozen=True)
class Hypothesis:
    """A decoded hypothesis' geometry: pilot z, offset on the normalised tile grid (row, col),
    tile vectors v1, v2 in working pixels, the working copy's scale (working / input px), and
    the flip (row, column signs of the tile grid) under which the tile read right."""

    z: float
    offset: np.ndarray
    v1: np.ndarray
    v2: np.ndarray
    scale: float
    flip: tuple[int, int] = (1, 1)
