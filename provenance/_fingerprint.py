"""Perceptual fingerprints of an image: what the registry matches a copy by when its watermark and
metadata are gone.

Two hashes, each a fixed-length bit string as lowercase hex:

* **pHash** (64 bits, ``imagehash.phash``): cheap, survives re-encoding and resizing, not crops,
  rotations or flips.
* **PDQ** (256 bits, Meta's hash via ``pdqhash``): a DCT hash of a 64 x 64 Jarosz-filtered
  luminance, with a quality score (0-100; below ``PDQ_MIN_QUALITY`` an image is too flat for its
  hash to mean much). PDQ computes the hashes of the image's 8 dihedral transforms (the flips and
  the 90-degree rotations) from one DCT: a lookup tries all 8, so a flipped copy matches its stamp.

PDQ hashes a ``PDQ_SIDE`` x ``PDQ_SIDE`` copy of the image (area resampling, aspect not kept):
its filter's cost grows with the pixel count and its 64 x 64 buffer needs no more; a square makes
the hash ignore a change of aspect; and at 257-383 px PDQ's box filter is symmetric, so the
dihedral hashes are exactly those of the flipped image (at 256 or 512 px a flipped copy lands
10-40 bits away from its stamp's "flipped" hash; measured on three images, every side 250-397 px).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: PDQ hashes of an image this flat (quality below this) are not used for matching: Meta's own
#: guidance, and a flat image's 256 bits are mostly noise.
PDQ_MIN_QUALITY = 50
PDQ_SIDE = 320
#: The order of ``pdq_hashes``'s 8 hashes, as pdqhash.compute_dihedral returns them.
DIHEDRAL = ("original", "rotated 90", "rotated 180", "rotated 270", "flipped vertically",
            "flipped horizontally", "transposed", "transversed")


@dataclass(frozen=True)
class PdqHashes:
    """The 8 dihedral PDQ hashes of one image (``DIHEDRAL`` order; ``hashes[0]`` is the image as
    it is) and their quality."""

    hashes: tuple[str, ...]
    quality: int

    @property
    def hash(self) -> str:
        return self.hashes[0]

    @property
    def usable(self) -> bool:
        return self.quality >= PDQ_MIN_QUALITY


def _bits_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def _square(rgb: np.ndarray) -> np.ndarray:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    enlarge = h < PDQ_SIDE or w < PDQ_SIDE
    return cv2.resize(rgb, (PDQ_SIDE, PDQ_SIDE), interpolation=cv2.INTER_LINEAR if enlarge else cv2.INTER_AREA)


def pdq_hashes(rgb: np.ndarray) -> PdqHashes:
    """PDQ hashes of an RGB image and its 7 other dihedral transforms, with their quality."""
    import pdqhash

    hashes, quality = pdqhash.compute_dihedral(_square(rgb))
    return PdqHashes(tuple(_bits_hex(h) for h in hashes), int(quality))


def pdq_hash(rgb: np.ndarray) -> PdqHashes:
    """The PDQ hash of an RGB image as it is (``hashes`` holds that one only), with its quality."""
    import pdqhash

    h, quality = pdqhash.compute(_square(rgb))
    return PdqHashes((_bits_hex(h),), int(quality))


def perceptual_hash(rgb: np.ndarray) -> str:
    """64-bit DCT perceptual hash (imagehash.phash) as 16 hex digits."""
    import imagehash
    from PIL import Image

    return str(imagehash.phash(Image.fromarray(rgb)))


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex strings of the same length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
