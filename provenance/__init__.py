"""provenance: stamp images with watermarks and signed Content Credentials, and check where images came from."""
from __future__ import annotations

import logging

from ._c2pa import ManifestReport, read_manifest
from ._errors import (
    DataFileError,
    ImageError,
    ImageTooSmallError,
    KeyNotFoundError,
    MissingDependencyError,
    OutputError,
    OutputExistsError,
    ParamsError,
    PassphraseError,
    ProvenanceError,
    RegistryError,
    SigningError,
    SigningKeyError,
    UnknownMethodError,
)
from ._imageio import load_image
from ._keys import SigningIdentity, describe_keys, import_keys, init_keys, load_identity
from ._payload import new_content_id
from ._record import GenerationRecord, Lora
from ._registry import Registry, StampRecord
from ._stamp import StampResult, stamp_file, stamp_image
from ._version import __version__
from .watermark import WatermarkResult, detect_watermarks, embed_watermark

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DataFileError",
    "GenerationRecord",
    "ImageError",
    "ImageTooSmallError",
    "KeyNotFoundError",
    "Lora",
    "ManifestReport",
    "MissingDependencyError",
    "OutputError",
    "OutputExistsError",
    "ParamsError",
    "PassphraseError",
    "ProvenanceError",
    "Registry",
    "RegistryError",
    "SigningError",
    "SigningIdentity",
    "SigningKeyError",
    "StampRecord",
    "StampResult",
    "UnknownMethodError",
    "WatermarkResult",
    "__version__",
    "describe_keys",
    "detect_watermarks",
    "embed_watermark",
    "import_keys",
    "init_keys",
    "load_identity",
    "load_image",
    "new_content_id",
    "read_manifest",
    "stamp_file",
    "stamp_image",
]
