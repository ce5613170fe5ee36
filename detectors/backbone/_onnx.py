"""A minimal writer of ONNX model files (the protobuf wire format, for the few message types a
plain convolutional graph needs), so that the backbone's graph can be built at load time from
code and the weight package's tensors, with nothing but numpy: no ``onnx`` package, no graph file
in the repository, and the runtime (onnxruntime, or OpenCV's ``cv2.dnn``) reads it from memory.

Field numbers follow ``onnx/onnx.proto`` (proto2: repeated scalars are written unpacked).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

IR_VERSION = 7
OPSET = 13
_FLOAT, _INT64 = 1, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType


def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # negative int64 as its two's complement, ten bytes
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num: int, wire: int) -> bytes:
    return _varint((num << 3) | wire)


def _int(num: int, v: int) -> bytes:
    return _key(num, 0) + _varint(int(v))


def _bytes(num: int, payload: bytes) -> bytes:
    return _key(num, 2) + _varint(len(payload)) + payload


def _str(num: int, s: str) -> bytes:
    return _bytes(num, s.encode())


def _float(num: int, v: float) -> bytes:
    return _key(num, 5) + struct.pack("<f", v)


def tensor(name: str, array: np.ndarray) -> bytes:
    """A TensorProto (float32 or int64) with its values as raw little-endian bytes."""
    a = np.ascontiguousarray(array)
    if a.dtype == np.float32 or a.dtype == np.float64:
        a, dtype = a.astype("<f4"), _FLOAT
    elif a.dtype.kind in "iu":
        a, dtype = a.astype("<i8"), _INT64
    else:
        raise TypeError(f"unsupported tensor dtype {a.dtype}")
    return b"".join(_int(1, d) for d in a.shape) + _int(2, dtype) + _str(8, name) + _bytes(9, a.tobytes())


def _attribute(name: str, value) -> bytes:
    if isinstance(value, float):
        return _str(1, name) + _float(2, value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, int):
        return _str(1, name) + _int(3, value) + _int(20, _ATTR_INT)
    if isinstance(value, (list, tuple)):
        return _str(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    raise TypeError(f"unsupported attribute {name}={value!r}")


def _value_info(name: str, shape: tuple) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _str(2, d)) for d in shape)
    tensor_type = _int(1, _FLOAT) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


@dataclass
class Graph:
    """Nodes and initializers added in order; :meth:`model_bytes` serialises a ModelProto."""

    name: str
    nodes: list[bytes] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    _count: int = 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(tensor(name, array))
        return name

    def node(self, op: str, inputs: list[str], *, name: str | None = None, **attrs) -> str:
        self._count += 1
        out = name or f"{op.lower()}_{self._count}"
        body = b"".join(_str(1, i) for i in inputs) + _str(2, out) + _str(3, out) + _str(4, op)
        body += b"".join(_bytes(5, _attribute(k, v)) for k, v in attrs.items())
        self.nodes.append(body)
        return out

    def model_bytes(self, inputs: dict[str, tuple], outputs: dict[str, tuple], *, producer: str) -> bytes:
        graph = b"".join(_bytes(1, n) for n in self.nodes) + _str(2, self.name)
        graph += b"".join(_bytes(5, t) for t in self.initializers)
        graph += b"".join(_bytes(11, _value_info(k, v)) for k, v in inputs.items())
        graph += b"".join(_bytes(12, _value_info(k, v)) for k, v in outputs.items())
        opset = _str(1, "") + _int(2, OPSET)
        return _int(1, IR_VERSION) + _str(2, producer) + _bytes(7, graph) + _bytes(8, opset)
