"""``provenance serve`` as a user runs it: a subprocess on an ephemeral loopback port, and
``--new-token``."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from support import REPO, run_cli

pytestmark = pytest.mark.slow


def test_serve_listens_and_answers(tmp_path):
    """``serve --port 0`` says where it listens on stderr and answers the status route there."""
    env = dict(os.environ, PROVENANCE_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-m", "provenance", "serve", "--port", "0", "--registry",
                             str(tmp_path / "r.sqlite")], stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        line = ""
        while "serving" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "serve exited"
        url = line.split(" on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        r = httpx.get(url + "/v1/services/status", timeout=30)
        assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stderr.close()


def test_new_token_prints_it_once_and_keeps_its_hash(tmp_path, capsys):
    """``--new-token`` prints the token on stdout, appends only its hash; a bad scope is a usage error."""
    f = tmp_path / "tokens.txt"
    code, out, err = run_cli(capsys, "serve", "--new-token", "--token-file", str(f))
    assert code == 0 and out.strip() and out.strip() not in f.read_text()
    assert run_cli(capsys, "serve", "--new-token", "--token-file", str(f), "--scopes", "root")[0] == 2
    assert run_cli(capsys, "serve", "--new-token")[0] == 2
