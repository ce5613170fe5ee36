"""The forensic classifier: a binary head (AI-generated vs camera) and a family head, trained on
the registry's features, saved without pickle.

Two kinds of head (``TrainConfig.head``): ``logistic``, a standardised, class-balanced logistic
(or, for the family head, multinomial) regression, the kind shipped with the learned backbone
features; and ``boosting``, scikit-learn ``HistGradientBoostingClassifier`` models wrapped in
``CalibratedClassifierCV`` (sigmoid calibration fitted on out-of-fold scores, one final model per
head), the kind that suits the hand-made artifact features. The calibration folds keep every
augmented copy of an image on the same side, so a copy cannot vouch for its original.

A model is a ``.npz`` file of plain arrays (``detectors/_plain_model.py``: every tree's nodes and
the calibrators, or the linear coefficients, loaded with ``allow_pickle=False``, predicted with
numpy alone) and a sidecar
``.json`` beside it with the feature version, library versions, the training data summary, the
evaluation table and the model file's sha256.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from provenance import MissingDependencyError, ProvenanceError

from ._plain_model import PlainHead, PlainLinear, export_head, export_linear
from .features import FEATURE_VERSION, describe_feature, extractor_names, feature_names, get_extractor

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

MODEL_FORMAT = "provenance.forensics-model/2"
HEAD_KINDS = {"boosting": PlainHead, "logistic": PlainLinear}
MODEL_SUFFIX = ".npz"
#: Families with fewer training images than this are pooled into ``UNKNOWN_FAMILY``.
MIN_FAMILY_IMAGES = 10
UNKNOWN_FAMILY = "unknown"

#: The hand-made artifact extractors a boosting head reads (all but the JPEG traces).
ARTIFACT_EXTRACTORS = ("residual_spectrum", "residual_cooccurrence", "cfa_correlation", "cross_channel",
                       "texture_colour")


class ModelError(ProvenanceError):
    """A forensic model cannot be used: missing, corrupt, untrusted content, or built for other features."""


def require_sklearn():
    """scikit-learn fits the heads; it is the train extra, not a base dependency (prediction is numpy)."""
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError("training or cross-validating the forensic classifier needs scikit-learn: "
                                     f"pip install 'provenance-tool[train]' ({e})") from e


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of both heads; stored in the sidecar so a run can be repeated."""

    #: ``logistic`` (standardised logistic regression, strength ``C``) or ``boosting``. The
    #: shipped model: logistic on the learned backbone features (pooled grouped-CV AUC 0.86 as
    #: stored, against 0.73 for boosting on the artifact features; docs/DETECTION.md).
    head: str = "logistic"
    #: Inverse regularisation strength of the logistic heads (on standardised features).
    C: float = 0.003
    #: Logistic heads: take the logarithm of the backbone's standard-deviation features first
    #: (pooled grouped-CV AUC +0.01 as stored, +0.02 resized; docs/DETECTION.md).
    log_std: bool = True
    max_iter: int = 150
    learning_rate: float = 0.06
    #: 7 leaves looked better in the uncalibrated ablation (bench/forensics_scales.py --leaves 7:
    #: pooled AUC +0.02-0.045 over three fold seeds) but not in the trainer's own calibrated
    #: cross-validation (0.694 / 0.687 / 0.636 against 0.711 / 0.696 / 0.664; docs/DETECTION.md).
    max_leaf_nodes: int = 15
    l2_regularization: float = 1.0
    family_max_iter: int = 50
    calibration_folds: int = 3
    seed: int = 0
    #: Weight the rows so that every class counts the same in the trees and in the calibration:
    #: ``p_ai`` is then a posterior at even odds, whatever the training set's class ratio. Without
    #: it each grouped-CV fold's model learns its own training ratio (a fold that holds out the
    #: biggest generated source trains on mostly real photos) and the folds' scores sit at
    #: different levels (docs/DETECTION.md).
    balance_classes: bool = True
    #: Within a class, weight each row by ``1 / images_in_its_source ** source_power``: 0 gives
    #: every image the same weight, 1 every source. With 0.5 the two generated sources that hold
    #: two thirds of the shared generated images no longer decide alone what "generated" looks
    #: like (pooled grouped-CV AUC +0.03 as stored and after JPEG q65 in
    #: bench/forensics_scales.py; docs/DETECTION.md).
    source_power: float = 0.5
    #: The same for the family head. 0: in the shared data a family is often one or two sources,
    #: and with 0.5 on both heads the grouped-CV family accuracy fell from 0.231 to 0.157
    #: (docs/DETECTION.md).
    family_source_power: float = 0.0
    #: The extractors whose features feed the heads (``None``: all registered). The learned
    #: backbone alone: with the artifact features beside it the pooled AUC moved by +0.005 as
    #: stored (bench/forensics_heads.py) for 60 ms more per image, over the cost target. For
    #: boosting on the artifact features, ``ARTIFACT_EXTRACTORS``: ``jpeg_traces`` is left out, a
    #: photo's compression history is a trait of its source, not of how it was made (with them the
    #: pooled AUC fell by 0.024 as stored and 0.046 after JPEG q65; bench/forensics_scales.py).
    extractors: tuple[str, ...] | None = ("backbone_lite0",)

    def __post_init__(self):
        if self.extractors is not None:  # a list, read back from a sidecar's JSON
            object.__setattr__(self, "extractors", tuple(self.extractors))
        if self.head not in HEAD_KINDS:
            raise ValueError(f"head must be one of {sorted(HEAD_KINDS)}, not {self.head!r}")
        for name in ("source_power", "family_source_power"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1], not {getattr(self, name)!r}")

    def input_names(self) -> list[str]:
        """The feature names the heads are trained on, in the feature vector's order."""
        if self.extractors is None:
            return feature_names()
        chosen = {n for e in self.extractors for n in get_extractor(e).names}
        return [n for n in feature_names() if n in chosen]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _hgb(config: TrainConfig, max_iter: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=config.learning_rate, max_leaf_nodes=config.max_leaf_nodes,
        l2_regularization=config.l2_regularization, early_stopping=False, random_state=config.seed)


def _calibrated(config: TrainConfig, max_iter: int, x, y, groups, sources=None, source_power: float = 0.0):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedGroupKFold

    # Stratified, so that every calibration fold trains on every class.
    smallest = min(len(np.unique(groups[y == c])) for c in np.unique(y))
    folds = min(config.calibration_folds, smallest)
    if folds < 2:
        raise ProvenanceError("too few images per class to calibrate (need at least two of each)")
    splits = list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed).split(x, y, groups))
    # ensemble=False: one model fitted on all rows, with a sigmoid fitted on out-of-fold scores.
    # The calibration is the same in kind as an ensemble of per-fold models, and prediction costs
    # one model instead of ``folds`` (the audit runs it on every file).
    weights = training_weights(y, sources, balance=config.balance_classes, source_power=source_power)
    return CalibratedClassifierCV(_hgb(config, max_iter), method="sigmoid", cv=splits,
                                  ensemble=False).fit(x, y, sample_weight=weights)


def log_columns(config: TrainConfig, names: Sequence[str]) -> np.ndarray:
    """Which of the head's inputs a logistic head log-transforms (``config.log_std``)."""
    return np.array([config.log_std and n.startswith("cnn_") and "_std_" in n for n in names], dtype=bool)


def _logistic(config: TrainConfig, x, y, sources=None, source_power: float = 0.0,
              names: Sequence[str] = ()) -> PlainLinear:
    """A standardised logistic regression on weighted rows, exported to plain arrays at once."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from ._plain_model import LOG_EPS

    mask = log_columns(config, names) if len(names) else np.zeros(x.shape[1], bool)
    x = np.array(x, dtype=np.float64)
    x[:, mask] = np.log(np.maximum(x[:, mask], 0.0) + LOG_EPS)
    weights = training_weights(y, sources, balance=config.balance_classes, source_power=source_power)
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    z[:, scaler.scale_ == 0] = 0.0
    fitted = LogisticRegression(C=config.C, max_iter=3000, tol=1e-6).fit(z, y, sample_weight=weights)
    return export_linear(scaler, fitted, mask)


def training_weights(y: np.ndarray, sources=None, *, balance: bool = True, source_power: float = 0.0) -> np.ndarray | None:
    """Row weights: ``1 / rows_of_its_source ** source_power`` (when ``sources`` is given), then
    scaled so that every class has the same total (``balance``). ``None`` when all are equal."""
    y = np.asarray(y)
    w = np.ones(len(y))
    if sources is not None and source_power:
        _, inverse, counts = np.unique(np.asarray(sources, dtype=str), return_inverse=True, return_counts=True)
        w = counts[inverse].astype(np.float64) ** -source_power
    if balance:
        classes, inverse = np.unique(y, return_inverse=True)
        totals = np.bincount(inverse, weights=w)
        w = w * (len(y) / len(classes)) / totals[inverse]
    elif sources is not None and source_power:
        w = w * len(y) / w.sum()
    else:
        return None
    return w


@dataclass
class ForensicsModel:
    """A fitted binary head, family head and what is needed to use and explain them."""

    binary: PlainHead | PlainLinear  # scikit-learn heads are exported to plain arrays as soon as fitted
    family: PlainHead | PlainLinear | None
    family_classes: list[str]
    feature_names: list[str]
    reference: np.ndarray  # median training features: the "neutral" values for explanations
    feature_version: str = FEATURE_VERSION
    name: str = "forensics"
    sha256: str = ""
    sidecar: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        """``name@sha256-prefix``: what results cite as the model that produced them."""
        return f"{self.name}@{self.sha256[:12]}" if self.sha256 else f"{self.name}@unsaved"

    def extractors(self) -> list[str]:
        """The registered extractors whose features the heads read, in registry order: what
        :func:`detectors.features.extract_features` must compute for this model."""
        used = set(self.feature_names)
        return [e for e in extractor_names() if used.intersection(get_extractor(e).names)]

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """The model's input columns (``feature_names``) of rows of full feature vectors
        (:func:`detectors.features.feature_names`)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        full = feature_names()
        if x.shape[1] != len(full):
            raise ModelError(f"expected rows of {len(full)} features ({FEATURE_VERSION}), got {x.shape[1]}")
        return x if self.feature_names == full else x[:, _columns(self.feature_names)]

    def predict_ai(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability that each row's image is AI-generated (rows of full feature vectors)."""
        return self.binary.predict_proba(self.inputs(x))[:, 1]

    def predict_family(self, x: np.ndarray) -> np.ndarray:
        """Probability of each of ``family_classes`` for each row (given that the image is AI-generated)."""
        x = self.inputs(x)
        if self.family is None:
            return np.ones((len(x), 1))
        return self.family.predict_proba(x)

    def explain(self, x: np.ndarray, *, top: int = 3) -> list[dict]:
        """The facets whose values moved ``p_ai`` most: each facet in turn is set to the training
        median and the change of ``p_ai`` is its contribution (positive: towards AI-generated)."""
        x = self.inputs(x).ravel()
        facets: dict[str, list[int]] = {}
        for i, n in enumerate(self.feature_names):
            facets.setdefault(describe_feature(n), []).append(i)
        rows = [x]
        for idx in facets.values():
            r = x.copy()
            r[idx] = self.reference[idx]
            rows.append(r)
        p = self.binary.predict_proba(np.vstack(rows))[:, 1]
        effects = [(words, float(p[0] - p[k + 1]), idx) for k, (words, idx) in enumerate(facets.items())]
        effects.sort(key=lambda e: -abs(e[1]))
        out = []
        for words, effect, idx in effects[:top]:
            out.append({
                "feature": words,
                "effect": round(effect, 4),
                "direction": "towards AI-generated" if effect > 0 else "towards camera",
                "features": [self.feature_names[i] for i in idx],
            })
        return out


def _columns(names: Sequence[str]) -> list[int]:
    """Positions of ``names`` in the full feature vector."""
    index = {n: i for i, n in enumerate(feature_names())}
    return [index[n] for n in names]


def train_model(x: np.ndarray, is_ai: np.ndarray, families: Sequence[str], image_ids: np.ndarray, *,
                config: TrainConfig = TrainConfig(), name: str = "forensics", binary_only: bool = False,
                sources: Sequence[str] | None = None) -> ForensicsModel:
    """Fit both heads (or only the binary one). Rows are (augmented) images of full feature
    vectors; ``image_ids`` ties the copies of one image together; ``sources`` (each row's source
    repository) weights the rows per ``config.source_power``."""
    require_sklearn()
    names = config.input_names()
    full = feature_names()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(full):
        raise ProvenanceError(f"expected rows of {len(full)} features ({FEATURE_VERSION}), got shape {x.shape}")
    x = x[:, _columns(names)]
    src = np.asarray(sources, dtype=str) if sources is not None else None
    y = np.asarray(is_ai, dtype=int)
    families = np.asarray(families, dtype=object)
    ids = np.asarray(image_ids)
    if len(np.unique(y)) < 2:
        raise ProvenanceError("training needs both real and AI-generated images")
    if config.head == "logistic":
        binary = _logistic(config, x, y, src, config.source_power, names)
    else:
        binary = export_head(_calibrated(config, config.max_iter, x, y, ids, src, config.source_power))
    ai = y == 1
    counts: dict[str, int] = {}
    for f, i in zip(families[ai], ids[ai]):
        counts.setdefault(f, set()).add(i)  # type: ignore[arg-type]
    named = sorted(f for f, s in counts.items() if len(s) >= MIN_FAMILY_IMAGES and f != UNKNOWN_FAMILY)
    fam = np.array([f if f in named else UNKNOWN_FAMILY for f in families[ai]], dtype=object)
    classes = sorted(set(fam))
    family = None
    if len(classes) >= 2 and not binary_only:
        fam_idx = np.array([classes.index(f) for f in fam])
        fam_src = src[ai] if src is not None else None
        if config.head == "logistic":
            family = _logistic(config, x[ai], fam_idx, fam_src, config.family_source_power, names)
        else:
            family = export_head(_calibrated(config, config.family_max_iter, x[ai], fam_idx, ids[ai], fam_src,
                                             config.family_source_power))
    # The plain form from here on: what is saved is exactly what was fitted and evaluated.
    return ForensicsModel(binary=binary, family=family,
                          family_classes=classes, feature_names=names, reference=np.median(x, axis=0),
                          name=name)


# --- saving and loading ----------------------------------------------------------------------------

def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    return Path(model_path).with_suffix(".json")


def library_versions() -> dict:
    import sklearn

    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def save_model(model: ForensicsModel, path: str | os.PathLike[str], *, extra: dict | None = None) -> Path:
    """Write ``path`` (.npz of plain arrays) and its sidecar .json; sets ``model.sha256``.
    Returns the sidecar's path."""
    from provenance import atomic_write

    path = Path(path)
    if path.suffix != MODEL_SUFFIX:
        raise ModelError(f"{path}: a model file must end in {MODEL_SUFFIX}")
    meta = {"format": MODEL_FORMAT, "feature_version": model.feature_version,
            "feature_names": list(model.feature_names), "family_classes": list(model.family_classes),
            "heads": ["binary"] + (["family"] if model.family is not None else []),
            "head_kind": _kind_of(model.binary)}
    arrays = {"meta": np.array(json.dumps(meta)), "reference": np.asarray(model.reference, dtype=np.float64)}
    arrays.update(model.binary.to_arrays("binary"))
    if model.family is not None:
        arrays.update(model.family.to_arrays("family"))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write(path, data, overwrite=True)
    model.sha256 = hashlib.sha256(data).hexdigest()
    model.name = path.stem
    sidecar = {
        "format": MODEL_FORMAT,
        "name": model.name,
        "model_file": path.name,
        "sha256": model.sha256,
        "bytes": len(data),
        "feature_version": model.feature_version,
        "feature_names": list(model.feature_names),
        "family_classes": list(model.family_classes),
        "libraries": library_versions(),
        **(extra or {}),
    }
    model.sidecar = sidecar
    side = sidecar_path(path)
    atomic_write(side, (json.dumps(sidecar, indent=2, default=_json_default) + "\n").encode(), overwrite=True)
    return side


def _kind_of(head) -> str:
    return next(k for k, cls in HEAD_KINDS.items() if isinstance(head, cls))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def load_model(path: str | os.PathLike[str]) -> ForensicsModel:
    """Load a model saved by :func:`save_model`: plain arrays only (no pickle, no scikit-learn),
    refusing other formats, damaged tables and other feature versions."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ModelError(f"{path}: no such model file") from e
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from e
    sidecar: dict = {}
    side = sidecar_path(path)
    if side.is_file():
        try:
            sidecar = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{side}: unreadable sidecar ({e})") from e
    digest = hashlib.sha256(data).hexdigest()
    if sidecar.get("sha256") and sidecar["sha256"] != digest:
        raise ModelError(f"{path}: sha256 {digest[:12]} does not match its sidecar ({sidecar['sha256'][:12]}); "
                         "the file was changed or the sidecar belongs to another model")
    if sidecar.get("feature_version") not in (None, FEATURE_VERSION):
        raise ModelError(f"{path}: built for features {sidecar['feature_version']!r}, this version computes "
                         f"{FEATURE_VERSION!r}; retrain it with 'provenance train'")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
                raise ModelError(f"{path}: not a {MODEL_FORMAT} file")
            names = list(meta.get("feature_names", []))
            wanted = set(names)
            if (meta.get("feature_version") != FEATURE_VERSION or not names
                    or names != [n for n in feature_names() if n in wanted]):
                raise ModelError(f"{path}: built for features {meta.get('feature_version')!r}, this version computes "
                                 f"{FEATURE_VERSION!r}; retrain it with 'provenance train'")
            kind = HEAD_KINDS.get(meta.get("head_kind", "boosting"))
            if kind is None:
                raise ModelError(f"{path}: unknown head kind {meta.get('head_kind')!r}")
            binary = kind.from_arrays(arrays, "binary")
            family = kind.from_arrays(arrays, "family") if "family" in meta.get("heads", []) else None
            if (isinstance(binary, PlainLinear) and binary.coef.shape[1] != len(names)) or \
                    (isinstance(family, PlainLinear) and family.coef.shape[1] != len(names)):
                raise ValueError("the linear heads do not read the model's feature list")
            reference = np.asarray(arrays["reference"], dtype=np.float64)
    except ModelError:
        raise
    except Exception as e:  # not a zip, missing arrays, object arrays refused, bad JSON, bad tables
        raise ModelError(f"{path}: not a readable model file ({type(e).__name__}: {e})") from e
    if reference.shape != (len(meta["feature_names"]),):
        raise ModelError(f"{path}: not a readable model file (reference has shape {reference.shape})")
    return ForensicsModel(binary=binary, family=family, family_classes=list(meta["family_classes"]),
                          feature_names=list(meta["feature_names"]), reference=reference,
                          feature_version=meta["feature_version"], name=path.stem, sha256=digest, sidecar=sidecar)
