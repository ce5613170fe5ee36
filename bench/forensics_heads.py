"""Side by side under the trainer's grouped cross-validation: the hand-made artifact features
(boosted trees, the previous shipped model), the learned backbone features (logistic regression)
and both together, and variants of each (``--variant``).

    .venv/bin/python bench/forensics_heads.py --data ../shared/data/real ../shared/data/generated \\
        --cache-dir /tmp/forensics-cache [--workers 2] [--seeds 0 1 2] [--variant NAME ...]

Binary head only (the family head and leave-one-family-out are the trainer's: ``provenance
train``), trained exactly as the trainer trains it (``_evaluate.fit`` with ``binary_only``), scored
out of fold and pooled over folds under the three evaluation conditions. ``stored-only`` variants
train on the images as stored instead of the augmented copies (the issue's probe did that).
Features come from the trainer's cache (``--cache-dir``); images not in it are computed.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors import _evaluate  # noqa: E402
from detectors._classifier import ARTIFACT_EXTRACTORS, TrainConfig  # noqa: E402
from detectors._dataset import ALL_CONDITIONS, EVAL_CONDITIONS, TRAIN_CONDITIONS, feature_table, read_manifests  # noqa: E402
from detectors._evaluate import grouped_folds, roc_auc, tpr_at_fpr  # noqa: E402
from detectors._train import _usable  # noqa: E402

ARTIFACTS = ARTIFACT_EXTRACTORS
LEARNED = ("backbone_lite0",)
LOGISTIC = TrainConfig(head="logistic", C=0.01, log_std=False, extractors=LEARNED)
VARIANTS = {
    "* shipped: learned, logistic C=0.003, log of the std features": TrainConfig(),
    "artifacts, boosting (previous shipped)": TrainConfig(head="boosting", log_std=False, extractors=ARTIFACTS),
    "artifacts, logistic C=0.01": replace(LOGISTIC, extractors=ARTIFACTS),
    "learned, logistic C=0.01": LOGISTIC,
    "learned, logistic C=0.01, stored-only, no source weights (the probe)": replace(LOGISTIC, source_power=0.0),
    "learned, logistic C=0.01, no source weights": replace(LOGISTIC, source_power=0.0),
    "learned, logistic C=0.003": replace(LOGISTIC, C=0.003),
    "learned, logistic C=0.03": replace(LOGISTIC, C=0.03),
    "learned, logistic C=0.001": replace(LOGISTIC, C=0.001),
    "both, logistic C=0.01": replace(LOGISTIC, extractors=ARTIFACTS + LEARNED),
    "both, logistic C=0.003": replace(LOGISTIC, C=0.003, extractors=ARTIFACTS + LEARNED),
    "both, logistic C=0.003, log of the std features": replace(TrainConfig(), extractors=ARTIFACTS + LEARNED),
}


def evaluate(samples, tables, config: TrainConfig, seed: int, stored_only: bool) -> dict:
    conds = [c for c in EVAL_CONDITIONS if c in tables]
    n = len(samples)
    y = np.array([s.is_ai for s in samples])
    oof = {c: np.full(n, np.nan) for c in conds}
    per_fold = []
    train_conditions = ("stored",) if stored_only else TRAIN_CONDITIONS
    for train, test in grouped_folds(samples, seed=seed):
        model = _evaluate.fit(samples, tables, train, config=config, binary_only=True, conditions=train_conditions)
        pred = _evaluate.predict_tables(model, {c: tables[c][test] for c in conds})
        for c in conds:
            oof[c][test] = pred.p_ai[c]
        ok = ~np.isnan(pred.p_ai["stored"])
        per_fold.append(roc_auc(pred.p_ai["stored"][ok], y[test][ok]))
    out = {"per_fold": per_fold}
    for c in conds:
        ok = ~np.isnan(oof[c])
        out[c] = (roc_auc(oof[c][ok], y[ok]), tpr_at_fpr(oof[c][ok], y[ok], 0.01)[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--variant", nargs="+", choices=sorted(VARIANTS), help="default: all")
    args = ap.parse_args()
    samples = read_manifests(args.data)
    tables, errors = feature_table(samples, ALL_CONDITIONS, seed=0, workers=args.workers, cache_dir=args.cache_dir)
    for e in errors:
        print(f"skipped: {e}", file=sys.stderr)
    samples, tables = _usable(samples, tables)
    y = np.array([s.is_ai for s in samples])
    print(f"{len(samples)} images ({int((~y).sum())} real from {len({s.source for s in samples if not s.is_ai})} "
          f"sources, {int(y.sum())} generated from {len({s.source for s in samples if s.is_ai})} sources)\n")
    print("| variant | fold seed | AUC stored | AUC JPEG q65 | AUC resized 50% | TPR@1%FPR stored / q65 / 50% | "
          "per fold, stored | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.variant or list(VARIANTS):
        for seed in args.seeds:
            t = time.perf_counter()
            r = evaluate(samples, tables, VARIANTS[name], seed, "stored-only" in name)
            print(f"| {name} | {seed} | " + " | ".join(f"{r[c][0]:.3f}" for c in EVAL_CONDITIONS) + " | "
                  + " / ".join(f"{r[c][1]:.2f}" for c in EVAL_CONDITIONS) + " | "
                  + " / ".join(f"{a:.2f}" for a in r["per_fold"]) + f" | {time.perf_counter() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
