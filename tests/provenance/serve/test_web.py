"""The upload page at / in headless Chromium: a person uploads a stamped-then-stripped image and
reads the verdict with its evidence; nothing external loads and the CSP holds."""
from __future__ import annotations

import httpx
import pytest
from PIL import Image

from support import chromium
from support.service import running_service

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not chromium.available(), reason="needs /usr/bin/chromium (apt-get install chromium)")]


def test_page_headers_are_strict(stamped):
    """The page, its script and its style come from this origin under a CSP with no inline script."""
    _path, _result, reg_path = stamped
    with running_service(reg_path) as url, httpx.Client(base_url=url) as c:
        page = c.get("/")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and page.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.text and "http" not in page.text.replace(url, "")
        js = c.get("/static/app.js")
        assert js.headers["content-type"].startswith("text/javascript") and "provenanceDetail" in js.text
        assert c.get("/static/nope.js").status_code == 404


def test_upload_a_stripped_copy_and_read_its_verdict(stamped, tmp_path):
    """Upload a stamped image stripped of its metadata: the page shows the verdict (AI-generated:
    its watermark, and this service's registry holds the stamp) and the evidence panel; screenshot taken."""
    path, result, reg_path = stamped
    copy = tmp_path / "stripped.png"
    Image.open(path).convert("RGB").save(copy)  # pixels only: no manifest, no metadata
    with running_service(reg_path) as url, chromium.Browser() as b:
        b.call("Page.enable", session=True)
        b.open(url + "/")
        b.evaluate("window.__csp=[];document.addEventListener('securitypolicyviolation',"
                   "function(e){window.__csp.push(e.violatedDirective)})")
        b.set_files("#file", [str(copy)])
        b.evaluate("document.getElementById('go').click()")
        verdict = b.wait_for("document.getElementById('verdict') && document.getElementById('verdict').textContent",
                             timeout=120)
        assert verdict and verdict.startswith("ai-generated")
        body = b.evaluate("document.getElementById('detail-body').innerText")
        assert "Watermarks" in body and "Registry" in body and result.content_id in body
        assert "match\nwatermark" in body
        assert b.evaluate("window.__csp") == []
        origins = b.evaluate("performance.getEntriesByType('resource').map(function(e){return e.name})")
        assert origins and all(o.startswith(url) or o.startswith("blob:") for o in origins)
        shot = b.screenshot(tmp_path / "upload.png")
        assert shot.stat().st_size > 10_000


def test_upload_of_a_non_image_says_so(stamped, tmp_path):
    """A text file uploaded through the page: the service's 415 message is shown, no verdict."""
    _path, _result, reg_path = stamped
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with running_service(reg_path) as url, chromium.Browser() as b:
        b.call("Page.enable", session=True)
        b.open(url + "/")
        b.set_files("#file", [str(bad)])
        b.evaluate("document.getElementById('go').click()")
        said = b.wait_for("document.getElementById('state').className==='bad' && "
                          "document.getElementById('state').textContent", timeout=60)
        assert said and "not an image" in said
        assert b.evaluate("document.getElementById('verdict')") is None


def test_verify_route_recovers_credentials_from_published_manifests(stamped, tmp_path):
    """A service holding only a published manifest (no stamp row): the page's verify recovers the
    credentials from its own store with the resolver's checks (match resolver, this service)."""
    from provenance import Registry

    path, result, _reg_path = stamped
    published = tmp_path / "published.sqlite"
    with Registry(published) as reg:
        reg.add_with_manifest(None, result.manifest_id, result.manifest_store, result.bindings,
                              content_id=result.content_id)
    copy = tmp_path / "stripped.png"
    Image.open(path).convert("RGB").resize((256, 256)).save(copy)
    with running_service(published) as url, httpx.Client(base_url=url, timeout=120) as c:
        r = c.post("/verify", content=copy.read_bytes(), headers={"Content-Type": "image/png"})
        assert r.status_code == 200 and r.headers["content-security-policy"]
        reg = r.json()["report"]["registry"]
        assert reg["match"] == "resolver" and reg["endpoint"] == "this service" and reg["pixels"] == "differ"
        assert reg["manifest_id"] == result.manifest_id
        assert r.json()["detail"]["registry"]["manifest_id"] == result.manifest_id
        assert r.json()["report"]["verdict"]["rules"][0] == "resolver-c2pa-ai"
