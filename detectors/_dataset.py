"""Labelled image sets (MANIFEST.csv), the augmentations that remove the "JPEG means real"
shortcut, and a cache of extracted features.

A manifest is a CSV with at least ``file`` and ``label`` (``real`` or anything else for a
generated image), and optionally ``family`` and ``source_repo``. ``file`` is relative to the
manifest's folder or to its parent (the shared data set writes ``real/...`` beside ``real/MANIFEST.csv``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from provenance import ImageTooSmallError, ProvenanceError
from provenance import load_image

from .features import FEATURE_VERSION, extract_features, feature_names, require_size

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

#: Conditions a test image is measured under (the evaluation table's columns).
EVAL_CONDITIONS = ("stored", "jpeg65", "resize50")
#: Versions of each training image: re-compressed as JPEG at a random quality, and resized at a
#: random scale then re-compressed. Applied to both classes alike. The image as stored is not a
#: training row: with it, a model learns the stored format's traces (the "JPEG means real"
#: shortcut) even beside augmented copies (tests/test_forensics_classifier.py shows this).
TRAIN_CONDITIONS = ("aug_jpeg", "aug_resize_jpeg")
ALL_CONDITIONS = tuple(dict.fromkeys(TRAIN_CONDITIONS + EVAL_CONDITIONS))
#: Images are centre-cropped (never resized) to at most this side before any augmentation: the
#: features look only at the central 512x512 pixels anyway, so this changes nothing but the cost.
WORK_SIDE = 1024
_RESAMPLERS = (Image.BILINEAR, Image.BICUBIC, Image.LANCZOS)


class DataError(ProvenanceError):
    """A training or evaluation data set cannot be read (missing manifest, bad rows)."""


@dataclass(frozen=True)
class Sample:
    """One labelled image of a data set."""

    path: Path
    is_ai: bool
    family: str  # "real" for camera images
    source: str  # the source repository, the unit of grouped cross-validation

    def to_dict(self) -> dict:
        return {"path": str(self.path), "is_ai": self.is_ai, "family": self.family, "source": self.source}


def _manifests_in(target: Path) -> list[Path]:
    if target.is_file():
        return [target]
    if (target / "MANIFEST.csv").is_file():
        return [target / "MANIFEST.csv"]
    found = sorted(target.glob("*/MANIFEST.csv"))
    if not found:
        raise DataError(f"{target}: no MANIFEST.csv in it or in its sub-folders")
    return found


def read_manifests(paths: Iterable[str | os.PathLike[str]]) -> list[Sample]:
    """The samples named by manifests (files) or folders holding ``MANIFEST.csv`` (or ``*/MANIFEST.csv``)."""
    samples: list[Sample] = []
    for target in map(Path, paths):
        if not target.exists():
            raise DataError(f"{target}: no such file or folder")
        for manifest in _manifests_in(target):
            try:
                with manifest.open(newline="", encoding="utf-8") as fh:
                    rows = list(csv.DictReader(fh))
            except (OSError, UnicodeDecodeError, csv.Error) as e:
                raise DataError(f"{manifest}: cannot read ({e})") from e
            for i, row in enumerate(rows, start=2):
                if not row.get("file") or not row.get("label"):
                    raise DataError(f"{manifest}:{i}: needs 'file' and 'label' columns")
                rel = Path(row["file"])
                path = next((p for p in (manifest.parent / rel, manifest.parent.parent / rel) if p.is_file()), None)
                if path is None:
                    raise DataError(f"{manifest}:{i}: {rel} not found next to the manifest")
                is_ai = row["label"].strip().lower() != "real"
                family = (row.get("family") or "").strip() or ("unknown" if is_ai else "real")
                source = (row.get("source_repo") or "").strip() or manifest.parent.name
                samples.append(Sample(path, is_ai, family if is_ai else "real", source))
    if not samples:
        raise DataError("the data set is empty")
    return samples


def cap_per_source(samples: Sequence[Sample], n: int | None) -> list[Sample]:
    """At most ``n`` samples of each source repository, a fixed pseudo-random choice (by a hash of
    the file name), keeping the order. A few big sources otherwise dominate the set and the cost."""
    if not n:
        return list(samples)
    by_source: dict[str, list[Sample]] = {}
    for s in samples:
        by_source.setdefault(s.source, []).append(s)
    keep = set()
    for group in by_source.values():
        group = sorted(group, key=lambda s: hashlib.sha256(s.path.name.encode()).hexdigest())
        keep.update(id(s) for s in group[:n])
    return [s for s in samples if id(s) in keep]


# --- augmentation -------------------------------------------------------------------------------

def centre_crop(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """Crop to at most ``side`` x ``side`` around the centre, at offsets that keep the 8x8 grid."""
    h, w = rgb.shape[:2]
    ch, cw = min(h, side), min(w, side)
    y0, x0 = (h - ch) // 2 // 8 * 8, (w - cw) // 2 // 8 * 8
    return rgb[y0:y0 + ch, x0:x0 + cw]


def jpeg_recompress(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG (4:2:0, Pillow/libjpeg) at ``quality`` and decode again."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def resize(rgb: np.ndarray, scale: float, resample: int = Image.BICUBIC) -> np.ndarray:
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, resample))


def apply_condition(rgb: np.ndarray, condition: str, rng: np.random.Generator) -> np.ndarray:
    """The image under one named condition; random ones draw from ``rng``."""
    if condition == "stored":
        return rgb
    if condition == "jpeg65":
        return jpeg_recompress(rgb, 65)
    if condition == "resize50":
        return resize(rgb, 0.5)
    if condition == "aug_jpeg":
        return jpeg_recompress(rgb, int(rng.integers(50, 101)))
    if condition == "aug_resize_jpeg":
        out = resize(rgb, float(rng.uniform(0.5, 1.0)), _RESAMPLERS[int(rng.integers(len(_RESAMPLERS)))])
        return jpeg_recompress(out, int(rng.integers(50, 101)))
    raise ValueError(f"unknown condition {condition!r}")


# --- features with a cache ------------------------------------------------------------------------

def _version_tag() -> str:
    return hashlib.sha256((FEATURE_VERSION + "|" + ",".join(feature_names())).encode()).hexdigest()[:12]


def condition_rng(digest: bytes, condition: str, seed: int = 0) -> np.random.Generator:
    """The random draws of one image under one condition: seeded by the image's sha256 and ``seed``."""
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little"), zlib.crc32(condition.encode())])


def sample_features(path: Path, conditions: Sequence[str], *, seed: int = 0) -> dict[str, np.ndarray]:
    """Features of one image under each condition. Random conditions are seeded by the image's
    bytes and ``seed``, so a run is reproducible and its cache entries stay valid."""
    loaded = load_image(path)
    digest = hashlib.sha256(loaded.data).digest()
    rgb = centre_crop(loaded.rgb)
    require_size(rgb)  # an image too small as it is fails as a whole
    out = {}
    for cond in conditions:
        rng = condition_rng(digest, cond, seed)
        try:
            out[cond] = extract_features(apply_condition(rgb, cond, rng)).astype(np.float32)
        except ImageTooSmallError:  # e.g. its 50% resize: that condition skips the image, the others keep it
            out[cond] = np.full(len(feature_names()), np.nan, np.float32)
    return out


def _cached_features(args) -> tuple[dict[str, np.ndarray] | None, str | None]:
    path, conditions, seed, cache_dir = args
    try:
        cache = None
        if cache_dir:
            key = hashlib.sha256(f"{Path(path).resolve()}|{os.path.getsize(path)}|{os.path.getmtime(path)}|{seed}".encode()).hexdigest()[:24]
            cache = Path(cache_dir) / f"{_version_tag()}-{key}.npz"
        have: dict[str, np.ndarray] = {}
        if cache is not None and cache.exists():
            with np.load(cache) as z:
                have = {k: z[k] for k in z.files}
        missing = [c for c in conditions if c not in have]
        if missing:
            have.update(sample_features(Path(path), missing, seed=seed))
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, **have)
                os.replace(tmp, cache)
        return {c: have[c] for c in conditions}, None
    except ProvenanceError as e:
        return None, str(e)


def feature_table(samples: Sequence[Sample], conditions: Sequence[str], *, seed: int = 0, workers: int = 1,
                  cache_dir: str | os.PathLike[str] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Feature matrices, one per condition (rows follow ``samples``), and the errors of unreadable
    images (their rows are NaN)."""
    jobs = [(str(s.path), tuple(conditions), seed, str(cache_dir) if cache_dir else None) for s in samples]
    width = len(feature_names())
    tables = {c: np.full((len(samples), width), np.nan, dtype=np.float32) for c in conditions}
    errors = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_cached_features, jobs, chunksize=4))
    else:
        results = [_cached_features(j) for j in jobs]
    for i, (feats, err) in enumerate(results):
        if feats is None:
            errors.append(err)
            log.warning("%s", err)
            continue
        for c in conditions:
            tables[c][i] = feats[c]
    return tables, errors
