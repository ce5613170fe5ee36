"""Detectors for the public invisible watermarks that Stable Diffusion releases embed.

All three are invisible-watermark's ``dwtDct`` with a fixed, public message:

========  =========================================  ======  ==============================
scheme    message                                    bits    embedded by
========  =========================================  ======  ==============================
sd1       bytes ``b"StableDiffusionV1"``             136     CompVis ``scripts/txt2img.py``
sd2       bytes ``b"SDV2"``                          32      Stability ``stablediffusion``
sdxl      ``0b1011001111101100...10011110``          48      diffusers ``StableDiffusionXLWatermarker``
========  =========================================  ======  ==============================

A message is fixed, so detection is "how many decoded bits agree with it". diffusers' SDXL
watermarker hands float RGB data (in RGB order, where invisible-watermark expects BGR) to OpenCV's
colour conversion, whose U/V offset for float input is 0.5 instead of 128. Read back the usual way
(uint8 BGR), its mark comes out as the bitwise *inverse* of the message on warm-coloured images and
as noise on mixed ones. So every scheme is read in three colour domains (see ``_readings``),
each in both polarities, and the result says which reading matched.

Thresholds: ``MIN_AGREEMENT`` was chosen on the 655 unmarked camera photos of the shared data
set with a margin above the highest agreement any of them reached
(``bench/calibrate_sd_watermarks.py``; figures in docs/BENCHMARKS.md). The reported
``false_positive_rate`` is the binomial tail of the threshold for random bits, doubled for the two
polarities; it is a floor, since the decoders are biased, and the measured rate is in the docs.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import comb

import cv2
import numpy as np

from provenance.watermark import WatermarkResult
from provenance.watermark._fast_iw import decode_dwt_dct


@dataclass(frozen=True)
class PublicMark:
    scheme: str
    bits: tuple[int, ...]
    description: str

    @property
    def n_bits(self) -> int:
        return len(self.bits)


def _bytes_bits(message: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(message, dtype=np.uint8)))


SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110

PUBLIC_MARKS: tuple[PublicMark, ...] = (
    PublicMark("sd1", _bytes_bits(b"StableDiffusionV1"), "Stable Diffusion 1.x reference scripts (\"StableDiffusionV1\")"),
    PublicMark("sd2", _bytes_bits(b"SDV2"), "Stable Diffusion 2.x reference scripts (\"SDV2\")"),
    PublicMark("sdxl", tuple(int(b) for b in bin(SDXL_MESSAGE)[2:]), "SDXL (Stability / diffusers watermarker)"),
)

#: Smallest fraction of agreeing bits that counts as a detection, per scheme (see module docstring).
#: On 655 unmarked camera photos the best of the six readings never exceeded 0.647 (sd1), 0.750
#: (sd2) and 0.729 (sdxl); camera photos marked as the releases do reach these thresholds in 60%
#: (sd1), 57% (sd2) and 78% (sdxl) of cases untouched (dwtDct misses its own mark on the rest).
MIN_AGREEMENT: dict[str, float] = {"sd1": 0.85, "sd2": 0.90, "sdxl": 0.85}


@lru_cache(maxsize=None)
def false_positive_floor(n_bits: int, min_agree: float) -> float:
    """P(at least ``min_agree`` of n random bits agree with a fixed message in any of the 6 readings)."""
    k = int(np.ceil(min_agree * n_bits - 1e-9))
    tail = sum(comb(n_bits, i) for i in range(k, n_bits + 1)) / 2.0**n_bits
    return min(1.0, 6.0 * tail)


def _readings(rgb: np.ndarray, mark: PublicMark) -> dict[tuple[str, str], float]:
    """Agreement with the message for each (colour domain, polarity) reading.

    Domains: ``uint8`` (BGR uint8, how the reference scripts embed and how cv2.imread reads),
    ``uint8-rgb`` (RGB uint8 handed over as BGR, how diffusers' code and PIL-based checkers do it),
    ``float`` (RGB float handed over as BGR: exactly how diffusers' SDXL watermarker embeds).
    """
    expected = np.asarray(mark.bits, dtype=np.uint8)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    arrays = {
        "uint8": cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
        "uint8-rgb": rgb,
        "float": rgb.astype(np.float32),
    }
    out: dict[tuple[str, str], float] = {}
    for domain, array in arrays.items():
        same = float(np.mean(decode_dwt_dct(array, mark.n_bits)[0] == expected))
        out[(domain, "normal")], out[(domain, "inverse")] = same, 1.0 - same
    return out


def best_reading(rgb: np.ndarray, mark: PublicMark) -> tuple[float, str, str]:
    """The highest agreement over the four readings, with its colour domain and polarity."""
    (domain, polarity), value = max(_readings(rgb, mark).items(), key=lambda kv: kv[1])
    return value, domain, polarity


def detect_public_marks(rgb: np.ndarray) -> list[WatermarkResult]:
    """Look for the SD 1.x, SD 2 and SDXL public watermarks. Images under 256x256 carry none."""
    h, w = rgb.shape[:2]
    results = []
    for mark in PUBLIC_MARKS:
        if h * w < 256 * 256:
            results.append(WatermarkResult(mark.scheme, False, extra={"reason": "image smaller than 256x256"}))
            continue
        best, domain, polarity = best_reading(rgb, mark)
        threshold = MIN_AGREEMENT[mark.scheme]
        detected = best >= threshold - 1e-9
        results.append(WatermarkResult(
            scheme=mark.scheme,
            detected=detected,
            payload=mark.description if detected else None,
            bit_errors=round((1.0 - best) * mark.n_bits),
            false_positive_rate=false_positive_floor(mark.n_bits, threshold),
            extra={"agreement": round(best, 4), "domain": domain, "polarity": polarity, "threshold": threshold},
        ))
    return results
