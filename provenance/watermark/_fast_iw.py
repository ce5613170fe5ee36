"""Vectorised port of invisible-watermark 0.2.0's ``dwtDct`` and ``dwtDctSvd`` methods.

invisible-watermark ("iw": ``imwatermark.maxDct.EmbedMaxDct`` and
``imwatermark.dwtDctSvd.EmbedDwtDctSvd``) visits every 4x4 block of the U channel's Haar
approximation band in a Python loop: about 0.2 s (dwtDctSvd) per 512x512 image and 0.2 s (dwtDct)
to 0.85 s (dwtDctSvd) at 1024x1024, where stamping has about 150 ms for all its steps. This module
does the same work on all blocks at once with numpy and is bit-compatible both ways: it returns
iw's embedded image pixel for pixel, iw's decoder reads what we embed, ours reads what iw embeds,
and both decoders return the same bits (and mean scores) on any image, marked or not
(``tests/test_fast_iw.py``).

What is kept exactly as iw does it:

* the colour conversion (``cv2.COLOR_BGR2YUV`` on uint8, back with ``cv2.COLOR_YUV2BGR``);
* ``pywt.dwt2(..., 'haar')`` of ``yuv[:row//4*4, :col//4*4, channel]`` for ``channel in
  range(2)`` with ``scales[channel] > 0`` (``scales[2]`` is never read, so the defaults
  ``(0, 36, 36)`` and ``(0, 36, 0)`` both mark U alone), and the inverse
  ``pywt.idwt2((ca1, (v1, h1, d1)), 'haar')`` with iw's horizontal and vertical detail bands
  swapped: that swap exchanges the two off-diagonal pixels of every 2x2 cell of the marked region
  of U, and we reproduce it;
* the write of that float result into the uint8 YUV array by numpy assignment: values truncate
  toward zero and the few outside 0..255 (possible when Y is marked) wrap modulo 256 here, as in
  iw, since it is the same assignment;
* bit ``num % len(bits)`` for the ``num``-th block in row-major order;
* dwtDct: in each block the coefficient of largest magnitude other than ``[0, 0]`` (first one on a
  tie) is set to ``±(|v| // scale + 0.25 + 0.5 * bit) * scale``; decoding scores
  ``|v| % scale > 0.5 * scale``. (iw's names say DCT, but this method applies no DCT.) These are
  element-wise operations, so the port computes them with the same floating-point operations in
  the same order and the result is identical by construction;
* dwtDctSvd: the largest singular value ``s0`` of ``dct(block)`` becomes
  ``(s0 // scale + 0.25 + 0.5 * bit) * scale``; decoding scores ``s0 % scale > 0.5 * scale``;
* decoding averages the 0/1 scores of each bit over every block (of every marked channel) and
  returns ``avg * 255 > 127``, so an average of exactly 0.5 reads as 1.

How dwtDctSvd is made fast without changing a bit: a 4x4 DCT is orthonormal, so the singular
values of ``dct(B)`` are those of ``B``, and changing ``s0`` of ``dct(B)`` then applying the inverse
DCT equals ``B + (s0' - s0) * x y^T`` with ``x, y`` the top singular vectors of ``B``. We get
``s0, x, y`` for all blocks together by power iteration on ``B^T B`` with a residual bound on
their error. That differs from iw's per-block LAPACK SVD only in the last bits of a float (at
most 7e-12 in a coefficient, 1.4e-12 in ``s0``, measured), which can change the result only where
a value sits on a rounding edge. So a block goes through iw's own per-block code
(``np.linalg.svd(cv2.dct(B))`` and so on, line for line) when its error bound is not tiny, when
``s0`` lies within ``_S_MARGIN`` of a multiple of ``scale`` (embed: the floor might differ) or of
``scale / 2`` (decode: the score might differ), or when one of the pixels it produces lies
within ``_PIXEL_MARGIN`` of an integer (the uint8 truncation might differ). The margins are over
1e4 times the measured error; a 1024x1024 image sends a block or two, often none, down that path.
(With the margins switched off, 30 test images at 512x512 still gave iw's exact pixels: the
guard is for the one-in-millions case, not a routine correction.)

The rest is plain numpy: pywt's Haar transform is two products and a sum per output, reproduced
bit for bit (checked against pywt once per process, with pywt itself as the fallback), and the
image is worked in strips of rows, which keeps temporaries small (fresh large arrays cost page
faults that took half the time at 1024x1024).

Speed (``bench/iw_speed.py``: 136 bits, one thread, median of 9, a loaded 2-core x86-64 VM):

==========  ==========  =======  ==============  ==========  =========
method      size        op       iw 0.2.0 (ms)   ours (ms)   speed-up
==========  ==========  =======  ==============  ==========  =========
dwtDct      512x512     embed    51              3.8         13x
dwtDct      512x512     decode   27              1.0         27x
dwtDct      1024x1024   embed    183             14          13x
dwtDct      1024x1024   decode   148             4.4         34x
dwtDctSvd   512x512     embed    195             6.0         33x
dwtDctSvd   512x512     decode   104             3.5         30x
dwtDctSvd   1024x1024   embed    861             22          39x
dwtDctSvd   1024x1024   decode   408             6.1         66x
==========  ==========  =======  ==============  ==========  =========
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pywt

__all__ = ["embed_dwt_dct", "decode_dwt_dct", "embed_dwt_dct_svd", "decode_dwt_dct_svd"]

DEFAULT_DWT_DCT_SCALES = (0, 36, 36)
DEFAULT_DWT_DCT_SVD_SCALES = (0, 36, 0)

# Distances below which the fast SVD path hands a block to iw's own per-block code (see above).
_PIXEL_MARGIN = 1e-7    # from a reconstructed pixel to the nearest integer
_S_MARGIN = 1e-6        # from s0 to the nearest multiple of scale (embed) or scale / 2 (decode)
_MAX_ANGLE = 1e-12      # bound on the error angle of the top singular vectors, in radians
_POWER_STEPS = 3        # power-iteration steps on (B^T B)^2 for every block
_EXTRA_STEPS = 24       # further steps for the blocks not yet within _MAX_ANGLE
_STRIP_ROWS = 256       # image rows transformed at a time when embedding
_DECODE_STRIP_ROWS = 512  # and when decoding (it allocates less; larger batches suit the SVD)


# --------------------------------------------------------------------------------------------
# Blocks. They are held "structure of arrays": planes[r * block + c, n] is entry (r, c) of the
# n-th block in iw's row-major block order, so that every per-block operation is a handful of
# numpy operations on long rows.


def _block_grid(frame: np.ndarray, block: int) -> tuple[int, int]:
    return frame.shape[0] // block, frame.shape[1] // block


def _n_blocks(frame: np.ndarray, block: int) -> int:
    nbr, nbc = _block_grid(frame, block)
    return nbr * nbc


def _gather(frame: np.ndarray, block: int) -> np.ndarray:
    """The blocks of ``frame`` as a new (block * block, n) array of planes."""
    nbr, nbc = _block_grid(frame, block)
    out = np.empty((block, block, nbr, nbc), dtype=frame.dtype)
    out[...] = frame[: nbr * block, : nbc * block].reshape(nbr, block, nbc, block).transpose(1, 3, 0, 2)
    return out.reshape(block * block, nbr * nbc)


def _scatter(frame: np.ndarray, planes: np.ndarray, block: int) -> None:
    """Write planes back into ``frame`` (splitting the axes of a slice is always a view)."""
    nbr, nbc = _block_grid(frame, block)
    grid = frame[: nbr * block, : nbc * block].reshape(nbr, block, nbc, block)
    grid[...] = planes.reshape(block, block, nbr, nbc).transpose(2, 0, 3, 1)


# --------------------------------------------------------------------------------------------
# pywt's Haar transform, in numpy. pywt.dwt2 and idwt2 take tens of ms at 1024x1024, more than
# everything else here together. For Haar each output is two products and a sum, and pywt's C
# code computes exactly ``c*x0 + c*x1`` and ``c*x0 - c*x1`` along axis 0 then axis 1 (the inverse
# along axis 1 then axis 0), so numpy gives the same bits. ``_haar_matches_pywt`` checks that once
# per process on random data (a pywt built to contract into fused multiply-adds would differ) and
# we use pywt itself when it does not hold.

_C = 0.7071067811865476  # pywt.Wavelet("haar").dec_lo[0]; every Haar filter tap is +-this


def _haar_dwt2(x: np.ndarray):
    """``pywt.dwt2(x, 'haar')`` of an even-sized 2-D array: ``(cA, (cH, cV, cD))``."""
    x = x.astype(np.float64)
    x *= _C
    p, q = x[0::2], x[1::2]
    a = p + q
    d = np.subtract(p, q, out=p)
    a *= _C
    d *= _C
    pa, qa, pd, qd = a[:, 0::2], a[:, 1::2], d[:, 0::2], d[:, 1::2]
    return pa + qa, (pd + qd, pa - qa, pd - qd)


def _haar_ca(x: np.ndarray) -> np.ndarray:
    """The ``cA`` band of ``pywt.dwt2(x, 'haar')`` alone."""
    a = x[0::2] * _C + x[1::2] * _C
    return a[:, 0::2] * _C + a[:, 1::2] * _C


def _haar_idwt2(ca: np.ndarray, details) -> np.ndarray:
    """``pywt.idwt2((ca, (cH, cV, cD)), 'haar')`` for bands of one shape."""
    ch, cv, cd = details
    h, w = ca.shape
    a, d = np.empty((h, 2 * w)), np.empty((h, 2 * w))
    x, y = ca * _C, cv * _C
    np.add(x, y, out=a[:, 0::2])
    np.subtract(x, y, out=a[:, 1::2])
    np.multiply(ch, _C, out=x)
    np.multiply(cd, _C, out=y)
    np.add(x, y, out=d[:, 0::2])
    np.subtract(x, y, out=d[:, 1::2])
    a *= _C
    d *= _C
    out = np.empty((2 * h, 2 * w))
    np.add(a, d, out=out[0::2])
    np.subtract(a, d, out=out[1::2])
    return out


def _bitwise_equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _haar_matches_pywt() -> bool:
    rng = np.random.default_rng(20240601)
    x = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)[:, :, 1]
    ref, ours = pywt.dwt2(x, "haar"), _haar_dwt2(x)
    same = _bitwise_equal(ref[0], ours[0]) and all(map(_bitwise_equal, ref[1], ours[1]))
    same = same and _bitwise_equal(ref[0], _haar_ca(x))
    ca = ref[0] + rng.normal(0.0, 20.0, ref[0].shape)
    details = (ref[1][1] * 1.5, ref[1][0] - 0.3, ref[1][2])
    return same and _bitwise_equal(pywt.idwt2((ca, details), "haar"), _haar_idwt2(ca, details))


_haar_impl = None


def _haar():
    """(dwt2, cA-only dwt2, idwt2): ours where they reproduce pywt bit for bit, else pywt's."""
    global _haar_impl
    if _haar_impl is None:
        if _haar_matches_pywt():
            _haar_impl = (_haar_dwt2, _haar_ca, _haar_idwt2)
        else:  # pragma: no cover - depends on how pywt was built
            _haar_impl = (lambda x: pywt.dwt2(x, "haar"), lambda x: pywt.dwt2(x, "haar")[0],
                          lambda ca, details: pywt.idwt2((ca, details), "haar"))
    return _haar_impl


# --------------------------------------------------------------------------------------------
# iw's encode() and decode() loops, shared by both methods


def _check_image(bgr, *, float_ok: bool = False) -> np.ndarray:
    bgr = np.asarray(bgr)
    dtypes = (np.uint8, np.float32) if float_ok else (np.uint8,)
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype not in dtypes:
        raise ValueError(f"expected a BGR {' or '.join(np.dtype(d).name for d in dtypes)} image of shape (H, W, 3), "
                         f"got {bgr.dtype} {bgr.shape}")
    return bgr


def _marked_channels(scales: Sequence[float]):
    """The (channel, scale) pairs iw marks: its loop is ``for channel in range(2)``."""
    return [(channel, scales[channel]) for channel in range(2) if scales[channel] > 0]


def _strips(r4: int, block: int, rows: int):
    """Row ranges that cover ``[0, r4)`` in whole rows of blocks (iw's Haar and blocks are local).

    Working a strip at a time keeps the temporaries small and in cache; at 1024x1024 that halves
    the time, much of which otherwise goes to page faults on fresh arrays.
    """
    step = max(1, rows // (2 * block)) * 2 * block
    return [(top, min(top + step, r4)) for top in range(0, r4, step)]


def _embed(bgr, bits, scales, block, diffuse):
    bgr = _check_image(bgr)
    bit_values = np.asarray(bits).reshape(-1).astype(np.float64)  # iw computes 0.5 * bit
    if bit_values.size == 0:
        raise ValueError("need at least one bit to embed")
    row, col = bgr.shape[:2]
    r4, c4 = row // 4 * 4, col // 4 * 4
    blocks_per_row = c4 // 2 // block
    dwt2, _, idwt2 = _haar()
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    for channel, scale in _marked_channels(scales):
        for top, bottom in _strips(r4, block, _STRIP_ROWS):
            ca1, (h1, v1, d1) = dwt2(yuv[top:bottom, :c4, channel])
            first = top // 2 // block * blocks_per_row  # iw's block number ``num`` of the first
            bit = bit_values[(first + np.arange(_n_blocks(ca1, block))) % len(bit_values)]
            # As iw: the inverse gets (v1, h1) where the forward gave (h1, v1), and the float
            # result is assigned into the uint8 array (the same assignment, so the same cast).
            rec = diffuse(ca1, lambda ca: idwt2(ca, (v1, h1, d1)), bit, scale, block)
            yuv[top:bottom, :c4, channel] = rec
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)


def _decode(bgr, n_bits, scales, block, infer):
    # float32 input is decoded in OpenCV's float colour space (U/V offset 0.5), as iw does when
    # handed floats: that is how diffusers' SDXL watermarker embeds, so it is how it is read back.
    bgr = _check_image(bgr, float_ok=True)
    n_bits = int(n_bits)
    if n_bits <= 0:
        raise ValueError("n_bits must be positive")
    row, col = bgr.shape[:2]
    r4, c4 = row // 4 * 4, col // 4 * 4
    blocks_per_row = c4 // 2 // block
    _, dwt2_ca, _ = _haar()
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ones = np.zeros(n_bits)
    counts = np.zeros(n_bits)
    for channel, scale in _marked_channels(scales):
        for top, bottom in _strips(r4, block, _DECODE_STRIP_ROWS):
            planes = _gather(dwt2_ca(yuv[top:bottom, :c4, channel]), block)
            which = (top // 2 // block * blocks_per_row + np.arange(planes.shape[1])) % n_bits
            ones += np.bincount(which, weights=infer(planes, block, scale), minlength=n_bits)
            counts += np.bincount(which, minlength=n_bits)
    # iw: np.array(scores).mean() per bit, which for 0/1 scores is exactly ones / count (nan, with
    # a warning from iw, for a bit no block carries), then avg * 255 > 127: 0.5 reads as 1.
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = ones / counts
    return (avg * 255 > 127).astype(np.uint8), avg


# --------------------------------------------------------------------------------------------
# dwtDct: iw's EmbedMaxDct.diffuse_dct_matrix / infer_dct_matrix (on the cA block itself)


def _max_coefficient(planes: np.ndarray):
    """Per block, the flat index of the largest |coefficient| after [0, 0] (first on ties) and it."""
    pos = np.abs(planes[1:]).argmax(axis=0) + 1
    return pos, planes[pos, np.arange(planes.shape[1])]


def _diffuse_max(ca1, inverse, bit, scale, block):
    planes = _gather(ca1, block)
    n = planes.shape[1]
    pos, val = _max_coefficient(planes)
    nonneg = val >= 0.0
    # iw: (val // scale + 0.25 + 0.5 * bit) * scale, or -1.0 * (|val| // scale + ...) * scale
    mag = (np.floor_divide(np.where(nonneg, val, np.abs(val)), scale) + 0.25 + 0.5 * bit) * scale
    planes[pos, np.arange(n)] = np.where(nonneg, mag, -1.0 * mag)
    _scatter(ca1, planes, block)
    return inverse(ca1)


def _infer_max(planes, block, scale):
    _, val = _max_coefficient(planes)
    return (np.remainder(np.abs(val), scale) > 0.5 * scale).astype(np.float64)


def dwt_dct_block_scores(channel: np.ndarray, scale: float, block: int = 4) -> np.ndarray:
    """iw's dwtDct reading of one YUV channel (rows and columns a multiple of 4) before it averages
    per bit: the 0/1 score of every block of the Haar cA band, in iw's block order (row-major).
    For detectors that read several messages from one transform (``detectors/sd_watermarks.py``);
    a strip of whole block rows gives that strip's part of the sequence."""
    return _infer_max(_gather(_haar()[1](channel), block), block, scale)


def embed_dwt_dct(bgr: np.ndarray, bits, *, scales: Sequence[float] = DEFAULT_DWT_DCT_SCALES,
                  block: int = 4) -> np.ndarray:
    """``EmbedMaxDct(bits, wmLen=len(bits), scales, block).encode(bgr)``: the same pixels, faster."""
    return _embed(bgr, bits, scales, block, _diffuse_max)


def decode_dwt_dct(bgr: np.ndarray, n_bits: int, *, scales: Sequence[float] = DEFAULT_DWT_DCT_SCALES,
                   block: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """iw's ``EmbedMaxDct(wmLen=n_bits).decode(bgr)`` as uint8 bits, and the per-bit mean scores."""
    return _decode(bgr, n_bits, scales, block, _infer_max)


# --------------------------------------------------------------------------------------------
# dwtDctSvd: iw's EmbedDwtDctSvd.diffuse_dct_svd / infer_dct_svd


def _iw_diffuse_svd(block: np.ndarray, bit: float, scale) -> np.ndarray:
    """iw's own per-block embedding, line for line (the exact path)."""
    u, s, v = np.linalg.svd(cv2.dct(block))
    s[0] = (s[0] // scale + 0.25 + 0.5 * bit) * scale
    return cv2.idct(np.dot(u, np.dot(np.diag(s), v)))


def _iw_top_singular_value(block: np.ndarray) -> float:
    """``s[0]`` as iw's ``infer_dct_svd`` computes it (the exact path)."""
    return np.linalg.svd(cv2.dct(block))[1][0]


def _power(m2: np.ndarray, v: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        v = np.einsum("ijn,jn->in", m2, v)
        v /= np.sqrt(np.einsum("in,in->n", v, v))
    return v


def _certified(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether unit ``v`` is within _MAX_ANGLE of the top eigenvector of each ``m`` (symmetric).

    With ``r = m v - lam v`` (``lam`` the Rayleigh quotient) the angle is at most ``|r| / gap`` for
    ``gap`` the distance from ``lam`` to the other eigenvalues; ``lam - |m - lam v v^T|_F`` is a
    lower bound on it (the Frobenius norm bounds the largest of the others).
    """
    mv = np.einsum("ijn,jn->in", m, v)
    lam = np.einsum("in,in->n", v, mv)
    r = mv - lam * v
    rest = m - lam * v[:, None, :] * v[None, :, :]
    gap = lam - np.sqrt(np.einsum("ijn,ijn->n", rest, rest))
    return (gap > 0) & (np.sqrt(np.einsum("in,in->n", r, r)) <= _MAX_ANGLE * gap)


def _top_singular(b: np.ndarray):
    """Top singular value and vectors of every block ``b[:, :, n]``, and whether they are accurate.

    Power iteration on ``(B^T B)^2`` from ``B^T B 1``; blocks not within _MAX_ANGLE after
    _POWER_STEPS get _EXTRA_STEPS more, and any still not (a zero block, equal top singular
    values) are marked inaccurate with ``s = 0``, so that every caller sends them to iw's code.
    """
    m = np.einsum("kin,kjn->ijn", b, b)
    m2 = np.einsum("ikn,kjn->ijn", m, m)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        v = _power(m2, m.sum(axis=1), _POWER_STEPS)
        ok = _certified(m, v)
        if not ok.all():
            redo = np.flatnonzero(~ok)
            v[:, redo] = _power(m2[:, :, redo], v[:, redo], _EXTRA_STEPS)
            ok[redo] = _certified(m[:, :, redo], v[:, redo])
        u = np.einsum("ijn,jn->in", b, v)
        s = np.sqrt(np.einsum("in,in->n", u, u))
        u /= s
        ok &= np.isfinite(s) & (s > 0)
    s[~ok] = 0.0  # those blocks take the exact path; keep nan and inf out of the arithmetic
    u[:, ~ok] = 0.0
    v[:, ~ok] = 0.0
    return s, u, v, ok


def _far_from_multiples(x: np.ndarray, step: float, margin: float) -> np.ndarray:
    """Whether each ``x`` is more than ``margin`` from every multiple of ``step`` (0 is one)."""
    return np.abs(x - np.round(x / step) * step) > margin


def _diffuse_svd(ca1, inverse, bit, scale, block):
    planes = _gather(ca1, block)
    n = planes.shape[1]
    b = planes.reshape(block, block, n)
    s, u, v, fast = _top_singular(b)
    fast &= _far_from_multiples(s, scale, _S_MARGIN)  # else s // scale might differ from iw's
    delta = (np.floor_divide(s, scale) + 0.25 + 0.5 * bit) * scale - s
    new = b + delta * u[:, None, :] * v[None, :, :]  # B + (s0' - s0) u v^T

    def exact(which):
        for k in which:
            new[:, :, k] = _iw_diffuse_svd(np.ascontiguousarray(b[:, :, k]), bit[k], scale)

    exact(np.flatnonzero(~fast))
    _scatter(ca1, new.reshape(block * block, n), block)
    rec = inverse(ca1)
    # A fast block with a pixel near an integer might truncate differently from iw's: redo it.
    nbr, nbc = _block_grid(ca1, block)
    area = rec[: nbr * block * 2, : nbc * block * 2]
    near = np.abs(area - np.round(area)) <= _PIXEL_MARGIN
    near = near.reshape(nbr, block * 2, nbc, block * 2).any(axis=(1, 3)).reshape(-1)
    redo = np.flatnonzero(near & fast)
    if redo.size:
        exact(redo)
        _scatter(ca1, new.reshape(block * block, n), block)
        rec = inverse(ca1)
    return rec


def _infer_svd(planes, block, scale):
    b = planes.reshape(block, block, -1)
    s, _, _, fast = _top_singular(b)
    fast &= _far_from_multiples(s, 0.5 * scale, _S_MARGIN)  # else the score might differ from iw's
    for k in np.flatnonzero(~fast):
        s[k] = _iw_top_singular_value(np.ascontiguousarray(b[:, :, k]))
    return (np.remainder(s, scale) > scale * 0.5).astype(np.float64)


def embed_dwt_dct_svd(bgr: np.ndarray, bits, *, scales: Sequence[float] = DEFAULT_DWT_DCT_SVD_SCALES,
                      block: int = 4) -> np.ndarray:
    """``EmbedDwtDctSvd(bits, wmLen=len(bits), scales, block).encode(bgr)``: the same pixels, faster."""
    return _embed(bgr, bits, scales, block, _diffuse_svd)


def decode_dwt_dct_svd(bgr: np.ndarray, n_bits: int, *,
                       scales: Sequence[float] = DEFAULT_DWT_DCT_SVD_SCALES,
                       block: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """iw's ``EmbedDwtDctSvd(wmLen=n_bits).decode(bgr)`` as uint8 bits, and the per-bit mean scores."""
    return _decode(bgr, n_bits, scales, block, _infer_svd)
