"""``provenance watch``: real folders, real files, a real watcher thread (inotify through watchdog,
and the polling fallback), short intervals. Files are written as the tools write them
(tests/support/generator_files.py) and read back with verify: the C2PA generation assertion must name
the tool, every checkpoint with its role, the seed and the prompt."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from support.generator_files import TOOL_FILES, png_with_text, write_tool_png
from support import REPO, natural_image, run_cli
from provenance import Registry, VerifyOptions, stamp_file, verify_file
from provenance.watch import Watcher, WatchOptions, container_complete
from provenance.watch._sources import WatchdogSource
from provenance.watch._watcher import _output_prefixes

FAST = {"settle": 0.2, "poll_interval": 0.1}
#: The four tools, each saved where it saves by default (README, "Watching a generator's output folder").
LAYOUT = {
    "a1111": "outputs/txt2img-images/2026-12-04/00000-965400086.png",
    "comfyui-base-refiner": "output/ComfyUI_00001_.png",
    "invokeai-5-refiner": "outputs/images/0b1c2d3e-aaaa-bbbb-cccc-000000000001.png",
    "fooocus": "outputs/2026-12-04/2026-12-04_10-00-00_1234.png",
}


@pytest.fixture
def registry(home):
    with Registry() as reg:
        yield reg


@contextlib.contextmanager
def running(options: WatchOptions, identity, registry):
    """A watcher on its own thread, as the CLI runs it, with its own registry connection (SQLite
    connections stay in their thread); yields (watcher, events)."""
    events: list = []
    box: dict = {}
    ready, stop = threading.Event(), threading.Event()
    errors: list = []

    def run():
        try:
            with Registry(registry.path) as own:
                watcher = Watcher(options, identity=identity, registry=own, on_event=events.append)
                watcher.start()
                box["watcher"] = watcher
                ready.set()
                try:
                    watcher.run(stop)
                finally:
                    watcher.close()
        except BaseException as e:  # surfaced in the test, not lost in the thread
            errors.append(e)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(30)
    assert not errors, errors
    try:
        yield box["watcher"], events
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not errors, errors


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stamped(events) -> list:
    return [e for e in events if e.event == "stamped"]


def generation_of(path: Path, identity) -> dict:
    report = verify_file(path, options=VerifyOptions(trust_anchors_pem=identity.anchors_pem, forensics=False))
    assert report.c2pa.status == "trusted", report.c2pa
    return report.c2pa.generation


@pytest.mark.parametrize("backend", ["watchdog", "poll"])
def test_each_tools_file_dropped_in_comes_out_stamped(backend, tmp_path, identity, registry):
    """An A1111, a ComfyUI (base + refiner), an InvokeAI and a Fooocus PNG written into their
    default folders under the watched one each come out stamped, with the right tool,
    checkpoints, seed and prompt in the signed manifest."""
    watched, out = tmp_path / "sd", tmp_path / "stamped"
    watched.mkdir()
    with running(WatchOptions([watched], out_dir=out, backend=backend, **FAST), identity, registry) as (w, events):
        assert w.backend == backend
        for i, (name, rel) in enumerate(LAYOUT.items()):
            (watched / rel).parent.mkdir(parents=True, exist_ok=True)
            write_tool_png(watched / rel, name, seed=i)
        wait_for(lambda: len(stamped(events)) == len(LAYOUT), what="four stamps")
    assert not [e for e in events if e.event == "error"], events
    for name, rel in LAYOUT.items():
        spec = TOOL_FILES[name]
        output = out / rel
        generation = generation_of(output, identity)
        assert (generation["generator"], generation["seed"], generation["prompt"]) == (spec.tool, spec.seed,
                                                                                       spec.prompt), name
        assert [(c["name"], c["role"]) for c in generation["checkpoints"]] == spec.checkpoints, name
        assert generation["source_sha256"] == hashlib.sha256((watched / rel).read_bytes()).hexdigest()
    assert registry.count() == len(LAYOUT)


def test_half_written_file_is_stamped_only_once_complete(tmp_path, identity, registry):
    """A file written in two parts with a pause longer than the settle interval is not stamped
    after the first part (its size is stable but the PNG ends early), and is stamped, whole,
    after the second."""
    watched, out = tmp_path / "output", tmp_path / "stamped"
    watched.mkdir()
    data = png_with_text(TOOL_FILES["comfyui-base-refiner"].text, seed=5)
    target = watched / "ComfyUI_00001_.png"
    with running(WatchOptions([watched], out_dir=out, **FAST), identity, registry) as (w, events):
        with open(target, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            os.fsync(fh.fileno())
            time.sleep(FAST["settle"] * 5)  # well past the settle interval: only the container check holds it
            assert events == [] and not (out / target.name).exists()
            assert w.pending[str(target)].problem and "ends before" in w.pending[str(target)].problem
            fh.write(data[len(data) // 2:])
        wait_for(lambda: stamped(events), what="the stamp")
    assert [e.event for e in events] == ["stamped"]
    generation = generation_of(out / target.name, identity)
    assert generation["source_sha256"] == hashlib.sha256(data).hexdigest()
    assert generation["seed"] == TOOL_FILES["comfyui-base-refiner"].seed


def test_restart_stamps_what_was_missed_and_nothing_twice(tmp_path, identity, registry):
    """The output folder lies inside the watched one. A first watch stamps two files; two more
    arrive while none runs; a second watch stamps exactly those two (the sources it stamped
    before and its own outputs are known to the registry by sha256); a third stamps nothing."""
    watched = tmp_path / "outputs"
    out = watched / "stamped"
    watched.mkdir()
    options = WatchOptions([watched], out_dir=out, **FAST)
    with running(options, identity, registry) as (_w, events):
        write_tool_png(watched / "a.png", "a1111", seed=1)
        write_tool_png(watched / "b.png", "fooocus", seed=2)
        wait_for(lambda: len(stamped(events)) == 2, what="two stamps")
        time.sleep(FAST["settle"] * 3)  # its own outputs arrive as events too: none may be stamped
    assert len(stamped(events)) == 2
    write_tool_png(watched / "c.png", "invokeai-3", seed=3)  # while no watcher runs
    write_tool_png(watched / "d.png", "comfyui-base-refiner", seed=4)

    events2: list = []
    restarted = Watcher(WatchOptions([watched], out_dir=out, once=True, **FAST), identity=identity,
                        registry=registry, on_event=events2.append)
    counts = restarted.run()
    restarted.close()
    assert sorted(Path(e.file).name for e in stamped(events2)) == ["c.png", "d.png"]
    skipped = {Path(e.file).relative_to(watched).as_posix(): e.reason for e in events2 if e.event == "skipped"}
    assert skipped == {"a.png": f"already stamped as {out / 'a.png'}", "b.png": f"already stamped as {out / 'b.png'}",
                       "stamped/a.png": "a stamped file", "stamped/b.png": "a stamped file"}
    assert counts["error"] == 0 and registry.count() == 4

    third = Watcher(WatchOptions([watched], out_dir=out, once=True, **FAST), identity=identity, registry=registry)
    assert third.run()["stamped"] == 0
    third.close()
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png", "d.png"]
    assert registry.count() == 4


@pytest.mark.parametrize("backup", [False, True], ids=["no-backup", "backup"])
def test_in_place_replaces_the_file_atomically(backup, tmp_path, identity, registry):
    """--in-place: the file becomes its stamped self (a .bak of the original only with --backup);
    a second watch finds it stamped."""
    watched = tmp_path / "output"
    watched.mkdir()
    target = watched / "ComfyUI_00007_.png"
    write_tool_png(target, "comfyui-base-refiner")
    original = target.read_bytes()
    first = Watcher(WatchOptions([watched], in_place=True, backup=backup, once=True, **FAST), identity=identity,
                    registry=registry)
    assert first.run()["stamped"] == 1
    first.close()
    generation = generation_of(target, identity)
    assert generation["generator"] == "ComfyUI" and generation["source_sha256"] == hashlib.sha256(original).hexdigest()
    bak = target.with_name(target.name + ".bak")
    assert bak.exists() == backup
    if backup:
        assert bak.read_bytes() == original
    assert sorted(p.name for p in watched.iterdir() if p.name.startswith(".")) == []  # no temporary file left
    again = Watcher(WatchOptions([watched], in_place=True, once=True, **FAST), identity=identity, registry=registry)
    assert again.run() == {"stamped": 0, "skipped": 1, "error": 0}
    again.close()


def test_polling_fallback_when_watchdog_is_missing(tmp_path, identity, registry, monkeypatch):
    """Without watchdog the watcher polls, and still stamps what is dropped in."""
    monkeypatch.setitem(sys.modules, "watchdog.observers", None)  # import watchdog.observers -> ImportError
    watched = tmp_path / "output"
    watched.mkdir()
    with running(WatchOptions([watched], out_dir=tmp_path / "out", **FAST), identity, registry) as (w, events):
        assert w.backend == "poll"
        write_tool_png(watched / "x.png", "a1111")
        wait_for(lambda: stamped(events), what="the stamp")


def test_polling_fallback_when_inotify_is_unavailable(tmp_path, identity, registry, monkeypatch, caplog):
    """inotify failing to start (its watch limit reached: ENOSPC) falls back to polling, with a warning."""
    def no_watches(self):
        raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(WatchdogSource, "start", no_watches)
    watched = tmp_path / "output"
    watched.mkdir()
    with running(WatchOptions([watched], out_dir=tmp_path / "out", **FAST), identity, registry) as (w, events):
        assert w.backend == "poll"
        write_tool_png(watched / "x.png", "fooocus")
        wait_for(lambda: stamped(events), what="the stamp")
    assert "inotify is unavailable" in caplog.text


def test_a_file_that_fails_is_an_error_and_the_watch_goes_on(tmp_path, identity, registry):
    """A file that cannot be stamped (too small for the watermark), one that never becomes an image
    and one whose container is whole but whose pixels do not decode are error events; the good
    file beside them is stamped."""
    watched = tmp_path / "output"
    watched.mkdir()
    Image.fromarray(natural_image(64, 64)).save(watched / "tiny.png")
    (watched / "junk.png").write_bytes(b"not an image at all" * 10)
    whole = png_with_text({"parameters": TOOL_FILES["a1111"].text["parameters"]}, seed=3)
    (watched / "broken.png").write_bytes(whole[:2000] + whole[-3000:])  # ends with IEND, pixels cut out
    write_tool_png(watched / "good.png", "a1111")
    events: list = []
    watcher = Watcher(WatchOptions([watched], out_dir=tmp_path / "out", once=True, **FAST), identity=identity,
                      registry=registry, on_event=events.append)
    counts = watcher.run()
    watcher.close()
    assert counts == {"stamped": 1, "skipped": 0, "error": 3}
    errors = {Path(e.file).name: e.error for e in events if e.event == "error"}
    assert "at least 256x256" in errors["tiny.png"] and "not a recognised image" in errors["junk.png"]
    assert "not complete after" in errors["broken.png"] and "corrupt or truncated" in errors["broken.png"]


def test_a_file_with_its_own_content_credentials_is_left_alone(tmp_path, identity, registry):
    """A file that already carries a C2PA manifest (stamped elsewhere, not in this registry) is skipped."""
    watched = tmp_path / "output"
    watched.mkdir()
    src = tmp_path / "src.png"
    write_tool_png(src, "a1111")
    stamp_file(src, watched / "signed.png", identity=identity)  # no registry: this watcher cannot know it
    watcher = Watcher(WatchOptions([watched], out_dir=tmp_path / "out", once=True, **FAST), identity=identity,
                      registry=registry)
    assert watcher.run() == {"stamped": 0, "skipped": 1, "error": 0}
    watcher.close()


def test_container_complete():
    """Whole PNG/JPEG/WebP containers are told from cut ones."""
    import io

    buf = io.BytesIO()
    Image.fromarray(natural_image(64, 64)).save(buf, "PNG")
    png = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(natural_image(64, 64)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(natural_image(64, 64)).save(buf, "WEBP")
    webp = buf.getvalue()
    assert container_complete(png, "PNG") and not container_complete(png[:-5], "PNG")
    assert container_complete(jpeg, "JPEG") and container_complete(jpeg + b"\0\0", "JPEG")
    assert not container_complete(jpeg[:-2], "JPEG")
    assert container_complete(webp, "WEBP") and not container_complete(webp[:-10], "WEBP")


def test_output_folders_of_several_watched_folders(tmp_path):
    """One folder: its layout under OUT; several: each under its name, a repeated name numbered."""
    a, b, c = tmp_path / "x" / "output", tmp_path / "y" / "output", tmp_path / "outputs"
    assert _output_prefixes([a]) == [(a, Path())]
    assert dict(_output_prefixes([a, b, c])) == {a: Path("output"), b: Path("output-2"), c: Path("outputs")}


# --- the command --------------------------------------------------------------------------------


def test_cli_once_json(tmp_path, capsys, caplog, identity):
    """watch --once --json: one JSON line per file, exit 0; a failed file makes it exit 1 with an
    error line on stdout and an error logged (stderr: the CLI's log handler)."""
    watched = tmp_path / "output"
    watched.mkdir()
    write_tool_png(watched / "a.png", "comfyui-base-refiner")
    code, out, err = run_cli(capsys, "watch", str(watched), "--out-dir", str(tmp_path / "out"), "--once", "--json",
                             "--settle", "0.2")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["event"], line["generator"]) for line in lines] == [("stamped", "ComfyUI")]
    Image.fromarray(natural_image(64, 64)).save(watched / "tiny.png")
    code, out, err = run_cli(capsys, "watch", str(watched), "--out-dir", str(tmp_path / "out"), "--once", "--json",
                             "--settle", "0.2")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and sorted(line["event"] for line in lines) == ["error", "skipped"]
    assert "1 failed" in err
    assert [r.levelname for r in caplog.records if "tiny.png" in r.getMessage()][-1] == "ERROR"


@pytest.mark.parametrize("args,message", [
    pytest.param([], "one of --out-dir OUT and --in-place", id="neither"),
    pytest.param(["--out-dir", "o", "--backup"], "--backup goes with --in-place", id="backup-without-in-place"),
])
def test_cli_usage_errors(tmp_path, capsys, home, args, message):
    """Where to write is required, and --backup only makes sense in place (exit 2)."""
    code, _out, err = run_cli(capsys, "watch", str(tmp_path), *args)
    assert code == 2 and message in err


def test_cli_out_dir_and_in_place_exclude_each_other(tmp_path, capsys, home):
    """argparse refuses both at once (exit 2)."""
    code, _out, err = run_cli(capsys, "watch", str(tmp_path), "--out-dir", "o", "--in-place")
    assert code == 2 and "not allowed with" in err


@pytest.mark.slow
def test_ctrl_c_exits_130_cleanly(tmp_path, identity):
    """SIGINT while watching: exit 130, 'interrupted', no traceback; what was stamped stays."""
    watched = tmp_path / "output"
    watched.mkdir()
    write_tool_png(watched / "a.png", "a1111")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "watch", str(watched), "--out-dir",
                             str(tmp_path / "out"), "--settle", "0.2"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (tmp_path / "out" / "a.png").exists(), timeout=60, what="the first stamp")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "stamped from" in out


def test_in_place_leaves_a_file_that_changed_meanwhile(tmp_path, identity, registry, monkeypatch):
    """A source rewritten while it is being stamped is not replaced: an error, the new content
    kept, no temporary file left, no registry row."""
    import provenance._stamp as stamp_module
    from provenance import OutputError

    target = tmp_path / "output" / "x.png"
    target.parent.mkdir()
    write_tool_png(target, "a1111")
    real = stamp_module.stamp_image

    def rewritten_meanwhile(*args, **kwargs):
        out = real(*args, **kwargs)
        write_tool_png(target, "fooocus", seed=9)  # the tool saves again under the same name
        return out

    monkeypatch.setattr(stamp_module, "stamp_image", rewritten_meanwhile)
    with pytest.raises(OutputError, match="changed while it was being stamped"):
        stamp_file(target, identity=identity, registry=registry, from_metadata=True, in_place=True)
    assert target.read_bytes() == png_with_text(TOOL_FILES["fooocus"].text, seed=9)
    assert [p.name for p in target.parent.iterdir()] == ["x.png"] and registry.count() == 0


def test_excluded_folders_are_left_alone(tmp_path, identity, registry):
    """--exclude thumbnails: InvokeAI's gallery thumbnails (outputs/images/thumbnails/*.webp) are not stamped."""
    watched = tmp_path / "images"
    (watched / "thumbnails").mkdir(parents=True)
    write_tool_png(watched / "a.png", "invokeai-3")
    Image.fromarray(natural_image(256, 256)).save(watched / "thumbnails" / "a.webp")
    events: list = []
    watcher = Watcher(WatchOptions([watched], out_dir=tmp_path / "out", once=True, exclude=("thumbnails",), **FAST),
                      identity=identity, registry=registry, on_event=events.append)
    assert watcher.run() == {"stamped": 1, "skipped": 0, "error": 0}
    watcher.close()
    assert [Path(e.file).name for e in events] == ["a.png"]


def test_watch_publishes_each_stamp_to_a_resolution_service(tmp_path, capsys, monkeypatch):
    """watch --publish: every stamp goes to a real service (uvicorn on loopback) as it is made, and a
    stripped copy recovers its credentials from that service with --resolver; a service that is down
    is an error on stderr and exit 1, the stamp standing."""
    pytest.importorskip("starlette")
    from provenance.serve import TokenStore, new_token

    from support.service import running_service

    tokens = tmp_path / "tokens.txt"
    token_file = tmp_path / "publish.token"
    token_file.write_text(new_token(tokens))
    token_file.chmod(0o600)
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    watched = tmp_path / "output"
    watched.mkdir()
    write_tool_png(watched / "a.png", "a1111", size=512)
    assert run_cli(capsys, "keys", "init", "--org", "Watch Studio")[0] == 0
    with running_service(tmp_path / "service.sqlite", tokens=TokenStore.load(tokens)) as url:
        code, out, err = run_cli(capsys, "watch", str(watched), "--out-dir", str(tmp_path / "out"), "--once",
                                 "--json", "--settle", "0.2", "--publish", url, "--publish-token-file", str(token_file))
        assert code == 0, err
        [line] = [json.loads(x) for x in out.splitlines()]
        assert line["event"] == "stamped" and line["published"][0]["endpoint"] == url + "/v1"
        stamped = Path(line["output"])
        copy = tmp_path / "copy.png"
        Image.open(stamped).convert("RGB").save(copy)  # pixels only: no manifest, no metadata
        from provenance import load_identity

        anchors = tmp_path / "anchors.pem"
        anchors.write_bytes(load_identity().anchors_pem)
        monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home-fresh"))
        code, out, err = run_cli(capsys, "verify", str(copy), "--resolver", url, "--trust", str(anchors), "--json",
                                 "--no-forensics")
        report = json.loads(out)[0]
        assert report["registry"]["match"] == "resolver", report["registry"]
        assert report["registry"]["manifest_id"] == line["published"][0]["manifest_id"]
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    write_tool_png(watched / "b.png", "a1111", size=512, seed=5)
    code, out, err = run_cli(capsys, "watch", str(watched), "--out-dir", str(tmp_path / "out"), "--once", "--json",
                             "--settle", "0.2", "--publish", url, "--publish-token-file", str(token_file))
    lines = [json.loads(x) for x in out.splitlines()]
    b = next(x for x in lines if x["file"].endswith("b.png"))
    assert code == 1 and b["event"] == "stamped" and "error" in b["published"][0]
    assert "not published" in err and Path(b["output"]).exists()
