"""The payload code: round trips, error correction within capacity, rejection beyond it."""
from __future__ import annotations

import numpy as np
import pytest

from provenance._payload import FULL_CODEC, SHORT_CODEC, new_content_id, normalize_content_id


def test_content_id_is_16_lowercase_hex():
    """Content ids are 64-bit random values written as 16 lowercase hex digits."""
    ids = {new_content_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 16 and i == i.lower() and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize("codec", [pytest.param(FULL_CODEC, id="full"), pytest.param(SHORT_CODEC, id="short")])
def test_round_trip(codec):
    """Encoding then decoding gives the id (or its prefix) back with zero corrections."""
    cid = new_content_id()
    bits = codec.encode(cid)
    assert bits.shape == (codec.bits,)
    out = codec.decode(bits)
    assert out.valid and out.bit_errors == 0
    assert out.content_id == cid[: codec.id_hex_len]


@pytest.mark.parametrize("flips", range(0, 7))
def test_full_codec_corrects_up_to_t_errors(flips):
    """Up to t=6 flipped bits anywhere are corrected and counted."""
    rng = np.random.default_rng(flips)
    for _ in range(20):
        cid = new_content_id()
        bits = FULL_CODEC.encode(cid)
        idx = rng.choice(FULL_CODEC.bits, size=flips, replace=False)
        bits[idx] ^= 1
        out = FULL_CODEC.decode(bits)
        assert out.valid and out.content_id == cid and out.bit_errors == flips


def test_full_codec_rejects_beyond_capacity():
    """Words with more errors than the code corrects are rejected, never mis-corrected to another id."""
    rng = np.random.default_rng(1)
    wrong = 0
    for _ in range(300):
        cid = new_content_id()
        bits = FULL_CODEC.encode(cid)
        bits[rng.choice(FULL_CODEC.bits, size=int(rng.integers(12, 40)), replace=False)] ^= 1
        out = FULL_CODEC.decode(bits)
        wrong += out.valid
    assert wrong == 0


def test_random_and_degenerate_words_are_rejected():
    """Uniformly random words, all-zeros and all-ones (what decoders return on clean images) never validate."""
    rng = np.random.default_rng(7)
    for codec in (FULL_CODEC,):
        hits = sum(codec.decode(rng.integers(0, 2, codec.bits, dtype=np.uint8)).valid for _ in range(20000))
        assert hits == 0  # expected 20000 * 3.1e-10
    for codec in (FULL_CODEC, SHORT_CODEC):
        assert not codec.decode(np.zeros(codec.bits, np.uint8)).valid
        assert not codec.decode(np.ones(codec.bits, np.uint8)).valid


def test_short_codec_false_positive_rate_matches_its_crc():
    """The 32-bit code accepts about 1 in 256 random words, as its reported rate says."""
    rng = np.random.default_rng(11)
    n = 40000
    hits = sum(SHORT_CODEC.decode(rng.integers(0, 2, 32, dtype=np.uint8)).valid for _ in range(n))
    assert SHORT_CODEC.false_positive_rate == pytest.approx(1 / 256)
    assert abs(hits / n - 1 / 256) < 5 * np.sqrt((1 / 256) / n)


def test_reported_false_positive_rate_is_below_1e9():
    """The full code's false-positive bound is below 1e-9 per decode."""
    assert FULL_CODEC.false_positive_rate < 1e-9


@pytest.mark.parametrize("bad", ["", "xyz", "0123", "0123456789abcdefa", "g123456789abcdef"])
def test_bad_content_ids_are_refused(bad):
    """Only 16-digit hex strings are content ids."""
    with pytest.raises(ValueError):
        normalize_content_id(bad)


def test_encode_payload_takes_what_detection_reports():
    """A detected payload (the whole id, or the prefix a short codec carries) encodes to the same
    bits as the content id it came from; any other length is refused."""
    from provenance.watermark._wm_code import WM_CODEC

    cid = "8f14e45fceea167a"
    for codec in (FULL_CODEC, SHORT_CODEC, WM_CODEC):
        payload = cid[: codec.id_hex_len]
        assert np.array_equal(codec.encode_payload(payload), codec.encode(cid))
        assert codec.decode(codec.encode_payload(payload)).content_id == payload
        with pytest.raises(ValueError):
            codec.encode_payload(cid[: codec.id_hex_len - 2])
