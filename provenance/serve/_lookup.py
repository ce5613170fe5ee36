"""Finding manifests from soft bindings: by a binding value (``byBinding``) and from an image's
pixels (``byContent``: our full watermark detector, then fingerprint neighbours).

Watermark values match exactly or by prefix (provenanceWM carries a 48-bit prefix of the id);
fingerprints match every stored value within the algorithm's threshold, scored ``1 - d / bits``.
The fingerprint values are read into memory per algorithm (a numpy array: a query is one XOR
and popcount over all of them) and read again when this process changed them or ``REFRESH_S``
has passed (another process stamping into the same registry).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from .._registry import Registry
from .._softbinding import ISCC_ALG, PDQ_ALG, SoftBindingAlgorithm, algorithms, iscc_image_code, watermark_alg

REFRESH_S = 2.0


@dataclass(frozen=True)
class Match:
    manifest_id: str
    score: float
    alg: str
    distance: int | None = None

    def to_api(self) -> dict:
        return {"manifestId": self.manifest_id, "similarityScore": self.score}


def _as_words(alg: SoftBindingAlgorithm, key: str) -> np.ndarray:
    """A fingerprint key as big-endian 64-bit words (PDQ: 4, ISCC: 1)."""
    raw = alg.from_key(key) if alg.alg != ISCC_ALG else _iscc_bytes(key)
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


def _iscc_bytes(key: str) -> bytes:
    from .._softbinding import _iscc_body

    return _iscc_body(key)


class FingerprintIndex:
    """Every stored value of one fingerprint algorithm, for neighbour queries."""

    def __init__(self, alg: SoftBindingAlgorithm) -> None:
        self.alg = alg
        self._lock = threading.Lock()
        self._loaded_at = -1e9
        self._words = np.zeros((0, 1), dtype=np.uint64)
        self._ids: list[str] = []

    def invalidate(self) -> None:
        self._loaded_at = -1e9

    def _refresh(self, registry: Registry) -> None:
        with self._lock:
            if time.monotonic() - self._loaded_at < REFRESH_S:
                return
            rows = registry.bindings_of(self.alg.alg)
            words, ids = [], []
            for key, manifest_id in rows:
                try:
                    words.append(_as_words(self.alg, key))
                except Exception:  # a malformed stored value cannot match anything
                    continue
                ids.append(manifest_id)
            width = len(words[0]) if words else 1
            self._words = np.vstack(words) if words else np.zeros((0, width), dtype=np.uint64)
            self._ids = ids
            self._loaded_at = time.monotonic()

    def near(self, registry: Registry, keys: list[str], *, limit: int) -> list[Match]:
        """Stored values within the threshold of any of ``keys`` (PDQ: the query's 8 dihedral
        hashes), best first, one match per manifest."""
        self._refresh(registry)
        words, ids = self._words, self._ids
        if not len(ids) or not keys:
            return []
        best = np.full(len(ids), 1 << 30, dtype=np.int64)
        for key in keys:
            q = _as_words(self.alg, key)
            d = np.bitwise_count(np.bitwise_xor(words, q)).sum(axis=1).astype(np.int64)
            best = np.minimum(best, d)
        hit = np.flatnonzero(best <= self.alg.max_distance)
        found: dict[str, int] = {}
        for i in hit[np.argsort(best[hit], kind="stable")]:
            found.setdefault(ids[i], int(best[i]))
        out = [Match(m, self.alg.similarity(d), self.alg.alg, d) for m, d in found.items()]
        return out[:limit]


class Lookup:
    """The query side of the service over one registry (one per process; thread-safe)."""

    def __init__(self) -> None:
        self.table = algorithms()
        self._indexes = {a.alg: FingerprintIndex(a) for a in self.table.values() if a.kind == "fingerprint"}

    def invalidate(self) -> None:
        for index in self._indexes.values():
            index.invalidate()

    def by_key(self, registry: Registry, alg: SoftBindingAlgorithm, key: str, *, limit: int) -> list[Match]:
        if alg.kind == "watermark":
            return [Match(m, 1.0, alg.alg) for _k, m in registry.find_bindings(alg.alg, key, prefix=True, limit=limit)]
        return self._indexes[alg.alg].near(registry, [key], limit=limit)

    def by_content(self, registry: Registry, rgb: np.ndarray, *, alg: str | None, limit: int) -> list[Match]:
        """Our watermarks first (the full detector: scaled, rotated, cropped and flipped copies
        too), then the fingerprints' neighbours; every manifest once, at its best score."""
        from .._fingerprint import pdq_hashes
        from ..evidence import STRONG_WATERMARK_FPR
        from ..watermark import detect_watermarks

        matches: list[Match] = []
        wanted = (lambda a: a == alg) if alg else (lambda a: True)
        marks = [w for w in detect_watermarks(rgb) if w.detected and w.payload
                 and (w.false_positive_rate or 1.0) <= STRONG_WATERMARK_FPR]
        for w in marks:
            a = self.table.get(watermark_alg(w.scheme))
            if a is not None and wanted(a.alg):
                matches += self.by_key(registry, a, w.payload, limit=limit)
        if PDQ_ALG in self._indexes and wanted(PDQ_ALG):
            look = pdq_hashes(rgb)
            if look.usable:
                matches += self._indexes[PDQ_ALG].near(registry, list(look.hashes), limit=limit)
        if ISCC_ALG in self._indexes and wanted(ISCC_ALG):
            code = iscc_image_code(rgb)
            if code:
                matches += self._indexes[ISCC_ALG].near(registry, [code], limit=limit)
        return best_first(matches, limit)


def best_first(matches: list[Match], limit: int) -> list[Match]:
    """One match per manifest (its best score), best first."""
    best: dict[str, Match] = {}
    for m in matches:
        if m.manifest_id not in best or m.score > best[m.manifest_id].score:
            best[m.manifest_id] = m
    return sorted(best.values(), key=lambda m: -m.score)[:limit]
