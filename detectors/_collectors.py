"""The detectors' collectors for verify: generator and camera metadata, the public Stable Diffusion
watermarks, and the forensic classifier.

They join the verify collector table through the ``provenance.collectors`` entry-point group
(pyproject.toml), so ``provenance/`` never imports this package. Importing this module is cheap:
each collector imports its parsers, detectors or model when it first runs or warms up.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from provenance import ImageTooSmallError, LoadedImage
from provenance.collectors import CollectContext

#: A classifier speaks in the verdict only if its grouped cross-validation ROC AUC (as stored, from
#: the model's sidecar) reaches this; otherwise its estimate is reported but decides nothing.
MIN_VALIDATED_AUC = 0.85
#: The family head names a family only if, in that cross-validation, it named at least this share
#: of that family's images correctly (as stored).
MIN_FAMILY_ACCURACY = 0.7


class MetadataCollector:
    """EXIF, XMP/IPTC and generator metadata, from the bytes (pixels not needed)."""

    name = member = "metadata"
    order = 30

    def absent(self, ctx: CollectContext) -> None:
        return None

    def collect(self, ctx: CollectContext) -> dict:
        from .metadata import read_image_metadata

        image = ctx.image if ctx.image is not None else \
            LoadedImage(path=None, format=ctx.format, rgb=np.zeros((0, 0, 3), dtype=np.uint8), data=ctx.data)
        return read_image_metadata(image).to_dict()

    def fingerprint(self, options) -> str:
        from .metadata import PARSERS

        return ",".join(p.name for p in PARSERS)

    def warm_up(self, options) -> None:
        from . import metadata  # noqa: F401


class PublicWatermarkCollector:
    """The public invisible watermarks of Stable Diffusion 1.x, 2 and SDXL (their fixed payloads)."""

    name = "public_watermarks"
    member = "watermarks"
    order = 21

    def absent(self, ctx: CollectContext) -> list | None:
        return [] if ctx.image is None else None

    def collect(self, ctx: CollectContext) -> list:
        from .sd_watermarks import detect_public_marks

        return [replace(m, kind="public") for m in detect_public_marks(ctx.image.rgb)]

    def fingerprint(self, options) -> str:
        from .sd_watermarks import PUBLIC_MARKS

        return ",".join(m.scheme for m in PUBLIC_MARKS)

    def warm_up(self, options) -> None:
        from . import sd_watermarks  # noqa: F401


def family_accuracies(evaluation: dict) -> dict[str, float]:
    """Per family, the share of its images the family head named correctly in the sidecar's
    grouped cross-validation, as stored (rows of the confusion matrix)."""
    conf = (evaluation.get("confusion") or {}).get("stored") or {}
    out = {}
    for label, row in zip(conf.get("labels", []), conf.get("matrix", [])):
        total = sum(row)
        if total:
            out[label] = row[conf["labels"].index(label)] / total
    return out


def forensic_levels(evaluation: dict) -> dict | None:
    """The two levels a validated classifier decides at, from its sidecar's grouped cross-validation
    (as stored): ``ai`` flags at most 1% of real photos (``ai_fpr``; ``ai_tpr`` of generated images
    reach it), ``camera`` lets at most 1% of generated images under it (``camera_miss``; ``camera_tnr``
    of real photos are under it). None when the sidecar does not record them."""
    stored = (evaluation.get("conditions") or {}).get("stored") or {}
    ai, cam = stored.get("threshold_at_1pct_fpr"), stored.get("threshold_at_1pct_miss")
    if ai is None or cam is None:
        return None
    return {"ai": ai, "ai_fpr": 0.01, "ai_tpr": stored.get("tpr_at_1pct_fpr"),
            "camera": cam, "camera_miss": 0.01, "camera_tnr": stored.get("tnr_at_1pct_miss")}


class ForensicsCollector:
    """The forensic classifier's estimate, with what its own validation allows it to say."""

    name = member = "forensics"
    order = 50

    def absent(self, ctx: CollectContext) -> dict | None:
        if not ctx.options.forensics:
            return {"status": "absent", "reason": "forensics disabled"}
        if ctx.image is None:
            return {"status": "absent", "reason": "the pixels did not decode"}
        return None

    def collect(self, ctx: CollectContext) -> dict:
        from . import forensics

        model = forensics.load_default_model()
        try:
            result = forensics.analyze(ctx.image.rgb, model=model)
        except ImageTooSmallError as e:  # a thumbnail: nothing to estimate, nothing went wrong
            return {"status": "absent", "reason": str(e)}
        evaluation = model.sidecar.get("evaluation") or {}
        auc = ((evaluation.get("conditions") or {}).get("stored") or {}).get("auc")
        validated = auc is not None and auc >= MIN_VALIDATED_AUC
        family_acc = family_accuracies(evaluation).get(result.family)
        out = {"status": "estimate", **result.to_dict(),
               "family": result.family if family_acc is not None and family_acc >= MIN_FAMILY_ACCURACY
               and result.family != "unknown" else None,
               "family_validation_accuracy": family_acc, "validation_auc": auc, "validated": validated}
        if validated:
            out["levels"] = forensic_levels(evaluation)
        return out

    def fingerprint(self, options) -> str | bool:
        """The feature version and the shipped model file's sha256: a new model invalidates cached forensics."""
        if not options.forensics:
            return False
        from . import forensics

        path = Path(forensics.DEFAULT_MODEL_PATH)
        parts = [str(forensics.FEATURE_VERSION)]
        if path.is_file():
            parts.append(hashlib.sha256(path.read_bytes()).hexdigest())
        return ":".join(parts)

    def warm_up(self, options) -> None:
        if options.forensics:
            from .forensics import prepare

            prepare()  # the model and the backbone network it reads


METADATA = MetadataCollector()
PUBLIC_WATERMARKS = PublicWatermarkCollector()
FORENSICS = ForensicsCollector()
