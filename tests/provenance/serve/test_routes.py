"""The Soft Binding Resolution API routes on a real uvicorn server: every answer checked against
the OpenAPI document's status codes, media types and schemas."""
from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from support.service import SHARED_OPENAPI, OPENAPI, check_response, openapi, running_service

pytestmark = pytest.mark.slow


def b64hex(hex_value: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_value)).decode()


def resized_png(path, factor: float = 0.5) -> bytes:
    im = Image.open(path).convert("RGB")
    im = im.resize((int(im.width * factor), int(im.height * factor)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def tokens(tmp_path):
    """A token file with a store token and a fetch-only token: (TokenStore, store token, fetch token)."""
    from provenance.serve import TokenStore, new_token

    f = tmp_path / "tokens.txt"
    store = new_token(f)
    fetch = new_token(f, ("fetch:manifests",))
    return TokenStore.load(f), store, fetch


def test_shipped_document_is_the_shared_one():
    """The OpenAPI document shipped with the package (and served) is the one in shared/specs."""
    if SHARED_OPENAPI.exists():
        assert OPENAPI.read_bytes() == SHARED_OPENAPI.read_bytes()
    assert openapi()["info"]["version"] == "2.4.0"


def test_every_route_answers_as_documented(stamped, tokens, tmp_path):
    """Query, fetch, store, bind, delete and service routes: each status code the flow meets is
    documented for its operation and each body matches its schema; every operation is exercised."""
    path, result, reg_path = stamped
    store_tokens, store_token, fetch_token = tokens
    from provenance import Registry

    with Registry(reg_path) as reg:
        manifest_id = reg.manifest_id_for(result.content_id)
        store_bytes = reg.get_manifest_store(manifest_id)
    assert manifest_id == result.manifest_id and store_bytes
    seen = set()
    with running_service(reg_path, tokens=store_tokens) as url, httpx.Client(base_url=url, timeout=60) as c:
        def call(method, template, actual=None, **kw):
            resp = c.request(method, "/v1" + (actual or template) if template != "/.well-known/c2pa-soft-binding-resolution"
                             else template, **kw)
            check_response(template, method, resp)
            seen.add((template, method.lower()))
            return resp

        # service
        wk = call("GET", "/.well-known/c2pa-soft-binding-resolution").json()
        assert wk["apiEndpoint"] == url + "/v1"
        caps = call("GET", "/services/capabilities").json()
        assert {"queryByContent", "storeManifests", "storeBindings"} <= set(caps["supportedCapabilities"])
        assert call("GET", "/services/status").json()["status"] == "ok"
        algs = call("GET", "/services/supportedAlgorithms").json()
        assert "org.provenance.watermark.provenanceWM" in [a["alg"] for a in algs["watermarks"]]
        assert {"org.provenance.fingerprint.pdq", "io.iscc.v0"} <= {a["alg"] for a in algs["fingerprints"]}

        # query by binding: the watermark's 48-bit prefix finds the stamp, exactly
        wm = "org.provenance.watermark.provenanceWM"
        r = call("GET", "/matches/byBinding", params={"alg": wm, "value": b64hex(result.content_id[:12])})
        assert r.json()["matches"] == [{"manifestId": manifest_id, "similarityScore": 1.0}]
        r = call("POST", "/matches/byBinding", json={"alg": wm, "value": b64hex(result.content_id)})
        assert [m["manifestId"] for m in r.json()["matches"]] == [manifest_id]
        assert call("GET", "/matches/byBinding", params={"alg": wm, "value": b64hex("00" * 6)}).json() == {"matches": []}
        # by fingerprint: PDQ a few bits off, and the ISCC code
        near = format(int(result.pdq, 16) ^ 0b1011, "064x")
        m = call("GET", "/matches/byBinding", params={"alg": "org.provenance.fingerprint.pdq",
                                                      "value": b64hex(near)}).json()["matches"]
        assert m[0]["manifestId"] == manifest_id and m[0]["similarityScore"] == pytest.approx(1 - 3 / 256, abs=1e-3)
        iscc = dict(result.bindings)["io.iscc.v0"]
        m = call("POST", "/matches/byBinding", json={"alg": "io.iscc.v0",
                                                     "value": base64.b64encode(iscc.encode()).decode()}).json()
        assert m["matches"][0]["manifestId"] == manifest_id
        # bad queries
        for params in ({"alg": wm}, {"value": "AAAA"}, {"alg": "com.example.nope", "value": "AAAA"},
                       {"alg": wm, "value": "!!not base64!!"}, {"alg": wm, "value": "AAAA", "maxResults": "0"}):
            assert call("GET", "/matches/byBinding", params=params).status_code == 400
        assert call("GET", "/matches/byBinding", params={"alg": wm, "value": "A" * 5000}).status_code == 414
        assert call("POST", "/matches/byBinding", content=b"{not json", headers={"Content-Type": "application/json"}
                    ).status_code == 400

        # query by content: a metadata-stripped copy at half size
        r = call("POST", "/matches/byContent", content=resized_png(path), headers={"Content-Type": "image/png"})
        assert r.json()["matches"][0] == {"manifestId": manifest_id, "similarityScore": 1.0}
        r = call("POST", "/matches/byContent", params={"alg": "org.provenance.fingerprint.pdq"},
                 content=resized_png(path), headers={"Content-Type": "image/png"})
        assert r.json()["matches"][0]["manifestId"] == manifest_id and r.json()["matches"][0]["similarityScore"] >= 1 - 14 / 256
        assert call("POST", "/matches/byContent", content=b"plain text, not an image",
                    headers={"Content-Type": "text/plain"}).status_code == 415

        # fetch
        r = call("GET", "/manifests/{manifestId}", f"/manifests/{manifest_id}")
        assert r.headers["content-type"] == "application/c2pa" and r.content == store_bytes
        assert call("GET", "/manifests/{manifestId}", "/manifests/urn:c2pa:nope").status_code == 404
        assert call("GET", "/manifests/{manifestId}/receipts", f"/manifests/{manifest_id}/receipts").status_code == 404
        assert call("POST", "/manifests/{manifestId}/receipts", f"/manifests/{manifest_id}/receipts",
                    json={"@type": "org.c2pa.manifest-receipt"}).status_code == 404

        # store: tokens
        auth = {"Authorization": f"Bearer {store_token}", "Content-Type": "application/c2pa"}
        assert call("POST", "/manifests", content=store_bytes, headers={"Content-Type": "application/c2pa"}
                    ).status_code == 401
        assert call("POST", "/manifests", content=store_bytes,
                    headers={**auth, "Authorization": "Bearer wrong"}).status_code == 401
        assert call("POST", "/manifests", content=store_bytes,
                    headers={**auth, "Authorization": f"Bearer {fetch_token}"}).status_code == 403
        assert call("POST", "/manifests", content=b"\x00\x00\x00\x10jumbgarbage!", headers=auth).status_code == 400
        assert call("POST", "/manifests", content=store_bytes, headers=auth).json() == {"manifestId": manifest_id}

        # bindings
        jauth = {"Authorization": f"Bearer {store_token}"}
        value = b64hex("ab" * 8)
        body = {"bindingValue": value, "manifestId": manifest_id, "alg": "org.provenance.watermark.dwtDct"}
        assert call("POST", "/bindings", json=body).status_code == 401
        assert call("POST", "/bindings", json=body, headers={"Authorization": f"Bearer {fetch_token}"}).status_code == 403
        assert call("POST", "/bindings", json=body, headers=jauth).status_code == 204
        r = call("GET", "/matches/byBinding", params={"alg": "org.provenance.watermark.dwtDct", "value": value})
        assert r.json()["matches"][0]["manifestId"] == manifest_id
        # without alg: one of the manifest's own soft bindings (its watermark id)
        assert call("POST", "/bindings", json={"bindingValue": b64hex(result.content_id), "manifestId": manifest_id},
                    headers=jauth).status_code == 204
        assert call("POST", "/bindings", json={"bindingValue": value, "manifestId": manifest_id},
                    headers=jauth).status_code == 400  # not one of its own: alg needed
        assert call("POST", "/bindings", json={**body, "manifestId": "urn:c2pa:nope"}, headers=jauth).status_code == 404
        assert call("POST", "/bindings", json={"manifestId": manifest_id}, headers=jauth).status_code == 400
        assert call("PUT", "/bindings", json={**body, "bindingValue": b64hex("cd" * 8)}, headers=jauth).status_code == 404
        assert call("PUT", "/bindings", json={**body, "manifestId": "urn:c2pa:nope"}, headers=jauth).status_code == 404
        assert call("PUT", "/bindings", json=body, headers=jauth).status_code == 204

        # the one route we answer outside the document: byReference would make us fetch a URL
        r = c.post("/v1/matches/byReference", json={"referenceUrl": "http://169.254.169.254/", "assetLength": 1})
        assert r.status_code == 501 and "never fetches" in r.json()["error"]
        seen.add(("/matches/byReference", "post"))

        # delete
        assert call("DELETE", "/manifests/{manifestId}", f"/manifests/{manifest_id}").status_code == 401
        assert call("DELETE", "/manifests/{manifestId}", f"/manifests/{manifest_id}", headers=jauth).status_code == 204
        assert call("GET", "/manifests/{manifestId}", f"/manifests/{manifest_id}").status_code == 404
        assert call("GET", "/matches/byBinding", params={"alg": wm, "value": b64hex(result.content_id)}
                    ).json() == {"matches": []}
        assert call("DELETE", "/manifests/{manifestId}", f"/manifests/{manifest_id}", headers=jauth).status_code == 404

    documented = {(p, m) for p, ops in openapi()["paths"].items() for m in ops if m in ("get", "post", "put", "delete")}
    assert documented == seen


def test_private_service_needs_a_fetch_token(stamped, tokens):
    """With ``private``, query and fetch need a token with fetch:manifests; service routes stay open."""
    _path, result, reg_path = stamped
    store_tokens, store_token, fetch_token = tokens
    with running_service(reg_path, tokens=store_tokens, private=True) as url, httpx.Client(base_url=url) as c:
        q = {"alg": "org.provenance.watermark.provenanceWM", "value": b64hex(result.content_id)}
        r = c.get("/v1/matches/byBinding", params=q)
        check_response("/matches/byBinding", "GET", r)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        r = c.get("/v1/matches/byBinding", params=q, headers={"Authorization": f"Bearer {store_token}"})
        assert r.status_code == 403
        r = c.get("/v1/matches/byBinding", params=q, headers={"Authorization": f"Bearer {fetch_token}"})
        assert r.status_code == 200 and r.json()["matches"]
        assert c.get("/v1/services/status").status_code == 200


def test_token_file_keeps_only_hashes(tmp_path):
    """A token file holds the token's SHA-256, never the token, and is private to its owner."""
    from provenance.serve import TokenStore, new_token
    from provenance.serve._auth import TokenFileError

    f = tmp_path / "t.txt"
    token = new_token(f)
    text = f.read_text()
    assert token not in text and text.startswith("sha256:")
    assert (f.stat().st_mode & 0o777) == 0o600
    store = TokenStore.load(f)
    assert store.scopes_of(token) == {"store:manifests", "store:bindings"}
    assert store.scopes_of(token + "x") is None
    (tmp_path / "bad.txt").write_text(f"{token} store:manifests\n")
    with pytest.raises(TokenFileError, match="expected 'sha256"):
        TokenStore.load(tmp_path / "bad.txt")
