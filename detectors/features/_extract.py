"""Fixed-size analysis crops and the full feature vector."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from provenance import ImageTooSmallError

from ._table import FeatureExtractor, extractor_names, get_extractor

#: Side of an analysis crop. Features are averaged over at most four such crops, so they do not
#: depend on the image's size and a 24-megapixel photo costs the same as a 512x512 one.
CROP = 256
#: Smallest side we analyse (a smaller image is an error, not a guess).
MIN_SIDE = 64


def analysis_crops(rgb: np.ndarray, *, crop: int = CROP) -> list[np.ndarray]:
    """The crops features are computed on: the 2x2 tiles of the central ``2*crop`` square when the
    image is large enough, else one central square. Offsets are multiples of 8, so a JPEG grid
    that starts at the image origin stays aligned with the crops.

    Images smaller than ``crop`` give one crop of their largest multiple-of-8 square side.
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 array, got {arr.dtype} {arr.shape}")
    h, w = arr.shape[:2]
    side = min(crop, (min(h, w) // 8) * 8)
    if side < MIN_SIDE:
        raise ImageTooSmallError(f"{w}x{h} is too small for forensic analysis (at least {MIN_SIDE}x{MIN_SIDE})")
    n = 2 if min(h, w) >= 2 * side else 1
    y0 = (h - n * side) // 2 // 8 * 8
    x0 = (w - n * side) // 2 // 8 * 8
    return [arr[y0 + i * side: y0 + (i + 1) * side, x0 + j * side: x0 + (j + 1) * side]
            for i in range(n) for j in range(n)]


def _extractors() -> list[FeatureExtractor]:
    return [get_extractor(n) for n in extractor_names()]


def feature_names() -> list[str]:
    """Names of the entries of :func:`extract_features`' vector, in order."""
    return [n for e in _extractors() for n in e.names]


def reduce(rgb: np.ndarray, scale: int) -> np.ndarray:
    """The image at ``1/scale`` of its size: means of ``scale`` x ``scale`` pixel blocks, rounded
    half up to uint8 (a trailing row or column that does not fill a block is dropped)."""
    if scale == 1:
        return rgb
    h, w = (rgb.shape[0] // scale) * scale, (rgb.shape[1] // scale) * scale
    total = np.zeros((h // scale, w // scale, rgb.shape[2]), np.uint16)  # 16 x 255 still fits
    for i in range(scale):
        for j in range(scale):
            total += rgb[i:h:scale, j:w:scale]
    n = scale * scale
    return ((total + n // 2) // n).astype(np.uint8)


def min_side() -> int:
    """Smallest side :func:`extract_features` accepts: ``MIN_SIDE`` at every extractor's scale."""
    return MIN_SIDE * max((e.scale for e in _extractors()), default=1)


def require_size(rgb: np.ndarray) -> None:
    """Raise :class:`ImageTooSmallError` for an image smaller than :func:`min_side`."""
    h, w = rgb.shape[:2]
    if min(h, w) < min_side():
        raise ImageTooSmallError(f"{w}x{h} is too small for forensic analysis (at least {min_side()}x{min_side()})")


def extract_features(rgb: np.ndarray, *, extractors: Iterable[str] | None = None) -> np.ndarray:
    """The feature vector of an RGB uint8 image: every registered extractor at its scale
    (:attr:`FeatureExtractor.scale`), averaged over the analysis crops of the image at that scale.

    ``extractors`` (names) computes only those: the vector keeps its full length and order, and
    the entries of the others are NaN (a model that reads fewer extractors need not pay for all).
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 array, got {arr.dtype} {arr.shape}")
    wanted = None
    if extractors is not None:
        wanted = {get_extractor(n).name for n in extractors}  # an unknown name fails here
    require_size(arr)
    reduced: dict[int, np.ndarray] = {}
    crops: dict[tuple[int, int], list[np.ndarray]] = {}
    parts = []
    for ex in _extractors():
        if wanted is not None and ex.name not in wanted:
            parts.append(np.full(len(ex.names), np.nan))
            continue
        if ex.scale not in reduced:
            reduced[ex.scale] = reduce(arr, ex.scale)
        if (ex.scale, ex.crop) not in crops:
            crops[ex.scale, ex.crop] = analysis_crops(reduced[ex.scale], crop=ex.crop)
        mine = crops[ex.scale, ex.crop]
        parts.append(ex(mine) if ex.batch else np.mean([ex(c) for c in mine], axis=0))
    return np.concatenate(parts)
