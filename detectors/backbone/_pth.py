"""Reading PyTorch weight files without PyTorch and without running arbitrary pickles.

A ``.pth`` state dict is a pickle whose tensors point at raw storages: in the zip format
(``torch.save`` since 1.6) ``data.pkl`` plus one ``data/N`` entry per storage; in the legacy
format (the EfficientNet-Lite0 wheel's file) a run of pickles followed by the storages, each with
an 8-byte element count. The pickle itself is read by an :class:`pickle.Unpickler` whose
``find_class`` allows only what a state dict holds (an ``OrderedDict``, the tensor-rebuild
function, the storage types), mapped to numpy stand-ins, like ``torch.load(weights_only=True)``:
any other global in the file is refused, so no code from the file ever runs.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provenance import ProvenanceError


class WeightsError(ProvenanceError):
    """A weight file cannot be read: missing, damaged, or holding more than plain tensors."""


#: torch storage class name -> numpy dtype (little-endian, as torch writes them on every platform we run).
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"), "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"), "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclass
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None  # filled once the storage bytes are read


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise WeightsError(f"storage {self.storage.key} was never read")
        n = int(np.prod(self.shape)) if self.shape else 1
        if self.offset < 0 or any(s < 0 for s in self.stride):
            raise WeightsError("negative offset or stride")
        last = self.offset + sum((d - 1) * s for d, s in zip(self.shape, self.stride)) if n else self.offset
        if n and last >= len(data):
            raise WeightsError("a tensor reaches past the end of its storage")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.shape,
                                               strides=tuple(s * item for s in self.stride), writeable=False)
        return np.array(view)  # a contiguous copy, independent of the file's buffer


def _rebuild_tensor_v2(storage, offset, shape, stride, requires_grad=False, hooks=None, metadata=None):
    if not isinstance(storage, _StorageRef):
        raise WeightsError("a tensor without a storage")
    return _TensorRef(storage, int(offset), tuple(int(d) for d in shape), tuple(int(s) for s in stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only dicts, lists, numbers, strings and tensor references; refuses every other global."""

    def __init__(self, fh, storages: dict[str, _StorageRef]):
        super().__init__(fh)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise WeightsError(f"the weight file refers to {module}.{name}, which a plain state dict never holds")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage" or not isinstance(pid[1], _StorageType):
            raise WeightsError(f"unexpected persistent id {pid!r:.80}")
        key = str(pid[2])
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(key, pid[1].dtype, int(pid[4]))
        return ref


def _arrays(obj) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise WeightsError(f"not a state dict (a {type(obj).__name__})")
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, _TensorRef):
            raise WeightsError(f"state dict entry {k!r:.60} is not a tensor")
        out[k] = v.array()
    return out


def _read_zip(data: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise WeightsError("a zip weight file without exactly one data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict[str, _StorageRef] = {}
        obj = _RestrictedUnpickler(io.BytesIO(z.read(pkl[0])), storages).load()
        for key, ref in storages.items():
            raw = z.read(f"{prefix}data/{key}")
            if len(raw) < ref.numel * ref.dtype.itemsize:
                raise WeightsError(f"storage {key} is shorter than its tensors")
            ref.data = np.frombuffer(raw, dtype=ref.dtype, count=ref.numel)
    return _arrays(obj)


def _read_legacy(data: bytes) -> dict[str, np.ndarray]:
    fh = io.BytesIO(data)
    storages: dict[str, _StorageRef] = {}
    if _RestrictedUnpickler(fh, storages).load() != _LEGACY_MAGIC:
        raise WeightsError("not a PyTorch weight file (bad magic number)")
    _RestrictedUnpickler(fh, storages).load()  # protocol version
    _RestrictedUnpickler(fh, storages).load()  # sys info: endianness, type sizes
    obj = _RestrictedUnpickler(fh, storages).load()
    keys = _RestrictedUnpickler(fh, storages).load()
    if not isinstance(keys, list):
        raise WeightsError("damaged storage list")
    for key in keys:
        ref = storages.get(str(key))
        if ref is None:
            raise WeightsError(f"storage {key} is listed but never used")
        head = fh.read(8)
        if len(head) != 8:
            raise WeightsError("the file ends inside its storages")
        (numel,) = struct.unpack("<q", head)
        size = numel * ref.dtype.itemsize
        raw = fh.read(size)
        if numel < ref.numel or len(raw) != size:
            raise WeightsError(f"storage {key} is truncated")
        ref.data = np.frombuffer(raw, dtype=ref.dtype)
    return _arrays(obj)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state-dict file as numpy arrays, read without PyTorch and without
    executing anything from the file (either of torch's two formats)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise WeightsError(f"{path}: cannot read ({e.strerror or e})") from e
    try:
        if data[:4] == b"PK\x03\x04":
            return _read_zip(data)
        return _read_legacy(data)
    except WeightsError as e:
        raise WeightsError(f"{path}: {e}") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, zipfile.BadZipFile,
            struct.error, AttributeError) as e:
        raise WeightsError(f"{path}: not a readable PyTorch weight file ({type(e).__name__}: {e})") from e
