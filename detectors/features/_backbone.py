"""Learned features: a frozen ImageNet EfficientNet-Lite0 (``detectors/backbone``) on the four
224x224 tiles of the central 448x448 pixels, at native resolution (never resized), pooled as the
mean and standard deviation of every channel of the stem, of each stage and of the head.

Why: hand-made artifact statistics stopped at a grouped-CV AUC of ~0.71 on five real sources;
the early layers of a network trained on natural photos respond to demosaicing, sensor noise,
sharpening and up-sampling texture, the late ones to what a scene and its rendering look like,
and a linear head over both generalises across sources far better (docs/DETECTION.md).
"""
from __future__ import annotations

import numpy as np

from detectors.backbone import TAPS, backbone_features, feature_labels

NAMES = tuple(feature_labels())
_WORDS = {"stem": "the network's stem (finest pixel texture)", "head": "the network's head (what the image looks like)"}
FACETS = {f"cnn_{t}_": "learned features of " + _WORDS.get(t, "the network's " + t.replace("stage", "stage "))
          for t in TAPS}
CROP = 224


def backbone(crops: list[np.ndarray]) -> np.ndarray:
    return backbone_features(crops)
