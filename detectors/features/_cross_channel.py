"""Cross-channel correlations of the noise residual.

Artifact: in a photo the three colour channels' high frequencies are tied together by the optics,
the demosaicing interpolation and the camera's colour processing, and each channel carries its own
share of the noise. A generator paints all three channels at once from a latent decoder, which
couples them differently: the residual correlations between channels and each channel's share of
the residual energy differ. Measured at half resolution, where these relations survive JPEG
re-compression better than the finest scale does.
"""
from __future__ import annotations

import numpy as np

from ._common import as_float_rgb, neighbour_residuals, safe_log

NAMES = ("xch_corr_rg", "xch_corr_bg", "xch_corr_rb", "xch_energy_r", "xch_energy_b", "xch_chroma_energy")
FACETS = {
    "xch_": "correlation of high frequencies across colour channels",
}


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def cross_channel(rgb: np.ndarray) -> np.ndarray:
    """Correlations between the channels' residuals and each channel's share of residual energy."""
    x = as_float_rgb(rgb)
    res = neighbour_residuals(x)
    er, eg, eb = (float(np.mean(e ** 2)) + 1e-9 for e in res)
    chroma = float(np.mean((res[0] - res[1]) ** 2) + np.mean((res[2] - res[1]) ** 2)) + 1e-9
    return np.array([
        _corr(res[0], res[1]), _corr(res[2], res[1]), _corr(res[0], res[2]),
        safe_log(er / eg), safe_log(eb / eg), safe_log(chroma / eg),
    ], dtype=np.float64)
