"""Read back what the stamp wrote outside C2PA, to check it byte for byte: the decoded EXIF fields
we write, the XMP packet and the PNG text chunks (``detectors.metadata`` is the tool's reader;
this one is deliberately plain, so a test of the writer does not go through the reader)."""
from __future__ import annotations

import io
import struct

import piexif
import piexif.helper
from PIL import Image

from provenance._metadata import XMP_PNG_KEY


def read_metadata(data: bytes) -> dict:
    """EXIF (decoded), XMP packet and PNG text chunks of encoded image bytes. Missing parts are absent."""
    img = Image.open(io.BytesIO(data))
    out: dict = {"format": img.format}
    raw_exif = img.info.get("exif")
    if raw_exif:
        try:
            ex = piexif.load(raw_exif)
            out["exif"] = {
                "Software": ex["0th"].get(piexif.ImageIFD.Software, b"").decode(errors="replace"),
                "ImageDescription": ex["0th"].get(piexif.ImageIFD.ImageDescription, b"").decode(errors="replace"),
                "DateTime": ex["0th"].get(piexif.ImageIFD.DateTime, b"").decode(errors="replace"),
            }
            uc = ex["Exif"].get(piexif.ExifIFD.UserComment)
            if uc:
                out["exif"]["UserComment"] = piexif.helper.UserComment.load(uc)
        except (ValueError, struct.error) as e:  # malformed EXIF is reported, not fatal
            out["exif_error"] = str(e)
    xmp = img.info.get("xmp") or img.info.get(XMP_PNG_KEY)
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", errors="replace")
    if xmp:
        out["xmp"] = xmp
    if img.format == "PNG":
        out["text"] = {k: v for k, v in getattr(img, "text", {}).items() if k != XMP_PNG_KEY}
    return out
