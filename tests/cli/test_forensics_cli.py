"""The detect / train / evaluate commands: outputs and every exit code they can give."""
from __future__ import annotations

import json

import pytest
from PIL import Image

import cli
from support import natural_image
from support import run_cli as run
from support.forensics_data import write_dataset



@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A model trained by the CLI (no cross-validation) on a tiny synthetic data set."""
    folder = tmp_path_factory.mktemp("forensics-cli")
    manifest = write_dataset(folder / "data", 12)
    out = folder / "tiny.npz"
    code = cli.main(["train", "--data", str(manifest), "--out", str(out), "--no-cv", "--json"])
    assert code == 0
    return manifest, out


@pytest.mark.parametrize("argv", [pytest.param([c, "--help"], id=c) for c in ("detect", "train", "evaluate")])
def test_help_has_example(capsys, argv):
    """Each forensics command's --help ends with an example."""
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "example:\n  provenance " in out


def test_detect_json_list(capsys, tmp_path):
    """detect --json prints one object per file with p_ai, family_scores, model and top features in words."""
    paths = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(natural_image(256, 256, seed=20 + i)).save(p)
        paths.append(str(p))
    code, out, _ = run(capsys, "detect", *paths, "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["file"] for r in rows] == paths
    for r in rows:
        assert 0 <= r["p_ai"] <= 1 and r["model"].startswith("forensics-v2@")
        assert r["family_scores"] and all(isinstance(t["feature"], str) for t in r["top_features"])
    code, out, _ = run(capsys, "detect", paths[0])
    assert code == 0 and "p(AI-generated) =" in out


def test_detect_missing_and_corrupt_files_exit_1(capsys, tmp_path):
    """A missing or corrupt file is an error row and exit 1; the readable files are still reported."""
    good = tmp_path / "good.png"
    Image.fromarray(natural_image(128, 128, seed=5)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:200])
    code, out, _ = run(capsys, "detect", str(good), str(bad), str(tmp_path / "absent.jpg"), "--json")
    rows = json.loads(out)
    assert code == 1 and "p_ai" in rows[0] and "error" in rows[1] and "error" in rows[2]


def test_detect_wrong_feature_version_model_exit_1(capsys, tmp_path, tiny_model):
    """A model whose sidecar names another feature version is refused with exit 1 and a clear message."""
    _, model = tiny_model
    copy = tmp_path / "old.npz"
    copy.write_bytes(model.read_bytes())
    meta = json.loads(model.with_suffix(".json").read_text())
    meta["feature_version"] = "forensics-features/0"
    copy.with_suffix(".json").write_text(json.dumps(meta))
    img = tmp_path / "x.png"
    Image.fromarray(natural_image(128, 128, seed=6)).save(img)
    code, _, err = run(capsys, "detect", str(img), "--model", str(copy))
    assert code == 1 and "forensics-features/0" in err and "retrain" in err


def test_detect_usage_error_exit_2(capsys):
    """detect without files is a usage error."""
    code, _, err = run(capsys, "detect")
    assert code == 2 and "usage:" in err


def test_train_writes_model_and_sidecar(tiny_model):
    """train writes a .npz model and a sidecar with data summary, augmentation and hash."""
    _, model = tiny_model
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["trained_on"]["n_real"] == 12 and meta["trained_on"]["n_ai"] == 12
    assert "random quality" in meta["augmentation"] and meta["evaluation"] is None


def test_train_errors(capsys, tmp_path, tiny_model):
    """train: bad --out suffix is exit 2, a missing data folder or existing output is exit 1."""
    manifest, model = tiny_model
    code, _, err = run(capsys, "train", "--data", str(manifest), "--out", str(tmp_path / "m.pkl"))
    assert code == 2 and ".npz" in err
    code, _, err = run(capsys, "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.npz"))
    assert code == 1 and "no such file or folder" in err
    code, _, err = run(capsys, "train", "--data", str(manifest), "--out", str(model))
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "train", "--out", str(tmp_path / "m.npz"))
    assert code == 2


def test_evaluate_model_on_data(capsys, tmp_path, tiny_model):
    """evaluate prints AUC and TPR at fixed FPRs under the three conditions, and writes plots."""
    manifest, model = tiny_model
    code, out, _ = run(capsys, "evaluate", "--data", str(manifest), "--model", str(model), "--json",
                       "--plots", str(tmp_path / "plots"))
    assert code == 0
    report = json.loads(out)
    assert set(report["conditions"]) == {"stored", "jpeg65", "resize50"}
    assert all(0 <= r["auc"] <= 1 for r in report["conditions"].values())
    assert (tmp_path / "plots" / "detection-roc.png").stat().st_size > 1000
    code, _, err = run(capsys, "evaluate", "--data", str(manifest), "--model", str(tmp_path / "none.npz"))
    assert code == 1 and "no such model" in err
    code, _, _ = run(capsys, "evaluate", "--model", str(model))
    assert code == 2
