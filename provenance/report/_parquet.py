"""audit --parquet DIR: the summary rows (the CSV's columns, typed) as Parquet shards, for analysis at scale.

Shards (``part-00000.parquet``, ...) of ``rows_per_shard`` rows are written as the audit goes into a
hidden folder beside DIR; when the audit completes, that folder replaces DIR in one rename (a
previous DIR is replaced only when it holds nothing but our shards), so an interrupted run leaves
the previous dataset whole, as the other reports do. Needs pyarrow (``pip install 'provenance-tool[ray]'``
or ``pyarrow`` alone).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .._errors import MissingDependencyError, OutputError, OutputExistsError
from .._text import printable
from ._rows import CSV_COLUMNS

ROWS_PER_SHARD = 100_000
SHARD_PATTERN = "part-{:05d}.parquet"
_INTS = {"width", "height"}
_FLOATS = {"confidence", "p_ai"}
_BOOLS = {"cached"}


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as e:
        raise MissingDependencyError("--parquet needs pyarrow: pip install pyarrow") from e
    return pyarrow


def schema():
    pa = _pyarrow()
    kind = {**dict.fromkeys(_INTS, pa.int64()), **dict.fromkeys(_FLOATS, pa.float64()),
            **dict.fromkeys(_BOOLS, pa.bool_())}
    return pa.schema([(c, kind.get(c, pa.string())) for c in CSV_COLUMNS])


def _cell(column: str, value):
    if value == "" or value is None:
        return None if column in _INTS | _FLOATS else ("" if column not in _BOOLS else None)
    if column in _INTS:
        return int(value)
    if column in _FLOATS:
        return float(value)
    if column in _BOOLS:
        return bool(value)
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _ours(folder: Path) -> bool:
    return all(p.is_file() and p.name.startswith("part-") and p.suffix == ".parquet" for p in folder.iterdir())


def check_parquet_dir(path: str) -> None:
    """Refuse, before any work, a DIR that is a file or a folder holding anything but our shards."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputExistsError(f"--parquet {printable(path)}: is a file; give a folder")
    if p.is_dir() and not _ours(p):
        raise OutputExistsError(f"--parquet {printable(path)}: the folder holds files that are not this tool's "
                                "Parquet shards; give an empty or new folder")
    parent = p.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--parquet {printable(path)}: folder {printable(str(parent))} is missing or not writable")


class ParquetShards:
    """Rows in, shards out; :meth:`commit` puts the dataset in place, :meth:`discard` drops it."""

    def __init__(self, path: str, rows_per_shard: int | None = None) -> None:
        self._pa = _pyarrow()
        self._schema = schema()
        self.path = Path(path)
        self.rows_per_shard = rows_per_shard or ROWS_PER_SHARD
        self.temp_path: Path | None = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial",
                                                            dir=self.path.resolve().parent))
        self._rows: list[dict] = []
        self._shards = 0

    def add(self, row: dict) -> None:
        self._rows.append({c: _cell(c, row.get(c, "")) for c in CSV_COLUMNS})
        if len(self._rows) >= self.rows_per_shard:
            self._flush()

    def _flush(self) -> None:
        if not self._rows and self._shards:
            return
        table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
        self._pa.parquet.write_table(table, self.temp_path / SHARD_PATTERN.format(self._shards))
        self._shards += 1
        self._rows = []

    def commit(self) -> None:
        self._flush()  # an audit of nothing still writes one (empty) shard with the schema
        if self.path.is_dir():
            if not _ours(self.path):  # something else appeared there during the run
                raise OutputExistsError(f"--parquet {printable(str(self.path))}: the folder now holds other files")
            old = self.path.with_name(f".{self.path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(self.path, old)
            os.rename(self.temp_path, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.temp_path, self.path)
        self.temp_path = None

    def discard(self) -> None:
        if self.temp_path is not None:
            shutil.rmtree(self.temp_path, ignore_errors=True)
            self.temp_path = None
