"""Fixtures of the service tests: a registry holding real stamps (manifest stores and bindings)."""
from __future__ import annotations

import pytest
from PIL import Image

from support import natural_image


@pytest.fixture
def stamped(tmp_path, identity):
    """A stamped PNG, recorded (with its manifest store) in a registry of its own: (path, result, registry path)."""
    from provenance import GenerationRecord, Registry, stamp_file

    src = tmp_path / "src.png"
    Image.fromarray(natural_image(512, 512, seed=11)).save(src)
    reg_path = tmp_path / "service.sqlite"
    with Registry(reg_path) as reg:
        result = stamp_file(src, tmp_path / "stamped.png", identity=identity, registry=reg,
                            record=GenerationRecord(model="sdxl-base-1.0", seed=7, prompt="a lighthouse"))
    return tmp_path / "stamped.png", result, reg_path
