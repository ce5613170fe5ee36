"""Populate samples/ with the files the README's main command audits.

    .venv/bin/python samples/make_samples.py

What it writes (see samples/README.md for what each file shows):
- the two synthetic scenes of render_samples.py (unstamped: no evidence either way);
- those scenes stamped by this tool (watermark, metadata, signed C2PA) with a demo key;
- a stamped image re-encoded as a platform would (metadata and manifest gone, watermark left);
- a stamped JPEG whose pixels were changed after signing (tampered);
- two public-domain photos shipped with scikit-image (a dev dependency);
- a truncated, corrupt JPEG;
- samples/trust/demo-root.pem: the root certificate of this run's demo key, so that
  ``provenance audit samples/ --trust samples/trust/demo-root.pem`` shows the stamps as trusted.

The demo signing key lives in a temporary PROVENANCE_HOME and is deleted at the end: no key is
ever written under samples/ (or committed). Each run makes a new key, so the stamped images and the
root certificate are replaced together.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ inside the folder the demo audits

from render_samples import landscape, still_life  # noqa: E402

#: Public-domain photos from scikit-image's data folder: (source file, output name, licence note).
PUBLIC_DOMAIN = (
    ("astronaut.png", "photo-astronaut.jpg", "NASA (Eileen Collins), public domain"),
    ("rocket.jpg", "photo-rocket.jpg", "SpaceX launch photo of DSCOVR, released into the public domain"),
)


def _skimage_data() -> Path:
    try:
        import skimage
    except ImportError as e:
        raise SystemExit("scikit-image is needed for the public-domain photos: pip install -e '.[dev]'") from e
    return Path(skimage.__file__).resolve().parent / "data"


def _write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)
    print(f"wrote samples/{name} ({len(data) / 1024:.0f} KiB)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="provenance-demo-") as tmp:
        os.environ["PROVENANCE_HOME"] = tmp
        from provenance import GenerationRecord, init_keys, load_identity, stamp_file
        from provenance._keys import ROOT_CERT
        from provenance.watermark import DEFAULT_METHOD, detect_watermarks

        keys = init_keys(org="Provenance Demo")
        identity = load_identity()
        record = GenerationRecord.from_json_file(HERE / "params.json")

        # Inputs: the synthetic scenes (also kept as unstamped samples).
        landscape().save(HERE / "landscape.png", optimize=True)
        still_life().save(HERE / "still_life.jpg", quality=92)
        stamped_png = HERE / "ai-landscape.stamped.png"
        stamped_jpg = HERE / "ai-still_life.stamped.jpg"
        stamp_file(HERE / "landscape.png", stamped_png, identity=identity, record=record, overwrite=True)
        stamp_file(HERE / "still_life.jpg", stamped_jpg, identity=identity,
                   record=record.merged(prompt="a still life with three fruits on a table", seed=11), overwrite=True)
        print(f"wrote {stamped_png.relative_to(HERE.parent)}, {stamped_jpg.relative_to(HERE.parent)} (stamped)")

        # What a platform does on upload: decode, re-encode, drop every metadata block.
        buf = io.BytesIO()
        Image.open(stamped_png).convert("RGB").save(buf, "JPEG", quality=95)
        reencoded = buf.getvalue()
        marks = [m for m in detect_watermarks(_rgb(reencoded), methods=[DEFAULT_METHOD]) if m.detected]
        if not marks:
            print("warning: the watermark did not survive the re-encoding this time", file=sys.stderr)
        _write("ai-landscape.reencoded.jpg", reencoded)

        # Pixels changed after signing: one bit inside the entropy-coded scan (the manifest stays).
        tampered = bytearray(stamped_jpg.read_bytes())
        tampered[-300] ^= 0x04
        _write("ai-still_life.tampered.jpg", bytes(tampered))

        data_dir = _skimage_data()
        for src, name, _licence in PUBLIC_DOMAIN:
            img = Image.open(data_dir / src).convert("RGB")
            if src.endswith(".jpg"):
                _write(name, (data_dir / src).read_bytes())
            else:
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=88)
                _write(name, buf.getvalue())

        # Truncated mid-scan: a JPEG header that promises more than the file holds.
        _write("corrupt.jpg", (HERE / "still_life.jpg").read_bytes()[:4000])

        (HERE / "trust").mkdir(exist_ok=True)
        shutil.copyfile(keys / ROOT_CERT, HERE / "trust" / "demo-root.pem")
        print("wrote samples/trust/demo-root.pem (the demo key itself was deleted with its temporary folder)")
    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    print(f"samples/ holds {total / 1e6:.2f} MB")


def _rgb(data: bytes):
    import numpy as np

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


if __name__ == "__main__":
    main()
