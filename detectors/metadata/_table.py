"""The ordered table of generator-metadata parsers (the first that recognises a file wins).

Like sd-parsers' parser list and Pillow's ``register_open``: one table, read by
:func:`read_image_metadata`, the docs and the contract tests. Order matters where formats
overlap: our own stamp also writes an A1111 ``parameters`` chunk, StableSwarmUI and Fooocus put
JSON in ``parameters``, so the specific readers come before the general A1111 one, and the pixel
scan for stealth (LSB) metadata comes last.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import ImageSources, extract_sources

ReadFunction = Callable[[LoadedImage, ImageSources], "GeneratorInfo | None"]


@dataclass(frozen=True)
class MetadataParser:
    """One entry of :data:`PARSERS`: a name and a function reading an image's extracted metadata."""

    name: str
    read: ReadFunction
    description: str = ""

    def parse(self, loaded: LoadedImage, *, sources: ImageSources | None = None) -> GeneratorInfo | None:
        """The generator settings this format holds in ``loaded``, or None when it holds none.

        ``sources`` lets a caller running several parsers extract the metadata once.
        """
        return self.read(loaded, sources if sources is not None else extract_sources(loaded))


#: The table, in the order parsers are tried.
PARSERS: list[MetadataParser] = []


def register_parser(name: str, read: ReadFunction, *, before: str | None = None,
                    description: str = "") -> MetadataParser:
    """Add a parser to :data:`PARSERS`, at the end or just before the parser named ``before``.

    ``read(loaded, sources)`` gets the decoded image and its extracted metadata (PNG text, EXIF,
    XMP) and returns a :class:`GeneratorInfo`, or None when the file is not in its format.
    """
    if any(p.name == name for p in PARSERS):
        raise ValueError(f"a metadata parser named {name!r} is already registered")
    parser = MetadataParser(name, read, description)
    if before is None:
        PARSERS.append(parser)
        return parser
    for index, existing in enumerate(PARSERS):
        if existing.name == before:
            PARSERS.insert(index, parser)
            return parser
    raise ValueError(f"no metadata parser named {before!r} to insert before "
                     f"(registered: {', '.join(p.name for p in PARSERS)})")
