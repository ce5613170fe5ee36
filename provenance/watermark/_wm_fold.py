"""How provenanceWM's detector reads one tile lattice: the working copy, the fold, the pilot.

The detector works on a luminance copy of at most ``WORK_PIXELS``. For a lattice (tile vectors
v1, v2 in working pixels) the image is resampled onto the tile's own grid (``NORM`` samples per
tile), high-passed, locally normalised and folded modulo the tile (``fold_tile``); the folded
tile's whitened spectrum is correlated with the pilot, whose peak gives the offset (where a crop
started: ``pilot_sync``), and the matched filter per bit gives the soft values (``soft_bits``).
"""
from __future__ import annotations

import cv2
import numpy as np

from ._wm_tile import BAND, BINS_PER_BIT, BIT_BINS, BIT_PHASE, NORM, tile_spectrum

WORK_PIXELS = 512 * 512  # the detector works at most at this many pixels
#: The mirror images the detector undoes, as (row, column) signs of the tile grid: none, a
#: horizontal flip, a vertical flip, both (a 180-degree rotation). A flip mirrors the folded tile,
#: which is a re-indexing of its spectrum: each costs one pilot correlation, not a fold.
FLIPS = ((1, 1), (1, -1), (-1, 1), (-1, -1))
# The fold divides the residual by its local level (sigma LOCAL_NORM normalised samples) plus
# LEVEL_FLOOR grey levels: image content is the noise, and it is far from stationary. A tight
# window (1 sample) measured best: the median per-bit SNR after a 50% crop went 2.0 -> 2.7 and
# a 25% crop 1.41 -> 1.58 against sigma 4 / floor 1 (20 bench images, geometry known).
LOCAL_NORM = 1.0
LEVEL_FLOOR = 0.5
# ... and weighted by 1 / (its level over a wider window, sigma BUSY_SIGMA samples, + BUSY_FLOOR):
# busy neighbourhoods count less. The four crops of the 40 bench images (geometry known, 3 id
# draws): 412 of 480 decoded against 391, median per-bit SNR after a 25% centre crop 1.85-1.90 ->
# 2.06-2.25. A floor of 4 gained a little more on crops (419) but lost JPEG q30 (115 of 120 against
# 120: there the mark survives mostly in busy regions); 12 loses 1 (119).
HP_SIGMA = 1.5
BUSY_SIGMA = HP_SIGMA  # the high-pass window: its normaliser (the blurred valid mask) is shared
BUSY_FLOOR = 12.0


def _detector_tables():
    fy = np.fft.fftfreq(NORM, 1.0 / NORM)
    radius = np.hypot(fy[:, None], fy[None, :])
    return (tile_spectrum(None, NORM), (radius >= BAND[0]) & (radius <= BAND[1]),
            np.rint(radius).astype(int))


_PILOT_SPEC, _BAND64, _RING64 = _detector_tables()


def luma(rgb: np.ndarray) -> np.ndarray:
    """The luminance the mark lives in (float32), as the embedder and the detector both see it."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def working_luma(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """The detector's working copy: the luminance reduced to at most ``WORK_PIXELS``, and its
    scale (working / input px)."""
    y = luma(rgb)
    h, w = y.shape
    s = min(1.0, (WORK_PIXELS / (h * w)) ** 0.5)
    if s < 1.0:
        y = cv2.resize(y, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return y, s


def highpass(y: np.ndarray, sigma: float) -> np.ndarray:
    return y - cv2.GaussianBlur(y, (0, 0), sigma)


def normalised_residual(z: np.ndarray, valid: np.ndarray, unit: float = 1.0) -> np.ndarray:
    """The detector's view of ``z`` where ``valid``: high-passed, divided by its local level,
    weighted by its neighbourhood's reliability, clipped. Windows are in units of ``unit`` pixels
    per sample (1 on the normalised tile grid, where the fold calls it)."""
    blur_v = cv2.GaussianBlur(valid, (0, 0), HP_SIGMA * unit)
    hp = (z - cv2.GaussianBlur(z * valid, (0, 0), HP_SIGMA * unit) / np.maximum(blur_v, 1e-3)) * valid
    if LOCAL_NORM:
        # Image content is the noise here, and it is far from stationary: divide the residual by
        # its local level so textured regions and edges do not drown the flat ones.
        level = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), LOCAL_NORM * unit) / np.maximum(blur_v, 1e-3))
        # Then weight by the neighbourhood's reliability: a busy neighbourhood (a wider window)
        # carries more image noise per unit of mark, so it counts less (a matched filter weights
        # by signal / noise variance). Measured on crops: docs/WATERMARK.md.
        wide = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), BUSY_SIGMA * unit) / np.maximum(blur_v, 1e-3))
        hp = hp / ((level + LEVEL_FLOOR) * (wide + BUSY_FLOOR)) * valid
    # Clip the residual so strong edges (and black rotation corners) do not dominate the fold.
    s = np.std(hp[valid > 0]) if np.any(valid > 0) else 1.0
    hp = np.clip(hp, -3 * s, 3 * s)
    return hp


def fold_tile(y: np.ndarray, v1: np.ndarray, v2: np.ndarray) -> np.ndarray | None:
    """Resample ``y`` onto the tile grid spanned by v1, v2 (one tile = NORM samples) and fold it."""
    h, w = y.shape
    m = np.column_stack([v1, v2]) / NORM  # normalised -> image pixels
    try:
        inv = np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return None
    corners = inv @ np.array([[0, w, 0, w], [0, 0, h, h]], float)
    q0 = np.floor(corners.min(axis=1)).astype(int)
    q1 = np.ceil(corners.max(axis=1)).astype(int)
    size = q1 - q0
    if size.min() < NORM // 2:
        return None
    # A short period on a large image means many tiles: 8 x 8 of them (the central ones) are plenty,
    # and resampling all of them would cost seconds for lattices the search proposes on unmarked images.
    cap = 8 * NORM
    q0 = q0 + np.maximum(size - cap, 0) // 2
    size = np.minimum(size, cap)
    a = np.hstack([m, (m @ q0.astype(float))[:, None]]).astype(np.float64)
    z = cv2.warpAffine(y, a, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = cv2.warpAffine(np.ones_like(y), a, (int(size[0]), int(size[1])),
                           flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
    valid = cv2.erode(valid, np.ones((3, 3), np.uint8))
    hp = normalised_residual(z, valid)
    oy, ox = int(q0[1] % NORM), int(q0[0] % NORM)
    ny, nx = -(-(size[1] + oy) // NORM), -(-(size[0] + ox) // NORM)
    acc = np.zeros((ny * NORM, nx * NORM), np.float32)
    cnt = np.zeros_like(acc)
    acc[oy:oy + size[1], ox:ox + size[0]] = hp
    cnt[oy:oy + size[1], ox:ox + size[0]] = valid
    fs = acc.reshape(ny, NORM, nx, NORM).sum(axis=(0, 2))
    fc = cnt.reshape(ny, NORM, nx, NORM).sum(axis=(0, 2))
    if fc.min() < 1:
        return None
    return fs / fc


def whitened_spectrum(folded: np.ndarray) -> np.ndarray:
    spec = np.fft.fft2(folded)
    power = np.abs(spec) ** 2
    ring = np.bincount(_RING64.ravel(), power.ravel()) / np.maximum(np.bincount(_RING64.ravel()), 1)
    return np.where(_BAND64, spec / np.sqrt(ring[_RING64] + 1e-9), 0)


def flipped(spec: np.ndarray, flip: tuple[int, int]) -> np.ndarray:
    """The folded tile's spectrum as it would be had the image been mirrored by ``flip`` (row and
    column signs, ``FLIPS``): tile sample (r, c) moves to (sy r, sx c), bin (ky, kx) likewise."""
    if flip == (1, 1):
        return spec
    iy = (flip[0] * np.arange(NORM)) % NORM
    ix = (flip[1] * np.arange(NORM)) % NORM
    return spec[iy[:, None], ix[None, :]]


def _peak_z(corr: np.ndarray) -> tuple[float, int]:
    """Peak of a correlation surface in standard deviations of the rest of it, and where it is."""
    flat = corr.ravel()
    i = int(np.argmax(flat))
    n = flat.size - 1
    peak = float(flat[i])
    mean = (float(flat.sum()) - peak) / n
    var = max((float(np.dot(flat, flat)) - peak * peak) / n - mean * mean, 0.0)
    return (peak - mean) / (var ** 0.5 + 1e-12), i


def pilot_sync(spec: np.ndarray) -> tuple[float, np.ndarray]:
    """Pilot correlation over every cyclic offset: peak z-score and the (sub-sample) offset."""
    corr = np.fft.ifft2(spec * np.conj(_PILOT_SPEC)).real
    z, i = _peak_z(corr)
    py, px = divmod(i, NORM)

    def off(m, c, p):
        d = m - 2 * c + p
        return 0.0 if d >= 0 else 0.5 * (m - p) / d
    dy = off(corr[(py - 1) % NORM, px], corr[py, px], corr[(py + 1) % NORM, px])
    dx = off(corr[py, (px - 1) % NORM], corr[py, px], corr[py, (px + 1) % NORM])
    return z, np.array([py + dy, px + dx])


def soft_bits(spec: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Matched filter per bit: the aligned, whitened coefficient of its bin against its phase."""
    ky, kx = BIT_BINS[:, 0], BIT_BINS[:, 1]
    coef = spec[ky % NORM, kx % NORM] * np.exp(2j * np.pi * (ky * offset[0] + kx * offset[1]) / NORM)
    return (coef * np.conj(BIT_PHASE)).real.reshape(BINS_PER_BIT, -1).sum(axis=0)
