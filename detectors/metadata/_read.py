"""The metadata collector: one pass over a decoded image's metadata, never raising on bad input."""
from __future__ import annotations

import logging

from provenance import LoadedImage

from ._camera import exif_tags, summarize_exif, summarize_xmp
from ._model import MetadataEvidence
from ._table import PARSERS
from ._sources import XMP_KEY, extract_sources

log = logging.getLogger(__name__)


def read_image_metadata(loaded: LoadedImage) -> MetadataEvidence:
    """Camera EXIF, XMP/IPTC and generator settings of ``loaded``, with an ``errors`` entry per fault.

    The first parser in :data:`PARSERS` that recognises the file gives ``generator``. Hostile input
    (malformed EXIF, oversized or zip-bomb text, XML with entities, JSON nested too deeply) yields
    ``errors`` entries; what could be read is still reported.
    """
    src = extract_sources(loaded)
    evidence = MetadataEvidence(
        exif=summarize_exif(src),
        xmp=summarize_xmp(src),
        errors=src.errors,
        exif_tags=exif_tags(src),
        xmp_properties=dict(src.xmp),
        text_chunks={k: v for k, v in src.text.items() if k != XMP_KEY},
    )
    for parser in list(PARSERS):
        try:
            info = parser.parse(loaded, sources=src)
        except Exception as e:  # one broken parser must not cost the other evidence; tests fail on these
            log.debug("metadata parser %s failed", parser.name, exc_info=True)
            evidence.errors.append(f"internal error in metadata parser {parser.name}: {type(e).__name__}: {e}")
            continue
        if info is not None:
            evidence.generator = info
            break
    return evidence
