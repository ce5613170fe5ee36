"""Which analysis scale, which extractors, which row weights: grouped cross-validation of variants.

    .venv/bin/python bench/forensics_scales.py --data ../shared/data/real ../shared/data/generated \
        [--workers 2] [--cache /tmp/forensics-scales.npz] [--seeds 0 1] [--leaves 7] [--variant shipped:]

Every registered extractor is computed at full and at half resolution (2x2 pixel means) for every
image under the training conditions (random JPEG; random resize + JPEG) and the evaluation
conditions (as stored, JPEG q65, resized 50%), with the seeds the training uses. Each variant then
goes through the training's own calibrated boosted binary head (``detectors._classifier``) on the
same source-grouped folds as ``provenance train`` (``--uncalibrated``: without its sigmoid, much
faster), and the table prints pooled out-of-fold ROC AUC
under each condition, TPR at 1% FPR as stored and each fold's AUC as stored. The shipped
configuration is the row marked ``*``. docs/DETECTION.md quotes runs of this script.

The uncalibrated mode is a fast proxy: it ranked 7 leaves per tree 0.02-0.045 ahead of 15 over
three fold seeds, and the trainer's own calibrated cross-validation then put 7 leaves behind
(docs/DETECTION.md). Confirm a small difference with ``provenance train`` before shipping it.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors._classifier import ARTIFACT_EXTRACTORS, TrainConfig, _calibrated, _hgb, training_weights  # noqa: E402
from detectors._dataset import (ALL_CONDITIONS, EVAL_CONDITIONS, TRAIN_CONDITIONS, apply_condition, centre_crop,  # noqa: E402
                               condition_rng, read_manifests)
from detectors._evaluate import grouped_folds, roc_auc, tpr_at_fpr, training_rows  # noqa: E402
from detectors.features import analysis_crops, extractor_names, get_extractor, min_side, reduce  # noqa: E402
from provenance._imageio import load_image  # noqa: E402

SCALES = (1, 2)
#: The artifact-feature head this ablation was made for (the model before forensics-v2, which reads
#: the learned backbone instead; bench/forensics_heads.py compares the two).
SHIPPED = TrainConfig(head="boosting", log_std=False, extractors=ARTIFACT_EXTRACTORS)


def artifact_extractors() -> list[str]:
    """The hand-made extractors, JPEG traces included (not the learned backbone), in registry order."""
    return [e for e in extractor_names() if e in ARTIFACT_EXTRACTORS or e == "jpeg_traces"]


#: name -> ({extractor: scale}, source_power); None as a scale leaves the extractor out.
VARIANTS = {
    "v1: all at full resolution, JPEG traces in, no source weights": (
        {e: 1 for e in artifact_extractors()}, 0.0),
    "all at half resolution, JPEG traces in, no source weights": (
        {e: 2 for e in artifact_extractors()}, 0.0),
    "all at half resolution, JPEG traces in": ({e: 2 for e in artifact_extractors()}, 0.5),
    "* shipped: registry scales, JPEG traces out": (
        {e: get_extractor(e).scale if e in SHIPPED.extractors else None for e in artifact_extractors()},
        SHIPPED.source_power),
    "shipped, no source weights": (
        {e: get_extractor(e).scale if e in SHIPPED.extractors else None for e in artifact_extractors()}, 0.0),
    "shipped + JPEG traces at full resolution": (
        {e: get_extractor(e).scale for e in artifact_extractors()}, SHIPPED.source_power),
    "shipped, CFA at half resolution": (
        {e: (2 if e == "cfa_correlation" else get_extractor(e).scale) if e in SHIPPED.extractors else None
         for e in artifact_extractors()}, SHIPPED.source_power),
    "shipped, cross-channel at full resolution": (
        {e: (1 if e == "cross_channel" else get_extractor(e).scale) if e in SHIPPED.extractors else None
         for e in artifact_extractors()}, SHIPPED.source_power),
}


def _features(path: str) -> dict[str, np.ndarray] | None:
    """{condition: vector of every extractor at every scale}; NaN where the image is too small."""
    loaded = load_image(path)
    if min(loaded.rgb.shape[:2]) < min_side():
        return None
    digest = hashlib.sha256(loaded.data).digest()
    rgb = centre_crop(loaded.rgb)
    out = {}
    for cond in ALL_CONDITIONS:  # the draws of detectors._dataset.sample_features
        img = apply_condition(rgb, cond, condition_rng(digest, cond))
        parts = []
        for scale in SCALES:
            small = reduce(img, scale)
            try:
                crops = analysis_crops(small)
            except Exception:
                crops = None
            for e in artifact_extractors():
                ex = get_extractor(e)
                parts.append(np.mean([ex(c) for c in crops], axis=0) if crops else np.full(len(ex.names), np.nan))
        out[cond] = np.concatenate(parts)
    return out


def _columns(scales: dict[str, int | None]) -> list[int]:
    cols, at = [], 0
    for scale in SCALES:
        for e in artifact_extractors():
            n = len(get_extractor(e).names)
            if scales[e] == scale:
                cols += range(at, at + n)
            at += n
    return cols


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cache", default="/tmp/forensics-scales.npz")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="fold shuffles to run")
    ap.add_argument("--uncalibrated", action="store_true",
                    help="the boosted head without its sigmoid calibration: ~4x faster (about a minute per "
                         "variant here, against ~10); fold-level ranks are the same, pooled AUC may differ")
    ap.add_argument("--leaves", type=int, default=SHIPPED.max_leaf_nodes,
                    help=f"max_leaf_nodes of the boosted trees (default: the training's, {SHIPPED.max_leaf_nodes})")
    ap.add_argument("--variant", help="run only the variants whose name contains this text (e.g. 'shipped:')")
    args = ap.parse_args()
    samples = read_manifests(args.data)
    if os.path.exists(args.cache):
        with np.load(args.cache) as z:
            tables = {c: z[c] for c in ALL_CONDITIONS}
    else:
        t = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as ex:
            rows = list(ex.map(_features, [str(s.path) for s in samples], chunksize=8))
        width = next(len(r["stored"]) for r in rows if r)
        tables = {c: np.array([r[c] if r else np.full(width, np.nan) for r in rows]) for c in ALL_CONDITIONS}
        np.savez(args.cache, **tables)
        print(f"features of {len(samples)} images at scales {SCALES}: {time.perf_counter() - t:.0f} s",
              file=sys.stderr)
    keep = ~np.isnan(tables["stored"]).any(axis=1)
    samples = [s for s, k in zip(samples, keep) if k]
    tables = {c: t[keep] for c, t in tables.items()}
    y = np.array([s.is_ai for s in samples], dtype=int)
    src = np.array([s.source for s in samples])
    print(f"{len(samples)} images ({int((y == 0).sum())} real, {int(y.sum())} generated), "
          f"{len(set(src))} sources; fold seeds {args.seeds}; "
          f"{'uncalibrated' if args.uncalibrated else 'calibrated'} boosted binary head, {args.leaves} leaves")
    print("| variant | features | seed | AUC stored | AUC JPEG q65 | AUC resized 50% | TPR@1%FPR | per fold (stored) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (scales, power) in VARIANTS.items():
        if args.variant and args.variant not in name:
            continue
        cols = _columns(scales)
        config = replace(SHIPPED, source_power=power, max_leaf_nodes=args.leaves)
        for seed in args.seeds:
            oof = {c: np.full(len(y), np.nan) for c in EVAL_CONDITIONS}
            per = []
            for train, test in grouped_folds(samples, seed=seed):
                x, yy, _, ids = training_rows(samples, {c: tables[c][:, cols] for c in TRAIN_CONDITIONS}, train)
                ss = src[ids]
                if args.uncalibrated:
                    w = training_weights(yy, ss, balance=config.balance_classes, source_power=power)
                    head = _hgb(config, config.max_iter).fit(x, yy, sample_weight=w)
                else:
                    head = _calibrated(config, config.max_iter, x, yy, ids, ss, power)
                for c in EVAL_CONDITIONS:
                    xt = tables[c][test][:, cols]
                    good = ~np.isnan(xt).any(axis=1)
                    oof[c][test[good]] = head.predict_proba(xt[good])[:, 1]
                per.append(roc_auc(oof["stored"][test], y[test]))
            aucs = []
            for c in EVAL_CONDITIONS:
                m = ~np.isnan(oof[c])
                aucs.append(roc_auc(oof[c][m], y[m]))
            tpr, _ = tpr_at_fpr(oof["stored"], y, 0.01)
            print(f"| {name} | {len(cols)} | {seed} | " + " | ".join(f"{a:.3f}" for a in aucs)
                  + f" | {tpr:.3f} | " + " / ".join(f"{a:.2f}" for a in per) + " |", flush=True)


if __name__ == "__main__":
    main()
