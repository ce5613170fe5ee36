"""JPEG traces, computed from the pixels alone (never from the file's container or tables).

Artifact: a JPEG encoder splits the luma into 8x8 blocks, takes their DCT and divides each
coefficient by a step from its quantisation table. Decoding leaves (a) discontinuities at block
borders (blockiness, energy at period 8 in the profile of pixel differences) and (b) DCT
coefficients that sit on a lattice of multiples of the step, which we read back to estimate the
table; a second compression with another table leaves periodic gaps in those histograms (double
compression). Most camera photos went through a camera's JPEG encoder, many generated images
never did. Training re-compresses both classes at random qualities so that the model cannot use
"was JPEG" as a shortcut; what remains useful is how compression interacts with the other
traces (a grid aligned with the decoder's 8x8 patches, a JPEG of an already-JPEG image).
"""
from __future__ import annotations

import numpy as np

from ._common import as_float_rgb, block_dct, folded_profile, luma, safe_log

#: Low-frequency AC coefficients in zig-zag order; their steps identify the quality.
COEFFS = ((0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0))
STEPS = np.arange(2, 31)
LATTICE_SCORE = 0.6  # a step counts as "present" when the phase coherence exceeds this

NAMES = ("jpeg_block_aligned", "jpeg_block_any") + tuple(f"jpeg_grid_{k}" for k in range(1, 5)) + tuple(
    f"jpeg_q{u}{v}_step" for u, v in COEFFS) + tuple(f"jpeg_q{u}{v}_score" for u, v in COEFFS) + (
    "jpeg_zero_hf", "jpeg_double")
FACETS = {
    "jpeg_block": "blockiness at 8x8 borders (JPEG compression)",
    "jpeg_grid": "energy of the 8-pixel grid in pixel differences",
    "jpeg_q": "quantisation steps read back from DCT coefficients (JPEG quality)",
    "jpeg_zero_hf": "share of zeroed high-frequency DCT coefficients (compression strength)",
    "jpeg_double": "double-compression gaps in DCT histograms",
}


def lattice_scores(coeffs: np.ndarray, steps: np.ndarray = STEPS) -> np.ndarray:
    """For each step s, mean of cos(2 pi c / s) over the coefficients with |c| >= s / 2.

    1 when those coefficients are all multiples of s, about 0 (or below) for continuous values.
    Only coefficients that a step s would not have zeroed take part: every step divides zero,
    and small continuous coefficients would look like a lattice of any large step. Fewer than
    16 such coefficients give a score of 0.
    """
    a = np.abs(np.asarray(coeffs, dtype=np.float64))
    steps = np.asarray(steps, dtype=np.float64)
    a = a[a >= steps.min() / 2.0]  # below every step's half: never counted, so skip them up front
    keep = a[None, :] >= steps[:, None] / 2.0  # (steps, coefficients)
    counts = keep.sum(axis=1)
    phase = np.cos(np.outer(2.0 * np.pi / steps, a))
    sums = np.where(keep, phase, 0.0).sum(axis=1)
    out = np.where(counts >= 16, sums / np.maximum(counts, 1), 0.0)
    return out


def estimate_step(coeffs: np.ndarray) -> tuple[int, float]:
    """The largest quantisation step whose lattice the coefficients sit on (1 if none), and its score."""
    scores = lattice_scores(coeffs)
    # A step near the true one scores almost as well when most values are +-1 step; its
    # divisors score as well as it does. So: the largest step within 0.05 of the best score.
    present = np.nonzero((scores >= LATTICE_SCORE) & (scores >= scores.max(initial=0.0) - 0.05))[0]
    if present.size == 0:
        return 1, float(scores.max(initial=0.0))
    i = present[-1]
    return int(STEPS[i]), float(scores[i])


def _double_gaps(coeffs: np.ndarray, step: int) -> float | None:
    """Roughness of the histogram of quantised values: periodic gaps after two compressions."""
    k = np.abs(np.round(coeffs / step)).astype(np.int64)
    hist = np.bincount(k[(k >= 1) & (k <= 13)], minlength=14)[1:].astype(np.float64)
    if hist.sum() < 50:
        return None
    smooth = 0.5 * (hist[:-2] + hist[2:])
    return float(np.mean(np.abs(hist[1:-1] - smooth)) / (hist.mean() + 1e-9))


def jpeg_traces(rgb: np.ndarray) -> np.ndarray:
    """Blockiness, 8x8 grid energy, quantisation steps per coefficient, zeroing and double-compression gaps.

    The array must be aligned with the JPEG grid (crop offsets that are multiples of 8), as
    :func:`detectors.features.analysis_crops` guarantees.
    """
    y = luma(as_float_rgb(rgb))
    out = []
    aligned, anywhere, grid = [], [], np.zeros(4)
    for plane in (y, y.T):
        prof = folded_profile(np.abs(np.diff(plane, axis=1)))  # phase 7 = across a block border
        aligned.append(safe_log(prof[7] / (prof[:7].mean() + 1e-9)))
        anywhere.append(safe_log(prof.max() / (np.median(prof) + 1e-9)))
        grid += np.abs(np.fft.rfft(prof))[1:5] / (prof.mean() * 8 + 1e-9)
    out += [float(np.mean(aligned)), float(np.mean(anywhere))] + (grid / 2).tolist()
    dct = block_dct(y)
    steps, scores, doubles = [], [], []
    for u, v in COEFFS:
        c = dct[:, u, v]
        s, score = estimate_step(c)
        steps.append(float(np.log(s)))
        scores.append(score)
        if s >= 2:
            d = _double_gaps(c, s)
            if d is not None:
                doubles.append(d)
    hf = dct[:, np.add.outer(np.arange(8), np.arange(8)) >= 6]
    out += steps + scores + [float(np.mean(np.abs(hf) < 0.5)), float(np.mean(doubles)) if doubles else 0.0]
    return np.asarray(out)
