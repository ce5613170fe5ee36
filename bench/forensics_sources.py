"""How the binary head's grouped cross-validation grows with the real sources it is trained on.

    .venv/bin/python bench/forensics_sources.py --data ../shared/data/real ../shared/data/generated \
        --cache-dir /tmp/forensics-cache [--workers 2] [--seed 0] [--sizes 1 2 4 8 16 25] [--draws 3] \
        [--control] [--extra-real DIR ...] [--config artifacts]

The trainer's own folds (``provenance train``: grouped by source repository, stratified by class)
hold out some real sources per fold and train on the others. Here each fold's model is trained
again on subsets of its real training sources (all of the fold's generated training images each
time), and its AUC on the fold's test images is printed under the three evaluation conditions: the
mean over subsets of k sources, for each k of ``--sizes`` (every subset when there are at most
``--draws`` of them, else ``--draws`` drawn at random; k larger than a fold's sources means all of
them). The head is the shipped model's configuration (``TrainConfig()``) or, with
``--config artifacts``, the previous model's (artifact features, boosted trees without the sigmoid).
A fold's AUC does not depend on a monotone calibration (it ranks within the fold), so with all
sources the per-fold figures are the trainer's own (docs/DETECTION.md, fold table).

``--control``: fewer sources also means fewer real images. For subsets of one or two sources,
the same number of real images drawn at random from all the fold's real training sources (two
draws), so that the number of images is the same and only the number of sources differs.

``--extra-real DIR ...``: manifests of more real photos (their own sources) added to every fold's
training, never to a test fold; per fold and pooled AUC with and without them, for each seed of
``--seeds``.

Features come from the trainer's cache (``--cache-dir`` of ``provenance train``); images not in it
are computed.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors._classifier import TrainConfig, _columns, _hgb, _logistic, training_weights  # noqa: E402
from detectors._dataset import ALL_CONDITIONS, EVAL_CONDITIONS, TRAIN_CONDITIONS, feature_table, read_manifests  # noqa: E402
from detectors._evaluate import grouped_folds, roc_auc, training_rows  # noqa: E402
from detectors._train import _usable  # noqa: E402
from detectors._classifier import ARTIFACT_EXTRACTORS  # noqa: E402

#: The previous shipped head: boosted trees on the artifact features.
ARTIFACTS = TrainConfig(head="boosting", C=0.01, log_std=False, extractors=ARTIFACT_EXTRACTORS)
#: The shipped head (TrainConfig's defaults are the shipped model's configuration).
CONFIG = TrainConfig()


class Rows:
    """Feature rows (the shipped model's columns) of a data set under each condition, with labels and sources."""

    def __init__(self, dirs, conditions, args):
        samples = read_manifests(dirs)
        tables, errors = feature_table(samples, conditions, seed=CONFIG.seed, workers=args.workers,
                                       cache_dir=args.cache_dir)
        for e in errors:
            print(f"skipped: {e}", file=sys.stderr)
        self.samples, tables = _usable(samples, tables)
        cols = _columns(CONFIG.input_names())
        self.x = {c: t[:, cols] for c, t in tables.items()}
        self.y = np.array([s.is_ai for s in self.samples], dtype=int)
        self.src = np.array([s.source for s in self.samples])


def fit(data: Rows, train: np.ndarray, extra: Rows | None = None):
    """The shipped binary head (no sigmoid) on ``train``'s augmented rows, plus ``extra``'s."""
    parts = [(data, train)] + ([(extra, np.arange(len(extra.y)))] if extra is not None else [])
    rows = [(d, training_rows(d.samples, d.x, i)) for d, i in parts]  # (x, is_ai, family, image index)
    x = np.vstack([r[0] for _, r in rows])
    y = np.concatenate([r[1] for _, r in rows])
    src = np.concatenate([d.src[r[3]] for d, r in rows])
    if CONFIG.head == "logistic":
        return _logistic(CONFIG, x, y, src, CONFIG.source_power, CONFIG.input_names())
    w = training_weights(y, src, balance=CONFIG.balance_classes, source_power=CONFIG.source_power)
    return _hgb(CONFIG, CONFIG.max_iter).fit(x, y, sample_weight=w)


def scores(head, data: Rows, test: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{condition: (test rows it could score, p_ai)}."""
    out = {}
    for c in EVAL_CONDITIONS:
        x = data.x[c][test]
        good = ~np.isnan(x).any(axis=1)
        out[c] = (test[good], head.predict_proba(x[good])[:, 1])
    return out


def aucs(data: Rows, s: dict) -> list[float]:
    return [roc_auc(p, data.y[i]) for i, p in s.values()]


def fmt(values) -> str:
    return " | ".join(f"{v:.3f}" for v in values)


def subsets(sources: list[str], k: int, draws: int, rng: np.random.Generator) -> list[tuple[str, ...]]:
    """Every k-subset of ``sources`` when there are at most ``draws``, else ``draws`` distinct random ones."""
    k = min(k, len(sources))
    if math.comb(len(sources), k) <= draws:
        return list(itertools.combinations(sources, k))
    chosen: set[tuple[str, ...]] = set()
    while len(chosen) < draws:
        chosen.add(tuple(sorted(rng.choice(sources, size=k, replace=False))))
    return sorted(chosen)


def curve(data: Rows, seed: int, control: bool, sizes: list[int], draws: int) -> None:
    folds = grouped_folds(data.samples, seed=seed)
    by_k: dict[int, list[list[float]]] = {}
    print(f"\n### Per-fold AUC against the number of real training sources (fold seed {seed})\n")
    print("| fold | held-out real source | k | real training sources | real images | AUC stored | AUC JPEG q65 | AUC resized 50% |")
    print("|---|---|---|---|---|---|---|---|")
    pairs = []
    rng = np.random.default_rng(seed)
    for f, (train, test) in enumerate(folds, start=1):
        held = ", ".join(sorted({data.src[i] for i in test if not data.y[i]}))
        generated = train[data.y[train] == 1]
        real = train[data.y[train] == 0]
        sources = sorted(set(data.src[real]))
        ks = sorted({min(k, len(sources)) for k in sizes})
        for k in ks:
            for subset in subsets(sources, k, draws, rng):
                chosen = real[np.isin(data.src[real], subset)]
                a = aucs(data, scores(fit(data, np.concatenate([generated, chosen])), data, test))
                by_k.setdefault(k, [[] for _ in folds])[f - 1].append(a)
                names = ", ".join(s.split("/")[0] for s in subset) if k <= 4 else f"{k} sources"
                print(f"| {f} | {held} | {k} | {names} | {len(chosen)} | {fmt(a)} |", flush=True)
                if control and k <= 2 and k < len(sources):
                    for _ in range(2):
                        drawn = rng.choice(real, size=len(chosen), replace=False)
                        b = aucs(data, scores(fit(data, np.concatenate([generated, np.sort(drawn)])), data, test))
                        pairs.append((k, a, b))
                        print(f"| {f} | {held} | control | {len(set(data.src[drawn]))} sources drawn at random | "
                              f"{len(chosen)} | {fmt(b)} |", flush=True)
    print(f"\n### Mean over subsets, then over folds (fold seed {seed})\n")
    print("| real training sources | folds | AUC stored | AUC JPEG q65 | AUC resized 50% | per fold, stored |")
    print("|---|---|---|---|---|---|")
    for k, per_fold in sorted(by_k.items()):
        means = [np.mean(v, axis=0) for v in per_fold if v]
        print(f"| {k} | {len(means)} | {fmt(np.mean(means, axis=0))} | " + " / ".join(f"{m[0]:.3f}" for m in means) + " |")
    print("\nA fold with fewer real training sources than k counts under its largest k (all its sources).")
    if pairs:
        print("\n### Control: the same number of real images, from one or two sources or drawn from all\n")
        print("| sources in the subset | subsets x draws | AUC stored, subset / drawn from all | JPEG q65 | resized 50% |")
        print("|---|---|---|---|---|")
        for k in sorted({p[0] for p in pairs}):
            a = np.mean([p[1] for p in pairs if p[0] == k], axis=0)
            b = np.mean([p[2] for p in pairs if p[0] == k], axis=0)
            print(f"| {k} | {sum(p[0] == k for p in pairs)} | " + " | ".join(f"{x:.3f} / {z:.3f}" for x, z in zip(a, b)) + " |")


def with_extra(data: Rows, extra: Rows, seeds) -> None:
    names = ", ".join(f"{s} ({int((extra.src == s).sum())})" for s in sorted(set(extra.src)))
    print(f"\n### Extra real sources in every fold's training: {names}\n")
    print("| fold seed | training | pooled AUC stored | JPEG q65 | resized 50% | per fold, stored | mean of folds |")
    print("|---|---|---|---|---|---|---|")
    for seed in seeds:
        folds = grouped_folds(data.samples, seed=seed)
        for label, more in (("shared data", None), ("shared data + extra", extra)):
            oof = {c: np.full(len(data.y), np.nan) for c in EVAL_CONDITIONS}
            per = []
            for train, test in folds:
                s = scores(fit(data, train, more), data, test)
                for c, (i, p) in s.items():
                    oof[c][i] = p
                per.append(roc_auc(s["stored"][1], data.y[s["stored"][0]]))
            pooled = [roc_auc(oof[c][~np.isnan(oof[c])], data.y[~np.isnan(oof[c])]) for c in EVAL_CONDITIONS]
            print(f"| {seed} | {label} | {fmt(pooled)} | " + " / ".join(f"{a:.3f}" for a in per)
                  + f" | {np.mean(per):.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", help="the feature cache of `provenance train --cache-dir`")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="fold shuffle of the source curve")
    ap.add_argument("--no-curve", action="store_true", help="only the --extra-real comparison")
    ap.add_argument("--control", action="store_true", help="add the same-number-of-images control to the curve")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 25],
                    help="numbers of real training sources (capped at each fold's)")
    ap.add_argument("--draws", type=int, default=3, help="random subsets per size, where there are more")
    ap.add_argument("--config", choices=["shipped", "artifacts"], default="shipped",
                    help="the shipped model's head, or the previous one (artifact features, boosted trees)")
    ap.add_argument("--extra-real", nargs="+", help="manifests or folders of more real photos, training only")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="fold shuffles of --extra-real")
    args = ap.parse_args()
    global CONFIG
    if args.config == "artifacts":
        CONFIG = ARTIFACTS
    data = Rows(args.data, ALL_CONDITIONS, args)
    print(f"{len(data.y)} images ({int((data.y == 0).sum())} real, {int(data.y.sum())} generated), "
          f"{len(set(data.src))} sources; binary head: {CONFIG.head}, features {', '.join(CONFIG.extractors or ['all'])}")
    if not args.no_curve:
        curve(data, args.seed, args.control, args.sizes, args.draws)
    if args.extra_real:
        for d in args.extra_real:
            if any(s.is_ai for s in read_manifests([d])):
                ap.error(f"{d}: --extra-real takes real photos only")
        with_extra(data, Rows(args.extra_real, TRAIN_CONDITIONS, args), args.seeds)


if __name__ == "__main__":
    main()
