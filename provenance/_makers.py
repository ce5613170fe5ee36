"""Known makers of images: which generator, service or camera made a file, and whether locally or
through a cloud API (``provenance/makers/makers.json``, one documented row each, docs/MAKERS.md).

A row is recognised from *clues* the report already holds: the C2PA claim generator, each
action's softwareAgent and parameters, the signer's common name and issuer, IPTC AISystemUsed,
the XMP credit line and CreatorTool, and the generator-metadata parser's tool name. Rows are tried
in order and the first that matches wins (specific rows, such as Photoshop's generative fill,
come before general ones, such as Photoshop).

:func:`declaring_action` is the rule "AI without a source type": a ``c2pa.created`` action in a
manifest that a generator-only product signed or names, or a ``c2pa.opened`` action whose own
agent or parameters name one (Firefly's partner models), declares the image AI-generated even
without a digitalSourceType.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .evidence import C2paEvidence, VerifyReport

MAKERS_FILE = "provenance/makers/makers.json"
SOURCES = ("api", "local", "capture")
KINDS = ("generator", "editor", "capture")
FIELDS = ("claim_generator", "agent", "parameters", "signer", "issuer", "ai_system", "credit", "creator_tool",
          "generator_tool")
#: How a summary names each source.
SOURCE_PHRASE = {"api": "a cloud service", "local": "a local tool", "capture": "a camera"}


@dataclass(frozen=True)
class Maker:
    """One row of the table."""

    id: str
    vendor: str
    product: str
    source: str  # api | local | capture
    kind: str  # generator | editor | capture
    generator: bool  # makes only AI images: a created action it signs or names declares AI
    match: tuple[tuple[tuple[str, re.Pattern], ...], ...]
    doc: str
    basis: str
    model: str | None = None
    model_from: tuple[tuple[str, re.Pattern], ...] = ()

    @property
    def display(self) -> str:
        """How a sentence names it: "Adobe Firefly", "ComfyUI", "OpenAI ChatGPT"."""
        first = self.vendor.split()[0].lower()
        return self.product if self.product.lower().startswith(first) else f"{self.vendor} {self.product}"

    def matches(self, clues: dict[str, list[str]]) -> list[str] | None:
        """The clue fields that recognised this row (the first alternative that holds), else None."""
        for alternative in self.match:
            if all(any(rx.search(v) for v in clues.get(f, ())) for f, rx in alternative):
                return [f for f, _ in alternative]
        return None

    def model_in(self, clues: dict[str, list[str]]) -> str | None:
        for f, rx in self.model_from:
            for value in clues.get(f, ()):
                m = rx.search(value)
                if m:
                    return m.group(1).strip()
        return self.model


@dataclass(frozen=True)
class MakerMatch:
    """A recognised maker and the clues that named it."""

    maker: Maker
    matched_by: list[str] = field(default_factory=list)
    model: str | None = None


def _compile(alternative: dict) -> tuple[tuple[str, re.Pattern], ...]:
    bad = set(alternative) - set(FIELDS)
    if bad:
        raise ValueError(f"{MAKERS_FILE}: unknown clue fields {sorted(bad)}")
    return tuple((f, re.compile(rx, re.I)) for f, rx in alternative.items())


@functools.lru_cache(maxsize=1)
def makers() -> tuple[Maker, ...]:
    """The table, in order (checked against the package's data table when first read)."""
    from ._data_files import load_json

    rows = []
    for r in load_json(MAKERS_FILE)["makers"]:
        if r["source"] not in SOURCES or r["kind"] not in KINDS:
            raise ValueError(f"{MAKERS_FILE}: row {r['id']}: bad source or kind")
        rows.append(Maker(id=r["id"], vendor=r["vendor"], product=r["product"], source=r["source"], kind=r["kind"],
                          generator=bool(r["generator"]), match=tuple(_compile(a) for a in r["match"]),
                          doc=r["doc"], basis=r["basis"], model=r.get("model"),
                          model_from=_compile(r.get("model_from") or {})))
    return tuple(rows)


def _agent_text(agent) -> str | None:
    if isinstance(agent, dict):
        return " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)) or None
    return str(agent) if agent else None


def _action_clues(action: dict) -> dict[str, list[str]]:
    agent = _agent_text(action.get("softwareAgent"))
    params = {k: action[k] for k in ("parameters", "description") if action.get(k)}
    return {"agent": [agent] if agent else [],
            "parameters": [json.dumps(params, ensure_ascii=False, default=str)] if params else []}


def _manifest_clues(c2pa: C2paEvidence) -> dict[str, list[str]]:
    signer = c2pa.signer or {}
    return {"claim_generator": [*c2pa.claim_generators, *([c2pa.claim_generator] if c2pa.claim_generator else [])],
            "signer": [signer["common_name"]] if signer.get("common_name") else [],
            "issuer": [signer["issuer"]] if signer.get("issuer") else []}


def clues(report: VerifyReport) -> dict[str, list[str]]:
    """Every clue the report holds, by field."""
    out: dict[str, list[str]] = {f: [] for f in FIELDS}
    c2pa = report.c2pa
    if c2pa.present:
        for f, values in _manifest_clues(c2pa).items():
            out[f] += values
        for action in c2pa.actions:
            for f, values in _action_clues(action).items():
                out[f] += values
    xmp, exif = report.metadata.xmp or {}, report.metadata.exif or {}
    for f, value in (("ai_system", xmp.get("ai_system_used")), ("credit", xmp.get("credit")),
                     ("creator_tool", xmp.get("creator_tool")), ("creator_tool", exif.get("software")),
                     ("generator_tool", report.metadata.generator_tool)):
        if value:
            out[f].append(str(value))
    return out


def identify(report: VerifyReport) -> MakerMatch | None:
    """The first row of the table that the report's clues recognise, or None."""
    found = clues(report)
    for maker in makers():
        by = maker.matches(found)
        if by is not None:
            return MakerMatch(maker, by, maker.model_in(found))
    return None


def declaring_action(c2pa: C2paEvidence) -> MakerMatch | None:
    """The generator a manifest's creating action names (AI without a digitalSourceType), or None.

    ``c2pa.created``: its own agent or parameters, or the manifest's claim generator and signer,
    name a generator-only product (ChatGPT, Firefly, Sora...). ``c2pa.opened``: only its own agent
    or parameters count (Firefly's remoteProvider.3rdParty model): opening a file in a generator's
    app is not generating it."""
    manifest = _manifest_clues(c2pa)
    for action in c2pa.actions:
        kind = action.get("action")
        if kind not in ("c2pa.created", "c2pa.opened"):
            continue
        own = _action_clues(action)
        found = own if kind == "c2pa.opened" else {**manifest, **own}
        for maker in makers():
            by = maker.matches(found)
            if by is not None:
                if maker.generator:
                    return MakerMatch(maker, by, maker.model_in(found))
                break  # the first row that recognises it decides (an editor's row: no declaration)
    return None


__all__ = ["Maker", "MakerMatch", "SOURCE_PHRASE", "clues", "declaring_action", "identify", "makers"]
