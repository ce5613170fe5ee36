"""Demosaicing (CFA) correlations.

Artifact: a camera measures one colour per pixel through a Bayer colour-filter array and
interpolates the other two. Interpolated samples are smoother (they are averages of their
neighbours) than measured ones, so the prediction error of each channel has a variance that
alternates with period 2 in a fixed 2x2 phase. A generator paints all three channels at every
pixel at once: no 2x2 phase structure. The lattice is one pixel wide, so this extractor looks at
full resolution; JPEG and resizing weaken the trace, so it matters most for pristine images.
"""
from __future__ import annotations

import numpy as np

from ._common import as_float_rgb, neighbour_residuals, safe_log

NAMES = (
    "cfa_green_checker", "cfa_red_phase", "cfa_blue_phase", "cfa_rg_phase", "cfa_bg_phase",
    "cfa_green_rows", "cfa_green_cols",
)
FACETS = {
    "cfa_": "2x2 phase structure of the prediction error (camera demosaicing traces)",
}


def _phase_var(e: np.ndarray) -> np.ndarray:
    """Mean squared prediction error on each of the four 2x2 phases: [[00, 01], [10, 11]]."""
    return np.array([[np.mean(e[i::2, j::2] ** 2) for j in (0, 1)] for i in (0, 1)]) + 1e-9


def cfa_correlation(rgb: np.ndarray) -> np.ndarray:
    """Phase contrasts of per-channel prediction errors."""
    x = as_float_rgb(rgb)
    res = neighbour_residuals(x)
    vr, vg, vb = (_phase_var(e) for e in res)
    green_checker = abs(safe_log(vg[0, 0] + vg[1, 1]) - safe_log(vg[0, 1] + vg[1, 0]))
    red = safe_log(vr.max() / vr.min())
    blue = safe_log(vb.max() / vb.min())
    vrg, vbg = _phase_var(res[0] - res[1]), _phase_var(res[2] - res[1])
    rows = abs(safe_log(vg[0].sum()) - safe_log(vg[1].sum()))
    cols = abs(safe_log(vg[:, 0].sum()) - safe_log(vg[:, 1].sum()))
    return np.array([
        green_checker, red, blue, safe_log(vrg.max() / vrg.min()), safe_log(vbg.max() / vbg.min()),
        rows, cols,
    ], dtype=np.float64)
