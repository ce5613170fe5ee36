"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on a unix socket.

One server per test session (``postgres_server``); each test that asks for ``postgres_url`` gets a
fresh database on it, dropped afterwards. The server listens on no TCP port (a socket in its own
folder: nothing else on the machine can collide with it). initdb refuses to run as root, so as
root (CI) the server runs as the ``postgres`` user that Debian's package creates, in a folder
handed to it. Tests skip only when the binaries are absent (.ci/run installs Debian's
``postgresql``).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

PORT = 5432  # only names the socket file: the folder is private to this server


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian's layout), or PROVENANCE_PG_BIN."""
    if os.environ.get("PROVENANCE_PG_BIN"):
        return Path(os.environ["PROVENANCE_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


class PostgresServer:
    """A throw-away PostgreSQL cluster; :meth:`url` names a database on it."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="provenance-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # Debian's package makes this user
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *cmd: str) -> None:
        out = subprocess.run([*self._as, *cmd], capture_output=True, text=True, timeout=120)
        if out.returncode:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr}{out.stdout}\n{log}")

    def start(self, *, settings: dict[str, str] | None = None) -> PostgresServer:
        """initdb and start; ``settings``: server parameters over the tests' (no fsync: a throw-away cluster)."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-sync", "--no-instructions")
        params = {"listen_addresses": "''", "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                  "max_connections": "60", "shared_buffers": "64MB", **(settings or {})}
        options = f"-k {self.root} -p {PORT} " + " ".join(f"-c {k}={v}" for k, v in params.items())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.root}&port={PORT}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session (skipped only where no PostgreSQL binaries are installed)."""
    bin_dir = postgres_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed; .ci/run installs Debian's postgresql")
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a fresh, empty database on the session's server, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
