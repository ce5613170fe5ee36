"""Watermark methods: one interface, one table.

>>> from provenance.watermark import embed_watermark, detect_watermarks
>>> marked = embed_watermark(rgb, content_id)          # doctest: +SKIP
>>> [r.to_dict() for r in detect_watermarks(marked)]   # doctest: +SKIP
>>> localize_watermark(edited).missing_share           # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from ._base import WatermarkMethod, WatermarkResult
from ._fast_iw import DEFAULT_DWT_DCT_SCALES, dwt_dct_block_scores
from ._localize import WatermarkMap, render_map
from ._table import DEFAULT_METHOD, get_method, method_names, register_method


def embed_watermark(image: np.ndarray, content_id: str, *, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Return a copy of the RGB ``image`` carrying ``content_id`` with the named method."""
    return get_method(method).embed(image, content_id)


def detect_watermarks(image: np.ndarray, *, methods: list[str] | None = None,
                      known: dict[str, WatermarkResult] | None = None, fast: bool = False) -> list[WatermarkResult]:
    """Run the named methods' detectors on an RGB image; by default every registered method that
    is installed and scanned by default (slow ones such as rivaGan must be named), each with its
    full detector (provenanceWM: scaled 0.3-2x, rotated up to 7 degrees, stretched, cropped to a
    quarter, flipped). ``fast``: each method's ``scan`` instead (provenanceWM: the stamped
    geometry only, so untouched, re-encoded, filtered and cropped copies; what ``--fast`` runs).
    ``known``: results already computed for this image (``localize_watermark(image).detection``),
    reported in place of running those methods again."""
    known = known or {}

    def run(m: WatermarkMethod) -> WatermarkResult:
        return m.scan(image) if fast else m.detect(image)

    if methods is not None:
        return [known[name] if name in known else run(get_method(name)) for name in methods]
    results = []
    for name in method_names():
        m = get_method(name)
        if not m.scan_by_default:
            continue
        if name in known:
            results.append(known[name])
        elif not m.available():
            results.append(WatermarkResult(name, False, extra={"skipped": f"needs the '{m.extra_name}' extra"}))
        else:
            results.append(run(m))
    return results


def localize_watermark(image: np.ndarray, *, block: int | None = None) -> WatermarkMap:
    """Where provenanceWM's mark is missing in an RGB ``image``, block by block (blocks of about
    ``block`` px; default 32 px of the detector's working copy). Detects first, with the geometric
    search; an image without the mark gives an undetected, empty map."""
    return get_method("provenanceWM").localize(image, block=block)


__all__ = [
    "DEFAULT_DWT_DCT_SCALES",
    "DEFAULT_METHOD",
    "WatermarkMap",
    "WatermarkMethod",
    "WatermarkResult",
    "detect_watermarks",
    "dwt_dct_block_scores",
    "embed_watermark",
    "get_method",
    "localize_watermark",
    "method_names",
    "register_method",
    "render_map",
]
