"""Hashes that identify model files the way Stable Diffusion tools do.

A checkpoint's sha256 is what Civitai and AUTOMATIC1111 ("new" hash, since 2023) use; A1111's
short hash is its first 10 hex digits. For a LoRA in ``.safetensors`` A1111 writes another hash: the
sha256 of the tensor data alone, after the JSON header (kohya's "addnet" hash, Civitai's AutoV3), so
that editing a LoRA's metadata keeps its hash; see :func:`a1111_lora_hash`. A diffusers folder has no
single file, so its hash is the sha256 of a listing of every weight and config file with its own
sha256 (see :func:`folder_sha256`).
Hashing a multi-gigabyte file takes seconds, so results are cached per (path, size, mtime).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20
_cache: dict[tuple[str, int, int], str] = {}

#: Files that make up a diffusers model folder (weights and the configs that shape them).
_FOLDER_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".json", ".txt", ".model")


def file_sha256(path: str | os.PathLike[str]) -> str:
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _cache:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        _cache[key] = h.hexdigest()
    return _cache[key]


def a1111_lora_hash(path: str | os.PathLike[str]) -> str:
    """The 12 hex digits A1111 writes in ``Lora hashes`` for this LoRA file.

    ``.safetensors``: sha256 of the bytes after the 8-byte header length and the JSON header it
    announces. Any other format: the file's sha256. (A1111 prefers a ``sshs_model_hash`` stored in
    the file's metadata, which kohya's trainer fills with the same value; the bytes are what we trust.)
    """
    p = Path(path)
    if p.suffix.lower() != ".safetensors":
        return file_sha256(p)[:12]
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise ValueError(f"{p}: too short for a safetensors file")
        fh.seek(8 + int.from_bytes(head, "little"))
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()[:12]


def a1111_short_hash(sha256: str) -> str:
    """AUTOMATIC1111's short model hash: the first 10 hex digits of the file's sha256."""
    return sha256[:10]


def folder_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of the lines ``<sha256>  <relative path>`` (sorted) for a model folder's files."""
    root = Path(path).resolve()
    lines = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in _FOLDER_SUFFIXES and not any(part.startswith(".") for part in p.relative_to(root).parts):
            lines.append(f"{file_sha256(p)}  {p.relative_to(root).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
