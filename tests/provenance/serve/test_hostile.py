"""Hostile clients against a real server: oversized bodies, non-images, decompression bombs, slow
senders; every refusal is a JSON error without a stack trace."""
from __future__ import annotations

import socket
import time
import zlib
import struct

import httpx
import pytest

from support.service import check_response, running_service

pytestmark = pytest.mark.slow


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height pixels, with a few bytes of compressed rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def assert_plain_json_error(resp, status: int) -> str:
    assert resp.status_code == status, resp.text[:300]
    body = resp.json()
    assert set(body) == {"error"} and "Traceback" not in body["error"] and 'File "' not in body["error"]
    return body["error"]


def test_body_limit_answers_413(stamped):
    """A body past the limit is refused with 413: declared too large (before it is read) or sent
    in chunks that pass it."""
    _p, _r, reg_path = stamped
    with running_service(reg_path, max_body_bytes=1024 * 1024) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/v1/matches/byContent", content=b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024))
        check_response("/matches/byContent", "POST", r)
        assert "limit is 1,048,576" in assert_plain_json_error(r, 413)

        def chunks():
            for _ in range(40):
                yield b"\xff\xd8\xff" + b"\0" * 65536
        r = c.post("/v1/matches/byContent", content=chunks())
        assert "passes the limit" in assert_plain_json_error(r, 413)
        r = c.post("/verify", content=b"\0" * (2 * 1024 * 1024))
        assert_plain_json_error(r, 413)


def test_non_images_and_bombs_are_refused_before_decoding(stamped):
    """Text, HTML and a truncated PNG are 415; a PNG header declaring 40,000 x 40,000 pixels is
    413 at once (the pixel limit is read from the header), without decoding a pixel."""
    _p, _r, reg_path = stamped
    with running_service(reg_path) as url, httpx.Client(base_url=url, timeout=30) as c:
        for body in (b"hello", b"<html><script>alert(1)</script></html>", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b""):
            r = c.post("/v1/matches/byContent", content=body, headers={"Content-Type": "image/png"})
            check_response("/matches/byContent", "POST", r)
            assert r.status_code in (400, 415)
            assert_plain_json_error(r, 400 if body == b"" else 415)
        t = time.monotonic()
        r = c.post("/v1/matches/byContent", content=bomb_png(40000, 40000), headers={"Content-Type": "image/png"})
        check_response("/matches/byContent", "POST", r)
        assert "decompression bomb" in assert_plain_json_error(r, 413)
        assert time.monotonic() - t < 5
        r = c.post("/v1/manifests/", content=b"x")
        assert r.status_code in (401, 404, 405) and set(r.json()) == {"error"}


def test_a_slow_sender_is_cut_off_at_the_time_limit(stamped):
    """A client that sends its body a byte at a time gets the time-limit error, not a held worker."""
    _p, _r, reg_path = stamped
    with running_service(reg_path, time_limit_s=1.0) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /v1/matches/byContent HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      b"Content-Length: 100000\r\n\r\n")
            t = time.monotonic()
            s.settimeout(0.2)
            answer = b""
            while time.monotonic() - t < 8 and not answer.endswith(b"}"):
                try:
                    s.sendall(b"\0")
                except OSError:
                    break
                try:
                    answer += s.recv(4096)
                except socket.timeout:
                    pass
            assert answer.startswith(b"HTTP/1.1 500"), answer[:200]
            assert b"longer than the service's limit of 1 s" in answer and b"Traceback" not in answer
            assert time.monotonic() - t < 5


def test_unknown_routes_and_methods_are_json(stamped):
    """404 and 405 are JSON errors too."""
    _p, _r, reg_path = stamped
    with running_service(reg_path) as url, httpx.Client(base_url=url) as c:
        assert assert_plain_json_error(c.get("/v1/nope"), 404) == "no such route"
        assert_plain_json_error(c.put("/v1/matches/byContent"), 405)
