"""Keep worker processes to one thread each, so that they do not crowd out their parent.

Thread pools are per process: with one worker process per core (the audit) or a few workers beside
a process that drives a GPU (``generate``), a worker that starts a thread per core for every
OpenCV, BLAS or OpenMP call oversubscribes the machine. Spawned children copy ``os.environ`` when
they start, and these libraries read their thread counts from it when they load.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

#: OpenCV's pip wheels ignore OMP_NUM_THREADS and start a thread per core for cvtColor and friends;
#: OPENCV_FOR_THREADS_NUM is the variable they read.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "OPENCV_FOR_THREADS_NUM")


@contextmanager
def single_threaded_env() -> Iterator[None]:
    """Within the block, processes started get one thread per pool (values already set are kept);
    this process's own environment is restored on leaving."""
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    for k in THREAD_ENV:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
