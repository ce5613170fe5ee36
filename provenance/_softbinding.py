"""The soft-binding algorithms this tool computes: the one table that stamping, publishing, the
resolution service (``provenance serve``) and the resolver client (``verify --resolver``) read.

A soft binding is a value computed from the pixels that survives the loss of the file's metadata:
a watermark (our content id, read back by the watermark detector) or a fingerprint (PDQ, the ISO
24138 ISCC Image-Code). Each algorithm here says how its value travels (the Soft Binding
Resolution API sends it base64-encoded; ``key`` is the normalised form the registry stores), how
it is computed from an image, and how two values compare:

* ``org.provenance.watermark.<method>``: one per watermark method (the ``alg`` stamps write into
  their ``c2pa.soft-binding`` assertion); the value is the content id's bytes, or an id prefix
  for methods that carry only a prefix (provenanceWM: 48 bits). Equal, or a prefix: score 1.
* ``org.provenance.fingerprint.pdq``: the 256-bit PDQ hash (not in the C2PA soft-binding
  algorithm list, hence our own namespace). Near when within ``PDQ_MAX_DISTANCE`` bits (the
  registry's calibrated threshold); the score is ``1 - distance / 256``.
* ``io.iscc.v0``: the ISCC Content-Code Image of ISO 24138 (``iscc-core``; the value is the code
  as text, ``ISCC:EEA...``). Near when its 64-bit body is within ``ISCC_MAX_DISTANCE`` bits.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Callable

from ._errors import ProvenanceError
from ._registry import PDQ_MAX_DISTANCE

WATERMARK_PREFIX = "org.provenance.watermark."  # as provenance._c2pa.SOFT_BINDING_PREFIX
PDQ_ALG = "org.provenance.fingerprint.pdq"
ISCC_ALG = "io.iscc.v0"
#: Largest Hamming distance (of 64 bits) between ISCC Image-Code bodies treated as the same
#: image. tests/provenance/test_softbinding.py: 50% resizes and JPEG q80 copies of 8 synthetic
#: images stay within 2 bits, different images are 20+ apart (a handful of images, not a
#: calibration like PDQ's).
ISCC_MAX_DISTANCE = 8
#: Longest base64 value accepted (an id, a 256-bit hash or an ISCC code is far shorter).
MAX_VALUE_CHARS = 256


class SoftBindingError(ProvenanceError):
    """A soft-binding value that is not valid for its algorithm (bad base64, wrong length)."""


@dataclass(frozen=True)
class SoftBindingAlgorithm:
    """One algorithm: ``alg`` (its C2PA identifier), ``kind`` (watermark | fingerprint), how a
    transmitted value becomes a stored ``key`` and back, and how close two keys are."""

    alg: str
    kind: str
    to_key: Callable[[bytes], str]  # the decoded value's bytes -> the stored key
    from_key: Callable[[str], bytes]
    max_distance: int | None = None  # fingerprints: the largest distance that still matches
    bits: int | None = None

    def key(self, value_b64: str) -> str:
        """The stored key of a base64 value as the API transmits it."""
        if not isinstance(value_b64, str) or not value_b64 or len(value_b64) > MAX_VALUE_CHARS:
            raise SoftBindingError(f"{self.alg}: the value must be a base64 string of at most {MAX_VALUE_CHARS} characters")
        try:
            raw = base64.b64decode(value_b64 + "=" * (-len(value_b64) % 4), validate=True)
        except (binascii.Error, ValueError) as e:
            try:  # the URL-safe alphabet too: a value in a query string
                raw = base64.urlsafe_b64decode(value_b64 + "=" * (-len(value_b64) % 4))
            except (binascii.Error, ValueError):
                raise SoftBindingError(f"{self.alg}: the value is not base64 ({e})") from e
        return self.to_key(raw)

    def value(self, key: str) -> str:
        """The base64 value of a stored key."""
        return base64.b64encode(self.from_key(key)).decode("ascii")

    def distance(self, a: str, b: str) -> int:
        """Bits that differ between two fingerprint keys."""
        return (_body(self, a) ^ _body(self, b)).bit_count()

    def similarity(self, distance: int) -> float:
        return round(1.0 - distance / (self.bits or 1), 4)


def _body(alg: SoftBindingAlgorithm, key: str) -> int:
    if alg.alg == ISCC_ALG:
        return int.from_bytes(_iscc_body(key), "big")
    return int(key, 16)


def _hex_id(raw: bytes) -> str:
    if not 1 <= len(raw) <= 8:
        raise SoftBindingError(f"a watermark content id is 1 to 8 bytes, got {len(raw)}")
    return raw.hex()


def _pdq_key(raw: bytes) -> str:
    if len(raw) != 32:
        raise SoftBindingError(f"a PDQ hash is 32 bytes, got {len(raw)}")
    return raw.hex()


def _iscc_key(raw: bytes) -> str:
    try:
        code = raw.decode("ascii").strip()
    except UnicodeDecodeError as e:
        raise SoftBindingError("an ISCC value is the code as text (ISCC:EEA...)") from e
    code = code if code.upper().startswith("ISCC:") else "ISCC:" + code
    _iscc_body(code)
    return "ISCC:" + code[5:].upper()


def _iscc_body(code: str) -> bytes:
    """The 64-bit body of an ISCC Image-Code (MainType CONTENT, SubType IMAGE)."""
    import iscc_core

    try:
        maintype, subtype, _version, _length, body = iscc_core.iscc_decode(code)
    except Exception as e:  # iscc-core raises ValueError/KeyError/binascii errors on bad codes
        raise SoftBindingError(f"not an ISCC code: {code[:40]!r} ({e})") from e
    if (int(maintype), int(subtype)) != (2, 1) or len(body) != 8:
        raise SoftBindingError(f"{code[:40]!r} is not a 64-bit ISCC Content-Code Image")
    return body


def _table() -> dict[str, SoftBindingAlgorithm]:
    from .watermark import method_names

    table = {WATERMARK_PREFIX + m: SoftBindingAlgorithm(WATERMARK_PREFIX + m, "watermark", _hex_id, bytes.fromhex)
             for m in method_names()}
    table[PDQ_ALG] = SoftBindingAlgorithm(PDQ_ALG, "fingerprint", _pdq_key, bytes.fromhex,
                                          max_distance=PDQ_MAX_DISTANCE, bits=256)
    if iscc_available():
        table[ISCC_ALG] = SoftBindingAlgorithm(ISCC_ALG, "fingerprint", _iscc_key, lambda k: k.encode("ascii"),
                                               max_distance=ISCC_MAX_DISTANCE, bits=64)
    return table


def iscc_available() -> bool:
    try:
        import iscc_core  # noqa: F401
    except ImportError:
        return False
    return True


def algorithms() -> dict[str, SoftBindingAlgorithm]:
    """Every algorithm this installation computes, by ``alg``."""
    return _table()


def get_algorithm(alg: str) -> SoftBindingAlgorithm | None:
    return _table().get(alg)


def watermark_alg(method: str) -> str:
    return WATERMARK_PREFIX + method


def iscc_image_code(rgb) -> str | None:
    """The ISCC Content-Code Image (64 bits) of an RGB image, None without ``iscc-core``. The
    normalisation is iscc-sdk's: grey, 32 x 32, bicubic."""
    if not iscc_available():
        return None
    import iscc_core
    import numpy as np
    from PIL import Image

    grey = Image.fromarray(rgb).convert("L").resize((32, 32), Image.BICUBIC)
    return iscc_core.gen_image_code_v0(np.asarray(grey).ravel().tolist(), bits=64)["iscc"]


def image_bindings(rgb, *, content_id: str | None = None, method: str | None = None,
                   pdq: str | None = None, pdq_quality: int | None = None) -> list[tuple[str, str]]:
    """The (alg, key) soft bindings a stamped image is published under: its watermark id, its PDQ
    hash (when the image is not too flat for it) and its ISCC Image-Code (when iscc-core is
    installed)."""
    from ._fingerprint import PDQ_MIN_QUALITY, pdq_hash

    out = []
    if content_id and method:
        out.append((watermark_alg(method), content_id.lower()))
    if pdq is None and rgb is not None:
        look = pdq_hash(rgb)
        pdq, pdq_quality = look.hash, look.quality
    if pdq and (pdq_quality is None or pdq_quality >= PDQ_MIN_QUALITY):
        out.append((PDQ_ALG, pdq))
    code = iscc_image_code(rgb) if rgb is not None else None
    if code:
        out.append((ISCC_ALG, code))
    return out


__all__ = [
    "ISCC_ALG",
    "ISCC_MAX_DISTANCE",
    "PDQ_ALG",
    "WATERMARK_PREFIX",
    "SoftBindingAlgorithm",
    "SoftBindingError",
    "algorithms",
    "get_algorithm",
    "image_bindings",
    "iscc_available",
    "iscc_image_code",
    "watermark_alg",
]
