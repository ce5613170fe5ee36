"""Training and evaluation runs over labelled data sets: what ``provenance train`` and
``provenance evaluate`` do, as library functions."""
from __future__ import annotations

import collections
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from provenance import sniff_format

from ._classifier import ForensicsModel, TrainConfig, require_sklearn, save_model
from ._dataset import (ALL_CONDITIONS, EVAL_CONDITIONS, TRAIN_CONDITIONS, Sample, cap_per_source, feature_table,
                       read_manifests)
from ._evaluate import EvaluationReport, cross_validate, evaluate_model, fit
from .features import FEATURE_VERSION

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

AUGMENTATION = ("each training image enters twice, never as stored: re-compressed as JPEG at a random quality "
                "50-100, and resized by a random factor 0.5-1.0 (bilinear, bicubic or Lanczos) then re-compressed "
                "at a random quality 50-100; the same for real and generated images")


def stored_formats(samples: Sequence[Sample]) -> list[str]:
    """Container format of each file (for the shortcut check only; never a feature)."""
    out = []
    for s in samples:
        with open(s.path, "rb") as fh:
            out.append(sniff_format(fh.read(16)) or "?")
    return out


def data_summary(samples: Sequence[Sample], formats: Sequence[str]) -> dict:
    real = [s for s in samples if not s.is_ai]
    ai = [s for s in samples if s.is_ai]
    return {
        "n_real": len(real), "n_ai": len(ai),
        "families": dict(collections.Counter(s.family for s in ai).most_common()),
        "sources": dict(collections.Counter(s.source for s in samples).most_common()),
        "formats": {"real": dict(collections.Counter(f for s, f in zip(samples, formats) if not s.is_ai)),
                    "ai": dict(collections.Counter(f for s, f in zip(samples, formats) if s.is_ai))},
    }


@dataclass
class TrainingRun:
    model: ForensicsModel
    report: EvaluationReport | None
    sidecar: Path
    errors: list[str]


def _usable(samples: list[Sample], tables: dict[str, np.ndarray]) -> tuple[list[Sample], dict[str, np.ndarray]]:
    """The samples that have features as stored. A condition that failed for an image (its 50%
    resize is too small to analyse) is a row of NaN: that condition skips it, the others keep it."""
    ok = ~np.isnan(tables["stored"]).any(axis=1) if "stored" in tables else \
        ~np.any([np.isnan(t).any(axis=1) for t in tables.values()], axis=0)
    return [s for s, k in zip(samples, ok) if k], {c: t[ok] for c, t in tables.items()}


def train_from_data(data: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                    config: TrainConfig = TrainConfig(), cv_folds: int = 5, leave_one_family_out: bool = True,
                    workers: int = 1, cache_dir: str | os.PathLike[str] | None = None,
                    max_per_source: int | None = None) -> TrainingRun:
    """Extract features (with augmentations), cross-validate grouped by source, fit on everything, save."""
    require_sklearn()  # before minutes of feature extraction
    samples = cap_per_source(read_manifests(data), max_per_source)
    conditions = ALL_CONDITIONS if cv_folds else TRAIN_CONDITIONS
    tables, errors = feature_table(samples, conditions, seed=config.seed, workers=workers, cache_dir=cache_dir)
    samples, tables = _usable(samples, tables)
    formats = stored_formats(samples)
    report = None
    if cv_folds:
        report = cross_validate(samples, tables, config=config, n_splits=cv_folds,
                                leave_one_family_out=leave_one_family_out, formats=formats)
    model = fit(samples, tables, np.arange(len(samples)), config=config, name=Path(out).stem)
    extra = {
        "trained_on": {**data_summary(samples, formats), "manifests": [str(p) for p in data],
                       "max_per_source": max_per_source, "unreadable": errors},
        "augmentation": AUGMENTATION,
        "train_config": config.to_dict(),
        "evaluation": report.to_dict() if report else None,
        "evaluation_markdown": report.to_markdown() if report else None,
    }
    sidecar = save_model(model, out, extra=extra)
    return TrainingRun(model, report, sidecar, errors)


def evaluate_on_data(data: Sequence[str | os.PathLike[str]], model: ForensicsModel, *, cv: bool = False,
                     cv_folds: int = 5, leave_one_family_out: bool = True, workers: int = 1,
                     cache_dir: str | os.PathLike[str] | None = None,
                     max_per_source: int | None = None) -> tuple[EvaluationReport, list[str]]:
    """Score ``model`` on a data set under every evaluation condition; or, with ``cv``, re-run
    grouped cross-validation with the model's training configuration on that data set."""
    if cv:
        require_sklearn()  # before minutes of feature extraction
    samples = cap_per_source(read_manifests(data), max_per_source)
    cfg = TrainConfig(**model.sidecar.get("train_config", {})) if model.sidecar.get("train_config") else TrainConfig()
    conditions = ALL_CONDITIONS if cv else EVAL_CONDITIONS
    tables, errors = feature_table(samples, conditions, seed=cfg.seed, workers=workers, cache_dir=cache_dir)
    samples, tables = _usable(samples, tables)
    formats = stored_formats(samples)
    if cv:
        report = cross_validate(samples, tables, config=cfg, n_splits=cv_folds,
                                leave_one_family_out=leave_one_family_out, formats=formats)
    else:
        report = evaluate_model(model, samples, tables, formats=formats)
        trained = {str(Path(p).resolve()) for p in model.sidecar.get("trained_on", {}).get("manifests", [])}
        if trained & {str(Path(p).resolve()) for p in data}:
            report.notes.append("the model was trained on this data: these are in-sample figures; "
                                "use --cv for an honest estimate")
    if errors:
        report.notes.append(f"{len(errors)} unreadable image(s) left out")
    report.notes.append(f"features {FEATURE_VERSION}, model {model.id}")
    return report, errors
