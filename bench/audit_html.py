"""Size and opening time of a large HTML audit report.

    .venv/bin/python bench/audit_html.py --files 20000 --open
    .venv/bin/python bench/audit_html.py --audit 300     # a real audit of 300 images, bytes per file

``--files N`` writes the report of N files without analysing N files: three real verify reports (a
stamped AI image, a plain photo-like PNG, a corrupt file, each 512², with its real thumbnail) are
repeated under N names, ``--ai-share`` of them AI and ``--error-share`` errors, through the same
rows, store and renderer as ``provenance audit --html``. ``--open`` times headless Chromium
(/usr/bin/chromium) from navigation to the load event, the page's script included (it parses the
rows, sorts them by name and draws the first page). ``--audit N`` runs the real command on N
images (5% stamped) instead, for the bytes per file of a small report, where every file is kept in
full.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _roles(tmp: Path):
    from PIL import Image

    from support import natural_image
    from provenance import GenerationRecord, init_keys, load_identity, stamp_file
    from provenance._verify import VerifyOptions, verify_file
    from provenance.audit._file import make_thumbnail

    os.environ["PROVENANCE_HOME"] = str(tmp / "home")
    init_keys(org="Bench Org")
    Image.fromarray(natural_image(512, 512, seed=1)).save(tmp / "src.png")
    stamped = stamp_file(tmp / "src.png", tmp / "ai.png", identity=load_identity(),
                         record=GenerationRecord(model="bench")).output
    Image.fromarray(natural_image(512, 512, seed=2)).save(tmp / "plain.png")
    (tmp / "corrupt.png").write_bytes((tmp / "plain.png").read_bytes()[:900])
    out = []
    for path in (stamped, tmp / "plain.png", tmp / "corrupt.png"):
        report = verify_file(path, options=VerifyOptions(forensics=False)).to_dict()
        out.append((report, make_thumbnail(Path(path).read_bytes())))
    return out


def synthetic(n: int, ai_share: float, error_share: float, tmp: Path) -> tuple[Path, dict]:
    from provenance.audit import Totals, summary_row
    from provenance.report import HtmlStore, write_html

    roles = _roles(tmp)
    store, totals = HtmlStore(), Totals()
    ai_every, err_every = max(1, round(1 / ai_share)) if ai_share else 0, max(1, round(1 / error_share)) \
        if error_share else 0
    t0 = time.perf_counter()
    for i in range(n):
        role = 0 if ai_every and i % ai_every == 0 else 2 if err_every and i % err_every == 1 else 1
        report, thumb = roles[role]
        name = f"/archive/dir{i // 1000:03d}/file{i:06d}.png"
        row = summary_row(name, "error" if report["errors"] else "ok", report=dict(report, file=name))
        totals.add(row)
        store.add(row, report, thumb)
    store.close()
    html = tmp / "report.html"
    try:
        write_html(html, store, totals, roots=["/archive"], created="bench", version="bench", options="bench")
    finally:
        store.remove()
    return html, {"build_s": round(time.perf_counter() - t0, 2), "summary_rows": store.summary_only()}


def real_audit(n: int, tmp: Path) -> Path:
    from PIL import Image

    from support import natural_image
    from provenance import GenerationRecord, init_keys, load_identity, stamp_file

    os.environ["PROVENANCE_HOME"] = str(tmp / "home")
    init_keys(org="Bench Org")
    folder = tmp / "images"
    folder.mkdir()
    for i in range(n):
        path = folder / f"{i:05d}.png"
        Image.fromarray(natural_image(512, 512, seed=100 + i)).save(path, compress_level=1)
        if i % 20 == 0:
            stamp_file(path, folder / f"{i:05d}.stamped.png", identity=load_identity(),
                       record=GenerationRecord(model="bench"), registry=None)
            path.unlink()
    html = tmp / "report.html"
    subprocess.run([sys.executable, str(REPO / "cli.py"), "audit", str(folder), "--html", str(html), "--no-cache",
                    "--no-registry", "--no-forensics"], check=False, capture_output=True,
                   env=dict(os.environ))
    return html


def open_seconds(html: Path) -> float:
    import _chromium

    with _chromium.Browser(timeout=300) as b:
        t0 = time.monotonic()
        b.open(html.as_uri())
        seconds = time.monotonic() - t0
        rows = b.evaluate("document.querySelectorAll('#files tbody tr').length")
        if not rows:
            raise SystemExit("the page drew no rows")
    return round(seconds, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--ai-share", type=float, default=0.05)
    ap.add_argument("--error-share", type=float, default=0.02)
    ap.add_argument("--audit", type=int, metavar="N", help="instead: a real audit of N 512² images")
    ap.add_argument("--open", action="store_true", help="time opening it in headless Chromium")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-html-") as d:
        tmp = Path(d)
        if args.audit:
            html, extra, files = real_audit(args.audit, tmp), {}, args.audit
        else:
            html, extra = synthetic(args.files, args.ai_share, args.error_share, tmp)
            files = args.files
        size = html.stat().st_size
        result = {"files": files, "bytes": size, "mb": round(size / 1e6, 1), "kb_per_file": round(size / files / 1e3, 2),
                  **extra, "load_average": os.getloadavg()}
        if args.open:
            result["chromium_open_s"] = open_seconds(html)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
