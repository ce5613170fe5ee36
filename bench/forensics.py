"""Forensic feature extraction cost: a 1024x1024 image on one core (target: ``analyze`` 100 ms).

    .venv/bin/python bench/forensics.py [--repeat 15]

Prints the median time of the whole vector, of the reduction to half resolution and of each
extractor (on its crops of the image at its scale: four 256x256 for the artifact extractors, four
224x224 at full resolution for the learned backbone, run as one batch),
plus the classifier's prediction with the shipped model. One thread: BLAS/FFT threads are pinned
before numpy is imported.
"""
from __future__ import annotations

from _one_core import median_ms  # first: pins the thread pools before numpy loads

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import jpeg_roundtrip, natural_image  # noqa: E402
from detectors.features import analysis_crops, extract_features, extractor_names, get_extractor, reduce  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    img = jpeg_roundtrip(natural_image(1024, 1024, seed=1), 90)
    keys = sorted({(get_extractor(n).scale, get_extractor(n).crop) for n in extractor_names()})
    crops = {k: analysis_crops(reduce(img, k[0]), crop=k[1]) for k in keys}
    print("image 1024x1024, one thread; crops per scale: "
          + ", ".join(f"1/{s}: {len(c)} x {c[0].shape[0]}x{c[0].shape[1]}" for (s, _), c in crops.items()))
    print(f"extract_features: {median_ms(lambda: extract_features(img), args.repeat):7.1f} ms (median of {args.repeat})")
    for s in sorted({k[0] for k in crops}):
        if s > 1:
            print(f"  reduce to 1/{s}           {median_ms(lambda: reduce(img, s), args.repeat):7.1f} ms")
    for name in extractor_names():
        ex = get_extractor(name)
        c = crops[ex.scale, ex.crop]
        run = (lambda: ex(c)) if ex.batch else (lambda: [ex(x) for x in c])
        print(f"  {name:<22} {median_ms(run, args.repeat):7.1f} ms (scale 1/{ex.scale})")
    try:
        from detectors.forensics import analyze, prepare

        model = prepare()
        x = extract_features(img)
        print(f"predict + explain:  {median_ms(lambda: (model.predict_ai(x), model.explain(x)), args.repeat):7.1f} ms")
        print(f"analyze (total):    {median_ms(lambda: analyze(img, model=model), args.repeat):7.1f} ms")
    except Exception as e:  # the model is optional for the feature timing
        print(f"(no model timing: {e})")
    print(f"numpy {np.__version__}")


if __name__ == "__main__":
    main()
