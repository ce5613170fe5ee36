"""C2PA evidence under damage: the status rule (validation_state + codes), ingredients that fail,
manifest stores that are present but unreadable, and where the bytes keep a store."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from provenance import GenerationRecord, stamp_file
from provenance._c2pa_evidence import classify, collect_c2pa
from provenance._jumbf import locate_manifest_store
from provenance._png import chunk
from provenance import trust_anchors

RECORD = GenerationRecord.from_dict({"generator": "diffusers", "model": "sdxl-base-1.0"})
PARENT_RECORD = GenerationRecord.from_dict({"model": "parent-model", "extra": {"marker": "PARENTMARKER"}})


@pytest.mark.parametrize("codes,state,status", [
    pytest.param([], "Trusted", "trusted", id="trusted"),
    pytest.param([], "Valid", "valid", id="valid"),
    pytest.param(["signingCredential.untrusted"], "Valid", "valid", id="untrusted-signer-is-valid"),
    pytest.param([], "Invalid", "invalid", id="invalid-state-without-codes"),  # e.g. only an ingredient failed
    pytest.param(["signingCredential.untrusted"], "Invalid", "invalid", id="invalid-state-untrusted-code"),
    pytest.param(["assertion.dataHash.mismatch"], "Invalid", "tampered", id="hard-binding"),
    pytest.param(["assertion.bmffHash.mismatch"], "Invalid", "tampered", id="bmff-hard-binding"),
    pytest.param(["claimSignature.mismatch", "assertion.dataHash.mismatch"], "Invalid", "tampered",
                 id="hard-binding-outranks"),
    pytest.param(["claimSignature.mismatch"], "Invalid", "invalid", id="signature"),
    pytest.param(["assertion.hashedURI.mismatch"], "Valid", "invalid", id="failure-code-beats-valid-state"),
    pytest.param([], None, "invalid", id="no-state"),
    pytest.param([], "Unknown", "invalid", id="unknown-state"),
])
def test_classify_table(codes, state, status):
    """The whole status rule: c2pa-rs's validation_state is followed; a hard-binding mismatch is
    'tampered'; any other failure code (but the untrusted signer) is 'invalid'."""
    assert classify(codes, state) == status


@pytest.fixture
def anchors(identity):
    return trust_anchors()[0]


@pytest.fixture
def stamped(tmp_path, photo_png, identity):
    """A stamped JPEG and PNG (the signing identity's root is the trust anchor)."""
    out = {}
    for fmt in ("jpg", "png"):
        out[fmt] = tmp_path / f"stamped.{fmt}"
        stamp_file(photo_png, out[fmt], identity=identity, record=RECORD)
    return out


def test_ingredient_with_hashed_uri_mismatch_is_invalid(tmp_path, photo_png, identity, anchors):
    """An ingredient whose manifest no longer matches the hash the active manifest recorded for it
    (as in the conformance file adobe-20220124-E-uri-CIE-sig-CA.jpg): c2pa-rs says Invalid, so
    the status is invalid, and the ingredient carries the codes found now, not those recorded
    when it was added."""
    parent = tmp_path / "parent.jpg"
    stamp_file(photo_png, parent, identity=identity, record=PARENT_RECORD)
    child = tmp_path / "child.jpg"
    stamp_file(photo_png, child, identity=identity, record=RECORD, parent=parent)
    data = child.read_bytes()
    assert data.count(b"PARENTMARKER") == 1  # in the parent's assertion, copied into the child's store
    damaged = data.replace(b"PARENTMARKER", b"PARENTMARKEX")
    assert collect_c2pa(data, trust_anchors_pem=anchors).status == "trusted"
    ev = collect_c2pa(damaged, trust_anchors_pem=anchors)
    assert ev.validation_state == "Invalid" and ev.status == "invalid"
    [ing] = ev.ingredients
    assert ing["status"] == "invalid" and "assertion.hashedURI.mismatch" in ing["codes"]
    assert "ingredient.manifest.mismatch" in ing["codes"]
    assert "parent.jpg" in ev.error and "validation_state is Invalid" in ev.error


def _flip(data: bytes, pos: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 0x01
    return bytes(out)


def _assertion_cbor_flip(data: bytes) -> bytes:
    """One bit of the first CBOR byte of the soft-binding assertion (c2pa-python then raises
    KeyError('Active manifest not found in manifest store'))."""
    label = data.index(b"c2pa.soft-binding\x00")  # the assertion's JUMBF label (the store comes first)
    return _flip(data, data.index(b"cbor", label) + 4)


def _label_flip(data: bytes) -> bytes:
    """One bit inside an assertion's JUMBF label."""
    return _flip(data, data.index(b"c2pa.soft-binding\x00") + 6)


def _store_type_flip(data: bytes) -> bytes:
    """One bit of the store's JUMBF description type (c2pa-python then finds no store at all)."""
    return _flip(data, data.index(b"jumdc2pa") + 4)


def _xlbox(data: bytes, value: int = 1 << 63) -> bytes:
    """The store's superbox rewritten with a 64-bit length (XLBox) of ``value``."""
    box = data.index(b"jumb") - 4
    if data.startswith(b"\x89PNG"):
        start = data.index(b"caBX") - 4
        length = int.from_bytes(data[start:start + 4], "big")
        body = data[start + 8:start + 8 + length]
        body = b"\x00\x00\x00\x01jumb" + value.to_bytes(8, "big") + body[8:]
        return data[:start] + chunk(b"caBX", body) + data[start + 12 + length:]
    seg = data.rindex(b"\xff\xeb", 0, box)  # the APP11 segment holding the box: its length grows by 8
    seglen = int.from_bytes(data[seg + 2:seg + 4], "big")
    return (data[:seg + 2] + struct.pack(">H", seglen + 8) + data[seg + 4:box] + b"\x00\x00\x00\x01jumb"
            + value.to_bytes(8, "big") + data[box + 8:])


def _app11_marker_flip(data: bytes) -> bytes:
    """The APP11 marker turned into APP10: the store is no longer where JPEG keeps it."""
    seg = data.rindex(b"\xff\xeb", 0, data.index(b"jumb"))
    return _flip(data, seg + 1)


@pytest.mark.parametrize("fmt,damage,expect", [
    pytest.param("jpg", _assertion_cbor_flip, "Active manifest not found", id="jpg-keyerror"),
    pytest.param("png", _assertion_cbor_flip, "Active manifest not found", id="png-keyerror"),
    pytest.param("jpg", _label_flip, "", id="jpg-assertion-label"),
    pytest.param("jpg", _store_type_flip, "present (JPEG APP11", id="jpg-store-type"),
    pytest.param("png", _store_type_flip, "", id="png-store-type"),
    pytest.param("jpg", _xlbox, "9,223,372,036,854,775,808 bytes", id="jpg-xlbox-2^63"),
    pytest.param("jpg", _app11_marker_flip, "not where JPEG files keep one", id="jpg-not-in-app11"),
])
def test_damaged_store_is_invalid_with_a_reason(stamped, anchors, fmt, damage, expect):
    """A manifest store the bytes hold but c2pa-python cannot read (or reads without finding the
    active manifest) is 'invalid' with the reason, never 'absent'."""
    ev = collect_c2pa(damage(stamped[fmt].read_bytes()), trust_anchors_pem=anchors)
    assert ev.status == "invalid", ev
    assert ev.error and expect in ev.error
    assert ev.store is not None


def test_png_xlbox_is_read_and_located(stamped, anchors):
    """A PNG store with a 64-bit length of 2^63 is still found (and located) as a store; the SDK
    reads it here, so its own verdict on the changed file stands."""
    data = _xlbox(stamped["png"].read_bytes())
    ev = collect_c2pa(data, trust_anchors_pem=anchors)
    assert ev.status in ("invalid", "tampered") and ev.store["container"] == "PNG caBX"
    assert "declares 9,223,372,036,854,775,808 bytes" in ev.store["problem"]


def test_locate_manifest_store(stamped, tmp_path, photo, identity):
    """The store is found in JPEG APP11, PNG caBX and WebP C2PA, with its declared length; an
    unsigned image holds none."""
    webp = tmp_path / "stamped.webp"
    stamp_file(stamped["png"], webp, identity=identity, record=RECORD)
    for path, container in ((stamped["jpg"], "JPEG APP11"), (stamped["png"], "PNG caBX"), (webp, "WebP C2PA")):
        data = path.read_bytes()
        fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[path.suffix[1:]]
        loc = locate_manifest_store(data, fmt)
        assert loc is not None and loc.container == container and loc.problem is None
        assert data[loc.offset + 4:loc.offset + 8] == b"jumb" and loc.length > 1000
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG")
    assert locate_manifest_store(buf.getvalue(), "PNG") is None
    assert locate_manifest_store(b"\xff\xd8\xff\xd9", "JPEG") is None


def test_unsigned_image_is_absent_without_error(photo, anchors):
    """No store in the bytes: 'absent', no error, as before."""
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG")
    ev = collect_c2pa(buf.getvalue(), trust_anchors_pem=anchors)
    assert ev.status == "absent" and ev.error is None and ev.store is None


def test_fuzzed_manifest_stores_never_read_as_absent(stamped, anchors):
    """Property test: bit flips and rewritten box lengths inside a stamped JPEG's or PNG's manifest
    store never raise, and a store the bytes still hold is never reported absent; 'invalid'
    always comes with its codes or a reason."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    originals = {fmt: p.read_bytes() for fmt, p in stamped.items()}
    spans = {}
    for fmt, data in originals.items():
        loc = locate_manifest_store(data, {"jpg": "JPEG", "png": "PNG"}[fmt])
        spans[fmt] = (loc.offset - 12, loc.offset + loc.length)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(sorted(originals)), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)),
                                                        min_size=1, max_size=3),
           st.sampled_from([None, 0, 2, 7, 1 << 31, 1 << 63, (1 << 64) - 1]))
    def check(fmt, flips, xlbox):
        data = originals[fmt]
        if xlbox is not None:
            data = _xlbox(data, xlbox)
        lo, hi = spans[fmt]
        out = bytearray(data)
        for where, bit in flips:
            out[int(lo + where * (hi - lo - 1))] ^= 1 << bit
        data = bytes(out)
        ev = collect_c2pa(data, trust_anchors_pem=anchors)
        loc = locate_manifest_store(data, {"jpg": "JPEG", "png": "PNG"}[fmt])
        assert loc is None or ev.status != "absent"
        if ev.status == "invalid":
            assert ev.codes or ev.error

    check()


def test_png_crc_of_manifest_chunk_is_not_needed_to_find_it(stamped):
    """The locator reads the chunk structure, not its CRC: a caBX chunk with a wrong CRC is
    still a store that is there."""
    data = stamped["png"].read_bytes()
    start = data.index(b"caBX") - 4
    length = int.from_bytes(data[start:start + 4], "big")
    crc_at = start + 8 + length
    bad = data[:crc_at] + struct.pack(">I", (zlib.crc32(b"x") & 0xFFFFFFFF)) + data[crc_at + 4:]
    assert locate_manifest_store(bad, "PNG").container == "PNG caBX"
