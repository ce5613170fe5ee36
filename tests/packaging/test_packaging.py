"""The package as a user gets it, not the editable install the rest of the suite runs on: the sdist
and the wheel carry every data file, the wheel asks for no torch, and the wheel installed into a
fresh venv without the dev extra runs the README's main command and ``verify --json`` with no
collector error (forensics included) and no torch.

Slow: building the sdist and the wheel takes about 10 s, the fresh install about 25 s with pip's
cache warm (the base dependencies come from the package index; nothing here needs a GPU).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from support import REPO
from provenance import __version__
from provenance._data_files import DATA_FILES

pytestmark = pytest.mark.slow

#: Distributions of the extras that a base install must not pull (torch and its CUDA wheels above all).
NOT_IN_BASE = ("torch", "invisible-watermark", "diffusers", "transformers", "accelerate", "peft",
               "scikit-learn", "matplotlib", "pillow-heif", "watchdog")
EXTRAS = ("iw", "rivagan", "heif", "generate", "train", "watch", "dev")
IGNORED = (".git", ".venv", "__pycache__", "build", "dist", "*.egg-info", "out", ".pytest_cache", ".hypothesis",
           ".demo", ".whl")


def _sh(*cmd, timeout=900, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _copy_source(dst: Path) -> None:
    """The files of a fresh clone (tracked and new, not ignored), so the build sees what CI sees."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, timeout=60) if (REPO / ".git").exists() else None
    if listed is None or listed.returncode != 0:
        shutil.copytree(REPO, dst, ignore=shutil.ignore_patterns(*IGNORED))
        return
    for rel in filter(None, listed.stdout.decode().split("\0")):
        if (REPO / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dst / rel)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist built from a copy of the source tree, and the wheel built from that sdist with
    ``pip wheel --no-deps`` (so a file the sdist lacks is missing from the wheel too)."""
    root = tmp_path_factory.mktemp("packaging")
    _copy_source(root / "src")
    _sh(sys.executable, "-m", "build", "--sdist", "--outdir", root / "dist", root / "src")
    [sdist] = (root / "dist").glob("*.tar.gz")
    _sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", root / "dist", sdist, cwd=root)
    [wheel] = (root / "dist").glob("*.whl")
    return {"root": root, "sdist": sdist, "wheel": wheel}


def test_the_sdist_carries_every_data_file(dist):
    """Each listed data file is in the sdist with its sha256, beside what the suite and the demo need."""
    with tarfile.open(dist["sdist"]) as tar:
        prefix = tar.getnames()[0].split("/")[0]
        for name, sha in DATA_FILES.items():
            member = tar.extractfile(f"{prefix}/{name}")
            assert member is not None and hashlib.sha256(member.read()).hexdigest() == sha, name
        names = set(tar.getnames())
    for rel in ("README.md", "pyproject.toml", "cli.py", "provenance/__main__.py", "samples/trust/demo-root.pem",
                "tests/conftest.py", "Makefile"):
        assert f"{prefix}/{rel}" in names, rel


def test_the_wheel_carries_every_data_file_and_the_entry_point(dist):
    """Each listed data file is in the wheel with its sha256; so are the CLI package and
    ``provenance/__main__.py``, and no top-level ``cli`` module (a global name the wheel must not claim);
    the console script and the forensic commands' entry point are declared."""
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
        for name, sha in DATA_FILES.items():
            assert name in names and hashlib.sha256(whl.read(name)).hexdigest() == sha, name
        assert {"provenance/cli/__init__.py", "provenance/__main__.py", "detectors/_commands.py"} <= names
        assert not [n for n in names if n.split("/")[0] in ("cli.py", "cli")]
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = whl.read(info).decode()
        assert "provenance = provenance.cli:main" in entry_points
        assert "[provenance.commands]" in entry_points and "forensics = detectors._commands" in entry_points


def test_the_wheel_requires_no_torch(dist):
    """The wheel's base requirements name none of the extras' distributions; the extras are declared."""
    with zipfile.ZipFile(dist["wheel"]) as whl:
        metadata = whl.read(next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert base and not [r for r in base if r.split(">")[0].split("=")[0].split("<")[0].strip().lower() in NOT_IN_BASE]
    extras = {line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Provides-Extra:")}
    assert set(EXTRAS) <= extras


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "PROVENANCE_HOME": str(home)}


def test_the_installed_wheel_runs_the_readme_command_without_torch(dist):
    """A fresh venv, the wheel alone (base dependencies from the index): no torch, no CUDA wheel; the
    README's audit and ``verify --json samples/*`` give no collector error and a forensic estimate for
    every image; ``python -m provenance`` is the console script; rivaGan is listed as not installed."""
    root = dist["root"]
    venv = root / "venv"
    _sh(sys.executable, "-m", "venv", venv)
    py, tool = venv / "bin" / "python", venv / "bin" / "provenance"
    _sh(py, "-m", "pip", "install", dist["wheel"], env=_env(root / "home"))
    installed = {p["name"].lower() for p in json.loads(_sh(py, "-m", "pip", "list", "--format", "json").stdout)}
    assert not installed & set(NOT_IN_BASE) and not [n for n in installed if n.startswith("nvidia")], installed

    run = root / "run"  # outside the source tree: only the installed package can be imported
    shutil.copytree(REPO / "samples", run / "samples", ignore=shutil.ignore_patterns("__pycache__"))
    (run / "out").mkdir()
    env = _env(root / "home")
    where = _sh(py, "-c", "import provenance, detectors, provenance.cli as c; print(provenance.__file__, detectors.__file__, c.__file__)",
                cwd=run, env=env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where
    _sh(py, "-m", "provenance._data_files", cwd=run, env=env)  # the installed data files match the table

    audit = subprocess.run([tool, "audit", "samples/", "--html", "out/report.html", "--trust",
                            "samples/trust/demo-root.pem", "--jsonl", "out/rows.jsonl"],
                           cwd=run, env=env, capture_output=True, text=True, timeout=600)
    assert audit.returncode == 1, audit.stderr  # 1: samples/corrupt.jpg is corrupt on purpose
    rows = [json.loads(line) for line in (run / "out" / "rows.jsonl").read_text().splitlines()]
    assert {r["file"] for r in rows if r["errors"]} == {"samples/corrupt.jpg"}, [r["errors"] for r in rows]
    analysed = [r for r in rows if r["audit"]["status"] == "ok"]  # skipped files have rows too (issue 15)
    assert all("p_ai" in r["forensics"] for r in analysed) and len(analysed) >= 8
    assert (run / "out" / "report.html").stat().st_size > 10_000

    files = sorted(str(p.relative_to(run)) for p in (run / "samples").iterdir())
    verify = subprocess.run([tool, "verify", "--json", *files], cwd=run, env=env, capture_output=True, text=True,
                            timeout=600)
    reports = json.loads(verify.stdout)
    images = [r for r in reports if r.get("format") and r["file"] != "samples/corrupt.jpg"]
    assert len(images) == 8 and all(r["errors"] == [] and "p_ai" in r["forensics"] for r in images)
    # corrupt.jpg is cut off inside its image data: analysed as far as it decodes, saying so (issue 15)
    [cut] = [r for r in reports if r["file"] == "samples/corrupt.jpg"]
    assert [e["collector"] for e in cut["errors"]] == ["decode"] and "truncated JPEG" in cut["errors"][0]["error"]
    others = [e["collector"] for r in reports if not r.get("format") for e in r["errors"]]
    assert set(others) <= {"decode", "read"}, others  # README.md, *.py, params.json and trust/

    version = _sh(tool, "--version", cwd=run, env=env).stdout
    assert version.startswith(f"provenance {__version__} (c2pa-python ") and "c2pa-rs " in version
    assert _sh(py, "-m", "provenance", "--version", cwd=run, env=env).stdout == version
    methods = {m["name"]: m for m in json.loads(_sh(tool, "watermark", "methods", "--json", cwd=run, env=env).stdout)}
    assert methods["rivaGan"]["available"] is False and methods["provenanceWM"]["available"] is True
    riva = subprocess.run([tool, "watermark", "embed", "samples/landscape.png", "out/riva.png", "--method", "rivaGan"],
                          cwd=run, env=env, capture_output=True, text=True, timeout=120)
    assert riva.returncode == 1 and "provenance-tool[rivagan]" in riva.stderr and not (run / "out" / "riva.png").exists()
