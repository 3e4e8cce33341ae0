"""A private PostgreSQL server for the tests that run on PostgreSQL.

`PostgresServer` runs Debian's `initdb` in a fresh temp dir and starts the
cluster with `pg_ctl start -w` on a free loopback port, with its Unix socket
in that same dir: no system service, no `/etc/postgresql`. initdb refuses to
run as root, so as root the cluster belongs to the `postgres` OS user (or
`nobody` when the package did not create one) and every server command runs
through `runuser`; as an ordinary user everything runs as that user.

The cluster is for throwaway data only: fsync and synchronous commit are off,
which makes CREATE DATABASE and every commit far cheaper. Starting a cluster
takes a couple of seconds, so one server is shared per test session and the
`postgres_database` fixture gives each test a database of its own (CREATE
DATABASE from template0, dropped WITH (FORCE) afterwards, so a connection a
test forgot to close cannot block the drop).

When PostgreSQL is missing the test is skipped locally and FAILS under
`CI=true` (see `require_program`).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.servers import free_port, require_program

SUPERUSER = "mailbot"  # the database role the tests connect as (trust auth on loopback)


def _server_user() -> str | None:
    """The OS user the cluster runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and there is no 'postgres' or 'nobody' user for initdb")


class PostgresServer:
    """One private cluster: `start()`, `stop()`, databases created and dropped on the fly."""

    def __init__(self, initdb: str, root: Path | None = None) -> None:
        self.bindir = Path(initdb).parent
        self.root = root or Path(tempfile.mkdtemp(prefix="mailbot-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.os_user = _server_user()
        self._names = itertools.count(1)
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o755)

    def _run(self, *argv: str, timeout: float = 60.0) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.os_user is not None:
            command = ["runuser", "-u", self.os_user, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                f"\n{self.log_text()}"
            )

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._run(
                "initdb",
                "--pgdata",
                str(self.data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
            )
        options = " ".join(
            [
                f"-p {self.port}",
                f"-c listen_addresses={self.host}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- databases ------------------------------------------------------------

    def url(self, database: str) -> str:
        """The SQLAlchemy URL mailbot is configured with."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        """A new empty database (from template0: nothing another test left behind)."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with self._admin() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """The session's cluster, started on first use and removed when the process exits."""
    global _shared
    if _shared is None:
        server = PostgresServer(require_program("initdb", "postgresql"))
        atexit.register(server.cleanup)
        server.start()
        _shared = server
    return _shared


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = shared_server()
    yield server


@pytest.fixture
def postgres_database(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database that is dropped after the test."""
    name = postgres.create_database()
    try:
        yield postgres.url(name)
    finally:
        postgres.drop_database(name)
