"""Choose the PDQ distance at which the registry calls an image a near-duplicate of a stamp, and
compare PDQ with pHash on the copies that matter.

    .venv/bin/python bench/calibrate_fingerprints.py [--data ../shared/data] [--copies 300]

Every shared image (``real/`` and ``generated/``) is hashed both ways (``provenance._fingerprint``:
PDQ with its 8 dihedral hashes, pHash). Each image is then looked up against all the others as a
registry would (PDQ: the smallest distance of its 8 hashes to another image's hash; pHash: the
plain distance): the nearest *other* image is what a threshold must stay below (a false match is
an unmarked image that matches a stamp of a different picture). ``--copies`` evenly spaced images
are edited (resize 0.5, centre crop keeping 80% of the area, rotation 2 degrees, horizontal and
vertical flips, JPEG q50, and the watermark bench's combined JPEG75 + resize 0.75 + crop 80%), and
each copy's distance to its own original is what a threshold must reach. Byte-identical files and
pairs the manifests give the same source, and pairs whose pixels differ by less than one grey
level on average are not counted as false matches (they are the same picture); the report names
every pair of different pictures within twice the PDQ threshold or the pHash threshold.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from provenance import ImageError, load_image  # noqa: E402
from provenance._fingerprint import pdq_hashes, perceptual_hash  # noqa: E402
from provenance._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE  # noqa: E402


def _jpeg(a: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(buf).convert("RGB"))


def _resize(a: np.ndarray, f: float) -> np.ndarray:
    return np.asarray(Image.fromarray(a).resize((round(a.shape[1] * f), round(a.shape[0] * f)), Image.BICUBIC))


def _crop(a: np.ndarray, area: float) -> np.ndarray:
    h, w = a.shape[:2]
    s = area ** 0.5
    ch, cw = round(h * s), round(w * s)
    y, x = (h - ch) // 2, (w - cw) // 2
    return a[y:y + ch, x:x + cw]


EDITS = {
    "resize 0.5": lambda a: _resize(a, 0.5),
    "crop 80% area (centre)": lambda a: _crop(a, 0.8),
    "rotation 2°": lambda a: np.asarray(Image.fromarray(a).rotate(2.0, resample=Image.BICUBIC)),
    "flip horizontal": lambda a: np.ascontiguousarray(a[:, ::-1]),
    "flip vertical": lambda a: np.ascontiguousarray(a[::-1]),
    "JPEG q50": lambda a: _jpeg(a, 50),
    "JPEG75+resize0.75+crop80%": lambda a: _crop(_resize(_jpeg(a, 75), 0.75), 0.8),
}


def _bits(hexes: list[str]) -> np.ndarray:
    """Hex hashes as a (n, bytes) uint8 matrix, for vectorised Hamming distances."""
    return np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(len(hexes), -1)


def _distances(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Hamming distance of one packed hash (bytes) to every row of ``table``."""
    return np.unpackbits(np.bitwise_xor(table, query), axis=1).sum(axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--copies", type=int, default=300, help="images whose edited copies are measured")
    args = ap.parse_args()
    t0 = time.perf_counter()
    entries = []
    for split in ("real", "generated"):
        with (args.data / split / "MANIFEST.csv").open(newline="") as fh:
            entries += list(csv.DictReader(fh))
    names, sources, digests, pdq, pdq8, quality, ph = [], [], [], [], [], [], []
    for row in entries:
        try:
            rgb = load_image(args.data / row["file"]).rgb
        except ImageError:
            continue
        p = pdq_hashes(rgb)
        names.append(row["file"])
        sources.append((row.get("source_repo"), row.get("orig_path")))
        digests.append(row.get("sha256"))
        pdq.append(p.hash)
        pdq8.append(p.hashes)
        quality.append(p.quality)
        ph.append(perceptual_hash(rgb))
    n = len(names)
    print(f"{n} images hashed in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    table_pdq, table_ph = _bits(pdq), _bits(ph)
    dist_pdq = np.array([np.min([_distances(q, table_pdq) for q in _bits(list(pdq8[i]))], axis=0) for i in range(n)])
    dist_ph = np.array([_distances(table_ph[i], table_ph) for i in range(n)])
    # The same picture twice is not a false match: the same bytes, the same source file, or (for
    # pairs close enough to matter) the same pixels within a grey level on average.
    same = np.zeros((n, n), bool)
    np.fill_diagonal(same, True)
    for i in range(n):
        for j in range(n):
            if i != j and (digests[i] == digests[j] or sources[i] == sources[j]):
                same[i, j] = True
    identical_pixels = []
    for i, j in zip(*np.nonzero((dist_pdq <= 2 * PDQ_MAX_DISTANCE) | (dist_ph <= PHASH_MAX_DISTANCE))):
        if i < j and not same[i, j]:
            a, b = load_image(args.data / names[i]).rgb, load_image(args.data / names[j]).rgb
            if a.shape == b.shape and np.abs(a.astype(np.int16) - b).mean() < 1.0:
                same[i, j] = same[j, i] = True
                identical_pixels.append((names[i], names[j], int(dist_pdq[i, j]), int(dist_ph[i, j])))
    nearest_pdq = np.where(same, 999, dist_pdq).min(axis=1)
    nearest_ph = np.where(same, 999, dist_ph).min(axis=1)
    close_pairs = [(names[i], names[j], int(dist_pdq[i, j]), int(dist_ph[i, j]))
                   for i, j in zip(*np.nonzero(~same & ((dist_pdq <= 2 * PDQ_MAX_DISTANCE) | (dist_ph <= PHASH_MAX_DISTANCE))))
                   if i < j]
    picked = list(range(0, n, max(1, n // args.copies)))[: args.copies]
    self_pdq = {k: [] for k in EDITS}
    self_ph = {k: [] for k in EDITS}
    for i in picked:
        rgb = load_image(args.data / names[i]).rgb
        for name, edit in EDITS.items():
            copy = edit(rgb)
            q = pdq_hashes(copy)
            self_pdq[name].append(min(int(_distances(b, table_pdq[i:i + 1])[0]) for b in _bits(list(q.hashes))))
            self_ph[name].append(int(_distances(_bits([perceptual_hash(copy)])[0], table_ph[i:i + 1])[0]))
    low_q = int(np.sum(np.array(quality) < 50))
    print(f"{n} shared images ({low_q} with PDQ quality < 50), {len(picked)} of them edited; "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("Distance from each edited copy to its own original (PDQ: the best of the copy's 8 dihedral "
          "hashes; 256 bits) and to the nearest *other* image:\n")
    print("| | PDQ median | PDQ p95 | PDQ max | pHash median | pHash p95 | pHash max |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name in EDITS:
        a, b = np.array(self_pdq[name]), np.array(self_ph[name])
        print(f"| {name} | {np.median(a):.0f} | {np.quantile(a, 0.95):.0f} | {a.max()} | "
              f"{np.median(b):.0f} | {np.quantile(b, 0.95):.0f} | {b.max()} |")
    print(f"| nearest other image (all {n}) | {np.median(nearest_pdq):.0f} | p5 {np.quantile(nearest_pdq, 0.05):.0f} "
          f"| min {nearest_pdq.min()} | {np.median(nearest_ph):.0f} | p5 {np.quantile(nearest_ph, 0.05):.0f} "
          f"| min {nearest_ph.min()} |\n")
    print("Recall (copies within the threshold) and false matches (images with another picture within "
          "it), at the registry's thresholds and around them:\n")
    print("| hash, threshold | " + " | ".join(EDITS) + " | false matches |")
    print("|---|" + "--:|" * (len(EDITS) + 1))
    rows = [("PDQ", t, self_pdq, nearest_pdq) for t in sorted({PDQ_MAX_DISTANCE - 8, PDQ_MAX_DISTANCE,
                                                                 PDQ_MAX_DISTANCE + 8, PDQ_MAX_DISTANCE + 16})]
    rows += [("pHash", t, self_ph, nearest_ph) for t in (PHASH_MAX_DISTANCE, PHASH_MAX_DISTANCE + 4)]
    for hname, t, selfd, nearest in rows:
        mark = " (registry)" if t in (PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE) and (hname == "PDQ") == (
            t == PDQ_MAX_DISTANCE) else ""
        cells = [f"{100 * np.mean(np.array(selfd[k]) <= t):.1f}%" for k in EDITS]
        print(f"| {hname} ≤ {t}{mark} | " + " | ".join(cells) + f" | {int(np.sum(nearest <= t))} of {n} |")
    if identical_pixels:
        print("\nSame pixels under two names (mean difference under one grey level; not counted as false "
              "matches) (PDQ, pHash distance):\n")
        for a, b, d1, d2 in identical_pixels:
            print(f"- {a} / {b}: {d1}, {d2}")
    if close_pairs:
        print(f"\nPairs of different pictures within PDQ {2 * PDQ_MAX_DISTANCE} or pHash {PHASH_MAX_DISTANCE} "
              f"({len(close_pairs)}; PDQ, pHash distance; the 15 closest by PDQ):\n")
        for a, b, d1, d2 in sorted(close_pairs, key=lambda p: p[2])[:15]:
            print(f"- {a} / {b}: {d1}, {d2}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
