"""Residual co-occurrence (SPAM / SRM style).

Artifact: the joint statistics of neighbouring noise residuals. A camera's sensor noise is
nearly independent from pixel to pixel, then shaped by demosaicing and sharpening into a
characteristic correlation; a generator's "noise" is synthesised by a network and has different
local dependencies (too smooth, too regular, or correlated over the up-sampling kernel). Steganalysis
(SPAM, the Spatial Rich Model) showed that co-occurrences of truncated, quantised residuals catch
such differences with a few dozen numbers.
"""
from __future__ import annotations

import numpy as np

from ._common import as_float_rgb

T = 2  # residuals are truncated to [-T, T]
_PAIRS = [(a, b) for a in range(-T, T + 1) for b in range(-T, T + 1)]
# sign symmetry: (a, b) and (-a, -b) are one bin, so 13 bins out of 25
_SYM = sorted({max((a, b), (-a, -b)) for a, b in _PAIRS})
NAMES = tuple(f"cooc_d1_{a:+d}{b:+d}" for a, b in _SYM) + tuple(f"cooc_d2_{a:+d}{b:+d}" for a, b in _SYM)
FACETS = {
    "cooc_d1": "co-occurrence of neighbouring pixel differences (sensor vs synthesised noise)",
    "cooc_d2": "co-occurrence of second-order residuals (SRM-style local texture of the noise)",
}
_FOLD = np.array([_SYM.index(max(p, (-p[0], -p[1]))) for p in _PAIRS])


def _cooc(res: np.ndarray) -> np.ndarray:
    """Histogram of horizontally adjacent pairs of a truncated integer residual, sign-folded."""
    q = np.clip(res, -T, T).astype(np.int64) + T
    idx = (q[:, :-1] * (2 * T + 1) + q[:, 1:]).ravel()
    hist = np.bincount(idx, minlength=(2 * T + 1) ** 2).astype(np.float64)
    return np.bincount(_FOLD, weights=hist, minlength=len(_SYM))


def residual_cooccurrence(rgb: np.ndarray) -> np.ndarray:
    """First-order (differences) and second-order (q=2) residual co-occurrences, rows and columns."""
    g = as_float_rgb(rgb)[:, :, 1]  # green: the densest channel of a Bayer sensor
    out = []
    for order in (1, 2):
        hist = np.zeros(len(_SYM))
        for x in (g, g.T):
            if order == 1:
                res = x[:, 1:] - x[:, :-1]
            else:
                res = np.round((x[:, :-2] - 2 * x[:, 1:-1] + x[:, 2:]) / 2.0)
            hist += _cooc(res)
        out.append(hist / max(hist.sum(), 1.0))
    return np.concatenate(out)
