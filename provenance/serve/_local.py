"""The service as its own resolver: the upload page's verify asks this service's registry the
questions ``verify --resolver`` would ask over HTTP (same checks, no request)."""
from __future__ import annotations

from .._errors import ResolverError
from .._softbinding import SoftBindingError, get_algorithm


class LocalResolver:
    url = endpoint = "this service"

    def __init__(self, service) -> None:
        self.service = service

    def start(self) -> None:
        pass

    def by_binding(self, alg: str, value_b64: str, *, max_results: int = 3) -> list[dict]:
        a = get_algorithm(alg)
        if a is None:
            return []
        try:
            key = a.key(value_b64)
        except SoftBindingError as e:
            raise ResolverError(str(e)) from e
        found = self.service.lookup.by_key(self.service.registry(), a, key, limit=max_results)
        return [m.to_api() for m in found]

    def by_content(self, data: bytes, mime: str, *, max_results: int = 3) -> list[dict]:
        from .._imageio import decode_image

        rgb = decode_image(data, name="upload", max_pixels=self.service.config.max_pixels).rgb
        found = self.service.lookup.by_content(self.service.registry(), rgb, alg=None, limit=max_results)
        return [m.to_api() for m in found]

    def manifest(self, manifest_id: str) -> bytes:
        store = self.service.registry().get_manifest_store(manifest_id)
        if store is None:
            raise ResolverError(f"no manifest {manifest_id}")
        return store
