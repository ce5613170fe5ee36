"""Forensic feature extractors: each on synthetic input with a known answer, and the registry contract."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from support import jpeg_roundtrip, natural_image
from detectors.features import (CROP, FEATURE_VERSION, MIN_SIDE, analysis_crops, describe_feature,
                                extract_features, extractor_names, feature_names, get_extractor, min_side, reduce)
from detectors.features._jpeg import estimate_step
from detectors.features._common import block_dct, luma
from provenance import ImageTooSmallError


def _named(extractor: str, rgb: np.ndarray) -> dict[str, float]:
    ex = get_extractor(extractor)
    return dict(zip(ex.names, ex(rgb)))


def _grain(size: int = 256, seed: int = 0, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = natural_image(size, size, seed=seed).astype(np.float64)
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).round().astype(np.uint8)


def test_registry_names_and_descriptions():
    """Every feature name is unique, described in words, and the vector matches the names."""
    names = feature_names()
    assert len(names) == len(set(names)) > 50
    assert all(describe_feature(n) for n in names)
    assert extractor_names() == ["residual_spectrum", "residual_cooccurrence", "cfa_correlation", "cross_channel",
                                 "jpeg_traces", "texture_colour", "backbone_lite0"]
    assert all(get_extractor(n).artifact for n in extractor_names())
    assert FEATURE_VERSION
    vec = extract_features(natural_image(300, 200, seed=1))
    assert vec.shape == (len(names),) and np.isfinite(vec).all()


def test_crops_fixed_size_and_grid_aligned():
    """Large images give four 256x256 crops at offsets that are multiples of 8; tiny ones are refused."""
    big = np.zeros((1000, 1500, 3), np.uint8)
    crops = analysis_crops(big)
    assert len(crops) == 4 and all(c.shape == (CROP, CROP, 3) for c in crops)
    for c in crops:
        y0 = (c.__array_interface__["data"][0] - big.__array_interface__["data"][0]) // (1500 * 3)
        x0 = ((c.__array_interface__["data"][0] - big.__array_interface__["data"][0]) % (1500 * 3)) // 3
        assert y0 % 8 == 0 and x0 % 8 == 0
    assert [c.shape for c in analysis_crops(np.zeros((300, 200, 3), np.uint8))] == [(200, 200, 3)]
    with pytest.raises(ImageTooSmallError):
        analysis_crops(np.zeros((60, 500, 3), np.uint8))


def test_features_do_not_depend_on_image_size():
    """A big image and its central part give the same features (both analyse the same central
    pixels: 512x512 at full resolution, 1024x1024 at half)."""
    img = _grain(2048, seed=2)
    assert np.allclose(extract_features(img), extract_features(img[512:1536, 512:1536]))


def test_extractors_see_their_scale():
    """Half-resolution extractors see 2x2 pixel means; the JPEG grid is read at full resolution;
    an image too small at half resolution is refused with its own size in the message."""
    # the JPEG block grid, the Bayer lattice, and the learned backbone (native resolution)
    full = {"jpeg_traces", "cfa_correlation", "backbone_lite0"}
    assert {get_extractor(n).scale for n in full} == {1}
    assert {get_extractor(n).scale for n in extractor_names() if n not in full} == {2}
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3
    half = reduce(img, 2)
    assert half.shape == (2, 3, 3)
    assert half[0, 0, 0] == round((img[0, 0, 0] + img[0, 1, 0] + img[1, 0, 0] + img[1, 1, 0]) / 4)
    rng = np.random.default_rng(5)
    for shape, k in (((101, 66, 3), 2), ((64, 48, 3), 4)):  # odd sides; 4x4 blocks of 255 fit uint16
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        a[:4, :4] = 255
        h, w = shape[0] // k * k, shape[1] // k * k
        means = a[:h, :w].reshape(h // k, k, w // k, k, 3).mean(axis=(1, 3))
        assert np.array_equal(reduce(a, k), np.floor(means + 0.5).astype(np.uint8))
    assert min_side() == 2 * MIN_SIDE
    with pytest.raises(ImageTooSmallError, match="100x300"):
        extract_features(np.zeros((300, 100, 3), np.uint8))
    # A period-2 pattern is averaged away at half resolution: the spectrum extractor sees a flat image.
    stripes = np.zeros((512, 512, 3), np.uint8)
    stripes[:, ::2] = 200
    assert np.ptp(reduce(stripes, 2)) == 0
    # The Bayer lattice is read at full resolution through the whole vector too.
    vec = dict(zip(feature_names(), extract_features(_bayer_bilinear(_grain(seed=6, sigma=6.0)))))
    assert vec["cfa_green_checker"] > 1.0


@pytest.mark.parametrize("period, feature", [pytest.param(8, "spec_p8_axis", id="period-8"),
                                             pytest.param(4, "spec_p4_axis", id="period-4")])
def test_spectrum_periodic_pattern_gives_peak(period, feature):
    """A faint periodic grid in the pixels gives a strong spectral peak at its period, grain alone none."""
    clean = _grain(seed=3)
    yy, xx = np.mgrid[0:256, 0:256]
    pattern = 4.0 * ((xx % period == 0) | (yy % period == 0))
    marked = np.clip(clean + pattern[:, :, None], 0, 255).astype(np.uint8)
    assert _named("residual_spectrum", marked)[feature] > 2.0
    assert abs(_named("residual_spectrum", clean)[feature]) < 1.0


def test_spectrum_checkerboard_gives_period_2_diagonal_peak():
    """A +-2 checkerboard (the transposed-convolution artifact) peaks at (N/2, N/2)."""
    yy, xx = np.mgrid[0:256, 0:256]
    board = 2.0 * (-1.0) ** (xx + yy)
    img = np.clip(_grain(seed=4) + board[:, :, None], 0, 255).astype(np.uint8)
    feats = _named("residual_spectrum", img)
    assert feats["spec_p2_diag"] > 3.0
    assert feats["spec_p2_diag"] > feats["spec_p8_diag"] + 2.0


def test_cooccurrence_flat_image_and_normalisation():
    """A flat image has only zero differences; on any image each order's histogram sums to 1."""
    flat = _named("residual_cooccurrence", np.full((128, 128, 3), 90, np.uint8))
    assert flat["cooc_d1_+0+0"] == pytest.approx(1.0) and flat["cooc_d2_+0+0"] == pytest.approx(1.0)
    vec = get_extractor("residual_cooccurrence")(_grain(seed=5))
    half = len(vec) // 2
    assert vec[:half].sum() == pytest.approx(1.0) and vec[half:].sum() == pytest.approx(1.0)
    assert vec[0] < 0.5  # grain spreads the differences


def _bayer_bilinear(rgb: np.ndarray) -> np.ndarray:
    """Mosaic with an RGGB Bayer pattern, then demosaic bilinearly, as a simple camera would."""
    x = rgb.astype(np.float64)
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    masks = [(yy % 2 == 0) & (xx % 2 == 0), (yy + xx) % 2 == 1, (yy % 2 == 1) & (xx % 2 == 1)]
    out = np.empty_like(x)
    k_g = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4.0
    k_rb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4.0
    for c, (m, k) in enumerate(zip(masks, (k_rb, k_g, k_rb))):
        sparse = np.pad(np.where(m, x[:, :, c], 0.0), 1, mode="reflect")
        out[:, :, c] = sum(k[i, j] * sparse[i:i + h, j:j + w] for i in range(3) for j in range(3))
    return np.clip(out, 0, 255).round().astype(np.uint8)


def test_cfa_demosaiced_image_has_phase_structure():
    """Bilinear demosaicing leaves a 2x2 phase contrast in the green prediction error; plain grain does not."""
    grain = _grain(seed=6, sigma=6.0)
    camera = _named("cfa_correlation", _bayer_bilinear(grain))
    painted = _named("cfa_correlation", grain)
    assert camera["cfa_green_checker"] > 1.0
    assert painted["cfa_green_checker"] < 0.2
    assert camera["cfa_red_phase"] > painted["cfa_red_phase"] + 0.5


def test_cross_channel_correlation_of_grey_image_is_one():
    """Identical channels have perfectly correlated residuals; independent channel noise has none."""
    grey = _grain(seed=7)[:, :, :1].repeat(3, axis=2)
    assert _named("cross_channel", grey)["xch_corr_rg"] == pytest.approx(1.0)
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    assert abs(_named("cross_channel", noise)["xch_corr_rg"]) < 0.05


def test_jpeg_known_table_is_read_back():
    """A JPEG written with a flat quantisation table of 12 gives step 12 for the low-frequency coefficients."""
    buf = io.BytesIO()
    Image.fromarray(_grain(seed=8, sigma=8.0)).save(buf, "JPEG", qtables=[[12] * 64, [12] * 64], subsampling=0)
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    dct = block_dct(luma(decoded.astype(np.float64)))
    assert estimate_step(dct[:, 0, 1])[0] == 12 and estimate_step(dct[:, 1, 0])[0] == 12
    feats = _named("jpeg_traces", decoded)
    assert feats["jpeg_q01_step"] == pytest.approx(np.log(12))
    assert _named("jpeg_traces", _grain(seed=8, sigma=8.0))["jpeg_q01_step"] == 0.0  # never compressed: no lattice


def test_jpeg_blockiness_grows_with_compression():
    """Blocking at 8x8 borders is absent in a lossless image and clear after JPEG q30."""
    img = natural_image(256, 256, seed=9)
    assert abs(_named("jpeg_traces", img)["jpeg_block_aligned"]) < 0.1
    assert _named("jpeg_traces", jpeg_roundtrip(img, 30))["jpeg_block_aligned"] > 0.3


def test_texture_colour_saturation_and_clipping():
    """A grey image has zero saturation; a half-white image has half its pixels clipped."""
    grey = _grain(seed=10)[:, :, :1].repeat(3, axis=2)
    feats = _named("texture_colour", grey)
    assert feats["colour_sat_mean"] == pytest.approx(0.0, abs=1e-6)
    half = grey.copy()
    half[:128] = 255
    assert _named("texture_colour", half)["colour_clipped"] == pytest.approx(np.log(0.5 + 1e-4), abs=0.02)
    red = np.zeros((128, 128, 3), np.uint8)
    red[:, :, 0] = 200
    assert _named("texture_colour", red)["colour_sat_mean"] == pytest.approx(1.0)


def test_extractors_reject_non_rgb_uint8():
    """Extractors are functions of an H x W x 3 uint8 array and say so otherwise."""
    with pytest.raises(ValueError):
        get_extractor("texture_colour")(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError):
        extract_features(np.zeros((64, 64, 3), np.float32))
