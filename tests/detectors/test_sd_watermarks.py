"""Public Stable Diffusion watermarks, embedded with invisible-watermark exactly as each release does."""
from __future__ import annotations

import numpy as np
import pytest

from support import natural_image
from detectors.sd_watermarks import (
    DOMAINS,
    MIN_AGREEMENT,
    PUBLIC_MARKS,
    _decoded_bits,
    _readings,
    block_scores,
    detect_public_marks,
)
from support.sd_marks import sd_mark




def _by_scheme(rgb):
    return {r.scheme: r for r in detect_public_marks(rgb)}


@pytest.mark.parametrize("scheme,seed", [pytest.param("sd1", 1, id="sd1"), pytest.param("sd2", 1, id="sd2"),
                                         pytest.param("sdxl", 2, id="sdxl")])
def test_release_marks_are_detected(scheme, seed):
    """An image marked the way the release marks it is detected as that scheme and no other."""
    results = _by_scheme(sd_mark(natural_image(512, 512, seed=seed), scheme))
    assert results[scheme].detected, results[scheme]
    assert results[scheme].extra["agreement"] >= MIN_AGREEMENT[scheme]
    assert results[scheme].false_positive_rate < 1e-4
    assert [s for s, r in results.items() if r.detected] == [scheme]


def test_sdxl_mark_is_read_in_the_float_domain():
    """diffusers' SDXL mark is found through the float-domain reading it was embedded in."""
    r = _by_scheme(sd_mark(natural_image(512, 512, seed=2), "sdxl"))["sdxl"]
    assert r.extra["domain"] == "float" and r.extra["polarity"] == "normal"


def test_sdxl_mark_reads_inverted_in_uint8_where_chroma_is_negative():
    """On a blue-tinted image the uint8 reading in diffusers' channel order is the bitwise inverse."""
    cool = natural_image(512, 512, seed=4).astype(np.float64)
    cool[:, :, 0] *= 0.3
    cool[:, :, 2] = np.clip(cool[:, :, 2] * 0.3 + 170, 0, 255)
    marked = sd_mark(cool.astype(np.uint8), "sdxl")
    mark = next(m for m in PUBLIC_MARKS if m.scheme == "sdxl")
    readings = _readings(marked, mark)
    assert readings[("uint8-rgb", "inverse")] > 0.7
    assert readings[("float", "normal")] >= MIN_AGREEMENT["sdxl"]
    assert _by_scheme(marked)["sdxl"].detected


@pytest.mark.parametrize("seed", range(4))
def test_unmarked_images_carry_no_public_mark(seed):
    """Clean images are not reported as SD-marked."""
    assert not any(r.detected for r in detect_public_marks(natural_image(512, 384, seed=seed)))


def test_small_images_are_reported_not_crashed():
    """Images under 256x256 give undetected results with a reason."""
    results = detect_public_marks(natural_image(200, 200))
    assert all(not r.detected and "256" in r.extra["reason"] for r in results)


@pytest.mark.shared_data
def test_no_public_mark_on_real_photos(shared_data):
    """None of 150 camera photos from the shared data reaches a threshold."""
    import csv

    from provenance import ImageError, load_image

    with open(shared_data / "real" / "MANIFEST.csv", newline="") as fh:
        files = [row["file"] for row in csv.DictReader(fh)][1::4][:150]
    for rel in files:
        try:
            rgb = load_image(shared_data / rel).rgb
        except ImageError:
            continue
        assert not any(r.detected for r in detect_public_marks(rgb)), rel


def _domain_arrays(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Each reading's input to decode_dwt_dct, built the plain way (one conversion per domain)."""
    import cv2

    return {"uint8": cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "uint8-rgb": rgb, "float": rgb.astype(np.float32)}


@pytest.mark.parametrize("make", [
    pytest.param(lambda: natural_image(512, 512, seed=5), id="natural-512"),
    pytest.param(lambda: natural_image(1037, 523, seed=6), id="natural-odd-size"),
    pytest.param(lambda: sd_mark(natural_image(640, 480, seed=1), "sd1"), id="sd1-marked"),
    pytest.param(lambda: sd_mark(natural_image(512, 768, seed=2), "sdxl"), id="sdxl-marked"),
    pytest.param(lambda: np.random.default_rng(7).integers(0, 256, (300, 402, 3), dtype=np.uint8), id="noise"),
])
def test_shared_block_scores_give_decode_dwt_dct_bits(make):
    """One transform per colour domain, shared by the three schemes, reads exactly the bits of a
    separate decode_dwt_dct per scheme and domain."""
    from provenance.watermark._fast_iw import decode_dwt_dct

    rgb = make()
    scores = block_scores(rgb)
    for domain, array in _domain_arrays(rgb).items():
        for mark in PUBLIC_MARKS:
            expected = decode_dwt_dct(array, mark.n_bits)[0]
            assert np.array_equal(_decoded_bits(scores[domain], mark.n_bits), expected), (domain, mark.scheme)
    assert tuple(scores) == DOMAINS
