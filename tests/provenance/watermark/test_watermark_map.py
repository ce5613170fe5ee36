"""provenanceWM's localisation map: where the mark is missing (edits), block by block."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from support import jpeg_roundtrip, natural_image, run_cli
from provenance.watermark import get_method, localize_watermark, render_map

CID = "8f14e45fceea167a"
#: The pasted region: rows 96-320, columns 160-384 of a 448 px image, a quarter of its area;
#: in 32 px blocks, rows 3-9 and columns 5-11.
EDIT = (slice(96, 320), slice(160, 384))
EDIT_BLOCKS = (slice(3, 10), slice(5, 12))


@pytest.fixture(scope="module")
def stamped():
    return get_method("provenanceWM").embed(natural_image(448, 448, seed=21), CID)


def _paste(img: np.ndarray) -> np.ndarray:
    """A foreign (unmarked) patch over a known quarter of the image."""
    out = img.copy()
    out[EDIT] = natural_image(224, 224, seed=99)
    return out


def _flagged(wmap) -> tuple[float, float]:
    """Share of missing blocks inside the edit, and outside it (one block away from its edge)."""
    inside = np.zeros(wmap.scores.shape, bool)
    inside[EDIT_BLOCKS] = True
    near = np.zeros_like(inside)
    near[2:11, 4:13] = True
    return float(wmap.missing[inside].mean()), float(wmap.missing[~near].mean())


def test_untouched_image_has_almost_no_missing_blocks(stamped):
    """A stamped image, untouched or re-encoded at JPEG q90: the mark is found everywhere."""
    for img in (stamped, jpeg_roundtrip(stamped, 90)):
        wmap = localize_watermark(img)
        assert wmap.detected and wmap.detection.payload == CID[:12]
        assert wmap.scores.shape == (14, 14) and wmap.block == 32
        assert wmap.missing_share <= 0.05, wmap.scores


@pytest.mark.parametrize("attack", [
    pytest.param(lambda x: x, id="pasted"),
    pytest.param(lambda x: jpeg_roundtrip(x, 90), id="pasted-then-jpeg-q90"),
])
def test_pasted_region_is_flagged_and_the_rest_is_not(stamped, attack):
    """A foreign patch over a quarter of the image: its blocks are flagged, the rest are not."""
    wmap = localize_watermark(attack(_paste(stamped)))
    assert wmap.detected and wmap.detection.payload == CID[:12]
    inside, outside = _flagged(wmap)
    assert inside >= 0.8 and outside <= 0.05, (inside, outside, wmap.scores)


def test_blurred_region_is_flagged(stamped):
    """Heavy smoothing of a region (as an inpainting would leave) removes the mark there."""
    import cv2

    edited = stamped.copy()
    edited[EDIT] = cv2.GaussianBlur(stamped[EDIT], (0, 0), 6.0)
    inside, outside = _flagged(localize_watermark(edited))
    assert inside >= 0.8 and outside <= 0.05, (inside, outside)


def test_unmarked_image_gives_an_empty_map():
    """Without the mark there is nothing to map: undetected, empty grids, no share."""
    wmap = localize_watermark(natural_image(320, 320, seed=40))
    assert not wmap.detected and wmap.scores.size == 0 and wmap.missing_share is None
    assert wmap.to_dict()["blocks_missing"] == 0


def test_render_map_tints_missing_blocks(stamped):
    """The overlay is red where the mark is missing, the image's own colours (lightly green) elsewhere."""
    edited = _paste(stamped)
    wmap = localize_watermark(edited)
    overlay = render_map(edited, wmap)
    assert overlay.shape == edited.shape and overlay.dtype == np.uint8
    redness = overlay[..., 0].astype(int) - overlay[..., 1]
    before = edited[..., 0].astype(int) - edited[..., 1]
    assert (redness - before)[160:256, 224:320].mean() > 60  # deep inside the edit
    assert (redness - before)[:64, :64].mean() < 0  # a far corner: green tint


def test_cli_detect_writes_the_map(stamped, tmp_path, capsys, monkeypatch):
    """`watermark detect FILE --map out.png --json` writes the overlay and prints its summary;
    provenanceWM is detected once (by the map), not once more by the detect loop."""
    from provenance.watermark._wm_method import ProvenanceWM

    src, out = tmp_path / "edited.png", tmp_path / "edited.map.png"
    Image.fromarray(_paste(stamped)).save(src)
    calls = []
    locate = ProvenanceWM._locate
    monkeypatch.setattr(ProvenanceWM, "_locate", lambda self, *a, **k: calls.append(k) or locate(self, *a, **k))
    code, stdout, _ = run_cli(capsys, "watermark", "detect", str(src), "--map", str(out), "--json")
    assert code == 0 and calls == [{"search": True}]
    result = json.loads(stdout)[0]
    ours = [w for w in result["watermarks"] if w["scheme"] == "provenanceWM"]
    assert len(ours) == 1 and ours[0]["payload"] == CID[:12] and ours[0]["extra"]["searched"]
    assert result["map"]["file"] == str(out) and result["map"]["detected"]
    assert 0.15 <= result["map"]["missing_share"] <= 0.35
    assert len(result["map"]["scores"]) == result["map"]["rows"] == 14
    assert result["map"]["blocks_uncertain"] >= 0 and result["map"]["threshold"] == 2.0
    with Image.open(out) as im:
        assert im.size == (448, 448)
    code, stdout, _ = run_cli(capsys, "watermark", "detect", str(src), "--map", str(out), "--overwrite")
    assert code == 0 and "mark missing in" in stdout and "of 196 blocks" in stdout
    # Never replaced without --overwrite; one FILE only.
    code, _, err = run_cli(capsys, "watermark", "detect", str(src), "--map", str(out))
    assert code != 0 and "exists" in err
    code, _, _ = run_cli(capsys, "watermark", "detect", str(src), str(src), "--map", str(tmp_path / "x.png"))
    assert code == 2
