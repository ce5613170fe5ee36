"""The commands on a shared PostgreSQL registry: ``--registry postgresql://...`` or
PROVENANCE_REGISTRY, for stamp, verify, audit and ``registry``; the default SQLite file untouched."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from support import run_cli as run


@pytest.fixture
def stamped_in_postgres(capsys, identity, home, photo_png, tmp_path, postgres_url):
    out = tmp_path / "stamped.png"
    code, text, _ = run(capsys, "stamp", str(photo_png), "-o", str(out), "--registry", postgres_url,
                        "--model", "sdxl-base-1.0", "--seed", "7", "--json")
    assert code == 0, text
    return out, json.loads(text), postgres_url


def test_stamp_then_verify_through_postgres(capsys, home, tmp_path, stamped_in_postgres):
    """A stamp recorded in PostgreSQL is found again by verify there (the file as stamped, and a
    metadata-stripped half-size JPEG copy), while no SQLite registry is ever created."""
    out, result, url = stamped_in_postgres
    assert result["registry"] == url
    code, text, _ = run(capsys, "verify", str(out), "--registry", url, "--no-forensics", "--json")
    [report] = json.loads(text)
    assert code == 0 and report["registry"]["match"] == "watermark"
    assert report["registry"]["record"]["content_id"] == result["content_id"]
    assert report["registry"]["record"]["source_sha256"] == result["source_sha256"]
    img = Image.open(out).convert("RGB")
    copy = tmp_path / "copy.jpg"
    buf = io.BytesIO()
    img.resize((img.width // 2, img.height // 2), Image.LANCZOS).save(buf, "JPEG", quality=85)
    copy.write_bytes(buf.getvalue())
    code, text, _ = run(capsys, "verify", str(copy), "--registry", url, "--no-forensics", "--json")
    [report] = json.loads(text)
    assert report["c2pa"]["status"] == "absent" and report["registry"]["match"] in ("watermark", "fingerprint")
    assert report["registry"]["record"]["content_id"] == result["content_id"]
    assert not (home / "registry.sqlite").exists()


def test_registry_commands_and_the_environment_variable(capsys, home, monkeypatch, stamped_in_postgres):
    """PROVENANCE_REGISTRY names the PostgreSQL registry for ``registry list|show|export`` as
    --registry does."""
    _, result, url = stamped_in_postgres
    cid = result["content_id"]
    monkeypatch.setenv("PROVENANCE_REGISTRY", url)
    code, text, err = run(capsys, "registry", "list", "--json")
    assert code == 0 and [r["content_id"] for r in json.loads(text)] == [cid]
    code, text, _ = run(capsys, "registry", "show", cid[:10], "--json")
    assert code == 0 and json.loads(text)["content_id"] == cid
    monkeypatch.delenv("PROVENANCE_REGISTRY")
    code, text, _ = run(capsys, "registry", "export", "--format", "jsonl", "--registry", url)
    assert code == 0 and json.loads(text)["content_id"] == cid
    code, text, _ = run(capsys, "registry", "list", "--json")  # the default: an empty SQLite registry
    assert code == 0 and json.loads(text) == []


def test_audit_reads_the_postgres_registry(capsys, home, tmp_path, stamped_in_postgres):
    """audit --registry URL: its workers look each file up in PostgreSQL."""
    out, result, url = stamped_in_postgres
    folder = tmp_path / "to-audit"
    folder.mkdir()
    (folder / "a.png").write_bytes(out.read_bytes())
    code, text, _ = run(capsys, "audit", str(folder), "--registry", url, "--no-forensics", "--no-cache",
                        "--workers", "1", "--jsonl", "-")
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert code == 0 and len(rows) == 1
    assert rows[0]["registry"]["match"] == "watermark" and rows[0]["registry"]["record"]["content_id"] == \
        result["content_id"]


def test_unreachable_registry_is_exit_1_with_a_message(capsys, home, photo_png, tmp_path):
    """A PostgreSQL registry that cannot be reached: exit 1 and one line saying where and why, no
    traceback, no password; nothing is written."""
    url = f"postgresql://u:hunter2@/reg?host={tmp_path}&port=9"
    out = tmp_path / "o.png"
    for argv in (["verify", str(photo_png), "--registry", url], ["registry", "list", "--registry", url]):
        code, text, err = run(capsys, *argv)
        assert code == 1 and "cannot open the registry at postgresql://u:***@/reg" in err, err
        assert "Traceback" not in err and "hunter2" not in err
    assert not out.exists()
