"""The table of feature extractors. Training, prediction, ``top_features`` and the docs read it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from provenance import ProvenanceError
from provenance import NamedTable


class UnknownExtractorError(ProvenanceError):
    """No feature extractor of that name is registered."""


@dataclass(frozen=True)
class FeatureExtractor:
    """One family of features: a pure function of an RGB uint8 array and the names of its outputs.

    ``facets`` maps a feature-name prefix to words a person can read ("period-8 peaks in the
    noise-residual spectrum"); every feature name starts with one of the prefixes, so a
    contribution can be explained per facet rather than per number.

    ``scale`` is the analysis scale: the image is reduced by this factor (2x2 pixel means for 2)
    before the extractor sees it. Extractors that read the JPEG block grid need 1; the others
    look at half resolution, where the finest scale's differences between sources (the
    compression history, a camera's own sharpening and noise) are averaged away and the
    generators' traces generalise better from one source to the next (docs/DETECTION.md).

    ``crop`` is the side of its analysis crops (:func:`detectors.features.analysis_crops`).
    ``batch``: ``func`` takes the list of all crops at once and returns the vector for the image
    (the backbone runs its crops as one batch); otherwise it takes one crop and the vectors of
    the crops are averaged.
    """

    name: str
    func: Callable[[np.ndarray], np.ndarray]
    names: tuple[str, ...]
    artifact: str
    facets: dict[str, str] = field(default_factory=dict)
    scale: int = 1
    crop: int = 256
    batch: bool = False

    def __call__(self, rgb) -> np.ndarray:
        values = np.asarray(self.func(rgb), dtype=np.float64)
        if values.shape != (len(self.names),):
            raise ValueError(f"extractor {self.name!r} returned {values.shape}, expected ({len(self.names)},)")
        return values

    def facet_of(self, feature: str) -> str:
        for prefix in sorted(self.facets, key=len, reverse=True):
            if feature.startswith(prefix):
                return prefix
        raise KeyError(feature)


_EXTRACTORS: NamedTable[FeatureExtractor] = NamedTable("feature extractor", UnknownExtractorError)


def _check_new(extractor: FeatureExtractor) -> None:
    """Refuse an extractor whose feature names are taken, whose scale is not 1, 2 or 4, or with a
    feature no facet explains."""
    taken = {n for e in _EXTRACTORS.entries() for n in e.names}
    clash = taken.intersection(extractor.names)
    if clash:
        raise ValueError(f"feature names already registered: {sorted(clash)}")
    if extractor.scale not in (1, 2, 4):
        raise ValueError(f"feature extractor {extractor.name!r}: scale must be 1, 2 or 4, not {extractor.scale!r}")
    for n in extractor.names:
        extractor.facet_of(n)  # every feature must be explainable


def register_extractor(extractor: FeatureExtractor) -> FeatureExtractor:
    """Add an extractor to the table (its ``name`` and feature names must be new)."""
    return _EXTRACTORS.add(extractor.name, extractor, check=_check_new)


def get_extractor(name: str) -> FeatureExtractor:
    return _EXTRACTORS.get(name)


def extractor_names() -> list[str]:
    """Registered extractor names, in registration (and feature-vector) order."""
    return _EXTRACTORS.names()
