"""invisible-watermark's three methods (dwtDct, dwtDctSvd, rivaGan) behind our interface.

The package's ``__init__`` imports its rivaGan module, which imports torch (about 2 s). The two
transform-domain methods need only numpy, OpenCV and PyWavelets, so we load their modules from
the installed package directly and leave torch to rivaGan.
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

_lock = threading.Lock()


def _iw_module(name: str) -> ModuleType:
    """Import ``imwatermark.<name>`` without running the package's torch-importing ``__init__``."""
    full = f"imwatermark.{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("invisible-watermark is not installed: pip install invisible-watermark")
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


class DwtDct(WatermarkMethod):
    name = "dwtDct"
    summary = "invisible-watermark DWT+DCT (fast; does not survive JPEG)"
    codec = FULL_CODEC

    def _embedder(self, bits):
        return _iw_module("maxDct").EmbedMaxDct(watermarks=list(bits), wmLen=self.codec.bits)

    def _embed(self, image, bits):
        return _to_rgb(self._embedder(bits).encode(_to_bgr(image)))

    def _extract(self, image):
        return np.asarray(self._embedder([]).decode(_to_bgr(image)), dtype=np.uint8)


class DwtDctSvd(WatermarkMethod):
    name = "dwtDctSvd"
    summary = "invisible-watermark DWT+DCT+SVD (survives JPEG q75; not crops or resizes)"
    codec = FULL_CODEC

    def _embedder(self, bits):
        return _iw_module("dwtDctSvd").EmbedDwtDctSvd(watermarks=list(bits), wmLen=self.codec.bits)

    def _embed(self, image, bits):
        return _to_rgb(self._embedder(bits).encode(_to_bgr(image)))

    def _extract(self, image):
        return np.asarray(self._embedder([]).decode(_to_bgr(image)), dtype=np.uint8)


class RivaGan(WatermarkMethod):
    name = "rivaGan"
    summary = "invisible-watermark RivaGAN (ONNX; 32 bits: carries a 24-bit id prefix; ~1 s/image)"
    codec = SHORT_CODEC
    extra_name = "rivagan"

    def available(self) -> bool:
        return importlib.util.find_spec("onnxruntime") is not None

    def _riva(self):
        if not self.available():
            raise MissingDependencyError(
                "the rivaGan watermark needs onnxruntime: pip install 'provenance-tool[rivagan]'"
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
