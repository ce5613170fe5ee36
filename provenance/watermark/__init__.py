"""Watermark methods: one interface, one registry.

>>> from provenance.watermark import embed_watermark, detect_watermarks
>>> marked = embed_watermark(rgb, content_id)          # doctest: +SKIP
>>> [r.to_dict() for r in detect_watermarks(marked)]   # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from ._base import WatermarkMethod, WatermarkResult
from ._registry import DEFAULT_METHOD, get_method, method_names, register_method


def embed_watermark(image: np.ndarray, content_id: str, *, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Return a copy of the RGB ``image`` carrying ``content_id`` with the named method."""
    return get_method(method).embed(image, content_id)


def detect_watermarks(image: np.ndarray, *, methods: list[str] | None = None) -> list[WatermarkResult]:
    """Run every (or the named) registered, installed method's detector on an RGB image."""
    names = methods if methods is not None else method_names()
    results = []
    for name in names:
        m = get_method(name)
        if methods is None and not m.available():
            results.append(WatermarkResult(name, False, extra={"skipped": f"needs the '{m.extra_name}' extra"}))
            continue
        results.append(m.detect(image))
    return results


__all__ = [
    "DEFAULT_METHOD",
    "WatermarkMethod",
    "WatermarkResult",
    "detect_watermarks",
    "embed_watermark",
    "get_method",
    "method_names",
    "register_method",
]
