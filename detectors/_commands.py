"""The forensic commands, ``provenance detect|train|evaluate``, registered with the CLI through the
``provenance.commands`` entry-point group (the CLI in ``provenance/`` never imports ``detectors/``)."""
from __future__ import annotations

import logging
import sys

from provenance.cli import EXIT_ERROR, EXIT_OK, UsageError, add_command, add_json, each_file, print_json

log = logging.getLogger("provenance.cli")


def cmd_detect(args) -> int:
    from provenance import load_image
    from detectors.forensics import analyze, load_default_model

    model = load_default_model(args.model)  # once for all files; a bad model is exit 1
    results, failed = each_file(
        args.files, lambda f: analyze(load_image(f).rgb, model=model, all_features=args.features).to_dict(
            with_features=args.features), quiet=args.json)
    if args.json:
        print_json(results)
    else:
        for r in results:
            if "error" in r:
                continue
            fam, p_fam = next(iter(r["family_scores"].items()))
            print(f"{r['file']}: p(AI-generated) = {r['p_ai']:.2f} (estimate, model {r['model']}); "
                  f"if generated, most like {fam} ({p_fam:.2f})")
            for t in r["top_features"]:
                print(f"  {t['effect']:+.2f} {t['direction']}: {t['feature']}")
    return EXIT_ERROR if failed else EXIT_OK


def _train_config(args):
    from detectors.forensics import TrainConfig

    return TrainConfig(seed=args.seed)


def cmd_train(args) -> int:
    from provenance import check_output_path
    from detectors._classifier import MODEL_SUFFIX
    from detectors._train import train_from_data

    if not args.out.endswith(MODEL_SUFFIX):
        raise UsageError(f"--out {args.out}: the model file must end in {MODEL_SUFFIX} "
                         "(its sidecar .json goes beside it)")
    check_output_path(args.out, overwrite=args.overwrite)
    run = train_from_data(args.data, args.out, config=_train_config(args), cv_folds=0 if args.no_cv else args.folds,
                          leave_one_family_out=not args.no_lofo, workers=args.workers, cache_dir=args.cache_dir,
                          max_per_source=args.max_per_source)
    if args.plots and run.report:
        from detectors._evaluate import save_plots

        for path in save_plots(run.report, args.plots, prefix=args.plot_prefix):
            print(f"wrote {path}", file=sys.stderr)
    summary = {"model": args.out, "id": run.model.id, "sidecar": str(run.sidecar),
               "unreadable": run.errors, "evaluation": run.report.to_dict() if run.report else None}
    if args.json:
        print_json(summary)
    else:
        print(f"model written to {args.out} ({run.model.id}), sidecar {run.sidecar}")
        if run.report:
            print(run.report.to_markdown())
    return EXIT_ERROR if run.errors else EXIT_OK


def cmd_evaluate(args) -> int:
    from provenance import atomic_write
    from detectors._evaluate import save_plots
    from detectors._train import evaluate_on_data
    from detectors.forensics import load_default_model

    model = load_default_model(args.model)
    report, errors = evaluate_on_data(args.data, model, cv=args.cv, cv_folds=args.folds,
                                      leave_one_family_out=not args.no_lofo, workers=args.workers,
                                      cache_dir=args.cache_dir, max_per_source=args.max_per_source)
    if args.plots:
        for path in save_plots(report, args.plots, prefix=args.plot_prefix):
            print(f"wrote {path}", file=sys.stderr)
    if args.markdown:
        atomic_write(args.markdown, report.to_markdown().encode("utf-8"), overwrite=True)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.to_markdown())
        for note in report.notes:
            print(f"note: {note}")
    return EXIT_ERROR if errors else EXIT_OK


def _add_data_options(p) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="DIR_OR_MANIFEST",
                   help="MANIFEST.csv files, or folders holding one (or sub-folders that do)")
    p.add_argument("--folds", type=int, default=5, help="grouped cross-validation folds (default 5)")
    p.add_argument("--no-lofo", action="store_true", help="skip the leave-one-family-out runs")
    p.add_argument("--workers", type=int, default=1, help="processes extracting features (default 1)")
    p.add_argument("--cache-dir", help="folder to cache extracted features in (e.g. /tmp/forensics-cache)")
    p.add_argument("--max-per-source", type=int, metavar="N",
                   help="use at most N images of each source repository (a fixed choice; default all)")


def register(commands) -> None:
    p = add_command(commands, "detect", cmd_detect,
                    "estimate whether images are AI-generated, and by which family, from their pixels alone",
                    "provenance detect photo.jpg render.png --json")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--model", help="a .npz model from 'provenance train' (default: the shipped one)")
    p.add_argument("--features", action="store_true", help="also print the raw feature values (with --json)")
    add_json(p)
    p = add_command(commands, "train", cmd_train,
                    "train the forensic classifier on labelled images (augmented, cross-validated by source)",
                    "provenance train --data ../shared/data/real ../shared/data/generated --out my-model.npz "
                    "--workers 2 --cache-dir /tmp/forensics-cache")
    _add_data_options(p)
    p.add_argument("--out", required=True, help="model file to write (.npz of plain arrays; a .json sidecar goes beside it)")
    p.add_argument("--no-cv", action="store_true", help="fit only, without cross-validation")
    p.add_argument("--seed", type=int, default=0, help="seed of the augmentations and models (default 0)")
    p.add_argument("--plots", metavar="DIR", help="write the cross-validation ROC and confusion-matrix PNGs here")
    p.add_argument("--plot-prefix", default="detection", help="file-name prefix of the plots (default detection)")
    p.add_argument("--overwrite", action="store_true", help="replace the model if it exists")
    add_json(p)
    p = add_command(commands, "evaluate", cmd_evaluate,
                    "measure a model: ROC AUC, TPR at 1%% and 0.1%% FPR, per-family results, as stored / JPEG q65 / resized 50%%",
                    "provenance evaluate --data ../shared/data/real ../shared/data/generated --cv --plots docs/figures")
    _add_data_options(p)
    p.add_argument("--model", help="the .npz model (default: the shipped one)")
    p.add_argument("--cv", action="store_true",
                   help="re-run grouped cross-validation with the model's training settings instead of "
                        "scoring the model itself (use this on the data it was trained on)")
    p.add_argument("--plots", metavar="DIR", help="write ROC and confusion-matrix PNGs to this folder")
    p.add_argument("--plot-prefix", default="detection", help="file-name prefix of the plots (default detection)")
    p.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown to this file")
    add_json(p)
