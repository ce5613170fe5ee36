"""Noise-residual spectrum: periodic peaks and the radial energy profile.

Artifact: generators build pixels through up-sampling layers (transposed convolutions, pixel
shuffle, nearest/bilinear up-sampling) and latent-diffusion models through a VAE decoder that
expands each latent cell to an 8x8 patch. Both leave a faint periodic pattern in the noise
residual at period 8 and its harmonics (4, 8/3, 2): sharp peaks in its Fourier spectrum that
camera noise (white, from photon and read noise) does not have. Generators also get the fall-off
of high-frequency energy wrong, which the radial profile measures. JPEG's 8x8 blocks also
produce period-8 peaks; the JPEG extractor measures those separately so a model can tell apart
"blocky because compressed" from "periodic because decoded".
"""
from __future__ import annotations

import numpy as np
# scipy.fft is 3-5x faster than numpy.fft for 2-D transforms (results equal to ~1e-15); imported on
# first use, since importing it costs ~0.2 s and the shipped model does not read these features.

from ._common import as_float_rgb, laplacian_residual, luma, safe_log

#: (name, period, direction): frequency N/period along an axis or the diagonal.
PEAKS = (
    ("p8_axis", 8, "axis"), ("p8_diag", 8, "diag"),
    ("p4_axis", 4, "axis"), ("p4_diag", 4, "diag"),
    ("p8_3_axis", 8 / 3, "axis"),
    ("p2_axis", 2, "axis"), ("p2_diag", 2, "diag"),
)
RADIAL_BANDS = 8

NAMES = tuple(f"spec_{n}" for n, _, _ in PEAKS) + ("spec_lattice8",) + tuple(
    f"spec_radial_{i}" for i in range(RADIAL_BANDS)) + ("spec_axis_energy",)

FACETS = {
    "spec_p8": "period-8 peaks in the noise-residual spectrum (VAE decoder / 8x up-sampling)",
    "spec_p4": "period-4 peaks in the noise-residual spectrum (up-sampling layers)",
    "spec_p2": "period-2 peaks in the noise-residual spectrum (2x up-sampling, checkerboard)",
    "spec_lattice8": "the 8x8 lattice of spectral peaks (decoder patches or JPEG blocks)",
    "spec_radial": "radial energy profile of the noise residual (high-frequency fall-off)",
    "spec_axis": "energy along the horizontal/vertical frequency axes",
}


def residual_power(rgb: np.ndarray) -> np.ndarray:
    """Power spectrum (unshifted, DC at [0, 0]) of the luma noise residual, normalised to sum 1."""
    import scipy.fft

    r = laplacian_residual(luma(as_float_rgb(rgb)))
    p = np.abs(scipy.fft.fft2(r - r.mean())) ** 2
    return p / max(p.sum(), 1e-12)


def peak_ratios(power: np.ndarray, peaks: np.ndarray, radius: int = 2) -> np.ndarray:
    """For each (ky, kx) row of ``peaks``: log of the power there over the median of its
    (2r+1)^2 neighbourhood without the centre (indices wrap)."""
    h, w = power.shape
    offsets = np.arange(-radius, radius + 1)
    ys = (peaks[:, 0, None, None] + offsets[None, :, None]) % h
    xs = (peaks[:, 1, None, None] + offsets[None, None, :]) % w
    hood = power[ys, xs].reshape(len(peaks), -1)
    centre = hood[:, hood.shape[1] // 2]
    ring = np.delete(hood, hood.shape[1] // 2, axis=1)
    return safe_log(centre) - safe_log(np.median(ring, axis=1))


def residual_spectrum(rgb: np.ndarray) -> np.ndarray:
    """Peak ratios at periods 8/4/8:3/2, the period-8 lattice and the radial profile."""
    power = residual_power(rgb)
    h, w = power.shape
    points = []
    for _name, period, direction in PEAKS:
        ky, kx = int(round(h / period)) % h, int(round(w / period)) % w
        points += [(0, kx), (ky, 0)] if direction == "axis" else [(ky, kx), (ky, -kx % w)]
    n_pairs = len(points) // 2
    points += [(i * h // 8, j * w // 8) for i in range(8) for j in range(8) if i or j]
    ratios = peak_ratios(power, np.array(points))
    out = (0.5 * (ratios[0:2 * n_pairs:2] + ratios[1:2 * n_pairs:2])).tolist()
    out.append(float(np.mean(ratios[2 * n_pairs:])))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    rho = np.sqrt(fy ** 2 + fx ** 2)
    band = np.minimum((rho / 0.5 * RADIAL_BANDS).astype(int), RADIAL_BANDS)  # corners -> overflow bin
    energy = np.bincount(band.ravel(), weights=power.ravel(), minlength=RADIAL_BANDS + 1)[:RADIAL_BANDS]
    out.extend(safe_log(energy / max(energy.sum(), 1e-12)).tolist())
    axis = (np.abs(fy) < 1.5 / h) | (np.abs(fx) < 1.5 / w)
    out.append(float(safe_log(power[axis].sum() / axis.mean())))
    return np.asarray(out)
