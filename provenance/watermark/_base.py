"""The interface every watermark method implements, and the result every detector returns."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .._errors import ImageTooSmallError
from .._payload import DecodedPayload, PayloadCodec
from ..evidence import WatermarkResult


class WatermarkMethod(ABC):
    """A watermark scheme: embed a content id into RGB pixels, detect it again.

    Images are ``H x W x 3`` uint8 RGB arrays. Implementations are stateless apart from loaded
    models, so one instance serves every call.
    """

    #: Its key in the method table (``_table``), also the ``scheme`` of results and the CLI's ``--method`` choice.
    name: str
    #: One line for ``--help`` and the docs.
    summary: str
    #: Payload layout the method carries.
    codec: PayloadCodec
    #: Smallest image, as (width, height), that carries the payload.
    min_size: tuple[int, int] = (256, 256)
    #: Extra needed to run, for the error message when it is missing (None: always available).
    extra_name: str | None = None
    #: Whether detection runs it when no methods are named. Slow detectors (rivaGan: ~2 s per
    #: image on a CPU) run only when asked for, so verify and audit stay fast.
    scan_by_default: bool = True

    def check_size(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        min_w, min_h = self.min_size
        if w < min_w or h < min_h:
            raise ImageTooSmallError(
                f"{self.name} needs an image of at least {min_w}x{min_h} pixels; this one is {w}x{h}"
            )

    def embed(self, image: np.ndarray, content_id: str) -> np.ndarray:
        """Return a marked copy of ``image`` carrying ``content_id``."""
        self.check_size(image)
        return self._embed(np.ascontiguousarray(image, dtype=np.uint8), self.codec.encode(content_id))

    def detect(self, image: np.ndarray) -> WatermarkResult:
        """Look for this method's mark. Images too small to carry one are reported undetected."""
        h, w = image.shape[:2]
        if w < self.min_size[0] or h < self.min_size[1]:
            return WatermarkResult(self.name, False, extra={"reason": f"image smaller than {self.min_size[0]}x{self.min_size[1]}"})
        bits = self._extract(np.ascontiguousarray(image, dtype=np.uint8))
        return self._result(self.codec.decode(bits))

    def _result(self, decoded: DecodedPayload, **extra) -> WatermarkResult:
        """This method's result for a decoded word: payload, corrections, the codec's
        false-positive rate and whether the payload is only an id prefix."""
        return WatermarkResult(
            scheme=self.name,
            detected=decoded.valid,
            payload=decoded.content_id,
            bit_errors=decoded.bit_errors,
            false_positive_rate=self.codec.false_positive_rate,
            partial=self.codec.is_partial,
            raw_bits=decoded.raw_bits,
            extra=extra,
        )

    def scan(self, image: np.ndarray) -> WatermarkResult:
        """The fast check (``verify --fast``, ``detect_watermarks(fast=True)``). The same as
        ``detect`` unless a method has a costly search that a bulk check may skip."""
        return self.detect(image)

    def available(self) -> bool:
        return True

    @abstractmethod
    def _embed(self, image: np.ndarray, bits: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _extract(self, image: np.ndarray) -> np.ndarray: ...
