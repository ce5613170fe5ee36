"""The audit's worker pool: start-up work stays out of the first file, and the run reports its timing."""
from __future__ import annotations

import hashlib

import pytest

from provenance.audit import AuditOptions, audit_paths
from provenance.audit import AuditFileOptions
from provenance.audit._pool import run_pool

from support.audit_data import save_png


def test_summary_times_the_first_and_last_result(tmp_path):
    """The summary says when the pool returned its first and last file, inside the run's duration."""
    for seed in range(3):
        save_png(tmp_path / f"{seed}.png", seed)
    summary = audit_paths([str(tmp_path)], AuditOptions(forensics=False, workers=1, progress=False))
    t = summary.timing
    assert summary.totals.analysed == 3
    assert 0 < t["first_result"] <= t["last_result"] <= t["seconds"]
    assert summary.to_dict()["timing"] == t


def test_worker_reports_the_digest_it_hashed(tmp_path):
    """The worker hashes each file once and the report carries that digest."""
    path = save_png(tmp_path / "a.png", 3)
    config = AuditFileOptions(forensics=False, watermark_methods=("dwtDctSvd",), fingerprint="x", thumbnails=False)
    [result] = run_pool(iter([str(path)]), config, workers=1, timeout=None)
    assert result.sha256 == result.report["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_forensic_model_loads_before_the_first_file_and_its_time_limit(tmp_path):
    """A worker loads the forensic model at start-up (with skops it took several seconds), so a per-file
    time limit shorter than that load still lets the first file through with its estimate."""
    path = save_png(tmp_path / "a.png", 4)
    config = AuditFileOptions(forensics=True, watermark_methods=("dwtDctSvd",), fingerprint="x", thumbnails=False)
    [result] = run_pool(iter([str(path)]), config, workers=1, timeout=4.0)
    assert not result.report["errors"], result.report["errors"]
    assert result.report["forensics"]["status"] == "estimate"



def test_thumbnails_come_from_the_pixels_verify_decoded(tmp_path):
    """With thumbnails on, the worker makes each one from the pixels verify decoded (a PNG's bytes
    are not decoded a second time) or, for a JPEG, from a reduced-scale decode of its bytes. Both
    are small JPEGs of the picture."""
    import io

    import numpy as np
    from PIL import Image

    from provenance.audit._file import make_thumbnail

    png = save_png(tmp_path / "a.png", 5)
    jpg = tmp_path / "b.jpg"
    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"))
        im.convert("RGB").save(jpg, quality=95)
        full = np.asarray(im.convert("RGB").resize((160, 160), Image.BILINEAR), np.float64)
    config = AuditFileOptions(forensics=False, watermark_methods=("dwtDctSvd",), fingerprint="x", thumbnails=True)
    results = run_pool(iter([str(png), str(jpg)]), config, workers=1, timeout=None)
    # Given the pixels, the PNG's bytes are not decoded: a PNG signature over garbage still works.
    garbage = b"\x89PNG\r\n\x1a\n" + bytes(200)
    assert make_thumbnail(garbage) is None
    thumbs = [r.thumbnail for r in results] + [make_thumbnail(garbage, rgb=rgb)]
    for t in thumbs:
        with Image.open(io.BytesIO(t)) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) == 160
            assert np.abs(np.asarray(thumb.convert("RGB"), np.float64) - full).mean() < 12
