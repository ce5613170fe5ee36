"""Folders for the audit tests: each file has one role (signed, tampered, plain, corrupt, bomb, hostile, ...)."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path

from PIL import Image, PngImagePlugin

from support import natural_image

HOSTILE_NAME = "<img src=x onerror=document.title='pwned'>.png"
HOSTILE_PROMPT = "</script><script>document.title='pwned'</script><b>bold</b>"
#: Fast verify options for tests: the default watermark scan (cheap: provenanceWM without its geometric
#: search, dwtDctSvd, dwtDct), no registry, no classifier (it costs ~0.3-1 s a file).
FAST = ["--no-registry", "--no-forensics"]


def save_png(path: Path, seed: int, size: int = 256, text: dict[str, str] | None = None) -> Path:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.fromarray(natural_image(size, size, seed=seed)).save(path, pnginfo=info)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def header_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A tiny PNG whose header claims far more pixels than the decoder's limit."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1))  # one row; the header check must refuse before decoding
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
    return path


def memory_bomb(path: Path, side: int = 12000) -> Path:
    """A small greyscale PNG of zeros that decodes to side² bytes (then 3x that as RGB)."""
    comp = zlib.compressobj(1)
    row = b"\x00" * (side + 1)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b""))
    return path


def a1111_parameters(prompt: str) -> str:
    return (f"{prompt}\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, "
            "Size: 256x256, Model hash: abc123, Model: dreamshaper_8")


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (links not followed), by relative path; links by their target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
