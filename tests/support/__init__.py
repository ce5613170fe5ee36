"""What the tests share besides fixtures: where things are, natural-looking test images, the CLI
run in-process, and (in the modules beside this one) audit data sets, tiny diffusers pipelines,
a headless Chromium driver and read-back helpers."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def natural_image(width: int = 512, height: int = 512, seed: int = 0) -> np.ndarray:
    """A deterministic RGB image with smooth regions, edges and grain, like a photo (not noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([
        0.5 + 0.3 * np.sin(xx / width * 3.1 + seed),
        0.45 + 0.25 * np.cos(yy / height * 2.3),
        0.4 + 0.2 * np.sin((xx + yy) / (width + height) * 4.0),
    ], axis=2)
    coarse = rng.standard_normal((height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
    blobs = np.asarray(Image.fromarray(((coarse - coarse.min()) / np.ptp(coarse) * 255).astype(np.uint8))
                       .resize((width, height), Image.BICUBIC), dtype=np.float64) / 255.0
    img = 0.6 * base + 0.4 * blobs
    for _ in range(6):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 80)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[mask] = img[mask] * 0.5 + rng.uniform(0, 1, 3) * 0.5
    img += rng.normal(0, 0.01, img.shape)
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))
    return np.asarray(pil)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr). argparse's exits count as exit codes."""
    import cli

    try:
        code = cli.main(list(args))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def flip_scan_bit(jpeg: bytes, *, offset: int = 300, bit: int = 0x04) -> bytes:
    """A copy of ``jpeg`` with one bit of its entropy-coded scan flipped, ``offset`` bytes from the
    end or the first later position where the result still decodes: the pixels change after
    signing, but the file stays a readable JPEG. (A fixed position breaks the Huffman stream of
    about one stamped file in sixty: stamps carry a random content id, so the scan differs.)"""
    for off in range(offset, len(jpeg) // 2):
        data = bytearray(jpeg)
        data[-off] ^= bit
        try:
            with Image.open(io.BytesIO(bytes(data))) as im:
                im.load()
        except OSError:
            continue
        return bytes(data)
    raise AssertionError("no decodable one-bit change found")


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))
