"""The plugin tables (watermark methods, feature extractors): one name once, typed lookups, order."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from detectors.features import UnknownExtractorError, extractor_names, get_extractor, register_extractor
from provenance import UnknownMethodError
from provenance.watermark import get_method, method_names, register_method


@pytest.mark.parametrize("names, get, register, unknown, kind", [
    pytest.param(method_names, get_method, register_method, UnknownMethodError, "watermark method", id="methods"),
    pytest.param(extractor_names, get_extractor, register_extractor, UnknownExtractorError, "feature extractor",
                 id="extractors"),
])
def test_a_name_is_registered_once_and_lookups_name_what_is_there(names, get, register, unknown, kind):
    """A second entry under a taken name is refused and changes nothing; an unknown name raises the
    table's typed error listing every registered name, in registration order."""
    before = names()
    first = get(before[0])
    with pytest.raises(ValueError, match=f"^{kind} '{before[0]}' is already registered$"):
        register(first)
    assert names() == before and get(before[0]) is first
    with pytest.raises(unknown, match=f"^unknown {kind} 'nope'; registered: {', '.join(before)}$"):
        get("nope")


def test_extractor_checks_run_after_the_name_check_and_store_nothing():
    """A taken name is reported before a feature-name clash; a new name whose features clash, or
    whose scale is not 1, 2 or 4, is refused and not stored."""
    taken = get_extractor("cfa_correlation")
    with pytest.raises(ValueError, match="already registered$"):
        register_extractor(dataclasses.replace(taken, scale=3))
    with pytest.raises(ValueError, match="^feature names already registered"):
        register_extractor(dataclasses.replace(taken, name="copy_of_cfa"))
    fresh = dataclasses.replace(taken, name="odd_scale", names=("odd_scale_x",), facets={"odd_scale": "x"},
                                func=lambda rgb: np.zeros(1), scale=3)
    with pytest.raises(ValueError, match="scale must be 1, 2 or 4"):
        register_extractor(fresh)
    assert "copy_of_cfa" not in extractor_names() and "odd_scale" not in extractor_names()
