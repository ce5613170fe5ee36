"""provenanceWM's localisation map: does it flag edited regions, and only those?

    .venv/bin/python bench/watermark_map.py [--data ../shared/data] [--images 40]

Each image (the same set as bench/watermark.py: half camera photos, half generated images,
centre crops of at most 512 px) is stamped with a fresh random id, then edited over a known square
holding a quarter of its area (a third of the way in from the top-left): a foreign patch pasted
there (the next image of the set, unmarked), the same then re-encoded as JPEG q90, or the region
blurred (Gaussian, sigma 6 px, as an inpainting leaves it). The untouched stamped image and its
JPEG q90 copy are mapped too. Counted over all images, in map blocks: blocks lying wholly inside
the edited square that are flagged "missing" (and of those, the interior ones, at least one block
from its edge), and blocks at least one block away from the square that are flagged (false
alarms), and blocks the map calls "uncertain" (too busy to tell: never flagged). Images whose mark
is not detected at all have no map and are counted apart.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from provenance._payload import new_content_id  # noqa: E402
from provenance.watermark import get_method, localize_watermark  # noqa: E402
from watermark import _jpeg, load_images  # noqa: E402


def _region(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    rh, rw = h // 2, w // 2
    return (h - rh) // 3, (w - rw) // 3, rh, rw


def _block_masks(wmap, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks wholly inside the edit, its interior (eroded by one block), and blocks at least one
    block away from it."""
    y0, x0, rh, rw = _region(shape)
    b = wmap.block
    rows, cols = wmap.scores.shape
    top, left = np.arange(rows)[:, None] * b, np.arange(cols)[None, :] * b
    inside = (top >= y0) & (top + b <= y0 + rh) & (left >= x0) & (left + b <= x0 + rw)
    away = (top + b <= y0 - b) | (top >= y0 + rh + b) | (left + b <= x0 - b) | (left >= x0 + rw + b)
    interior = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return inside, interior, away


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--images", type=int, default=40)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    images, source = load_images(args.data, args.images)
    method = get_method("provenanceWM")
    cases = ["untouched", "JPEG q90", "foreign patch", "foreign patch + JPEG q90", "blurred region (σ 6)"]
    counts = {c: dict(inside=0, inside_n=0, interior=0, interior_n=0, away=0, away_n=0, blocks=0, blocks_n=0,
                      unsure=0, unsure_in=0, undetected=0, shares=[]) for c in cases}
    t0 = time.perf_counter()
    for i, rgb in enumerate(images):
        marked = method.embed(rgb, new_content_id())
        y0, x0, rh, rw = _region(marked.shape)
        pasted = marked.copy()
        pasted[y0:y0 + rh, x0:x0 + rw] = cv2.resize(images[(i + 1) % len(images)], (rw, rh), interpolation=cv2.INTER_AREA)
        blurred = marked.copy()
        blurred[y0:y0 + rh, x0:x0 + rw] = cv2.GaussianBlur(marked[y0:y0 + rh, x0:x0 + rw], (0, 0), 6.0)
        edits = [marked, _jpeg(90)(marked), pasted, _jpeg(90)(pasted), blurred]
        for case, img in zip(cases, edits):
            c = counts[case]
            wmap = localize_watermark(img)
            if not wmap.detected:
                c["undetected"] += 1
                continue
            miss = wmap.missing
            c["shares"].append(wmap.missing_share)
            c["blocks"] += int(miss.sum())
            c["blocks_n"] += miss.size
            inside, interior, away = _block_masks(wmap, img.shape)
            c["unsure"] += int(wmap.uncertain.sum())
            c["unsure_in"] += int(wmap.uncertain[inside].sum())
            for key, mask in (("inside", inside), ("interior", interior), ("away", away)):
                c[key] += int(miss[mask].sum())
                c[f"{key}_n"] += int(mask.sum())
    print(f"images: {source}; {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    def pct(a: int, n: int) -> str:
        return f"{a}/{n} ({100 * a / n:.1f}%)" if n else "–"

    print(f"provenanceWM localisation map, {len(images)} images ({source}); blocks flagged \"missing\".\n")
    print("| image | all blocks | inside the edit | its interior | ≥ 1 block away from it | share missing, median (max) "
          "| uncertain: all (inside the edit) | mark not found |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case, c in counts.items():
        edited = case not in ("untouched", "JPEG q90")
        shares = c["shares"]
        share = f"{np.median(shares):.3f} ({max(shares):.3f})" if shares else "–"
        print(f"| {case} | {pct(c['blocks'], c['blocks_n'])} | "
              + (f"{pct(c['inside'], c['inside_n'])} | {pct(c['interior'], c['interior_n'])} | "
                 f"{pct(c['away'], c['away_n'])}" if edited else "– | – | –")
              + f" | {share} | {c['unsure']}" + (f" ({c['unsure_in']})" if edited else "") + f" | {c['undetected']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
