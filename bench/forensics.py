"""Forensic feature extraction cost: a 1024x1024 image on one core (target: 150 ms).

    .venv/bin/python bench/forensics.py [--repeat 15]

Prints the median time of the whole vector and of each extractor (on the four 256x256 crops),
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

from conftest import jpeg_roundtrip, natural_image  # noqa: E402
from detectors.features import analysis_crops, extract_features, extractor_names, get_extractor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    img = jpeg_roundtrip(natural_image(1024, 1024, seed=1), 90)
    crops = analysis_crops(img)
    print(f"image 1024x1024, {len(crops)} crops of {crops[0].shape[0]}x{crops[0].shape[1]}, one thread")
    print(f"extract_features: {median_ms(lambda: extract_features(img), args.repeat):7.1f} ms (median of {args.repeat})")
    for name in extractor_names():
        ex = get_extractor(name)
        print(f"  {name:<22} {median_ms(lambda: [ex(c) for c in crops], args.repeat):7.1f} ms")
    try:
        from detectors.forensics import analyze, load_default_model

        model = load_default_model()
        x = extract_features(img)
        print(f"predict + explain:  {median_ms(lambda: (model.predict_ai(x), model.explain(x)), args.repeat):7.1f} ms")
        print(f"analyze (total):    {median_ms(lambda: analyze(img, model=model), args.repeat):7.1f} ms")
    except Exception as e:  # the model is optional for the feature timing
        print(f"(no model timing: {e})")
    print(f"numpy {np.__version__}")


if __name__ == "__main__":
    main()
