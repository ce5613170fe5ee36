"""A calibrated gradient-boosting head as plain arrays, and its prediction in numpy alone.

Training uses scikit-learn (``CalibratedClassifierCV(ensemble=False)`` around a
``HistGradientBoostingClassifier``); the saved model holds only what prediction needs: every
tree's nodes (feature, threshold, children, missing-value direction, leaf value), the baseline
score, and the sigmoid calibrators. Loading is ``numpy.load(..., allow_pickle=False)`` of plain
arrays: no pickle, no object construction from the file, and no scikit-learn import (importing
``skops.io`` walks every scikit-learn module and, with PyTorch installed, imports PyTorch: about
5 s and 200 MB per process before the first prediction).

``PlainHead.predict_proba`` reproduces the scikit-learn model's ``predict_proba``
(``tests/test_forensics_classifier.py`` compares them to 1e-12).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The arrays of one head, in the order they are saved (prefixed by the head's name).
FIELDS = ("feature", "threshold", "left", "right", "missing_left", "is_leaf", "value", "roots", "tree_output",
          "baseline", "cal_a", "cal_b", "cal_column", "n_classes")


@dataclass(frozen=True)
class PlainHead:
    """Trees flattened into one node table (children are global indices) plus calibration."""

    feature: np.ndarray  # int32, per node
    threshold: np.ndarray  # float64, per node: x <= threshold goes left
    left: np.ndarray  # int32, per node
    right: np.ndarray  # int32, per node
    missing_left: np.ndarray  # bool, per node: where NaN goes
    is_leaf: np.ndarray  # bool, per node
    value: np.ndarray  # float64, per node (leaves only matter)
    roots: np.ndarray  # int32, per tree: its root node
    tree_output: np.ndarray  # int32, per tree: the raw-score column it adds to
    baseline: np.ndarray  # float64, per raw-score column
    cal_a: np.ndarray  # float64, per raw-score column: sigmoid 1 / (1 + exp(a * f + b))
    cal_b: np.ndarray
    cal_column: np.ndarray  # int32, per raw-score column: the probability column it calibrates
    n_classes: np.ndarray  # int, 0-d

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Raw boosting scores, shape (rows, columns)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        for _ in range(64):  # deeper than any tree we train; a cycle would be a corrupt file
            leaf = self.is_leaf[node]
            if leaf.all():
                break
            xv = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(xv), self.missing_left[node], xv <= self.threshold[node])
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        else:
            raise ValueError("tree traversal did not reach a leaf: corrupt model")
        raw = np.tile(self.baseline, (len(x), 1))
        leaf_values = self.value[node]
        for col in range(len(self.baseline)):
            raw[:, col] += leaf_values[:, self.tree_output == col].sum(axis=1)
        return raw

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        raw = self.decision(x)
        k = int(self.n_classes)
        proba = np.zeros((len(raw), k))
        for col in range(raw.shape[1]):
            proba[:, self.cal_column[col]] = 1.0 / (1.0 + np.exp(self.cal_a[col] * raw[:, col] + self.cal_b[col]))
        if k == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            total = proba.sum(axis=1, keepdims=True)
            proba = np.divide(proba, total, out=np.full_like(proba, 1.0 / k), where=total != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/{f}": np.asarray(getattr(self, f)) for f in FIELDS}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "PlainHead":
        head = cls(**{f: np.asarray(arrays[f"{prefix}/{f}"]) for f in FIELDS})
        head.check()
        return head

    def check(self) -> None:
        """Refuse inconsistent tables (a damaged or hand-made file) before they index out of range."""
        n = len(self.feature)
        per_node = (self.threshold, self.left, self.right, self.missing_left, self.is_leaf, self.value)
        if any(len(a) != n for a in per_node) or len(self.roots) != len(self.tree_output):
            raise ValueError("node and tree tables differ in length")
        inner = ~self.is_leaf.astype(bool)
        for a in (self.left[inner], self.right[inner], self.roots):
            if a.size and (a.min() < 0 or a.max() >= n):
                raise ValueError("a node index is out of range")
        cols = len(self.baseline)
        if (self.tree_output.size and (self.tree_output.min() < 0 or self.tree_output.max() >= cols)) or \
                len(self.cal_a) != cols or len(self.cal_b) != cols or len(self.cal_column) != cols:
            raise ValueError("score columns and calibrators do not match")
        if int(self.n_classes) < 2 or (self.cal_column.size and self.cal_column.max() >= int(self.n_classes)):
            raise ValueError("bad class count")


def export_head(calibrated) -> PlainHead:
    """The plain form of a fitted ``CalibratedClassifierCV(ensemble=False, method="sigmoid")``
    around a ``HistGradientBoostingClassifier`` without categorical features."""
    from sklearn.preprocessing import LabelEncoder

    [cc] = calibrated.calibrated_classifiers_
    est = cc.estimator
    feature, threshold, left, right, missing, leaf, value, roots, outputs = ([] for _ in range(9))
    offset = 0
    for per_iteration in est._predictors:
        for col, tree in enumerate(per_iteration):
            nodes = tree.nodes
            if np.any(nodes["is_categorical"]):
                raise ValueError("categorical splits are not supported")
            feature.append(nodes["feature_idx"].astype(np.int32))
            threshold.append(nodes["num_threshold"].astype(np.float64))
            left.append(nodes["left"].astype(np.int32) + offset)
            right.append(nodes["right"].astype(np.int32) + offset)
            missing.append(nodes["missing_go_to_left"].astype(bool))
            leaf.append(nodes["is_leaf"].astype(bool))
            value.append(nodes["value"].astype(np.float64))
            roots.append(offset)
            outputs.append(col)
            offset += len(nodes)
    n_classes = len(cc.classes)
    columns = LabelEncoder().fit(cc.classes).transform(est.classes_)
    if n_classes == 2:
        columns = np.array([1])
    return PlainHead(
        feature=np.concatenate(feature), threshold=np.concatenate(threshold), left=np.concatenate(left),
        right=np.concatenate(right), missing_left=np.concatenate(missing), is_leaf=np.concatenate(leaf),
        value=np.concatenate(value), roots=np.array(roots, dtype=np.int32),
        tree_output=np.array(outputs, dtype=np.int32),
        baseline=np.asarray(est._baseline_prediction, dtype=np.float64).ravel(),
        cal_a=np.array([c.a_ for c in cc.calibrators], dtype=np.float64),
        cal_b=np.array([c.b_ for c in cc.calibrators], dtype=np.float64),
        cal_column=np.asarray(columns[: len(cc.calibrators)], dtype=np.int32),
        n_classes=np.array(n_classes))


#: The arrays of a linear head (standardisation, then logistic or softmax regression).
LINEAR_FIELDS = ("log_mask", "mean", "scale", "coef", "intercept", "n_classes")
#: Added to a log-transformed input before the logarithm (standard deviations can be 0).
LOG_EPS = 1e-3


@dataclass(frozen=True)
class PlainLinear:
    """A standardised logistic (two classes) or multinomial (more) regression as plain arrays.

    ``decision(x) = ((t(x) - mean) / scale) @ coef.T + intercept``, where ``t`` replaces the
    inputs of ``log_mask`` by ``log(x + LOG_EPS)`` (the backbone's standard deviations, whose
    spread over images is multiplicative); probabilities are its sigmoid (one column, two classes)
    or softmax. Matches scikit-learn's ``StandardScaler`` + ``LogisticRegression``
    ``predict_proba`` on the transformed inputs (tested)."""

    log_mask: np.ndarray  # bool, per input: take log(x + LOG_EPS) first
    mean: np.ndarray  # float64, per input
    scale: np.ndarray  # float64, per input (never 0)
    coef: np.ndarray  # float64, (1 or classes, inputs)
    intercept: np.ndarray  # float64, (1 or classes,)
    n_classes: np.ndarray  # int, 0-d

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if self.log_mask.any():
            x = x.copy()
            x[:, self.log_mask] = np.log(np.maximum(x[:, self.log_mask], 0.0) + LOG_EPS)
        return x

    def decision(self, x: np.ndarray) -> np.ndarray:
        return ((self.transform(x) - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = self.decision(x)
        if int(self.n_classes) == 2:
            p = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -700, 700)))
            return np.column_stack([1.0 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/{f}": np.asarray(getattr(self, f)) for f in LINEAR_FIELDS}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "PlainLinear":
        head = cls(**{f: np.asarray(arrays[f"{prefix}/{f}"]) for f in LINEAR_FIELDS})
        head.check()
        return head

    def check(self) -> None:
        d = len(self.mean)
        k = int(self.n_classes)
        rows = 1 if k == 2 else k
        if k < 2 or self.scale.shape != (d,) or self.coef.shape != (rows, d) or self.intercept.shape != (rows,) \
                or self.log_mask.shape != (d,) or self.log_mask.dtype != bool:
            raise ValueError("linear head tables do not match in shape")
        if not (np.all(np.isfinite(self.coef)) and np.all(np.isfinite(self.mean)) and np.all(self.scale > 0)):
            raise ValueError("linear head holds non-finite values or a zero scale")


def export_linear(scaler, logistic, log_mask: np.ndarray | None = None) -> PlainLinear:
    """The plain form of a fitted ``StandardScaler`` and ``LogisticRegression`` (fitted on inputs
    with ``log_mask``'s columns log-transformed)."""
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    mask = np.zeros(len(scale), bool) if log_mask is None else np.asarray(log_mask, dtype=bool)
    return PlainLinear(log_mask=mask, mean=np.asarray(scaler.mean_, dtype=np.float64), scale=np.where(scale > 0, scale, 1.0),
                       coef=np.asarray(logistic.coef_, dtype=np.float64),
                       intercept=np.asarray(logistic.intercept_, dtype=np.float64),
                       n_classes=np.array(len(logistic.classes_)))
