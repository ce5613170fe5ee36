"""Forensic feature extractors: one table of pure functions of a decoded RGB uint8 array.

Each extractor measures one artifact that generators leave and cameras don't (or the other way
round); its module docstring says which and why. Each extractor looks at the image at its scale
(full resolution for the JPEG grid and the Bayer lattice, half resolution for the rest:
:attr:`FeatureExtractor.scale`)
and is computed on fixed-size crops of it (:func:`analysis_crops`), so features do not depend on
the image's size, and never look at the file name, container or metadata.

>>> from detectors.features import extract_features, feature_names
>>> vector = extract_features(rgb)   # doctest: +SKIP
"""
from __future__ import annotations

import functools

from . import _backbone, _cfa, _cooccurrence, _cross_channel, _jpeg, _spectrum, _texture
from ._extract import CROP, MIN_SIDE, analysis_crops, extract_features, feature_names, min_side, reduce, require_size
from ._table import FeatureExtractor, UnknownExtractorError, extractor_names, get_extractor, register_extractor

#: Bump when any extractor's output changes; a model trained on other features refuses to load.
FEATURE_VERSION = "forensics-features/3"  # 2: analysis scales; 3: the learned backbone features


def _doc(module) -> str:
    return (module.__doc__ or "").strip()


for _module, _name, _func, _scale in (
    (_spectrum, "residual_spectrum", _spectrum.residual_spectrum, 2),
    (_cooccurrence, "residual_cooccurrence", _cooccurrence.residual_cooccurrence, 2),
    (_cfa, "cfa_correlation", _cfa.cfa_correlation, 1),  # a one-pixel Bayer lattice: full resolution
    (_cross_channel, "cross_channel", _cross_channel.cross_channel, 2),
    (_jpeg, "jpeg_traces", _jpeg.jpeg_traces, 1),  # reads the 8x8 block grid: full resolution
    (_texture, "texture_colour", _texture.texture_colour, 2),
):
    register_extractor(FeatureExtractor(_name, _func, _module.NAMES, _doc(_module), dict(_module.FACETS), _scale))
# Full resolution, 224-pixel crops, all crops in one batch through the network.
register_extractor(FeatureExtractor("backbone_lite0", _backbone.backbone, _backbone.NAMES, _doc(_backbone),
                                    dict(_backbone.FACETS), 1, crop=_backbone.CROP, batch=True))


@functools.lru_cache(maxsize=None)
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
    "min_side",
    "reduce",
    "require_size",
    "describe_feature",
    "extract_features",
    "extractor_names",
    "feature_names",
    "get_extractor",
    "register_extractor",
]
