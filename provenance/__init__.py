"""provenance: stamp images with watermarks and signed Content Credentials, and check where images came from.

The public names below are loaded on first use (PEP 562): ``import provenance`` costs nothing, and
a package that needs only the base (errors, image decoding: ``detectors``) does not load
c2pa-python, cryptography or SQLite with it.
"""
from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Public name -> the module (relative to this package) that defines it.
_EXPORTS = {
    # errors
    **dict.fromkeys(("DataFileError", "ImageError", "ImageTooSmallError", "KeyNotFoundError",
                     "MissingDependencyError", "OutputError", "OutputExistsError", "ParamsError", "PassphraseError",
                     "ProvenanceError", "RegistryError", "SigningError", "SigningKeyError", "UnknownMethodError",
                     "TrustListError", "UnsafeOutputError"), "._errors"),
    # images
    **dict.fromkeys(("LoadedImage", "MAX_PIXELS", "atomic_write", "check_output_path", "decode_image",
                     "format_for_suffix", "load_image", "sniff_format"), "._imageio"),
    "encode_image": "._metadata",
    **dict.fromkeys(("dumps_json", "printable"), "._text"),
    # keys, trust
    **dict.fromkeys(("SigningIdentity", "describe_keys", "import_keys", "init_keys", "load_identity"), "._keys"),
    **dict.fromkeys(("describe_trust", "install_lists", "public_lists", "trust_anchors"), "._trust"),
    # shipped data files, checked against their sha256; the plugin table both packages use
    "checked_path": "._data_files",
    "NamedTable": "._named_table",
    # stamping
    **dict.fromkeys(("new_content_id", "normalize_content_id"), "._payload"),
    "registry_path": "._paths",
    "export_records": "._registry",
    "pdq_hash": "._fingerprint",
    "version_text": "._about",
    **dict.fromkeys(("GenerationRecord", "Lora"), "._record"),
    **dict.fromkeys(("Registry", "StampRecord"), "._registry"),
    **dict.fromkeys(("RegistryBackend", "open_existing_registry", "open_registry", "registry_location"),
                    "._registry_backend"),
    "PostgresRegistry": "._registry_pg",
    **dict.fromkeys(("StampResult", "stamp_bytes", "stamp_file", "stamp_image"), "._stamp"),
    **dict.fromkeys(("ManifestReport", "read_manifest"), "._c2pa"),
    **dict.fromkeys(("WatermarkResult", "detect_watermarks", "embed_watermark"), ".watermark"),
    # verify
    **dict.fromkeys(("VerifyOptions", "VerifyReport", "verify_bytes", "verify_file"), "._verify"),
    "Verdict": ".evidence",
    **dict.fromkeys(("CollectContext", "Collector", "register_collector"), ".collectors"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'provenance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from ._c2pa import ManifestReport, read_manifest
    from ._data_files import checked_path
    from ._errors import (DataFileError, ImageError, ImageTooSmallError, KeyNotFoundError, MissingDependencyError,
                          OutputError, OutputExistsError, ParamsError, PassphraseError, ProvenanceError, RegistryError,
                          SigningError, SigningKeyError, TrustListError, UnknownMethodError, UnsafeOutputError)
    from ._about import version_text
    from ._fingerprint import pdq_hash
    from ._imageio import (MAX_PIXELS, LoadedImage, atomic_write, check_output_path, decode_image, format_for_suffix,
                           load_image, sniff_format)
    from ._metadata import encode_image
    from ._paths import registry_path
    from ._text import dumps_json, printable
    from ._named_table import NamedTable
    from ._keys import SigningIdentity, describe_keys, import_keys, init_keys, load_identity
    from ._payload import new_content_id, normalize_content_id
    from ._record import GenerationRecord, Lora
    from ._registry import Registry, StampRecord, export_records
    from ._registry_backend import RegistryBackend, open_existing_registry, open_registry, registry_location
    from ._registry_pg import PostgresRegistry
    from ._stamp import StampResult, stamp_bytes, stamp_file, stamp_image
    from ._trust import describe_trust, install_lists, public_lists, trust_anchors
    from .evidence import Verdict
    from ._verify import VerifyOptions, VerifyReport, verify_bytes, verify_file
    from .collectors import CollectContext, Collector, register_collector
    from .watermark import WatermarkResult, detect_watermarks, embed_watermark

__all__ = sorted([*_EXPORTS, "__version__"])
