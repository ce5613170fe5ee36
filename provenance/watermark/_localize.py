"""Where provenanceWM's mark is missing: a per-block map that localises edits.

Once the detector has decoded a payload, it knows the exact pattern that was embedded (the pilot
plus the coded bits; only the per-bit gains of the informed embedding are unknown) and where it
lies (tile vectors and offset). The map renders that pattern at that geometry over the detector's
working copy and correlates it, block by block, with the image's normalised residual (the same
preprocessing as the fold). A block that still carries the mark correlates; a block that was
replaced, inpainted or heavily smoothed does not.

Each block's score is a z-score against an empirical null measured on the same image: the same
correlation with the pattern moved by half a tile (and a quarter) in several directions, where it
is independent of the true one. One 32 px block alone carries too little of the mark on busy
content, so the decision uses the block with its 8 neighbours (``scores``); a block is "missing"
when that is under ``MISSING_Z``. Smoothing shrinks a missing region by one block on every side
(its edge blocks borrow their marked neighbours' scores), so a block next to a missing one whose
own score (``block_scores``) is under ``EDGE_Z`` is missing too. Where even a fresh mark would
score under ``CERTAIN_Z`` (``expected``: the mark the embedder would add there, added once more,
and the score's gain measured), a block is "uncertain" and never "missing": on very busy content
the absence of the mark is no evidence of an edit. Measurements: docs/WATERMARK.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ._base import WatermarkResult
from ._wm_embed import mark_strength, rms_capped
from ._wm_fold import normalised_residual, working_luma
from ._wm_sync import Hypothesis
from ._wm_tile import NORM, render_tile

BLOCK_PX = 32  # block side on the detector's working copy (at most 512 x 512)
#: Scores are summed over a block and its 8 neighbours before the threshold (over the square root
#: of the count: still unit variance under the null when blocks are independent).
_SMOOTH_KERNEL = np.ones((3, 3), np.float32)
MISSING_Z = 2.0  # a block whose smoothed score is under this is "mark missing"
EDGE_Z = 1.0  # ... and so is a neighbour of a missing block whose own score is under this
CERTAIN_Z = 4.0  # a block where a fresh mark would score under this is "uncertain", never "missing"
#: Pattern shifts (rows, cols on the 96-sample tile grid) whose correlations form the null.
_DECOYS = ((48, 0), (0, 48), (48, 48), (24, 72), (72, 24), (24, 24), (72, 72), (48, 24))


@dataclass
class WatermarkMap:
    """Per-block presence of the mark. ``scores`` (rows x cols) are z-scores of each block with its
    neighbours, ``block_scores`` of each block alone: around 0 where the mark is absent, higher
    where it is present; ``expected`` what a fresh mark would score with its neighbours.
    ``missing`` applies ``threshold``, ``edge_threshold`` and ``certain`` (module doc).
    Blocks are ``block`` input pixels square from the top-left corner (the last row and column may
    be partial). Undetected: empty grids (there is no payload to look for)."""

    detection: WatermarkResult
    block: float = 0.0  # block side in input pixels (the working copy's 32 px over its scale)
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    block_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    expected: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    threshold: float = MISSING_Z
    edge_threshold: float = EDGE_Z
    certain: float = CERTAIN_Z

    @property
    def uncertain(self) -> np.ndarray:
        """Blocks where even a fresh mark would score under ``certain``: too busy to tell."""
        return self.expected < self.certain

    @property
    def detected(self) -> bool:
        return self.detection.detected

    @property
    def missing(self) -> np.ndarray:
        core = self.scores < self.threshold
        if not core.size:
            return core
        near = cv2.dilate(core.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        return (core | (near & (self.block_scores < self.edge_threshold))) & ~self.uncertain

    @property
    def missing_share(self) -> float | None:
        """Share of all blocks where the mark is missing (None when nothing was scored)."""
        return float(self.missing.mean()) if self.scores.size else None

    def to_dict(self) -> dict:
        """The summary for ``--json``, with the grid of smoothed scores (rounded)."""
        rows, cols = self.scores.shape
        share = self.missing_share
        return {"detected": self.detected, "block_px": round(self.block, 2), "rows": rows, "cols": cols,
                "threshold": self.threshold, "edge_threshold": self.edge_threshold,
                "certain": self.certain, "blocks_missing": int(self.missing.sum()),
                "blocks_uncertain": int(self.uncertain.sum()),
                "missing_share": None if share is None else round(share, 4),
                "scores": np.round(self.scores, 2).tolist()}


def _sample(tile: np.ndarray, qy: np.ndarray, qx: np.ndarray) -> np.ndarray:
    """The periodic ``tile`` at grid coordinates (qy, qx), bilinear."""
    pad = np.pad(tile, ((0, 1), (0, 1)), mode="wrap")
    return cv2.remap(pad, np.mod(qx, NORM).astype(np.float32), np.mod(qy, NORM).astype(np.float32),
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _block_sums(a: np.ndarray, block: int) -> np.ndarray:
    h, w = a.shape
    rows, cols = -(-h // block), -(-w // block)
    padded = np.zeros((rows * block, cols * block), np.float64)
    padded[:h, :w] = a
    return padded.reshape(rows, block, cols, block).sum(axis=(1, 3))


def score_blocks(y: np.ndarray, v1: np.ndarray, v2: np.ndarray, offset: np.ndarray, bits: np.ndarray,
                 *, block: int = BLOCK_PX, flip: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block z-scores of the mark carrying ``bits`` at tile vectors v1, v2 (working pixels)
    and ``offset`` (rows, cols on the normalised grid) in the working luminance ``y``, mirrored by
    ``flip`` (row, column signs of the grid, as the detector found it): each block alone, with
    its neighbours, and what the latter would gain if the mark were added there now (how visible
    a mark would be in that block at all)."""
    h, w = y.shape
    unit = float(np.hypot(*v1) + np.hypot(*v2)) / (2 * NORM)  # working pixels per grid sample
    valid = np.ones_like(y)
    # Working pixel p lies at grid coordinate q = M^-1 p (M = [v1 v2] / NORM), as in the fold.
    inv = np.linalg.inv(np.column_stack([v1, v2]) / NORM)
    py, px = np.mgrid[0:h, 0:w].astype(np.float64)
    # A mirrored copy reads right on the mirrored grid (the detector's ``flipped``, ``_wm_fold``).
    qx = flip[1] * (inv[0, 0] * px + inv[0, 1] * py)
    qy = flip[0] * (inv[1, 0] * px + inv[1, 1] * py)
    tile = render_tile(bits, NORM).astype(np.float32)  # equal gains: the per-bit ones are unknown here

    def scores(r: np.ndarray, dy: float, dx: float) -> np.ndarray:
        re = r * _sample(tile, qy - offset[0] - dy, qx - offset[1] - dx)
        # Self-normalised: robust to how much residual each block has.
        return _block_sums(re, block) / np.sqrt(_block_sums(re * re, block) + 1e-12)

    r = normalised_residual(y, valid, unit)
    true = scores(r, 0.0, 0.0)
    null = np.stack([scores(r, dy, dx) for dy, dx in _DECOYS])
    # Pattern-to-residual correlation is not white (neighbouring pixels), so the self-normalised
    # sum's null spread is measured, not assumed; likewise after smoothing.
    sigma = max(float(np.sqrt(np.mean(null * null))), 1e-6)
    null_s = np.stack([_smooth(n) for n in null])
    sigma_s = max(float(np.sqrt(np.mean(null_s * null_s))), 1e-6)
    # The same mark the embedder would add here (its activity weighting, its RMS cap), added once
    # more: the gain in score is what a marked block of this content shows.
    grey = np.repeat(np.clip(y, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    probe = rms_capped(mark_strength(grey) * _sample(tile, qy - offset[0], qx - offset[1]))
    gain = _smooth(scores(normalised_residual(y + probe, valid, unit), 0.0, 0.0)) - _smooth(true)
    return true / sigma, _smooth(true) / sigma_s, gain / sigma_s


def _smooth(s: np.ndarray) -> np.ndarray:
    """Sum over each block and its (up to 8) neighbours, over the square root of their count."""
    ones = np.ones_like(s)
    k = _SMOOTH_KERNEL
    total = cv2.filter2D(s.astype(np.float32), -1, k, borderType=cv2.BORDER_CONSTANT)
    count = cv2.filter2D(ones.astype(np.float32), -1, k, borderType=cv2.BORDER_CONSTANT)
    return total / np.sqrt(count)


def localize_mark(rgb: np.ndarray, detection: WatermarkResult, hyp: Hypothesis, bits: np.ndarray, *,
                  block: int | None = None) -> WatermarkMap:
    """Score every block of ``rgb`` for the presence of the pattern carrying ``bits`` (the decoded
    payload's) at the geometry ``hyp`` the detector decoded it at (``ProvenanceWM.localize``)."""
    y, s = working_luma(rgb)
    work_block = BLOCK_PX if block is None else max(8, round(block * s))
    alone, smoothed, expected = score_blocks(y, hyp.v1, hyp.v2, hyp.offset, bits, block=work_block, flip=hyp.flip)
    return WatermarkMap(detection, block=work_block / s, scores=smoothed, block_scores=alone, expected=expected)


def render_map(image: np.ndarray, wmap: WatermarkMap, *, alpha: float = 0.45) -> np.ndarray:
    """The RGB ``image`` with blocks where the mark is missing tinted red, blocks where it is
    present lightly green, uncertain blocks untouched; an undetected map leaves the image as it is."""
    h, w = image.shape[:2]
    out = image.astype(np.float32)
    if wmap.scores.size == 0:
        return image.copy()
    rows = np.minimum((np.arange(h) / wmap.block).astype(int), wmap.scores.shape[0] - 1)
    cols = np.minimum((np.arange(w) / wmap.block).astype(int), wmap.scores.shape[1] - 1)
    missing = wmap.missing[rows[:, None], cols[None, :]]
    present = ~(missing | wmap.uncertain[rows[:, None], cols[None, :]])
    for mask, colour, a in ((missing, (255, 0, 0), alpha), (present, (0, 200, 0), alpha / 3)):
        out[mask] = (1 - a) * out[mask] + a * np.array(colour, np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
