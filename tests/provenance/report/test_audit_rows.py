"""The CSV row's registry columns: matched ids for every match kind, content_id only when earned."""
from __future__ import annotations

from provenance._verdict import fuse
from provenance import VerifyReport
from provenance.report import summary_row

LOOKALIKE = {"match": "fingerprint", "hash": "pdq", "distance": 6, "identical_file": False,
             "record": {"content_id": "5eed0f00dcafe123", "created_at": "2026-12-01", "output_path": "/out/a.png"},
             "candidates": [{"content_id": "5eed0f00dcafe123"}, {"content_id": "0badc0de00000000"}]}


def _row(**kw) -> dict:
    r = VerifyReport(file="x.png", **kw)
    r.verdict = fuse(r)
    return summary_row("x.png", "ok", report=r.to_dict())


def test_lookalike_lists_every_candidate_but_claims_no_content_id():
    """A look-alike: every candidate id, best first, and the distance; content_id stays empty."""
    row = _row(registry=LOOKALIKE)
    assert row["registry_match"] == "fingerprint" and row["registry_ids"] == "5eed0f00dcafe123 0badc0de00000000"
    assert row["registry_distance"] == "pdq 6" and row["content_id"] == ""


def test_backed_fingerprint_match_fills_content_id():
    """A match by look that the file's own metadata backs names the stamp as the content id."""
    row = _row(registry=LOOKALIKE, metadata={"generator": {"tool": "ComfyUI"}})
    assert row["verdict"] == "ai-generated" and row["content_id"] == "5eed0f00dcafe123"


def test_watermark_match_lists_its_stamp():
    """A watermark match's stamp is in registry_ids too, and the id prefix completes to it."""
    mark = {"kind": "content-id", "scheme": "provenanceWM", "detected": True, "payload": "5eed0f00dcaf",
            "partial": True, "bit_errors": 0, "false_positive_rate": 2.3e-10}
    reg = {"match": "watermark", "scheme": "provenanceWM", "record": LOOKALIKE["record"],
           "candidates": [{"content_id": "5eed0f00dcafe123", "kind": "watermark"}]}
    row = _row(watermarks=[mark], registry=reg)
    assert row["registry_ids"] == "5eed0f00dcafe123" and row["content_id"] == "5eed0f00dcafe123"
    assert row["registry_distance"] == ""


def test_fast_scan_is_part_of_the_cache_fingerprint():
    """A cached audit made with --fast is not served to a full-search audit, nor the reverse."""
    from provenance.audit._cache import options_fingerprint

    from provenance import VerifyOptions

    assert options_fingerprint(VerifyOptions(forensics=False)) != \
        options_fingerprint(VerifyOptions(forensics=False, fast_watermarks=True))
