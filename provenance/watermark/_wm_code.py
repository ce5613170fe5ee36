"""provenanceWM's payload code: what the mark carries and how often the detector may decode.

The content id's first 48 bits + CRC-32, BCH(m=8, t=16) -> 204 bits, whitened (``WM_CODEC``). A
word is accepted only within ``ACCEPT_DISTANCE`` flips of a codeword (BCH on the hard decisions,
else the ordered-statistics soft decoder of ``_soft_decode``); at most ``MAX_DECODES`` hypotheses
are decoded per image, so the reported false-positive probability is that many times the bound
for one decode (union bound): 2.3e-10.
"""
from __future__ import annotations

from ._soft_decode import DistanceCodec

MAX_DECODES = 4  # hypotheses decoded per image at most: multiplies the false-positive bound


#: Accepted words lie within this many bit flips of a codeword (BCH alone corrects 16; the OSD
#: soft decoder finds codewords up to here). With MAX_DECODES words tried per image the bound is
#: 4 x 2^48 x V(204, 31) / 2^204 = 2.3e-10 (``DistanceCodec``).
ACCEPT_DISTANCE = 31

#: The first 48 bits of the content id + CRC-32 + BCH(m=8, t=16): 80 + 124 = 204 bits. The bound
#: counts the 2^48 valid words: with the full 64-bit id (CRC-16) it allowed only 25 flips for the
#: same 2.5e-10, and the 6 more that 48 bits allow are what the 25%-area crops of busy images
#: need (docs/WATERMARK.md). 48 bits still name one stamp among millions in a registry.
WM_CODEC = DistanceCodec(name="id48-crc32-bch16", bits=204, id_bits=48, crc_bits=32, bch_t=16,
                         accept_distance=ACCEPT_DISTANCE, attempts=MAX_DECODES)
