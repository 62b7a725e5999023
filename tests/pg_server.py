"""A PostgreSQL server for the test session, and a fresh database for each test.

`PAYCLI_TEST_PG_URL` names a running server (a URL whose user may CREATE DATABASE). Without
it, if PostgreSQL's server binaries are on this machine (`initdb`, `pg_ctl`: on PATH, or
under /usr/lib/postgresql/*/bin), a throwaway cluster is started for the session: `initdb`
in a temporary folder, listening only on a Unix socket in that folder (no TCP), on a free
port number, run as the `postgres` system user when the tests run as root (`initdb`
refuses root), and stopped at the end of the session. Durability is off in that cluster
(`fsync=off`): the tests kill paycli's processes, never the server.

Without either, the PostgreSQL cases are skipped with one line saying why; under
`CI=true` a missing PostgreSQL is a failure instead.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from paycli.store import Store

URL_VARIABLE = "PAYCLI_TEST_PG_URL"
SKIP_REASON = ("PostgreSQL cases skipped: no PostgreSQL server binaries (initdb, pg_ctl) "
               f"found and {URL_VARIABLE} not set")


def server_binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`, newest version first, if any."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def free_port() -> int:
    """A TCP port number nobody listens on (it only names the Unix socket here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary folder, reached by Unix socket."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="paycli-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
            shutil.chown(self.folder, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True,
                              timeout=120, cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> str:
        """Create and start the cluster; returns the URL of its `postgres` database."""
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-k {self.folder} -p {self.port} -c listen_addresses='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start")
        return (f"postgresql://postgres@/postgres?host={quote(str(self.folder))}"
                f"&port={self.port}")

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        subprocess.run([*self.as_user, str(self.binaries / "pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60,
                       cwd=self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)


class Server:
    """A PostgreSQL server the tests may create databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._names = itertools.count(1)
        self._template: str | None = None
        self.made: list[str] = []

    def url(self, database: str) -> str:
        """The URL of one database of this server."""
        base, _, query = self.admin_url.partition("?")
        root = base.rsplit("/", 1)[0]
        return f"{root}/{database}" + (f"?{query}" if query else "")

    def create(self, template: str = "template0") -> str:
        """A new empty database (or a copy of `template`); returns its URL."""
        name = f"paycli_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" '
                          "STRATEGY FILE_COPY".encode())
        self.made.append(name)
        return self.url(name)

    def create_ledger(self) -> str:
        """A new database holding an empty paycli ledger (schema made, nothing written):
        a file copy of one migrated once per session, several times faster than
        migrating each (a SQLite ledger file is created as fast as it is opened)."""
        if self._template is None:
            url = self.create()
            Store(url).close()
            self._template = url.split("?")[0].rsplit("/", 1)[1]
        return self.create(self._template)

    def drop_all(self) -> None:
        """Drop every database this session made (on a server the session did not start)."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            for name in self.made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    def drop(self, url: str) -> None:
        """Drop a database made by `create` (its connections are ended first)."""
        name = url.split("?")[0].rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def start_server() -> Iterator[Server | None]:
    """The session's server (None when there is none and that is allowed)."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        server = Server(given)
        try:
            yield server
        finally:
            server.drop_all()
        return
    binaries = server_binaries()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {SKIP_REASON.split(': ', 1)[1]}", pytrace=False)
        yield None
        return
    cluster = Cluster(binaries)
    try:
        yield Server(cluster.start())
    finally:
        cluster.stop()
