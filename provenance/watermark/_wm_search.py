"""provenanceWM's geometric search: which tile lattice a scaled, rotated or stretched copy holds.

The tiling puts the mark's energy on a lattice of spectral peaks, 32 of them strong (a template).
Candidate lattices come from a rotation-free scan of every period, scans that stretch one axis
only, and the cepstrum (spectrum of the whitened magnitude spectrum, which peaks at the tile
vectors) with scale x rotation searched around its periods; the best are refined to sub-bin
precision, and each gets a cheap proxy of the pilot correlation read straight off the spectrum
(``_pilot_proxies``), which decides whether it is worth folding (``_wm_sync``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy import fft as _sfft

from ._wm_fold import highpass
from ._wm_tile import NORM, PILOT_BINS, PILOT_PHASE, STRONG_BINS

SCALE_SCAN_KEEP = 3  # best periods of the rotation-free scale scan added to the candidates
PROXY_SCAN_KEEP = 11  # ... and down to this rank, checked by the pilot proxy only (``geometry_candidates``)
CEPSTRUM_SEEDS = 10  # periods the geometric search looks around
#: A candidate whose proxy reaches this is first moved (+-0.9% scale) to where its proxy peaks.
PROXY_NEAR = 4.5
SPECTRAL_FLOOR = 0.5  # the fold's LEVEL_FLOOR (``_wm_fold``), for the geometric search's residual


#: What the geometric search scores a lattice on: the strong pilot frequencies, as (kx, ky), and
#: their mirror image (kx negated). A flipped image puts its peaks on the mirrored set (a
#: vertical flip too: magnitudes are symmetric, |X(-f)| = |X(f)|), so every lattice is scored
#: against both, and a lattice found by the mirrored one is a flipped copy.
_TEMPLATE = STRONG_BINS[:, ::-1].astype(np.float64)
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
    r = highpass(y, 2.0)
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


_PILOT_K = PILOT_BINS.astype(np.float64)  # (ky, kx) per pilot bin
_PILOT_CONJ = np.conj(PILOT_PHASE)
# Where each pilot bin's product goes in the half spectrum ``irfft2`` takes (kx >= 0; a bin with
# kx < 0 goes in as the conjugate of its mirror; kx = 0 as both itself and its conjugate).
_PILOT_HALF = PILOT_BINS[:, 1] >= 0
_PILOT_MIRROR = PILOT_BINS[:, 1] <= 0
_HALF_Y, _HALF_X = PILOT_BINS[_PILOT_HALF, 0] % NORM, PILOT_BINS[_PILOT_HALF, 1]
_MIRROR_Y, _MIRROR_X = -PILOT_BINS[_PILOT_MIRROR, 0] % NORM, -PILOT_BINS[_PILOT_MIRROR, 1]


def _pilot_proxies(coherent: tuple[np.ndarray, np.ndarray], lattices: list[Lattice],
                   flips: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The pilot correlation's peak z for each lattice (v1, v2), the best of ``flips``, read
    straight off the working copy's whitened complex spectrum (``_residual_maps``) instead of
    folding: each pilot bin's coefficient is estimated at its (fractional) frequency from the
    2 x 2 nearest DFT bins, weighted by what a pure tone there leaves in each (``_dirichlet``:
    amplitude and phase), then correlated with the pilot over every tile offset, as ``pilot_sync``
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


def geometry_candidates(y: np.ndarray, *, keep: int = 3, priors: tuple[float, ...] = ()) -> list[Candidate]:
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
