"""The upload page at ``/``: a person drops an image and sees verify's verdict with its evidence,
drawn by the HTML audit report's own detail panel (provenance.report._html._DETAIL_JS).

Nothing external: the page, its script and its style come from this server, under a strict CSP
(``default-src 'none'``, scripts and styles from this origin only, no inline script, no framing).
``POST /verify`` takes the raw image (the same body limit, sniffing and pixel limit as
``byContent``) and answers ``{"report": <verify JSON>, "detail": <the panel's evidence>}``; the
service's own registry (and its stored manifests, as a resolver would) is the lookup. The file
is analysed in memory and never stored.
"""
from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._app import decode_upload, endpoint, read_body

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>provenance: where does this image come from?</title>
<link rel="stylesheet" href="/static/app.css"></head><body>
<header><h1>Where does this image come from?</h1>
<p class="meta">Upload an image: its Content Credentials, watermarks, metadata, this service's registry and the
forensic estimate are read here, on this server, and the file is not kept.</p></header>
<main>
<form id="upload"><input type="file" id="file" accept="image/*" aria-label="image">
<button type="submit" id="go">Verify</button> <span id="state" role="status"></span></form>
<div id="preview"></div>
<section id="detail-body" aria-live="polite"></section>
</main>
<script src="/static/app.js"></script>
</body></html>
"""

_CSS_EXTRA = """
main{padding:6px 24px 24px;max-width:760px}form{display:flex;gap:10px;align-items:center;margin:10px 0}
#state{color:var(--muted)}#state.bad{color:var(--err)}#preview img{max-width:200px;max-height:200px;border-radius:4px}
#detail-body{background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px 16px 14px;margin-top:10px}
#detail-body:empty{display:none}#detail-body h3{margin:14px 0 4px;font-size:14px}
#detail-body dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0}
#detail-body dt{color:var(--muted)}#detail-body dd{margin:0;word-break:break-word;white-space:pre-wrap}
.verdict{font-size:18px;font-weight:600;margin:12px 0 0}
"""

_APP_JS = """
(function(){
"use strict";
var form=document.getElementById("upload"),file=document.getElementById("file"),state=document.getElementById("state");
var body=document.getElementById("detail-body"),preview=document.getElementById("preview");
function say(text,bad){state.textContent=text;state.className=bad?"bad":"";}
form.addEventListener("submit",function(e){
  e.preventDefault();
  var f=file.files[0];if(!f){say("choose an image first",true);return;}
  while(body.firstChild)body.removeChild(body.firstChild);
  while(preview.firstChild)preview.removeChild(preview.firstChild);
  var im=document.createElement("img");im.alt="";im.src=URL.createObjectURL(f);preview.appendChild(im);
  say("verifying "+f.name+" ...");
  fetch("/verify",{method:"POST",body:f,headers:{"Content-Type":f.type||"application/octet-stream"}})
    .then(function(r){return r.json().then(function(j){return [r.status,j];});})
    .then(function(res){
      var j=res[1];
      if(res[0]!==200){say((j&&j.error)||("error "+res[0]),true);return;}
      var v=document.createElement("p");v.className="verdict";v.id="verdict";
      v.textContent=j.detail.verdict.label+" ("+j.detail.verdict.confidence+")";body.appendChild(v);
      j.detail.path=f.name;
      provenanceDetail(body,j.detail,"");
      say("done");
    })
    .catch(function(err){say("the service did not answer: "+err,true);});
});
})();
"""


def _assets() -> dict[str, tuple[bytes, str]]:
    from ..report._html import _CSS, _DETAIL_JS

    return {
        "app.js": ((_DETAIL_JS + _APP_JS).encode("utf-8"), "text/javascript; charset=utf-8"),
        "app.css": ((_CSS + _CSS_EXTRA).encode("utf-8"), "text/css; charset=utf-8"),
    }


_ASSETS = _assets()
ETAG = hashlib.sha256(b"".join(v[0] for v in _ASSETS.values()) + _PAGE.encode()).hexdigest()[:16]


def _secure(resp: Response) -> Response:
    resp.headers.update(SECURITY_HEADERS)
    return resp


async def page(request: Request) -> Response:
    return _secure(Response(_PAGE, media_type="text/html; charset=utf-8"))


async def asset(request: Request) -> Response:
    found = _ASSETS.get(request.path_params["name"])
    if found is None:
        return _secure(JSONResponse({"error": "no such file"}, status_code=404))
    return _secure(Response(found[0], media_type=found[1]))


def _verify_upload(service, data: bytes) -> dict:
    from .._verify import VerifyOptions, verify_bytes
    from ..report._html import evidence_of
    from ._local import LocalResolver

    decode_upload(data, service.config.max_pixels)  # 415 / 413 before any analysis
    options = VerifyOptions(trust_anchors_pem=service.config.trust_anchors_pem, registry=service.registry(),
                            max_pixels=service.config.max_pixels, resolvers=(LocalResolver(service),))
    report = verify_bytes(data, name="upload", options=options)
    row = {"path": "upload", "status": "ok" if not report.errors else "error", "reason": None, "cached": False}
    return {"report": report.to_dict(), "detail": evidence_of(row, report, None)}


@endpoint()
async def _verify(request: Request, service) -> Response:
    data = await read_body(request, service.config.max_body_bytes)
    return JSONResponse(await service.run(_verify_upload, service, data, heavy=True))


async def verify(request: Request) -> Response:
    return _secure(await _verify(request))


def web_routes() -> list[Route]:
    return [Route("/", page, methods=["GET"]), Route("/static/{name}", asset, methods=["GET"]),
            Route("/verify", verify, methods=["POST"])]
