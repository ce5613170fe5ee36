"""Text that must survive being written out: file names that are not UTF-8, strings with lone surrogates.

On POSIX a file name is bytes. Python hands a name that is not valid UTF-8 to us as a ``str``
holding "surrogate escapes" (PEP 383), which no UTF-8 writer accepts: one such name used to abort
a whole audit and made ``verify --json`` print invalid JSON. Everything we write goes through
here: a name is shown with its undecodable bytes as ``\\xNN`` escapes, and, where it matters
(``file`` in a report), the exact bytes travel beside it in base64 so nothing is lost.
"""
from __future__ import annotations

import base64
import json
import os


def name_bytes(name: str) -> bytes:
    """The bytes of a file name as the operating system holds them."""
    try:
        return os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte (not from the OS)
        return name.encode("utf-8", "surrogatepass")


def printable(text: str) -> str:
    """``text`` unchanged when it is valid Unicode; otherwise with every undecodable byte (or lone
    surrogate) written as a backslash escape, so any UTF-8 writer accepts it."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("ascii")


def file_fields(name: str, key: str = "file") -> dict[str, str]:
    """``{key: printable name}``, plus ``{key}_bytes_b64`` (the exact bytes, base64) when the name
    is not valid UTF-8 and the printable form alone would not say which file it is."""
    shown = printable(name)
    if shown is name:
        return {key: name}
    return {key: shown, f"{key}_bytes_b64": base64.b64encode(name_bytes(name)).decode("ascii")}


def dumps_json(obj, **kwargs) -> str:
    """``json.dumps`` with ``ensure_ascii=False`` (readable), falling back to ASCII escapes when a
    string holds a lone surrogate that UTF-8 cannot encode (``\\udcxx`` is valid JSON and reads back
    to the same string)."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, **kwargs)
