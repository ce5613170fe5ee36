"""The table of watermark methods. The CLI's choices, the docs and the contract tests read it."""
from __future__ import annotations

from .._errors import UnknownMethodError
from .._named_table import NamedTable
from ._base import WatermarkMethod
from ._imwatermark import DwtDct, DwtDctSvd, RivaGan
from ._wm_method import ProvenanceWM

_METHODS: NamedTable[WatermarkMethod] = NamedTable("watermark method", UnknownMethodError)

#: Used by ``stamp``, ``generate`` and ``watermark embed`` when no ``--method`` is given.
DEFAULT_METHOD = "provenanceWM"


def register_method(method: WatermarkMethod) -> WatermarkMethod:
    """Add a method to the table (its ``name`` must be new)."""
    return _METHODS.add(method.name, method)


def get_method(name: str) -> WatermarkMethod:
    return _METHODS.get(name)


def method_names() -> list[str]:
    """Registered method names, in registration order."""
    return _METHODS.names()


for _m in (DwtDctSvd(), DwtDct(), RivaGan(), ProvenanceWM()):
    register_method(_m)
