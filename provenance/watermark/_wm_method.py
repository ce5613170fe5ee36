"""provenanceWM: our own watermark, a periodic spread-spectrum tile in the luminance.

Design (docs/WATERMARK.md explains it with the measurements), one module a job:

* **Payload** (``_wm_code``): the content id's first 48 bits + CRC-32, BCH(m=8, t=16) -> 204 bits,
  whitened.
* **Tile** (``_wm_tile``): a pattern defined in the Fourier domain of one tile: in-band bins carry
  the coded bits (4 per bit), the others a fixed pilot, the synchronisation reference.
* **Embed** (``_wm_embed``): the tile repeated over the image as a luminance change, weighted by
  local activity, capped at 40 dB PSNR, with informed per-bit gains; ``embed`` below checks its
  own mark with the fast scan and embeds again, stronger, when it is not found.
* **Detect**: first at the embedder's own geometry (this is all the default ``scan`` does), then
  the geometric search (``_wm_search``) for scaled, rotated, stretched or flipped copies; each
  hypothesis is folded modulo the tile and synchronised on the pilot (``_wm_fold``, ``_wm_sync``).
* **Decode**: matched filter per bit (soft values), BCH (t = 16) on the hard decisions, else an
  ordered-statistics soft decoder (``_soft_decode``); at most ``MAX_DECODES`` hypotheses decoded.
* **Localise** (``_localize``): where a decoded mark is missing, block by block.
"""
from __future__ import annotations

import numpy as np

from ._base import WatermarkMethod, WatermarkResult
from ._localize import WatermarkMap, localize_mark
from ._soft_decode import soft_decode
from ._wm_code import MAX_DECODES, WM_CODEC
from ._wm_embed import embed_pattern
from ._wm_fold import FLIPS, soft_bits, working_luma
from ._wm_sync import Hypothesis, exact_hypotheses, find_hypotheses, own_periods, searched_hypotheses

#: The amplitudes ``embed`` tries in turn until its own fast scan decodes the mark: the 40 dB mark
#: first, then 1.26x and 1.58x as strong (PSNR >= ~38 and ~36 dB) for the few small, busy images
#: where 40 dB is not enough.
EMBED_GAINS = (1.0, 1.26, 1.58)
SYNC_Z = 4.0  # pilot peak (in standard deviations) a hypothesis needs before it is decoded
#: Hypotheses the fast scan never makes (mirrored ones, searched ones) are decoded only from this
#: pilot z up: there are more of them, so noise reaches z = 4 more often (on one in nine unmarked
#: images per hypothesis), and every mark that decoded on the bench images had z > 5.1.
EXTRA_Z = 5.0
MIN_DETECT = (96, 96)  # smallest image the detector looks at (embedding needs ``min_size``)


def _bits_hex(bits: np.ndarray) -> str:
    return np.packbits(bits).tobytes().hex()


#: How a detection reports the flip it undid (``extra["flip"]``).
_FLIP_NAMES = {(1, -1): "horizontal", (-1, 1): "vertical", (-1, -1): "both (rotated 180 degrees)"}


class ProvenanceWM(WatermarkMethod):
    name = "provenanceWM"
    summary = ("our tiled spread-spectrum luminance mark (the default): 48-bit id prefix, BCH + OSD soft "
               "decoding; survives JPEG, cropping, resizing (0.3-2x), aspect change, rotation up to 7 "
               "degrees and flips")
    codec = WM_CODEC
    min_size = (256, 256)
    #: verify and audit run the full detector by default (``detect``: the embedder's own geometry,
    #: mirrored too, then the geometric search, whose lattices are folded only when the pilot shows
    #: in the spectrum). ``scan`` is the cheaper own-geometry-only check behind ``--fast``.
    scan_by_default = True

    def detect(self, image: np.ndarray) -> WatermarkResult:
        """Synchronise (own geometry first, mirrored too, then the geometric search), then decode
        the strongest hypotheses; undetected when none decodes."""
        return self._detect(image, search=True)

    def scan(self, image: np.ndarray) -> WatermarkResult:
        """The fast check (``--fast``): the embedder's own tile geometry only, unmirrored, no
        geometric search (untouched, re-encoded, filtered or cropped copies)."""
        return self._detect(image, search=False)

    def localize(self, image: np.ndarray, *, block: int | None = None) -> WatermarkMap:
        """Where the mark is missing: detect (with the geometric search), then correlate the
        decoded payload's own pattern with the image block by block (``_localize``).
        Undetected: an empty map (nothing to compare with)."""
        rgb = np.ascontiguousarray(image, dtype=np.uint8)
        result, hyp = self._locate(rgb, search=True)
        if hyp is None:
            return WatermarkMap(result)
        return localize_mark(rgb, result, hyp, self.codec.encode_payload(result.payload), block=block)

    def _detect(self, image: np.ndarray, *, search: bool) -> WatermarkResult:
        return self._locate(image, search=search)[0]

    def _locate(self, image: np.ndarray, *, search: bool) -> tuple[WatermarkResult, Hypothesis | None]:
        """The detection result, and the hypothesis (geometry, offset, flip) that decoded, if any."""
        h, w = image.shape[:2]
        if w < MIN_DETECT[0] or h < MIN_DETECT[1]:
            return WatermarkResult(self.name, False, extra={"reason": f"image smaller than {MIN_DETECT[0]}x{MIN_DETECT[1]}"}), None
        rgb = np.ascontiguousarray(image, dtype=np.uint8)
        y, s = working_luma(rgb)
        attempts, raw, best = 0, None, None
        # Cheap first: an untouched, only cropped or mirrored image needs no geometric search.
        stages = [lambda: exact_hypotheses(y, s, rgb.shape[:2], flips=FLIPS if search else ((1, 1),))]
        if search:
            stages.append(lambda: searched_hypotheses(y, tuple(own_periods(s, rgb.shape[:2]))))
        for stage in stages:
            hyps = stage()
            if hyps and (best is None or hyps[0][0] > best):
                best = hyps[0][0]
                # The raw word reported (for audits and calibration) is the best hypothesis' hard
                # decisions, decoded or not.
                raw = _bits_hex((soft_bits(hyps[0][1], hyps[0][2]) > 0).astype(np.uint8))
            for z, spec, offset, v1, v2, flip in hyps[:MAX_DECODES - 1]:
                if z < (SYNC_Z if flip == (1, 1) and stage is stages[0] else EXTRA_Z) or attempts >= MAX_DECODES:
                    continue
                attempts += 1
                decoded = soft_decode(self.codec, soft_bits(spec, offset))
                if decoded.valid:
                    extra = {"sync_z": round(z, 2), "searched": search}
                    if flip != (1, 1):
                        extra["flip"] = _FLIP_NAMES[flip]
                    return self._result(decoded, **extra), Hypothesis(z, offset, v1, v2, s, flip)
        return WatermarkResult(self.name, False, false_positive_rate=self.codec.false_positive_rate, raw_bits=raw,
                               extra={"sync_z": None if best is None else round(best, 2), "searched": search}), None

    def embed(self, image: np.ndarray, content_id: str) -> np.ndarray:
        """Embed, then check with the fast scan that the mark decodes to this id; if not, embed
        again from the original pixels at the next, larger amplitude of :data:`EMBED_GAINS`.

        At 40 dB a small busy image (2x2 tiles at 256², masking weak in its flat parts) misses its
        own mark about once in 30; a mark that is not found at once is found by nobody later.
        Returns the first embedding that decodes (or, if none does, the strongest)."""
        self.check_size(image)
        rgb = np.ascontiguousarray(image, dtype=np.uint8)
        bits = self.codec.encode(content_id)
        expected = content_id[: self.codec.id_hex_len]
        for gain in EMBED_GAINS:
            marked = embed_pattern(rgb, bits, gain=gain)
            found = self.scan(marked)
            if found.detected and found.payload == expected:
                break
        return marked

    def _embed(self, image: np.ndarray, bits: np.ndarray) -> np.ndarray:
        return embed_pattern(image, bits)

    def _extract(self, image: np.ndarray) -> np.ndarray:
        hyps = find_hypotheses(image)
        return (hyps[0][1] > 0).astype(np.uint8) if hyps else np.zeros(self.codec.bits, np.uint8)
