"""Reading images safely and writing outputs atomically.

Reading: only regular files, at most :data:`MAX_FILE_BYTES` (a FIFO, a device or ``/dev/urandom``
is refused before a byte is read). The container is sniffed from the bytes (never the file name),
the pixel count is checked from the header before anything is decoded (decompression bombs: one
limit, :data:`MAX_PIXELS`, which Pillow's own check is raised to meet), and truncated or corrupt
data is a clear :class:`ImageError`, never a half-decoded array, unless the caller asks for what
decodes (``partial=True``: verify analyses a cut-off JPEG as far as it goes and says so).

Writing: bytes go to a temporary file in the destination folder, are flushed to disk, and are then
linked into place, so a crash leaves either the complete file or nothing.
"""
from __future__ import annotations

import io
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, PngImagePlugin

from ._errors import ImageError, ImageTooLargeError, OutputError, OutputExistsError

#: Largest image we decode, in pixels, unless the caller (``--max-pixels``) says otherwise: room for
#: 100-150 MP medium-format photos. Pillow's own bomb check (a warning at 89.5 MP, an error at
#: twice that) is raised to this limit when we decode, so there is one limit and one message. A
#: 200 MP RGB image costs about 1.4 GB while decoding (Pillow's 4 bytes a pixel, then our 3).
MAX_PIXELS = 200_000_000
#: Largest file we read (verify, audit, stamp): far above any real image at MAX_PIXELS (a 200 MP
#: 16-bit RGB TIFF is 1.2 GB), and a stop for whatever is not an image at all.
MAX_FILE_BYTES = 2 * 1024**3
#: Pillow refuses a PNG whose one compressed text chunk inflates past 1 MiB (MAX_TEXT_CHUNK) or whose
#: text holds more than 64 MiB in all (MAX_TEXT_MEMORY), and then it refuses the whole image. We
#: allow a chunk up to this size (large ComfyUI workflows in zTXt) and keep the 64 MiB total: what
#: a zTXt bomb can cost stays bounded. Past these limits the pixels are decoded without the text
#: chunks (see decode_image); the metadata collector reads text from the bytes with its own limits.
MAX_PNG_TEXT_CHUNK = 8 * 1024 * 1024

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


_BUFFER_REPR = re.compile(r" ?<_io\.BytesIO object at 0x[0-9a-f]+>")


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


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def read_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; anything else is an :class:`ImageError`.

    The file is opened without blocking and checked before it is read: reading a FIFO would wait
    for a writer forever, and ``/dev/urandom`` or ``/dev/zero`` never end.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as e:
        raise ImageError(f"{p}: no such file") from e
    except IsADirectoryError as e:
        raise ImageError(f"{p}: is a directory, not an image") from e
    except OSError as e:
        raise ImageError(f"{p}: cannot read ({e.strerror or e})") from e
    try:  # checked on the open descriptor, before any read (and before io.open, which refuses folders)
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(f"{p}: is a directory, not an image")
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{p}: {_file_kind(st.st_mode)}, not a regular file; only regular files are read")
        if st.st_size > max_bytes:
            raise ImageError(f"{p}: {st.st_size:,} bytes, above the limit of {max_bytes:,} for one file")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(st.st_size + 1)  # one more: did it grow since fstat?
            parts, total = [data], len(data)
            while total > st.st_size and total <= max_bytes and (more := fh.read(1 << 20)):
                parts.append(more)
                total += len(more)
        except OSError as e:
            raise ImageError(f"{p}: cannot read ({e.strerror or e})") from e
    if total > max_bytes:  # it grew while we read it
        raise ImageError(f"{p}: more than {max_bytes:,} bytes, above the limit of {max_bytes:,} for one file")
    return data if len(parts) == 1 else b"".join(parts)


def _pillow_limits(max_pixels: int) -> None:
    """Raise (never lower) Pillow's process-wide limits to ours, so that its checks do not refuse
    what ours allows and every refusal quotes our limit."""
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
    if PngImagePlugin.MAX_TEXT_CHUNK < MAX_PNG_TEXT_CHUNK:
        PngImagePlugin.MAX_TEXT_CHUNK = MAX_PNG_TEXT_CHUNK


def _too_many_pixels(name: str, width: int | None, height: int | None, max_pixels: int) -> ImageError:
    size = f"{width}x{height} is {width * height:,} pixels, " if width and height else ""
    return ImageTooLargeError(f"{name}: {size}above the limit of {max_pixels:,} pixels (a possible decompression "
                      "bomb; --max-pixels raises the limit)")


#: PNG chunks that the pixels need; decode_image's second try keeps only these.
_PNG_PIXEL_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})


def _png_pixels_only(data: bytes) -> tuple[bytes, list[str]] | None:
    """``data`` without the PNG chunks that do not make pixels (text, profiles, EXIF, private
    chunks), and the kinds dropped; None when the chunk structure itself is broken."""
    out, dropped, pos = [data[:8]], [], 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return None
        if kind in _PNG_PIXEL_CHUNKS:
            out.append(data[pos:end])
        else:
            dropped.append(kind.decode("latin-1"))
        pos = end
        if kind == b"IEND":
            break
    return (b"".join(out), dropped) if dropped else None


def _open_decoded(data: bytes, fmt: str, name: str, max_pixels: int) -> tuple[Image.Image, list]:
    """Open and fully decode with Pillow; its warnings are returned (they become notes)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Our own check below is the limit; Pillow's warning (below its error) says nothing more.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=[fmt])
        except Image.DecompressionBombError as e:
            raise _too_many_pixels(name, None, None, max_pixels) from e
        width, height = img.size
        if width * height > max_pixels:
            raise _too_many_pixels(name, width, height, max_pixels)
        img.load()
    return img, list(caught)


def decode_image(data: bytes, *, name: str = "<bytes>", max_pixels: int = MAX_PIXELS,
                 partial: bool = False) -> LoadedImage:
    """Decode image bytes to RGB (and alpha), refusing corrupt, truncated and oversized input.

    A PNG whose pixels are intact but whose text chunks Pillow refuses (a zTXt chunk inflating past
    its limits, a text chunk failing its CRC) is decoded again without its non-pixel chunks, with a
    note saying so. ``partial=True`` (verify) accepts a JPEG cut off inside its image data: the
    decoder fills in the rest, and a note says that pixel evidence covers only what decoded.
    Running out of memory is an :class:`ImageError` too: this image is too large for this machine.
    """
    try:
        return _decode(data, name=name, max_pixels=max_pixels, partial=partial)
    except MemoryError as e:
        raise ImageError(f"{name}: out of memory decoding this image") from e


def _decode(data: bytes, *, name: str, max_pixels: int, partial: bool) -> LoadedImage:
    fmt = sniff_format(data[:64])
    if fmt is None:
        raise ImageError(f"{name}: not a supported image (unrecognised content; PNG, JPEG, WebP, GIF, TIFF, BMP, "
                         "HEIF, AVIF are read)")
    if fmt in ("HEIF", "AVIF"):
        if (missing := heif_support(fmt)) is not None:
            raise ImageError(f"{name}: {missing}")
        if fmt == "HEIF":
            _register_heif()
    _pillow_limits(max_pixels)
    # Pillow's default (ImageFile.LOAD_TRUNCATED_IMAGES = False) makes truncated data an error
    # instead of grey padding; we rely on it and never change it (it is process-wide).
    notes: list[str] = []
    try:
        try:
            img, caught = _open_decoded(data, fmt, name, max_pixels)
        except (OSError, SyntaxError, ValueError, EOFError) as first:
            retry = _retry_data(data, fmt, first, partial)
            if retry is None:
                raise
            img, caught = _open_decoded(retry[0], fmt, name, max_pixels)
            notes.append(retry[1])
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow names the buffer it read ("cannot identify image file <_io.BytesIO object at 0x...>"):
        # an address differs each run and tells the reader nothing.
        why = _BUFFER_REPR.sub("", str(e)).rstrip()
        raise ImageError(f"{name}: corrupt or truncated {fmt} ({why})") from e

    notes += [f"{w.category.__name__}: {w.message}" for w in caught]
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
        rgb = _scaled_grey(img)
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


def _retry_data(data: bytes, fmt: str, error: Exception, partial: bool) -> tuple[bytes, str] | None:
    """Bytes worth a second decode after ``error``, with the note that says what was done."""
    if fmt == "PNG":
        stripped = _png_pixels_only(data)
        if stripped is not None:
            kinds = ", ".join(sorted(set(stripped[1])))
            return stripped[0], (f"the PNG's pixels were decoded without its non-pixel chunks ({kinds}): "
                                 f"the decoder refused them ({error})")
    if fmt == "JPEG" and partial and "truncated" in str(error) and not data.endswith(b"\xff\xd9"):
        return data + b"\xff\xd9", ("truncated JPEG: the file ends inside the image data, so the pixels "
                                     "after the cut are filled in by the decoder and the watermark, "
                                     "fingerprint and forensic results cover only the part that decoded")
    return None


#: Rows scaled at a time when 16-bit and float greyscale images become 8-bit (bounded scratch memory).
_SCALE_ROWS = 256


def _scaled_grey(img: Image.Image) -> np.ndarray:
    """16-bit / 32-bit / float greyscale scaled to 8 bits by its maximum (rather than let Pillow
    clip), a band of rows at a time: no float64 copy of the whole image (a 9400² 16-bit PNG took
    2.3 GB that way)."""
    arr = np.asarray(img)
    floats = arr.dtype.kind == "f"
    if not arr.size:
        hi = 1.0
    else:  # a float image's NaN and infinities count as 0 (a copy, but only of float images)
        hi = float((np.where(np.isfinite(arr), arr, 0) if floats else arr).max()) or 1.0
    hi = hi if hi > 0 else 1.0
    grey = np.empty(arr.shape[:2], dtype=np.uint8)
    scale = np.float32(255.0 / hi)
    for y in range(0, arr.shape[0], _SCALE_ROWS):
        band = arr[y:y + _SCALE_ROWS].astype(np.float32) * scale + np.float32(0.5)
        if floats:
            np.nan_to_num(band, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(band, 0, 255, out=band)
        grey[y:y + _SCALE_ROWS] = band
    return np.repeat(grey[:, :, None], 3, axis=2)


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
