"""Reading images safely and writing outputs atomically.

Reading: the container is sniffed from the bytes (never the file name), the pixel count is checked
from the header before anything is decoded (decompression bombs), and truncated or corrupt data is
a clear :class:`ImageError`, never a half-decoded array.

Writing: bytes go to a temporary file in the destination folder, are flushed to disk, and are then
linked into place, so a crash leaves either the complete file or nothing.
"""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from ._errors import ImageError, OutputError, OutputExistsError

#: Largest image we decode, in pixels (about 16k x 16k). Pillow's own bomb check is a warning
#: at 89 MP; we make the limit explicit and an error.
MAX_PIXELS = 268_435_456

#: Container formats, by magic bytes. Order matters only for readability.
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
    ("JPEG", b"\xff\xd8\xff", 0),
    ("GIF", b"GIF87a", 0),
    ("GIF", b"GIF89a", 0),
    ("TIFF", b"II*\x00", 0),
    ("TIFF", b"MM\x00*", 0),
    ("BMP", b"BM", 0),
)

#: Formats we can write a stamped image to, with their MIME type and usual suffixes.
WRITABLE_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "PNG": ("image/png", (".png",)),
    "JPEG": ("image/jpeg", (".jpg", ".jpeg")),
    "WEBP": ("image/webp", (".webp",)),
}


#: ISO-BMFF brands (the ``ftyp`` box) of HEIF/HEIC and AVIF still images.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _sniff_isobmff(head: bytes) -> str | None:
    """HEIF or AVIF from an ``ftyp`` box: the major brand, then the compatible brands (AVIF first)."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
    if any(b in _AVIF_BRANDS for b in brands):
        return "AVIF"
    if any(b in _HEIF_BRANDS for b in brands):
        return "HEIF"
    return None


def heif_support(fmt: str) -> str | None:
    """None if ``fmt`` (HEIF or AVIF) can be decoded here, else why not (naming the extra to install)."""
    if fmt == "AVIF":
        from PIL import features

        return None if features.check("avif") else "AVIF needs Pillow built with libavif or the heif extra"
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return "HEIF/HEIC needs pillow-heif: pip install 'provenance-tool[heif]'"
    return None


def _register_heif() -> None:
    import pillow_heif

    if "HEIF" not in Image.OPEN:
        pillow_heif.register_heif_opener()


def sniff_format(head: bytes) -> str | None:
    """Return the container format named by the first bytes of a file, or None."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if (isobmff := _sniff_isobmff(head)) is not None:
        return isobmff
    for name, magic, offset in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def format_for_suffix(path: str | os.PathLike[str]) -> str | None:
    """The writable format whose usual suffix ``path`` has, or None."""
    suffix = Path(path).suffix.lower()
    for name, (_mime, suffixes) in WRITABLE_FORMATS.items():
        if suffix in suffixes:
            return name
    return None


def mime_type(fmt: str) -> str:
    return WRITABLE_FORMATS[fmt][0]


@dataclass
class LoadedImage:
    """A decoded image plus what we need to re-encode it faithfully."""

    path: Path | None
    format: str
    rgb: np.ndarray  # H x W x 3, uint8
    alpha: np.ndarray | None = None  # H x W, uint8, when the source had transparency
    icc_profile: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)  # PNG text chunks of the source
    data: bytes = b""  # the file's bytes as read
    notes: list[str] = field(default_factory=list)  # decoder warnings (damaged EXIF, ...)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError as e:
        raise ImageError(f"{p}: no such file") from e
    except IsADirectoryError as e:
        raise ImageError(f"{p}: is a directory, not an image") from e
    except OSError as e:
        raise ImageError(f"{p}: cannot read ({e.strerror or e})") from e


def decode_image(data: bytes, *, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode image bytes to RGB (and alpha), refusing corrupt, truncated and oversized input."""
    fmt = sniff_format(data[:64])
    if fmt is None:
        raise ImageError(f"{name}: not a supported image (unrecognised content; PNG, JPEG, WebP, GIF, TIFF, BMP, "
                         "HEIF, AVIF are read)")
    if fmt in ("HEIF", "AVIF"):
        if (missing := heif_support(fmt)) is not None:
            raise ImageError(f"{name}: {missing}")
        if fmt == "HEIF":
            _register_heif()
    # Pillow's default (ImageFile.LOAD_TRUNCATED_IMAGES = False) makes truncated data an error
    # instead of grey padding; we rely on it and never change it.
    try:
        # Pillow warns (rather than fails) about damaged EXIF and similar; keep those as notes on
        # the image instead of letting them escape, but make its bomb warning a hard error.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name}: {width}x{height} is {width * height:,} pixels, above the limit of "
                    f"{max_pixels:,} (possible decompression bomb)"
                )
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: refused as a possible decompression bomb ({e})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name}: corrupt or truncated {fmt} ({e})") from e

    notes = [f"{w.category.__name__}: {w.message}" for w in caught]
    try:
        text = {k: v for k, v in getattr(img, "text", {}).items() if isinstance(v, str)} if fmt == "PNG" else {}
    except (OSError, ValueError, SyntaxError) as e:  # text chunks are parsed lazily
        text, notes = {}, notes + [f"text chunks unreadable: {e}"]
    icc = img.info.get("icc_profile")
    alpha = None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba)[:, :, 3].copy()
        rgb = np.asarray(rgba.convert("RGB"))
    elif img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / float greyscale: scale to 8 bits rather than let Pillow clip.
        arr = np.asarray(img).astype(np.float64)
        hi = arr.max() or 1.0
        grey = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
    else:
        rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))  # convert() would copy RGB
    return LoadedImage(
        path=None,
        format=fmt,
        rgb=np.ascontiguousarray(rgb, dtype=np.uint8),
        alpha=alpha,
        icc_profile=icc,
        text=text,
        data=data,
        notes=notes,
    )


def load_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read and decode an image file; see :func:`decode_image`."""
    data = read_bytes(path)
    loaded = decode_image(data, name=str(path), max_pixels=max_pixels)
    loaded.path = Path(path)
    return loaded


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Fail early, before any work, if ``path`` cannot be written."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p}: already exists (pass --overwrite to replace it)")
    if p.is_dir():
        raise OutputError(f"{p}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{p}: output folder {parent} is not writable")
    return p


def _link_new(tmp: str, p: Path) -> None:
    """Move ``tmp`` to the new name ``p``, failing if ``p`` exists (also if it appeared meanwhile)."""
    try:
        os.link(tmp, p)
    except FileExistsError as e:
        raise OutputExistsError(f"{p}: already exists (pass --overwrite to replace it)") from e
    except OSError:
        # No hard links here (some network and FUSE file systems): reserve the name, then replace.
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError as e:
            raise OutputExistsError(f"{p}: already exists (pass --overwrite to replace it)") from e
        os.replace(tmp, p)
        return
    os.unlink(tmp)


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False, mode: int = 0o644,
                  encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it becomes ``path`` in one step.

    Readers see either nothing or the whole file. Without ``overwrite`` an existing file is never
    replaced, even one created by another process meanwhile (the last step is a hard link, which
    fails if the name exists). Binary unless ``encoding`` is given.
    """
    p = check_output_path(path, overwrite=overwrite)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise OutputError(f"{p}: cannot create a file in {parent} ({e.strerror or e})") from e
    try:
        with os.fdopen(fd, "w" if encoding else "wb", encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, p)
        else:
            _link_new(tmp, p)
    except OSError as e:
        raise OutputError(f"{p}: write failed ({e.strerror or e})") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically; see :func:`atomic_output`."""
    with atomic_output(path, overwrite=overwrite, mode=mode) as fh:
        fh.write(data)
    return Path(path)
