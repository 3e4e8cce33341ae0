"""The IMAP backend: any IMAP4rev1 server for reading, SMTP submission for sending.

**Keys** are the path part of an RFC 5092 IMAP URL with the folder's logical
name left readable: `INBOX;UIDVALIDITY=1718000000/;UID=42`. A UID means
something only together with its folder's UIDVALIDITY, and UIDs repeat across
folders, so the key carries all three. A UID changes when a message moves:
`move()` returns the key in the new folder, read from COPYUID (UIDPLUS).

**Listing is incremental by UID**: the checkpoint is the folder's UIDVALIDITY
and the highest UID listed, and `scan()` asks only for higher UIDs. When a
server changes a folder's UIDVALIDITY (mailbox recreated, restored from a
backup) the whole folder is listed again and every message in it has a new
key; old keys count as gone (`fetch()` fails permanently, `move()` does
nothing). The listing says so (`Listing.renamed`): the core then records the
folder again as at a first start instead of answering old mail as new.

**Nothing is flagged or moved before the core has stored a message**:
`scan()` is `UID SEARCH`, `fetch()` reads `BODY.PEEK[]` (never sets \\Seen)
and `move()` uses MOVE (RFC 6851), or COPY + \\Deleted + `UID EXPUNGE` of
that one UID where MOVE is missing. Capabilities are read again after login:
servers (Dovecot) announce MOVE only then, while imap-tools keeps the
pre-login list and silently falls back to COPY + EXPUNGE.

**Waiting**: one extra connection per watched folder sits in IDLE (RFC 2177;
mailbot watches two folders), re-issued every 25 minutes because servers may
end an IDLE after 30. One `select()` in the daemon's watcher thread looks at
all of them, so there is no thread per folder. Only new mail (EXISTS/RECENT)
wakes a pass: EXPUNGE is mostly mailbot's own moves. Without IDLE (or with
`idle = false`) the watcher polls STATUS UIDNEXT of the watched folders. A
watcher that (re)connects compares UIDNEXT with the last value a pass saw, so
mail that arrived while it was away still wakes a pass.

**Connections die**: every call that meets a dead connection reconnects once
and retries, then raises `MailboxError` (never an imaplib or socket error).
Sockets have a timeout and TCP keepalive, so nothing hangs; further attempts
are paced by the daemon's back-off (and the watcher's own).

**Sending** goes through `SmtpRelay`, then the message is appended to the
folder the server marks \\Sent (RFC 6154), else to "Sent". Submission is the
part that cannot be undone: when only the copy fails, it is kept in memory and
appended at the next chance, and `send()` does not fail, because a failure
would make the outbox send the mail a second time.
"""

from __future__ import annotations

import imaplib
import io
import logging
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from functools import partial
from typing import Any, TypeVar, cast

from imap_tools import (
    BaseMailBox,
    MailBox,
    MailBoxStartTls,
    MailBoxUnencrypted,
    UnexpectedCommandStatusError,
)
from imap_tools.imap_utf7 import utf7_decode, utf7_encode
from pydantic import SecretStr

from mailbot.config import Config, ConfigError
from mailbot.mail.parse import message_ids
from mailbot.mail.port import INBOX, Envelope, Listing, MailboxError, SentCopy
from mailbot.mail.smtp import SmtpRelay

log = logging.getLogger(__name__)

T = TypeVar("T")

IDLE_RENEW = 25 * 60.0
COMMAND_TIMEOUT = 60.0
DEFAULT_POLL = 30.0
MAX_KEY_LENGTH = 512
PAGE = 500  # keys per listing page: the core commits a checkpoint after each
_TICK = 1.0  # how soon a waiting watcher notices close()
_FETCH_CHUNK = 100
_WATCH_BACKOFF_MAX = 60.0
_SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Verzonden items")
_DRAFT_NAMES = ("Drafts", "Concepten")
# Login refusals that a retry can cure (RFC 5530); any other refusal is permanent.
_TEMPORARY_LOGIN_CODES = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]", "[SERVERBUG]")

_KEY_RE = re.compile(r"^(?P<folder>.+);UIDVALIDITY=(?P<validity>\d+)/;UID=(?P<uid>\d+)$", re.S)
_CODE_RE = re.compile(r"^\[([A-Z-]+)")
_LIST_RE = re.compile(
    rb'^\((?P<flags>[^)]*)\) (?P<delim>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$', re.S
)
_NAMESPACE_RE = re.compile(
    rb'^\(\("(?P<prefix>(?:[^"\\]|\\.)*)" (?:"(?P<delim>(?:[^"\\]|\\.)*)"|NIL)'
)
_UID_RE = re.compile(rb"\bUID (\d+)")
_EVENT_RE = re.compile(rb"^\* (\d+) (EXISTS|RECENT)\b", re.I)
_LITERAL_RE = re.compile(rb"\{(\d+)\+?\}\r\n$")
_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.I)
_COPYUID_RE = re.compile(rb"^(?:\[COPYUID )?(\d+) [\d:,]+ (\d+)\b", re.I)
_STATUS_RE = re.compile(rb"(UIDNEXT|UIDVALIDITY) (\d+)", re.I)


# -- keys -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImapKey:
    """A message's place: folder (logical name), UIDVALIDITY and UID."""

    folder: str
    validity: int
    uid: int

    def __str__(self) -> str:
        return f"{self.folder};UIDVALIDITY={self.validity}/;UID={self.uid}"

    @classmethod
    def parse(cls, key: str | None) -> ImapKey | None:
        match = _KEY_RE.match(key or "")
        if match is None:
            return None
        return cls(match["folder"], int(match["validity"]), int(match["uid"]))


def _same_folder(a: str, b: str) -> bool:
    return a == b or (a.upper() == INBOX and b.upper() == INBOX)


# -- small protocol helpers -----------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: bytes) -> bytes:
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        return re.sub(rb"\\(.)", rb"\1", raw[1:-1])
    return raw


def _mailbox_arg(server_name: str) -> str:
    """A folder name as a command argument: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    return _quote(utf7_encode(server_name).decode("ascii"))


def _uid_set(uids: Iterable[int]) -> str:
    return ",".join(str(uid) for uid in uids)


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _text(data: Sequence[Any]) -> str:
    parts: list[str] = []
    for item in data:
        if isinstance(item, bytes):
            parts.append(item.decode("utf-8", "replace"))
        elif isinstance(item, str):
            parts.append(item)
    return " ".join(parts).strip()


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _header(raw: bytes, name: str) -> str | None:
    value = BytesHeaderParser().parsebytes(raw).get(name)
    if value is None:
        return None
    return re.sub(r"\r?\n[ \t]+", " ", str(value)).strip()


def _keepalive(sock: socket.socket) -> None:
    """Notice a server that vanished without closing the connection (idle IDLE sockets)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
    except OSError:
        pass


class _Lost(Exception):
    """The connection is gone (socket error, timeout, BYE): reconnect and retry."""


class _Refused(MailboxError):
    """The server answered NO (or BAD); `code` is the response code, e.g. TRYCREATE."""

    def __init__(self, what: str, typ: str, data: Sequence[Any]) -> None:
        self.text = _text(data)
        match = _CODE_RE.match(self.text)
        self.code = match.group(1) if match else ""
        super().__init__(f"IMAP server refused {what}: {typ} {self.text}")


# -- settings and connections ----------------------------------------------------------


@dataclass(frozen=True)
class ImapSettings:
    """Where and how to log in. Give `password` or `oauth2_token` (XOAUTH2)."""

    host: str
    port: int = 993
    security: str = "tls"  # tls | starttls | none
    username: str = ""
    password: SecretStr | None = None
    oauth2_token: SecretStr | None = None
    timeout: float = COMMAND_TIMEOUT
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _open_box(settings: ImapSettings) -> BaseMailBox:
    context = settings.ssl_context or ssl.create_default_context()
    where = settings.where
    try:
        if settings.security == "tls":
            return MailBox(
                settings.host, settings.port, timeout=settings.timeout, ssl_context=context
            )
        if settings.security == "starttls":
            return MailBoxStartTls(
                settings.host, settings.port, timeout=settings.timeout, ssl_context=context
            )
        return MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"IMAP server {where}: certificate not trusted ({exc.verify_message})", permanent=True
        ) from exc
    except UnexpectedCommandStatusError as exc:
        raise MailboxError(f"IMAP server {where} refused STARTTLS: {exc}", permanent=True) from exc
    except ValueError as exc:  # imap-tools: STARTTLS on port 993
        raise MailboxError(f"IMAP server {where}: {exc}", permanent=True) from exc
    except imaplib.IMAP4.abort as exc:
        raise MailboxError(f"cannot reach IMAP server {where}: {exc}") from exc
    except imaplib.IMAP4.error as exc:  # e.g. STARTTLS not offered
        raise MailboxError(f"IMAP server {where}: {exc}", permanent=True) from exc
    except OSError as exc:
        raise MailboxError(f"cannot reach IMAP server {where}: {exc}") from exc


class _Connection:
    """One logged-in connection, what it has selected, and its real capabilities."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.box = _open_box(settings)
        self.client: imaplib.IMAP4 = self.box.client
        self.selected: str | None = None
        self.validity = 0
        self.uidnext = 0
        try:
            _keepalive(self.client.sock)
            self._login()
            self.capabilities = self._refresh_capabilities()
        except BaseException:
            self.drop()
            raise

    def _login(self) -> None:
        settings = self.settings
        refusal: str | None = None
        try:
            if settings.oauth2_token is not None:
                token = settings.oauth2_token.get_secret_value()
                initial = f"user={settings.username}\x01auth=Bearer {token}\x01\x01".encode()
                answered: list[bool] = []

                def answer(_challenge: bytes) -> bytes:
                    # After a refusal the server sends an error challenge; an empty
                    # answer makes it finish with NO instead of waiting for us.
                    if answered:
                        return b""
                    answered.append(True)
                    return initial

                self.client.authenticate("XOAUTH2", answer)
            else:
                password = settings.password.get_secret_value() if settings.password else ""
                self.box.login(settings.username, password, initial_folder=None)
        except UnexpectedCommandStatusError as exc:
            refusal = _text(exc.command_result[1]) if exc.command_result else str(exc)
        except imaplib.IMAP4.abort as exc:
            raise MailboxError(f"IMAP server {settings.where} dropped the login: {exc}") from exc
        except imaplib.IMAP4.error as exc:
            refusal = str(exc)
        except OSError as exc:
            raise MailboxError(f"IMAP server {settings.where} dropped the login: {exc}") from exc
        if refusal is not None:
            method = "XOAUTH2" if settings.oauth2_token is not None else "password"
            permanent = not any(code in refusal for code in _TEMPORARY_LOGIN_CODES)
            raise MailboxError(
                f"IMAP login as {settings.username!r} at {settings.where} ({method}) "
                f"was refused: {refusal}",
                permanent=permanent,
            )

    def _refresh_capabilities(self) -> frozenset[str]:
        """Ask again after login: the pre-login list lacks MOVE, UIDPLUS, SPECIAL-USE."""
        data = self.command("CAPABILITY", self.client.capability)
        words = tuple(_text(data[-1:]).upper().split())
        self.client.capabilities = words  # imap-tools' own move() reads this list
        return frozenset(words)

    # -- commands ----------------------------------------------------------------

    def command(self, what: str, call: Callable[[], tuple[str, Sequence[Any]]]) -> list[Any]:
        """Run one imaplib call: `_Lost` when the connection broke, `_Refused` on NO."""
        try:
            typ, data = call()
        except imaplib.IMAP4.readonly as exc:
            raise MailboxError(
                f"IMAP {what}: folder is read-only for this user", permanent=True
            ) from exc
        except imaplib.IMAP4.abort as exc:
            raise _Lost(f"{what}: {exc}") from exc
        except imaplib.IMAP4.error as exc:
            raise _Refused(what, "BAD", [str(exc)]) from exc
        except (OSError, EOFError) as exc:
            raise _Lost(f"{what}: {exc!r}") from exc
        if typ != "OK":
            raise _Refused(what, typ, data)
        return list(data)

    def select(self, name: str, *, readonly: bool = False, force: bool = False) -> None:
        if self.selected == name and not force:
            return
        self.selected = None
        self.command(f"SELECT {name!r}", lambda: self.client.select(_mailbox_arg(name), readonly))
        responses = self.client.untagged_responses
        self.validity = int(_text(responses.get("UIDVALIDITY", [b"0"])[-1:]) or 0)
        self.uidnext = int(_text(responses.get("UIDNEXT", [b"0"])[-1:]) or 0)
        self.selected = name

    def search(self, *criteria: str) -> list[int]:
        data = self.command("UID SEARCH", lambda: self.client.uid("SEARCH", *criteria))
        return sorted({int(word) for word in _text(data).split() if word.isdigit()})

    def fetch(self, uids: Sequence[int], parts: str) -> dict[int, bytes]:
        """`UID FETCH` of one literal per message, by UID (unsolicited FETCHes ignored)."""
        found: dict[int, bytes] = {}
        for chunk in _chunks(uids, _FETCH_CHUNK):
            fetch = partial(self.client.uid, "FETCH", _uid_set(chunk), parts)
            data = self.command("UID FETCH", fetch)
            for index, item in enumerate(data):
                if not isinstance(item, tuple):
                    continue
                head, body = item
                match = _UID_RE.search(head)
                if match is None and index + 1 < len(data) and isinstance(data[index + 1], bytes):
                    match = _UID_RE.search(data[index + 1])
                if match is not None and int(match.group(1)) in chunk:
                    found[int(match.group(1))] = bytes(body)
        return found

    def append(self, name: str, flags: str, raw: bytes) -> tuple[int, int] | None:
        """APPEND; (UIDVALIDITY, UID) of the new message when the server says (UIDPLUS)."""
        if self.selected == name:
            self.selected = None  # the selected state no longer matches; select again
        data = self.command(
            f"APPEND to {name!r}", lambda: self.client.append(_mailbox_arg(name), flags, None, raw)
        )
        match = _APPENDUID_RE.search(b" ".join(d for d in data if isinstance(d, bytes)))
        return (int(match.group(1)), int(match.group(2))) if match else None

    def copy(self, verb: str, uid: int, target: str) -> tuple[int, int] | None:
        """UID COPY or MOVE of one message; (UIDVALIDITY, UID) in `target` from COPYUID.

        imaplib's `uid()` drops the tagged response text, where COPY reports
        COPYUID; MOVE reports it untagged (RFC 6851), so both places are read.
        """
        responses = self.client.untagged_responses
        responses.pop("COPYUID", None)
        data = self.command(
            f"UID {verb} to {target!r}",
            lambda: self.client._simple_command("UID", verb, str(uid), _mailbox_arg(target)),
        )
        for text in (*responses.pop("COPYUID", []), *data):
            match = _COPYUID_RE.match(text) if isinstance(text, bytes) else None
            if match is not None:
                return int(match.group(1)), int(match.group(2))
        return None

    def status(self, name: str) -> tuple[int, int]:
        data = self.command(
            f"STATUS {name!r}",
            lambda: self.client.status(_mailbox_arg(name), "(UIDNEXT UIDVALIDITY)"),
        )
        flat = b" ".join(
            part
            for item in data
            for part in (item if isinstance(item, tuple) else (item,))
            if isinstance(part, bytes)
        )
        values = {k.upper(): int(v) for k, v in _STATUS_RE.findall(flat)}
        return values.get(b"UIDVALIDITY", 0), values.get(b"UIDNEXT", 0)

    def has_input(self) -> bool:
        """Whether a response waits, in imaplib's buffer or on the socket (no blocking)."""
        reader = cast(io.BufferedReader, self.client.file)
        sock = self.client.sock
        previous = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            return bool(reader.peek(1))
        except (BlockingIOError, ssl.SSLWantReadError, InterruptedError):
            return False
        except (OSError, ValueError) as exc:  # ValueError: the file was closed
            raise _Lost(f"reading: {exc!r}") from exc
        finally:
            sock.settimeout(previous)

    def read_line(self) -> bytes:
        """One response line, with any literals it announces."""
        try:
            line = self.client.readline()
            if not line:
                raise _Lost("server closed the connection")
            while (literal := _LITERAL_RE.search(line)) is not None:
                line += self.client.read(int(literal.group(1)))
                line += self.client.readline()
        except (OSError, EOFError) as exc:
            raise _Lost(f"reading: {exc!r}") from exc
        if line.upper().startswith(b"* BYE"):
            raise _Lost(f"server said {line.strip().decode('utf-8', 'replace')}")
        return line

    def send_line(self, line: bytes) -> None:
        try:
            self.client.send(line)
        except OSError as exc:
            raise _Lost(f"writing: {exc!r}") from exc

    # -- ending ------------------------------------------------------------------

    def logout(self) -> None:
        """Polite LOGOUT, but never waiting long for a server that is going away."""
        try:
            self.client.sock.settimeout(5.0)
            self.client.logout()
        except Exception as exc:  # the connection may already be dead; that is fine
            log.debug("IMAP logout: %r", exc)
        self.drop()

    def drop(self) -> None:
        try:
            self.client.shutdown()
        except Exception as exc:  # already closed
            log.debug("IMAP shutdown: %r", exc)


# -- folders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """How logical folder names map onto this server, and where Sent and Drafts are."""

    prefix: str
    delimiter: str | None
    sent: str
    drafts: str

    def server_name(self, folder: str) -> str:
        if folder.upper() == INBOX:
            return INBOX
        parts = [part for part in folder.split("/") if part]
        if not parts:
            raise MailboxError(f"folder name {folder!r} is empty", permanent=True)
        delimiter = self.delimiter or "/"
        if delimiter != "/" and any(delimiter in part for part in parts):
            raise MailboxError(
                f"folder name {folder!r} contains the server's hierarchy delimiter {delimiter!r}",
                permanent=True,
            )
        name = delimiter.join(parts)
        if self.prefix and not name.startswith(self.prefix):
            name = self.prefix + name
        return name


@dataclass(frozen=True)
class _ListEntry:
    name: str
    delimiter: str | None
    flags: frozenset[str]


def _parse_list(data: Sequence[Any]) -> list[_ListEntry]:
    entries: list[_ListEntry] = []
    for item in data:
        literal: bytes | None = None
        if isinstance(item, tuple):
            item, literal = item[0], item[1]
        if not isinstance(item, bytes):
            continue
        match = _LIST_RE.match(item)
        if match is None:
            continue
        raw_name = literal if literal is not None else _unquote(match["name"].strip())
        delim = None if match["delim"] == b"NIL" else _unquote(match["delim"]).decode()
        flags = frozenset(flag.lower() for flag in match["flags"].decode().split())
        entries.append(_ListEntry(utf7_decode(raw_name), delim, flags))
    return entries


# -- waiting ----------------------------------------------------------------------------


@dataclass
class _Idler:
    """A connection in IDLE on one folder."""

    folder: str
    conn: _Connection
    tag: bytes = b""
    since: float = 0.0
    counter: int = 0

    def start(self) -> bool:
        """Enter IDLE; True when new mail was reported on the way in."""
        self.counter += 1
        tag = f"idle{self.counter}".encode()
        self.conn.send_line(tag + b" IDLE\r\n")
        woke = False
        while True:
            line = self.conn.read_line()
            if line.startswith(b"+"):
                break
            if line.startswith(tag + b" "):
                raise _Refused("IDLE", "NO", [line[len(tag) + 1 :]])
            woke |= _is_new_mail(line)
        self.tag, self.since = tag, time.monotonic()
        return woke

    def finish(self) -> bool:
        """Leave IDLE (DONE); True when new mail was reported on the way out."""
        if not self.tag:
            return False
        tag, self.tag = self.tag, b""
        self.conn.send_line(b"DONE\r\n")
        woke = False
        while True:
            line = self.conn.read_line()
            if line.startswith(tag + b" "):
                return woke
            woke |= _is_new_mail(line)

    def renew(self) -> bool:
        return self.finish() | self.start()

    def read_events(self) -> bool:
        """Read what the server sent; True on new mail. Restarts an IDLE the server ended."""
        woke = False
        while True:
            line = self.conn.read_line()
            if self.tag and line.startswith(self.tag + b" "):
                self.tag = b""
                woke |= self.start()
            else:
                woke |= _is_new_mail(line)
            if not self.conn.has_input():
                return woke


def _is_new_mail(line: bytes) -> bool:
    match = _EVENT_RE.match(line)
    if match is None:
        return False
    return match.group(2).upper() == b"EXISTS" or int(match.group(1)) > 0


# -- the mailbox ----------------------------------------------------------------------------


class ImapMailbox:
    """See `mailbot.mail.port.Mailbox`; the module docstring says how IMAP is used."""

    def __init__(
        self,
        settings: ImapSettings,
        relay: SmtpRelay,
        *,
        idle: bool = True,
        poll_interval: float = DEFAULT_POLL,
    ) -> None:
        self.settings = settings
        self.relay = relay
        self.idle = idle
        self.poll_interval = poll_interval
        self._lock = threading.RLock()
        self._conn: _Connection | None = None
        self._layout: _Layout | None = None
        self._validity: dict[str, int] = {}
        self._pending_sent: list[tuple[str, bytes]] = []
        # waiting (the watcher thread)
        self._stop = threading.Event()
        self._wait_lock = threading.Lock()
        self._watched: list[str] = [INBOX]
        self._watch_changed = False
        self._idlers: dict[str, _Idler] = {}
        self._poller: _Connection | None = None
        self._next_poll = 0.0
        self._watch_failures = 0
        self._watch_retry_at = 0.0
        # (UIDVALIDITY, UIDNEXT) per folder as last seen by a pass or a watcher
        self._seen: dict[str, tuple[int, int]] = {}
        self._seen_lock = threading.Lock()

    # -- connection handling ------------------------------------------------------

    def _call(self, what: str, operation: Callable[[_Connection, bool], T]) -> T:
        """Run `operation` on the main connection; reconnect once if it broke."""
        with self._lock:
            retry = False
            while True:
                try:
                    if self._conn is None:
                        self._conn = _Connection(self.settings)
                    conn = self._conn
                    if self._layout is None:
                        self._layout = self._discover(conn)
                    return operation(conn, retry)
                except (_Lost, imaplib.IMAP4.abort, OSError, EOFError) as exc:
                    # (raw errors only where imaplib raised outside `command()`)
                    self._drop_main()
                    if retry:
                        raise MailboxError(
                            f"IMAP {what} failed: connection to {self.settings.where} lost ({exc})"
                        ) from exc
                    log.info("IMAP connection lost during %s (%s); reconnecting", what, exc)
                    retry = True
                except imaplib.IMAP4.error as exc:
                    raise MailboxError(f"IMAP {what} failed: {exc}", permanent=True) from exc

    def _drop_main(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.drop()

    @property
    def capabilities(self) -> frozenset[str]:
        """What the server offers after login (MOVE, UIDPLUS, IDLE, SPECIAL-USE, …)."""
        return self._call("CAPABILITY", lambda conn, _retry: conn.capabilities)

    def _discover(self, conn: _Connection) -> _Layout:
        """Personal namespace, hierarchy delimiter, Sent and Drafts (created if missing)."""
        prefix, delimiter = "", None
        if "NAMESPACE" in conn.capabilities:
            data = conn.command("NAMESPACE", conn.client.namespace)
            match = _NAMESPACE_RE.match(data[0] if data and isinstance(data[0], bytes) else b"")
            if match is not None:
                prefix = utf7_decode(_unquote(b'"' + match["prefix"] + b'"'))
                delimiter = match["delim"].decode() if match["delim"] is not None else None
        entries = self._list(conn)
        if delimiter is None:
            delimiter = next((e.delimiter for e in entries if e.delimiter), None)
        names = {entry.name for entry in entries}

        def special(use: str, candidates: tuple[str, ...]) -> str:
            for entry in entries:
                if use in entry.flags and "\\noselect" not in entry.flags:
                    return entry.name
            for candidate in candidates:
                for name in (prefix + candidate, candidate):
                    if name in names:
                        return name
            name = prefix + candidates[0]
            self._create(conn, name)
            return name

        sent = special("\\sent", _SENT_NAMES)
        layout = _Layout(prefix, delimiter, sent, special("\\drafts", _DRAFT_NAMES))
        log.debug("IMAP layout at %s: %s", self.settings.where, layout)
        return layout

    def _list(self, conn: _Connection) -> list[_ListEntry]:
        caps = conn.capabilities
        if "SPECIAL-USE" in caps and "LIST-EXTENDED" in caps:
            # imaplib has no RETURN argument; it passes the pattern through as written
            data = conn.command("LIST", lambda: conn.client.list('""', '"*" RETURN (SPECIAL-USE)'))
        else:
            data = conn.command("LIST", lambda: conn.client.list('""', '"*"'))
        return _parse_list(data)

    def _create(self, conn: _Connection, name: str) -> None:
        try:
            conn.command(f"CREATE {name!r}", lambda: conn.client.create(_mailbox_arg(name)))
        except _Refused as exc:
            if exc.code != "ALREADYEXISTS":
                raise
        else:
            log.info("created IMAP folder %r", name)
        try:  # so that people see the folder in their mail client
            conn.command(f"SUBSCRIBE {name!r}", lambda: conn.client.subscribe(_mailbox_arg(name)))
        except _Refused as exc:
            log.debug("could not subscribe to %r: %s", name, exc)

    def _name(self, folder: str) -> str:
        assert self._layout is not None, "the layout is discovered on connecting"
        return self._layout.server_name(folder)

    def _note_state(self, folder: str, validity: int, uidnext: int) -> bool:
        """Remember a folder's (UIDVALIDITY, UIDNEXT); True if it has new mail since last time."""
        with self._seen_lock:
            old = self._seen.get(folder)
            if old is None or old[0] != validity or uidnext > old[1]:
                self._seen[folder] = (validity, uidnext)
            return old is not None and (old[0] != validity or uidnext > old[1])

    # -- the contract --------------------------------------------------------------

    def open(self, folders: Sequence[str]) -> None:
        self._stop.clear()

        def run(conn: _Connection, _retry: bool) -> None:
            self._layout = layout = self._discover(conn)
            existing = {entry.name for entry in self._list(conn)}
            for folder in dict.fromkeys(folders):
                name = layout.server_name(folder)
                if name != INBOX and name not in existing:
                    self._create(conn, name)

        self._call("open", run)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._pending_sent:
                try:
                    self._flush_sent()
                except MailboxError as exc:
                    log.error(
                        "%d sent mail(s) could not be copied to Sent before closing: %s",
                        len(self._pending_sent),
                        exc,
                    )
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.logout()
        # a waiting watcher closes its own connections when it sees the stop
        if self._wait_lock.acquire(blocking=False):
            try:
                self._close_watchers()
            finally:
                self._wait_lock.release()

    def scan(self, folder: str, since: Mapping[str, Any] | None = None) -> Listing:
        """By UID: only what arrived after the checkpoint's UID, while UIDVALIDITY holds.

        The checkpoint is `{"uidvalidity": …, "uid": …}`, the highest UID listed.
        A changed UIDVALIDITY lists the whole folder again (under new keys).
        """

        def run(conn: _Connection, _retry: bool) -> Listing:
            conn.select(self._name(folder), force=True)
            validity = conn.validity
            self._check_validity(folder, validity)
            self._note_state(folder, validity, conn.uidnext)
            last = 0
            renamed = False
            if since is not None:
                if _number(since.get("uidvalidity")) == validity:
                    last = _number(since.get("uid"))
                else:
                    renamed = True
                    log.warning(
                        "UIDVALIDITY of %r is not the checkpoint's: listing it all again", folder
                    )
            # \Deleted: already copied elsewhere by an interrupted move (or a person's delete)
            if last:
                uids = [u for u in conn.search("UID", f"{last + 1}:*", "UNDELETED") if u > last]
            else:
                uids = conn.search("UNDELETED")
            page = uids[:PAGE]
            keys = [str(ImapKey(folder, validity, uid)) for uid in page]
            if keys and len(keys[-1]) > MAX_KEY_LENGTH:
                raise MailboxError(f"folder name {folder!r} is too long for a key", permanent=True)
            top = page[-1] if page else last
            checkpoint = {"uidvalidity": validity, "uid": top}
            return Listing(keys, checkpoint, len(uids) > PAGE, renamed=renamed)

        return self._call(f"listing {folder!r}", run)

    def keys(self, folder: str) -> list[str]:
        """Every key now in `folder`, oldest first (a scan from scratch, all pages)."""
        keys: list[str] = []
        since: Mapping[str, Any] | None = None
        while True:
            listing = self.scan(folder, since)
            keys += listing.keys
            since = listing.checkpoint
            if not listing.more:
                return keys

    def _check_validity(self, folder: str, validity: int) -> None:
        previous = self._validity.get(folder)
        if previous is not None and previous != validity:
            log.warning(
                "UIDVALIDITY of %r changed from %s to %s: its messages get new keys",
                folder,
                previous,
                validity,
            )
        self._validity[folder] = validity

    def fetch(self, folder: str, key: str) -> bytes:
        parsed = ImapKey.parse(key)
        gone = MailboxError(f"message {key!r} is no longer in {folder!r}", permanent=True)
        if parsed is None or not _same_folder(parsed.folder, folder):
            raise gone

        def run(conn: _Connection, _retry: bool) -> bytes:
            conn.select(self._name(folder))
            if conn.validity != parsed.validity:
                raise gone
            body = conn.fetch([parsed.uid], "(BODY.PEEK[])").get(parsed.uid)
            if body is None:
                raise gone
            return body

        return self._call(f"fetching from {folder!r}", run)

    def fetch_many(self, folder: str, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for key in keys:
            try:
                found[key] = self.fetch(folder, key)
            except MailboxError as exc:
                if not exc.permanent:
                    raise
        return found

    def move_many(
        self, folder: str, keys: Sequence[str], destination: str
    ) -> dict[str, str | None]:
        return {key: self.move(folder, key, destination) for key in keys}

    def move(self, folder: str, key: str, destination: str) -> str | None:
        """MOVE, or COPY + \\Deleted + UID EXPUNGE; the new key from COPYUID (UIDPLUS)."""
        parsed = ImapKey.parse(key)
        if parsed is None or not _same_folder(parsed.folder, folder):
            log.warning("not moving %r: it is not a key of folder %r", key, folder)
            return None

        def run(conn: _Connection, _retry: bool) -> str | None:
            conn.select(self._name(folder))
            if conn.validity != parsed.validity:
                log.info("not moving %r: folder %r was recreated since", key, folder)
                return None
            target = self._name(destination)
            if "MOVE" in conn.capabilities:
                moved = self._into(conn, "MOVE", parsed.uid, target)
            else:
                moved = self._into(conn, "COPY", parsed.uid, target)
                # remove exactly this one message
                uid = str(parsed.uid)
                conn.command(
                    "UID STORE",
                    lambda: conn.client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"),
                )
                if "UIDPLUS" in conn.capabilities:
                    conn.command("UID EXPUNGE", lambda: conn.client.uid("EXPUNGE", uid))
                else:  # last resort: also expunges other messages someone flagged \Deleted
                    conn.command("EXPUNGE", conn.client.expunge)
            return str(ImapKey(destination, *moved)) if moved is not None else None

        return self._call(f"moving from {folder!r} to {destination!r}", run)

    def _into(self, conn: _Connection, verb: str, uid: int, target: str) -> tuple[int, int] | None:
        """UID COPY/MOVE into `target` (created on TRYCREATE); (UIDVALIDITY, UID) there."""
        try:
            return conn.copy(verb, uid, target)
        except _Refused as exc:
            if exc.code != "TRYCREATE":
                raise
            self._create(conn, target)
            return conn.copy(verb, uid, target)

    # -- sending -------------------------------------------------------------------

    def send(self, raw: bytes, envelope: Envelope, message_id: str) -> str:
        self.relay.send(raw, envelope)
        with self._lock:
            self._pending_sent.append((message_id, raw))
            try:
                self._flush_sent()
            except MailboxError as exc:
                log.warning(
                    "mail went out, but its copy waits for the IMAP server to come back: %s", exc
                )
        return message_id

    def _flush_sent(self) -> None:
        """Append the copies of sent mail that are still waiting (see send())."""

        def run(conn: _Connection, retry: bool) -> None:
            assert self._layout is not None
            sent = self._layout.sent
            while self._pending_sent:
                message_id, raw = self._pending_sent[0]
                # after a broken connection the APPEND may have landed after all
                if not retry or not self._find(conn, sent, message_id):
                    conn.append(sent, r"(\Seen)", raw)
                self._pending_sent.pop(0)

        with self._lock:
            if self._pending_sent:
                self._call("copying sent mail to Sent", run)

    def _find(self, conn: _Connection, name: str, message_id: str) -> list[int]:
        """UIDs in folder `name` whose Message-ID is exactly `message_id`."""
        conn.select(name)
        if message_id.isascii() and message_id.isprintable():
            candidates = conn.search("HEADER", "Message-ID", _quote(message_id))
        else:
            candidates = conn.search("ALL")
        if not candidates:
            return []
        headers = conn.fetch(candidates, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        return [
            uid
            for uid, raw in sorted(headers.items())
            if message_id in message_ids(_header(raw, "Message-ID"))
        ]

    def was_sent(self, message_id: str) -> bool:
        with self._lock:
            if any(pending == message_id for pending, _ in self._pending_sent):
                return True

            def run(conn: _Connection, _retry: bool) -> bool:
                assert self._layout is not None
                return bool(self._find(conn, self._layout.sent, message_id))

            return self._call("searching Sent", run)

    def has_draft(self, message_id: str) -> bool:
        def run(conn: _Connection, _retry: bool) -> bool:
            assert self._layout is not None
            return bool(self._find(conn, self._layout.drafts, message_id))

        return self._call("searching Drafts", run)

    def save_draft(self, raw: bytes, message_id: str) -> str:
        def run(conn: _Connection, retry: bool) -> str:
            assert self._layout is not None
            drafts = self._layout.drafts
            found = self._find(conn, drafts, message_id) if retry else []
            if not found:
                appended = conn.append(drafts, r"(\Draft)", raw)
                if appended is not None:
                    return str(ImapKey(drafts, *appended))
                found = self._find(conn, drafts, message_id)
            conn.select(drafts)
            return str(ImapKey(drafts, conn.validity, found[-1] if found else 0))

        return self._call("saving a draft", run)

    def sent_marker(self) -> str | None:
        def run(conn: _Connection, _retry: bool) -> str | None:
            assert self._layout is not None
            sent = self._layout.sent
            conn.select(sent, force=True)
            uids = conn.search("ALL")
            return str(ImapKey(sent, conn.validity, max(uids))) if uids else None

        return self._call("reading the Sent folder", run)

    def sent_messages(self, since_key: str | None) -> tuple[list[SentCopy], str | None]:
        try:
            self._flush_sent()
        except MailboxError as exc:
            log.warning("copies of sent mail still wait for the IMAP server: %s", exc)
        marker = ImapKey.parse(since_key)
        if since_key is not None and marker is None:
            log.warning("ignoring Sent marker %r from another backend", since_key)

        def run(conn: _Connection, _retry: bool) -> tuple[list[SentCopy], str | None]:
            assert self._layout is not None
            sent = self._layout.sent
            conn.select(sent, force=True)
            validity = conn.validity
            last = 0
            if marker is not None:
                if marker.validity == validity:
                    last = marker.uid
                else:
                    log.warning("UIDVALIDITY of Sent changed: reading all of it again")
            uids = conn.search("UID", f"{last + 1}:*") if last else conn.search("ALL")
            uids = [uid for uid in uids if uid > last]
            headers = conn.fetch(uids, "(BODY.PEEK[HEADER])")  # never the bodies
            copies: list[SentCopy] = []
            for uid in uids:
                header = headers.get(uid)
                if header is None:  # expunged meanwhile
                    continue
                copies.append(SentCopy.from_header(str(ImapKey(sent, validity, uid)), header))
            if uids:
                return copies, str(ImapKey(sent, validity, uids[-1]))
            if since_key is None:
                return copies, None
            return copies, str(ImapKey(sent, validity, last))

        return self._call("reading Sent", run)

    # -- waiting -------------------------------------------------------------------

    def watch(self, folders: Sequence[str]) -> None:
        """Which folders `wait()` looks at (the watched ones)."""
        self._watched = list(dict.fromkeys(folders)) or [INBOX]
        self._watch_changed = True

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._wait_lock:
            try:
                if self._watch_changed:
                    self._watch_changed = False
                    self._close_watchers()
                if not self._backed_off(deadline):
                    return False
                woke = self._wait_idle(deadline) if self.idle else self._wait_polling(deadline)
                self._watch_failures = 0
                return woke
            except (_Lost, MailboxError, OSError, ValueError, imaplib.IMAP4.error) as exc:
                # OSError/ValueError: select() on a socket that was closed under it
                self._close_watchers()
                self._watch_failures += 1
                delay = min(_WATCH_BACKOFF_MAX, 2.0 ** (self._watch_failures - 1))
                self._watch_retry_at = time.monotonic() + delay
                if isinstance(exc, MailboxError):
                    raise
                raise MailboxError(
                    f"IMAP watcher lost its connection to {self.settings.where}: {exc}"
                ) from exc
            finally:
                if self._stop.is_set():
                    self._close_watchers()

    def _backed_off(self, deadline: float) -> bool:
        """After a failure, wait out the watcher's back-off; False if `deadline` comes first."""
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= self._watch_retry_at:
                return True
            if now >= deadline:
                return False
            self._stop.wait(min(self._watch_retry_at, deadline) - now)
        return False

    def _watcher_connection(self) -> _Connection:
        conn = _Connection(self.settings)
        if self._layout is None:
            # names need the layout; discover it on this connection if no pass has yet
            try:
                self._layout = self._discover(conn)
            except BaseException:
                conn.drop()
                raise
        return conn

    def _wait_idle(self, deadline: float) -> bool:
        woke = False
        for folder in self._watched:
            if folder in self._idlers:
                continue
            conn = self._watcher_connection()
            if "IDLE" not in conn.capabilities:
                conn.drop()
                log.info("IMAP server %s has no IDLE; polling instead", self.settings.where)
                self.idle = False
                self._close_watchers()
                return self._wait_polling(deadline)
            idler = _Idler(folder, conn)
            self._idlers[folder] = idler
            conn.select(self._name(folder), readonly=True)
            woke |= self._note_state(folder, conn.validity, conn.uidnext)
            try:
                woke |= idler.start()
            except _Refused as exc:
                log.info(
                    "IMAP server %s refused IDLE (%s); polling instead", self.settings.where, exc
                )
                self.idle = False
                self._close_watchers()
                return woke or self._wait_polling(deadline)
        while not woke and not self._stop.is_set():
            idlers = list(self._idlers.values())
            now = time.monotonic()
            for idler in idlers:
                if now - idler.since >= IDLE_RENEW:
                    woke |= idler.renew()
            if woke:
                break
            ready = [idler for idler in idlers if idler.conn.has_input()]
            if not ready:
                remaining = deadline - now
                if remaining <= 0:
                    return False
                renew_in = min(idler.since for idler in idlers) + IDLE_RENEW - now
                readable, _, _ = select.select(
                    [idler.conn.client.sock for idler in idlers],
                    [],
                    [],
                    max(0.0, min(_TICK, remaining, renew_in)),
                )
                ready = [idler for idler in idlers if idler.conn.client.sock in readable]
            for idler in ready:
                woke |= idler.read_events()
        return woke

    def _wait_polling(self, deadline: float) -> bool:
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + self.poll_interval
                if self._poll_once():
                    return True
                continue
            if now >= deadline:
                return False
            self._stop.wait(min(self._next_poll, deadline) - now)
        return False

    def _poll_once(self) -> bool:
        if self._poller is None:
            self._poller = self._watcher_connection()
        woke = False
        for folder in self._watched:
            validity, uidnext = self._poller.status(self._name(folder))
            woke |= self._note_state(folder, validity, uidnext)
        return woke

    def _close_watchers(self) -> None:
        idlers, self._idlers = list(self._idlers.values()), {}
        for idler in idlers:
            idler.conn.drop()
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.drop()
        self._next_poll = 0.0


def from_config(config: Config) -> ImapMailbox:
    """The mailbox for `backend = "imap"`; it sends through `[smtp]`, which is required.

    Without IDLE the watcher polls STATUS every `poll_interval` seconds, at most 30.
    """
    section = config.mailbox.imap
    if section is None:
        raise ConfigError(['mailbox.imap: backend = "imap" needs a [mailbox.imap] section'])
    relay = SmtpRelay.from_config(config)
    if relay is None:
        raise ConfigError(['smtp: backend = "imap" sends through SMTP; add an [smtp] section'])
    password = config.secrets.get("mailbox.imap.password")
    token = config.secrets.get("mailbox.imap.oauth2_token")
    if password is None and token is None:
        raise ConfigError(
            ["mailbox.imap: give password_env/password_file or oauth2_token_env/oauth2_token_file"]
        )
    settings = ImapSettings(
        host=section.host,
        port=section.port,
        security=section.security,
        username=section.username,
        password=password,
        oauth2_token=token,
    )
    return ImapMailbox(
        settings,
        relay,
        idle=section.idle,
        poll_interval=min(config.mailbot.poll_interval, DEFAULT_POLL),
    )
