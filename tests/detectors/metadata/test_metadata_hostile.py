"""Hostile metadata: each attack gives an ``errors`` entry (or nothing), never an exception or a hang."""
from __future__ import annotations

import dataclasses
import gzip
import io
import json
import struct
import time
import zlib

import numpy as np
import piexif
import piexif.helper
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from detectors.metadata import read_image_metadata
from provenance import ImageError
from provenance import LoadedImage, decode_image, sniff_format

PARAMS = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64"


def _rgb(width: int = 64, height: int = 64) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png(text: dict[str, str] | None = None, *, itxt: dict[str, str] | None = None, mode: str = "RGB",
         exif: bytes | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    image = Image.fromarray(_rgb())
    if mode == "RGBA":
        image.putalpha(255)
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_chunk(png: bytes, chunk: bytes) -> bytes:
    """Insert a chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    return png[:33] + chunk + png[33:]


def _loaded(data: bytes, like: bytes | None = None) -> LoadedImage:
    """A LoadedImage carrying ``data`` as its file bytes, with the pixels of a clean file ``like``.

    Used where Pillow (rightly) refuses to decode the hostile file at all: the metadata reader
    must still cope if it is ever handed such bytes.
    """
    clean = decode_image(like or _png())
    return dataclasses.replace(clean, data=data)


def _read(loaded: LoadedImage):
    start = time.perf_counter()
    evidence = read_image_metadata(loaded)
    elapsed = time.perf_counter() - start
    assert not [e for e in evidence.errors if "internal error" in e], evidence.errors
    json.dumps(evidence.to_dict(raw=True))
    return evidence, elapsed


# --- EXIF ----------------------------------------------------------------------------------------


def _bad_offset_tiff() -> bytes:
    """IFD0 with Make pointing past the end and an Exif IFD pointer to nowhere."""
    ifd = (struct.pack("<H", 2) + struct.pack("<HHII", 0x010F, 2, 50, 0xFFFF)
           + struct.pack("<HHII", 0x8769, 4, 1, 0xFFFFFF) + struct.pack("<I", 0))
    return b"II*\x00" + struct.pack("<I", 8) + ifd


@pytest.mark.parametrize("exif,message", [
    pytest.param(_bad_offset_tiff(), "exif: Tag data larger than file", id="bad-offsets"),
    pytest.param(b"II*\x00" + struct.pack("<I", 0x7FFFFFF0), "exif: Corrupt EXIF data", id="ifd-past-end"),
    pytest.param(b"this is not TIFF at all", "exif: malformed (SyntaxError", id="not-tiff"),
])
@pytest.mark.parametrize("container", [pytest.param("jpeg", id="jpeg"), pytest.param("png", id="png-eXIf")])
def test_malformed_exif(exif, message, container):
    """EXIF with bad offsets or no TIFF header gives an errors entry; the rest is still read."""
    if container == "png":
        loaded = decode_image(_with_chunk(_png({"parameters": PARAMS}), _chunk(b"eXIf", exif)))
    else:
        clean = io.BytesIO()
        Image.fromarray(_rgb()).save(clean, "JPEG")
        hostile = io.BytesIO()
        Image.fromarray(_rgb()).save(hostile, "JPEG", exif=b"Exif\x00\x00" + exif)
        # Pillow itself warns while opening such a JPEG, so build the LoadedImage around the bytes.
        loaded = _loaded(hostile.getvalue(), like=clean.getvalue())
    evidence, _ = _read(loaded)
    assert any(e.startswith(message) for e in evidence.errors), evidence.errors
    if container == "png":
        assert evidence.generator is not None and evidence.generator.steps == 20


# --- oversized and compressed text ---------------------------------------------------------------


def test_100_mb_text_chunk_is_skipped_not_parsed():
    """A 100 MB tEXt chunk is refused by Pillow (the pixels are then decoded without the PNG's text
    chunks, with a note) and skipped by the metadata reader with an error."""
    body = b"Comment\x00" + b"x" * 100_000_000
    png = _png({"parameters": PARAMS})
    hostile = b"".join([png[:33], struct.pack(">I", len(body)), b"tEXt", body,
                        struct.pack(">I", zlib.crc32(b"tEXt" + body)), png[33:]])
    del body
    decoded = decode_image(hostile)  # over Pillow's 64 MB text budget: decoded again without the chunk
    assert decoded.text == {} and any("without its non-pixel chunks" in n for n in decoded.notes)
    evidence, elapsed = _read(_loaded(hostile))
    assert any("'Comment' is 100,000,008 bytes, over the" in e for e in evidence.errors), evidence.errors
    assert evidence.generator is not None and evidence.generator.tool == "AUTOMATIC1111"
    assert "Comment" not in evidence.text_chunks
    assert elapsed < 2.0


def test_large_text_chunk_within_pillows_budget():
    """An 8 MB parameters chunk decodes, and the collector skips it with an errors entry."""
    loaded = decode_image(_png({"parameters": PARAMS + "\n" + "y" * 8_000_000}))
    evidence, elapsed = _read(loaded)
    assert any("'parameters' is" in e and "over the" in e for e in evidence.errors)
    assert evidence.generator is None and elapsed < 2.0


@pytest.mark.parametrize("kind", [pytest.param(b"zTXt", id="zTXt"), pytest.param(b"iTXt", id="iTXt")])
def test_compressed_text_bomb(kind):
    """64 MB of zeros in 64 KB of deflate stops at the inflate limit."""
    bomb = zlib.compress(b"\x00" * 64_000_000, 9)
    body = b"prompt\x00\x00" + bomb if kind == b"zTXt" else b"prompt\x00\x01\x00\x00\x00" + bomb
    evidence, elapsed = _read(_loaded(_with_chunk(_png(), _chunk(kind, body))))
    assert any("inflates past" in e for e in evidence.errors), evidence.errors
    assert elapsed < 2.0


def test_chunk_with_bad_crc_and_truncated_file():
    """A text chunk failing its CRC is ignored; a chunk running past the end stops the walk."""
    bad = bytearray(_chunk(b"tEXt", b"parameters\x00" + PARAMS.encode()))
    bad[-1] ^= 0xFF
    data = _with_chunk(_png(), bytes(bad))
    evidence, _ = _read(_loaded(data))
    assert any("fails its CRC" in e for e in evidence.errors) and evidence.generator is None
    truncated = _with_chunk(_png(), struct.pack(">I", 1_000_000) + b"tEXt" + b"parameters\x00abc")
    evidence, _ = _read(_loaded(truncated))
    assert any("runs past the end" in e for e in evidence.errors)


def test_quadratic_regex_input_stays_linear():
    """A multi-megabyte settings line without the shape A1111's regex expects is read in linear time."""
    nasty = "prompt\n" + "a " * 1_000_000 + ", " + "b" * 500_000 + ": " + '"' + "\\" * 400_001
    evidence, elapsed = _read(decode_image(_png({"parameters": nasty})))
    assert "parameters" in evidence.text_chunks  # under the size limit: the scanner did run on it
    assert evidence.generator is None and elapsed < 3.0


def test_unterminated_quoted_list_in_easy_diffusion_text():
    """A megabyte-long unterminated Python-list value is scanned once, not backtracked over."""
    text = {"use_stable_diffusion_model": "sd", "prompt": "p", "num_inference_steps": "5",
            "use_lora_model": "['" + "a" * 1_000_000 + "\\'" * 1000 + "]", "lora_alpha": "[" + "0.5, " * 100_000 + "]"}
    evidence, elapsed = _read(LoadedImage(path=None, format="PNG", rgb=_rgb(16, 16), text=text))
    assert evidence.generator is not None and evidence.generator.tool == "Easy Diffusion"
    assert len(evidence.generator.loras) == 1 and elapsed < 2.0


# --- JSON ----------------------------------------------------------------------------------------


def test_deeply_nested_json_in_comfyui_chunk():
    """200,000 nested brackets in the prompt chunk give an errors entry, not a RecursionError."""
    deep = "[" * 200_000 + "]" * 200_000
    evidence, elapsed = _read(decode_image(_png({"prompt": deep, "workflow": '{"nodes": ' + deep + "}"})))
    assert any(e.startswith("png:prompt: JSON nested too deeply") for e in evidence.errors), evidence.errors
    assert evidence.generator is None and elapsed < 2.0


def test_nesting_just_under_the_parser_limit_is_walked_without_recursion():
    """JSON that does parse (900 levels) inside node inputs is carried without being walked recursively."""
    nested: object = "leaf"
    for _ in range(900):
        nested = [nested]
    graph = {"1": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 10, "cfg": 7, "sampler_name": "euler",
                                                        "scheduler": "normal", "positive": nested, "weird": nested}}}
    evidence, _ = _read(decode_image(_png({"prompt": json.dumps(graph)})))
    assert evidence.generator is not None and (evidence.generator.seed, evidence.generator.steps) == (5, 10)


def test_huge_and_cyclic_comfyui_graph():
    """A 19,000-node chain with back edges is walked within a visit budget and returns quickly."""
    graph = {"0": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["1", 0], "seed": 3,
                                                        "steps": 9, "cfg": 4, "sampler_name": "euler"}}}
    for i in range(1, 19_000):
        graph[str(i)] = {"class_type": f"Custom{i % 7}", "inputs": {"model": [str(i + 1), 0], "back": [str(i - 1), 0]}}
    graph["19000"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "far.safetensors"}}
    evidence, elapsed = _read(decode_image(_png({"prompt": json.dumps(graph)})))
    info = evidence.generator
    assert info is not None and (info.tool, info.seed, info.steps) == ("ComfyUI", 3, 9)
    assert elapsed < 5.0


@pytest.mark.parametrize("prompt", [
    pytest.param('{"1": "not a node", "2": {"class_type": 5}}', id="not-nodes"),
    pytest.param('{"1": {"class_type": "KSampler", "inputs": {"model": ["404", 0], "positive": [1, 2, 3], '
                 '"steps": "many", "cfg": NaN, "seed": 1e400}}}', id="dangling-links-and-junk-values"),
    pytest.param('{"nodes": [{"id": 1, "type": "KSampler", "inputs": [{"name": "model", "link": [1]}], '
                 '"widgets_values": ["x", null, {"a": 1}]}], "links": [[1, 2], "x", null]}', id="broken-workflow"),
])
def test_malformed_comfyui_graphs(prompt):
    """Malformed graphs (non-node entries, dangling links, junk values) never raise."""
    _read(decode_image(_png({"prompt": prompt, "workflow": prompt})))


# --- XML -----------------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:CreatorTool>&lol9;</xmp:CreatorTool>
</rdf:Description></rdf:RDF></x:xmpmeta>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:CreatorTool>&secret;</xmp:CreatorTool>
</rdf:Description></rdf:RDF></x:xmpmeta>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"/>"""

UNDECLARED_ENTITY = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:Rating>5</xmp:Rating>
<xmp:CreatorTool>&undefined;</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize("xmp,message", [
    pytest.param(BILLION_LAUGHS, "has a DOCTYPE", id="billion-laughs"),
    pytest.param(XXE, "has a DOCTYPE", id="external-entity"),
    pytest.param(PARAMETER_ENTITY, "has a DOCTYPE", id="parameter-entity"),
    pytest.param(UNDECLARED_ENTITY, "malformed XMP (undefined entity", id="undeclared-entity"),
])
@pytest.mark.parametrize("container", [pytest.param("png", id="png"), pytest.param("jpeg", id="jpeg")])
def test_xml_bombs_and_external_entities(xmp, message, container):
    """XMP with entities is refused (no expansion, no fetch); the refusal is an errors entry."""
    if container == "png":
        loaded = decode_image(_png(itxt={"XML:com.adobe.xmp": xmp}))
    else:
        buf = io.BytesIO()
        Image.fromarray(_rgb()).save(buf, "JPEG", xmp=xmp.encode())
        loaded = decode_image(buf.getvalue())
    evidence, elapsed = _read(loaded)
    assert any(e.startswith("xmp: ") and message in e for e in evidence.errors), evidence.errors
    assert "creator_tool" not in evidence.xmp and "root:" not in json.dumps(evidence.to_dict(raw=True))
    if xmp is UNDECLARED_ENTITY:
        assert evidence.xmp_properties.get("xmp:Rating") == "5"  # what came before the fault is kept
    assert elapsed < 1.0


def test_oversized_xmp_is_skipped():
    """An XMP packet over the size limit is skipped with an errors entry."""
    xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/">' + " " * 5_000_000 + "</x:xmpmeta>"
    evidence, _ = _read(decode_image(_png(itxt={"XML:com.adobe.xmp": xmp})))
    assert any("'XML:com.adobe.xmp' is" in e and "over the" in e for e in evidence.errors), evidence.errors
    assert evidence.xmp == {}
    from detectors.metadata._xmp import parse_xmp

    errors: list[str] = []
    assert parse_xmp(xmp, errors=errors) == {}
    assert errors and errors[0].startswith("xmp: XMP packet is") and "over the" in errors[0]


# --- stealth -------------------------------------------------------------------------------------


def _alpha_lsb_png(stream: bytes) -> bytes:
    image = Image.fromarray(_rgb())
    image.putalpha(255)
    pixels = np.array(image)
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))
    alpha = pixels[..., 3].T.reshape(-1)
    alpha[: bits.size] = (alpha[: bits.size] & 0xFE) | bits
    pixels[..., 3] = alpha.reshape(pixels.shape[1], pixels.shape[0]).T
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("stream,message", [
    pytest.param(b"stealth_pnginfo" + (10**9).to_bytes(4, "big"), "does not fit in the image", id="length-too-big"),
    pytest.param(b"stealth_pnginfo" + (13).to_bytes(4, "big") + b"ab", "not a whole number of bytes", id="odd-bits"),
    pytest.param(b"stealth_pngcomp" + (64 * 8).to_bytes(4, "big") + b"\x1f\x8b" + b"\xff" * 62,
                 "gzip payload is corrupt", id="corrupt-gzip"),
])
def test_hostile_stealth_payloads(stream, message):
    """A stealth header claiming too much, a partial byte or a corrupt gzip gives an errors entry."""
    evidence, _ = _read(decode_image(_alpha_lsb_png(stream)))
    assert any(message in e for e in evidence.errors), evidence.errors
    assert evidence.generator is None


def test_stealth_gzip_bomb():
    """A stealth gzip payload that inflates past the limit is stopped."""
    bomb = gzip.compress(b"A" * 10_000_000, 9)
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (400, 400, 3), dtype=np.uint8))
    image.putalpha(255)
    pixels = np.array(image)
    stream = b"stealth_pngcomp" + (len(bomb) * 8).to_bytes(4, "big") + bomb
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))
    alpha = pixels[..., 3].T.reshape(-1)
    alpha[: bits.size] = (alpha[: bits.size] & 0xFE) | bits
    pixels[..., 3] = alpha.reshape(400, 400).T
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    evidence, elapsed = _read(decode_image(buf.getvalue()))
    assert any("inflates past" in e for e in evidence.errors) and elapsed < 2.0


# --- property-based: mutated real files ----------------------------------------------------------


def _seed_files() -> list[bytes]:
    """Small files carrying every kind of metadata we read, to be mutated."""
    comfy = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 3, "sampler_name": "e",
                                                                   "model": ["4", 0], "positive": ["6", 0]}},
                        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m"}},
                        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "t"}}})
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           'xmlns:xmp="http://ns.adobe.com/xap/1.0/"><Iptc4xmpExt:DigitalSourceType>'
           "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>"
           "<xmp:CreatorTool>Draw Things</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>")
    camera = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Nikon", piexif.ImageIFD.DateTime: b"2024:01:02 03:04:05"},
                          "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2024:01:01 03:04:05",
                                   piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(PARAMS, "unicode")},
                          "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N"}})
    files = [_png({"parameters": PARAMS, "prompt": comfy, "Software": "NovelAI", "Comment": '{"uc": "x"}'},
                  itxt={"XML:com.adobe.xmp": xmp, "workflow": '{"nodes": [], "links": []}'}, mode="RGBA",
                  exif=camera),
             _alpha_lsb_png(b"stealth_pngcomp" + (len(gzip.compress(PARAMS.encode())) * 8).to_bytes(4, "big")
                            + gzip.compress(PARAMS.encode()))]
    for fmt in ("JPEG", "WEBP"):
        buf = io.BytesIO()
        Image.fromarray(_rgb(32, 32)).save(buf, fmt, exif=camera, xmp=xmp.encode(), quality=80)
        files.append(buf.getvalue())
    return files


SEEDS = _seed_files()
_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("overwrite"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
)


def _mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for op, where, arg in mutations:
        if not buf:
            break
        pos = where % len(buf)
        if op == "flip":
            buf[pos] ^= arg
        elif op == "overwrite":
            buf[pos : pos + len(arg)] = arg
        elif op == "insert":
            buf[pos:pos] = arg
        elif op == "delete":
            del buf[pos : pos + arg]
        else:
            del buf[pos:]
    return bytes(buf)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.sampled_from(range(len(SEEDS))), mutations=st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_files_never_raise(seed, mutations):
    """Random byte flips, overwrites, inserts, deletions and truncations of real files never raise."""
    original = SEEDS[seed]
    data = _mutate(original, mutations)
    clean = decode_image(original)
    fmt = sniff_format(data[:16]) or clean.format
    _read(dataclasses.replace(clean, data=data, format=fmt))  # the raw bytes, whatever Pillow thinks of them
    try:
        loaded = decode_image(data)
    except (ImageError, Warning):  # Pillow may warn about (and refuse) a damaged file: its call, not ours
        return
    _read(loaded)


_KEYS = st.sampled_from(["parameters", "prompt", "workflow", "Comment", "Software", "Description", "Source",
                         "invokeai_metadata", "sd-metadata", "Dream", "fooocus_scheme", "use_stable_diffusion_model",
                         "lora_alpha", "use_lora_model", "XML:com.adobe.xmp"])
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(
                         st.sampled_from(["class_type", "inputs", "nodes", "links", "text", "seed", "steps", "model",
                                          "positive", "lora_name", "sui_image_params", "image", "prompt", "loras",
                                          "c", "uc", "3", "4", "id", "type", "widgets_values"]) | st.text(max_size=8),
                         children, max_size=4), max_leaves=12)
_VALUES = st.one_of(st.text(max_size=60), _JSON.map(json.dumps),
                    st.sampled_from(["Software: NovelAI", "NovelAI", "fooocus", PARAMS, "[1, 'a']"]))


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_arbitrary_text_chunks_never_raise(text):
    """Any mix of generator keys with arbitrary text or JSON values goes through every parser without raising."""
    loaded = LoadedImage(path=None, format="PNG", rgb=_rgb(16, 16), text=text)
    _read(loaded)
