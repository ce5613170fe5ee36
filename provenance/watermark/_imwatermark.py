"""invisible-watermark's three methods (dwtDct, dwtDctSvd, rivaGan) behind our interface.

dwtDct and dwtDctSvd run through ``_fast_iw``, a vectorised port that is bit-compatible with
invisible-watermark 0.2.0 both ways (same pixels out, same bits read; tests/test_fast_iw.py) and
13-40x faster. rivaGan runs invisible-watermark's own ONNX code.

invisible-watermark is optional (the ``iw`` and ``rivagan`` extras): it depends on torch, which
the base install leaves out. Nothing here imports it until rivaGan runs; ``_iw_module`` loads its
transform modules without the package ``__init__``, which imports torch (about 2 s): the
compatibility tests and benchmarks use it.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType

import cv2
import numpy as np

from .._errors import MissingDependencyError, ProvenanceError
from .._payload import FULL_CODEC, SHORT_CODEC
from ._base import WatermarkMethod
from ._fast_iw import decode_dwt_dct, decode_dwt_dct_svd, embed_dwt_dct, embed_dwt_dct_svd

_lock = threading.Lock()


def _iw_module(name: str) -> ModuleType:
    """Import ``imwatermark.<name>`` without running the package's torch-importing ``__init__``."""
    full = f"imwatermark.{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("invisible-watermark is not installed: pip install 'provenance-tool[iw]'")
    location = list(spec.submodule_search_locations)[0]
    sub = importlib.util.spec_from_file_location(full, f"{location}/{name}.py")
    if sub is None or sub.loader is None:
        raise MissingDependencyError(f"invisible-watermark has no module {name}")
    module = importlib.util.module_from_spec(sub)
    sub.loader.exec_module(module)
    sys.modules.setdefault(full, module)
    return module


def _to_bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _to_rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(bgr, dtype=np.uint8), cv2.COLOR_BGR2RGB)


class _TransformMethod(WatermarkMethod):
    """A transform-domain iw method: pixels go through ``embed_fn``/``decode_fn`` of ``_fast_iw`` in BGR."""

    codec = FULL_CODEC
    embed_fn: staticmethod
    decode_fn: staticmethod

    def _embed(self, image, bits):
        return _to_rgb(self.embed_fn(_to_bgr(image), bits))

    def _extract(self, image):
        return self.decode_fn(_to_bgr(image), self.codec.bits)[0]


class DwtDct(_TransformMethod):
    name = "dwtDct"
    summary = "invisible-watermark DWT 'max coefficient' (fast; misses its own mark on many images; no JPEG)"
    embed_fn = staticmethod(embed_dwt_dct)
    decode_fn = staticmethod(decode_dwt_dct)


class DwtDctSvd(_TransformMethod):
    name = "dwtDctSvd"
    summary = "invisible-watermark DWT+DCT+SVD (survives JPEG q90 on most images; not crops or resizes)"
    embed_fn = staticmethod(embed_dwt_dct_svd)
    decode_fn = staticmethod(decode_dwt_dct_svd)


class RivaGan(WatermarkMethod):
    name = "rivaGan"
    summary = "invisible-watermark RivaGAN (ONNX; 32 bits: carries a 24-bit id prefix; ~1 s/image)"
    codec = SHORT_CODEC
    extra_name = "rivagan"
    scan_by_default = False

    #: What ``imwatermark.rivaGan`` imports (module: distribution): invisible-watermark itself,
    #: torch (it builds tensors) and onnxruntime (it runs the networks).
    requires = {"imwatermark": "invisible-watermark", "torch": "torch", "onnxruntime": "onnxruntime"}

    def missing(self) -> list[str]:
        """The distributions rivaGan needs that are not installed (looked up without importing them)."""
        return [dist for module, dist in self.requires.items() if importlib.util.find_spec(module) is None]

    def available(self) -> bool:
        return not self.missing()

    def _riva(self):
        missing = self.missing()
        if missing:
            raise MissingDependencyError(
                f"the rivaGan watermark needs {', '.join(missing)}, not installed: pip install "
                "'provenance-tool[rivagan]' (install the CPU or CUDA torch build you want first)"
            )
        with _lock:
            from imwatermark.rivaGan import RivaWatermark

            try:
                RivaWatermark.loadModel()
            except Exception as e:  # onnxruntime raises its own exception types
                raise ProvenanceError(f"rivaGan: cannot load its ONNX models ({e})") from e
        return RivaWatermark

    def _embed(self, image, bits):
        riva = self._riva()(watermarks=[int(b) for b in bits], wmLen=32)
        return _to_rgb(riva.encode(_to_bgr(image)))

    def _extract(self, image):
        riva = self._riva()(watermarks=[], wmLen=32)
        return np.asarray(riva.decode(_to_bgr(image)), dtype=np.uint8)
