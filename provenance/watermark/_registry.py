"""The table of watermark methods. The CLI's choices, the docs and the contract tests read it."""
from __future__ import annotations

from .._errors import UnknownMethodError
from ._base import WatermarkMethod
from ._imwatermark import DwtDct, DwtDctSvd, RivaGan
from ._wm_method import ProvenanceWM

_METHODS: dict[str, WatermarkMethod] = {}

#: Used by ``stamp``, ``generate`` and ``watermark embed`` when no ``--method`` is given.
DEFAULT_METHOD = "provenanceWM"


def register_method(method: WatermarkMethod) -> WatermarkMethod:
    """Add a method to the registry (its ``name`` must be new)."""
    if method.name in _METHODS:
        raise ValueError(f"watermark method {method.name!r} is already registered")
    _METHODS[method.name] = method
    return method


def get_method(name: str) -> WatermarkMethod:
    try:
        return _METHODS[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown watermark method {name!r}; registered: {', '.join(_METHODS)}"
        ) from None


def method_names() -> list[str]:
    """Registered method names, in registration order."""
    return list(_METHODS)


for _m in (DwtDctSvd(), DwtDct(), RivaGan(), ProvenanceWM()):
    register_method(_m)
