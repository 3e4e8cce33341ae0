"""A private Dovecot IMAP server for the tests and the benchmarks.

`DovecotServer` writes its own config into a fresh temp dir and runs
`dovecot -F -c <conf>` on a free loopback port: no system service, no
`/etc/dovecot`. Mail lives in a Maildir per user inside the temp dir, so a
test can also look at the files. Mail processes never run as uid 0 (Dovecot
refuses that): as root they run as `nobody`; as an ordinary user everything
runs as that user.

Stopping Dovecot takes about a second, so the tests share one server per
process and the `dovecot` fixture gives each test a fresh account on it (an
`Account`: settings for `ImapMailbox`, an outside view through a plain
imaplib client, and `stop()`/`restart()` of the server). The benchmarks use
`start_dovecot()` for a server of their own. When Dovecot is missing the test
is skipped locally and FAILS under `CI=true` (see `require_program`).
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import imaplib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imap_tools.imap_utf7 import utf7_encode
from pydantic import SecretStr

from mailbot.mail.imap import ImapSettings
from tests.servers import free_port, require_program

USER = "leveranciers@gemeente.example"
PASSWORD = "geheim-wachtwoord"  # a test account on a private server
TOKEN = "ya29.test-oauth2-token"  # accepted through XOAUTH2 as the user's password


def _mail_owner() -> tuple[int, int, str, str]:
    """uid, gid and names mail processes run as: never root."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid, "nobody", _group_name(entry.pw_gid)
    entry = pwd.getpwuid(os.geteuid())
    return entry.pw_uid, entry.pw_gid, entry.pw_name, _group_name(entry.pw_gid)


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name


class DovecotServer:
    """One private Dovecot: `start()`, `stop()`, `restart()`, users added on the fly."""

    def __init__(self, program: str, *, tls: bool = False, root: Path | None = None) -> None:
        self.program = program
        self.root = root or Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
        self.root.chmod(0o755)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port: int | None = free_port() if tls else None
        self.uid, self.gid, self.user_name, self.group_name = _mail_owner()
        self.conf = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.cert: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        for sub in ("run", "state", "home"):
            (self.root / sub).mkdir(exist_ok=True)
        if tls:
            self._make_certificate()
        self.add_user(USER, PASSWORD)
        self._write_config()

    # -- configuration ----------------------------------------------------

    def _make_certificate(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("openssl is needed for the TLS listener (Debian package: openssl)")
        key, cert = self.root / "key.pem", self.root / "cert.pem"
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )
        key.chmod(0o600)
        self.cert = cert

    def add_user(self, user: str, password: str) -> Path:
        """Add (or reset) a user on the running server; no restart needed."""
        home = self.home(user)
        (home / "Maildir").mkdir(parents=True, exist_ok=True)
        for path in (home.parent, home, home / "Maildir"):
            os.chown(path, self.uid, self.gid)
        # One passwd-file per user: Dovecot rereads a changed file at most once a
        # second, but reads a file it has not seen yet at once.
        folder = self.root / "users" / user
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "passwd").write_text(
            f"{user}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}::\n"
        )
        (folder / "token").write_text(f"{user}:{{PLAIN}}{TOKEN}\n")  # what XOAUTH2 accepts
        return home

    def home(self, user: str = USER) -> Path:
        return self.root / "home" / user

    def maildir(self, user: str = USER) -> Path:
        return self.home(user) / "Maildir"

    def _write_config(self) -> None:
        root = self.root
        internal = (
            ""
            if os.geteuid() == 0
            else f"default_internal_user = {self.user_name}\n"
            f"default_internal_group = {self.group_name}\n"
            f"default_login_user = {self.user_name}\n"
        )
        if self.cert is not None:
            ssl_lines = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{root / 'key.pem'}\n"
            imaps = (
                "  inet_listener imaps {\n"
                f"    address = {self.host}\n    port = {self.tls_port}\n  }}\n"
            )
        else:
            ssl_lines = "ssl = no\n"
            imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
        self.conf.write_text(
            f"""# written by tests/servers/dovecot.py; a private test server
base_dir = {root / "run"}
state_dir = {root / "state"}
log_path = {self.log}
instance_name = mailbot-test-{self.port}
protocols = imap
listen = {self.host}
{internal}{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
first_valid_uid = {min(self.uid, 500)}
first_valid_gid = {min(self.gid, 1)}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 50
imap_idle_notify_interval = 2 mins
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
{imaps}  chroot =
}}
service anvil {{
  chroot =
  # no growing delays after a failed login (the auth-failure tests)
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u/passwd
}}
passdb {{
  driver = passwd-file
  mechanisms = xoauth2
  args = scheme=PLAIN username_format=%u {root}/users/%u/token
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u/passwd
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
}}
"""
        )

    # -- life cycle -------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._process = subprocess.Popen(
            [self.program, "-F", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a process group of its own, see stop()
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"dovecot exited at start: {stderr}{self.log_text()}")
            if self._greets():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self.log_text()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, *, graceful: bool = True) -> None:
        """Stop every Dovecot process; open connections are cut.

        Graceful is what an administrator's restart does (clients get
        `* BYE`, about a second); otherwise everything is killed at once, as
        in a crash. Either way no process outlives the server: Dovecot's
        master leaves its mail processes running when it stops in the
        foreground, so the whole process group is signalled.
        """
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.stderr is not None:
            process.stderr.close()
        # wait until the port is really free for a restart
        deadline = time.monotonic() + 5
        while self._greets() and time.monotonic() < deadline:
            time.sleep(0.02)

    def kill(self) -> None:
        self.stop(graceful=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot(*, tls: bool = False) -> DovecotServer:
    """A started server of its own (benchmarks, restart tests); `cleanup()` when done."""
    program = shutil.which("dovecot") or "/usr/sbin/dovecot"
    server = DovecotServer(program, tls=tls)
    server.start()
    return server


# -- one server per test process, a fresh account per test ---------------------------

_shared: DovecotServer | None = None
_accounts = itertools.count(1)


def shared_server() -> DovecotServer:
    """The process-wide server (Dovecot needs ~1 s to stop, so tests share one).

    Skips the calling test when Dovecot is missing, or fails it under CI=true.
    """
    global _shared
    program = require_program("dovecot", "dovecot-imapd")
    if _shared is None:
        _shared = DovecotServer(program)
        _shared.start()
        atexit.register(_shared.cleanup)
    elif not _shared.running:
        _shared.start()
    return _shared


@dataclass
class Account:
    """A fresh user on a running Dovecot, and an outside view of its mailbox."""

    server: DovecotServer
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def maildir(self) -> Path:
        return self.server.maildir(self.user)

    def settings(self, **override: Any) -> ImapSettings:
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "username": self.user,
            "password": SecretStr(self.password),
            "timeout": 10.0,
        }
        values.update(override)
        return ImapSettings(**values)

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        self.server.kill()

    def start(self) -> None:
        self.server.start()

    def restart(self) -> None:
        self.server.restart()

    # -- the outside view: a plain imaplib client, never the code under test ----

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, folder: str, raw: bytes, flags: str | None = None) -> None:
        """Deliver a message as if it arrived (`folder` is the server's name)."""
        with self.client() as client:
            typ, data = client.append(mailbox_arg(folder), flags, None, raw)
            assert typ == "OK", data

    def append_many(self, folder: str, messages: Iterable[bytes]) -> None:
        with self.client() as client:
            for raw in messages:
                typ, data = client.append(mailbox_arg(folder), None, None, raw)
                assert typ == "OK", data

    def fetch_all(self, folder: str, item: str = "BODY.PEEK[]") -> list[tuple[bytes, bytes]]:
        """(FETCH line, data) per message in `folder`, in UID order; read-only."""
        with self.client() as client:
            typ, selected = client.select(mailbox_arg(folder), readonly=True)
            assert typ == "OK", selected
            if selected[0] in (b"0", None):
                return []
            typ, data = client.fetch("1:*", f"(UID FLAGS {item})")
            assert typ == "OK", data
            return [item for item in data if isinstance(item, tuple)]

    def messages(self, folder: str) -> list[bytes]:
        return [body for _, body in self.fetch_all(folder)]

    def flags(self, folder: str) -> list[str]:
        return [head.decode() for head, _ in self.fetch_all(folder, "BODY.PEEK[HEADER]")]

    def folders(self) -> list[str]:
        with self.client() as client:
            typ, data = client.list('""', '"*"')
            assert typ == "OK", data
            return [d.decode() for d in data if isinstance(d, bytes)]

    def delete_folder(self, folder: str) -> None:
        with self.client() as client:
            typ, data = client.delete(mailbox_arg(folder))
            assert typ == "OK", data

    def create_folder(self, folder: str) -> None:
        with self.client() as client:
            typ, data = client.create(mailbox_arg(folder))
            assert typ == "OK", data


def mailbox_arg(name: str) -> str:
    return '"' + utf7_encode(name).decode("ascii").replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_account(server: DovecotServer | None = None) -> Account:
    server = server or shared_server()
    user = f"user{next(_accounts)}-{os.getpid()}@gemeente.example"
    password = f"pw-{next(_accounts)}"
    server.add_user(user, password)
    return Account(server, user, password)


def dovecot_account() -> Iterator[Account]:
    """Fixture body: a fresh account; the shared server runs again afterwards."""
    account = new_account()
    try:
        yield account
    finally:
        if not account.server.running:
            account.server.start()


@pytest.fixture
def dovecot() -> Iterator[Account]:
    yield from dovecot_account()


def tls_account() -> Iterator[Account]:
    """Fixture body: an account on a server of its own with TLS (imaps) and STARTTLS."""
    program = require_program("dovecot", "dovecot-imapd")
    require_program("openssl", "openssl")
    server = DovecotServer(program, tls=True)
    try:
        server.start()
        yield new_account(server)
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()


@pytest.fixture
def dovecot_tls() -> Iterator[Account]:
    yield from tls_account()
