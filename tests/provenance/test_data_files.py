"""The shipped data files: every one listed with its sha256, the table complete, the loaders checking it."""
from __future__ import annotations

import fnmatch
import hashlib
import shutil

import jsonschema
import pytest

from support import REPO
from provenance import DataFileError
from provenance import _data_files as df
from detectors import forensics

#: The shipped forensic model, as the data table names it.
MODEL = forensics.DEFAULT_MODEL_PATH.relative_to(REPO).as_posix()


@pytest.mark.parametrize("name", sorted(df.DATA_FILES))
def test_every_listed_file_exists_with_its_sha256(name):
    """Each table entry is a file of the source tree whose sha256 is the listed one."""
    path = REPO / name
    assert path.is_file(), f"{name} is listed but missing"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == df.DATA_FILES[name]
    assert df.data_file(name) == path


def test_the_table_lists_every_file_in_the_data_folders():
    """Nothing under DATA_DIRS ships unlisted, nothing listed is gone: the table is what --update writes."""
    assert df.shipped_files(REPO) == df.DATA_FILES, "run: python -m provenance._data_files --update"
    source = (REPO / "provenance" / "_data_files.py").read_text(encoding="utf-8")
    assert df._rewrite_table(source, df.shipped_files(REPO)) == source


def test_pyproject_ships_every_listed_file_as_package_data():
    """Each listed file matches a [tool.setuptools.package-data] pattern of its package, so the wheel
    carries it (tests/packaging/test_packaging.py checks the built wheel itself)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]
    for name in df.DATA_FILES:
        package, _, rest = name.partition("/")
        assert any(fnmatch.fnmatch(rest, p) for p in patterns.get(package, [])), f"{name}: not package data"
    for folder in df.DATA_DIRS:
        package, _, rest = folder.partition("/")
        assert any(fnmatch.fnmatch(f"{rest}/x", p) for p in patterns.get(package, [])), f"{folder}: not shipped"


def _copy_of_the_data(tmp_path):
    for name in df.DATA_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, tmp_path / name)
    return tmp_path


def test_a_damaged_file_is_refused(tmp_path):
    """One changed byte: data_file raises DataFileError naming the file and the fix."""
    root = _copy_of_the_data(tmp_path)
    name = MODEL
    assert df.data_file(name, root=root) == root / name
    data = bytearray((root / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / name).write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=r"sha256 .* differs from the package's data table.*reinstall"):
        df.data_file(name, root=root)


def test_a_missing_file_is_refused(tmp_path):
    """A file the wheel left out: the error says the installation is incomplete."""
    root = _copy_of_the_data(tmp_path)
    (root / df.VERIFY_SCHEMA).unlink()
    with pytest.raises(DataFileError, match="missing.*installation is incomplete"):
        df.data_file(df.VERIFY_SCHEMA, root=root)
    with pytest.raises(DataFileError, match="not a shipped data file"):
        df.data_file("provenance/schemas/other.json", root=root)


def test_the_default_model_is_checked_against_the_table(monkeypatch):
    """load_default_model checks the shipped model and its sidecar before loading them."""
    assert forensics.load_default_model().id.startswith(forensics.DEFAULT_MODEL_PATH.stem + "@")
    for name in (MODEL, MODEL.replace(".npz", ".json")):
        with monkeypatch.context() as m:
            m.setitem(df.DATA_FILES, name, "0" * 64)
            with pytest.raises(DataFileError, match=forensics.DEFAULT_MODEL_PATH.stem):
                forensics.load_default_model()


def test_the_verify_schema_ships_as_a_valid_json_schema():
    """The evidence model's schema is package data, readable through the table, and a valid schema."""
    schema = df.load_json(df.VERIFY_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"].startswith("provenance.verify/1")


def test_the_check_command_reports_a_stale_table(monkeypatch, capsys):
    """`python -m provenance._data_files` exits 0 on the real tree and 1, naming the file, on a stale entry."""
    assert df.main([]) == 0
    monkeypatch.setitem(df.DATA_FILES, df.VERIFY_SCHEMA, "0" * 64)
    assert df.main([]) == 1
    assert f"{df.VERIFY_SCHEMA}: sha256 differs" in capsys.readouterr().err
