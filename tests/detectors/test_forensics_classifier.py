"""The forensic classifier: train -> save -> load, feature-version and hash checks, the format
shortcut, metrics, and the shipped model's sidecar."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from support import natural_image
from detectors._classifier import (ARTIFACT_EXTRACTORS, ModelError, TrainConfig, load_model, save_model, sha256_file,
                                   train_model)
from detectors._dataset import TRAIN_CONDITIONS, feature_table, read_manifests
from detectors._evaluate import fit, roc_auc, threshold_at_fpr, tpr_at_fpr
from detectors.features import FEATURE_VERSION, feature_names
from detectors.forensics import DEFAULT_MODEL_PATH, analyze, load_default_model
from support.forensics_data import write_dataset

#: Boosted trees on the artifact features, small: the previous shipped kind of head.
FAST = TrainConfig(head="boosting", log_std=False, extractors=ARTIFACT_EXTRACTORS, max_iter=40, family_max_iter=20,
                   calibration_folds=2)


def _toy(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(feature_names())))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    fam = np.where(y == 1, np.where(x[:, 1] > 0, "famA", "famB"), "real")
    return x, y, fam, np.arange(n)


@pytest.fixture(scope="module")
def toy_model():
    x, y, fam, ids = _toy()
    return train_model(x, y, fam, ids, config=FAST), x


def test_train_save_load_identical_predictions(tmp_path, toy_model):
    """A saved and reloaded model predicts exactly what the fitted one did, and names itself by hash."""
    model, x = toy_model
    side = save_model(model, tmp_path / "toy.npz", extra={"note": "test"})
    loaded = load_model(tmp_path / "toy.npz")
    assert np.array_equal(loaded.predict_ai(x), model.predict_ai(x))
    assert np.array_equal(loaded.predict_family(x), model.predict_family(x))
    assert loaded.family_classes == ["famA", "famB"] or loaded.family_classes == ["unknown"]
    sidecar = json.loads(side.read_text())
    assert sidecar["sha256"] == sha256_file(tmp_path / "toy.npz") and sidecar["feature_version"] == FEATURE_VERSION
    assert loaded.id == f"toy@{sidecar['sha256'][:12]}"


def test_load_refuses_other_feature_version(tmp_path, toy_model):
    """A model built for another feature version fails to load with a message that says so."""
    model, _ = toy_model
    model.feature_version = "forensics-features/0"
    try:
        save_model(model, tmp_path / "old.npz")
    finally:
        model.feature_version = FEATURE_VERSION
    with pytest.raises(ModelError, match="built for features 'forensics-features/0'"):
        load_model(tmp_path / "old.npz")


def test_load_refuses_hash_mismatch_and_garbage(tmp_path, toy_model):
    """A model file that differs from its sidecar's hash, or is not a model at all, is a ModelError."""
    model, _ = toy_model
    save_model(model, tmp_path / "m.npz")
    side = tmp_path / "m.json"
    meta = json.loads(side.read_text())
    meta["sha256"] = "0" * 64
    side.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="does not match its sidecar"):
        load_model(tmp_path / "m.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable model"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(ModelError, match="no such model"):
        load_model(tmp_path / "absent.npz")


def test_metrics_known_answers():
    """AUC and TPR at a fixed FPR on hand-made scores, the threshold set on real scores only."""
    real = np.arange(100) / 100.0  # 0.00 .. 0.99
    ai = np.array([0.995, 0.5, 0.985, 0.2])
    s = np.concatenate([real, ai])
    y = np.r_[np.zeros(100, bool), np.ones(4, bool)]
    assert roc_auc(np.r_[0.1, 0.2, 0.8, 0.9], np.array([0, 0, 1, 1], bool)) == 1.0
    assert roc_auc(np.r_[0.5, 0.5], np.array([0, 1], bool)) == 0.5
    assert threshold_at_fpr(real, 0.01) == pytest.approx(0.98)  # one real photo (0.99) above it
    tpr, thr = tpr_at_fpr(s, y, 0.01)
    assert tpr == 0.5 and thr == pytest.approx(0.98)


@pytest.mark.slow
@pytest.mark.parametrize("config", [pytest.param(FAST, id="boosting-artifacts"),
                                    pytest.param(TrainConfig(), id="shipped-logistic-backbone")])
def test_format_shortcut_is_removed_by_augmentation(tmp_path, config):
    """Where format alone separates the training classes, a model trained without augmentation
    fails on format-swapped images, and the augmented training still ranks them correctly (for
    both kinds of head)."""
    train = read_manifests([write_dataset(tmp_path / "train", 24)])
    test = read_manifests([write_dataset(tmp_path / "swapped", 12, swap_formats=True, seed0=500)])
    tables, errors = feature_table(train, TRAIN_CONDITIONS)
    test_x = feature_table(test, ["stored"])[0]["stored"]
    assert not errors
    y_test = np.array([s.is_ai for s in test])
    idx = np.arange(len(train))
    stored = feature_table(train, ["stored"])[0]["stored"]
    naive = fit(train, {c: stored for c in TRAIN_CONDITIONS}, idx, config=config)
    augmented = fit(train, tables, idx, config=config)
    naive_auc = roc_auc(naive.predict_ai(test_x), y_test)
    augmented_auc = roc_auc(augmented.predict_ai(test_x), y_test)
    assert naive_auc < 0.6, naive_auc  # the shortcut is real in this data: format decides
    assert augmented_auc > 0.7, augmented_auc


def test_shipped_model_sidecar_matches_file():
    """The shipped model's sidecar records its sha256, feature version and evaluation; it loads and predicts."""
    sidecar = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
    assert sidecar["sha256"] == sha256_file(DEFAULT_MODEL_PATH)
    assert sidecar["feature_version"] == FEATURE_VERSION
    assert sidecar["feature_names"] == TrainConfig(**sidecar["train_config"]).input_names()
    assert sidecar["evaluation"]["kind"] == "grouped-cv"
    assert DEFAULT_MODEL_PATH.stat().st_size < 5_000_000
    result = analyze(natural_image(256, 256, seed=11), model=load_default_model())
    assert 0.0 <= result.p_ai <= 1.0 and result.model == f"forensics-v2@{sidecar['sha256'][:12]}"
    assert sum(result.family_scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert len(result.top_features) == 3 and all(t["feature"] for t in result.top_features)


def test_analyze_computes_only_what_the_model_reads():
    """The shipped model reads only the learned backbone: analyze skips every artifact extractor
    (same estimate, same explanation as from the full vector), and all_features computes every
    extractor again."""
    from detectors.features import UnknownExtractorError, extract_features, get_extractor

    model = load_default_model()
    used = model.extractors()
    assert used == ["backbone_lite0"]
    img = natural_image(300, 280, seed=4)
    full = extract_features(img)
    part = extract_features(img, extractors=used)
    names = feature_names()
    mine = set(get_extractor("backbone_lite0").names)
    skipped = [i for i, n in enumerate(names) if n not in mine]
    assert skipped and np.isnan(part[skipped]).all() and not np.isnan(full).any()
    keep = [i for i, n in enumerate(names) if n in mine]
    assert np.array_equal(part[keep], full[keep])
    fast, slow = analyze(img, model=model), analyze(img, model=model, all_features=True)
    assert fast.p_ai == slow.p_ai and fast.family_scores == slow.family_scores
    assert fast.top_features == slow.top_features
    assert set(slow.features) == set(names) and set(fast.features) == {names[i] for i in keep}
    with pytest.raises(UnknownExtractorError):
        extract_features(img, extractors=["no_such_extractor"])


def test_grouped_folds_keep_sources_apart_and_put_real_photos_in_every_fold():
    from pathlib import Path

    from detectors._dataset import Sample
    from detectors._evaluate import grouped_folds

    # Five real sources of very different sizes and many small generated ones: the layout of the
    # shared data set, where plain GroupKFold left two folds without a single real photo.
    sizes = {"real-a": 40, "real-b": 30, "real-c": 25, "real-d": 4, "real-e": 3}
    samples = [Sample(Path(f"{src}/{i}.png"), False, "real", src) for src, n in sizes.items() for i in range(n)]
    samples += [Sample(Path(f"gen-{g}/{i}.png"), True, "sd1", f"gen-{g}") for g in range(12) for i in range(3 + 2 * g)]
    folds = grouped_folds(samples, 5)
    assert len(folds) == 5
    covered = np.zeros(len(samples), dtype=int)
    for train, test in folds:
        covered[test] += 1
        assert not {samples[i].source for i in train} & {samples[i].source for i in test}
        assert any(not samples[i].is_ai for i in test) and any(samples[i].is_ai for i in test)
    assert (covered == 1).all()


def test_plain_head_reproduces_scikit_learn():
    """The exported arrays predict what the fitted scikit-learn heads predict, NaN features included."""
    from detectors._classifier import _calibrated
    from detectors._plain_model import export_head

    x, y, fam, ids = _toy(160, seed=3)
    x = x[:, :95]  # the artifact features' width: boosting on all 4,287 columns only costs time
    x[::17, 2] = np.nan
    binary = _calibrated(FAST, FAST.max_iter, x, y, ids)
    classes = np.array([{"real": 0, "famA": 1, "famB": 2}[f] for f in fam])
    family = _calibrated(FAST, FAST.family_max_iter, x, classes, ids)
    probe = np.vstack([x, np.random.default_rng(9).normal(size=(50, x.shape[1])) * 3])
    for head in (binary, family):
        np.testing.assert_allclose(export_head(head).predict_proba(probe), head.predict_proba(probe), rtol=0, atol=1e-12)


def test_load_refuses_object_arrays_and_broken_tables(tmp_path, toy_model):
    """A model file is plain arrays: an object (pickled) array or a node index out of range is refused."""
    import io
    import zipfile

    model, _ = toy_model
    save_model(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for name, change in (("pickled", {"reference": np.array([object()], dtype=object)}),
                         ("broken", {"binary/left": arrays["binary/left"] + 10**6})):
        buf = io.BytesIO()
        np.savez(buf, **{**arrays, **change})
        (tmp_path / f"{name}.npz").write_bytes(buf.getvalue())
        with pytest.raises(ModelError, match="not a readable model"):
            load_model(tmp_path / f"{name}.npz")
    assert zipfile.is_zipfile(tmp_path / "m.npz")


def test_balanced_training_does_not_learn_the_class_ratio():
    """Rows weighted so each class counts the same: with a 1:4 class ratio and features that say
    nothing, the balanced model's p_ai on new rows sits near 0.5, the unweighted one's near the
    training share of AI images (0.8). A fold's score level must not follow its class ratio."""
    from dataclasses import replace

    from detectors._classifier import training_weights

    y = np.array([0] * 10 + [1] * 40)
    w = training_weights(y)
    assert w[0] == pytest.approx(2.5) and w[-1] == pytest.approx(0.625) and w.sum() == pytest.approx(50)
    rng = np.random.default_rng(7)
    n = 200
    x = rng.normal(size=(n, len(feature_names())))
    y = (rng.random(n) < 0.8).astype(int)
    fam = np.where(y == 1, "famA", "real")
    new = rng.normal(size=(100, x.shape[1]))
    means = {}
    for balance in (True, False):
        model = train_model(x, y, fam, np.arange(n), config=replace(FAST, balance_classes=balance), binary_only=True)
        means[balance] = float(np.mean(model.binary.predict_proba(new)[:, 1]))
    assert abs(means[True] - 0.5) < 0.1 and abs(means[False] - 0.8) < 0.1, means


def test_source_weights_give_big_sources_less_say():
    """With source_power 0.5 a source of 100 rows weighs 10x one row each, not 100x, and the
    classes still total the same; power 0 is plain class balancing."""
    from detectors._classifier import training_weights

    y = np.array([1] * 100 + [1] * 4 + [0] * 50)
    src = np.array(["big"] * 100 + ["small"] * 4 + ["cam"] * 50)
    w = training_weights(y, src, source_power=0.5)
    assert w[:100].sum() / w[100:104].sum() == pytest.approx(10 / 2)  # sqrt(100) vs sqrt(4)
    assert w[y == 1].sum() == pytest.approx(w[y == 0].sum())
    assert np.allclose(training_weights(y, src, source_power=0.0), training_weights(y))
    assert training_weights(y, balance=False) is None
    with pytest.raises(ValueError):
        TrainConfig(source_power=2.0)
    with pytest.raises(ValueError):
        TrainConfig(family_source_power=-0.5)


def test_each_head_has_its_own_source_power():
    """``source_power`` weights the binary head's rows, ``family_source_power`` the family
    head's: changing one leaves the other head exactly as it was."""
    x, y, fam, ids = _toy(160, seed=3)
    src = np.where(np.arange(160) < 100, "big", np.where(np.arange(160) < 130, "mid", "small"))
    new = np.random.default_rng(4).normal(size=(50, x.shape[1]))
    cols = FAST.input_names()
    from detectors._classifier import _columns

    def heads(**kw):
        m = train_model(x, y, fam, ids, config=replace(FAST, **kw), sources=src)
        z = new[:, _columns(cols)]
        return m.binary.predict_proba(z)[:, 1], m.family.predict_proba(z)

    b0, f0 = heads(source_power=0.0, family_source_power=0.0)
    b1, f1 = heads(source_power=0.5, family_source_power=0.0)
    b2, f2 = heads(source_power=0.0, family_source_power=0.5)
    assert np.array_equal(f0, f1) and not np.allclose(b0, b1)
    assert np.array_equal(b0, b2) and not np.allclose(f0, f2)


def test_model_inputs_are_the_configured_extractors(tmp_path):
    """The heads see only the configured extractors' columns (jpeg_traces is left out by
    default), take full feature vectors, and a saved model with reordered names is refused."""
    from detectors.features import get_extractor

    cfg = FAST
    assert "jpeg_traces" not in cfg.extractors and TrainConfig().extractors == ("backbone_lite0",)
    names = cfg.input_names()
    assert not set(get_extractor("jpeg_traces").names) & set(names)
    x, y, fam, ids = _toy()
    model = train_model(x, y, fam, ids, config=FAST)
    assert model.feature_names == names and model.reference.shape == (len(names),)
    # Changing a left-out column changes nothing.
    jpeg_cols = [feature_names().index(n) for n in get_extractor("jpeg_traces").names]
    x2 = x.copy()
    x2[:, jpeg_cols] = 1e6
    assert np.array_equal(model.predict_ai(x2), model.predict_ai(x))
    with pytest.raises(ModelError, match="expected rows of"):
        model.predict_ai(x[:, :10])
    model.feature_names = list(reversed(names))
    save_model(model, tmp_path / "reordered.npz")
    with pytest.raises(ModelError, match="built for features"):
        load_model(tmp_path / "reordered.npz")


def test_condition_too_small_skips_only_that_condition(tmp_path):
    """An image whose 50% resize is too small to analyse keeps its other conditions (NaN only
    under resize50); an image too small as stored is an error."""
    from support import natural_image as nat
    from detectors._dataset import sample_features
    from provenance import ImageTooSmallError

    Image.fromarray(nat(200, 200, seed=3)).save(tmp_path / "small.png")
    feats = sample_features(tmp_path / "small.png", ["stored", "jpeg65", "resize50"])
    assert np.isfinite(feats["stored"]).all() and np.isfinite(feats["jpeg65"]).all()
    assert np.isnan(feats["resize50"]).all()
    Image.fromarray(nat(100, 100, seed=3)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageTooSmallError):
        sample_features(tmp_path / "tiny.png", ["stored"])


LOGISTIC = TrainConfig(head="logistic", C=0.05, extractors=("texture_colour", "cross_channel"))


def test_linear_head_reproduces_scikit_learn():
    """The exported linear heads (binary and multinomial) predict what StandardScaler +
    LogisticRegression predict."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from detectors._plain_model import export_linear

    x, y, fam, _ = _toy(160, seed=3)
    x = x[:, :30]
    probe = np.vstack([x, np.random.default_rng(9).normal(size=(50, x.shape[1])) * 3])
    classes = np.array([{"real": 0, "famA": 1, "famB": 2}[f] for f in fam])
    for target in (y, classes):
        scaler = StandardScaler().fit(x)
        lr = LogisticRegression(C=0.1, max_iter=2000).fit(scaler.transform(x), target)
        np.testing.assert_allclose(export_linear(scaler, lr).predict_proba(probe),
                                   lr.predict_proba(scaler.transform(probe)), rtol=0, atol=1e-12)


def test_logistic_model_train_save_load_identical_predictions(tmp_path):
    """A logistic model saved and reloaded predicts exactly what the fitted one did; its sidecar
    hash is checked and a changed coefficient table is refused."""
    x, y, fam, ids = _toy()
    x[:, [feature_names().index(n) for n in LOGISTIC.input_names()[:3]]] += y[:, None] * 1.5
    model = train_model(x, y, fam, ids, config=LOGISTIC)
    assert model.family is not None and model.feature_names == LOGISTIC.input_names()
    side = save_model(model, tmp_path / "lin.npz", extra={"train_config": LOGISTIC.to_dict()})
    loaded = load_model(tmp_path / "lin.npz")
    assert np.array_equal(loaded.predict_ai(x), model.predict_ai(x))
    assert np.array_equal(loaded.predict_family(x), model.predict_family(x))
    assert roc_auc(loaded.predict_ai(x), y) > 0.8
    assert json.loads(side.read_text())["sha256"] == sha256_file(tmp_path / "lin.npz")
    assert len(loaded.explain(x[0])) == 3
    with np.load(tmp_path / "lin.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    import io

    buf = io.BytesIO()
    np.savez(buf, **{**arrays, "binary/coef": arrays["binary/coef"][:, :-1]})
    (tmp_path / "cut.npz").write_bytes(buf.getvalue())
    with pytest.raises(ModelError, match="not a readable model"):
        load_model(tmp_path / "cut.npz")
