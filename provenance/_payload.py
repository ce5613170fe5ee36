"""The watermark payload: a random content id, protected by a check and an error-correcting code.

Layout of the full codec (128 bits, used by methods that can carry it)::

    content id (64 bits) | CRC-16/CCITT of the id (16 bits) | BCH(m=8, t=6) parity (48 bits)

then XORed with a fixed pseudo-random key stream ("whitening"). The whitening matters: the
invisible-watermark decoders return all-zeros or all-ones on many unmarked images, and all-zeros
is a valid BCH codeword; after whitening those outputs are far from every codeword.

A detection is reported only when BCH decoding succeeds with at most ``max_corrections`` flipped
bits *and* the CRC matches. For a random 128-bit word that happens with probability

    P = V(n, t) * 2^k / 2^n * 2^-16,   n = 128, k = 80, t = max_corrections

(V = Hamming ball volume), which is the ``false_positive_rate`` every detection reports.

Methods with only 32 bits (rivaGan) use the short codec: the first 24 bits of the content id plus
a CRC-8, no correction: P = 2^-8. Its detections name only an id *prefix*; it is a weak signal and
is reported as such.
"""
from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass
from functools import cached_property
from math import comb

import numpy as np

CONTENT_ID_BITS = 64
CONTENT_ID_HEX = CONTENT_ID_BITS // 4
_HEX_RE = re.compile(r"^[0-9a-f]+$")

# A fixed, public key stream. It is not a secret: it only decorrelates the payload from the
# decoders' biased outputs on unmarked images.
_WHITENING_SEED = 0x50524F56454E414E  # "PROVENAN"


def new_content_id() -> str:
    """A fresh random content id, as the lowercase hex string used everywhere."""
    return secrets.token_hex(CONTENT_ID_BITS // 8)


def normalize_content_id(value: str, *, length: int = CONTENT_ID_HEX) -> str:
    v = value.strip().lower()
    if len(v) != length or not _HEX_RE.match(v):
        raise ValueError(f"content id must be {length} hex digits, got {value!r}")
    return v


def _whitening(n_bits: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(_WHITENING_SEED))
    return rng.integers(0, 2, size=n_bits, dtype=np.uint8)


def _bytes_to_bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def _bits_to_bytes(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def _crc8(data: bytes, poly: int = 0x07, init: int = 0xFF) -> int:
    crc = init
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@dataclass(frozen=True)
class DecodedPayload:
    """What a codec made of a decoded bit string."""

    valid: bool
    content_id: str | None  # full id, or an id prefix for the short codec
    bit_errors: int | None  # bits the code corrected (None when decoding failed)
    raw_bits: str  # the received bits, hex, before any correction (for debugging and audits)


class PayloadCodec:
    """Encode a content id to a fixed number of bits and back.

    ``bits`` is the number of bits the watermark carries; the codec decides how many of them are
    id, check and parity. ``max_corrections`` is the detection threshold: received words needing
    more corrections are rejected even when BCH could correct them.
    """

    def __init__(self, *, name: str, bits: int, id_bits: int, crc_bits: int, bch_t: int = 0,
                 max_corrections: int | None = None) -> None:
        if id_bits % 8 or crc_bits not in (8, 16, 32):
            raise ValueError("id_bits must be whole bytes and crc_bits 8, 16 or 32")
        self.name = name
        self.bits = bits
        self.id_bits = id_bits
        self.crc_bits = crc_bits
        self.bch_t = bch_t
        self.max_corrections = bch_t if max_corrections is None else max_corrections
        self._data_bytes = (id_bits + crc_bits) // 8
        if bch_t:
            import bchlib

            self._bch = bchlib.BCH(bch_t, m=8)
            parity_bits = self._bch.ecc_bits
        else:
            self._bch = None
            parity_bits = 0
        if id_bits + crc_bits + parity_bits != bits:
            raise ValueError(f"{name}: {id_bits}+{crc_bits}+{parity_bits} bits != {bits}")
        self._parity_bits = parity_bits
        self._key = _whitening(bits)

    @property
    def id_hex_len(self) -> int:
        return self.id_bits // 4

    @property
    def is_partial(self) -> bool:
        """True when the payload carries only a prefix of the content id."""
        return self.id_bits < CONTENT_ID_BITS

    @cached_property
    def false_positive_rate(self) -> float:
        """Probability that uniformly random bits are accepted as a valid payload."""
        n, k = self.bits, self.id_bits + self.crc_bits
        ball = sum(comb(n, i) for i in range(self.max_corrections + 1))
        return ball * 2.0 ** (k - n) * 2.0 ** (-self.crc_bits)

    def _crc(self, id_bytes: bytes) -> bytes:
        if self.crc_bits == 32:
            return binascii.crc32(id_bytes).to_bytes(4, "big")
        if self.crc_bits == 16:
            return binascii.crc_hqx(id_bytes, 0xFFFF).to_bytes(2, "big")
        return bytes([_crc8(id_bytes)])

    def encode(self, content_id: str) -> np.ndarray:
        """The bits to embed for ``content_id`` (a full 64-bit id; short codecs keep its prefix)."""
        cid = normalize_content_id(content_id)
        id_bytes = bytes.fromhex(cid)[: self.id_bits // 8]
        data = id_bytes + self._crc(id_bytes)
        parity = bytes(self._bch.encode(data)) if self._bch else b""
        bits = np.concatenate([_bytes_to_bits(data), _bytes_to_bits(parity)[: self._parity_bits]])
        return bits ^ self._key

    def encode_payload(self, payload: str) -> np.ndarray:
        """The bits for a payload as detection reports it (``id_hex_len`` hex digits: the whole id,
        or the prefix a short codec carries), e.g. to render the pattern a detected mark has."""
        p = normalize_content_id(payload, length=self.id_hex_len)
        return self.encode(p + "0" * (CONTENT_ID_HEX - len(p)))

    def decode(self, bits: np.ndarray) -> DecodedPayload:
        received = np.asarray(bits, dtype=np.uint8).reshape(-1)
        if received.size != self.bits:
            raise ValueError(f"{self.name}: expected {self.bits} bits, got {received.size}")
        raw_hex = _bits_to_bytes(received).hex()
        plain = received ^ self._key
        data_bits = plain[: self._data_bytes * 8]
        data = bytearray(_bits_to_bytes(data_bits))
        corrected = 0
        if self._bch is not None:
            parity_bits = np.zeros(self._bch.ecc_bytes * 8, dtype=np.uint8)
            parity_bits[: self._parity_bits] = plain[self._data_bytes * 8 :]
            ecc = bytearray(_bits_to_bytes(parity_bits))
            corrected = self._bch.decode(data, ecc)
            if corrected < 0 or corrected > self.max_corrections:
                return DecodedPayload(False, None, None, raw_hex)
            self._bch.correct(data, ecc)
        id_bytes, check = bytes(data[: self.id_bits // 8]), bytes(data[self.id_bits // 8 :])
        if self._crc(id_bytes) != check:
            return DecodedPayload(False, None, None, raw_hex)
        return DecodedPayload(True, id_bytes.hex(), int(corrected), raw_hex)


#: 64-bit id + CRC-16 + BCH(t=6): 128 bits, false-positive rate 3.1e-10 per decode.
FULL_CODEC = PayloadCodec(name="id64-crc16-bch6", bits=128, id_bits=64, crc_bits=16, bch_t=6)
#: 24-bit id prefix + CRC-8, for 32-bit methods: false-positive rate 2^-8 per decode.
SHORT_CODEC = PayloadCodec(name="id24-crc8", bits=32, id_bits=24, crc_bits=8)
