"""Shared set-up of the single-core benchmarks: import this before numpy, OpenCV or torch.

Importing it pins the BLAS/OpenMP/numexpr thread pools to one thread (they read these variables
once, when they load), so a figure is the cost on one core. ``median_ms`` is the timing loop.
"""
from __future__ import annotations

import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "OPENCV_FOR_THREADS_NUM"):  # OpenCV's pip wheels read this one, not OMP_NUM_THREADS (cv2.dnn too)
    os.environ[_var] = "1"


def median_ms(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeat`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)
