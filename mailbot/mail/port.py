"""The mailbox interface: what every backend (Maildir, IMAP, EWS, Graph) offers.

The contract is deliberately small and byte-oriented. The core never sees an
imaplib, exchangelib or Graph object: it gets stable keys and raw RFC 822
bytes, stores them, and only then asks the backend to move the message.

Rules every implementation keeps (the shared contract tests check them):
- `scan()` never marks mail read or moves it between folders;
- a key is stable for as long as the message stays in its folder, and unique
  within the mailbox; moving a message that is already gone is not an error;
  fetching it is a permanent `MailboxError` (an outage is a temporary one);
- listing may be incremental: the core persists the `checkpoint` of a listing
  after it has stored every key in it, and passes it back next time. A backend
  may then report only what arrived since (IMAP UIDs, EWS sync state, Graph
  delta link) but must report a key again when given an older checkpoint;
- `send()` delivers and keeps a copy in Sent, and returns the Message-ID the
  server actually used; `was_sent()` finds that copy again after a crash;
- folder names are the logical names of the config (`/` for nesting); the
  backend maps them to its own conventions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Protocol

from mailbot.mail.parse import decode_header_value, message_ids

INBOX = "INBOX"


class MailboxError(Exception):
    """The mailbox could not be reached or refused an operation.

    `permanent` is True when retrying the same thing cannot help (a server that
    rejects a recipient or a message); otherwise the caller retries later.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message found in a folder: its key and its bytes."""

    key: str
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a folder listing.

    `keys` are messages the core may not have seen (it ignores the ones it
    knows); `checkpoint` is the backend's position after this page (JSON-able,
    None when the backend always lists everything); `more` asks for another page.
    `renamed` says that the checkpoint no longer held and every message now in
    the folder is listed again under a key the core has never seen (IMAP: the
    folder's UIDVALIDITY changed); backends whose keys survive a resync (Graph,
    EWS) leave it False.
    """

    keys: list[str]
    checkpoint: dict[str, Any] | None = None
    more: bool = False
    renamed: bool = False


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a composed message is delivered to (To + Cc + Bcc), and from whom."""

    sender: str
    recipients: Sequence[str]


# The `X-Mailbot-Case` of mail that belongs to no case (admin and triage notices, an
# answer to a command without a case): SPEC §6 wants the header on every mail we send.
NO_CASE = "none"


def case_of_header(value: str | None) -> str | None:
    """The case an `X-Mailbot-Case` value names; None for "no case" or no value."""
    value = (value or "").strip()
    return None if not value or value.lower() == NO_CASE else value


@dataclass(frozen=True, slots=True)
class SentCopy:
    """A message found in Sent: mailbot's header values are enough to recognise it.

    Header values only, never the message: after a backlog, Sent holds thousands of
    new copies (each forward with its attachments), and all of them are listed at once.
    """

    key: str
    message_id: str | None
    case_ref: str | None
    subject: str = ""

    @classmethod
    def from_header(cls, key: str, header: bytes, *, message_id: str | None = None) -> SentCopy:
        """From the header section (or the whole message: the body is not read);
        `message_id` when the server reports it apart from the MIME."""
        fields = BytesHeaderParser(policy=compat32).parsebytes(header, headersonly=True)
        found = message_ids(str(fields.get("Message-ID") or ""))
        return cls(
            key=key,
            message_id=message_id or (found[0] if found else None),
            case_ref=case_of_header(decode_header_value(fields.get("X-Mailbot-Case") or "")),
            subject=decode_header_value(fields.get("Subject") or ""),
        )


class Mailbox(Protocol):
    """See the module docstring for the contract."""

    def open(self, folders: Sequence[str]) -> None:
        """Connect and create any of `folders` that are missing."""

    def close(self) -> None: ...

    def scan(self, folder: str, since: Mapping[str, Any] | None) -> Listing:
        """Messages in `folder` since the checkpoint `since` (None: everything), oldest first."""

    def fetch(self, folder: str, key: str) -> bytes:
        """The raw bytes of one message; `MailboxError` if it is gone."""

    def fetch_many(self, folder: str, keys: Sequence[str]) -> dict[str, bytes]:
        """Several messages in as few requests as the server allows.

        Keys that are gone are left out. The core asks for small groups (25), so a
        backend may fetch a group in one round trip without unbounded memory.
        """

    def move_many(
        self, folder: str, keys: Sequence[str], destination: str
    ) -> dict[str, str | None]:
        """Move several messages; maps each key to its new key (None: unknown or gone)."""

    def move(self, folder: str, key: str, destination: str) -> str | None:
        """Move a message; returns its key in `destination` when the backend knows it.

        A message that is no longer there is not an error (returns None).
        """

    def send(self, raw: bytes, envelope: Envelope, message_id: str) -> str:
        """Deliver and keep a copy in Sent; returns the Message-ID actually used."""

    def was_sent(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is in Sent (crash recovery)."""

    def save_draft(self, raw: bytes, message_id: str) -> str:
        """Store a message in Drafts for a human to send; returns its key there."""

    def has_draft(self, message_id: str) -> bool:
        """Whether a draft with this Message-ID is in Drafts (crash recovery)."""

    def sent_marker(self) -> str | None:
        """The position of the newest message in Sent, without reading any message.

        Used once, at first start: what is in Sent then is history.
        """

    def sent_messages(self, since_key: str | None) -> tuple[list[SentCopy], str | None]:
        """Messages added to Sent after `since_key`, and the newest key.

        Used to notice drafts that a person sent from the shared mailbox.
        """

    def wait(self, timeout: float) -> bool:
        """Block until the mailbox may have changed (push/IDLE) or `timeout` passes.

        Returns True when woken by the server, False on timeout. Backends
        without push simply sleep; the daemon polls in that case.
        """


def folder_report(names: Iterable[str], find: Callable[[str], object]) -> list[str]:
    """`check-config` lines for the configured folders besides the Inbox: found, or
    missing (mailbot creates it at start). `find` raises MailboxError when a folder is
    missing; a permanent error (no access, bad credentials) is not a missing folder."""
    lines: list[str] = []
    for name in names:
        if name.upper() == INBOX:
            continue
        try:
            find(name)
            lines.append(f"folder {name!r}: found")
        except MailboxError as exc:
            if exc.permanent:
                raise
            lines.append(f"folder {name!r}: missing (created at start)")
    return lines
