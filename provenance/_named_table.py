"""A table of named plugins in registration order: the watermark methods, the feature extractors.

One shape for both (sd-parsers' parser list, Pillow's ``register_open``): a name is registered
once, looked up with a typed error that lists what is registered, and listed in the order it came
(the CLI's choices, the docs, the contract tests and the feature-vector order read that order).
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from ._errors import ProvenanceError

T = TypeVar("T")


class NamedTable(Generic[T]):
    """``kind`` names the entries in messages ("watermark method"); ``unknown`` is the error a
    lookup of a name that is not registered raises."""

    def __init__(self, kind: str, unknown: type[ProvenanceError]) -> None:
        self.kind = kind
        self._unknown = unknown
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, check: Callable[[T], None] | None = None) -> T:
        """Register ``entry`` under a new ``name``; ``check`` (run after the name is found new,
        before anything is stored) raises ``ValueError`` on an entry the table must refuse."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if check is not None:
            check(entry)
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise self._unknown(f"unknown {self.kind} {name!r}; registered: {', '.join(self._entries)}") from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def entries(self) -> list[T]:
        """Registered entries, in registration order."""
        return list(self._entries.values())
