"""The text report ``provenance verify`` prints: the verdict, then each piece of evidence behind it."""
from __future__ import annotations

from .._text import printable
from ..evidence import VerifyReport


def unread_error(report: VerifyReport) -> str | None:
    """The reason nothing was analysed (the file could not be read), or None."""
    return next((e.error for e in report.errors if e.collector == "read"), None)


def render_text(report: VerifyReport) -> str:
    """The readable report of one file (no trailing newline)."""
    v, c, reg = report.verdict, report.c2pa, report.registry
    lines = [f"{printable(report.file)}: {v.label.upper()} (confidence {v.confidence:.2f})", f"  {v.summary}"]
    how = {k: val for k, val in v.how.items() if val not in (None, "unknown", [])}
    if how:
        lines.append("  how: " + ", ".join(f"{k}={val}" for k, val in how.items()))
    if c.present:
        lines.append(f"  c2pa: {c.status}" + (f", signed by {c.signer_label}" if c.signer_label else "")
                     + (f", anchored by the {c.anchored_by['list']} ({c.anchored_by['version']})"
                        if c.anchored_by else "")
                     + (f", certificate expired (judged {'at its timestamp' if (c.expiry or {}).get('timestamp') == 'present' else 'now: no timestamp'})"
                        if c.expired else "")
                     + (f", codes {', '.join(c.codes)}" if c.codes else ""))
    for w in report.detected_marks:
        kind = "id prefix " if w.partial else ""
        flip = (w.extra or {}).get("flip")
        lines.append(f"  watermark: {w.scheme} {kind}{w.payload} "
                     f"(false-positive rate {w.false_positive_rate:.1e}{'; the copy is flipped ' + flip if flip else ''})")
    gen = report.metadata.generator
    if gen is not None:
        lines.append(f"  metadata: written by {gen.tool}" + (f", model {gen.model}" if gen.model else ""))
    if reg.match == "watermark":
        rec = reg.record or {}
        lines.append(f"  registry: watermark match, stamp {reg.record_id} ({rec.get('output_path')})")
    elif reg.match == "fingerprint":
        lines.append("  registry: the stamped file itself" if reg.identical_file else
                     "  registry: looks like (by PDQ / pHash; not itself evidence of AI), best first:")
        for cand in reg.candidates:
            dist = ", ".join(f"{name} distance {cand[key]}" for name, key in
                             (("PDQ", "pdq_distance"), ("pHash", "phash_distance"), ("sha256", "distance"))
                             if cand.get(key) is not None)
            lines.append(f"    stamp {cand['content_id']} ({dist}"
                         f"{'; ' + cand['pdq_transform'] if cand.get('pdq_transform') else ''}), "
                         f"stamped {cand.get('created_at')}, {cand.get('output_path')}")
    elif reg.match == "resolver":
        pixels = "pixels differ from the signed image's" if reg.pixels == "differ" else "the signed pixels"
        lines.append(f"  resolver: {reg.endpoint}, manifest {reg.manifest_id} ({reg.status}, signed by "
                     f"{reg.signer}; {pixels})")
        gen = reg.record_generation or {}
        shown = {k: gen.get(k) for k in ("model", "prompt", "seed", "steps", "generator") if gen.get(k) not in (None, "")}
        if shown:
            lines.append("    record: " + ", ".join(f"{k}={printable(str(v))[:120]}" for k, v in shown.items()))
    for r in reg.rejected or []:
        lines.append(f"  resolver: rejected manifest {r.get('manifest_id')} from {r.get('endpoint')}: {r.get('reason')}")
    if report.forensics.p_ai is not None:
        lines.append(f"  forensics: p_ai={report.forensics.p_ai:.2f} (an estimate)")
    lines += [f"  conflict: {conflict}" for conflict in v.conflicts]
    lines += [f"  error ({e.collector}): {e.error}" for e in report.errors]
    return "\n".join(lines)
