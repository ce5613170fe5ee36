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
# The block-level steps of our invisible-watermark port, shared so the three schemes decode
# from one transform per colour domain (see block_scores).
from provenance.watermark import DEFAULT_DWT_DCT_SCALES, dwt_dct_block_scores


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


#: The colour domains every scheme is read in (see ``_readings``), in tie-breaking order.
DOMAINS = ("uint8", "uint8-rgb", "float")
#: The dwtDct decoding of all three releases: U channel alone, scale 36, 4x4 blocks.
_SCALE = DEFAULT_DWT_DCT_SCALES[1]
_BLOCK = 4
#: Image rows converted at a time: colour conversion and Haar are local, so strips give the same
#: values, and strip-sized temporaries avoid the page faults of full-size float copies.
_STRIP_ROWS = 128


def block_scores(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Per colour domain, the 0/1 score of every 4x4 block in invisible-watermark's block order.

    This is everything ``decode_dwt_dct`` computes before it averages the scores per bit, and it does
    not depend on the message: the three schemes differ only in how blocks map to bits
    (``n % n_bits``). So the image is converted and transformed once per domain, not once per
    scheme and domain (nine times). Same arithmetic on the same values: the bits are identical
    (``tests/test_sd_watermarks.py`` compares with ``decode_dwt_dct``).
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    rows, cols = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    parts: dict[str, list[np.ndarray]] = {d: [] for d in DOMAINS}
    step = max(1, _STRIP_ROWS // (2 * _BLOCK)) * 2 * _BLOCK  # whole rows of blocks
    for top in range(0, rows, step):
        strip = rgb[top:min(top + step, rows)]
        converted = {
            # BGR uint8 as cv2.imread reads it; RGB2YUV is BGR2YUV of the channel-swapped array
            "uint8": cv2.cvtColor(strip, cv2.COLOR_RGB2YUV),
            "uint8-rgb": cv2.cvtColor(strip, cv2.COLOR_BGR2YUV),
            "float": cv2.cvtColor(strip.astype(np.float32), cv2.COLOR_BGR2YUV),
        }
        for domain, yuv in converted.items():
            parts[domain].append(dwt_dct_block_scores(yuv[:, :cols, 1], _SCALE, _BLOCK))
    return {d: np.concatenate(p) if p else np.zeros(0) for d, p in parts.items()}


def _decoded_bits(scores: np.ndarray, n_bits: int) -> np.ndarray:
    """``decode_dwt_dct(...)[0]`` from the block scores: the mean score per bit, read as iw does."""
    which = np.arange(scores.size) % n_bits
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.bincount(which, weights=scores, minlength=n_bits) / np.bincount(which, minlength=n_bits)
    return (avg * 255 > 127).astype(np.uint8)


def _readings_from_scores(scores: dict[str, np.ndarray], mark: PublicMark) -> dict[tuple[str, str], float]:
    expected = np.asarray(mark.bits, dtype=np.uint8)
    out: dict[tuple[str, str], float] = {}
    for domain in DOMAINS:
        same = float(np.mean(_decoded_bits(scores[domain], mark.n_bits) == expected))
        out[(domain, "normal")], out[(domain, "inverse")] = same, 1.0 - same
    return out


def _readings(rgb: np.ndarray, mark: PublicMark) -> dict[tuple[str, str], float]:
    """Agreement with the message for each (colour domain, polarity) reading.

    Domains: ``uint8`` (BGR uint8, how the reference scripts embed and how cv2.imread reads),
    ``uint8-rgb`` (RGB uint8 handed over as BGR, how diffusers' code and PIL-based checkers do it),
    ``float`` (RGB float handed over as BGR: exactly how diffusers' SDXL watermarker embeds).
    """
    return _readings_from_scores(block_scores(rgb), mark)


def _best(readings: dict[tuple[str, str], float]) -> tuple[float, str, str]:
    (domain, polarity), value = max(readings.items(), key=lambda kv: kv[1])
    return value, domain, polarity


def best_reading(rgb: np.ndarray, mark: PublicMark) -> tuple[float, str, str]:
    """The highest agreement over the four readings, with its colour domain and polarity."""
    return _best(_readings(rgb, mark))


def detect_public_marks(rgb: np.ndarray) -> list[WatermarkResult]:
    """Look for the SD 1.x, SD 2 and SDXL public watermarks. Images under 256x256 carry none."""
    h, w = rgb.shape[:2]
    scores = block_scores(rgb) if h * w >= 256 * 256 else None
    results = []
    for mark in PUBLIC_MARKS:
        if h * w < 256 * 256:
            results.append(WatermarkResult(mark.scheme, False, extra={"reason": "image smaller than 256x256"}))
            continue
        best, domain, polarity = _best(_readings_from_scores(scores, mark))
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
