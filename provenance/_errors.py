"""Typed errors. Every error a user can cause derives from :class:`ProvenanceError`.

The CLI maps these to exit code 1 with the message alone (no traceback); anything else is a bug.
"""
from __future__ import annotations


class ProvenanceError(Exception):
    """Base class for every error this package raises on purpose."""


class ImageError(ProvenanceError):
    """The input is not an image we can read: unsupported, corrupt, truncated or too large."""


class ImageTooSmallError(ImageError):
    """The image is smaller than a watermark method can carry its payload in."""


class ImageTooLargeError(ImageError):
    """An image with more pixels than the limit (a possible decompression bomb), refused before decoding."""


class SigningKeyError(ProvenanceError):
    """Signing key or certificate problems (missing, unreadable, mismatched)."""


class KeyNotFoundError(SigningKeyError):
    """No signing key is configured."""


class PassphraseError(SigningKeyError):
    """The private key is encrypted and the passphrase is missing or wrong."""


class OutputExistsError(ProvenanceError):
    """The output file exists and overwriting was not asked for."""


class OutputError(ProvenanceError):
    """The output cannot be written (directory missing or not writable, disk full, ...)."""


class UnsafeOutputError(OutputError):
    """An output path would overwrite an input or land among the inputs (a usage mistake: exit 2)."""


class SigningError(ProvenanceError):
    """Building or signing the C2PA manifest failed."""


class ParamsError(ProvenanceError):
    """The generation record (``--params``) is malformed."""


class UnknownMethodError(ProvenanceError):
    """No watermark method of that name is registered."""


class MissingDependencyError(ProvenanceError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class RegistryError(ProvenanceError):
    """The registry database cannot be opened or queried."""


class ResolverError(ProvenanceError):
    """A soft-binding resolution service could not be reached or answered outside the API."""


class GenerationError(ProvenanceError):
    """A diffusers pipeline cannot be loaded or run as asked (bad option, unsupported call)."""


class ModelNotFoundError(GenerationError):
    """The model (or a LoRA or checkpoint file) is not on disk and cannot be downloaded now."""


class DataFileError(ProvenanceError):
    """A data file the package ships (model, schema, trust list) is missing or differs from its table."""


class TrustListError(ProvenanceError):
    """A trust list file given to ``trust update`` is not one the tool knows, or does not parse."""
