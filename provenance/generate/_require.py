"""The generate extra is optional: importing diffusers late, with a message naming the extra."""
from __future__ import annotations

from types import ModuleType

from .._errors import MissingDependencyError

EXTRA_HINT = ('pip install "provenance-tool[generate]"  (torch, diffusers, transformers, safetensors, accelerate, peft; '
              'install the CPU or CUDA torch build you want first)')


def require_diffusers() -> ModuleType:
    """Import and return diffusers (and check transformers), or raise naming the extra to install."""
    try:
        import diffusers
        import transformers  # noqa: F401  (every SD pipeline's text encoder)
    except ImportError as e:
        raise MissingDependencyError(f"generating images needs the generate extra: {EXTRA_HINT} ({e})") from e
    return diffusers
