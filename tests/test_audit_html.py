"""The HTML audit report, loaded from disk in real headless Chromium: rows, filter, detail panel, hostile names."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli

import _chromium
from _audit_data import FAST, HOSTILE_NAME, HOSTILE_PROMPT, a1111_parameters, save_png

pytestmark = pytest.mark.skipif(not _chromium.available(), reason="needs /usr/bin/chromium (apt-get install chromium)")

ROWS = "document.querySelectorAll('#files tbody tr').length"
VISIBLE = "Array.from(document.querySelectorAll('#files tbody tr')).filter(r => !r.hidden).length"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A report over a stamped image, a hostile-named file with a script in its prompt, a plain one, junk."""
    base = tmp_path_factory.mktemp("html")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROVENANCE_HOME", str(base / "home"))
        from provenance import GenerationRecord, init_keys, load_identity, stamp_file

        keys = init_keys(org="Html Test Org")
        folder = base / "folder"
        folder.mkdir()
        src = save_png(base / "src.png", 31)
        stamp_file(src, folder / "stamped.png", identity=load_identity(), record=GenerationRecord(model="m-2"))
        save_png(folder / HOSTILE_NAME, 32, text={"parameters": a1111_parameters(HOSTILE_PROMPT)})
        save_png(folder / "plain.png", 33)
        (folder / "broken.jpg").write_bytes((folder / "stamped.png").read_bytes()[:1000].replace(b"PNG", b"PNG", 1))
        (folder / "readme.txt").write_text("<script>document.title='pwned'</script>")
        html = base / "report.html"
        rc = cli.main(["audit", str(folder), "--html", str(html), "--trust", str(keys / "root-ca.pem"), "--no-cache",
                       "--workers", "2", *FAST])
        assert rc == cli.EXIT_ERROR  # broken.jpg
    return html


def test_report_is_self_contained(report):
    """No external URL is referenced; a Content-Security-Policy forbids any fetch; strings are escaped."""
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "default-src 'none'" in text and "<script>document.title" not in text
    assert "&lt;img src=x onerror=" in text and "<img src=x" not in text
    assert text.count("<script") == 2  # the JSON evidence block and our own script, nothing injected


def test_dump_dom_after_scripts_ran(report):
    """chromium --dump-dom: the script ran (the row counter is filled) and no hostile markup became elements."""
    dom = _chromium.dump_dom(report.as_uri())
    assert "5 of 5 shown" in dom
    assert "<title>Provenance audit: 5 files</title>" in dom
    assert '<img src="x"' not in dom and "pwned" not in dom.split("<body>")[0]


def test_table_filter_detail_and_screenshot(report, tmp_path):
    """Typing in the filter box hides rows; a click opens the detail panel with the prompt as text; screenshot."""
    with _chromium.Browser() as b:
        b.open(report.as_uri())
        assert b.evaluate(ROWS) == 5 and b.evaluate(VISIBLE) == 5
        assert b.evaluate("document.title") == "Provenance audit: 5 files"
        assert b.evaluate("document.querySelectorAll('img[src=x], b').length") == 0
        assert b.evaluate("document.getElementById('card-ai').querySelector('.n').textContent") == "2"
        b.type_text("#q", "stamped")
        assert b.evaluate(VISIBLE) == 1
        assert b.evaluate("document.getElementById('shown').textContent") == "1 of 5 shown"
        b.evaluate("var q=document.getElementById('q'); q.value=''; q.dispatchEvent(new Event('input'))")
        b.evaluate("document.getElementById('cat').value='skipped';"
                   "document.getElementById('cat').dispatchEvent(new Event('change'))")
        assert b.evaluate(VISIBLE) == 1
        b.evaluate("document.getElementById('cat').value='';"
                   "document.getElementById('cat').dispatchEvent(new Event('change'))")
        b.evaluate("Array.from(document.querySelectorAll('#files tbody tr'))"
                   ".find(r => r.textContent.includes('onerror')).click()")
        panel = b.evaluate("document.getElementById('detail').hidden ? '' : document.getElementById('detail').innerText")
        assert HOSTILE_PROMPT in panel and HOSTILE_NAME in panel
        assert b.evaluate("document.title") == "Provenance audit: 5 files"  # nothing injected ran
        shot = b.screenshot(tmp_path / "report.png")
        if os.environ.get("AUDIT_SCREENSHOT"):
            b.screenshot(os.environ["AUDIT_SCREENSHOT"])
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (900, 1280) and pixels.std() > 10  # a drawn page, not a blank one


def test_sorting_by_a_column(report):
    """Clicking a header sorts the rows by it, a second click reverses the order."""
    with _chromium.Browser() as b:
        b.open(report.as_uri())
        names = "Array.from(document.querySelectorAll('#files tbody tr td.path')).map(td => td.textContent)"
        first = b.evaluate(names)
        assert first == sorted(first)  # the report opens sorted by file name
        b.evaluate("document.querySelector('#files th[data-key=path]').click()")
        assert b.evaluate(names) == sorted(first, reverse=True)
