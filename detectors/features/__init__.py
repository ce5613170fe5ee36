"""Forensic feature extractors: one registry of pure functions of a decoded RGB uint8 array.

Each extractor measures one artifact that generators leave and cameras don't (or the other way
round); its module docstring says which and why. Features are computed on fixed-size crops
(:func:`analysis_crops`), so they do not depend on the image's size, and never look at the file
name, container or metadata.

>>> from detectors.features import extract_features, feature_names
>>> vector = extract_features(rgb)   # doctest: +SKIP
"""
from __future__ import annotations

from . import _cfa, _cooccurrence, _jpeg, _spectrum, _texture
from ._extract import CROP, MIN_SIDE, analysis_crops, extract_features, feature_names
from ._registry import (FeatureExtractor, UnknownExtractorError, extractor_names, get_extractor,
                        register_extractor)

#: Bump when any extractor's output changes; a model trained on other features refuses to load.
FEATURE_VERSION = "forensics-features/1"


def _doc(module) -> str:
    return (module.__doc__ or "").strip()


for _module, _name, _func in (
    (_spectrum, "residual_spectrum", _spectrum.residual_spectrum),
    (_cooccurrence, "residual_cooccurrence", _cooccurrence.residual_cooccurrence),
    (_cfa, "cfa_correlation", _cfa.cfa_correlation),
    (_jpeg, "jpeg_traces", _jpeg.jpeg_traces),
    (_texture, "texture_colour", _texture.texture_colour),
):
    register_extractor(FeatureExtractor(_name, _func, _module.NAMES, _doc(_module), dict(_module.FACETS)))


def describe_feature(name: str) -> str:
    """Words for a feature: the facet of its extractor that it belongs to."""
    for ex in (get_extractor(n) for n in extractor_names()):
        if name in ex.names:
            return ex.facets[ex.facet_of(name)]
    raise UnknownExtractorError(f"no registered extractor has a feature named {name!r}")


__all__ = [
    "CROP",
    "FEATURE_VERSION",
    "FeatureExtractor",
    "MIN_SIDE",
    "UnknownExtractorError",
    "analysis_crops",
    "describe_feature",
    "extract_features",
    "extractor_names",
    "feature_names",
    "get_extractor",
    "register_extractor",
]
