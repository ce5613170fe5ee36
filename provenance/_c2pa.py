"""Build, sign and read C2PA manifests with c2pa-python.

Signing is always the last step of stamping: the manifest's hard binding (``c2pa.hash.data``)
covers the file's bytes, so any change afterwards reads as tampering.

Reading is offline: no remote manifest fetch and no OCSP. Trust comes only from the anchors the
caller passes (the tool's own root CA by default).
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import c2pa

from ._errors import SigningError
from ._jumbf import StoreLocation, locate_manifest_store
from ._keys import SigningIdentity
from ._metadata import TRAINED_ALGORITHMIC_MEDIA
from ._record import GenerationRecord
from .evidence import GENERATION_ASSERTION  # the label of our assertion holding the generation record

log = logging.getLogger(__name__)

#: Soft-binding algorithm name per watermark method (C2PA soft-binding ``alg``).
SOFT_BINDING_PREFIX = "org.provenance.watermark."

_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}


def _signing_context(thumbnail: bool) -> c2pa.Context:
    settings = {"builder": {"thumbnail": {"enabled": thumbnail}}, "verify": dict(_OFFLINE)}
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


@dataclass
class ManifestSpec:
    """What goes into the manifest of a stamped image."""

    title: str
    software: str  # claim generator, e.g. "provenance/0.1.0"
    content_id: str
    method: str
    record: GenerationRecord
    parent: Path | None = None  # an earlier image this one was made from (upscale, edit)
    parent_action: str = "c2pa.edited"  # or c2pa.resized for an upscale
    thumbnail: bool = False
    #: sha256 of the file that was stamped (None for pixels stamped in memory, e.g. by generate):
    #: the registry row's manifest keeps it, so ``watch`` knows a source it has stamped before.
    source_sha256: str | None = None
    #: The PDQ hash of the stamped pixels (provenance._fingerprint), written as a second
    #: ``c2pa.soft-binding`` assertion: a resolver checks that an image it recovered this manifest
    #: for still looks like the signed one (a watermark copied onto another image must not carry
    #: the credentials over). None: too flat an image for PDQ to mean anything.
    pdq: str | None = None


#: The soft-binding ``alg`` of the PDQ fingerprint (provenance._softbinding.PDQ_ALG).
PDQ_SOFT_BINDING = "org.provenance.fingerprint.pdq"


def build_manifest(spec: ManifestSpec, *, parent_label: str | None = None) -> dict:
    tool, _, version = spec.software.partition("/")
    agent = {"name": spec.record.generator or spec.record.model or tool}
    if spec.record.generator_version:
        agent["version"] = spec.record.generator_version
    actions: list[dict] = []
    if spec.parent is None:
        actions.append({"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                        "softwareAgent": agent})
    else:
        opened = {"action": "c2pa.opened"}
        if parent_label:
            opened["parameters"] = {"ingredientIds": [parent_label]}
        actions.append(opened)
        actions.append({"action": spec.parent_action, "softwareAgent": agent,
                        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA})
    actions.append({"action": "c2pa.watermarked", "softwareAgent": {"name": tool, "version": version},
                    "parameters": {"description": f"invisible watermark {spec.method}, content id {spec.content_id}"}})
    return {
        "claim_generator_info": [{"name": tool, "version": version}],
        "title": spec.title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": "c2pa.soft-binding", "data": {
                "alg": SOFT_BINDING_PREFIX + spec.method,
                "blocks": [{"scope": {}, "value": spec.content_id}],
            }},
            {"label": GENERATION_ASSERTION, "data": {
                "content_id": spec.content_id, "watermark": spec.method,
                **({"source_sha256": spec.source_sha256} if spec.source_sha256 else {}),
                **spec.record.to_dict()}},
            # last, so the assertions before it keep their places in older readers' eyes
            *([{"label": "c2pa.soft-binding", "data": {
                "alg": PDQ_SOFT_BINDING, "blocks": [{"scope": {}, "value": spec.pdq}]}}] if spec.pdq else []),
        ],
    }


def sign_asset(data: bytes, mime: str, spec: ManifestSpec, identity: SigningIdentity) -> bytes:
    """Return ``data`` with a signed C2PA manifest embedded."""
    return sign_asset_with_store(data, mime, spec, identity)[0]


def sign_asset_with_store(data: bytes, mime: str, spec: ManifestSpec, identity: SigningIdentity) -> tuple[bytes, bytes]:
    """``data`` with a signed C2PA manifest embedded, and that manifest store alone (the JUMBF
    bytes a resolution service keeps and serves as ``application/c2pa``)."""
    try:
        ctx = _signing_context(spec.thumbnail)
        parent_label = "parent" if spec.parent is not None else None
        builder = c2pa.Builder(build_manifest(spec, parent_label=parent_label), context=ctx)
        if spec.parent is not None:
            _add_parent(builder, spec.parent, parent_label)
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(alg=identity.alg.encode(), sign_cert=identity.chain_pem,
                                private_key=identity.key_pem, ta_url=None)
        )
        out = io.BytesIO()
        with builder, signer:
            store = builder.sign(signer, mime, io.BytesIO(data), out)
        return out.getvalue(), bytes(store)
    except c2pa.C2paError as e:
        raise SigningError(f"C2PA signing failed: {e}") from e


def _add_parent(builder: c2pa.Builder, parent: Path, label: str) -> None:
    from ._imageio import mime_type, read_bytes, sniff_format

    data = read_bytes(parent)
    fmt = sniff_format(data[:16])
    if fmt not in ("PNG", "JPEG", "WEBP"):
        raise SigningError(f"{parent}: parent must be a PNG, JPEG or WebP image")
    ingredient = {"title": parent.name, "relationship": "parentOf", "label": label}
    builder.add_ingredient(ingredient, mime_type(fmt), io.BytesIO(data))


@dataclass
class ManifestReport:
    """The result of reading a file's C2PA data. ``state`` is None when the file has no manifest."""

    state: str | None  # Trusted | Valid | Invalid (c2pa-rs validation_state), None: absent
    active: dict | None = None
    manifests: dict = field(default_factory=dict)
    success_codes: list[str] = field(default_factory=list)
    failure_codes: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    #: Failure codes c2pa-rs found now for each ingredient of the active manifest, by the
    #: ingredient assertion's label (``c2pa.ingredient.v3``, ``c2pa.ingredient.v3__1``, ...).
    ingredient_failures: dict[str, list[str]] = field(default_factory=dict)
    store: StoreLocation | None = None  # where the bytes hold the manifest store
    error: str | None = None

    def assertion(self, label: str) -> dict | None:
        for a in (self.active or {}).get("assertions", []):
            if a.get("label") == label:
                return a.get("data")
        return None


def _ingredient_failures(results: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for delta in results.get("ingredientDeltas") or []:
        uri = str(delta.get("ingredientAssertionURI") or "")
        codes = [f.get("code") for f in (delta.get("validationDeltas") or {}).get("failure") or []]
        out.setdefault(uri.rsplit("/", 1)[-1], []).extend(c for c in codes if c)
    return out


def _unreadable(store: StoreLocation, why: str) -> ManifestReport:
    """A store that the bytes hold but the SDK cannot read: invalid, saying where and why."""
    where = f"{store.container} at byte {store.offset}"
    reason = f"a C2PA manifest store is present ({where}) but unreadable: {store.problem or why}"
    if store.problem and why:
        reason += f" ({why})"
    return ManifestReport(state="Invalid", store=store, error=reason)


def read_manifest_store(store: bytes) -> dict | None:
    """The active manifest (c2pa-python's JSON, with its ``label``, ``urn:c2pa:...``) of a
    standalone manifest store, None when the bytes are not one c2pa-python can read. Only its
    structure is read here: it is validated against an asset by :func:`read_manifest`."""
    if not store[4:8] == b"jumb":  # a JUMBF superbox, or not a manifest store at all
        return None
    try:
        reader = c2pa.Reader.try_create("application/c2pa", io.BytesIO(store), None,
                                        c2pa.Context(settings=c2pa.Settings.from_dict({"verify": dict(_OFFLINE)})))
    except Exception:  # c2pa.C2paError, and the SDK's own failures on hostile bytes
        log.debug("not a manifest store", exc_info=True)
        return None
    if reader is None:
        return None
    with reader:
        try:
            parsed = json.loads(reader.json())
            label = parsed.get("active_manifest")
            active = (parsed.get("manifests") or {}).get(label)
        except Exception:
            log.debug("manifest store without an active manifest", exc_info=True)
            return None
    if not isinstance(active, dict) or not label:
        return None
    return {**active, "label": label}


def manifest_store_label(store: bytes) -> str | None:
    """The active manifest's label (``urn:c2pa:...``) of a standalone manifest store, or None."""
    active = read_manifest_store(store)
    return active["label"] if active else None


def soft_bindings_of(active: dict) -> list[dict]:
    """Every ``c2pa.soft-binding`` assertion's ``{"alg", "value"}`` blocks in a manifest."""
    out = []
    for a in active.get("assertions") or []:
        if str(a.get("label", "")).split("__")[0] != "c2pa.soft-binding":
            continue
        data = a.get("data") or {}
        for block in data.get("blocks") or []:
            if isinstance(block, dict) and isinstance(block.get("value"), str):
                out.append({"alg": data.get("alg"), "value": block["value"]})
    return out


def read_manifest(data: bytes, mime: str | None = None, *, trust_anchors_pem: bytes | None = None,
                  trust: dict | None = None, manifest_store: bytes | None = None) -> ManifestReport:
    """Read and validate the C2PA manifest in ``data`` (offline; trust only the given anchors).
    ``trust``: c2pa-rs's whole ``trust`` settings instead (anchors, pinned certificates, accepted
    EKUs: :meth:`provenance._trust.TrustConfig.settings`).

    Whether a manifest store is there comes from the bytes (:mod:`provenance._jumbf`), not from
    the SDK succeeding: a store it cannot parse, or parses without finding the active manifest,
    is ``Invalid`` with the reason; ``state`` None means the bytes hold no store at all.

    ``manifest_store``: validate that store (one a resolver returned) against ``data`` instead of
    the store the file embeds.
    """
    from ._imageio import sniff_format

    store = None if manifest_store is not None else locate_manifest_store(data, sniff_format(data[:64]))
    if trust is None and trust_anchors_pem:
        trust = {"trust_anchors": trust_anchors_pem.decode()}
    verify = dict(_OFFLINE, verify_trust=bool((trust or {}).get("trust_anchors") or (trust or {}).get("allowed_list")))
    settings: dict = {"verify": verify}
    if trust:
        settings["trust"] = trust
    try:
        ctx = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
        reader = c2pa.Reader.try_create(mime or "", io.BytesIO(data), manifest_store, ctx)
    except c2pa.C2paError as e:
        return ManifestReport(state="Invalid", store=store, error=str(e) or type(e).__name__)
    except Exception as e:  # the SDK's own bugs on hostile input: still a broken store, not an absent one
        log.debug("c2pa-python failed on a manifest store", exc_info=True)
        return ManifestReport(state="Invalid", store=store, error=f"c2pa-python failed: {type(e).__name__}: {e}")
    if reader is None:
        return ManifestReport(state=None) if store is None else _unreadable(store, "c2pa-python found no manifest in it")
    with reader:
        try:
            store_json = json.loads(reader.json())
            results = reader.get_validation_results() or {}
            state = reader.get_validation_state()
            active = reader.get_active_manifest()
        except (c2pa.C2paError, KeyError, ValueError, TypeError) as e:
            # c2pa-python raises KeyError("Active manifest not found in manifest store") when a
            # damaged label leaves the active manifest unnamed or misnamed.
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            return ManifestReport(state="Invalid", store=store,
                                  error=f"manifest store unreadable: {message or type(e).__name__}")
        results = results if isinstance(results, dict) else {}
        active_results = results.get("activeManifest") or {}
        report = ManifestReport(
            state=state or "Invalid",  # a store with no validation state has not validated
            active=active,
            manifests=store_json.get("manifests", {}),
            success_codes=[r["code"] for r in active_results.get("success", [])],
            failure_codes=[r["code"] for r in active_results.get("failure", [])],
            failures=list(active_results.get("failure", [])),
            ingredient_failures=_ingredient_failures(results),
            store=store,  # a header problem the SDK read past stays there, beside its verdict
        )
    return report
