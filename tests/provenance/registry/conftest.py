"""The contract tests' fixtures: ``registry`` and ``registry_location``, once per backend (support/registries.py)."""
from support.registries import registry, registry_location  # noqa: F401
