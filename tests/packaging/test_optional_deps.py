"""The base install needs no torch: the everyday commands import no optional heavy part, and a
method or command whose extra is missing says which extra to install (STYLE.md "optional heavy parts")."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from support import REPO, natural_image
from support import run_cli as run
from provenance import MissingDependencyError, embed_watermark
from provenance.watermark import get_method

#: Modules of the extras (iw/rivagan, generate, train) that the base commands must never import.
FORBIDDEN = ("torch", "imwatermark", "diffusers", "transformers", "sklearn", "matplotlib")

#: Stands in front of each forbidden module on PYTHONPATH (so audit's worker processes have it too):
#: an import writes its name to $TRIPWIRE_LOG, then fails as if the module were not installed.
TRIPWIRE = """import os
with open(os.environ["TRIPWIRE_LOG"], "a") as fh:
    fh.write(__name__ + "\\n")
raise ImportError("tripwire: " + __name__ + " imported")
"""

SAMPLES = REPO / "samples"
TRUST = SAMPLES / "trust" / "demo-root.pem"


@pytest.fixture(scope="module")
def tripwired(tmp_path_factory):
    """(environment, log path, home): PYTHONPATH holds the tripwires ahead of the real modules and the worktree."""
    root = tmp_path_factory.mktemp("tripwire")
    for name in FORBIDDEN:
        (root / "wires" / name).mkdir(parents=True)
        (root / "wires" / name / "__init__.py").write_text(TRIPWIRE)
    log = root / "imports.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "wires"), str(REPO)]),
           "TRIPWIRE_LOG": str(log), "PROVENANCE_HOME": str(root / "home")}
    subprocess.run([sys.executable, str(REPO / "cli.py"), "keys", "init", "--org", "Tripwire Test"], env=env,
                   check=True, capture_output=True, timeout=120)
    return env, log, root


def _run_tripwired(tripwired, *args: str) -> subprocess.CompletedProcess:
    env, log, root = tripwired
    log.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, str(REPO / "cli.py"), *args], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    imported = log.read_text().split() if log.exists() else []
    assert not imported, f"{args[0]} imported {sorted(set(imported))}; stderr: {proc.stderr[-2000:]}"
    return proc


def test_import_provenance_loads_no_optional_module():
    """`import provenance` (and the verify, audit, watermark and forensics modules) loads none of the extras."""
    code = ("import sys, json, provenance, provenance.audit, provenance.watermark, provenance._verify, "
            "detectors.forensics, cli; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{FORBIDDEN!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert json.loads(out) == []


@pytest.mark.slow
def test_verify_audit_detect_run_without_the_extras(tripwired, tmp_path):
    """verify (every collector, forensics included), audit with its workers and the HTML report, and
    detect run with every extra's module made unimportable, and none of them tries to import one."""
    proc = _run_tripwired(tripwired, "verify", "--json", "--trust", str(TRUST),
                          str(SAMPLES / "ai-landscape.stamped.png"), str(SAMPLES / "photo-rocket.jpg"))
    reports = json.loads(proc.stdout)
    assert proc.returncode == 0 and [r["errors"] for r in reports] == [[], []]
    assert all("p_ai" in r["forensics"] for r in reports)
    assert reports[0]["c2pa"]["status"] == "trusted"
    proc = _run_tripwired(tripwired, "audit", str(SAMPLES), "--html", str(tmp_path / "report.html"),
                          "--jsonl", str(tmp_path / "rows.jsonl"), "--trust", str(TRUST), "--workers", "2")
    assert proc.returncode == 1, proc.stderr  # samples/corrupt.jpg is corrupt on purpose
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert {r["file"].rsplit("/", 1)[-1] for r in rows if r["errors"]} == {"corrupt.jpg"}
    assert (tmp_path / "report.html").stat().st_size > 10_000
    proc = _run_tripwired(tripwired, "detect", "--json", str(SAMPLES / "photo-astronaut.jpg"))
    assert proc.returncode == 0 and "p_ai" in json.loads(proc.stdout)[0]


@pytest.mark.slow
def test_stamp_and_watermark_run_without_the_extras(tripwired, tmp_path):
    """stamp, and watermark embed/detect/methods with the default and the dwt methods, import no extra
    (the tripwires are found, so rivaGan looks installed here; see the without_imwatermark tests)."""
    src = REPO / "samples" / "landscape.png"
    proc = _run_tripwired(tripwired, "stamp", str(src), "-o", str(tmp_path / "s.png"), "--model", "tiny")
    assert proc.returncode == 0, proc.stderr
    for method in ("provenanceWM", "dwtDctSvd", "dwtDct"):
        out = tmp_path / f"{method}.png"
        proc = _run_tripwired(tripwired, "watermark", "embed", str(src), str(out), "--method", method)
        assert proc.returncode == 0, proc.stderr
    proc = _run_tripwired(tripwired, "watermark", "detect", "--json", str(tmp_path / "s.png"),
                          str(tmp_path / "dwtDctSvd.png"))
    assert proc.returncode == 0, proc.stderr
    proc = _run_tripwired(tripwired, "watermark", "methods", "--json")
    assert {r["name"]: r["extra"] for r in json.loads(proc.stdout)}["rivaGan"] == "rivagan"


@pytest.fixture
def without_imwatermark(monkeypatch):
    """invisible-watermark as if not installed: None in sys.modules is Python's own "not importable"."""
    monkeypatch.setitem(sys.modules, "imwatermark", None)
    for name in [m for m in sys.modules if m.startswith("imwatermark.")]:
        monkeypatch.delitem(sys.modules, name)


def test_rivagan_without_invisible_watermark_names_its_extra(without_imwatermark, capsys):
    """rivaGan stays listed, marked not installed; choosing it raises MissingDependencyError naming the extra."""
    riva = get_method("rivaGan")
    assert not riva.available() and riva.missing() == ["invisible-watermark"]
    image = natural_image(256, 256, seed=3)
    with pytest.raises(MissingDependencyError, match=r"invisible-watermark.*provenance-tool\[rivagan\]"):
        embed_watermark(image, "3f9a0c1b2d4e5f60", method="rivaGan")
    with pytest.raises(MissingDependencyError, match=r"provenance-tool\[rivagan\]"):
        riva.detect(image)
    code, out, _ = run(capsys, "watermark", "methods")
    assert code == 0 and "rivaGan" in out and "[not installed: pip install 'provenance-tool[rivagan]']" in out


def test_the_iw_reference_without_invisible_watermark_names_its_extra(without_imwatermark):
    """The bit-exactness reference (invisible-watermark's own modules) names the iw extra."""
    from provenance.watermark._imwatermark import _iw_module

    with pytest.raises(MissingDependencyError, match=r"provenance-tool\[iw\]"):
        _iw_module("dwtDctSvd")


def test_training_without_scikit_learn_names_the_train_extra(monkeypatch, tmp_path):
    """scikit-learn is the train extra: training says so before extracting a single feature."""
    from detectors._classifier import TrainConfig, train_model
    from detectors._train import train_from_data

    monkeypatch.setitem(sys.modules, "sklearn", None)
    x = np.zeros((4, 3))
    with pytest.raises(MissingDependencyError, match=r"provenance-tool\[train\]"):
        train_model(x, np.array([0, 1, 0, 1]), ["real", "sd", "real", "sd"], np.arange(4), config=TrainConfig())
    with pytest.raises(MissingDependencyError, match=r"provenance-tool\[train\]"):
        train_from_data([tmp_path / "no-such-manifest.csv"], tmp_path / "m.npz")


def test_python_dash_m_provenance_is_the_console_script():
    """`python -m provenance` runs the CLI's main: the same --version line, which names the C2PA libraries."""
    import c2pa

    from provenance import __version__

    via_m = subprocess.run([sys.executable, "-m", "provenance", "--version"], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    via_cli = subprocess.run([sys.executable, str(REPO / "cli.py"), "--version"], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert via_m.returncode == via_cli.returncode == 0
    assert via_m.stdout == via_cli.stdout == (f"provenance {__version__} (c2pa-python {c2pa.__version__}, "
                                              f"c2pa-rs {c2pa.sdk_version()})\n")
    help_m = subprocess.run([sys.executable, "-m", "provenance", "watermark", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert help_m.returncode == 0 and help_m.stdout.startswith("usage: provenance watermark")


def test_generate_without_diffusers_names_the_generate_extra(monkeypatch):
    """generate and bench without the generate extra: the error names it and the torch build to install first."""
    from provenance.generate._require import require_diffusers

    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingDependencyError, match=r"provenance-tool\[generate\].*torch build"):
        require_diffusers()
