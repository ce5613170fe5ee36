"""One flat summary row per file (the CSV row, the HTML table row) and the run's running totals."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .._text import file_fields, printable

CSV_COLUMNS = [
    "path", "path_bytes_b64", "status", "reason", "cached", "format", "width", "height", "sha256",
    "verdict", "confidence", "summary", "c2pa_status", "c2pa_signer", "digital_source_type",
    "watermarks", "content_id", "generator_family", "generator_tool", "model", "registry_match",
    "registry_ids", "registry_distance", "p_ai", "conflicts", "errors", "flags",
]

AI_LABELS = ("ai-generated", "likely-ai-generated")
CAMERA_LABELS = ("camera-signed", "likely-camera")
#: Summary cards, in display order: key, title.
CARDS = (("ai", "AI-generated"), ("signed", "Signed (C2PA)"), ("tampered", "Tampered / invalid"),
         ("camera", "Camera"), ("unknown", "Unknown"), ("error", "Errors"), ("skipped", "Skipped"))


def flags_of(report: dict) -> set[str]:
    """The ``--fail-on`` flags of a verify object (same rules as ``VerifyReport.flags``)."""
    out = set()
    label = report["verdict"]["label"]
    if label in AI_LABELS:
        out.add("ai")
    if report["c2pa"].get("status") in ("tampered", "invalid"):
        out.add(report["c2pa"]["status"])
    if report.get("errors"):
        out.add("error")
    if label == "unknown":
        out.add("unknown")
    return out


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


def _error_text(e: dict) -> str:
    count = e.get("count", 1)
    return f"{e['collector']}: {e['error']}" + (f" ({count} times)" if count > 1 else "")


def _full_id(payload: str, report: dict) -> str:
    """A watermark's id prefix (provenanceWM carries 48 bits) completed to the full content id
    when the file's own manifest or the registry's matching record names an id starting with it."""
    known = [b.get("value") for b in (report.get("c2pa") or {}).get("soft_bindings") or []]
    known.append((((report.get("registry") or {}).get("record")) or {}).get("content_id"))
    return next((k for k in known if isinstance(k, str) and k.startswith(payload)), payload)


def _registry_cells(report: dict, content_ids: list[str]) -> tuple[str, str, str]:
    """The registry's columns: every matched stamp's id, best first (``registry_ids``), how close
    the best one is (``registry_distance``: "pdq 6", "phash 2", "sha256 0"; empty for a watermark
    match), and the content id when the file has none of its own: a match by look fills
    ``content_id`` only when the verdict accepted it (the file is the stamped output, or its own
    evidence backs the match), never for a mere look-alike."""
    reg = report.get("registry") or {}
    ids = [c.get("content_id") for c in reg.get("candidates") or [] if c.get("content_id")]
    record_id = (reg.get("record") or {}).get("content_id")
    if not ids and record_id and reg.get("match") not in (None, "none"):
        ids = [record_id]
    distance = f"{reg['hash']} {reg['distance']}" if reg.get("match") == "fingerprint" and reg.get("hash") else ""
    content_id = content_ids[0] if content_ids else ""
    if not content_id and record_id and (reg.get("match") == "watermark" or
                                         "registry-fingerprint" in (report["verdict"].get("rules") or [])):
        content_id = record_id
    return " ".join(ids), distance, content_id


def summary_row(path: str, status: str, *, report: dict | None = None, reason: str | None = None,
                cached: bool = False, fmt: str | None = None, image: bool = False) -> dict:
    """The flat row for ``path``: every CSV column, empty where it does not apply.

    A name that is not UTF-8 is shown escaped in ``path``, its bytes in ``path_bytes_b64``. A
    skipped row keeps the format its content names (``fmt``) and, when it is an image
    (``image``), the flag ``skipped`` that ``--fail-on skipped`` counts.
    """
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(file_fields(path, "path"), status=status, reason=printable(reason or ""), cached=cached,
               format=fmt or "")
    if report is None:
        if status == "skipped" and image:
            row["flags"] = "skipped"
        return row
    v, c2pa = report["verdict"], report["c2pa"]
    meta = report.get("metadata") or {}
    gen = meta.get("generator") or {}
    detected = [w for w in report.get("watermarks", []) if w.get("detected")]
    content_ids = [_full_id(w["payload"], report) for w in detected
                   if w.get("kind") == "content-id" and w.get("payload")]
    p_ai = (report.get("forensics") or {}).get("p_ai")
    errors = [_error_text(e) for e in report.get("errors", [])]
    registry_ids, registry_distance, content_id = _registry_cells(report, content_ids)
    row.update(
        format=report.get("format") or "", width=report.get("width") or "", height=report.get("height") or "",
        sha256=report.get("sha256") or "", verdict=v["label"], confidence=round(float(v["confidence"]), 3),
        summary=v["summary"], c2pa_status=c2pa.get("status", "absent"),
        c2pa_signer=((c2pa.get("signer") or {}).get("common_name") or (c2pa.get("signer") or {}).get("issuer")
                     or ""),
        digital_source_type=c2pa.get("digital_source_type") or "",
        watermarks=" ".join(sorted({w["scheme"] for w in detected})),
        content_id=content_id,
        generator_family=v["how"].get("generator_family") or family_hint(
            v["how"].get("model"), gen.get("model"), (c2pa.get("generation") or {}).get("pipeline")),
        generator_tool=gen.get("tool") or v["how"].get("tool") or "",
        model=v["how"].get("model") or gen.get("model") or "",
        registry_match=(report.get("registry") or {}).get("match", "none"),
        registry_ids=registry_ids, registry_distance=registry_distance,
        p_ai="" if p_ai is None else round(float(p_ai), 4),
        conflicts="; ".join(v.get("conflicts", [])), errors="; ".join(errors),
        flags=" ".join(sorted(flags_of(report))),
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
    if row["c2pa_status"] in ("trusted", "valid"):
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
        if row["p_ai"] != "":
            self.p_ai_hist[min(int(float(row["p_ai"]) * P_AI_BINS), P_AI_BINS - 1)] += 1

    def to_dict(self) -> dict:
        return {"files": self.files, "analysed": self.analysed, "cached": self.cached, "flagged": self.flagged,
                "skipped_images": self.skipped_images,
                "cards": {k: self.cards.get(k, 0) for k, _ in CARDS}, "verdicts": dict(self.verdicts),
                "generator_families": dict(self.families), "signers": dict(self.signers),
                "p_ai_histogram": list(self.p_ai_hist)}
