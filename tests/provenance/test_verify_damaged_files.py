"""verify on files whose pixels do not (fully) decode: the evidence in the bytes still counts.

A signed, registered image with one hostile text chunk, a cut-off JPEG, a file too large to
decode here; a batch with one file that runs out of memory; a FIFO and /dev/urandom."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib

import pytest

from support import REPO
from support import run_cli as run
from provenance import GenerationRecord, Registry, stamp_file
from provenance._png import chunk
from provenance import trust_anchors
from provenance import VerifyOptions, verify_bytes, verify_file

RECORD = GenerationRecord.from_dict({"generator": "diffusers", "model": "sdxl-base-1.0", "seed": 7})
CONTENT_ID = "5eed0f00dcafe123"  # the PNG's; the JPEG's ends in 4


@pytest.fixture
def registry(home):
    with Registry() as reg:
        yield reg


@pytest.fixture
def options(identity, registry):
    return VerifyOptions(trust_anchors_pem=trust_anchors()[0], registry=registry, forensics=False)


@pytest.fixture
def stamped(tmp_path, photo_png, identity, registry):
    out = {}
    for fmt, content_id in (("png", CONTENT_ID), ("jpg", CONTENT_ID[:-1] + "4")):
        out[fmt] = tmp_path / f"stamped.{fmt}"
        stamp_file(photo_png, out[fmt], identity=identity, record=RECORD, registry=registry, content_id=content_id)
    return out


def _with_ztxt_before_iend(png: bytes, inflated_bytes: int) -> bytes:
    """``png`` with one zTXt chunk (``inflated_bytes`` of zeros, deflated) just before IEND."""
    body = b"Comment\x00\x00" + zlib.compress(b"\x00" * inflated_bytes, 9)
    at = png.rindex(b"IEND") - 4
    return png[:at] + chunk(b"zTXt", body) + png[at:]


def _ours(report: dict) -> list[dict]:
    return [w for w in report["watermarks"] if w["kind"] == "content-id" and w["detected"]]


def test_ztxt_chunk_over_pillows_limit_keeps_the_evidence(stamped, options):
    """One ~1 KB zTXt chunk inflating to just over 1 MiB (Pillow's text limit) before IEND of a
    stamped PNG: the file is still analysed (it used to be 'unknown 0.0' with C2PA absent)."""
    data = _with_ztxt_before_iend(stamped["png"].read_bytes(), (1 << 20) + 1)
    assert len(data) - stamped["png"].stat().st_size < 1200
    r = verify_bytes(data, name="bomb.png", options=options).to_dict()
    assert r["width"] == 512 and _ours(r) and _ours(r)[0]["payload"] == CONTENT_ID[:12]
    assert r["c2pa"]["status"] == "tampered"  # a chunk was added after signing: said so, not absent
    assert r["registry"]["match"] == "watermark" and r["verdict"]["label"] == "ai-generated"


def test_text_chunk_past_every_limit_still_decodes_the_pixels(stamped, options):
    """A zTXt chunk inflating to 9 MiB (past our raised limit too): the pixels are decoded without
    the PNG's non-pixel chunks, an errors entry says so, and the watermark is still found."""
    data = _with_ztxt_before_iend(stamped["png"].read_bytes(), 9 << 20)
    r = verify_bytes(data, name="bomb9.png", options=options).to_dict()
    assert _ours(r) and r["verdict"]["label"] == "ai-generated"
    decode_notes = [e["error"] for e in r["errors"] if e["collector"] == "decode"]
    assert any("decoded without its non-pixel chunks" in n and "zTXt" in n for n in decode_notes)
    assert r["c2pa"]["status"] == "tampered"


def test_pixels_that_do_not_decode_leave_the_byte_evidence(stamped, options):
    """Above --max-pixels the pixels are not decoded, but the signed, registered file is still
    recognised from its bytes: C2PA trusted, a sha256 registry match, the generator metadata."""
    from dataclasses import replace

    r = verify_file(stamped["png"], options=replace(options, max_pixels=1000)).to_dict()
    assert any(e["collector"] == "decode" and "above the limit of 1,000 pixels" in e["error"] for e in r["errors"])
    assert r["c2pa"]["status"] == "trusted" and r["c2pa"]["soft_bindings"][0]["value"] == CONTENT_ID
    assert r["registry"]["match"] == "fingerprint" and r["registry"]["identical_file"] is True
    assert r["metadata"]["generator"]["model"] == "sdxl-base-1.0"
    assert r["watermarks"] == [] and r["format"] == "PNG" and r["width"] is None
    assert r["verdict"]["label"] == "ai-generated" and r["verdict"]["rules"][0] == "c2pa-ai"


def test_corrupt_pixel_data_still_reads_the_manifest(stamped, options):
    """A PNG whose image data is damaged (pixels refused) keeps its manifest evidence: 'tampered'
    (the bytes changed after signing), with the generator metadata still read."""
    data = bytearray(stamped["png"].read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 200:idat + 264] = b"\x00" * 64
    r = verify_bytes(bytes(data), name="broken.png", options=options).to_dict()
    assert any(e["collector"] == "decode" for e in r["errors"]) and r["watermarks"] == []
    assert r["c2pa"]["status"] == "tampered" and r["metadata"]["generator"]["model"] == "sdxl-base-1.0"
    assert r["verdict"]["label"] == "ai-generated" and "c2pa-ai-tampered" in r["verdict"]["rules"]


def test_truncated_jpeg_is_analysed_as_far_as_it_goes(stamped, options):
    """A stamped JPEG cut at two thirds: the part that decodes still carries the watermark; an
    errors entry says the pixels are partial, and the C2PA binding no longer matches."""
    data = stamped["jpg"].read_bytes()
    r = verify_bytes(data[: len(data) * 2 // 3], name="cut.jpg", options=options).to_dict()
    assert r["width"] == 512 and _ours(r) and r["verdict"]["label"] == "ai-generated"
    assert any(e["collector"] == "decode" and "truncated JPEG" in e["error"] for e in r["errors"])
    assert r["c2pa"]["status"] in ("tampered", "invalid")


def test_truncated_jpeg_is_still_refused_outside_verify(stamped):
    """Stamping or detecting needs the whole image: there a cut-off JPEG is still an error."""
    from provenance import ImageError
    from provenance import decode_image

    data = stamped["jpg"].read_bytes()
    with pytest.raises(ImageError, match="corrupt or truncated"):
        decode_image(data[: len(data) * 2 // 3], name="cut.jpg")


@pytest.mark.timeout(60)  # reading the FIFO used to block forever
def test_fifo_devices_and_folders_are_refused_without_reading(tmp_path, capsys, home):
    """A FIFO (which would block forever), /dev/urandom (which never ends) and a folder are refused at once,
    as error entries; the other files of the batch are still reported."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    good = tmp_path / "plain.png"
    from PIL import Image

    from support import natural_image

    Image.fromarray(natural_image(200, 200)).save(good)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    files = [str(fifo), "/dev/urandom", str(folder), str(good)]
    code, out, _ = run(capsys, "verify", *files, "--json", "--no-forensics")
    reports = json.loads(out)
    assert code == 1 and [r["file"] for r in reports] == files
    assert "a FIFO, not a regular file" in reports[0]["errors"][0]["error"]
    assert "a character device, not a regular file" in reports[1]["errors"][0]["error"]
    assert "is a directory, not an image" in reports[2]["errors"][0]["error"]
    assert reports[3]["errors"] == []


def test_file_over_the_size_cap_is_refused(tmp_path):
    """A file larger than the cap is refused from its size, before it is read."""
    from provenance import ImageError
    from provenance._imageio import read_bytes

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000)
    with pytest.raises(ImageError, match="above the limit of 4,096 for one file"):
        read_bytes(big, max_bytes=4096)
    assert len(read_bytes(big)) == 5008


@pytest.mark.slow
def test_out_of_memory_in_one_file_keeps_the_batch(tmp_path, home):
    """Under a real address-space limit, a file that needs more memory than there is becomes an
    error entry and the files after it are still verified and printed."""
    import numpy as np
    from PIL import Image

    from support import natural_image

    huge = tmp_path / "huge.png"
    Image.fromarray(np.zeros((9000, 9000), dtype=np.uint8)).save(huge)  # 81 MP, a small file
    small = tmp_path / "small.png"
    Image.fromarray(natural_image(256, 256)).save(small)
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(REPO)!r})
        import cli, provenance._verify, detectors.metadata, detectors.sd_watermarks  # everything loaded first
        with open("/proc/self/statm") as fh:
            size = int(fh.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + 400 * 1024 * 1024, resource.RLIM_INFINITY))
        sys.exit(cli.main(["verify", {str(huge)!r}, {str(small)!r}, "--json", "--no-forensics", "--no-registry"]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OPENCV_FOR_THREADS_NUM": "1", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1, proc.stderr[-3000:]
    reports = json.loads(proc.stdout)
    assert [r["file"] for r in reports] == [str(huge), str(small)]
    assert any("out of memory" in e["error"] for e in reports[0]["errors"])
    assert reports[1]["errors"] == [] and reports[1]["width"] == 256


def test_fuzzed_png_chunks_never_crash_hang_or_hide_the_manifest(stamped, options):
    """Property test: a stamped PNG with one hostile chunk added (text or zTXt inflating up to
    32 MiB, an eXIf or private chunk, a length that lies, a bad CRC), anywhere before IEND: verify
    never raises, stays within seconds, gives a schema-valid report, never calls the store absent,
    and a file whose pixels do not decode says so under errors."""
    import time

    import jsonschema
    from hypothesis import HealthCheck, given, settings

    from provenance._data_files import VERIFY_SCHEMA, load_json
    from hypothesis import strategies as st

    schema = load_json(VERIFY_SCHEMA)
    png = stamped["png"].read_bytes()
    iend = png.rindex(b"IEND") - 4
    idat = png.index(b"IDAT") - 4

    def hostile(kind: bytes, size: int, bad_crc: bool, lie: int | None, where: int) -> bytes:
        if kind == b"zTXt":
            body = b"Comment\x00\x00" + zlib.compress(b"\x00" * size, 9)
        elif kind == b"iTXt":
            body = b"Comment\x00\x01\x00\x00\x00" + zlib.compress(b"a" * size, 9)
        else:
            body = b"Comment\x00" + b"x" * min(size, 1 << 20)
        data = chunk(kind, body)
        if bad_crc:
            data = data[:-4] + bytes(4)
        if lie is not None:  # a length field that lies
            data = lie.to_bytes(4, "big") + data[4:]
        at = {"after-IHDR": 33, "before-IDAT": idat, "before-IEND": iend}[where]
        return png[:at] + data + png[at:]

    # Small drawn values (the chunk is built from them), so a failing example prints short.
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
    @given(st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"prVt", b"caBX"]),
           st.sampled_from([0, 10, 1 << 20, (1 << 20) + 1, 9 << 20, 32 << 20]), st.booleans(),
           st.sampled_from([None, 0, 1, 1 << 31]), st.sampled_from(["after-IHDR", "before-IDAT", "before-IEND"]))
    def check(kind, size, bad_crc, lie, where):
        data = hostile(kind, size, bad_crc, lie, where)
        t = time.perf_counter()
        r = verify_bytes(data, name="fuzzed.png", options=options).to_dict()
        assert time.perf_counter() - t < 20
        jsonschema.validate(r, schema)
        assert r["c2pa"]["status"] != "absent", r["c2pa"]
        if r["width"] is None:
            assert any(e["collector"] == "decode" for e in r["errors"])

    check()
