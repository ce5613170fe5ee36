"""The self-contained HTML audit report: cards, SVG charts, a sortable, filterable, paged table, a detail panel.

No network: the CSS, the script, the charts (inline SVG drawn here) and the thumbnails (JPEG data
URIs) are all in the one file, and a Content-Security-Policy forbids fetching anything else. Every
string that comes from a file (names, metadata, prompts, signer names) is either HTML-escaped here
or placed in a JSON block with ``<``, ``>`` and ``&`` escaped, and the script only ever writes it
with ``textContent``; the policy's script hash means an injected ``<script>`` would not run anyway.

Size: the table is drawn by the script, a page of rows at a time, from one compact row per file,
so the page stays responsive at 100,000 files. A file's thumbnail and full detail (about 10 KB)
are kept for every file of an audit of up to ``HTML_FULL_FILES`` files; above that only for the
notable ones (AI, tampered, invalid, errors, conflicts; at most ``HTML_MAX_NOTABLE``), the others
being their summary row alone (the JSONL holds everything).
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

from .._imageio import atomic_output
from .._text import dumps_json
from ..evidence import VerifyReport
from ._rows import CARDS, Totals, as_report, categories

MAX_TEXT = 2000  # longest metadata string kept in the detail panel (prompts can be huge)
#: Up to this many files every one keeps its thumbnail and full detail (about 10 KB a file)...
HTML_FULL_FILES = 1000
#: ...above it, only notable files do, at most this many; the rest are summary rows (~0.4 KB).
HTML_MAX_NOTABLE = 2000
#: Row flags that make a file notable (kept in full in a large report).
NOTABLE_FLAGS = frozenset({"ai", "tampered", "invalid", "error"})
PAGE_ROWS = 200  # table rows drawn at a time

TABLE_COLUMNS = (  # key, title, kind (text | num | none)
    ("thumb", "", "none"), ("path", "File", "text"), ("verdict", "Verdict", "text"),
    ("confidence", "Conf.", "num"), ("c2pa_status", "C2PA", "text"), ("c2pa_signer", "Signer", "text"),
    ("watermarks", "Watermark", "text"), ("generator", "Generator", "text"), ("p_ai", "p(AI)", "num"),
    ("status", "Status", "text"),
)
#: The fields of each compact row in the page's JSON, in order (the table and a summary-only
#: detail panel read them).
ROW_FIELDS = ("path", "status", "reason", "cached", "verdict", "confidence", "summary", "c2pa_status",
              "c2pa_signer", "watermarks", "content_id", "generator", "p_ai", "registry_match", "conflicts",
              "errors", "cats", "sha256", "format", "path_bytes_b64")

_CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--bg:#f6f7fa;--ai:#c2410c;--cam:#15803d;--unk:#6b7280;
--err:#b91c1c;--sig:#1d4ed8;--tam:#7c3aed;--skip:#9ca3af}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}header{padding:18px 24px 6px}h1{margin:0 0 4px;font-size:22px}
h2{font-size:15px;margin:0 0 8px}.meta{color:var(--muted);margin:0;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:10px;padding:10px 24px}
.card{background:#fff;border:1px solid var(--line);border-left:5px solid var(--unk);border-radius:6px;
padding:8px 14px;min-width:120px;cursor:pointer}.card .n{display:block;font-size:24px;font-weight:600}
.card .t{color:var(--muted)}.card-ai{border-left-color:var(--ai)}.card-signed{border-left-color:var(--sig)}
.card-tampered{border-left-color:var(--tam)}.card-camera{border-left-color:var(--cam)}
.card-error{border-left-color:var(--err)}.card-skipped{border-left-color:var(--skip)}
.charts{display:flex;flex-wrap:wrap;gap:12px;padding:6px 24px}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px 12px}
figcaption{font-weight:600;margin-bottom:4px}svg text{font-size:11px;fill:var(--fg)}
.controls{display:flex;gap:10px;align-items:center;padding:12px 24px 6px}
#q{flex:0 1 420px;padding:6px 9px;border:1px solid var(--line);border-radius:5px;font-size:14px}
#cat{padding:5px;border:1px solid var(--line);border-radius:5px}#shown{color:var(--muted)}
.tablewrap{padding:0 24px 24px;overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff;
border:1px solid var(--line)}th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;
vertical-align:middle}th{background:#eef1f6;position:sticky;top:0;cursor:pointer;user-select:none;
white-space:nowrap}th[data-kind=none]{cursor:default}th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
tbody tr{cursor:pointer}tbody tr:hover{background:#f1f5ff}tbody tr.sel{background:#e0e9ff}
td.path{max-width:360px;word-break:break-all}td img{display:block;max-width:64px;max-height:64px;border-radius:3px}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;color:#fff;font-size:12px;white-space:nowrap}
.b-ai{background:var(--ai)}.b-camera{background:var(--cam)}.b-unknown{background:var(--unk)}
.b-error{background:var(--err)}.b-skipped{background:var(--skip)}.b-ok{background:#94a3b8}
#detail{position:fixed;top:0;right:0;width:min(520px,100%);height:100%;overflow:auto;background:#fff;
border-left:1px solid var(--line);box-shadow:-4px 0 16px rgba(0,0,0,.12);padding:16px 18px}
#detail h3{margin:14px 0 4px;font-size:14px}#detail dl{display:grid;grid-template-columns:max-content 1fr;
gap:2px 10px;margin:0}#detail dt{color:var(--muted)}#detail dd{margin:0;word-break:break-word;white-space:pre-wrap}
#detail img{max-width:160px;border-radius:4px}#close{float:right;font-size:18px;border:0;background:none;cursor:pointer}
.conflict{color:var(--err)}.empty{color:var(--muted);font-style:italic}
.why{display:block;color:var(--muted);font-size:12px;max-width:260px;word-break:break-word}
.pager{display:flex;gap:8px;align-items:center;padding:0 24px 8px}.pager button{padding:3px 10px}
#pageinfo{color:var(--muted)}.note{color:var(--muted);padding:0 24px;margin:4px 0}
"""

_DETAIL_JS = """
// The detail panel of one file (the audit report's, and provenance serve's upload page): the
// evidence of evidence_of(), drawn into body with textContent only (no markup from the data).
function provenanceDetail(body,d,nameB64){
"use strict";
function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined&&text!==null)e.textContent=String(text);
  if(cls)e.className=cls;return e;}
function section(title,pairs){
  var has=pairs.filter(function(p){return p[1]!==undefined&&p[1]!==null&&p[1]!==""&&!(Array.isArray(p[1])&&!p[1].length);});
  body.appendChild(el("h3",title));
  if(!has.length){body.appendChild(el("p","none","empty"));return;}
  var dl=el("dl");has.forEach(function(p){dl.appendChild(el("dt",p[0]));
    dl.appendChild(el("dd",Array.isArray(p[1])?p[1].join("\\n"):(typeof p[1]==="object"?JSON.stringify(p[1],null,1):p[1])));});
  body.appendChild(dl);
}
  body.appendChild(el("h2",d.path));
  if(d.thumb&&d.thumb.indexOf("data:image/jpeg;base64,")===0){var im=el("img");im.alt="";im.src=d.thumb;body.appendChild(im);}
  if(d.compact)body.appendChild(el("p","Summary row only: a large report keeps the full detail of notable files; "+
    "the JSONL report holds every file's evidence.","empty"));
  var v=d.verdict||{};
  section("Verdict",[["label",v.label],["confidence",v.confidence],["summary",v.summary],["rules",v.rules],
    ["status",d.status],["reason",d.reason],["from cache",d.cached?"yes":""]]);
  if(v.conflicts&&v.conflicts.length){body.appendChild(el("h3","Conflicts"));
    v.conflicts.forEach(function(c){body.appendChild(el("p",c,"conflict"));});}
  section("How it was made",Object.keys(v.how||{}).map(function(k){return [k,v.how[k]];}));
  var c=d.c2pa||{};
  section("Content Credentials (C2PA)",[["status",c.status],["signer",c.signer],["issuer",c.issuer],
    ["anchored by",c.anchored_by],["claim generator",c.claim_generator],["digital source type",c.digital_source_type],["codes",c.codes]]);
  section("Watermarks",(d.watermarks||[]).map(function(w){
    return [w.scheme,(w.payload||"detected")+(w.false_positive_rate!==null&&w.false_positive_rate!==undefined?
      "  (false-positive rate "+Number(w.false_positive_rate).toExponential(1)+")":"")];}));
  section("Metadata",Object.keys(d.metadata||{}).map(function(k){return [k,d.metadata[k]];}));
  var rg=d.registry||{};
  section("Registry",[["match",rg.match],["content id",rg.content_id],["stamped file",rg.output_path],
    ["stamped",rg.created_at],["distance",rg.distance],["resolver",rg.endpoint],["manifest",rg.manifest_id],
    ["manifest status",rg.status],["signer",rg.signer],["pixels",rg.pixels],["record",rg.record],
    ["rejected",rg.rejected]]);
  var f=d.forensics||{};
  section("Forensics (an estimate)",[["p(AI)",f.p_ai],["families",f.families],["model",f.model],["status",f.status]]);
  section("File",[["sha256",d.sha256],["format",d.format],["size",d.size],["name bytes (base64)",nameB64]]);
  if(d.errors&&d.errors.length){body.appendChild(el("h3","Errors"));
    d.errors.forEach(function(e){body.appendChild(el("p",e,"conflict"));});}
}
"""

_JS = _DETAIL_JS + """
(function(){
"use strict";
var data=JSON.parse(document.getElementById("evidence").textContent);
var FI={};data.fields.forEach(function(f,i){FI[f]=i;});
var ev=data.evidence,PAGE=data.page;
function g(r,k){var v=r[FI[k]];return v===undefined||v===null?"":v;}
var SEARCH=["path","status","reason","verdict","c2pa_status","c2pa_signer","watermarks","content_id","generator",
  "registry_match","conflicts","summary"];
var all=data.rows.map(function(r,i){
  return {i:i,r:r,s:SEARCH.map(function(k){return String(g(r,k));}).join(" ").toLowerCase(),
          c:String(g(r,"cats")).split(" ")};});
var view=all.slice(),page=0,sel=-1;
var tbody=document.querySelector("#files tbody");
var q=document.getElementById("q"),cat=document.getElementById("cat"),shown=document.getElementById("shown");
var info=document.getElementById("pageinfo"),prev=document.getElementById("prev"),next=document.getElementById("next");
function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined&&text!==null)e.textContent=String(text);
  if(cls)e.className=cls;return e;}
function badge(r){var st=g(r,"status"),v=g(r,"verdict");
  if(st==="skipped")return ["b-skipped","skipped"];
  if(st==="error"&&!v)return ["b-error","error"];
  if(v==="ai-generated"||v==="likely-ai-generated")return ["b-ai",v];
  if(v==="camera-signed"||v==="likely-camera")return ["b-camera",v];
  return ["b-unknown",v];}
function pai(v){return v===""?"":Number(v).toFixed(2);}
function cell(tr,text,cls){var td=el("td",text,cls);tr.appendChild(td);return td;}
function draw(){
  while(tbody.firstChild)tbody.removeChild(tbody.firstChild);
  var pages=Math.max(1,Math.ceil(view.length/PAGE));if(page>=pages)page=pages-1;if(page<0)page=0;
  view.slice(page*PAGE,(page+1)*PAGE).forEach(function(x){
    var r=x.r,e=ev[x.i],tr=document.createElement("tr"),td,b,st;
    tr.setAttribute("data-i",x.i);tr.setAttribute("data-cat",x.c.join(" "));if(x.i===sel)tr.className="sel";
    td=cell(tr);
    if(e&&e.thumb&&e.thumb.indexOf("data:image/jpeg;base64,")===0){var im=el("img");im.alt="";im.src=e.thumb;td.appendChild(im);}
    cell(tr,g(r,"path"),"path");
    b=badge(r);cell(tr).appendChild(el("span",b[1],"badge "+b[0]));
    cell(tr,g(r,"confidence"));cell(tr,g(r,"c2pa_status"));cell(tr,g(r,"c2pa_signer"));cell(tr,g(r,"watermarks"));
    cell(tr,g(r,"generator"));cell(tr,pai(g(r,"p_ai")));
    st=g(r,"status");td=cell(tr);
    td.appendChild(el("span",st,"badge "+(st==="error"?"b-error":st==="skipped"?"b-skipped":"b-ok")));
    if(g(r,"reason"))td.appendChild(el("span",g(r,"reason"),"why"));
    tbody.appendChild(tr);});
  shown.textContent=view.length+" of "+all.length+" shown";
  info.textContent="page "+(page+1)+" of "+pages;prev.disabled=page===0;next.disabled=page>=pages-1;
}
function apply(){
  var t=q.value.trim().toLowerCase(),c=cat.value;
  view=all.filter(function(x){return (!t||x.s.indexOf(t)>=0)&&(!c||x.c.indexOf(c)>=0);});
  page=0;draw();
}
q.addEventListener("input",apply);cat.addEventListener("change",apply);
prev.addEventListener("click",function(){page--;draw();});next.addEventListener("click",function(){page++;draw();});
Array.prototype.forEach.call(document.querySelectorAll(".card"),function(card){
  card.addEventListener("click",function(){cat.value=card.getAttribute("data-cat");apply();});});
var SORT={path:function(r){return g(r,"path");},verdict:function(r){return badge(r)[1];},
  generator:function(r){return g(r,"generator");}};
var coll=new Intl.Collator();
var ths=document.querySelectorAll("#files th");
Array.prototype.forEach.call(ths,function(th){
  var kind=th.getAttribute("data-kind"),key=th.getAttribute("data-key");if(kind==="none")return;
  var val=SORT[key]||function(r){return g(r,key);};
  th.addEventListener("click",function(){
    var dir=th.classList.contains("asc")?-1:1;
    Array.prototype.forEach.call(ths,function(o){o.classList.remove("asc","desc");});
    th.classList.add(dir===1?"asc":"desc");
    all.sort(function(a,b){
      var x=val(a.r),y=val(b.r);
      if(kind==="num"){x=x===""?-1:parseFloat(x);y=y===""?-1:parseFloat(y);return (x-y)*dir||a.i-b.i;}
      return coll.compare(String(x),String(y))*dir||a.i-b.i;});
    apply();
  });});
var panel=document.getElementById("detail"),body=document.getElementById("detail-body");
function split(v){return v===""?[]:String(v).split("; ");}
function fromRow(r){  // a summary row's detail: what the row itself holds
  return {path:g(r,"path"),status:g(r,"status"),reason:g(r,"reason"),cached:g(r,"cached"),compact:true,
    verdict:{label:g(r,"verdict"),confidence:g(r,"confidence"),summary:g(r,"summary"),conflicts:split(g(r,"conflicts"))},
    c2pa:{status:g(r,"c2pa_status"),signer:g(r,"c2pa_signer")},
    watermarks:g(r,"watermarks")?[{scheme:g(r,"watermarks"),payload:g(r,"content_id")}]:[],
    registry:{match:g(r,"registry_match")},forensics:{p_ai:pai(g(r,"p_ai"))},metadata:{},
    sha256:g(r,"sha256"),format:g(r,"format"),errors:split(g(r,"errors"))};}
function show(i){
  var r=all.filter(function(x){return x.i===i;})[0].r,d=ev[i]||fromRow(r);sel=i;
  Array.prototype.forEach.call(tbody.rows,function(tr){tr.classList.toggle("sel",tr.getAttribute("data-i")===String(i));});
  while(body.firstChild)body.removeChild(body.firstChild);
  provenanceDetail(body,d,g(r,"path_bytes_b64"));
  panel.hidden=false;
}
tbody.addEventListener("click",function(e){var tr=e.target.closest("tr");if(tr)show(parseInt(tr.getAttribute("data-i"),10));});
document.getElementById("close").addEventListener("click",function(){panel.hidden=true;});
document.addEventListener("keydown",function(e){if(e.key==="Escape")panel.hidden=true;});
var m=/[#&]q=([^&]*)/.exec(location.hash);if(m){q.value=decodeURIComponent(m[1]);}
if(ths.length>1)ths[1].click();  // start sorted by file name (this also draws the first page)
else apply();
})();
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _json_block(obj) -> str:
    """JSON safe inside a <script type=application/json> block: no '<', '>' or '&' survive."""
    return (dumps_json(obj, separators=(",", ":"), default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _clip(value, limit: int = MAX_TEXT):
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + " [...]"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _clip(json.dumps(value, ensure_ascii=False, default=str), limit)


def evidence_of(row: dict, report: VerifyReport | dict | None, thumb: bytes | None) -> dict:
    """What the detail panel shows for one file: the evidence, trimmed to bounded sizes."""
    d: dict = {"path": row["path"], "status": row["status"], "reason": row["reason"], "cached": row["cached"]}
    if thumb:
        d["thumb"] = "data:image/jpeg;base64," + base64.b64encode(thumb).decode("ascii")
    report = as_report(report)
    if report is None:
        return d
    v, c, meta, reg, f = report.verdict, report.c2pa, report.metadata, report.registry, report.forensics
    gen = {k: _clip(val) for k, val in (meta.generator.to_dict() if meta.generator is not None else {}).items()
           if val not in (None, "", [], {}) and k != "raw"}
    camera = {k: _clip(val) for k, val in meta.exif.items()  # keys of summarize_exif
              if k in ("make", "model", "lens", "capture_time", "software")}
    rec = reg.record or {}
    fam = f.family_scores or {}
    d.update(
        sha256=report.sha256, format=report.format,
        size=f"{report.width}x{report.height}" if report.width else None,
        verdict={"label": v.label, "confidence": v.confidence, "summary": v.summary,
                 "rules": v.rules, "conflicts": v.conflicts,
                 "how": {k: _clip(val) for k, val in v.how.items() if val not in (None, "", [])}},
        c2pa={"status": c.status, "signer": c.signer_name, "issuer": (c.signer or {}).get("issuer"),
              "anchored_by": (c.anchored_by or {}).get("list"),
              "claim_generator": _clip(c.claim_generator), "digital_source_type": c.digital_source_type,
              "codes": c.codes},
        watermarks=[{"scheme": w.scheme, "payload": w.payload, "false_positive_rate": w.false_positive_rate}
                    for w in report.detected_marks],
        metadata={**{f"generator {k}": val for k, val in gen.items()}, **{f"camera {k}": val for k, val in camera.items()}},
        registry={"match": reg.match, "content_id": reg.record_id, "output_path": rec.get("output_path"),
                  "created_at": rec.get("created_at"), "distance": reg.distance, "endpoint": reg.endpoint,
                  "manifest_id": reg.manifest_id, "status": reg.status, "signer": reg.signer, "pixels": reg.pixels,
                  "record": {k: _clip(val) for k, val in (reg.record_generation or {}).items()
                             if k in ("model", "prompt", "seed", "steps", "generator", "source")} or None
                  if reg.match == "resolver" else None,
                  "rejected": [f"{r.get('manifest_id')}: {_clip(r.get('reason'))}" for r in reg.rejected or []]},
        forensics={"p_ai": None if f.p_ai is None else f"{float(f.p_ai):.2f}", "model": f.model,
                   "status": f.status or f.reason,
                   "families": ", ".join(f"{k} {float(s):.2f}" for k, s in list(fam.items())[:3]) if fam else None},
        errors=[f"{e.collector}: {_clip(e.error)}" + (f" ({e.count} times)" if e.count > 1 else "")
                for e in report.errors],
    )
    return d


# --- charts (inline SVG) ----------------------------------------------------------------------

#: How the local/API chart names each ``how.source``.
_SOURCE_NAMES = {"api": "API / cloud service", "local": "local tool", "capture": "camera", "unknown": "unknown"}

_VERDICT_COLOURS = {"ai-generated": "#c2410c", "likely-ai-generated": "#f97316", "camera-signed": "#15803d",
                    "likely-camera": "#4ade80", "unknown": "#6b7280", "error": "#b91c1c"}


def bar_chart(title: str, items: list[tuple[str, int]], *, colour: str = "#1d4ed8",
              colours: dict[str, str] | None = None, top: int = 10) -> str:
    """A horizontal bar chart; labels are escaped and shortened (the full text is the bar's tooltip)."""
    items = sorted(items, key=lambda kv: (-kv[1], kv[0]))
    if len(items) > top:
        items = items[: top - 1] + [("(others)", sum(n for _, n in items[top - 1:]))]
    width, label_w, bar_h = 360, 150, 20
    height = max(1, len(items)) * bar_h + 6
    peak = max([n for _, n in items] or [1])
    parts = [f'<figure><figcaption>{_e(title)}</figcaption>'
             f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    if not items:
        parts.append('<text x="0" y="14">none</text>')
    for i, (label, n) in enumerate(items):
        y = i * bar_h + 3
        w = max(1.0, (width - label_w - 40) * n / peak)
        short = label if len(label) <= 19 else label[:18] + "\u2026"
        fill = (colours or {}).get(label, colour)
        parts.append(f'<g><title>{_e(label)}: {n}</title><text x="{label_w - 6}" y="{y + 13}" text-anchor="end">'
                     f'{_e(short)}</text><rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 6}" '
                     f'fill="{_e(fill)}" rx="2"></rect><text x="{label_w + w + 4:.1f}" y="{y + 13}">{n}</text></g>')
    parts.append("</svg></figure>")
    return "".join(parts)


def histogram(title: str, counts: list[int]) -> str:
    """A vertical histogram of p_ai over [0, 1] in ``len(counts)`` bins."""
    width, height, pad = 340, 150, 22
    bw = (width - 2 * pad) / len(counts)
    peak = max(counts + [1])
    parts = [f'<figure><figcaption>{_e(title)}</figcaption>'
             f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"></line>']
    for i, n in enumerate(counts):
        h = (height - 2 * pad - 10) * n / peak
        x = pad + i * bw
        colour = "#c2410c" if i >= 8 else ("#15803d" if i < 2 else "#94a3b8")
        parts.append(f'<g><title>p_ai {i / len(counts):.1f}-{(i + 1) / len(counts):.1f}: {n}</title>'
                     f'<rect x="{x + 1:.1f}" y="{height - pad - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                     f'fill="{colour}"></rect>' + (f'<text x="{x + bw / 2:.1f}" y="{height - pad - h - 3:.1f}" '
                                                   f'text-anchor="middle">{n}</text>' if n else "") + "</g>")
    if not any(counts):
        parts.append(f'<text x="{pad}" y="{pad + 10}">no forensic estimates in this audit</text>')
    for i in range(0, len(counts) + 1, 2):
        parts.append(f'<text x="{pad + i * bw:.1f}" y="{height - 6}" text-anchor="middle">{i / len(counts):.1f}</text>')
    parts.append("</svg></figure>")
    return "".join(parts)


# --- the page ---------------------------------------------------------------------------------

def is_notable(row: dict) -> bool:
    """Kept in full (thumbnail, detail) in a large report: flagged AI/tampered/invalid, an error, a conflict."""
    return row["status"] == "error" or bool(NOTABLE_FLAGS & set(str(row["flags"]).split())) or bool(row["conflicts"])


def row_fields(row: dict) -> list:
    """The compact row the page's table is drawn from (:data:`ROW_FIELDS`)."""
    gen = " ".join(x for x in (row["generator_family"], row["generator_tool"], row["model"]) if x)
    extra = {"generator": gen, "cats": " ".join(categories(row))}
    return [extra[k] if k in extra else row.get(k, "") for k in ROW_FIELDS]


class HtmlStore:
    """The report's per-file entries, spooled to a temporary JSON-lines file while the audit runs
    (nothing holds the folder in memory), then read twice by :func:`render_html`.

    Each entry is the compact row plus, when kept in full, the detail panel's evidence (with the
    thumbnail): every file while the audit has at most ``HTML_FULL_FILES``, then only notable ones.
    """

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="provenance-audit-", suffix=".jsonl")
        self.path = Path(name)
        self._fh: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8")
        self.files = 0
        self.notable = 0  # notable entries kept in full

    def add(self, row: dict, report: VerifyReport | dict | None, thumb: bytes | None) -> None:
        self.files += 1
        notable = is_notable(row)
        full = self.files <= HTML_FULL_FILES or (notable and self.notable < HTML_MAX_NOTABLE)
        self.notable += notable and full
        entry = {"row": row_fields(row), "notable": notable,
                 "evidence": evidence_of(row, report, thumb) if full else None}
        self._fh.write(dumps_json(entry, separators=(",", ":"), default=str) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def entries(self) -> Iterator[dict]:
        """The entries as the page gets them: in a large report only notable ones keep their detail."""
        large = self.files > HTML_FULL_FILES
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                entry = json.loads(line)
                if large and not entry["notable"]:
                    entry["evidence"] = None
                yield entry

    def summary_only(self) -> int:
        """How many files the page shows as a summary row only."""
        return 0 if self.files <= HTML_FULL_FILES else self.files - self.notable


def render_html(out: IO[str], store: HtmlStore, totals: Totals, *, roots: Iterable[str], created: str,
                version: str, options: str) -> None:
    """Write the report to ``out``, streaming the per-file entries from ``store``."""
    script_hash = base64.b64encode(hashlib.sha256(_JS.encode("utf-8")).digest()).decode("ascii")
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'"
    t = totals.to_dict()
    out.write(f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
              f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'  # our constant, no quotes
              f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
              f"<title>Provenance audit: {t['files']} files</title>\n<style>{_CSS}</style></head><body>\n"
              f"<header><h1>Provenance audit</h1>"
              f'<p class="meta">{_e(", ".join(roots))} &middot; {t["files"]} files &middot; {_e(created)} &middot; '
              f"provenance {_e(version)} &middot; {_e(options)}</p></header>\n<section class=\"cards\">")
    for key, title in CARDS:
        out.write(f'<div class="card card-{key}" data-cat="{key}" id="card-{key}"><span class="n">{t["cards"][key]}'
                  f'</span><span class="t">{_e(title)}</span></div>')
    out.write('</section>\n<section class="charts">')
    out.write(bar_chart("Verdicts", list(t["verdicts"].items()), colours=_VERDICT_COLOURS))
    out.write(bar_chart("Generator families (else the tool)", list(t["generator_families"].items()),
                        colour="#c2410c"))
    out.write(bar_chart("C2PA signers (any status)", list(t["signers"].items()), colour="#1d4ed8"))
    out.write(bar_chart("Made by (vendor)", list(t.get("vendors", {}).items()), colour="#7c3aed"))
    out.write(bar_chart("Made locally or through an API", [(_SOURCE_NAMES.get(k, k), n) for k, n in
                                                           t.get("sources", {}).items()], colour="#0f766e"))
    out.write(histogram("Forensic p(AI), files with an estimate", t["p_ai_histogram"]))
    options_html = "".join(f'<option value="{k}">{_e(title)}</option>' for k, title in CARDS)
    out.write('</section>\n')
    if store.summary_only():
        out.write(f'<p class="note" id="summary-only">{store.summary_only():,} of {t["files"]:,} files are shown as '
                  f"a summary row only (no thumbnail, shorter detail): above {HTML_FULL_FILES:,} files the report "
                  f"keeps the full detail of notable files (AI, tampered, invalid, errors, conflicts; at most "
                  f"{HTML_MAX_NOTABLE:,}). The JSONL report holds every file's evidence.</p>\n")
    out.write('<div class="controls"><input id="q" type="search" autocomplete="off" '
              'placeholder="Filter by name, verdict, signer, generator, watermark..." aria-label="filter">'
              f'<select id="cat" aria-label="category"><option value="">all files</option>{options_html}</select>'
              '<span id="shown"></span></div>\n<div class="pager"><button id="prev" type="button">&larr; previous'
              '</button><span id="pageinfo"></span><button id="next" type="button">next &rarr;</button></div>\n'
              '<div class="tablewrap"><table id="files"><thead><tr>')
    for key, title, kind in TABLE_COLUMNS:
        out.write(f'<th data-key="{key}" data-kind="{kind}">{_e(title)}</th>')
    out.write("</tr></thead><tbody></tbody></table></div>\n"
              '<aside id="detail" hidden><button id="close" aria-label="close">'
              '&times;</button><div id="detail-body"></div></aside>\n'
              '<script type="application/json" id="evidence">{"fields":' + _json_block(list(ROW_FIELDS))
              + f',"page":{PAGE_ROWS},"rows":[\n')
    for i, entry in enumerate(store.entries()):
        out.write(("," if i else "") + _json_block(entry["row"]) + "\n")
    out.write('],"evidence":[\n')
    for i, entry in enumerate(store.entries()):
        out.write(("," if i else "") + _json_block(entry["evidence"]) + "\n")
    out.write(f"]}}</script>\n<script>{_JS}</script>\n</body></html>\n")


def write_html(path: str | os.PathLike[str], store: HtmlStore, totals: Totals, **meta) -> Path:
    """Render the report next to ``path`` and move it into place (readers never see half a report)."""
    with atomic_output(path, overwrite=True, encoding="utf-8") as fh:
        render_html(fh, store, totals, **meta)
    return Path(path)
