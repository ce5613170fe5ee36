"""The evidence model of DESIGN.md (``schema: provenance.verify/1``) as dataclasses.

``verify`` builds a :class:`VerifyReport`; the audit keeps reports as JSON (its cache, its workers'
results) and reads them back with :meth:`VerifyReport.from_dict`. Every fact more than one consumer
needs (is the manifest intact, who signed, which of our watermarks count as strong, which stamp the
registry matched, may the classifier speak, which ``--fail-on`` flags a report raises) is computed
here once, as a property, and fusion (``_verdict``), the text, CSV and HTML reports read it.

Each member keeps the JSON it was read from (``as_read``) and writes it back unchanged, so a report
survives the audit cache, a resolver or another tool's reader without losing a key this version
does not model; a member built in code serialises its fields (the ones that are None are left out
where the schema leaves them out). The JSON Schema is provenance/schemas/verify.schema.json.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

SCHEMA = "provenance.verify/1"
#: Our watermark detections at or below this false-positive rate count as strong evidence.
STRONG_WATERMARK_FPR = 1e-6
#: The assertion in which stamps record how an image was made (manifest and registry record).
GENERATION_ASSERTION = "org.provenance.generation"
AI_LABELS = ("ai-generated", "likely-ai-generated")
CAMERA_LABELS = ("camera-signed", "likely-camera")
#: What ``--fail-on`` can select of a report (audit adds ``skipped`` for files it did not analyse).
FLAGS = ("ai", "tampered", "invalid", "error", "unknown")


class _Read:
    """``from_dict`` keeps the JSON as read; ``to_dict`` gives it back, or builds it from the fields."""

    #: Fields a member built in code leaves out of its JSON when they are None.
    _OMIT_NONE: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in dataclasses.fields(cls)} - {"as_read"}
        return cls(**{k: cls._convert(k, v) for k, v in d.items() if k in names}, as_read=dict(d))

    @classmethod
    def _convert(cls, key: str, value):
        return value

    def to_dict(self) -> dict:
        if self.as_read is not None:
            return dict(self.as_read)
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "as_read":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in self._OMIT_NONE:
                continue
            out[f.name] = _plain(value)
        return out


def _plain(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _as_read() -> Any:
    return field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class C2paEvidence(_Read):
    """What the file's Content Credentials say, and whether they hold (``_c2pa_evidence.classify``)."""

    status: str = "absent"  # absent | trusted | valid | expired | invalid | tampered
    codes: list[str] = field(default_factory=list)  # failure codes, raw
    success_codes: list[str] = field(default_factory=list)
    signer: dict | None = None
    claim_generator: str | None = None
    title: str | None = None
    digital_source_type: str | None = None
    ai_generated: bool | None = None  # from digitalSourceType: True AI, False camera, None unknown
    actions: list[dict] = field(default_factory=list)
    ingredients: list[dict] = field(default_factory=list)
    soft_bindings: list[dict] = field(default_factory=list)
    generation: dict | None = None
    validation_state: str | None = None  # c2pa-rs's, as it said it
    store: dict | None = None  # where the bytes hold the store: container, offset, length, problem
    error: str | None = None
    #: The trust source that anchored a trusted signer: {"list": "C2PA Trust List" | "interim list" |
    #: "own root" | "--trust" | "trust-anchors.pem", "version": snapshot or installation}; else None.
    anchored_by: dict | None = None
    #: Every name the claim generator goes by (v1 string, each claim_generator_info entry).
    claim_generators: list[str] = field(default_factory=list)
    #: For an ``expired`` status: {"timestamp": "present" | "none", "time"}: judged at the
    #: signature's timestamp, or (none) now.
    expiry: dict | None = None
    as_read: dict | None = _as_read()

    @property
    def present(self) -> bool:
        return self.status != "absent"

    @property
    def expired(self) -> bool:
        """The signature and hashes verify but the signing certificate has expired."""
        return self.status == "expired"

    @property
    def intact(self) -> bool:
        """Signature and hashes good (whether or not the signer is trusted)."""
        return self.status in ("trusted", "valid")

    @property
    def broken(self) -> bool:
        return self.status in ("tampered", "invalid")

    @property
    def signer_name(self) -> str | None:
        return (self.signer or {}).get("common_name")

    @property
    def signer_label(self) -> str:
        """Who signed, as reports name it: the certificate's common name, else its issuer."""
        signer = self.signer or {}
        return signer.get("common_name") or signer.get("issuer") or ""

    @property
    def binding_values(self) -> list[str]:
        """The soft-binding values (our content ids) the manifest declares, in its order."""
        return [b["value"] for b in self.soft_bindings if b.get("value")]

    @property
    def failed_ingredients(self) -> list[dict]:
        return [i for i in self.ingredients if i.get("status") in ("invalid", "tampered")]

    def to_dict(self) -> dict:
        if self.as_read is not None:
            return dict(self.as_read)
        return {k: v for k, v in asdict(self).items() if k != "as_read"}


@dataclass
class WatermarkResult(_Read):
    """One watermark method's verdict on one image (``watermarks``): ours (``kind`` content-id) or a
    public SD mark (``kind`` public); ``kind`` is None for a method's own result before verify
    files it.

    ``payload`` is the content id as lowercase hex (an id *prefix* when ``partial``), present only
    when ``detected``. ``false_positive_rate`` is the probability that an unmarked image yields a
    detection this strong; it comes from the payload code, not from a guess.
    """

    scheme: str
    detected: bool
    payload: str | None = None
    bit_errors: int | None = None
    false_positive_rate: float | None = None
    partial: bool = False
    raw_bits: str | None = None
    extra: dict = field(default_factory=dict)
    kind: str | None = None  # content-id (ours) | public
    as_read: dict | None = _as_read()

    @property
    def ours(self) -> bool:
        """One of our marks, detected."""
        return self.detected and self.kind == "content-id"

    @property
    def public(self) -> bool:
        """A public Stable Diffusion mark, detected."""
        return self.detected and self.kind == "public"

    @property
    def strong(self) -> bool:
        """Ours, at a false-positive rate small enough to decide by itself."""
        return self.ours and (self.false_positive_rate or 1.0) <= STRONG_WATERMARK_FPR

    @property
    def shown_id(self) -> str | None:
        """The payload as a reader sees it: an id prefix ends with an ellipsis."""
        return None if self.payload is None else self.payload + ("…" if self.partial else "")

    def to_dict(self) -> dict:
        if self.as_read is not None:
            return dict(self.as_read)
        d = {k: v for k, v in asdict(self).items() if k != "as_read"}
        if not d["extra"]:
            d.pop("extra")
        if d["kind"] is None:
            d.pop("kind")
        return d


@dataclass(frozen=True)
class GeneratorEvidence(_Read):
    """What a generator wrote into the file (``metadata.generator``), as the metadata collector read it."""

    tool: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    model_hash: str | None = None
    loras: list[dict] = field(default_factory=list)
    sampler: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    seed: int | None = None
    size: str | None = None
    width: int | None = None
    height: int | None = None
    upscaler: str | None = None
    version: str | None = None
    source: str | None = None
    checkpoints: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    found_in: list[str] = field(default_factory=list)
    raw: dict | None = None
    as_read: dict | None = _as_read()

    def get(self, name: str):
        """A setting by its JSON name (``model``, ``seed``, ...), None when not recorded."""
        return getattr(self, name, None) if name in _GENERATOR_FIELDS else (self.extra or {}).get(name)


_GENERATOR_FIELDS = frozenset(f.name for f in dataclasses.fields(GeneratorEvidence)) - {"as_read"}


@dataclass(frozen=True)
class MetadataEvidence(_Read):
    """Camera EXIF and XMP/IPTC summaries, and the generator's settings (``metadata``)."""

    exif: dict = field(default_factory=dict)
    xmp: dict = field(default_factory=dict)
    generator: GeneratorEvidence | None = None
    as_read: dict | None = _as_read()

    @classmethod
    def _convert(cls, key: str, value):
        return GeneratorEvidence.from_dict(value) if key == "generator" and isinstance(value, dict) else value

    @property
    def camera(self) -> str | None:
        """The camera the EXIF names ("Canon EOS R5"), None when it names none."""
        return " ".join(x for x in (self.exif.get("make"), self.exif.get("model")) if x) or None

    @property
    def xmp_ai_source(self) -> str | None:
        """The IPTC digital source type the XMP declares, when it declares an AI one."""
        return self.xmp.get("digital_source_type") if self.xmp.get("ai_generated") else None

    @property
    def generator_tool(self) -> str | None:
        return self.generator.tool if self.generator is not None else None


@dataclass(frozen=True)
class RegistryEvidence(_Read):
    """What the registry of stamps (or a resolver) answered for this file (``registry``)."""

    match: str = "none"  # none | watermark | fingerprint | resolver
    scheme: str | None = None
    hash: str | None = None  # fingerprint matches: sha256 | pdq | phash
    distance: int | None = None
    max_distance: int | None = None
    record: dict | None = None  # the best matching stamp (StampRecord.to_dict())
    identical_file: bool | None = None
    candidates: list[dict] = field(default_factory=list)
    ambiguous: int | None = None
    fingerprint: dict | None = None
    reason: str | None = None
    # match "resolver" (provenance._recover): the service, the manifest it returned, what was
    # looked up, the manifest's status (trusted | valid) and whether these are the signed pixels
    # (identical | differ), who signed it, and the soft-binding checks. ``rejected``: manifests a
    # service returned that failed a check, with the reason (any match value).
    endpoint: str | None = None
    manifest_id: str | None = None
    looked_up: dict | None = None
    status: str | None = None
    pixels: str | None = None
    signer: str | None = None
    issuer: str | None = None
    claim_generator: str | None = None
    digital_source_type: str | None = None
    ai_generated: bool | None = None
    similarity: float | None = None
    soft_bindings: list[dict] | None = None
    rejected: list[dict] | None = None
    as_read: dict | None = _as_read()

    _OMIT_NONE = ("scheme", "hash", "distance", "max_distance", "record", "identical_file", "ambiguous",
                  "fingerprint", "reason", "endpoint", "manifest_id", "looked_up", "status", "pixels", "signer",
                  "issuer", "claim_generator", "digital_source_type", "ai_generated", "similarity",
                  "soft_bindings", "rejected")

    def to_dict(self) -> dict:
        d = super().to_dict()
        if self.as_read is None and not d.get("candidates"):
            d.pop("candidates", None)
        return d

    @property
    def matched(self) -> bool:
        return self.match not in ("none", None)

    @property
    def record_id(self) -> str | None:
        return (self.record or {}).get("content_id")

    @property
    def ids(self) -> list[str]:
        """Every matched stamp's content id, best first."""
        ids = [c.get("content_id") for c in self.candidates if c.get("content_id")]
        if not ids and self.record_id and self.matched:
            ids = [self.record_id]
        return ids

    @property
    def record_generation(self) -> dict | None:
        """The generation record the matched stamp's manifest holds (its ``org.provenance.generation``)."""
        for a in ((self.record or {}).get("manifest") or {}).get("assertions", []):
            if a.get("label") == GENERATION_ASSERTION:
                return a.get("data")
        return None


@dataclass(frozen=True)
class ForensicsEvidence(_Read):
    """The forensic classifier's estimate and what its own validation lets it say (``forensics``)."""

    status: str = "absent"  # absent | estimate
    p_ai: float | None = None
    family_scores: dict = field(default_factory=dict)
    model: str | None = None
    top_features: list[dict] = field(default_factory=list)
    family: str | None = None
    family_validation_accuracy: float | None = None
    validation_auc: float | None = None
    validated: bool = False
    levels: dict | None = None
    reason: str | None = None
    as_read: dict | None = _as_read()

    def to_dict(self) -> dict:
        if self.as_read is not None:
            return dict(self.as_read)
        if self.status != "estimate":
            return {"status": self.status, **({"reason": self.reason} if self.reason else {})}
        d = {k: v for k, v in asdict(self).items() if k not in ("as_read", "reason")}
        if self.levels is None:
            d.pop("levels")
        return d

    @property
    def decisive_p_ai(self) -> float | None:
        """The estimate when the classifier may decide (its grouped-CV AUC reached the floor), else None."""
        return self.p_ai if self.validated else None


@dataclass(frozen=True)
class EvidenceError:
    """A collector that could not do its part (``errors``); ``count`` when the same error repeated."""

    collector: str
    error: str
    count: int = 1

    @classmethod
    def from_dict(cls, d: dict) -> EvidenceError:
        return cls(d["collector"], d["error"], d.get("count", 1))

    def to_dict(self) -> dict:
        return {"collector": self.collector, "error": self.error, **({"count": self.count} if self.count > 1 else {})}

    @property
    def text(self) -> str:
        return f"{self.collector}: {self.error}" + (f" ({self.count} times)" if self.count > 1 else "")


@dataclass
class Verdict:
    """One verdict with the rules behind it (``verdict``; every rule is in docs/VERDICTS.md)."""

    label: str = "unknown"  # ai-generated | likely-ai-generated | likely-camera | camera-signed | unknown
    confidence: float = 0.0
    summary: str = "No evidence about this image's origin was found."
    how: dict = field(default_factory=lambda: {"source": "unknown"})
    conflicts: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # the rules that fired, strongest first

    @classmethod
    def from_dict(cls, d: dict) -> Verdict:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


#: Report member -> its evidence type (list members: the type of one item).
MEMBER_TYPES = {"c2pa": C2paEvidence, "watermarks": WatermarkResult, "metadata": MetadataEvidence,
                "registry": RegistryEvidence, "forensics": ForensicsEvidence}


@dataclass
class VerifyReport:
    """Everything verify found about one file, and the verdict."""

    file: str
    sha256: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    verdict: Verdict = field(default_factory=Verdict)
    c2pa: C2paEvidence = field(default_factory=lambda: C2paEvidence.from_dict({"status": "absent"}))
    watermarks: list[WatermarkResult] = field(default_factory=list)
    metadata: MetadataEvidence = field(default_factory=lambda: MetadataEvidence.from_dict({}))
    registry: RegistryEvidence = field(default_factory=lambda: RegistryEvidence.from_dict({"match": "none"}))
    forensics: ForensicsEvidence = field(default_factory=lambda: ForensicsEvidence.from_dict({"status": "absent"}))
    errors: list[EvidenceError] = field(default_factory=list)
    timing_ms: dict[str, float] = field(default_factory=dict)
    #: Members of the JSON this version does not model, kept as read (``file_bytes_b64``, ``audit``, ...).
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Members given as their JSON (tests, callers holding a dict) become their evidence types.
        if isinstance(self.verdict, dict):
            self.verdict = Verdict.from_dict(self.verdict)
        for member, kind in MEMBER_TYPES.items():
            value = getattr(self, member)
            if isinstance(value, dict):
                setattr(self, member, kind.from_dict(value))
            elif isinstance(value, list):
                setattr(self, member, [kind.from_dict(v) if isinstance(v, dict) else v for v in value])
        self.errors = [EvidenceError.from_dict(e) if isinstance(e, dict) else e for e in self.errors]

    # --- facts, each computed once, that fusion and every rendering read ---

    @property
    def our_marks(self) -> list[WatermarkResult]:
        return [w for w in self.watermarks if w.ours]

    @property
    def strong_marks(self) -> list[WatermarkResult]:
        return [w for w in self.watermarks if w.strong]

    @property
    def public_marks(self) -> list[WatermarkResult]:
        return [w for w in self.watermarks if w.public]

    @property
    def detected_marks(self) -> list[WatermarkResult]:
        return [w for w in self.watermarks if w.detected]

    @property
    def content_ids(self) -> list[str]:
        """The content ids our marks carry, each id prefix completed to the full id when the file's
        own manifest or the registry's matching record names an id starting with it."""
        known = [*self.c2pa.binding_values, self.registry.record_id]
        return [next((k for k in known if isinstance(k, str) and k.startswith(w.payload)), w.payload)
                for w in self.our_marks if w.payload]

    @property
    def flags(self) -> set[str]:
        """What ``--fail-on`` can select: ai, tampered, invalid, error, unknown."""
        out = set()
        if self.verdict.label in AI_LABELS:
            out.add("ai")
        if self.c2pa.broken:
            out.add(self.c2pa.status)
        if self.errors:
            out.add("error")
        if self.verdict.label == "unknown":
            out.add("unknown")
        return out

    # --- JSON ---

    def to_dict(self) -> dict:
        from ._text import file_fields

        d = {"schema": SCHEMA, **file_fields(self.file)}  # a name that is not UTF-8: escaped, plus its bytes
        if "file_bytes_b64" in self.extra:  # read back: ``file`` is already the escaped form
            d["file_bytes_b64"] = self.extra["file_bytes_b64"]
        d.update(sha256=self.sha256, format=self.format, width=self.width, height=self.height,
                 verdict=self.verdict.to_dict(), c2pa=self.c2pa.to_dict(),
                 watermarks=[w.to_dict() for w in self.watermarks], metadata=self.metadata.to_dict(),
                 registry=self.registry.to_dict(), forensics=self.forensics.to_dict(),
                 errors=[e.to_dict() for e in self.errors], timing_ms=dict(self.timing_ms))
        d.update({k: v for k, v in self.extra.items() if k != "file_bytes_b64"})
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VerifyReport:
        """A report read back from its JSON (the audit cache, a JSONL report, a resolver's answer)."""
        known = {"schema", "file", "sha256", "format", "width", "height", "verdict", "c2pa",
                 "watermarks", "metadata", "registry", "forensics", "errors", "timing_ms"}
        return cls(
            file=d.get("file", ""), sha256=d.get("sha256"), format=d.get("format"), width=d.get("width"),
            height=d.get("height"), verdict=Verdict.from_dict(d.get("verdict") or {}),
            c2pa=C2paEvidence.from_dict(d.get("c2pa") or {"status": "absent"}),
            watermarks=[WatermarkResult.from_dict(w) for w in d.get("watermarks") or []],
            metadata=MetadataEvidence.from_dict(d.get("metadata") or {}),
            registry=RegistryEvidence.from_dict(d.get("registry") or {"match": "none"}),
            forensics=ForensicsEvidence.from_dict(d.get("forensics") or {"status": "absent"}),
            errors=[EvidenceError.from_dict(e) for e in d.get("errors") or []],
            timing_ms=dict(d.get("timing_ms") or {}),
            extra={k: v for k, v in d.items() if k not in known})


__all__ = [
    "AI_LABELS",
    "C2paEvidence",
    "CAMERA_LABELS",
    "EvidenceError",
    "FLAGS",
    "ForensicsEvidence",
    "GENERATION_ASSERTION",
    "GeneratorEvidence",
    "MEMBER_TYPES",
    "MetadataEvidence",
    "RegistryEvidence",
    "SCHEMA",
    "STRONG_WATERMARK_FPR",
    "Verdict",
    "VerifyReport",
    "WatermarkResult",
]
