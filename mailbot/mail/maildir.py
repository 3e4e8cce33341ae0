"""The embedded default backend: a local Maildir++ tree.

The root is the Inbox; every other folder is a `.Name` subfolder (nesting with
`.`: `mailbot/Verwerkt` becomes `.mailbot.Verwerkt`), exactly as Dovecot and
Courier lay it out, so an IMAP server can serve the same tree.

Messages dropped into `new/` are first renamed into `cur/` under a proper
unique name (what every mail client does when it first sees them): a key is
then the file name before the `:2,` info and never changes while the message
stays in its folder, even when two dropped files had the same name.

Outgoing mail is always copied to `.Sent`. When an SMTP relay is configured it
is delivered through it; otherwise it stays in the local spool folder
(`.Uitgaand` by default) and nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mailbot.mail.port import INBOX, Envelope, Listing, MailboxError, SentCopy
from mailbot.mail.smtp import SmtpRelay

_UNIQUE_RE = re.compile(r"^\d{9,}\.[^.]+\..+$")
_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")
SENT = "Sent"
DRAFTS = "Drafts"
_OWN_FLAGS = {SENT: "S", DRAFTS: "D"}  # Maildir flags of the copies mailbot writes itself


def _hostname() -> str:
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


class _UniqueNames:
    """Maildir unique names: time, microseconds, pid, a counter, the host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = 0
        self._host = _hostname()

    def make(self, tag: str = "") -> str:
        with self._lock:
            self._counter += 1
            counter = self._counter
        now = time.time()
        micro = int((now % 1) * 1_000_000)
        tag_part = f"_{tag}" if tag else ""
        return f"{int(now)}.M{micro}P{os.getpid()}Q{counter}{tag_part}.{self._host}"


def _message_tag(message_id: str) -> str:
    return "mid" + hashlib.sha256(message_id.encode()).hexdigest()[:20]


def _headers_of(raw: bytes) -> bytes:
    match = _HEADER_END_RE.search(raw)
    return raw[: match.start()] if match else raw


def _read_header(path: Path, limit: int = 256 * 1024) -> bytes:
    """The header section of a message file, without reading its body."""
    with path.open("rb") as handle:
        data = b""
        while len(data) < limit:
            chunk = handle.read(16 * 1024)
            if not chunk:
                break
            data += chunk
            if _HEADER_END_RE.search(data):
                break
    return _headers_of(data)


class MaildirMailbox:
    """See `mailbot.mail.port.Mailbox`."""

    def __init__(
        self,
        root: Path,
        *,
        outgoing_folder: str = "Uitgaand",
        relay: SmtpRelay | None = None,
    ) -> None:
        self.root = root
        self.outgoing_folder = outgoing_folder
        self.relay = relay
        self._names = _UniqueNames()
        self._index: dict[tuple[str, str], Path] = {}
        self._made: set[Path] = set()
        self._stop = threading.Event()
        self._watched: list[Path] = [root]
        self._watch_stamp: tuple[int, ...] | None = None

    # -- folders --------------------------------------------------------

    def folder_path(self, folder: str) -> Path:
        if folder.upper() == INBOX:
            return self.root
        parts = [p for p in folder.split("/") if p]
        if not parts or any(p.startswith(".") or "." in p for p in parts):
            raise MailboxError(f"folder name {folder!r} cannot be used in a Maildir++ tree")
        return self.root / ("." + ".".join(parts))

    def _make(self, folder: str) -> Path:
        """The folder's path, created if needed. Remembered: every write and move asks,
        and four system calls per message were a tenth of a backlog pass. A folder
        removed behind mailbot's back is made again when a write into it fails."""
        path = self.folder_path(folder)
        if path in self._made:
            return path
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if path != self.root:
            (path / "maildirfolder").touch(exist_ok=True)
        self._made.add(path)
        return path

    def _remake(self, folder: str) -> Path:
        self._made.discard(self.folder_path(folder))
        return self._make(folder)

    def open(self, folders: Sequence[str]) -> None:
        try:
            for folder in (INBOX, SENT, DRAFTS, self.outgoing_folder, *folders):
                self._make(folder)
        except OSError as exc:
            raise MailboxError(f"cannot create Maildir folders under {self.root}: {exc}") from exc

    def close(self) -> None:
        self._stop.set()

    # -- reading ------------------------------------------------------------

    def _claim_new(self, path: Path) -> None:
        """new/ -> cur/ with a proper unique name (the Maildir reader's duty)."""
        try:
            entries = list(os.scandir(path / "new"))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            base = entry.name.split(":", 1)[0]
            if not _UNIQUE_RE.match(base):
                base = self._names.make()
            target = path / "cur" / f"{base}:2,"
            if target.exists():
                target = path / "cur" / f"{self._names.make()}:2,"
            try:
                Path(entry.path).rename(target)
            except FileNotFoundError:
                continue

    def scan(self, folder: str, since: Mapping[str, Any] | None = None) -> Listing:
        """Always everything: a directory listing is cheap, and keys never change."""
        return Listing(self.keys(folder))

    def keys(self, folder: str) -> list[str]:
        """Every key now in `folder`, oldest first."""
        path = self.folder_path(folder)
        try:
            self._claim_new(path)
            found: list[tuple[int, str, Path]] = []
            for entry in os.scandir(path / "cur"):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                key = entry.name.split(":", 1)[0]
                found.append((entry.stat().st_mtime_ns, key, Path(entry.path)))
        except FileNotFoundError as exc:
            raise MailboxError(f"folder {folder!r} is missing at {path}") from exc
        except OSError as exc:
            raise MailboxError(f"cannot read folder {folder!r}: {exc}") from exc
        found.sort()
        for stale in [k for k in self._index if k[0] == folder]:
            del self._index[stale]
        for _, key, file in found:
            self._index[(folder, key)] = file
        return [key for _, key, _ in found]

    def _locate(self, folder: str, key: str) -> Path | None:
        known = self._index.get((folder, key))
        if known is not None and known.exists():
            return known
        cur = self.folder_path(folder) / "cur"
        for candidate in cur.glob(f"{glob_escape(key)}:*"):
            self._index[(folder, key)] = candidate
            return candidate
        plain = cur / key
        return plain if plain.exists() else None

    def fetch(self, folder: str, key: str) -> bytes:
        # gone (moved away by someone) is permanent, as in the other backends: asking
        # again cannot bring it back; an unreadable file may be a passing problem
        path = self._locate(folder, key)
        if path is None:
            raise MailboxError(f"message {key} is no longer in {folder!r}", permanent=True)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise MailboxError(f"message {key} is no longer in {folder!r}", permanent=True) from exc
        except OSError as exc:
            raise MailboxError(f"cannot read message {key}: {exc}") from exc

    def fetch_many(self, folder: str, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for key in keys:
            try:
                found[key] = self.fetch(folder, key)
            except MailboxError:
                continue  # gone meanwhile
        return found

    def move_many(
        self, folder: str, keys: Sequence[str], destination: str
    ) -> dict[str, str | None]:
        return {key: self.move(folder, key, destination) for key in keys}

    def move(self, folder: str, key: str, destination: str) -> str | None:
        source = self._locate(folder, key)
        if source is None:
            return None
        target_dir = self._make(destination) / "cur"
        try:
            try:
                source.rename(target_dir / source.name)
            except FileNotFoundError:
                if not source.exists():
                    return None  # moved or deleted meanwhile
                target_dir = self._remake(destination) / "cur"
                source.rename(target_dir / source.name)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MailboxError(f"cannot move {key} to {destination!r}: {exc}") from exc
        self._index.pop((folder, key), None)
        return key

    # -- writing --------------------------------------------------------------

    def _deliver(self, folder: str, raw: bytes, name: str, flags: str = "") -> Path:
        try:
            return self._write(self._make(folder), raw, name, flags)
        except FileNotFoundError:
            pass  # the folder was removed since mailbot made it
        except OSError as exc:
            raise MailboxError(f"cannot write to folder {folder!r}: {exc}") from exc
        try:
            return self._write(self._remake(folder), raw, name, flags)
        except OSError as exc:
            raise MailboxError(f"cannot write to folder {folder!r}: {exc}") from exc

    @staticmethod
    def _write(path: Path, raw: bytes, name: str, flags: str) -> Path:
        """tmp/ -> cur/, the file and the directory entry on disk before returning."""
        tmp = path / "tmp" / name
        final = path / "cur" / f"{name}:2,{flags}"
        try:
            with tmp.open("wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.rename(final)
            dir_fd = os.open(path / "cur", os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return final

    # What mailbot writes (spool, Sent, Drafts) is named after its Message-ID, so
    # "is it there already?" is one stat call, not a scan of an ever-growing folder.
    def _own_file(self, folder: str, message_id: str) -> Path:
        flags = _OWN_FLAGS.get(folder, "")
        return self.folder_path(folder) / "cur" / f"mailbot-{_message_tag(message_id)}:2,{flags}"

    def _write_own(self, folder: str, raw: bytes, message_id: str) -> Path:
        target = self._own_file(folder, message_id)
        if target.exists():
            return target
        return self._deliver(folder, raw, target.name.split(":", 1)[0], _OWN_FLAGS.get(folder, ""))

    def send(self, raw: bytes, envelope: Envelope, message_id: str) -> str:
        if self.relay is not None:
            self.relay.send(raw, envelope)
        else:
            # Without a relay the spool copy *is* the sending. A kill between it and the
            # Sent copy makes the outbox (finding no Sent copy) try again: then it is
            # already there and only the Sent copy is added.
            spooled = self._write_own(self.outgoing_folder, raw, message_id)
            if self._link_own(SENT, spooled, message_id):
                return message_id
        self._write_own(SENT, raw, message_id)
        return message_id

    def _link_own(self, folder: str, source: Path, message_id: str) -> bool:
        """The Sent copy as a second name of the spool file: the bytes are on disk
        already, so only the directory entry is written. False where the file system
        cannot link (another mount, no hard links): then the copy is written."""
        target = self._own_file(folder, message_id)
        if target.exists():
            return True
        try:
            os.link(source, target)
        except FileExistsError:
            return True
        except OSError:
            return False
        try:
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise MailboxError(f"cannot write to folder {folder!r}: {exc}") from exc
        return True

    def was_sent(self, message_id: str) -> bool:
        return self._own_file(SENT, message_id).exists()

    def has_draft(self, message_id: str) -> bool:
        return self._own_file(DRAFTS, message_id).exists()

    def save_draft(self, raw: bytes, message_id: str) -> str:
        return self._write_own(DRAFTS, raw, message_id).name.split(":", 1)[0]

    def sent_marker(self) -> str | None:
        cur = self.folder_path(SENT) / "cur"
        try:
            entries = [e for e in os.scandir(cur) if e.is_file() and not e.name.startswith(".")]
        except FileNotFoundError:
            return None
        stamps = [f"{e.stat().st_mtime_ns:020d}/{e.name.split(':')[0]}" for e in entries]
        return max(stamps) if stamps else None

    def sent_messages(self, since_key: str | None) -> tuple[list[SentCopy], str | None]:
        cur = self.folder_path(SENT) / "cur"
        try:
            entries = [e for e in os.scandir(cur) if e.is_file() and not e.name.startswith(".")]
        except FileNotFoundError:
            return [], since_key
        stamped = sorted(
            (f"{e.stat().st_mtime_ns:020d}/{e.name.split(':')[0]}", e) for e in entries
        )
        found: list[SentCopy] = []
        newest = since_key
        for stamp, entry in stamped:
            if since_key is not None and stamp <= since_key:
                continue
            newest = stamp
            try:
                header = _read_header(Path(entry.path))
            except OSError:
                continue
            found.append(SentCopy.from_header(entry.name.split(":", 1)[0], header))
        return found, newest

    # -- waiting ----------------------------------------------------------------

    def watch(self, folders: Sequence[str]) -> None:
        """Which folders `wait()` looks at (the watched ones)."""
        self._watched = [self.folder_path(f) for f in folders]
        self._watch_stamp = None

    def _watched_stamp(self) -> tuple[int, ...]:
        stamps: list[int] = []
        for path in self._watched:
            for sub in ("new", "cur"):
                try:
                    stamps.append((path / sub).stat().st_mtime_ns)
                except OSError:
                    stamps.append(0)
        return tuple(stamps)

    def wait(self, timeout: float) -> bool:
        """Polls directory mtimes once a second: two stat calls per folder, no busy loop."""
        deadline = time.monotonic() + timeout
        if self._watch_stamp is None:
            self._watch_stamp = self._watched_stamp()
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._stop.wait(min(1.0, remaining))
            stamp = self._watched_stamp()
            if stamp != self._watch_stamp:
                self._watch_stamp = stamp
                return True
        return False


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
