"""provenanceWM's tile: a pattern defined in the Fourier domain of one tile.

Every integer frequency with a radius of 8 to 28 cycles per tile (periods 4.6-16 px on a 128 px
tile) is used once (half plane; the other half is its conjugate): 816 of those 1,130 bins carry
the coded bits (4 bins per bit, spread over the band by a fixed permutation, each with a fixed
random phase, the sign is the bit), the other 314 carry a fixed pilot, the synchronisation
reference. The tile is 128 px, or 128*k px on images at least 512*k px on their short side.
"""
from __future__ import annotations

import numpy as np

from ._wm_code import WM_CODEC

TILE_PX = 128  # tile side in pixels at k = 1
NORM = 96  # samples per tile side on the detector's normalised grid
BAND = (8.0, 28.0)  # kept spatial frequencies, cycles per tile (radius): periods 4.6-16 px at k = 1
# A few pilot bins are strong, the rest weak: the geometric search looks for the lattice in the
# magnitude spectrum (non-coherent), where K peaks of energy E/K stand out as E / sqrt(K) at low
# SNR, so 32 peaks of 9 units beat 314 of 1; the coherent pilot correlation only needs the total.
PILOT_STRONG = 32
PILOT_GAINS = (3.0, 0.5)  # amplitude of the strong and of the other pilot bins (bits: 1)
STRONG_BAND = (9.0, 18.0)  # radius of the strong bins, cycles per tile: they survive a 0.3 resize
BINS_PER_BIT = 4  # 816 of the 1,130 in-band bins carry bits, the other 314 the pilot
_SEED = 0x70726F76574D  # "provWM": fixed and public, like the payload whitening


def _tables():
    """Fixed frequency plan: one in-band Fourier bin per coded bit, the other in-band bins pilot."""
    f = np.fft.fftfreq(NORM, 1.0 / NORM).astype(int)
    ky, kx = np.meshgrid(f, f, indexing="ij")
    r = np.hypot(ky, kx)
    half = (ky > 0) | ((ky == 0) & (kx > 0))
    sel = np.flatnonzero(((r >= BAND[0]) & (r <= BAND[1]) & half).ravel())
    rng = np.random.Generator(np.random.PCG64(_SEED))
    sel = sel[rng.permutation(sel.size)]
    bins = np.column_stack([ky.ravel()[sel], kx.ravel()[sel]])
    phase = np.exp(2j * np.pi * rng.random(sel.size))
    n = WM_CODEC.bits * BINS_PER_BIT  # bit i owns bins i, i + bits, i + 2 * bits, ...
    pilot = bins[n:]
    radius = np.hypot(*pilot.T.astype(np.float64))
    strong = np.flatnonzero((radius >= STRONG_BAND[0]) & (radius <= STRONG_BAND[1]))[:PILOT_STRONG]
    amp = np.full(len(pilot), PILOT_GAINS[1])
    amp[strong] = PILOT_GAINS[0]
    return bins[:n], phase[:n], pilot, phase[n:] * amp, pilot[strong]


BIT_BINS, BIT_PHASE, PILOT_BINS, PILOT_PHASE, STRONG_BINS = _tables()


def tile_spectrum(bits: np.ndarray | None, size: int, gains: np.ndarray | None = None) -> np.ndarray:
    """The tile's spectrum on a ``size`` x ``size`` grid: pilot bins always, bit bins when given
    (each bit's bins scaled by its entry of ``gains``, 1 by default)."""
    spec = np.zeros((size, size), np.complex128)
    bins, values = PILOT_BINS, PILOT_PHASE
    if bits is not None:
        signs = 2.0 * np.asarray(bits, dtype=np.float64) - 1.0
        if gains is not None:
            signs = signs * gains
        bins = np.vstack([bins, BIT_BINS])
        values = np.concatenate([values, BIT_PHASE * np.tile(signs, BINS_PER_BIT)])
    spec[bins[:, 0] % size, bins[:, 1] % size] = values
    spec[-bins[:, 0] % size, -bins[:, 1] % size] = np.conj(values)
    return spec


def render_tile(bits: np.ndarray | None, size: int, gains: np.ndarray | None = None) -> np.ndarray:
    """The periodic, band-passed tile pattern (unit RMS) carrying ``bits``, ``size`` pixels square."""
    tile = np.fft.ifft2(tile_spectrum(bits, size, gains)).real
    return tile / tile.std()


def tile_size_for(height: int, width: int) -> int:
    """Tile side in pixels the embedder uses for an image of this size."""
    return TILE_PX * max(1, min(height, width) // 512)
