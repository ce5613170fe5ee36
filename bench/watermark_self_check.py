"""How often provenanceWM misses its own mark right after a lossless embed, on small images.

Shared generated images (every ``--every``-th row of ``generated/MANIFEST.csv``), centre-cropped
square and resized to ``--size``, each marked with a fresh content id and scanned at once with the
fast scan. Reports the misses with ``embed`` (which checks its own work and strengthens the mark)
and with the 40 dB pattern alone, and the PSNR of what ``embed`` returned.

    .venv/bin/python bench/watermark_self_check.py --size 256
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance import new_content_id  # noqa: E402
from provenance.watermark import get_method  # noqa: E402
from provenance.watermark._wm_embed import embed_pattern  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--every", type=int, default=5)
    args = ap.parse_args()
    method = get_method("provenanceWM")
    rows = list(csv.DictReader(open(Path(args.data) / "generated" / "MANIFEST.csv")))[:: args.every]
    n = missed = missed_plain = 0
    psnrs = []
    for r in rows:
        with Image.open(Path(args.data) / r["file"]) as im:
            im = im.convert("RGB")
            s = min(im.size)
            box = ((im.width - s) // 2, (im.height - s) // 2, (im.width + s) // 2, (im.height + s) // 2)
            rgb = np.asarray(im.crop(box).resize((args.size, args.size), Image.LANCZOS))
        cid = new_content_id()
        want = cid[: method.codec.id_hex_len]
        marked = method.embed(rgb, cid)
        d = marked.astype(np.float64) - rgb
        psnrs.append(10 * np.log10(255**2 / max(float(np.mean(d * d)), 1e-9)))
        found = method.scan(marked)
        plain = method.scan(embed_pattern(rgb, method.codec.encode(cid)))
        n += 1
        missed += not (found.detected and found.payload == want)
        missed_plain += not (plain.detected and plain.payload == want)
    print(f"{args.size}²: {n} images; missed right after embedding: {missed} with embed's self-check, "
          f"{missed_plain} with the 40 dB pattern alone; PSNR min {min(psnrs):.1f}, median {np.median(psnrs):.1f} dB")


if __name__ == "__main__":
    main()
