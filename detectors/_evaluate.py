"""Measuring the classifier: ROC AUC and TPR at fixed false-positive rates (thresholds set on
real photos only), per-family detection and family-head accuracy, the family confusion matrix,
each under the evaluation conditions; grouped cross-validation by source repository;
leave-one-family-out; and the format-shortcut check."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ._classifier import MIN_FAMILY_IMAGES, UNKNOWN_FAMILY, ForensicsModel, TrainConfig, require_sklearn, train_model
from ._dataset import EVAL_CONDITIONS, TRAIN_CONDITIONS, Sample

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

FPRS = (0.01, 0.001)
CONDITION_WORDS = {"stored": "as stored", "jpeg65": "JPEG q65", "resize50": "resized 50%"}


def roc_auc(scores: np.ndarray, is_ai: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half), or None when a class is missing."""
    scores, y = np.asarray(scores, dtype=np.float64), np.asarray(is_ai, dtype=bool)
    pos, neg = scores[y], scores[~y]
    if len(pos) == 0 or len(neg) == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def threshold_at_fpr(real_scores: np.ndarray, fpr: float) -> float:
    """The smallest score above which at most ``fpr`` of the real photos fall (set on real photos only)."""
    s = np.sort(np.asarray(real_scores, dtype=np.float64))
    k = int(np.floor(fpr * len(s)))  # this many real photos may score above the threshold
    return float(s[len(s) - 1 - k]) if len(s) else 1.0


def threshold_at_miss_rate(ai_scores: np.ndarray, miss: float) -> float:
    """The largest score below which at most ``miss`` of the generated images fall (set on
    generated images only): a score under it is called camera-like at that miss rate."""
    s = np.sort(np.asarray(ai_scores, dtype=np.float64))
    k = int(np.floor(miss * len(s)))  # this many generated images may score below the threshold
    return float(s[k]) if len(s) else 0.0


def tpr_at_fpr(scores: np.ndarray, is_ai: np.ndarray, fpr: float) -> tuple[float | None, float]:
    y = np.asarray(is_ai, dtype=bool)
    thr = threshold_at_fpr(scores[~y], fpr)
    if not y.any():
        return None, thr
    return float(np.mean(scores[y] > thr)), thr


def global_family_classes(samples: Sequence[Sample]) -> list[str]:
    counts: dict[str, int] = {}
    for s in samples:
        if s.is_ai:
            counts[s.family] = counts.get(s.family, 0) + 1
    named = sorted(f for f, n in counts.items() if n >= MIN_FAMILY_IMAGES and f != UNKNOWN_FAMILY)
    return named + [UNKNOWN_FAMILY]


@dataclass
class Predictions:
    """Per-image outputs under each condition (rows follow the samples)."""

    p_ai: dict[str, np.ndarray]
    family: dict[str, np.ndarray]  # predicted family name (object array), generated images only meaningful


@dataclass
class EvaluationReport:
    """Everything ``evaluate`` measures, as plain data (``to_dict``) and as Markdown (``to_markdown``)."""

    kind: str  # "grouped-cv" or "held-out"
    n_real: int
    n_ai: int
    conditions: dict[str, dict] = field(default_factory=dict)
    per_family: dict[str, dict] = field(default_factory=dict)
    confusion: dict[str, dict] = field(default_factory=dict)  # condition -> {"labels", "matrix"}
    leave_one_family_out: dict[str, dict] = field(default_factory=dict)
    shortcut: dict[str, float | None] = field(default_factory=dict)
    folds: list[dict] = field(default_factory=list)  # grouped CV: each fold's held-out real sources and AUCs
    per_source: dict[str, dict] = field(default_factory=dict)  # as stored: each source's scores at the 1% FPR level
    notes: list[str] = field(default_factory=list)
    curves: dict[str, dict] = field(default_factory=dict, repr=False)  # ROC points for plots

    def to_dict(self, *, with_curves: bool = False) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "curves"}
        if with_curves:
            d["curves"] = self.curves
        return d

    def to_markdown(self) -> str:
        def f(v, digits=3):
            return "n/a" if v is None else f"{v:.{digits}f}"

        lines = ["| condition | ROC AUC | TPR @ 1% FPR | TPR @ 0.1% FPR | family accuracy |",
                 "|---|---|---|---|---|"]
        for c, r in self.conditions.items():
            lines.append(f"| {CONDITION_WORDS.get(c, c)} | {f(r['auc'])} | {f(r['tpr_at_1pct_fpr'])} | "
                         f"{f(r['tpr_at_0.1pct_fpr'])} | {f(r['family_accuracy'])} |")
        lines += ["", "| family | images | detected @ 1% FPR (" + " / ".join(CONDITION_WORDS[c] for c in self.conditions)
                  + ") | family head correct (as stored) | leave-one-family-out AUC |", "|---|---|---|---|---|"]
        for fam, r in sorted(self.per_family.items(), key=lambda kv: -kv[1]["n"]):
            det = " / ".join(f(r["detected"].get(c), 2) for c in self.conditions)
            lofo = self.leave_one_family_out.get(fam, {}).get("auc")
            lines.append(f"| {fam} | {r['n']} | {det} | {f(r['family_correct'], 2)} | {f(lofo)} |")
        if self.folds:
            conds = list(self.conditions)
            lines += ["", "| fold | held-out real sources | real / generated images | "
                      + " | ".join(f"AUC {CONDITION_WORDS.get(c, c)}" for c in conds) + " |",
                      "|---|---|---|" + "---|" * len(conds)]
            for k, fo in enumerate(self.folds, start=1):
                lines.append(f"| {k} | {', '.join(fo['real_sources']) or '(none)'} | {fo['n_real']} / {fo['n_ai']} | "
                             + " | ".join(f(fo["auc"].get(c)) for c in conds) + " |")
        if self.per_source:
            lines += ["", "| source (as stored) | class | images | above the 1% FPR level | AUC against the other class |",
                      "|---|---|---|---|---|"]
            for src, r in sorted(self.per_source.items(), key=lambda kv: (kv[1]["is_ai"], kv[1]["auc"] or 0)):
                lines.append(f"| {src} | {'generated' if r['is_ai'] else 'real'} | {r['n']} | {f(r['above_1pct_fpr_level'], 2)} | "
                             f"{f(r['auc'])} |")
        if self.shortcut:
            lines += ["", "| format-shortcut check (as stored) | ROC AUC |", "|---|---|"]
            for k, v in self.shortcut.items():
                lines.append(f"| {k} | {v if isinstance(v, int) else f(v)} |")
        return "\n".join(lines) + "\n"


def _family_truth(samples: Sequence[Sample], classes: Sequence[str]) -> np.ndarray:
    return np.array([s.family if s.family in classes else UNKNOWN_FAMILY for s in samples], dtype=object)


def build_report(samples: Sequence[Sample], preds: Predictions, *, kind: str,
                 lofo: dict[str, dict] | None = None, formats: Sequence[str] | None = None) -> EvaluationReport:
    is_ai = np.array([s.is_ai for s in samples])
    classes = global_family_classes(samples)
    truth = _family_truth(samples, classes)
    rep = EvaluationReport(kind=kind, n_real=int((~is_ai).sum()), n_ai=int(is_ai.sum()),
                           leave_one_family_out=lofo or {})
    fams = sorted({s.family for s in samples if s.is_ai})
    fam_arr = np.array([s.family for s in samples], dtype=object)
    for fam in fams:
        rep.per_family[fam] = {"n": int((fam_arr == fam).sum()), "detected": {}, "family_correct": None}
    for cond, p in preds.p_ai.items():
        ok = ~np.isnan(p)
        auc = roc_auc(p[ok], is_ai[ok])
        row = {"auc": auc, "n_real": int((ok & ~is_ai).sum()), "n_ai": int((ok & is_ai).sum())}
        for fpr in FPRS:
            tpr, thr = tpr_at_fpr(p[ok], is_ai[ok], fpr)
            key = "1pct" if fpr == 0.01 else "0.1pct"
            row[f"tpr_at_{key}_fpr"], row[f"threshold_at_{key}_fpr"] = tpr, thr
        thr1 = row["threshold_at_1pct_fpr"]
        # The level below which at most 1% of the generated images fall (for a "likely camera" call),
        # and the share of real photos below it.
        thr_cam = threshold_at_miss_rate(p[ok & is_ai], 0.01)
        row["threshold_at_1pct_miss"] = thr_cam
        row["tnr_at_1pct_miss"] = float(np.mean(p[ok & ~is_ai] < thr_cam)) if (ok & ~is_ai).any() else None
        pred_f = preds.family[cond]
        sel = ok & is_ai
        row["family_accuracy"] = float(np.mean(pred_f[sel] == truth[sel])) if sel.any() else None
        rep.conditions[cond] = row
        for fam in fams:
            m = ok & (fam_arr == fam)
            rep.per_family[fam]["detected"][cond] = float(np.mean(p[m] > thr1)) if m.any() else None
            if cond == "stored" and m.any():
                rep.per_family[fam]["family_correct"] = float(np.mean(pred_f[m] == truth[m]))
        idx = {c: i for i, c in enumerate(classes)}
        mat = np.zeros((len(classes), len(classes)), dtype=int)
        for t, pf in zip(truth[sel], pred_f[sel]):
            mat[idx[t], idx.get(pf, idx[UNKNOWN_FAMILY])] += 1
        rep.confusion[cond] = {"labels": classes, "matrix": mat.tolist()}
        rep.curves[cond] = _roc_points(p[ok], is_ai[ok])
    p = preds.p_ai.get("stored")
    if p is not None and "stored" in rep.conditions:
        thr1 = rep.conditions["stored"]["threshold_at_1pct_fpr"]
        src = np.array([s.source for s in samples], dtype=object)
        ok = ~np.isnan(p)
        for name in sorted(set(src)):
            m = ok & (src == name)
            if not m.any():
                continue
            ai = bool(is_ai[m][0])
            other = ok & (is_ai != ai)
            auc = roc_auc(np.concatenate([p[m], p[other]]), np.concatenate([np.full(m.sum(), ai), np.full(other.sum(), not ai)]))
            rep.per_source[name] = {"is_ai": ai, "n": int(m.sum()), "mean_p_ai": float(np.mean(p[m])),
                                    "above_1pct_fpr_level": float(np.mean(p[m] > thr1)), "auc": auc}
    if formats is not None:
        fmt = np.array(formats, dtype=object)
        p = preds.p_ai["stored"]
        for name, real_fmt, ai_fmt in (("real PNG vs generated JPEG", "PNG", "JPEG"),
                                       ("real JPEG vs generated PNG", "JPEG", "PNG")):
            m = ~np.isnan(p) & (((~is_ai) & (fmt == real_fmt)) | (is_ai & (fmt == ai_fmt)))
            rep.shortcut[name] = roc_auc(p[m], is_ai[m])
            rep.shortcut[f"{name}: images"] = int(m.sum())
    if rep.n_real < 1000:
        rep.notes.append(f"with {rep.n_real} real photos, TPR at 0.1% FPR uses the highest real score as threshold")
    return rep


def _roc_points(scores: np.ndarray, y: np.ndarray) -> dict:
    order = np.argsort(-scores, kind="stable")
    ys = y[order]
    tp = np.concatenate([[0], np.cumsum(ys)]) / max(ys.sum(), 1)
    fp = np.concatenate([[0], np.cumsum(~ys)]) / max((~ys).sum(), 1)
    return {"fpr": fp.round(5).tolist(), "tpr": tp.round(5).tolist()}


# --- applying a model, cross-validation ---------------------------------------------------------

def predict_tables(model: ForensicsModel, tables: dict[str, np.ndarray]) -> Predictions:
    p_ai, fam = {}, {}
    for cond, x in tables.items():
        ok = ~np.isnan(x).any(axis=1)
        p = np.full(len(x), np.nan)
        f = np.full(len(x), UNKNOWN_FAMILY, dtype=object)
        if ok.any():
            p[ok] = model.predict_ai(x[ok])
            probs = model.predict_family(x[ok])
            f[ok] = np.asarray(model.family_classes, dtype=object)[probs.argmax(axis=1)]
        p_ai[cond], fam[cond] = p, f
    return Predictions(p_ai, fam)


def training_rows(samples: Sequence[Sample], tables: dict[str, np.ndarray], index: np.ndarray,
                  exclude_family: str | None = None, conditions: Sequence[str] = TRAIN_CONDITIONS):
    """Stack the training conditions of the samples in ``index``: (x, is_ai, family, image_id)."""
    xs, ys, fs, ids = [], [], [], []
    index = np.asarray(index)
    if exclude_family is not None:
        index = np.array([i for i in index if samples[i].family != exclude_family], dtype=int)
    for cond in conditions:
        x = tables[cond][index]
        ok = ~np.isnan(x).any(axis=1)
        xs.append(x[ok])
        ys.append(np.array([samples[i].is_ai for i in index[ok]], dtype=int))
        fs.append(np.array([samples[i].family for i in index[ok]], dtype=object))
        ids.append(index[ok])
    return np.vstack(xs), np.concatenate(ys), np.concatenate(fs), np.concatenate(ids)


def fit(samples: Sequence[Sample], tables: dict[str, np.ndarray], index: np.ndarray, *,
        config: TrainConfig = TrainConfig(), name: str = "forensics", exclude_family: str | None = None,
        binary_only: bool = False, conditions: Sequence[str] = TRAIN_CONDITIONS) -> ForensicsModel:
    x, y, f, ids = training_rows(samples, tables, index, exclude_family, conditions)
    return train_model(x, y, f, ids, config=config, name=name, binary_only=binary_only,
                       sources=[samples[i].source for i in ids])


def grouped_folds(samples: Sequence[Sample], n_splits: int = 5, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds grouped by source repository (no source on both sides) and stratified by class, so
    that, as far as the sources allow, every fold holds real photos *and* generated images.

    Plain ``GroupKFold`` puts the few big real sources into some folds and none into others; a
    fold without real photos says nothing about false positives, and pooling its scores with
    other folds' mixes models of different calibration (with the shared data set, two of five
    folds held no real photo at all)."""
    require_sklearn()
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.array([s.source for s in samples])
    y = np.array([s.is_ai for s in samples], dtype=int)
    n = min(n_splits, len(np.unique(groups)))
    if n < 2:
        raise ValueError("grouped cross-validation needs at least two source repositories")
    splitter = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(samples)), y, groups=groups))


def _fold_summary(samples: Sequence[Sample], test_idx: np.ndarray, p_ai: dict[str, np.ndarray]) -> dict:
    y = np.array([samples[i].is_ai for i in test_idx])
    row = {"real_sources": sorted({samples[i].source for i in test_idx if not samples[i].is_ai}),
           "n_real": int((~y).sum()), "n_ai": int(y.sum()), "auc": {}}
    for cond, p in p_ai.items():
        ok = ~np.isnan(p)
        row["auc"][cond] = roc_auc(p[ok], y[ok])
    return row


def cross_validate(samples: Sequence[Sample], tables: dict[str, np.ndarray], *, config: TrainConfig = TrainConfig(),
                   n_splits: int = 5, leave_one_family_out: bool = True,
                   formats: Sequence[str] | None = None) -> EvaluationReport:
    """Out-of-fold predictions with folds grouped by source repository (no source on both sides),
    then leave-one-family-out AUCs; both under the evaluation conditions of the tables."""
    conds = [c for c in EVAL_CONDITIONS if c in tables]
    n = len(samples)
    p_ai = {c: np.full(n, np.nan) for c in conds}
    fam = {c: np.full(n, UNKNOWN_FAMILY, dtype=object) for c in conds}
    folds = []
    for k, (train_idx, test_idx) in enumerate(grouped_folds(samples, n_splits, seed=config.seed)):
        log.info("fold %d: %d train / %d test images", k + 1, len(train_idx), len(test_idx))
        model = fit(samples, tables, train_idx, config=config)
        pred = predict_tables(model, {c: tables[c][test_idx] for c in conds})
        for c in conds:
            p_ai[c][test_idx] = pred.p_ai[c]
            fam[c][test_idx] = pred.family[c]
        folds.append(_fold_summary(samples, test_idx, pred.p_ai))
        log.info("fold %d: AUC %s", k + 1, folds[-1]["auc"])
    lofo = leave_one_family_out_auc(samples, tables, config=config) if leave_one_family_out else None
    rep = build_report(samples, Predictions(p_ai, fam), kind="grouped-cv", lofo=lofo, formats=formats)
    rep.folds = folds
    return rep


def leave_one_family_out_auc(samples: Sequence[Sample], tables: dict[str, np.ndarray], *,
                             config: TrainConfig = TrainConfig(), real_splits: int = 3) -> dict[str, dict]:
    """For each generator family: train without it (and without one group of real sources),
    then score that family against the held-out real photos, as stored."""
    require_sklearn()
    from sklearn.model_selection import GroupKFold

    real = np.array([i for i, s in enumerate(samples) if not s.is_ai])
    groups = np.array([samples[i].source for i in real])
    n = min(real_splits, len(np.unique(groups)))
    real_folds = [real[test] for _, test in GroupKFold(n_splits=n).split(real, groups=groups)] if n >= 2 else [real]
    fams = sorted({s.family for s in samples if s.is_ai})
    x_stored = tables["stored"]
    out = {}
    for k, fam in enumerate(fams):
        held_real = real_folds[k % len(real_folds)]
        fam_idx = np.array([i for i, s in enumerate(samples) if s.family == fam])
        train_idx = np.setdiff1d(np.arange(len(samples)), np.concatenate([held_real, fam_idx]))
        model = fit(samples, tables, train_idx, config=config, exclude_family=fam, binary_only=True)
        test = np.concatenate([held_real, fam_idx])
        x = x_stored[test]
        ok = ~np.isnan(x).any(axis=1)
        p = model.predict_ai(x[ok])
        y = np.array([samples[i].is_ai for i in test[ok]])
        tpr, _ = tpr_at_fpr(p, y, 0.01)
        out[fam] = {"auc": roc_auc(p, y), "tpr_at_1pct_fpr": tpr, "n": int(y.sum()), "n_real": int((~y).sum()),
                    "real_sources": sorted({samples[i].source for i in held_real})}
        log.info("leave out %s: AUC %s", fam, out[fam]["auc"])
    return out


def evaluate_model(model: ForensicsModel, samples: Sequence[Sample], tables: dict[str, np.ndarray], *,
                   formats: Sequence[str] | None = None) -> EvaluationReport:
    """Score a trained model on a (held-out) data set under the evaluation conditions."""
    conds = {c: tables[c] for c in EVAL_CONDITIONS if c in tables}
    return build_report(samples, predict_tables(model, conds), kind="held-out", formats=formats)


def save_plots(report: EvaluationReport, folder, *, prefix: str = "detection") -> list:
    """ROC curves (all conditions) and the as-stored family confusion matrix as PNG files."""
    from pathlib import Path

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        from provenance import MissingDependencyError

        raise MissingDependencyError("plots need matplotlib: pip install 'provenance-tool[train]'") from e
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    for cond, pts in report.curves.items():
        auc = report.conditions[cond]["auc"]
        ax.plot(pts["fpr"], pts["tpr"], label=f"{CONDITION_WORDS.get(cond, cond)} (AUC {auc:.3f})")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.axvline(0.01, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("false-positive rate (real photos called AI)")
    ax.set_ylabel("true-positive rate")
    ax.set_title(f"ROC, {report.kind}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    roc = folder / f"{prefix}-roc.png"
    fig.savefig(roc)
    plt.close(fig)
    written.append(roc)
    conf = report.confusion.get("stored")
    if conf:
        m = np.asarray(conf["matrix"], dtype=float)
        norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(6, 5.5), dpi=100)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(conf["labels"])), conf["labels"], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(conf["labels"])), conf["labels"], fontsize=8)
        for i in range(len(m)):
            for j in range(len(m)):
                if m[i, j]:
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted family")
        ax.set_ylabel("true family")
        ax.set_title(f"family head, {report.kind}, as stored")
        fig.tight_layout()
        path = folder / f"{prefix}-confusion.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
