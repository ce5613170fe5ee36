"""provenanceWM's embedder: the tile repeated over the image, weighted, capped, informed.

The tile is added equally to R, G and B (a luminance change only), weighted by local activity so
flat regions get a weaker mark (``mark_strength``), then capped so the PSNR stays >= 40 dB
(``TARGET_RMS``). Informed embedding: per-bit gains pre-compensate what the image itself projects
on each bit's carrier (the detector's main noise, measured on the detector's own working copy),
at the same energy.
"""
from __future__ import annotations

import cv2
import numpy as np

from ._wm_fold import fold_tile, luma, pilot_sync, soft_bits, whitened_spectrum, working_luma
from ._wm_tile import render_tile, tile_size_for

INFORMED_TARGET = 1.5  # per-bit margin the informed embedding aims for, in units of the mark's own response
INFORMED_GAINS = (0.25, 3.0)  # bounds of a bit's gain before normalisation
TARGET_RMS = 2.45  # luminance change RMS cap: PSNR >= 40 dB after rounding (2.45^2 + 1/12 = 6.1 < 6.5)


def mark_strength(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel mark amplitude: more where the image is busy (masking), at least 0.9 grey levels."""
    h, w = rgb.shape[:2]
    y = luma(rgb)
    # Local activity (std in a 9x9 window) on a quarter-size copy: cheap, and smooth enough
    # that the weighting itself adds no edges.
    small = cv2.resize(y, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    m = cv2.blur(small, (3, 3))
    var = np.maximum(cv2.blur(small * small, (3, 3)) - m * m, 0.0)
    act = cv2.resize(np.sqrt(var), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(0.9 + 0.35 * act, 0.9, 4.5).astype(np.float32)


def _pattern(strength: np.ndarray, tile: np.ndarray, cap: float = TARGET_RMS) -> np.ndarray:
    """The luminance change: the tile repeated over the image times the strength, RMS-capped."""
    h, w = strength.shape
    t = tile.shape[0]
    return rms_capped(strength * np.tile(tile.astype(np.float32), (-(-h // t), -(-w // t)))[:h, :w], cap)


def rms_capped(delta: np.ndarray, cap: float = TARGET_RMS) -> np.ndarray:
    """``delta`` scaled down (in place) to RMS ``cap`` if it is above: the PSNR budget."""
    rms = float(np.sqrt(np.mean(delta * delta)))
    if rms > cap:
        delta *= np.float32(cap / rms)
    return delta


def _add_luma(rgb: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``rgb`` + ``delta`` on every channel, rounded and saturated (rgb is whole, so rounding the
    delta first is the same as rounding the sum)."""
    d = np.rint(delta)
    up = np.clip(d, 0, 255).astype(np.uint8)
    down = np.clip(-d, 0, 255).astype(np.uint8)
    return cv2.subtract(cv2.add(rgb, cv2.merge([up, up, up])), cv2.merge([down, down, down]))


def _bit_projections(y: np.ndarray, period: float, offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What the detector's matched filter gives for every bit of the working luminance ``y`` at
    the embedder's own geometry (and the pilot offset it used): soft values before decoding."""
    folded = fold_tile(y, np.array([period, 0.0]), np.array([0.0, period]))
    spec = whitened_spectrum(folded)
    if offset is None:
        offset = pilot_sync(spec)[1]
    return soft_bits(spec, offset), offset


def embed_pattern(rgb: np.ndarray, bits: np.ndarray, *, gain: float = 1.0) -> np.ndarray:
    """Add the tiled pattern carrying ``bits`` to ``rgb`` (uint8 RGB), activity-weighted, with
    per-bit gains that pre-compensate the image's own interference (informed embedding).

    The image itself projects onto every bit's carrier: that is the detector's main noise, and
    the embedder knows it. On the detector's working copy, a mark with equal gains gives the
    mark's own response G per bit and the image alone its projection H. Bits the image works
    against get a larger gain (``INFORMED_TARGET - H / G``, clipped to ``INFORMED_GAINS``), bits
    it already helps a smaller one, at the same total energy (gains normalised to RMS 1).
    """
    h, w = rgb.shape[:2]
    t = tile_size_for(h, w)
    strength = mark_strength(rgb) * np.float32(gain)
    cap = TARGET_RMS * gain
    y, s = working_luma(rgb)
    first = _pattern(strength, render_tile(bits, t), cap)
    if s < 1.0:
        first = cv2.resize(first, (y.shape[1], y.shape[0]), interpolation=cv2.INTER_AREA)
    sign = 2.0 * np.asarray(bits, np.float64) - 1.0
    marked, offset = _bit_projections(y + first, t * s)
    host, _ = _bit_projections(y, t * s, offset)
    response = float(np.mean(sign * (marked - host)))
    gains = None
    if response > 0:  # else nothing measurable (a flat or tiny image): equal gains
        gains = np.clip(INFORMED_TARGET - sign * host / response, *INFORMED_GAINS)
        gains /= np.sqrt(np.mean(gains * gains))
    return _add_luma(rgb, _pattern(strength, render_tile(bits, t, gains), cap))
