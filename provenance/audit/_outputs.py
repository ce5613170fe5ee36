"""The audit's own files: refuse paths that would destroy an input, and replace reports atomically.

An audit must never damage what it audits: ``audit DIR --csv DIR/photo.jpg`` used to overwrite
the photo with the CSV. So before any work every report and cache path is checked: it may not be
an audited file, may not lie inside an audited folder unless asked (``allow_inside``, and it is
then left out of the walk), and may not name an existing file that is not a report of its kind
(a JPEG given as ``--csv``), whatever was asked.

Reports are written to a hidden temporary file beside their destination and moved into place
when the run completes, so a run killed (even by ``kill -9``) or interrupted leaves the previous
report whole; the cache keeps the finished work for the next run. A device or pipe (``/dev/null``,
a FIFO) is written as a stream, never replaced.
"""
from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterable, Mapping

from .._errors import OutputError, OutputExistsError, UnsafeOutputError
from .._text import printable

_SNIFF_BYTES = 4096


def _head(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(_SNIFF_BYTES)


def _is_jsonl_report(path: str) -> bool:
    head = _head(path)
    return not head.strip() or head.lstrip().startswith(b'{"schema": "provenance.')


def _is_csv_report(path: str) -> bool:
    head = _head(path)
    # This header, or the one before path_bytes_b64 was added: not just any CSV starting with "path".
    return not head.strip() or head.startswith((b"path,path_bytes_b64,status,", b"path,status,reason,"))


def _is_html_report(path: str) -> bool:
    head = _head(path)
    return not head.strip() or (head.lower().startswith(b"<!doctype html>") and b"<title>Provenance audit" in head)


def _is_cache(path: str) -> bool:
    head = _head(path)
    if not head:
        return True
    if not head.startswith(b"SQLite format 3\x00"):
        return False
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return False
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return False
    finally:
        db.close()
    return not tables or "results" in tables


#: Output kind -> (how to recognise an existing file of that kind, what it is called in messages).
REPORT_KINDS = {
    "jsonl": (_is_jsonl_report, "a JSONL audit report"),
    "csv": (_is_csv_report, "a CSV audit report"),
    "html": (_is_html_report, "an HTML audit report"),
    "cache": (_is_cache, "an audit cache"),
}


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_outputs(roots: Iterable[str], outputs: Mapping[str, str | None], *, allow_inside: bool = False,
                  implicit: Iterable[str] = ()) -> None:
    """Refuse, before any work, every output path that could destroy an input.

    ``outputs`` maps a kind (``jsonl``, ``csv``, ``html``, ``cache``) to its path (None: not
    written; ``-``: stdout). Raises :class:`UnsafeOutputError` for a path that is an audited file,
    that two outputs share, or that lies inside an audited folder without ``allow_inside`` (the
    kinds in ``implicit``, a default the user did not choose, are exempt from that last rule:
    they are left out of the walk instead), and :class:`OutputExistsError` for an existing file
    that is not a report of its kind, even with ``allow_inside``.
    """
    implicit = set(implicit)
    resolved = [(r, os.path.realpath(r), os.path.isdir(r)) for r in roots]
    seen: dict[str, str] = {}
    for kind, path in outputs.items():
        if not path or path == "-":
            continue
        shown = printable(str(path))
        real = os.path.realpath(path)
        if real in seen:
            raise UnsafeOutputError(f"--{kind} {shown}: the same file as --{seen[real]}; give each output its own")
        seen[real] = kind
        for root, real_root, is_dir in resolved:
            if not is_dir and real == real_root:
                raise UnsafeOutputError(f"--{kind} {shown}: is one of the files being audited; "
                                        "write the report somewhere else")
            if is_dir and _inside(real, real_root) and not allow_inside and kind not in implicit:
                raise UnsafeOutputError(f"--{kind} {shown}: lies inside the audited folder {printable(root)}; "
                                        "write it elsewhere, or pass --allow-inside (it is then left out "
                                        "of the audit)")
        if not os.path.lexists(real):
            continue
        try:
            st = os.stat(real)
        except OSError as e:
            raise OutputError(f"--{kind} {shown}: cannot be checked ({e.strerror or e})") from e
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"--{kind} {shown}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            continue  # a device or a pipe: written as a stream, nothing to destroy
        recognise, what = REPORT_KINDS[kind]
        try:
            ok = recognise(real)
        except OSError as e:
            raise OutputError(f"--{kind} {shown}: cannot be read to check what it is ({e.strerror or e})") from e
        if not ok:
            raise OutputExistsError(f"--{kind} {shown}: exists and is not {what}; refusing to overwrite it "
                                    "(remove it yourself or choose another name)")


def check_output_folder(roots: Iterable[str], kind: str, path: str | None, *, allow_inside: bool = False) -> None:
    """An output that is a folder (``--parquet``) may not be or lie inside an audited folder (unless
    ``allow_inside``) nor hold an audited file."""
    if not path:
        return
    real = os.path.realpath(path)
    for root in roots:
        real_root = os.path.realpath(root)
        if os.path.isdir(root) and _inside(real, real_root) and not allow_inside:
            raise UnsafeOutputError(f"--{kind} {printable(path)}: lies inside the audited folder {printable(root)}; "
                                    "write it elsewhere, or pass --allow-inside")
        if not os.path.isdir(root) and _inside(real_root, real):
            raise UnsafeOutputError(f"--{kind} {printable(path)}: holds {printable(root)}, a file being audited")


def make_parent(path: Path, what: str) -> Path:
    """The folder ``path`` goes in, created (with its parents) when missing: ``--html out/report.html``
    on a fresh checkout must not fail for want of ``out/``. The caller has already checked that
    ``path`` is not inside an audited folder (unless allowed) and names no input."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise OutputError(f"--{what} {printable(str(path))}: {printable(str(parent))} is not a folder") from e
    except OSError as e:
        raise OutputError(f"--{what} {printable(str(path))}: cannot create folder {printable(str(parent))} "
                          f"({e.strerror or e})") from e
    return parent


def _file_mode() -> int:
    """What ``open(path, "w")`` would give a new file: 0666 less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class ReportFile:
    """A report written to ``.NAME.*.partial`` beside ``path`` and moved onto ``path`` by :meth:`commit`.

    ``temp_path`` is the temporary name (the walk leaves it out). A device or pipe at ``path`` is
    opened and written directly (``temp_path`` is then None).
    """

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        # A link to a report: replace what it points to, not the link (as writing through it did).
        self.path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
        self.temp_path: Path | None = None
        shown = printable(str(path))
        try:
            streaming = self.path.exists() and not self.path.is_file()
            if streaming:
                self.fh: IO[str] = open(self.path, "w", encoding="utf-8", newline="")
                return
            parent = make_parent(self.path, what)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=parent)
        except OSError as e:
            raise OutputError(f"--{what} {shown}: cannot write ({e.strerror or e})") from e
        self.temp_path = Path(tmp)
        self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        """Flush to disk and move the finished report into place in one step."""
        self.fh.flush()
        if self.temp_path is None:
            self.fh.close()
            return
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.chmod(self.temp_path, _file_mode())
        os.replace(self.temp_path, self.path)
        self.temp_path = None

    def discard(self) -> None:
        """Drop the unfinished report: the previous one (if any) stays as it was."""
        if not self.fh.closed:
            self.fh.close()
        if self.temp_path is not None:
            try:
                self.temp_path.unlink()
            except FileNotFoundError:
                pass
            self.temp_path = None
