"""Small, total conversions for values read from untrusted metadata: never raise, never recurse."""
from __future__ import annotations

import json
import math
import zlib
from typing import Any

#: Longest string we keep for one setting (prompts included); longer ones are cut.
MAX_VALUE_CHARS = 65_536


def clean_text(value: Any, *, limit: int = MAX_VALUE_CHARS) -> str | None:
    """A readable string from str/bytes/number, NULs stripped and length capped; None when empty."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    elif not isinstance(value, str):
        if isinstance(value, (int, float)):
            value = repr(value) if isinstance(value, float) else str(value)
        else:
            return None
    text = value.replace("\x00", "").strip()
    return text[:limit] or None


def to_int(value: Any) -> int | None:
    """An integer from int/float/numeric text; None for bools, fractions and junk."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40:
            return None
        try:
            return int(text)
        except ValueError:
            number = to_float(text)
            return int(number) if number is not None and number.is_integer() else None
    return None


def to_float(value: Any) -> float | None:
    """A finite float from int/float/numeric text; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and 0 < len(value.strip()) <= 40:
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def scalar(value: Any) -> str | int | float | bool | None:
    """Keep JSON scalars (strings capped); drop containers, whose nesting we never walk."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    return None


def load_json(text: str, *, where: str, errors: list[str]) -> Any:
    """Parse JSON; None when it is not JSON. Nesting too deep for the parser is an ``errors`` entry."""
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        return json.loads(stripped)
    except RecursionError:
        errors.append(f"{where}: JSON nested too deeply to read; ignored")
    except ValueError:
        pass
    return None


def inflate_bounded(data: bytes, *, limit: int, where: str, what: str, errors: list[str],
                    wbits: int = zlib.MAX_WBITS) -> bytes | None:
    """``data`` decompressed (zlib, or gzip with ``wbits=16 + zlib.MAX_WBITS``), never past ``limit``
    bytes: a corrupt stream or a decompression bomb is an entry in ``errors`` and None."""
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        errors.append(f"{where}: {what} is corrupt ({e}); ignored")
        return None
    if len(out) > limit:
        errors.append(f"{where}: {what} inflates past {limit:,} bytes; ignored")
        return None
    return out


def parse_size(value: Any) -> tuple[int, int] | None:
    """(width, height) from "512x768", "(1024, 1024)", "1024 x 1024" or [w, h]."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        w, h = to_int(value[0]), to_int(value[1])
    else:
        text = clean_text(value, limit=64)
        if not text:
            return None
        for sep in ("x", "X", "×", ","):
            if sep in text:
                left, _, right = text.strip("()[] ").partition(sep)
                w, h = to_int(left), to_int(right)
                break
        else:
            return None
    if w and h and 0 < w <= 1_000_000 and 0 < h <= 1_000_000:
        return w, h
    return None


def extra_fields(data: dict[str, Any], mapped: set[str], *, limit: int = 100) -> dict[str, Any]:
    """The scalar entries of a format's settings that no ``GeneratorInfo`` field took (keys not in
    ``mapped``), at most ``limit`` of them: kept in ``extra`` so nothing a tool wrote is lost."""
    out = {}
    for key, value in list(data.items())[: limit * 4]:
        if key not in mapped and isinstance(key, str):
            kept = scalar(value)
            if kept is not None:
                out[key[:100]] = kept
                if len(out) >= limit:
                    break
    return out


def json_dict(text: str | None, *, where: str, errors: list[str]) -> dict[str, Any] | None:
    """``text`` parsed as a JSON object (``load_json``'s limits and error entries), else None."""
    if text is None:
        return None
    data = load_json(text, where=where, errors=errors)
    return data if isinstance(data, dict) else None
