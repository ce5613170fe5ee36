"""Trust-list benchmark: what the public C2PA lists and naming the anchor cost the C2PA collector.

    .venv/bin/python bench/trust_lists.py [--repeat 21]

One thread. A 512² JPEG signed by the tool's own root (trusted: the anchor is found by asking
c2pa-rs again with one source), one signed by an unknown CA (valid: nothing more to ask) and the
unsigned JPEG (absent), each
read ``--repeat`` times by ``collect_c2pa`` with the local anchors only (the baseline, as before
the lists shipped) and with the public lists (the default); prints median milliseconds.
"""
from __future__ import annotations

import _one_core  # noqa: F401  (first: pins the thread pools before numpy loads)

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support.signing import MakerCA, jpeg_bytes, sign_image  # noqa: E402

MANIFEST = {"claim_generator_info": [{"name": "bench", "version": "1"}], "title": "b.jpg",
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                {"action": "c2pa.created",
                 "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}}]}


def median_ms(fn, repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    os.environ["PROVENANCE_HOME"] = tempfile.mkdtemp(prefix="bench-trust-")
    from provenance import init_keys, load_identity
    from provenance._c2pa_evidence import collect_c2pa
    from provenance._trust import trust_anchors

    init_keys(org="Bench")
    me = load_identity()
    pem, _ = trust_anchors()
    image = jpeg_bytes(size=512)
    own = sign_image(MANIFEST, me.chain_pem, me.key_pem, image)
    other = sign_image(MANIFEST, *MakerCA("Elsewhere").signer("Elsewhere Signer"), image)
    print(f"{'file':<26}{'local anchors only':>20}{'+ public lists':>16}")
    for name, data in (("own root (trusted)", own), ("unknown CA (valid)", other), ("no manifest (absent)", image)):
        base = median_ms(lambda: collect_c2pa(data, trust_anchors_pem=pem, public_trust=False), args.repeat)
        public = median_ms(lambda: collect_c2pa(data, trust_anchors_pem=pem, public_trust=True), args.repeat)
        status = collect_c2pa(data, trust_anchors_pem=pem, public_trust=True).status
        print(f"{name:<26}{base:>17.2f} ms{public:>13.2f} ms   ({status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
