"""The audit names each file's maker: the CSV's vendor, product and source columns, and the HTML
report's charts by vendor and by local / API."""
from __future__ import annotations

import csv
import html

import cli

from support.audit_data import FAST
from support.generator_files import TOOL_FILES, png_with_text
from support.signing import MakerCA, sign_image

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def test_csv_and_html_name_vendor_product_and_source(tmp_path, monkeypatch):
    """A Firefly image (api), a ComfyUI image (local) and a camera photo (capture): each CSV row
    says its vendor, product and source; the HTML charts count them by vendor and by source."""
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    d = tmp_path / "in"
    d.mkdir()
    chain, key = MakerCA("Adobe Inc.").signer("cai-prod")
    (d / "firefly.jpg").write_bytes(sign_image(
        {"claim_generator_info": [{"name": "Adobe_Firefly", "version": "1.0"}], "title": "firefly.jpg",
         "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
             {"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}]}}]}, chain, key))
    (d / "comfy.png").write_bytes(png_with_text(TOOL_FILES["comfyui-base-refiner"].text))
    chain, key = MakerCA("Nikon").signer("Nikon Content Signer")
    (d / "nikon.jpg").write_bytes(sign_image(
        {"claim_generator_info": [{"name": "Nikon Z6III", "version": "1.0"}], "title": "nikon.jpg",
         "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
             {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}]}}]}, chain, key))
    out_csv, out_html = tmp_path / "r.csv", tmp_path / "r.html"
    code = cli.main(["audit", str(d), "--csv", str(out_csv), "--html", str(out_html), "--no-cache", "--workers", "1",
                     *FAST])
    assert code == 0
    with out_csv.open(encoding="utf-8", newline="") as fh:
        rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader(fh)}
    got = {name: (r["vendor"], r["product"], r["source"]) for name, r in rows.items()}
    assert got == {"firefly.jpg": ("Adobe", "Firefly", "api"), "comfy.png": ("Comfy Org", "ComfyUI", "local"),
                   "nikon.jpg": ("Nikon", "Nikon camera", "capture")}
    page = html.unescape(out_html.read_text(encoding="utf-8"))
    vendors = page[page.index("Made by (vendor)"):page.index("Made locally or through an API")]
    assert all(v in vendors for v in ("Adobe", "Comfy Org", "Nikon"))
    sources = page[page.index("Made locally or through an API"):]
    sources = sources[:sources.index("</svg>")]
    assert all(s in sources for s in ("API / cloud service", "local tool", "camera"))
