"""provenanceWM: our own watermark, a periodic spread-spectrum tile in the luminance.

Design (docs/WATERMARK.md explains it with the measurements):

* **Payload**: the content id's first 48 bits + CRC-32, BCH(m=8, t=16) -> 204 bits, whitened
  (``WM_CODEC``).
* **Tile**: a pattern defined in the Fourier domain of one tile. Every integer frequency with a
  radius of 8 to 28 cycles per tile (periods 4.6-16 px on a 128 px tile) is used once (half plane;
  the other half is its conjugate): 816 of those 1,130 bins carry the coded bits (4 bins per bit,
  spread over the band by a fixed permutation, each with a fixed random phase, the sign is the
  bit), the other 314 carry a fixed pilot, the synchronisation reference.
* **Embed**: the tile (128 px, or 128*k px on images at least 512*k px on their short side) is
  repeated over the whole image and added equally to R, G and B (a luminance change only),
  weighted by local activity so flat regions get a weaker mark, then capped so the PSNR stays
  >= 40 dB. Informed embedding: per-bit gains pre-compensate what the image itself projects on
  each bit's carrier (the detector's main noise), at the same energy.
* **Detect**: first at the embedder's own geometry (untouched, re-encoded, filtered or only
  cropped copies; this is all the default ``scan`` does). Then the geometric search: the tiling
  puts the mark's energy on a lattice of spectral peaks, 32 of them strong (a template). Candidate
  lattices come from a rotation-free scan of every period, scans that stretch one axis only, and
  the cepstrum (spectrum of the whitened magnitude spectrum, which peaks at the tile vectors)
  with scale x rotation searched around its periods; the best are refined to sub-bin precision.
  For each, the image is resampled onto the tile's own grid (96 samples per tile), high-passed,
  locally normalised and folded modulo the tile; the folded tile is correlated with the pilot,
  whose peak gives the offset (where a crop started).
* **Decode**: matched filter per bit (soft values), BCH (t = 16) on the hard decisions, else an
  ordered-statistics soft decoder (``_soft_decode``); a word is accepted only within
  ``ACCEPT_DISTANCE`` flips of a codeword. At most ``MAX_DECODES`` hypotheses are decoded per
  image, so the reported false-positive probability is that many times the bound for one decode
  (union bound): 2.3e-10.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np
from scipy import fft as _sfft

from ._base import WatermarkMethod, WatermarkResult
from ._soft_decode import DistanceCodec, soft_decode

if TYPE_CHECKING:
    from ._localize import WatermarkMap

MAX_DECODES = 4  # hypotheses decoded per image at most: multiplies the false-positive bound


#: Accepted words lie within this many bit flips of a codeword (BCH alone corrects 16; the OSD
#: soft decoder finds codewords up to here). With MAX_DECODES words tried per image the bound is
#: 4 x 2^48 x V(204, 31) / 2^204 = 2.3e-10 (``DistanceCodec``).
ACCEPT_DISTANCE = 31

#: The first 48 bits of the content id + CRC-32 + BCH(m=8, t=16): 80 + 124 = 204 bits. The bound
#: counts the 2^48 valid words: with the full 64-bit id (CRC-16) it allowed only 25 flips for the
#: same 2.5e-10, and the 6 more that 48 bits allow are what the 25%-area crops of busy images
#: need (docs/WATERMARK.md). 48 bits still name one stamp among millions in a registry.
WM_CODEC = DistanceCodec(name="id48-crc32-bch16", bits=204, id_bits=48, crc_bits=32, bch_t=16,
                         accept_distance=ACCEPT_DISTANCE, attempts=MAX_DECODES)

TILE_PX = 128  # tile side in pixels at k = 1
NORM = 96  # samples per tile side on the detector's normalised grid
BAND = (8.0, 28.0)  # kept spatial frequencies, cycles per tile (radius): periods 4.6-16 px at k = 1
INFORMED_TARGET = 1.5  # per-bit margin the informed embedding aims for, in units of the mark's own response
INFORMED_GAINS = (0.25, 3.0)  # bounds of a bit's gain before normalisation
TARGET_RMS = 2.45  # luminance change RMS cap: PSNR >= 40 dB after rounding (2.45^2 + 1/12 = 6.1 < 6.5)
#: The amplitudes ``embed`` tries in turn until its own fast scan decodes the mark: the 40 dB mark
#: first, then 1.26x and 1.58x as strong (PSNR >= ~38 and ~36 dB) for the few small, busy images
#: where 40 dB is not enough.
EMBED_GAINS = (1.0, 1.26, 1.58)
WORK_PIXELS = 512 * 512  # the detector works at most at this many pixels
# A few pilot bins are strong, the rest weak: the geometric search looks for the lattice in the
# magnitude spectrum (non-coherent), where K peaks of energy E/K stand out as E / sqrt(K) at low
# SNR, so 32 peaks of 9 units beat 314 of 1; the coherent pilot correlation only needs the total.
PILOT_STRONG = 32
PILOT_GAINS = (3.0, 0.5)  # amplitude of the strong and of the other pilot bins (bits: 1)
STRONG_BAND = (9.0, 18.0)  # radius of the strong bins, cycles per tile: they survive a 0.3 resize
BINS_PER_BIT = 4  # 816 of the 1,130 in-band bins carry bits, the other 314 the pilot
SCALE_SCAN_KEEP = 3  # best periods of the rotation-free scale scan added to the candidates
PROXY_SCAN_KEEP = 11  # ... and down to this rank, checked by the pilot proxy only (``_geometry_candidates``)
CEPSTRUM_SEEDS = 10  # periods the geometric search looks around
SYNC_Z = 4.0  # pilot peak (in standard deviations) a hypothesis needs before it is decoded
#: A searched lattice is folded only when the pilot, read straight off the working copy's spectrum
#: at that lattice's frequencies, peaks at this z or more (``_pilot_proxies``). On unmarked shared
#: images the best proxy of any candidate was under 5.2 (99% under 4.9); every searched lattice
#: that decoded on the bench images had a proxy of 6.1 or more (docs/WATERMARK.md). It is what
#: makes the search cheap on unmarked images: a fold costs 4 ms, a proxy 0.3 ms.
PROXY_Z = 5.0
#: A candidate whose proxy reaches this is first moved (+-0.9% scale) to where its proxy peaks.
PROXY_NEAR = 4.5
#: Hypotheses the fast scan never makes (mirrored ones, searched ones) are decoded only from this
#: pilot z up: there are more of them, so noise reaches z = 4 more often (on one in nine unmarked
#: images per hypothesis), and every mark that decoded on the bench images had z > 5.1.
EXTRA_Z = 5.0
#: The mirror images the detector undoes, as (row, column) signs of the tile grid: none, a
#: horizontal flip, a vertical flip, both (a 180-degree rotation). A flip mirrors the folded tile,
#: which is a re-indexing of its spectrum: each costs one pilot correlation, not a fold.
FLIPS = ((1, 1), (1, -1), (-1, 1), (-1, -1))
MIN_DETECT = (96, 96)  # smallest image the detector looks at (embedding needs ``min_size``)
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
SPECTRAL_FLOOR = 0.5  # the same floor for the geometric search's residual
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


_BIT_BINS, _BIT_PHASE, _PILOT_BINS, _PILOT_PHASE, _STRONG_BINS = _tables()


def _tile_spectrum(bits: np.ndarray | None, size: int, gains: np.ndarray | None = None) -> np.ndarray:
    """The tile's spectrum on a ``size`` x ``size`` grid: pilot bins always, bit bins when given
    (each bit's bins scaled by its entry of ``gains``, 1 by default)."""
    spec = np.zeros((size, size), np.complex128)
    bins, values = _PILOT_BINS, _PILOT_PHASE
    if bits is not None:
        signs = 2.0 * np.asarray(bits, dtype=np.float64) - 1.0
        if gains is not None:
            signs = signs * gains
        bins = np.vstack([bins, _BIT_BINS])
        values = np.concatenate([values, _BIT_PHASE * np.tile(signs, BINS_PER_BIT)])
    spec[bins[:, 0] % size, bins[:, 1] % size] = values
    spec[-bins[:, 0] % size, -bins[:, 1] % size] = np.conj(values)
    return spec


def render_tile(bits: np.ndarray | None, size: int, gains: np.ndarray | None = None) -> np.ndarray:
    """The periodic, band-passed tile pattern (unit RMS) carrying ``bits``, ``size`` pixels square."""
    tile = np.fft.ifft2(_tile_spectrum(bits, size, gains)).real
    return tile / tile.std()


def _detector_tables():
    fy = np.fft.fftfreq(NORM, 1.0 / NORM)
    radius = np.hypot(fy[:, None], fy[None, :])
    return (_tile_spectrum(None, NORM), (radius >= BAND[0]) & (radius <= BAND[1]),
            np.rint(radius).astype(int))


_PILOT_SPEC, _BAND64, _RING64 = _detector_tables()


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def tile_size_for(height: int, width: int) -> int:
    """Tile side in pixels the embedder uses for an image of this size."""
    return TILE_PX * max(1, min(height, width) // 512)


def _strength(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel mark amplitude: more where the image is busy (masking), at least 0.9 grey levels."""
    h, w = rgb.shape[:2]
    y = _luma(rgb)
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
    folded = _fold(y, np.array([period, 0.0]), np.array([0.0, period]))
    spec = _whitened_spectrum(folded)
    if offset is None:
        offset = _sync(spec)[1]
    return _soft_bits(spec, offset), offset


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
    strength = _strength(rgb) * np.float32(gain)
    cap = TARGET_RMS * gain
    y, s = _working_luma(rgb)
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


# ----------------------------------------------------------------------------- detection


def _highpass(y: np.ndarray, sigma: float) -> np.ndarray:
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


def _fold(y: np.ndarray, v1: np.ndarray, v2: np.ndarray) -> np.ndarray | None:
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


def _whitened_spectrum(folded: np.ndarray) -> np.ndarray:
    spec = np.fft.fft2(folded)
    power = np.abs(spec) ** 2
    ring = np.bincount(_RING64.ravel(), power.ravel()) / np.maximum(np.bincount(_RING64.ravel()), 1)
    return np.where(_BAND64, spec / np.sqrt(ring[_RING64] + 1e-9), 0)


def _flipped(spec: np.ndarray, flip: tuple[int, int]) -> np.ndarray:
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


def _sync(spec: np.ndarray) -> tuple[float, np.ndarray]:
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


def _soft_bits(spec: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Matched filter per bit: the aligned, whitened coefficient of its bin against its phase."""
    ky, kx = _BIT_BINS[:, 0], _BIT_BINS[:, 1]
    coef = spec[ky % NORM, kx % NORM] * np.exp(2j * np.pi * (ky * offset[0] + kx * offset[1]) / NORM)
    return (coef * np.conj(_BIT_PHASE)).real.reshape(BINS_PER_BIT, -1).sum(axis=0)


#: What the geometric search scores a lattice on: the strong pilot frequencies, as (kx, ky), and
#: their mirror image (kx negated). A flipped image puts its peaks on the mirrored set (a
#: vertical flip too: magnitudes are symmetric, |X(-f)| = |X(f)|), so every lattice is scored
#: against both, and a lattice found by the mirrored one is a flipped copy.
_TEMPLATE = _STRONG_BINS[:, ::-1].astype(np.float64)
_TEMPLATES = np.stack([_TEMPLATE, _TEMPLATE * np.array([-1.0, 1.0])])
#: The flips each template stands for (``FLIPS``): the first holds the unmirrored tile and its
#: 180-degree rotation, the second the horizontally and the vertically flipped one.
_TEMPLATE_FLIPS = (((1, 1), (-1, -1)), ((1, -1), (-1, 1)))


def _spectral_map(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|FFT| of the residual over its local mean: the tile lattice shows as isolated peaks. And
    for the pilot proxy (``_pilot_proxies``) the complex spectrum (h x w x 2: real, imaginary) and
    that local mean: the proxy reads a few hundred bins, so nothing else is divided."""
    spec = cv2.dft(np.ascontiguousarray(r, np.float32), flags=cv2.DFT_COMPLEX_OUTPUT)
    mag = cv2.magnitude(spec[..., 0], spec[..., 1])
    mag[0, 0] = 0
    level = cv2.blur(mag, (9, 9)) + 1e-6
    # Capped: JPEG's 8x8 grid (or a resized copy of it) makes a few huge peaks, and the template
    # score must count how many lattice points carry a peak, not how tall a few of them are.
    return np.minimum(mag / level, 4.0), (spec, level)


def _score(smap: np.ndarray, mats: np.ndarray, templates: np.ndarray = _TEMPLATES, *,
           interpolate: bool = False) -> np.ndarray:
    """Mean spectral-map value over each template (``templates``: T x points x (kx, ky)) under
    each 2x2 frequency map in ``mats``: an (n, T) array."""
    h, w = smap.shape
    m = mats.astype(np.float32)
    kx, ky = templates[..., 0].astype(np.float32), templates[..., 1].astype(np.float32)
    # Broadcast products, not matmul: a BLAS call per hypothesis costs more than the arithmetic.
    x = (m[:, 0, 0, None, None] * kx + m[:, 0, 1, None, None] * ky) * w  # (n, T, points), bins
    y = (m[:, 1, 0, None, None] * kx + m[:, 1, 1, None, None] * ky) * h
    if not interpolate:
        # Nearest bin: floor(x + 0.5) on a positive copy (frequencies are well within +-64 periods
        # of the map), cheaper than rint then a signed modulo.
        ix = (x + np.float32(64 * w + 0.5)).astype(np.int32) % w
        iy = (y + np.float32(64 * h + 0.5)).astype(np.int32) % h
        return smap.ravel()[iy * w + ix].mean(axis=2)
    x0, y0 = np.floor(x), np.floor(y)
    ax, ay = x - x0, y - y0
    x0, y0 = x0.astype(np.int32) % w, y0.astype(np.int32) % h
    x1, y1 = (x0 + 1) % w, (y0 + 1) % h
    v = ((1 - ay) * ((1 - ax) * smap[y0, x0] + ax * smap[y0, x1])
         + ay * ((1 - ax) * smap[y1, x0] + ax * smap[y1, x1]))
    return v.mean(axis=2)


@lru_cache(maxsize=8)
def _cepstrum_band(h: int, w: int) -> np.ndarray:
    """The frequencies whose spectral map enters the cepstrum (radius 0.04-0.45 cycles per px)."""
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.fftfreq(w).astype(np.float32)[None, :]
    rad = np.hypot(fy, fx)
    return ((rad > 0.04) & (rad < 0.45)).astype(np.float32)


def _residual_maps(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The residual's whitened magnitude spectrum, its cepstrum (the spectrum of that spectrum,
    fftshifted: lag 0 in the middle) and its whitened complex spectrum. A tiled mark is a lattice
    of spectral peaks, so the cepstrum has peaks at the tile vectors themselves, in pixels."""
    h, w = y.shape
    r = _highpass(y, 2.0)
    level = np.sqrt(cv2.GaussianBlur(r * r, (0, 0), 1.5))
    r = np.clip(r / (level + SPECTRAL_FLOOR), -2.5, 2.5).astype(np.float32)
    white, coherent = _spectral_map(r)
    band = (white - np.float32(white.mean())) * _cepstrum_band(h, w)
    # |X(-f)| = |X(f)|: the map is symmetric, so its inverse transform is real.
    ceps = cv2.dft(band, flags=cv2.DFT_INVERSE | cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    return white, np.fft.fftshift(np.abs(ceps)), coherent


@lru_cache(maxsize=8)
def _lag_tables(h: int, w: int, pmin: float, pmax: float):
    """Per cepstrum shape and period range: the flat indices of the lags a seed may come from
    (length pmin-pmax, half plane, within 10 degrees of an axis) with their lengths and axes; the
    half plane's lags up to pmax + 1 with their integer rings, and each ring's size. The cepstrum
    is even (c(-l) = c(l)), so the half plane holds every ring's values."""
    ly = np.arange(h, dtype=np.float32)[:, None] - h // 2
    lx = np.arange(w, dtype=np.float32)[None, :] - w // 2
    length = np.hypot(ly, lx)
    angle = np.degrees(np.arctan2(ly, lx)) % 90.0
    half = (ly > 0) | ((ly == 0) & (lx > 0))
    near_axis = ((angle < 10.0) | (angle > 80.0)) & half
    seeds = np.flatnonzero((near_axis & (length >= pmin) & (length <= pmax)).ravel())
    ly_b, lx_b = np.broadcast_arrays(ly, lx)
    on_x = np.abs(lx_b.ravel()[seeds]) >= np.abs(ly_b.ravel()[seeds])
    ring_lags = np.flatnonzero((half & (length <= pmax + 1)).ravel())
    rings = np.rint(length.ravel()[ring_lags]).astype(np.int32)
    return seeds, length.ravel()[seeds], on_x, ring_lags, rings, np.maximum(np.bincount(rings), 1)


def _cepstrum_seeds(ceps: np.ndarray, pmin: float, pmax: float, count: int = CEPSTRUM_SEEDS) -> list[tuple[float, str]]:
    """Tile periods from the cepstrum's peaks within 10 degrees of an axis, with the axis they lie
    on ("x" or "y"): the strongest ones, and the strongest against their own ring of lags (long
    lags carry more of the image's own structure, which can crowd out the tile's peak)."""
    h, w = ceps.shape
    lags, lengths, on_x, ring_lags, rings, cnt = _lag_tables(h, w, pmin, pmax)
    flat = ceps.ravel()
    is_peak = flat[lags] == cv2.dilate(ceps, np.ones((3, 3), np.uint8)).ravel()[lags]
    lags, lengths, on_x = lags[is_peak], lengths[is_peak], on_x[is_peak]
    values = flat[ring_lags].astype(np.float64)
    mean = np.bincount(rings, values) / cnt
    std = np.sqrt(np.maximum(np.bincount(rings, values * values) / cnt - mean * mean, 1e-12))
    ring = np.rint(lengths).astype(np.int32)
    raw = flat[lags]
    seeds: list[tuple[float, str]] = []
    for order in (np.argsort(raw)[::-1], np.argsort((raw - mean[ring]) / std[ring])[::-1]):
        taken = 0
        for k in order:
            if taken == count // 2:
                break
            p = float(lengths[k])
            axis = "x" if on_x[k] else "y"
            if all(abs(np.log(p / q)) > 0.02 or axis != a for q, a in seeds):
                seeds.append((p, axis))
                taken += 1
    return seeds


def _local_maxima(col: np.ndarray) -> np.ndarray:
    """Indices where a scan's score is at least its neighbours' (an end: its one neighbour's)."""
    padded = np.concatenate([[-np.inf], col, [-np.inf]])
    return np.flatnonzero((col >= padded[:-2]) & (col >= padded[2:]))


def _rot_grid(periods: np.ndarray, thetas: np.ndarray):
    p, t = np.meshgrid(periods, thetas, indexing="ij")
    p, t = p.ravel(), t.ravel()
    c, s_ = np.cos(t) / p, np.sin(t) / p
    mats = np.stack([np.stack([c, -s_], -1), np.stack([s_, c], -1)], 1)  # f = R(t) k / p

    def vs(i):
        return (np.array([p[i] * np.cos(t[i]), p[i] * np.sin(t[i])]),
                np.array([-p[i] * np.sin(t[i]), p[i] * np.cos(t[i])]))
    return mats, vs


def _aspect_grid(px: np.ndarray, py: np.ndarray):
    a, b = np.broadcast_arrays(px, py)
    a, b = a.ravel(), b.ravel()
    z = np.zeros_like(a)
    mats = np.stack([np.stack([1 / a, z], -1), np.stack([z, 1 / b], -1)], 1)

    def vs(i):
        return np.array([a[i], 0.0]), np.array([0.0, b[i]])
    return mats, vs


def _best(smap: np.ndarray, grid, *, interpolate: bool, templates: np.ndarray = _TEMPLATES
          ) -> tuple[float, tuple[np.ndarray, np.ndarray], int]:
    """The grid's best lattice over every template: (score, lattice, template index)."""
    mats, vs = grid
    sc = _score(smap, mats, templates, interpolate=interpolate)
    i, t = divmod(int(np.argmax(sc)), sc.shape[1])
    return float(sc[i, t]), vs(i), t


def _refine(white: np.ndarray, lattice: tuple[np.ndarray, np.ndarray], t: int = 0
            ) -> tuple[float, tuple[np.ndarray, np.ndarray], int]:
    """Sub-bin refinement on the undilated map against template ``t``, one parameter at a time
    (scale +-1.5% in 0.15% steps, then rotation +-0.3 degrees in 0.05 degree steps, or the two
    axes of a stretched lattice in turn): the score is close to separable there, and a joint
    grid costs 10x more."""
    tpl = _TEMPLATES[t:t + 1]
    fine = np.exp(np.arange(-0.015, 0.01501, 0.0015))
    v1, v2 = lattice
    p1, p2 = np.hypot(*v1), np.hypot(*v2)
    if abs(p1 - p2) < 1e-6 * p1:
        a = np.arctan2(v1[1], v1[0])
        _, (v1, _), _ = _best(white, _rot_grid(p1 * fine, np.array([a])), interpolate=True, templates=tpl)
        p1 = np.hypot(*v1)
        turns = a + np.radians(np.arange(-0.3, 0.301, 0.05))
        _, (v1, _), _ = _best(white, _rot_grid(np.array([p1]), turns), interpolate=True, templates=tpl)
        a = np.arctan2(v1[1], v1[0])
        score, found, _ = _best(white, _rot_grid(p1 * fine[5:-5], np.array([a])), interpolate=True, templates=tpl)
        return score, found, t
    _, (v1, _), _ = _best(white, _aspect_grid(p1 * fine, np.array([p2])), interpolate=True, templates=tpl)
    score, found, _ = _best(white, _aspect_grid(np.array([v1[0]]), p2 * fine), interpolate=True, templates=tpl)
    return score, found, t


Lattice = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Candidate:
    """A lattice the geometric search proposes (v1, v2 in working pixels), the flips its
    template stands for, and the proxy pilot z of the best of them (``_pilot_proxies``)."""

    v1: np.ndarray
    v2: np.ndarray
    flips: tuple[tuple[int, int], ...]
    proxy_z: float


def _dirichlet(d: np.ndarray, n: int) -> np.ndarray:
    """What an n-point DFT bin holds of a unit complex exponential lying ``d`` bins above it
    (|d| <= 1; sin(pi d / n) ~ pi d / n to 1e-5 for n >= 96)."""
    return np.sinc(d) * np.exp(1j * np.pi * d * (n - 1) / n)


_PILOT_K = _PILOT_BINS.astype(np.float64)  # (ky, kx) per pilot bin
_PILOT_CONJ = np.conj(_PILOT_PHASE)
# Where each pilot bin's product goes in the half spectrum ``irfft2`` takes (kx >= 0; a bin with
# kx < 0 goes in as the conjugate of its mirror; kx = 0 as both itself and its conjugate).
_PILOT_HALF = _PILOT_BINS[:, 1] >= 0
_PILOT_MIRROR = _PILOT_BINS[:, 1] <= 0
_HALF_Y, _HALF_X = _PILOT_BINS[_PILOT_HALF, 0] % NORM, _PILOT_BINS[_PILOT_HALF, 1]
_MIRROR_Y, _MIRROR_X = -_PILOT_BINS[_PILOT_MIRROR, 0] % NORM, -_PILOT_BINS[_PILOT_MIRROR, 1]


def _pilot_proxies(coherent: tuple[np.ndarray, np.ndarray], lattices: list[Lattice],
                   flips: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The pilot correlation's peak z for each lattice (v1, v2), the best of ``flips``, read
    straight off the working copy's whitened complex spectrum (``_residual_maps``) instead of
    folding: each pilot bin's coefficient is estimated at its (fractional) frequency from the
    2 x 2 nearest DFT bins, weighted by what a pure tone there leaves in each (``_dirichlet``:
    amplitude and phase), then correlated with the pilot over every tile offset, as ``_sync``
    does on a folded tile. It tracks the fold's own z within about 0.5 on marked images, for a
    small fraction of a fold's cost (all lattices in one batch); it only decides which lattices
    are worth folding."""
    if not lattices:
        return np.zeros(0)
    spec, level = coherent
    h, w = level.shape
    cspec = spec.view(np.complex64)[..., 0]  # (h, w) complex, no copy
    inv_t = np.linalg.inv(np.stack([np.column_stack(lat) for lat in lattices])).transpose(0, 2, 1)  # (L, 2, 2)
    signs = np.array(flips, np.float64)  # (F, 2): row, column signs
    ky = signs[:, 0, None] * _PILOT_K[None, :, 0]  # (F, bins)
    kx = signs[:, 1, None] * _PILOT_K[None, :, 1]
    fx = (inv_t[:, 0, 0, None, None] * kx + inv_t[:, 0, 1, None, None] * ky) * w  # (L, F, bins), DFT bins
    fy = (inv_t[:, 1, 0, None, None] * kx + inv_t[:, 1, 1, None, None] * ky) * h
    x0, y0 = np.floor(fx), np.floor(fy)
    step = np.array([0.0, 1.0])[:, None, None, None]
    wy = np.conj(_dirichlet(fy - y0 - step, h)).astype(np.complex64)  # (2, L, F, bins): the bin at or below, the one above
    wx = np.conj(_dirichlet(fx - x0 - step, w)).astype(np.complex64)
    iy = ((y0 + step).astype(np.intp) % h)[:, None]
    ix = ((x0 + step).astype(np.intp) % w)[None, :]
    value = cspec[iy, ix] / level[iy, ix]  # (2, 2, L, F, bins)
    vals = np.einsum("alfb,clfb,aclfb->lfb", wy, wx, value) * _PILOT_CONJ.astype(np.complex64)
    half = np.zeros((len(lattices), len(flips), NORM, NORM // 2 + 1), np.complex64)
    half[..., _HALF_Y, _HALF_X] = vals[..., _PILOT_HALF]
    half[..., _MIRROR_Y, _MIRROR_X] = np.conj(vals[..., _PILOT_MIRROR])
    # scipy's single-precision FFT: 3x numpy's double one here, and a z needs no more digits.
    corr = _sfft.irfft2(half, s=(NORM, NORM)).reshape(len(lattices) * len(flips), -1)
    n = corr.shape[1] - 1
    peak = corr.max(axis=1).astype(np.float64)
    mean = (corr.sum(axis=1, dtype=np.float64) - peak) / n
    var = (np.einsum("ij,ij->i", corr, corr, dtype=np.float64) - peak * peak) / n - mean * mean
    z = (peak - mean) / (np.sqrt(np.maximum(var, 0.0)) + 1e-12)
    return z.reshape(len(lattices), len(flips)).max(axis=1)


def _geometry_candidates(y: np.ndarray, *, keep: int = 3, priors: tuple[float, ...] = ()) -> list[Candidate]:
    """Tile lattices (v1, v2 in working pixels) that best explain the residual's spectral peaks,
    best template score first (the mean whitened magnitude at the 32 strong pilot bins, or at
    their mirror image for a flipped copy), each with its proxy pilot z.

    Candidates, all scored on the slightly blurred spectral map: every period without rotation
    (0.3% steps), every period of one axis with the other at the embedder's own period (aspect
    changes), scale (+-2.4%) x rotation (+-7 degrees) around the periods the cepstrum proposes and
    the embedder's own, and pairs of an x-axis and a y-axis cepstral period. The best ``keep``
    are refined to sub-bin precision on the unblurred map.
    """
    h, w = y.shape
    pmin, pmax = 34.0, 0.62 * min(h, w)
    if pmax <= pmin:
        return []
    white, ceps, coherent = _residual_maps(y)
    # Slightly blurred for the coarse grid: tolerates a fraction of a bin of misplacement without
    # the max-filter's bias toward whichever hypothesis touches the most noise peaks.
    smap = cv2.GaussianBlur(white, (0, 0), 0.7)
    seeds = _cepstrum_seeds(ceps, pmin, pmax)
    # The embedder's own period is always searched too: a straightened (rotated, not rescaled)
    # image keeps it, and its smeared cepstrum peak can rank low.
    seeds += [(p, "x") for p in priors if pmin <= p <= pmax and all(abs(np.log(p / q)) > 0.02 for q, _ in seeds)]
    scale = np.exp(np.arange(-0.024, 0.0241, 0.006))
    turn = np.radians(np.arange(-7.0, 7.01, 0.4))
    found = [_best(smap, _rot_grid(p * scale, turn), interpolate=False) for p, _ in seeds]
    # Resizing (and cropping) without rotation is the commonest edit: scan every period at 0.3%
    # steps without rotation, so it does not depend on the cepstrum's peaks; keep its best maxima.
    periods = np.exp(np.arange(np.log(pmin), np.log(pmax), 0.003))
    mats, vs = _rot_grid(periods, np.zeros(1))
    scans = [(_score(smap, mats), vs)]
    # An aspect change usually rescales one side only: the other keeps the embedder's period
    # (stretches up to 2:1 either way; the cepstral pairs below cover the rest).
    for p in priors:
        if pmin <= p <= pmax:
            near_p = periods[(periods >= p / 2) & (periods <= 2 * p)]
            fixed = np.full_like(near_p, p)
            for grid in (_aspect_grid(near_p, fixed), _aspect_grid(fixed, near_p)):
                scans.append((_score(smap, grid[0]), grid[1]))
    for sc, vs in scans:
        for t in range(sc.shape[1]):
            col = sc[:, t]
            peak = _local_maxima(col)
            for i in peak[np.argsort(col[peak])[::-1][:SCALE_SCAN_KEEP]]:
                found.append((float(col[i]), vs(int(i)), t))
    # A stretched lattice's strongest cepstrum peak on an axis can be a harmonic (twice or half
    # the period).
    xs = [q for p, a in seeds[:6] if a == "x" for q in (p, p / 2, 2 * p) if pmin <= q <= pmax][:5]
    ys = [q for p, a in seeds[:6] if a == "y" for q in (p, p / 2, 2 * p) if pmin <= q <= pmax][:5]
    near = np.exp(np.arange(-0.015, 0.0151, 0.005))
    for px in xs:
        for py in ys:
            if abs(np.log(px / py)) > 0.03 and 0.65 < px / py < 1.55:
                found.append(_best(smap, _aspect_grid((px * near)[:, None], (py * near)[None, :]), interpolate=False))
    found.sort(key=lambda f: -f[0])
    refined = [_refine(white, lattice, t) for _, lattice, t in found[:keep]]
    # The template score can rank a resized copy's own period below a few of the image's own
    # peaks (a busy 343 px crop of a 0.75 resize: 5th-10th of the rotation-free scan's maxima,
    # 4 of 160 bench images), while its pilot stands out at once: the scan's next best maxima are
    # checked by proxy too, and refined only when it passes.
    # (Unmirrored only: each of these costs a proxy on every unmarked image.)
    sc, vs = scans[0]
    col = sc[:, 0]
    peak = _local_maxima(col)
    for i in peak[np.argsort(col[peak])[::-1][SCALE_SCAN_KEEP:PROXY_SCAN_KEEP]]:
        refined.append((float(col[i]), vs(int(i)), 0))
    out = sorted(refined, key=lambda f: -f[0])
    distinct: list[tuple[np.ndarray, np.ndarray, tuple[tuple[int, int], ...]]] = []
    for _, (v1, v2), t in out:
        same = [j for j, (u1, u2, _) in enumerate(distinct)
                if np.abs(np.concatenate([v1 - u1, v2 - u2])).max() <= 0.01 * np.hypot(*u1)]
        if same:  # one lattice found by both templates: one fold serves every flip
            u1, u2, flips = distinct[same[0]]
            distinct[same[0]] = (u1, u2, tuple(dict.fromkeys(flips + _TEMPLATE_FLIPS[t])))
        else:
            distinct.append((v1, v2, _TEMPLATE_FLIPS[t]))
    proxy = np.zeros(len(distinct))
    for flips in set(f for _, _, f in distinct):  # one batch per set of flips
        idx = [j for j, (_, _, f) in enumerate(distinct) if f == flips]
        proxy[idx] = _pilot_proxies(coherent, [(distinct[j][0], distinct[j][1]) for j in idx], flips)
    found_c = []
    for (v1, v2, flips), z in zip(distinct, proxy):
        if z >= PROXY_NEAR:  # close: the template's refinement can sit a fraction of a bin off
            (v1, v2), z = _proxy_refine(coherent, (v1, v2), flips)
        found_c.append(Candidate(v1, v2, flips, float(z)))
    return sorted(found_c, key=lambda c: -c.proxy_z)


def _proxy_refine(coherent: tuple[np.ndarray, np.ndarray], lattice: Lattice,
                  flips: tuple[tuple[int, int], ...]) -> tuple[Lattice, float]:
    """The lattice rescaled by up to +-0.9% (0.15% steps) where the pilot proxy peaks, and that
    proxy: the template's sub-bin optimum is not always the pilot's (a busy image's own peaks
    pull it), and a fold 0.5% off the tile loses the sync on a small crop."""
    v1, v2 = lattice
    factors = np.exp(np.arange(-0.009, 0.00901, 0.0015))
    lats = [(v1 * f, v2 * f) for f in factors]
    z = _pilot_proxies(coherent, lats, flips)
    best = int(np.argmax(z))
    return lats[best], float(z[best])


def _working_luma(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    y = _luma(rgb)
    h, w = y.shape
    s = min(1.0, (WORK_PIXELS / (h * w)) ** 0.5)
    if s < 1.0:
        y = cv2.resize(y, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return y, s


#: A hypothesis: pilot z, the (flip-corrected) spectrum of the folded tile, the pilot offset,
#: the tile vectors v1, v2 and the flip it assumes.
Found = tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]


def _try(y: np.ndarray, lattices, flips: tuple[tuple[int, int], ...] = ((1, 1),)) -> list[Found]:
    """Fold ``y`` at each lattice and correlate with the pilot under each of ``flips``: one fold
    per lattice, one correlation per flip; best pilot z first."""
    results = []
    for v1, v2 in lattices:
        folded = _fold(y, v1, v2)
        if folded is None:
            continue
        spec = _whitened_spectrum(folded)
        for flip in flips:
            fspec = _flipped(spec, flip)
            z, offset = _sync(fspec)
            results.append((z, fspec, offset, v1, v2, flip))
    return sorted(results, key=lambda r: -r[0])


def exact_hypotheses(y: np.ndarray, s: float, shape: tuple[int, int], *,
                     flips: tuple[tuple[int, int], ...] = ((1, 1),)) -> list[Found]:
    """Geometry untouched (or only cropped, or mirrored with ``flips``): the embedder's own tile
    sizes, no search."""
    return _try(y, [(np.array([p, 0.0]), np.array([0.0, p])) for p in _own_periods(s, shape)], flips)


def _own_periods(s: float, shape: tuple[int, int]) -> list[float]:
    """The tile sides the embedder may have used, in working pixels: its own for an image of this
    shape, and the next larger one (a crop of a bigger stamped image: 1024 px cropped to 724 px
    still has 256 px tiles), and 128 px."""
    k = max(1, min(shape) // 512)
    return [TILE_PX * j * s for j in sorted({1, k, k + 1})]


def searched_hypotheses(y: np.ndarray, priors: tuple[float, ...] = ()) -> list[Found]:
    """Scaled, rotated, stretched or flipped: the best lattices of the spectral search, folded
    when their proxy pilot z reaches ``PROXY_Z`` (on an unmarked image, usually none is)."""
    found: list[Found] = []
    for c in _geometry_candidates(y, keep=4, priors=priors):
        if c.proxy_z >= PROXY_Z:
            found += _try(y, [(c.v1, c.v2)], c.flips)
    return sorted(found, key=lambda r: -r[0])


def find_hypotheses(rgb: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Every hypothesis the detector considers: (pilot z, soft bits), best first."""
    y, s = _working_luma(rgb)
    own = tuple(_own_periods(s, rgb.shape[:2]))
    results = sorted(exact_hypotheses(y, s, rgb.shape[:2], flips=FLIPS) + searched_hypotheses(y, own),
                     key=lambda r: -r[0])
    return [(r[0], _soft_bits(r[1], r[2])) for r in results]


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


def _bits_hex(bits: np.ndarray) -> str:
    return np.packbits(bits).tobytes().hex()


#: How a detection reports the flip it undid (``extra["flip"]``).
_FLIP_NAMES = {(1, -1): "horizontal", (-1, 1): "vertical", (-1, -1): "both (rotated 180 degrees)"}


class ProvenanceWM(WatermarkMethod):
    name = "provenanceWM"
    summary = ("our tiled spread-spectrum luminance mark (the default): 48-bit id prefix, BCH + OSD soft "
               "decoding; survives JPEG, cropping, resizing (0.3-2x), aspect change, rotation up to 7 "
               "degrees and flips")
    codec = WM_CODEC
    min_size = (256, 256)
    #: verify and audit run the full detector by default (``detect``: the embedder's own geometry,
    #: mirrored too, then the geometric search, whose lattices are folded only when the pilot shows
    #: in the spectrum). ``scan`` is the cheaper own-geometry-only check behind ``--fast``.
    scan_by_default = True

    def detect(self, image: np.ndarray) -> WatermarkResult:
        """Synchronise (own geometry first, mirrored too, then the geometric search), then decode
        the strongest hypotheses; undetected when none decodes."""
        return self._detect(image, search=True)

    def scan(self, image: np.ndarray) -> WatermarkResult:
        """The fast check (``--fast``): the embedder's own tile geometry only, unmirrored, no
        geometric search (untouched, re-encoded, filtered or cropped copies)."""
        return self._detect(image, search=False)

    def localize(self, image: np.ndarray, *, block: int | None = None) -> "WatermarkMap":
        """Where the mark is missing: detect (with the geometric search), then correlate the
        decoded payload's own pattern with the image block by block (``_localize``)."""
        from ._localize import localize_mark

        return localize_mark(self, image, block=block)

    def _detect(self, image: np.ndarray, *, search: bool) -> WatermarkResult:
        return self._locate(image, search=search)[0]

    def _locate(self, image: np.ndarray, *, search: bool) -> tuple[WatermarkResult, Hypothesis | None]:
        """The detection result, and the hypothesis (geometry, offset, flip) that decoded, if any."""
        h, w = image.shape[:2]
        if w < MIN_DETECT[0] or h < MIN_DETECT[1]:
            return WatermarkResult(self.name, False, extra={"reason": f"image smaller than {MIN_DETECT[0]}x{MIN_DETECT[1]}"}), None
        rgb = np.ascontiguousarray(image, dtype=np.uint8)
        y, s = _working_luma(rgb)
        attempts, raw, best = 0, None, None
        # Cheap first: an untouched, only cropped or mirrored image needs no geometric search.
        stages = [lambda: exact_hypotheses(y, s, rgb.shape[:2], flips=FLIPS if search else ((1, 1),))]
        if search:
            stages.append(lambda: searched_hypotheses(y, tuple(_own_periods(s, rgb.shape[:2]))))
        for stage in stages:
            hyps = stage()
            if hyps and (best is None or hyps[0][0] > best):
                best = hyps[0][0]
                # The raw word reported (for audits and calibration) is the best hypothesis' hard
                # decisions, decoded or not.
                raw = _bits_hex((_soft_bits(hyps[0][1], hyps[0][2]) > 0).astype(np.uint8))
            for z, spec, offset, v1, v2, flip in hyps[:MAX_DECODES - 1]:
                if z < (SYNC_Z if flip == (1, 1) and stage is stages[0] else EXTRA_Z) or attempts >= MAX_DECODES:
                    continue
                attempts += 1
                decoded = soft_decode(self.codec, _soft_bits(spec, offset))
                if decoded.valid:
                    extra = {"sync_z": round(z, 2), "searched": search}
                    if flip != (1, 1):
                        extra["flip"] = _FLIP_NAMES[flip]
                    return self._result(decoded, **extra), Hypothesis(z, offset, v1, v2, s, flip)
        return WatermarkResult(self.name, False, false_positive_rate=self.codec.false_positive_rate, raw_bits=raw,
                               extra={"sync_z": None if best is None else round(best, 2), "searched": search}), None

    def embed(self, image: np.ndarray, content_id: str) -> np.ndarray:
        """Embed, then check with the fast scan that the mark decodes to this id; if not, embed
        again from the original pixels at the next, larger amplitude of :data:`EMBED_GAINS`.

        At 40 dB a small busy image (2x2 tiles at 256², masking weak in its flat parts) misses its
        own mark about once in 30; a mark that is not found at once is found by nobody later.
        Returns the first embedding that decodes (or, if none does, the strongest)."""
        self.check_size(image)
        rgb = np.ascontiguousarray(image, dtype=np.uint8)
        bits = self.codec.encode(content_id)
        expected = content_id[: self.codec.id_hex_len]
        for gain in EMBED_GAINS:
            marked = embed_pattern(rgb, bits, gain=gain)
            found = self.scan(marked)
            if found.detected and found.payload == expected:
                break
        return marked

    def _embed(self, image: np.ndarray, bits: np.ndarray) -> np.ndarray:
        return embed_pattern(image, bits)

    def _extract(self, image: np.ndarray) -> np.ndarray:
        hyps = find_hypotheses(image)
        return (hyps[0][1] > 0).astype(np.uint8) if hyps else np.zeros(self.codec.bits, np.uint8)
