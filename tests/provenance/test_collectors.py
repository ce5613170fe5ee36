"""The verify collector table: every collector through one contract, plugins through the entry-point
group, and the layering it buys (provenance/ never imports detectors/)."""
from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys

import pytest
from PIL import Image

from support import REPO, natural_image
from provenance import VerifyOptions, VerifyReport, verify_file
from provenance import collectors as table
from provenance.collectors import CollectContext, Collector, CollectorLoadError, collectors
from provenance.evidence import MEMBER_TYPES

MEMBERS = {f.name for f in dataclasses.fields(VerifyReport)} - {"file", "sha256", "format", "width", "height",
                                                                "verdict", "errors", "timing_ms"}


def test_the_table_holds_every_collector_in_order():
    """This package's four and the detectors' three (through the entry point), unique names, in order."""
    names = [c.name for c in collectors()]
    assert names == ["c2pa", "watermarks", "public_watermarks", "metadata", "registry", "resolver", "forensics"]
    orders = [c.order for c in collectors()]
    assert orders == sorted(orders)


@pytest.mark.parametrize("collector", collectors(), ids=lambda c: c.name)
def test_collector_contract(collector, tmp_path):
    """Each collector: the protocol, a report member it fills, a JSON-able fingerprint that follows
    the options, a warm-up that works, and evidence of its member's type on a real image and on
    bytes whose pixels do not decode (absent() or collect(), never an exception)."""
    assert isinstance(collector, Collector) and collector.member in MEMBERS
    options = VerifyOptions(forensics=True)
    json.dumps(collector.fingerprint(options))
    collector.warm_up(options)
    p = tmp_path / "x.png"
    Image.fromarray(natural_image(256, 256, seed=4)).save(p)
    from provenance import decode_image

    data = p.read_bytes()
    for image in (decode_image(data, name="x.png"), None):
        report = VerifyReport(file="x.png")
        ctx = CollectContext(data=data, sha256="0" * 64, name="x.png", format="PNG", image=image,
                             options=options, report=report)
        value = collector.absent(ctx)
        if value is None:
            value = collector.collect(ctx)
        # The member's evidence type, or its JSON (a list of them for a list member).
        kind = MEMBER_TYPES[collector.member]
        items = value if isinstance(getattr(report, collector.member), list) else [value]
        assert isinstance(items, list) and all(isinstance(v, (dict, kind)) for v in items), (collector.name, value)


def test_fingerprints_follow_the_options():
    """Options that change a collector's evidence change its fingerprint (the audit cache key)."""
    a = table.fingerprint(VerifyOptions(forensics=False))
    assert a != table.fingerprint(VerifyOptions(forensics=True))
    assert a != table.fingerprint(VerifyOptions(forensics=False, fast_watermarks=True))
    assert a != table.fingerprint(VerifyOptions(forensics=False, trust_anchors_pem=b"x"))
    assert a == table.fingerprint(VerifyOptions(forensics=False))


class _Echo:
    """A collector registered from code: fills ``forensics`` with the file's name (replacing the
    shipped one for the test)."""

    name, member, order = "echo", "forensics", 60

    def absent(self, ctx):
        return None

    def collect(self, ctx):
        return {"status": "estimate", "p_ai": None, "echo": ctx.name}

    def fingerprint(self, options):
        return 1

    def warm_up(self, options):
        pass


def test_a_collector_registered_from_code_runs_in_verify(tmp_path, monkeypatch):
    """register_collector adds to the table; verify runs it after the others, with its time."""
    monkeypatch.setattr(table, "_registered", [])
    monkeypatch.setattr(table, "_table", None)
    table.register_collector(_Echo())
    with pytest.raises(CollectorLoadError, match="already registered"):
        table.register_collector(_Echo())
    with pytest.raises(CollectorLoadError, match="not a Collector"):
        table.register_collector(object())
    p = tmp_path / "x.png"
    Image.fromarray(natural_image(128, 128, seed=5)).save(p)
    r = verify_file(p, options=VerifyOptions(forensics=False)).to_dict()
    assert r["forensics"]["echo"] == str(p) and "forensics" in r["timing_ms"]
    monkeypatch.setattr(table, "_table", None)  # leave the table to be rebuilt without it


def test_a_plugin_that_fails_to_load_fails_loudly(tmp_path):
    """An installed package whose collector entry point cannot be imported: verify fails with the
    plugin named (exit 1), it does not report the evidence as absent. The package is a real
    distribution on sys.path (its dist-info with entry_points.txt)."""
    dist = tmp_path / "site" / "broken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[provenance.collectors]\nbroken = broken_plugin_missing:COLLECTOR\n")
    p = tmp_path / "x.png"
    Image.fromarray(natural_image(128, 128, seed=6)).save(p)
    env = {"PYTHONPATH": f"{tmp_path / 'site'}:{REPO}", "PROVENANCE_HOME": str(tmp_path / "home"),
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, str(REPO / "cli.py"), "verify", str(p), "--no-forensics"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "the 'broken' collector (broken_plugin_missing:COLLECTOR, registered by broken-plugin) failed to load: " \
           "ModuleNotFoundError" in out.stderr


def _imports(path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_provenance_never_imports_detectors():
    """No module under provenance/ imports detectors (at the top or inside a function)."""
    offenders = {str(p.relative_to(REPO)): sorted(m for m in _imports(p) if m.split(".")[0] == "detectors")
                 for p in (REPO / "provenance").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_detectors_features_load_no_c2pa_nor_sqlite():
    """The feature extractors load the provenance base only: not c2pa, sqlite3, cryptography or bchlib."""
    code = ("import sys, detectors.features; "
            "print(sorted(m for m in ('c2pa', 'sqlite3', 'cryptography', 'bchlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
