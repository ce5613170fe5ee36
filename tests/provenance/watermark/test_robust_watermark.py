"""provenanceWM: our tiled spread-spectrum watermark, at reduced size so the suite stays fast."""
from __future__ import annotations

import io
from math import comb

import numpy as np
import pytest
from PIL import Image

from support import jpeg_roundtrip, natural_image
from provenance import ImageTooSmallError
from provenance.watermark import get_method
from provenance.watermark._soft_decode import soft_decode
from provenance.watermark._wm_code import ACCEPT_DISTANCE, MAX_DECODES, WM_CODEC
from provenance.watermark._wm_embed import _add_luma, _bit_projections, _pattern, embed_pattern, mark_strength
from provenance.watermark._wm_fold import working_luma
from provenance.watermark._wm_tile import render_tile

CID = "8f14e45fceea167a"
PAYLOAD = CID[: WM_CODEC.id_hex_len]  # the mark carries the id's first 48 bits


@pytest.fixture(scope="module")
def method():
    return get_method("provenanceWM")


@pytest.fixture(scope="module")
def marked(method):
    """A 448x448 photo-like image carrying CID (and its original)."""
    img = natural_image(448, 448, seed=21)
    return img, method.embed(img, CID)


def _resize(rgb: np.ndarray, f: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((round(w * f), round(h * f)), Image.BICUBIC))


def _aspect(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((round(w * 0.75), h), Image.BICUBIC))


def _webp(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "WEBP", quality=80)
    return np.asarray(Image.open(buf).convert("RGB"))


def _noise(rgb: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.clip(rgb + rng.normal(0, 5, rgb.shape), 0, 255).astype(np.uint8)


ATTACKS = [
    pytest.param(lambda x: jpeg_roundtrip(x, 50), id="jpeg-q50"),
    pytest.param(_webp, id="webp-q80"),
    pytest.param(lambda x: _resize(x, 0.6), id="resize-0.6"),
    pytest.param(lambda x: _resize(x, 1.5), id="resize-1.5"),
    pytest.param(lambda x: x[40:40 + 260, 70:70 + 260], id="crop-46pct-offset"),
    pytest.param(_aspect, id="aspect-4:3"),
    pytest.param(lambda x: np.asarray(Image.fromarray(x).rotate(2, resample=Image.BICUBIC)), id="rotate-2deg"),
    pytest.param(lambda x: np.clip(x * 1.2, 0, 255).astype(np.uint8), id="brightness+20%"),
    pytest.param(_noise, id="noise-sigma5"),
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_id_survives_attack(method, marked, attack):
    """The exact payload (the content id's first 48 bits) comes back after one attack of each family
    (signal, geometry, crop)."""
    _, img = marked
    r = method.detect(attack(img))
    assert r.detected, r.extra
    assert r.payload == PAYLOAD


def test_quality(marked):
    """The mark costs at least 40 dB PSNR and changes only luminance (R, G, B move together)."""
    img, out = marked
    diff = out.astype(np.int16) - img
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    assert 10 * np.log10(255**2 / mse) >= 40.0
    unclipped = (img > 8).all(axis=2) & (img < 247).all(axis=2)
    spread = diff.max(axis=2) - diff.min(axis=2)
    assert np.mean(spread[unclipped] <= 1) > 0.99


def test_flat_regions_get_a_weaker_mark(method):
    """On a flat grey image the change stays small (no visible pattern), far below the textured cap."""
    flat = np.full((300, 300, 3), 128, np.uint8)
    diff = method.embed(flat, CID).astype(np.float64) - flat
    assert np.sqrt(np.mean(diff**2)) < 1.5


def _codeword_with_flips(n_flips: int, seed: int) -> np.ndarray:
    bits = WM_CODEC.encode(CID)
    idx = np.random.default_rng(seed).choice(bits.size, n_flips, replace=False)
    bits[idx] ^= 1
    return bits


@pytest.mark.parametrize("n_flips", [1, 8, 16])
def test_bit_flips_within_capacity_are_corrected(n_flips):
    """Up to t = 16 flipped bits anywhere in the 204-bit word decode to the right id."""
    d = WM_CODEC.decode(_codeword_with_flips(n_flips, seed=n_flips))
    assert d.valid and d.content_id == PAYLOAD and d.bit_errors == n_flips


@pytest.mark.parametrize("n_flips", [32, 36, 44])
def test_bit_flips_beyond_capacity_are_rejected(n_flips):
    """More than ACCEPT_DISTANCE (31) flips are never reported as any id, even by the soft decoder."""
    for seed in range(5):
        bits = _codeword_with_flips(n_flips, seed=seed)
        assert not WM_CODEC.decode(bits).valid
        d = soft_decode(WM_CODEC, np.where(bits == 1, 1.0, -1.0))
        assert not d.valid and d.content_id is None


def test_soft_decoding_uses_reliability():
    """OSD repairs 31 errors (BCH alone: 16) when the errors are less reliable than the correct
    bits; 32 are rejected however weak they are (beyond the acceptance distance)."""
    bits = WM_CODEC.encode(CID)
    sign = np.where(bits == 1, 1.0, -1.0)
    rng = np.random.default_rng(3)
    soft = sign * rng.uniform(0.5, 2.0, bits.size)
    wrong = rng.choice(bits.size, 32, replace=False)
    soft[wrong[:16]] = -0.3 * sign[wrong[:16]]  # 16 errors: BCH's capacity
    soft[wrong[16:31]] = -0.05 * sign[wrong[16:31]]  # 15 more, all of them weak
    assert not WM_CODEC.decode((soft > 0).astype(np.uint8)).valid
    d = soft_decode(WM_CODEC, soft)
    assert d.valid and d.content_id == PAYLOAD and d.bit_errors == 31
    soft[wrong[31]] = -0.05 * sign[wrong[31]]
    assert not soft_decode(WM_CODEC, soft).valid


def test_code_is_affine_so_osd_applies():
    """The encoder is u G + e over GF(2): OSD searches the right set of words."""
    g, e = WM_CODEC.affine_form
    rng = np.random.default_rng(9)
    for _ in range(5):
        u = rng.integers(0, 2, 48, dtype=np.uint8)
        cid = np.packbits(np.concatenate([u, rng.integers(0, 2, 16, dtype=np.uint8)])).tobytes().hex()
        assert np.array_equal((u @ g) % 2 ^ e, WM_CODEC.encode(cid))


def test_false_positive_bound_is_computed_from_the_code(method):
    """The reported bound is decodes-per-image x 2^48 x V(204, 31) / 2^204, below 1e-9; one more
    accepted flip would break 1e-9."""
    n, d = 204, ACCEPT_DISTANCE
    assert d == 31
    single = sum(comb(n, i) for i in range(d + 1)) * 2.0 ** (48 - n)
    assert WM_CODEC.single_decode_false_positive_rate == pytest.approx(single)
    assert method.codec.false_positive_rate == pytest.approx(MAX_DECODES * single)
    assert method.codec.false_positive_rate < 1e-9
    assert MAX_DECODES * sum(comb(n, i) for i in range(d + 2)) * 2.0 ** (48 - n) > 1e-9


def test_unmarked_images_are_not_detected(method):
    """Photo-like, noisy, striped and flat unmarked images: no detection, and random words never decode."""
    rng = np.random.default_rng(11)
    images = [natural_image(320, 320, seed=s) for s in (40, 41, 42)]
    images.append(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))
    stripes = np.zeros((256, 384, 3), np.uint8)
    stripes[:, ::8] = 255  # a strongly periodic image: the sync search finds a lattice, the code rejects it
    images += [stripes, np.full((256, 256, 3), 200, np.uint8)]
    for img in images:
        r = method.detect(img)
        assert not r.detected and r.payload is None
    accepted = sum(WM_CODEC.decode(rng.integers(0, 2, 204, dtype=np.uint8)).valid for _ in range(3000))
    accepted += sum(soft_decode(WM_CODEC, rng.standard_normal(204)).valid for _ in range(300))
    assert accepted == 0


def test_other_id_is_not_reported(method, marked):
    """A mark carrying one id never decodes as another one after an attack."""
    _, img = marked
    r = method.detect(jpeg_roundtrip(_resize(img, 0.7), 60))
    assert r.payload in (None, PAYLOAD)


def test_deterministic(method):
    """Same image and id give the same pixels; the tile pattern is a pure function of the bits."""
    img = natural_image(256, 320, seed=8)
    assert np.array_equal(method.embed(img, CID), method.embed(img, CID))
    bits = WM_CODEC.encode(CID)
    assert np.array_equal(render_tile(bits, 128), render_tile(bits, 128))


def test_informed_embedding_lifts_the_weakest_bits():
    """Per-bit gains against the image's own interference: at the same PSNR budget, on a busy
    image, far fewer bits come out with the wrong sign (23 -> 1 here) and the weak ones move up."""
    rng = np.random.default_rng(5)
    grain = np.asarray(Image.fromarray(rng.integers(0, 256, (384, 384), dtype=np.uint8)).resize((768, 768)))
    img = np.clip(natural_image(384, 384, seed=5) * 0.7 + grain[:384, :384, None] * 0.3, 0, 255).astype(np.uint8)
    bits = WM_CODEC.encode(CID)
    sign = 2.0 * bits - 1.0
    plain = _add_luma(img, _pattern(mark_strength(img), render_tile(bits, 128)))
    informed = embed_pattern(img, bits)
    weakest, wrong = [], []
    for rgb in (plain, informed):
        mse = np.mean((rgb.astype(np.float64) - img) ** 2)
        assert 10 * np.log10(255**2 / mse) >= 40.0
        y, s = working_luma(rgb)
        soft, _ = _bit_projections(y, 128 * s)
        weakest.append(np.sort(sign * soft)[10])  # the 11th weakest of 204 bits
        wrong.append(int(np.sum(sign * soft < 0)))
    assert wrong[1] * 4 <= wrong[0] and weakest[1] > 0 > weakest[0], (wrong, weakest)


def test_default_detection_searches_and_fast_scan_does_not(method, marked):
    """With no method named, detection runs the full detector: a scaled copy is found. The fast
    scan (``fast=True``, ``--fast``) finds an only-cropped copy without the search, not a scaled one."""
    from provenance.watermark import detect_watermarks

    _, img = marked
    scaled = _resize(img, 0.6)
    found = {r.scheme: r for r in detect_watermarks(scaled)}
    assert found["provenanceWM"].detected and found["provenanceWM"].payload == PAYLOAD
    assert found["provenanceWM"].extra["searched"] is True
    fast = {r.scheme: r for r in detect_watermarks(img[30:, 50:], fast=True)}
    assert fast["provenanceWM"].detected and fast["provenanceWM"].payload == PAYLOAD
    assert fast["provenanceWM"].extra["searched"] is False
    assert not {r.scheme: r for r in detect_watermarks(scaled, fast=True)}["provenanceWM"].detected
    assert not method.scan(scaled).detected


@pytest.mark.parametrize("flip,name", [
    pytest.param(lambda a: a[:, ::-1], "horizontal", id="horizontal"),
    pytest.param(lambda a: a[::-1], "vertical", id="vertical"),
    pytest.param(lambda a: a[::-1, ::-1], "both (rotated 180 degrees)", id="rotated-180"),
])
def test_flipped_copies_are_found(method, marked, flip, name):
    """A mirrored copy is found and says which flip it undid; the fast scan does not look for it."""
    _, img = marked
    mirrored = np.ascontiguousarray(flip(img))
    r = method.detect(mirrored)
    assert r.detected and r.payload == PAYLOAD and r.extra["flip"] == name
    assert not method.scan(mirrored).detected


def test_flipped_and_scaled_copy_is_found(method, marked):
    """A mirrored copy that was also resized needs the search with the mirrored template."""
    _, img = marked
    r = method.detect(_resize(np.ascontiguousarray(img[:, ::-1]), 0.7))
    assert r.detected and r.payload == PAYLOAD and r.extra["flip"] == "horizontal"


def test_scan_finds_a_crop_of_a_larger_stamped_image(method):
    """A 1024 px image has 256 px tiles; a 50% crop of it (724 px, whose own tile would be 128 px)
    is still found by the cheap scan, at an offset that is not a tile multiple."""
    img = natural_image(1024, 1024, seed=3)
    crop = method.embed(img, CID)[150:150 + 724, 100:100 + 724]
    r = method.scan(crop)
    assert r.detected and r.payload == PAYLOAD


def test_too_small_image_is_refused_naming_the_minimum(method):
    """Embedding needs 256x256 and says so; the detector itself looks at images down to 96 px."""
    with pytest.raises(ImageTooSmallError, match="256x256"):
        method.embed(natural_image(255, 400, seed=1), CID)
    r = method.detect(natural_image(90, 90, seed=1))
    assert not r.detected and "96x96" in r.extra["reason"]


def _busy_256(seed: int) -> tuple[np.ndarray, str]:
    """A 256² image with 30% of its pixels pushed to black or white (a linocut-like texture, the
    kind where a 40 dB mark in 2x2 tiles is too weak), and a content id, both from ``seed``."""
    rng = np.random.default_rng(seed)
    img = natural_image(256, 256, seed=seed).astype(np.int16)
    mask = rng.random((256, 256)) < 0.3
    img[mask] = np.where(rng.random(mask.sum()) < 0.5, 0, 255)[:, None]
    return img.clip(0, 255).astype(np.uint8), "%016x" % rng.integers(0, 2**63)


@pytest.mark.parametrize("seed", [1, 4])
def test_embed_strengthens_a_mark_its_own_scan_cannot_find(seed):
    """Issue 15: small busy images came out stamped with a mark nobody could find. The 40 dB
    pattern alone is missed on these; ``embed`` checks its own work and embeds again, stronger
    (PSNR still >= 36 dB), so the mark it returns is found, exactly."""
    img, cid = _busy_256(seed)
    method = get_method("provenanceWM")
    assert not method.scan(embed_pattern(img, method.codec.encode(cid))).detected
    marked = method.embed(img, cid)
    found = method.scan(marked)
    assert found.detected and found.payload == cid[: method.codec.id_hex_len]
    d = marked.astype(np.float64) - img
    assert 36.0 <= 10 * np.log10(255**2 / np.mean(d * d)) < 40.0
