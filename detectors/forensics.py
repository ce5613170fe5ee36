"""The forensic collector: pixels in, an estimate of "AI-generated, and by which family" out.

>>> from detectors.forensics import analyze, load_default_model
>>> result = analyze(load_image("photo.jpg").rgb)      # doctest: +SKIP
>>> result.to_dict()["p_ai"]                           # doctest: +SKIP

``verify`` and ``detect`` call :func:`analyze`; the model is loaded once per process (or pass one).
The result is an estimate from image statistics, never proof.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from provenance import checked_path

from ._classifier import ForensicsModel, ModelError, TrainConfig, load_model, save_model, sidecar_path, train_model
from ._dataset import DataError
from .features import FEATURE_VERSION, extract_features, feature_names, get_extractor

#: The model shipped with the package (trained on the shared data set; see docs/DETECTION.md).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "models" / "forensics-v2.npz"


@dataclass
class ForensicsResult:
    """What the classifier says about one image.

    ``family_scores`` are probabilities of each generator family *given* that the image is
    AI-generated (they sum to 1; ``unknown`` pools families the model was not trained to name).
    ``top_features`` explain ``p_ai``: the facets whose values moved it most, in words.
    """

    p_ai: float
    family_scores: dict[str, float]
    top_features: list[dict]
    model: str  # "name@sha256-prefix"
    features: dict[str, float] = field(default_factory=dict, repr=False)  # the raw feature vector
    timing_ms: dict[str, float] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The most likely family (meaningful only when ``p_ai`` is high)."""
        return max(self.family_scores, key=self.family_scores.get) if self.family_scores else "unknown"

    def to_dict(self, *, with_features: bool = False) -> dict:
        d = {"p_ai": self.p_ai, "family_scores": self.family_scores, "model": self.model,
             "top_features": self.top_features}
        if with_features:
            d["features"] = self.features
        return d


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> ForensicsModel:
    return load_model(path)


def load_default_model(path: str | Path | None = None) -> ForensicsModel:
    """The shipped model (or the one at ``path``), loaded once per process and file version.
    The shipped one and its sidecar are first checked against the package's data table."""
    if path is None:
        for shipped in (DEFAULT_MODEL_PATH, sidecar_path(DEFAULT_MODEL_PATH)):
            checked_path(shipped)
    p = Path(path) if path is not None else DEFAULT_MODEL_PATH
    try:
        mtime = p.stat().st_mtime
    except OSError:
        mtime = -1.0  # let load_model raise its clear error
    return _load_cached(str(p), mtime)


def prepare(model: ForensicsModel | None = None) -> ForensicsModel:
    """Load the model (the shipped one by default) and whatever its extractors load (the learned
    backbone's network, ~0.2 s), so that the first :func:`analyze` pays for neither."""
    model = model if model is not None else load_default_model()
    if "backbone_lite0" in model.extractors():
        from .backbone import load_backbone

        load_backbone()
    return model


def analyze(rgb: np.ndarray, *, model: ForensicsModel | None = None, top: int = 3,
            all_features: bool = False) -> ForensicsResult:
    """Estimate whether an RGB uint8 image is AI-generated and by which family.

    Only the extractors the model reads are computed (the shipped model leaves the JPEG traces
    out); ``all_features`` computes every registered one, for ``features`` in the result.
    """
    model = model if model is not None else load_default_model()
    t0 = time.perf_counter()
    used = None if all_features else model.extractors()
    x = extract_features(rgb, extractors=used)
    computed = None if used is None else {n for e in used for n in get_extractor(e).names}
    t1 = time.perf_counter()
    p_ai = float(model.predict_ai(x)[0])
    fam = model.predict_family(x)[0]
    scores = {c: round(float(v), 4) for c, v in sorted(zip(model.family_classes, fam), key=lambda kv: -kv[1])}
    top_features = model.explain(x, top=top)
    t2 = time.perf_counter()
    return ForensicsResult(
        p_ai=round(p_ai, 4), family_scores=scores, top_features=top_features, model=model.id,
        features={n: float(v) for n, v in zip(feature_names(), x) if computed is None or n in computed},
        timing_ms={"features": round((t1 - t0) * 1000, 1), "classify": round((t2 - t1) * 1000, 1)},
    )


__all__ = [
    "DEFAULT_MODEL_PATH",
    "DataError",
    "FEATURE_VERSION",
    "ForensicsModel",
    "ForensicsResult",
    "ModelError",
    "TrainConfig",
    "analyze",
    "extract_features",
    "feature_names",
    "load_default_model",
    "load_model",
    "prepare",
    "save_model",
    "train_model",
]
