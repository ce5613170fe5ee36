"""verify --resolver: a stripped, resized copy gets its Content Credentials back from a real
service, only when the manifest's soft bindings and fingerprint fit the image; a service that is
down or silent costs at most its timeout and is named in the errors."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from PIL import Image

from support import natural_image, run_cli
from support.service import running_service

pytestmark = pytest.mark.slow


def strip_and_resize(src, dst, factor=0.5, fmt="PNG"):
    """A copy with no metadata at all (pixels only), resized."""
    im = Image.open(src).convert("RGB")
    im = im.resize((int(im.width * factor), int(im.height * factor)), Image.LANCZOS)
    im.save(dst, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return dst


@pytest.fixture
def published(tmp_path, monkeypatch, capsys):
    """A service over an empty registry, and an image stamped (home A) and published to it with
    ``stamp --publish``: (url, stamped path, stamp JSON, trust anchors PEM path, token file)."""
    from provenance.serve import TokenStore, new_token

    tokens = tmp_path / "tokens.txt"
    token = new_token(tokens)
    token_file = tmp_path / "publish.token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    src = tmp_path / "src.png"
    Image.fromarray(natural_image(512, 512, seed=21)).save(src)
    home_a = tmp_path / "home-a"
    monkeypatch.setenv("PROVENANCE_HOME", str(home_a))
    with running_service(tmp_path / "service.sqlite", tokens=TokenStore.load(tokens)) as url:
        assert run_cli(capsys, "keys", "init", "--org", "Stamping Studio")[0] == 0
        code, out, err = run_cli(capsys, "stamp", str(src), "-o", str(tmp_path / "stamped.png"), "--model",
                                 "sdxl-base-1.0", "--seed", "7", "--prompt", "a lighthouse", "--publish", url,
                                 "--publish-token-file", str(token_file), "--json")
        assert code == 0, err
        stamp = json.loads(out)
        anchors = tmp_path / "anchors.pem"
        from provenance import load_identity

        anchors.write_bytes(load_identity().anchors_pem)
        monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home-fresh"))  # the verifier: no keys, no registry
        yield url, tmp_path / "stamped.png", stamp, anchors, token_file


def verify_json(capsys, *args):
    code, out, err = run_cli(capsys, "verify", *args, "--json", "--no-forensics")
    return code, json.loads(out)[0], err


def test_stripped_half_size_copy_recovers_manifest_signer_and_record(published, tmp_path, capsys):
    """Done-when of issue 19: stamped, stripped of metadata, resized to 50%, verified from a fresh
    PROVENANCE_HOME with --resolver: the manifest, its signer and the generation record come back,
    and the copy is said to differ from the signed pixels, never to be tampered."""
    url, stamped, stamp, anchors, _ = published
    assert [p["endpoint"] for p in stamp["published"]] == [url + "/v1"]
    assert stamp["published"][0]["manifest_id"] == stamp["manifest_id"]
    copy = strip_and_resize(stamped, tmp_path / "copy.png")
    code, report, err = verify_json(capsys, str(copy), "--resolver", url, "--trust", str(anchors))
    reg = report["registry"]
    assert reg["match"] == "resolver", reg
    assert reg["endpoint"] == url + "/v1" and reg["manifest_id"] == stamp["manifest_id"]
    assert reg["status"] == "trusted" and reg["pixels"] == "differ"
    assert reg["signer"] == "Stamping Studio Content Signer" and reg["signer"] in stamp["signer"]
    assert reg["looked_up"] == {"by": "binding", "alg": "org.provenance.watermark.provenanceWM",
                                "value": stamp["content_id"][:12]}
    generation = next(a["data"] for a in reg["record"]["manifest"]["assertions"]
                      if a["label"] == "org.provenance.generation")
    assert generation["content_id"] == stamp["content_id"] and generation["seed"] == 7
    assert generation["model"] == "sdxl-base-1.0"
    assert report["c2pa"]["status"] == "absent"  # the copy holds none of its own
    v = report["verdict"]
    assert v["label"] == "ai-generated" and v["rules"][0] == "resolver-c2pa-ai"
    assert "tamper" not in v["summary"].lower() and "differ" in v["summary"] and url in v["summary"]
    assert v["how"]["model"] == "sdxl-base-1.0"
    assert not [e for e in report["errors"] if e["collector"] == "registry"]
    code, text, err = run_cli(capsys, "verify", str(copy), "--resolver", url, "--no-forensics")
    assert f"resolver: {url}/v1, manifest {stamp['manifest_id']} (valid, signed by Stamping Studio" in text
    assert "seed=7" in text and "tamper" not in text.lower()
    # without --trust the signer is simply not trusted here; the credentials still come back
    code, report, err = verify_json(capsys, str(copy), "--resolver", url)
    assert report["registry"]["match"] == "resolver" and report["registry"]["status"] == "valid"


def test_environment_names_resolvers_and_content_lookup_finds_an_unmarked_copy(published, tmp_path, capsys,
                                                                               monkeypatch):
    """PROVENANCE_RESOLVERS is read when --resolver is not given; a JPEG copy is found (by binding or
    content) and its JSON is valid against the verify schema."""
    import jsonschema

    from provenance._data_files import VERIFY_SCHEMA, load_json

    url, stamped, stamp, anchors, _ = published
    copy = strip_and_resize(stamped, tmp_path / "copy.jpg", factor=0.75, fmt="JPEG")
    monkeypatch.setenv("PROVENANCE_RESOLVERS", url)
    code, report, err = verify_json(capsys, str(copy))
    assert report["registry"]["match"] == "resolver"
    jsonschema.validate(report, load_json(VERIFY_SCHEMA))


def test_audit_asks_the_resolver_too(published, tmp_path, capsys):
    """audit --resolver: each file of a folder is looked up as verify would."""
    url, stamped, stamp, anchors, _ = published
    folder = tmp_path / "incoming"
    folder.mkdir()
    strip_and_resize(stamped, folder / "copy.png")
    code, out, err = run_cli(capsys, "audit", str(folder), "--resolver", url, "--jsonl", "-", "--workers", "1",
                             "--no-cache", "--no-forensics")
    [line] = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert line["registry"]["match"] == "resolver" and line["registry"]["manifest_id"] == stamp["manifest_id"]


def test_copied_watermark_on_another_image_does_not_inherit_the_credentials(published, tmp_path, capsys):
    """A different picture carrying the stamp's watermark id: the service returns the manifest for
    the id, but its signed PDQ is far from this image's, so it is rejected, with the reason."""
    from provenance.watermark import get_method

    url, stamped, stamp, anchors, _ = published
    other = natural_image(512, 512, seed=99)
    marked = get_method("provenanceWM").embed(other, stamp["content_id"])
    forged = tmp_path / "forged.png"
    Image.fromarray(marked).save(forged)
    code, report, err = verify_json(capsys, str(forged), "--resolver", url)
    reg = report["registry"]
    assert reg["match"] == "none"
    [rejected] = reg["rejected"]
    assert rejected["manifest_id"] == stamp["manifest_id"] and "PDQ" in rejected["reason"]
    assert "resolver-c2pa-ai" not in report["verdict"]["rules"]


def test_unpublished_image_gets_none_and_no_error(published, tmp_path, capsys):
    """An image the service does not know: match none, a reason, no error."""
    url, *_ = published
    plain = tmp_path / "plain.png"
    Image.fromarray(natural_image(384, 384, seed=5)).save(plain)
    code, report, err = verify_json(capsys, str(plain), "--resolver", url)
    assert report["registry"]["match"] == "none" and url in report["registry"]["reason"]
    assert not report["errors"]


@pytest.fixture
def silent_server():
    """A loopback server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    t.join(5)
    for c in held:
        c.close()
    sock.close()


def test_down_and_silent_resolvers_cost_at_most_their_timeout(published, tmp_path, capsys, silent_server):
    """A refused connection and a server that never answers are each named in errors, each costs at
    most --resolver-timeout, and the next resolver in the list still answers."""
    url, stamped, *_ = published
    copy = strip_and_resize(stamped, tmp_path / "copy.png")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    down = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    t = time.monotonic()
    code, report, err = verify_json(capsys, str(copy), "--resolver", silent_server, "--resolver", down,
                                    "--resolver", url, "--resolver-timeout", "1.5")
    elapsed = time.monotonic() - t
    errors = [e["error"] for e in report["errors"] if e["collector"] == "registry"]
    assert any(silent_server in e and "1.5 s timeout" in e for e in errors), errors
    assert any(down in e and "cannot reach" in e for e in errors), errors
    assert report["registry"]["match"] == "resolver" and report["registry"]["endpoint"] == url + "/v1"
    assert code == 1  # errors were reported
    assert elapsed > 1.5  # the silent one was waited for, up to its timeout


def test_a_silent_service_costs_its_timeout_and_no_more(silent_server):
    """Every request to one service shares one deadline: a server that never answers fails the
    whole lookup once the timeout has passed."""
    from provenance import ProvenanceError
    from provenance._resolver import HttpResolver

    r = HttpResolver(silent_server, timeout=1.0)
    r.start()
    t = time.monotonic()
    with pytest.raises(ProvenanceError, match="1 s timeout"):
        r.by_content(b"x" * 1000, "image/png")
    assert 0.9 < time.monotonic() - t < 1.9


def test_resolver_url_must_be_http(capsys):
    """A resolver that is not an http(s) URL is a usage error."""
    code, out, err = run_cli(capsys, "verify", "x.png", "--resolver", "file:///etc/passwd")
    assert code == 2 and "http" in err
