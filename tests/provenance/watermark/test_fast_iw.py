"""The vectorised dwtDct / dwtDctSvd port gives invisible-watermark 0.2.0's exact output, both ways."""
from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
import pywt

from provenance.watermark import _fast_iw as fast
from provenance.watermark._imwatermark import _iw_module

METHODS = {
    "dwtDct": (lambda: _iw_module("maxDct").EmbedMaxDct, fast.embed_dwt_dct, fast.decode_dwt_dct),
    "dwtDctSvd": (lambda: _iw_module("dwtDctSvd").EmbedDwtDctSvd, fast.embed_dwt_dct_svd,
                  fast.decode_dwt_dct_svd),
}
SIZES = {"256x256": (256, 256), "512x384": (512, 384), "517x389": (517, 389)}  # width x height
LENGTHS = (32, 48, 128, 136)


@functools.lru_cache(maxsize=None)
def synthetic_bgr(width: int, height: int, seed: int = 0, saturated: bool = False) -> np.ndarray:
    """A deterministic photo-like BGR image: gradients, blurred noise, filled shapes, fine grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([
        110 + 70 * np.sin(xx / width * 2.7 + seed),
        120 + 60 * np.cos(yy / height * 3.3),
        100 + 80 * np.sin((xx + 2 * yy) / (width + height) * 4.1),
    ], axis=2)
    img += 40 * cv2.GaussianBlur(rng.standard_normal((height, width, 3)), (0, 0), 6) / 0.05
    for _ in range(8):
        colour = rng.choice([0.0, 255.0], 3) if saturated else rng.uniform(0, 255, 3)
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(15, 70)
        if rng.random() < 0.5:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        else:
            mask = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r * 0.6)
        img[mask] = colour if saturated else 0.4 * img[mask] + 0.6 * colour
    img += rng.normal(0, 2.0, img.shape)
    img = cv2.GaussianBlur(np.clip(img, 0, 255), (0, 0), 0.8)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def random_bits(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(1000 + seed).integers(0, 2, n).astype(np.uint8)


@functools.lru_cache(maxsize=None)
def iw_marked(method: str, size: str, n: int) -> np.ndarray:
    """invisible-watermark's own embedding of ``random_bits(n)`` (cached: it is the slow part)."""
    iw_class, _, _ = METHODS[method]
    bgr = synthetic_bgr(*SIZES[size])
    return iw_class()(watermarks=list(random_bits(n, n)), wmLen=n).encode(bgr)


def iw_decode(method: str, bgr: np.ndarray, n: int, scales=None) -> np.ndarray:
    iw_class, _, _ = METHODS[method]
    kwargs = {} if scales is None else {"scales": list(scales)}
    return np.asarray(iw_class()(watermarks=[], wmLen=n, **kwargs).decode(bgr), dtype=np.uint8)


def iw_avg_scores(method: str, bgr: np.ndarray, n: int) -> np.ndarray:
    """The ``avgScores`` inside iw's ``decode`` (which returns only the thresholded bits)."""
    iw_class, _, _ = METHODS[method]
    iw = iw_class()(watermarks=[], wmLen=n)
    row, col, _ = bgr.shape
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    scores = [[] for _ in range(n)]
    for channel in range(2):
        if iw._scales[channel] > 0:
            ca1, _ = pywt.dwt2(yuv[: row // 4 * 4, : col // 4 * 4, channel], "haar")
            scores = iw.decode_frame(ca1, iw._scales[channel], scores)
    return np.array([np.array(s).mean() for s in scores])


EMBED_CASES = [pytest.param(m, s, n, id=f"{m}-{s}-{n}bits") for m in METHODS for s in SIZES for n in LENGTHS]


@pytest.mark.parametrize("method,size,n", EMBED_CASES)
def test_embed_is_pixel_identical_to_invisible_watermark(method, size, n):
    """Our embedding returns exactly iw's uint8 image (no pixel differs, not even by 1)."""
    _, embed, _ = METHODS[method]
    ours = embed(synthetic_bgr(*SIZES[size]), random_bits(n, n))
    expected = iw_marked(method, size, n)
    assert ours.dtype == np.uint8 and ours.shape == expected.shape
    assert np.array_equal(ours, expected), f"{np.count_nonzero((ours != expected).any(axis=2))} pixels differ"


@pytest.mark.parametrize("method,size,n", EMBED_CASES)
def test_each_decoder_reads_the_other_embedder(method, size, n):
    """iw's decoder reads our marked image and ours reads iw's, to the same bits each reads itself."""
    _, embed, decode = METHODS[method]
    bits = random_bits(n, n)
    theirs = iw_marked(method, size, n)
    ours = embed(synthetic_bgr(*SIZES[size]), bits)
    iw_reads_ours = iw_decode(method, ours, n)
    we_read_theirs, _ = decode(theirs, n)
    assert np.array_equal(iw_reads_ours, iw_decode(method, theirs, n))
    assert np.array_equal(we_read_theirs, decode(ours, n)[0])
    assert np.array_equal(we_read_theirs, iw_reads_ours)
    if method == "dwtDctSvd":  # iw's dwtDct itself loses some bits on smooth images; dwtDctSvd not
        assert np.array_equal(we_read_theirs, bits)


UNMARKED = [pytest.param(img, id=name) for name, img in [
    ("natural-256x256", lambda: synthetic_bgr(256, 256, seed=7)),
    ("natural-512x384", lambda: synthetic_bgr(512, 384, seed=8)),
    ("natural-517x389", lambda: synthetic_bgr(517, 389, seed=9)),
    ("saturated-300x260", lambda: synthetic_bgr(300, 260, seed=10, saturated=True)),
    ("noise-257x259", lambda: np.random.default_rng(11).integers(0, 256, (259, 257, 3), dtype=np.uint8)),
    ("tall-203x1100", lambda: synthetic_bgr(203, 1100, seed=12)),  # decoded in several strips
    ("flat-grey-256x256", lambda: np.full((256, 256, 3), 128, np.uint8)),
    ("black-256x256", lambda: np.zeros((256, 256, 3), np.uint8)),
]]


@pytest.mark.parametrize("method", [pytest.param(m, id=m) for m in METHODS])
@pytest.mark.parametrize("make", UNMARKED)
def test_decoders_agree_on_unmarked_images(method, make):
    """On images carrying no mark both decoders give the same bits and the same mean scores."""
    _, _, decode = METHODS[method]
    bgr = make()
    for n in (32, 136):
        bits, avg = decode(bgr, n)
        assert bits.dtype == np.uint8
        assert np.array_equal(bits, iw_decode(method, bgr, n))
        assert np.array_equal(avg, iw_avg_scores(method, bgr, n))


@pytest.mark.parametrize("method", [pytest.param(m, id=m) for m in METHODS])
def test_saturated_colours_and_other_scales_match(method):
    """Saturated colours (uint8 wrap-around in iw's cast) and marking Y and U together match iw."""
    iw_class, embed, decode = METHODS[method]
    bgr = synthetic_bgr(300, 260, seed=10, saturated=True)
    bits = random_bits(48, 3)
    for scales in ((0, 36, 36), (36, 36, 0), (0, 20, 0)):
        expected = iw_class()(watermarks=list(bits), wmLen=48, scales=list(scales)).encode(bgr)
        ours = embed(bgr, bits, scales=scales)
        assert np.array_equal(ours, expected), scales
        assert np.array_equal(decode(ours, 48, scales=scales)[0], iw_decode(method, ours, 48, scales))


@pytest.mark.parametrize("block", [pytest.param(2, id="block2"), pytest.param(8, id="block8")])
@pytest.mark.parametrize("method", [pytest.param(m, id=m) for m in METHODS])
def test_other_block_sizes_match(method, block):
    """iw's ``block`` option (2 and 8 as well as the default 4) gives the same pixels and bits."""
    iw_class, embed, decode = METHODS[method]
    bgr, bits = synthetic_bgr(517, 389, seed=3), random_bits(48, 1)
    expected = iw_class()(watermarks=list(bits), wmLen=48, block=block).encode(bgr)
    assert np.array_equal(embed(bgr, bits, block=block), expected)
    iw_bits = iw_class()(watermarks=[], wmLen=48, block=block).decode(expected)
    assert np.array_equal(decode(expected, 48, block=block)[0], np.asarray(iw_bits, np.uint8))


@pytest.mark.parametrize("rows", [pytest.param(8, id="8rows"), pytest.param(44, id="44rows")])
@pytest.mark.parametrize("method", [pytest.param(m, id=m) for m in METHODS])
def test_strip_size_does_not_change_the_result(monkeypatch, method, rows):
    """Working in strips of any height (here one block row, and a ragged 44 rows) gives iw's output."""
    monkeypatch.setattr(fast, "_STRIP_ROWS", rows)
    monkeypatch.setattr(fast, "_DECODE_STRIP_ROWS", rows)
    _, embed, decode = METHODS[method]
    marked = embed(synthetic_bgr(*SIZES["517x389"]), random_bits(136, 136))
    assert np.array_equal(marked, iw_marked(method, "517x389", 136))
    assert np.array_equal(decode(marked, 136)[0], iw_decode(method, marked, 136))


def test_iw_per_block_path_alone_is_exact(monkeypatch):
    """With every block sent down the exact per-block path, dwtDctSvd still matches iw exactly."""
    monkeypatch.setattr(fast, "_MAX_ANGLE", -1.0)  # nothing certifies: all blocks use iw's code
    bgr = synthetic_bgr(256, 256, seed=12)
    bits = random_bits(48, 4)
    marked = fast.embed_dwt_dct_svd(bgr, bits)
    expected = _iw_module("dwtDctSvd").EmbedDwtDctSvd(watermarks=list(bits), wmLen=48).encode(bgr)
    assert np.array_equal(marked, expected)
    assert np.array_equal(fast.decode_dwt_dct_svd(bgr, 48)[0], iw_decode("dwtDctSvd", bgr, 48))


def test_numpy_haar_reproduces_pywt_bit_for_bit():
    """Our numpy Haar transform is bitwise pywt's here (else the module quietly uses pywt itself)."""
    assert fast._haar_matches_pywt()
    x = synthetic_bgr(517, 389)[:388, :516, 1]
    ref = pywt.dwt2(x, "haar")
    ours = fast._haar_dwt2(x)
    assert all(a.tobytes() == b.tobytes() for a, b in zip((ref[0], *ref[1]), (ours[0], *ours[1])))
    details = (ref[1][1], ref[1][0], ref[1][2])
    ca = ref[0] + 0.37
    assert pywt.idwt2((ca, details), "haar").tobytes() == fast._haar_idwt2(ca, details).tobytes()


def test_bits_without_blocks_read_as_zero_with_nan_score():
    """Asking for more bits than the image has blocks gives nan scores and 0 bits, without warnings."""
    bgr = synthetic_bgr(32, 32)  # 16x16 cA band: 16 blocks
    bits, avg = fast.decode_dwt_dct_svd(bgr, 20)
    assert np.isnan(avg[16:]).all() and not bits[16:].any()
    assert not np.isnan(avg[:16]).any()


def test_bad_input_is_rejected():
    """Non-BGR-uint8 images, empty bit lists and non-positive lengths raise ValueError."""
    bgr = synthetic_bgr(64, 64)
    with pytest.raises(ValueError, match="BGR uint8"):
        fast.embed_dwt_dct(bgr.astype(np.float32), [1, 0])
    with pytest.raises(ValueError, match="BGR uint8"):
        fast.decode_dwt_dct_svd(bgr[:, :, 0], 8)
    with pytest.raises(ValueError, match="at least one bit"):
        fast.embed_dwt_dct_svd(bgr, [])
    with pytest.raises(ValueError, match="positive"):
        fast.decode_dwt_dct(bgr, 0)


def test_degenerate_blocks_take_iw_code_and_match_it():
    """Zero blocks and blocks with tied singular values go through iw's per-block code, exactly."""
    rng = np.random.default_rng(5)
    frame = rng.uniform(30, 480, (16, 24))
    frame[0:4, 0:4] = 0.0                                   # zero block: s0 = 0, vectors undefined
    frame[4:8, 4:8] = 200.0 * np.eye(4)                     # four equal singular values
    frame[8:12, 8:12] = np.diag([300.0, 300.0, 10.0, 5.0])  # top two tied
    frame[12:16, 12:16] = 150.0                             # rank one: the common, easy case
    b = fast._gather(frame, 4).reshape(4, 4, -1)
    s, _, _, ok = fast._top_singular(b)  # warnings are errors here: nan must not leak out
    tied = [0, 7, 14]  # block numbers (row-major, 6 per row) of the three degenerate blocks
    assert not ok[tied].any() and ok[[21]].all() and (s[tied] == 0).all()

    bits = rng.integers(0, 2, 24).astype(np.float64)
    expected = frame.copy()
    _iw_module("dwtDctSvd").EmbedDwtDctSvd(watermarks=list(bits), wmLen=24).encode_frame(expected, 36)
    ours = frame.copy()
    fast._diffuse_svd(ours, lambda ca: np.kron(ca, np.full((2, 2), 0.5)) + 0.3, bits, 36, 4)
    exact = np.zeros(frame.shape, bool)
    for k in tied:
        r, c = divmod(k, 6)
        exact[4 * r: 4 * r + 4, 4 * c: 4 * c + 4] = True
    assert np.array_equal(ours[exact], expected[exact])
    assert np.abs(ours - expected).max() < 1e-9
    scores = fast._infer_svd(fast._gather(expected, 4), 4, 36)
    iw = _iw_module("dwtDctSvd").EmbedDwtDctSvd(wmLen=24)
    assert np.array_equal(scores, [iw.infer_dct_svd(expected[4 * (k // 6): 4 * (k // 6) + 4,
                                                            4 * (k % 6): 4 * (k % 6) + 4], 36)
                                   for k in range(24)])
