"""The self-contained HTML audit report: cards, SVG charts, a sortable, filterable table, a detail panel.

No network: the CSS, the script, the charts (inline SVG drawn here) and the thumbnails (JPEG data
URIs) are all in the one file, and a Content-Security-Policy forbids fetching anything else. Every
string that comes from a file (names, metadata, prompts, signer names) is either HTML-escaped here
or placed in a JSON block with ``<``, ``>`` and ``&`` escaped, and the script only ever writes it
with ``textContent``; the policy's script hash means an injected ``<script>`` would not run anyway.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from pathlib import Path
from typing import IO, Iterable, Iterator

from .._imageio import atomic_output
from ._rows import AI_LABELS, CAMERA_LABELS, CARDS, P_AI_BINS, Totals, categories

MAX_TEXT = 2000  # longest metadata string kept in the detail panel (prompts can be huge)

TABLE_COLUMNS = (  # key, title, kind (text | num | none)
    ("thumb", "", "none"), ("path", "File", "text"), ("verdict", "Verdict", "text"),
    ("confidence", "Conf.", "num"), ("c2pa_status", "C2PA", "text"), ("c2pa_signer", "Signer", "text"),
    ("watermarks", "Watermark", "text"), ("generator", "Generator", "text"), ("p_ai", "p(AI)", "num"),
    ("status", "Status", "text"),
)

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
"""

_JS = """
(function(){
"use strict";
var ev=JSON.parse(document.getElementById("evidence").textContent);
var tbody=document.querySelector("#files tbody");
var rows=Array.prototype.slice.call(tbody.rows);
var q=document.getElementById("q"),cat=document.getElementById("cat"),shown=document.getElementById("shown");
function apply(){
  var t=q.value.trim().toLowerCase(),c=cat.value,n=0;
  rows.forEach(function(r){
    var ok=(!t||r.getAttribute("data-search").indexOf(t)>=0)&&(!c||r.getAttribute("data-cat").split(" ").indexOf(c)>=0);
    r.hidden=!ok;if(ok)n++;});
  shown.textContent=n+" of "+rows.length+" shown";
}
q.addEventListener("input",apply);cat.addEventListener("change",apply);
Array.prototype.forEach.call(document.querySelectorAll(".card"),function(card){
  card.addEventListener("click",function(){cat.value=card.getAttribute("data-cat");apply();});});
var ths=document.querySelectorAll("#files th");
Array.prototype.forEach.call(ths,function(th,i){
  var kind=th.getAttribute("data-kind");if(kind==="none")return;
  th.addEventListener("click",function(){
    var dir=th.classList.contains("asc")?-1:1;
    Array.prototype.forEach.call(ths,function(o){o.classList.remove("asc","desc");});
    th.classList.add(dir===1?"asc":"desc");
    rows.sort(function(a,b){
      var x=a.cells[i].getAttribute("data-v"),y=b.cells[i].getAttribute("data-v");
      if(kind==="num"){x=x===""?-1:parseFloat(x);y=y===""?-1:parseFloat(y);return (x-y)*dir;}
      return x.localeCompare(y)*dir;});
    rows.forEach(function(r){tbody.appendChild(r);});
  });});
var panel=document.getElementById("detail"),body=document.getElementById("detail-body");
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
function show(i){
  var d=ev[i];rows.forEach(function(r){r.classList.toggle("sel",r.getAttribute("data-i")===String(i));});
  while(body.firstChild)body.removeChild(body.firstChild);
  body.appendChild(el("h2",d.path));
  if(d.thumb&&d.thumb.indexOf("data:image/jpeg;base64,")===0){var im=el("img");im.alt="";im.src=d.thumb;body.appendChild(im);}
  var v=d.verdict||{};
  section("Verdict",[["label",v.label],["confidence",v.confidence],["summary",v.summary],["rules",v.rules],
    ["status",d.status],["reason",d.reason],["from cache",d.cached?"yes":""]]);
  if(v.conflicts&&v.conflicts.length){body.appendChild(el("h3","Conflicts"));
    v.conflicts.forEach(function(c){body.appendChild(el("p",c,"conflict"));});}
  section("How it was made",Object.keys(v.how||{}).map(function(k){return [k,v.how[k]];}));
  var c=d.c2pa||{};
  section("Content Credentials (C2PA)",[["status",c.status],["signer",c.signer],["issuer",c.issuer],
    ["claim generator",c.claim_generator],["digital source type",c.digital_source_type],["codes",c.codes]]);
  section("Watermarks",(d.watermarks||[]).map(function(w){
    return [w.scheme,(w.payload||"detected")+(w.false_positive_rate!==null&&w.false_positive_rate!==undefined?
      "  (false-positive rate "+Number(w.false_positive_rate).toExponential(1)+")":"")];}));
  section("Metadata",Object.keys(d.metadata||{}).map(function(k){return [k,d.metadata[k]];}));
  var r=d.registry||{};
  section("Registry",[["match",r.match],["content id",r.content_id],["stamped file",r.output_path],
    ["stamped",r.created_at],["distance",r.distance]]);
  var f=d.forensics||{};
  section("Forensics (an estimate)",[["p(AI)",f.p_ai],["families",f.families],["model",f.model],["status",f.status]]);
  section("File",[["sha256",d.sha256],["format",d.format],["size",d.size]]);
  if(d.errors&&d.errors.length){body.appendChild(el("h3","Errors"));
    d.errors.forEach(function(e){body.appendChild(el("p",e,"conflict"));});}
  panel.hidden=false;
}
tbody.addEventListener("click",function(e){var tr=e.target.closest("tr");if(tr)show(parseInt(tr.getAttribute("data-i"),10));});
document.getElementById("close").addEventListener("click",function(){panel.hidden=true;});
document.addEventListener("keydown",function(e){if(e.key==="Escape")panel.hidden=true;});
var m=/[#&]q=([^&]*)/.exec(location.hash);if(m){q.value=decodeURIComponent(m[1]);}
if(ths.length>1)ths[1].click();  // start sorted by file name
apply();
})();
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _json_block(obj) -> str:
    """JSON safe inside a <script type=application/json> block: no '<', '>' or '&' survive."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _clip(value, limit: int = MAX_TEXT):
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + " [...]"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _clip(json.dumps(value, ensure_ascii=False, default=str), limit)


def evidence_of(row: dict, report: dict | None, thumb: bytes | None) -> dict:
    """What the detail panel shows for one file: the evidence, trimmed to bounded sizes."""
    d: dict = {"path": row["path"], "status": row["status"], "reason": row["reason"], "cached": row["cached"]}
    if thumb:
        d["thumb"] = "data:image/jpeg;base64," + base64.b64encode(thumb).decode("ascii")
    if report is None:
        return d
    v, c = report["verdict"], report["c2pa"]
    signer = c.get("signer") or {}
    meta = report.get("metadata") or {}
    gen = {k: _clip(val) for k, val in (meta.get("generator") or {}).items()
           if val not in (None, "", [], {}) and k != "raw"}
    camera = {k: _clip(val) for k, val in (meta.get("exif") or {}).items() if k in ("make", "model", "datetime")}
    rec = (report.get("registry") or {}).get("record") or {}
    f = report.get("forensics") or {}
    fam = f.get("family_scores") or {}
    d.update(
        sha256=report.get("sha256"), format=report.get("format"),
        size=f"{report['width']}x{report['height']}" if report.get("width") else None,
        verdict={"label": v["label"], "confidence": v["confidence"], "summary": v["summary"],
                 "rules": v.get("rules", []), "conflicts": v.get("conflicts", []),
                 "how": {k: _clip(val) for k, val in v.get("how", {}).items() if val not in (None, "", [])}},
        c2pa={"status": c.get("status"), "signer": signer.get("common_name"), "issuer": signer.get("issuer"),
              "claim_generator": _clip(c.get("claim_generator")), "digital_source_type": c.get("digital_source_type"),
              "codes": c.get("codes", [])},
        watermarks=[{"scheme": w["scheme"], "payload": w.get("payload"),
                     "false_positive_rate": w.get("false_positive_rate")}
                    for w in report.get("watermarks", []) if w.get("detected")],
        metadata={**{f"generator {k}": val for k, val in gen.items()}, **{f"camera {k}": val for k, val in camera.items()}},
        registry={"match": report["registry"].get("match"), "content_id": rec.get("content_id"),
                  "output_path": rec.get("output_path"), "created_at": rec.get("created_at"),
                  "distance": report["registry"].get("distance")},
        forensics={"p_ai": f.get("p_ai"), "model": f.get("model"), "status": f.get("status") or f.get("reason"),
                   "families": ", ".join(f"{k} {float(s):.2f}" for k, s in list(fam.items())[:3]) if fam else None},
        errors=[f"{e['collector']}: {_clip(e['error'])}" for e in report.get("errors", [])],
    )
    return d


# --- charts (inline SVG) ----------------------------------------------------------------------

_VERDICT_COLOURS = {"ai-generated": "#c2410c", "likely-ai-generated": "#f97316", "camera-signed": "#15803d",
                    "likely-camera": "#4ade80", "unknown": "#6b7280"}


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
        parts.append(f'<text x="0" y="14">none</text>')
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

def _badge(row: dict) -> tuple[str, str]:
    if row["status"] == "skipped":
        return "b-skipped", "skipped"
    if row["status"] == "error" and not row["verdict"]:
        return "b-error", "error"
    label = row["verdict"]
    cls = "b-ai" if label in AI_LABELS else "b-camera" if label in CAMERA_LABELS else "b-unknown"
    return cls, label


def _table_row(i: int, row: dict, thumb_uri: str | None) -> str:
    cls, label = _badge(row)
    gen = " ".join(x for x in (row["generator_family"], row["generator_tool"], row["model"]) if x)
    search = " ".join(str(row[k]) for k in ("path", "status", "reason", "verdict", "c2pa_status", "c2pa_signer",
                                            "watermarks", "content_id", "generator_family", "generator_tool",
                                            "model", "registry_match", "conflicts", "summary")).lower()
    status_cls = {"error": "b-error", "skipped": "b-skipped"}.get(row["status"], "b-ok")
    cells = [
        ("", f'<img alt="" src="{_e(thumb_uri)}">' if thumb_uri else ""),
        (row["path"], _e(row["path"])),
        (label, f'<span class="badge {cls}">{_e(label)}</span>'),
        (row["confidence"], _e(row["confidence"])),
        (row["c2pa_status"], _e(row["c2pa_status"])),
        (row["c2pa_signer"], _e(row["c2pa_signer"])),
        (row["watermarks"], _e(row["watermarks"])),
        (gen, _e(gen)),
        (row["p_ai"], _e(row["p_ai"])),
        (row["status"], f'<span class="badge {status_cls}" title="{_e(row["reason"])}">{_e(row["status"])}</span>'),
    ]
    tds = "".join(f'<td data-v="{_e(v)}"' + (' class="path"' if k == 1 else "") + f">{h}</td>"
                  for k, (v, h) in enumerate(cells))
    return (f'<tr data-i="{i}" data-cat="{_e(" ".join(categories(row)))}" data-search="{_e(search)}">'
            f"{tds}</tr>\n")


def _iter_store(store: Path) -> Iterator[dict]:
    with open(store, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def render_html(out: IO[str], store: Path, totals: Totals, *, roots: Iterable[str], created: str, version: str,
                options: str) -> None:
    """Write the report to ``out``, streaming the per-file entries from ``store`` (JSON lines)."""
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
    out.write(bar_chart("Generator families", list(t["generator_families"].items()), colour="#c2410c"))
    out.write(bar_chart("C2PA signers (any status)", list(t["signers"].items()), colour="#1d4ed8"))
    out.write(histogram("Forensic p(AI), files with an estimate", t["p_ai_histogram"]))
    options_html = "".join(f'<option value="{k}">{_e(title)}</option>' for k, title in CARDS)
    out.write('</section>\n<div class="controls"><input id="q" type="search" autocomplete="off" '
              'placeholder="Filter by name, verdict, signer, generator, watermark..." aria-label="filter">'
              f'<select id="cat" aria-label="category"><option value="">all files</option>{options_html}</select>'
              '<span id="shown"></span></div>\n<div class="tablewrap"><table id="files"><thead><tr>')
    for key, title, kind in TABLE_COLUMNS:
        out.write(f'<th data-key="{key}" data-kind="{kind}">{_e(title)}</th>')
    out.write("</tr></thead><tbody>\n")
    for i, entry in enumerate(_iter_store(store)):
        out.write(_table_row(i, entry["row"], entry["evidence"].get("thumb")))
    out.write('</tbody></table></div>\n<aside id="detail" hidden><button id="close" aria-label="close">'
              '&times;</button><div id="detail-body"></div></aside>\n'
              '<script type="application/json" id="evidence">[')
    for i, entry in enumerate(_iter_store(store)):
        out.write(("," if i else "") + _json_block(entry["evidence"]) + "\n")
    out.write(f"]</script>\n<script>{_JS}</script>\n</body></html>\n")


def write_html(path: str | os.PathLike[str], store: Path, totals: Totals, **meta) -> Path:
    """Render the report next to ``path`` and move it into place (readers never see half a report)."""
    with atomic_output(path, overwrite=True, encoding="utf-8") as fh:
        render_html(fh, store, totals, **meta)
    return Path(path)
