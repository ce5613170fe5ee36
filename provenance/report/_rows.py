"""One flat summary row per file (the CSV row, the HTML table row) and the run's running totals."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .._text import file_fields, printable
from ..evidence import AI_LABELS, CAMERA_LABELS, VerifyReport

CSV_COLUMNS = [
    "path", "path_bytes_b64", "status", "reason", "cached", "format", "width", "height", "sha256",
    "verdict", "confidence", "summary", "c2pa_status", "c2pa_signer", "digital_source_type",
    "watermarks", "content_id", "generator_family", "generator_tool", "model", "vendor", "product", "source",
    "registry_match",
    "registry_ids", "registry_distance", "p_ai", "conflicts", "errors", "flags",
]

#: Summary cards, in display order: key, title.
CARDS = (("ai", "AI-generated"), ("signed", "Signed (C2PA)"), ("tampered", "Tampered / invalid"),
         ("camera", "Camera"), ("unknown", "Unknown"), ("error", "Errors"), ("skipped", "Skipped"))


#: Families named in a model or pipeline name, first match wins (the names the public SD
#: watermarks and the forensic classifier use). A hint for the report when no watermark or
#: validated classifier named the family: "sd_xl_base_1.0" or StableDiffusionXLPipeline is SDXL.
_FAMILY_NAMES: tuple[tuple[str, re.Pattern], ...] = (
    ("sdxl", re.compile(r"sdxl|sd_xl|stable.?diffusion.?xl|(?<![a-z])xl(?![a-z])")),
    ("sd3", re.compile(r"sd3|stable.?diffusion.?3")),
    ("flux", re.compile(r"flux")),
    ("sd2", re.compile(r"sd.?2(?!\d)|v2-[01]|stable.?diffusion.?2")),
    ("sd1", re.compile(r"sd.?1\.?[45]|v1-[45]|stable.?diffusion.?v?1")),
)


def family_hint(*names: str | None) -> str:
    """The family a model or pipeline name says (``sdxl``, ``sd1``, ...), or ``""``."""
    for name in names:
        if not isinstance(name, str):
            continue
        low = name.lower()
        for family, pattern in _FAMILY_NAMES:
            if pattern.search(low):
                return family
    return ""


def _registry_cells(report: VerifyReport) -> tuple[str, str, str]:
    """The registry's columns: every matched stamp's id, best first (``registry_ids``), how close
    the best one is (``registry_distance``: "pdq 6", "phash 2", "sha256 0"; empty for a watermark
    match), and the content id when the file has none of its own: a match by look fills
    ``content_id`` only when the verdict accepted it (the file is the stamped output, or its own
    evidence backs the match), never for a mere look-alike."""
    reg = report.registry
    distance = f"{reg.hash} {reg.distance}" if reg.match == "fingerprint" and reg.hash else ""
    content_ids = report.content_ids
    content_id = content_ids[0] if content_ids else ""
    if not content_id and reg.record_id and (reg.match == "watermark" or
                                             "registry-fingerprint" in report.verdict.rules):
        content_id = reg.record_id
    return " ".join(reg.ids), distance, content_id


def as_report(report: VerifyReport | dict | None) -> VerifyReport | None:
    """A report as its evidence type (the audit holds reports as their JSON)."""
    return VerifyReport.from_dict(report) if isinstance(report, dict) else report


def summary_row(path: str, status: str, *, report: VerifyReport | dict | None = None, reason: str | None = None,
                cached: bool = False, fmt: str | None = None, image: bool = False) -> dict:
    """The flat row for ``path``: every CSV column, empty where it does not apply.

    A name that is not UTF-8 is shown escaped in ``path``, its bytes in ``path_bytes_b64``. A
    skipped row keeps the format its content names (``fmt``) and, when it is an image
    (``image``), the flag ``skipped`` that ``--fail-on skipped`` counts.
    """
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(file_fields(path, "path"), status=status, reason=printable(reason or ""), cached=cached,
               format=fmt or "")
    report = as_report(report)
    if report is None:
        if status == "skipped" and image:
            row["flags"] = "skipped"
        return row
    v, c2pa, gen = report.verdict, report.c2pa, report.metadata.generator
    gen_model = gen.model if gen is not None else None
    errors = [e.text for e in report.errors]
    registry_ids, registry_distance, content_id = _registry_cells(report)
    p_ai = report.forensics.p_ai
    row.update(
        format=report.format or "", width=report.width or "", height=report.height or "",
        sha256=report.sha256 or "", verdict=v.label, confidence=round(float(v.confidence), 3),
        summary=v.summary, c2pa_status=c2pa.status, c2pa_signer=c2pa.signer_label,
        digital_source_type=c2pa.digital_source_type or "",
        watermarks=" ".join(sorted({w.scheme for w in report.detected_marks})),
        content_id=content_id,
        generator_family=v.how.get("generator_family") or family_hint(
            v.how.get("model"), gen_model, (c2pa.generation or {}).get("pipeline")),
        generator_tool=(gen.tool if gen is not None else None) or v.how.get("tool") or "",
        model=v.how.get("model") or gen_model or "",
        vendor=v.how.get("vendor") or "", product=v.how.get("product") or "",
        source=v.how.get("source") or "unknown",
        registry_match=report.registry.match,
        registry_ids=registry_ids, registry_distance=registry_distance,
        p_ai="" if p_ai is None else round(float(p_ai), 4),
        conflicts="; ".join(v.conflicts), errors="; ".join(errors),
        flags=" ".join(sorted(report.flags)),
    )
    if errors and not row["reason"]:
        row["reason"] = errors[0]
    return row


def categories(row: dict) -> list[str]:
    """The summary cards a row counts towards."""
    if row["status"] == "skipped":
        return ["skipped"]
    out = ["error"] if row["status"] == "error" else []
    if row["verdict"] in AI_LABELS:
        out.append("ai")
    elif row["verdict"] in CAMERA_LABELS:
        out.append("camera")
    elif row["verdict"] == "unknown" and row["status"] != "error":
        out.append("unknown")
    if row["c2pa_status"] in ("trusted", "valid", "expired"):
        out.append("signed")
    if row["c2pa_status"] in ("tampered", "invalid"):
        out.append("tampered")
    return out


P_AI_BINS = 10


@dataclass
class Totals:
    """Counts kept while the results stream past: cards, charts and the progress line read them."""

    files: int = 0
    analysed: int = 0
    cached: int = 0
    cards: Counter = field(default_factory=Counter)
    verdicts: Counter = field(default_factory=Counter)
    families: Counter = field(default_factory=Counter)
    signers: Counter = field(default_factory=Counter)
    vendors: Counter = field(default_factory=Counter)  # the makers table's vendor, where it named one
    sources: Counter = field(default_factory=Counter)  # api | local | capture | unknown
    p_ai_hist: list[int] = field(default_factory=lambda: [0] * P_AI_BINS)
    flagged: int = 0
    skipped_images: int = 0  # skipped rows whose content or name says image (--fail-on skipped)

    def add(self, row: dict, *, flagged: bool = False) -> None:
        self.files += 1
        self.cards.update(categories(row))
        self.flagged += int(flagged)
        if row["status"] == "skipped":
            self.skipped_images += "skipped" in row.get("flags", "").split()
            return
        if row["cached"]:
            self.cached += 1
        else:
            self.analysed += 1
        # As the cards count them: an error row without a verdict is an error, not "unknown".
        self.verdicts["error" if row["status"] == "error" and row["verdict"] == "unknown" else row["verdict"]] += 1
        if row["generator_family"] or row["generator_tool"]:  # the family, else at least the tool
            self.families[row["generator_family"] or row["generator_tool"]] += 1
        if row["c2pa_signer"]:
            self.signers[row["c2pa_signer"]] += 1
        if row.get("vendor"):
            self.vendors[row["vendor"]] += 1
        self.sources[row.get("source") or "unknown"] += 1
        if row["p_ai"] != "":
            self.p_ai_hist[min(int(float(row["p_ai"]) * P_AI_BINS), P_AI_BINS - 1)] += 1

    def to_dict(self) -> dict:
        return {"files": self.files, "analysed": self.analysed, "cached": self.cached, "flagged": self.flagged,
                "skipped_images": self.skipped_images,
                "cards": {k: self.cards.get(k, 0) for k, _ in CARDS}, "verdicts": dict(self.verdicts),
                "generator_families": dict(self.families), "signers": dict(self.signers),
                "vendors": dict(self.vendors), "sources": dict(self.sources),
                "p_ai_histogram": list(self.p_ai_hist)}
