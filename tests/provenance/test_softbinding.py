"""The soft-binding algorithm table: values round-trip through base64, bad values are typed
errors, and the ISCC Image-Code keeps a resized or re-encoded copy near and other images far."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from provenance._softbinding import (ISCC_ALG, ISCC_MAX_DISTANCE, PDQ_ALG, SoftBindingError, algorithms,
                                     get_algorithm, iscc_image_code)
from support import natural_image


def test_every_algorithm_round_trips_its_value():
    """key(value(k)) == k for a watermark id, a PDQ hash and an ISCC code."""
    samples = {"org.provenance.watermark.provenanceWM": "0123456789abcdef", PDQ_ALG: "ab" * 32,
               ISCC_ALG: iscc_image_code(natural_image(256, 256, seed=1))}
    table = algorithms()
    for alg, key in samples.items():
        assert table[alg].key(table[alg].value(key)) == key


@pytest.mark.parametrize("alg, value", [
    pytest.param("org.provenance.watermark.provenanceWM", "!!!!", id="not-base64"),
    pytest.param("org.provenance.watermark.provenanceWM", "A" * 300, id="too-long"),
    pytest.param(PDQ_ALG, "AAAA", id="pdq-wrong-length"),
    pytest.param(ISCC_ALG, "aGVsbG8=", id="iscc-not-a-code"),
])
def test_bad_values_are_typed_errors(alg, value):
    """A value that is not valid for its algorithm is a SoftBindingError, never another exception."""
    with pytest.raises(SoftBindingError):
        get_algorithm(alg).key(value)


def test_iscc_image_code_threshold_separates_copies_from_other_images():
    """On 8 synthetic images: 50% resizes and JPEG q80 copies within 2 bits, different images 20+
    bits apart; the threshold (8) lies between (a handful of images, not a calibration)."""
    alg = get_algorithm(ISCC_ALG)
    images = [natural_image(512, 512, seed=s) for s in range(8)]
    codes = [iscc_image_code(im) for im in images]
    near = []
    for im, code in zip(images, codes):
        pil = Image.fromarray(im)
        buf = io.BytesIO()
        pil.save(buf, "JPEG", quality=80)
        for copy in (np.asarray(pil.resize((256, 256), Image.LANCZOS)), np.asarray(Image.open(buf).convert("RGB"))):
            near.append(alg.distance(code, iscc_image_code(copy)))
    far = [alg.distance(a, b) for i, a in enumerate(codes) for b in codes[i + 1:]]
    assert max(near) <= 2 < ISCC_MAX_DISTANCE < 20 <= min(far)
