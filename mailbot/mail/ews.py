"""The EWS backend: Exchange Web Services through exchangelib (on-premises Exchange Server).

Microsoft blocks EWS in Exchange Online from October 2026; organisations on
Microsoft 365 use the Graph backend. Exchange Server keeps EWS, with NTLM or
basic authentication, or OAuth2 client credentials plus impersonation.

**Keys** are EWS item ids. They change when an item moves, so `move()` returns
the id the server gave the item in its new folder (MoveItem answers with it).

**Listing** is SyncFolderItems, paged by hand: exchangelib's `sync_items()`
keeps the sync state only when its generator is exhausted, so a crash half way
would list everything again. `scan()` asks for one page and hands the sync
state back as the checkpoint, which the core persists after it stored the
page. Only "create" changes are new mail; updates, deletes and read-flag
changes are ignored. An expired or corrupt sync state starts over from
scratch: the core ignores keys it already knows. Listing asks for the size of
each item, so that fetching can keep each GetItem response small (large MIME
responses are slow to read on the client side).

**Sending** is CreateItem with SendAndSaveCopy and the MIME as we composed it.
Exchange may replace a client-chosen Message-ID, so the message also carries
our id in a named property (`MailbotMessageId`, PublicStrings), which is not a
mail header and never leaves the organisation; `send()` finds the copy in
Sent by either and returns the Message-ID the server actually used, and
`was_sent()` finds it after a crash by our own id. Drafts are saved the same
way with the MAPI "unsent" flag, so Outlook opens them as drafts.

**Retries**: exchangelib's `FaultTolerance` is set on the protocol the account
actually uses (exchangelib shares one protocol per endpoint and credentials
and silently ignores a second configuration), with a bound on the total wait
of one request. The credentials are checked once fail-fast first: with
`FaultTolerance` a wrong password looks like throttling and would only end in
a `RateLimitError` after the whole wait.

**Waiting** uses streaming notifications as a wake-up only: the sync state
stays the source of truth. Where the server refuses a subscription, `wait()`
simply sleeps and the daemon polls on its timer.

Every exchangelib, requests and OAuth error leaves this module as a
`MailboxError`, permanent when authentication or permissions failed.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import partial
from typing import Any, TypeVar

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    ExtendedProperty,
    FaultTolerance,
    Identity,
    Message,
    OAuth2Credentials,
    Q,
    Version,
)
from exchangelib.errors import (
    CASError,
    ErrorAccessDenied,
    ErrorCorruptData,
    ErrorExpiredSubscription,
    ErrorFolderExists,
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorImpersonationDenied,
    ErrorImpersonationFailed,
    ErrorInvalidExchangeImpersonationHeaderData,
    ErrorInvalidIdMalformed,
    ErrorInvalidSubscription,
    ErrorInvalidSyncStateData,
    ErrorItemCorrupt,
    ErrorItemNotFound,
    ErrorMessageSizeExceeded,
    ErrorMimeContentConversionFailed,
    ErrorNonExistentMailbox,
    ErrorSubscriptionNotFound,
    EWSError,
    RateLimitError,
    UnauthorizedError,
)
from exchangelib.folders import (
    SHALLOW,
    Drafts,
    Folder,
    FolderCollection,
    Inbox,
    MsgFolderRoot,
    SentItems,
    SingleFolderQuerySet,
)
from exchangelib.items import ID_ONLY, SAVE_ONLY, SEND_AND_SAVE_COPY, SEND_TO_NONE
from exchangelib.properties import DistinguishedFolderId, ItemId
from exchangelib.properties import Mailbox as EwsAddress
from exchangelib.services import CreateFolder, CreateItem, GetStreamingEvents, SyncFolderItems
from oauthlib.oauth2 import OAuth2Error  # type: ignore[import-untyped]

from mailbot.config import Config, ConfigError
from mailbot.mail.parse import message_ids
from mailbot.mail.port import (
    INBOX,
    Envelope,
    Listing,
    MailboxError,
    SentCopy,
    case_of_header,
    folder_report,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_WAIT = 120.0
PAGE_SIZE = 500  # SyncFolderItems allows at most 512 changes per page
FETCH_MAX_ITEMS = 25
FETCH_MAX_BYTES = 4_000_000
MOVE_CHUNK = 100
STREAM_MINUTES = 10  # one GetStreamingEvents connection; renewed when it ends
SENT_LOOKUP_SECONDS = 10.0
_UNKNOWN_SIZE = 100_000
_ARRIVAL_EVENTS = ("NewMailEvent", "CreatedEvent", "MovedEvent", "CopiedEvent")
_MSGFLAG_READ_UNSENT = 0x1 | 0x8  # PR_MESSAGE_FLAGS: read + unsent = an editable draft

VERSIONS = {
    "exchange2010": Build(14, 0),
    "exchange2010_sp1": Build(14, 1),
    "exchange2010_sp2": Build(14, 2),
    "exchange2013": Build(15, 0),
    "exchange2013_sp1": Build(15, 0, 847),
    "exchange2016": Build(15, 1),
    "exchange2019": Build(15, 2),
}

# Refusals that no retry can cure: the operator has to fix credentials or rights.
_PERMANENT = (
    UnauthorizedError,
    CASError,
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorImpersonationDenied,
    ErrorImpersonationFailed,
    ErrorInvalidExchangeImpersonationHeaderData,
    ErrorNonExistentMailbox,
    OAuth2Error,
)
_GONE = (ErrorItemNotFound, ErrorInvalidIdMalformed)
# Items Exchange cannot hand over as MIME: stored as a placeholder, never left to stall a pass.
_UNREADABLE = (
    ErrorMimeContentConversionFailed,
    ErrorItemCorrupt,
    ErrorCorruptData,
    ErrorMessageSizeExceeded,
)
_SUBSCRIPTION_LOST = (
    ErrorSubscriptionNotFound,
    ErrorExpiredSubscription,
    ErrorInvalidSubscription,
)


# -- extended properties -------------------------------------------------------------


class MailbotMessageId(ExtendedProperty):  # type: ignore[misc]
    """Our own Message-ID, kept on the item: found again even if Exchange replaced the header."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "MailbotMessageId"
    property_type = "String"


class MailbotCase(ExtendedProperty):  # type: ignore[misc]
    """The `X-Mailbot-Case` header as Exchange stores it (PS_INTERNET_HEADERS)."""

    distinguished_property_set_id = "InternetHeaders"
    property_name = "X-Mailbot-Case"
    property_type = "String"


class MessageFlags(ExtendedProperty):  # type: ignore[misc]
    """PR_MESSAGE_FLAGS: set at creation, it turns a MIME upload into a real draft."""

    property_tag = 0x0E07
    property_type = "Integer"


_REGISTERED = {
    "mailbot_message_id": MailbotMessageId,
    "mailbot_case": MailbotCase,
    "mailbot_flags": MessageFlags,
}
_register_lock = threading.Lock()


def register_properties() -> None:
    """Register our extended properties on exchangelib's Message class, once per process."""
    with _register_lock:
        for name, cls in _REGISTERED.items():
            try:
                Message.get_field_by_fieldname(name)
            except Exception:  # exchangelib raises InvalidField when it is not registered yet
                Message.register(name, cls)


# -- retry policy --------------------------------------------------------------------


class Patience(FaultTolerance):  # type: ignore[misc]
    """`FaultTolerance` with a bound on the total wait of one request.

    exchangelib only bounds each single back-off; a server that keeps asking
    for one more second would be retried for ever. Here the waits of one
    request (per thread) add up, and past `max_wait` the request fails: with
    `UnauthorizedError` when the server kept answering 401 (exchangelib reads a
    401 as throttling), otherwise with `RateLimitError`. `strict` switches to
    fail-fast, for the one credential check at the start.
    """

    def __init__(self, max_wait: float) -> None:
        super().__init__(max_wait=max_wait)
        self.strict = False
        self._local = threading.local()

    @property
    def fail_fast(self) -> bool:
        return self.strict

    def raise_response_errors(self, response: Any) -> Any:
        status = getattr(response, "status_code", None)
        self._local.last_status = status
        if status == 200:
            self._local.waited = 0.0
        return super().raise_response_errors(response)

    def back_off(self, seconds: float | None) -> None:
        if seconds is None:
            seconds = float(self.DEFAULT_BACKOFF)
        waited = getattr(self._local, "waited", 0.0) + seconds
        if waited > self.max_wait:
            self._local.waited = 0.0
            if getattr(self._local, "last_status", None) == 401:
                raise UnauthorizedError("the server kept refusing the credentials (HTTP 401)")
            raise RateLimitError("gave up waiting for the server", wait=seconds)
        self._local.waited = waited
        super().back_off(seconds)


# -- helpers -------------------------------------------------------------------------


def _angle(message_id: str) -> str:
    return f"<{message_id.strip().strip('<>')}>"


def _bare(message_id: str | None) -> str | None:
    if not message_id:
        return None
    ids = message_ids(message_id)
    return ids[0] if ids else None


def _header_addresses(raw: bytes) -> set[str]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name, [])]
    return {addr.lower() for _, addr in email.utils.getaddresses(values) if addr}


def _header_message_id(raw: bytes) -> str | None:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return _bare(str(headers.get("Message-ID") or ""))


def _placeholder(key: str, problem: str) -> bytes:
    """What we store for an item Exchange cannot turn into MIME: nothing may get lost."""
    return (
        "Subject: (Exchange could not convert this item to MIME)\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"EWS item {key}: {problem}\r\n"
    ).encode()


@dataclass(frozen=True)
class EwsSettings:
    """What the backend needs to reach one mailbox (taken from `[mailbox.ews]`)."""

    address: str
    service_endpoint: str | None
    credentials: Any  # exchangelib Credentials or OAuth2Credentials
    auth_type: str | None
    access_type: str
    version: Any | None = None  # exchangelib Version
    describe: str = ""  # "ntlm as GEMEENTE\svc-mailbot", for check-config


class EwsMailbox:
    """See `mailbot.mail.port.Mailbox` and the module docstring."""

    def __init__(
        self,
        settings: EwsSettings,
        *,
        max_wait: float = DEFAULT_MAX_WAIT,
        page_size: int = PAGE_SIZE,
        fetch_max_items: int = FETCH_MAX_ITEMS,
        fetch_max_bytes: int = FETCH_MAX_BYTES,
        stream_minutes: int = STREAM_MINUTES,
        sent_lookup_seconds: float = SENT_LOOKUP_SECONDS,
        config_folders: Sequence[str] = (),
    ) -> None:
        register_properties()
        self.settings = settings
        self.max_wait = max_wait
        self.page_size = page_size
        self.fetch_max_items = fetch_max_items
        self.fetch_max_bytes = fetch_max_bytes
        self.stream_minutes = stream_minutes
        self.sent_lookup_seconds = sent_lookup_seconds
        self.config_folders = tuple(config_folders)
        self._policy = Patience(max_wait)
        self._account: Any = None
        self._well_known: dict[str, Any] = {}
        self._folders: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        # waiting
        self._watched: list[str] = [INBOX]
        self._changed = threading.Event()
        self._subscription: str | None = None
        self._watched_ids: set[str] = set()
        self._watcher: threading.Thread | None = None
        self._stream: Any = None
        self._push_refused = False

    # -- connection -------------------------------------------------------------------

    def _error(self, what: str, exc: BaseException) -> MailboxError:
        if isinstance(exc, MailboxError):
            return exc
        if isinstance(exc, _PERMANENT):
            return MailboxError(
                f"Exchange refused {what} for {self.settings.address}: {exc}", permanent=True
            )
        return MailboxError(f"Exchange: {what} failed: {exc}")

    def _call(self, what: str, action: Callable[[], T]) -> T:
        """Run an exchangelib call; whatever goes wrong leaves as a MailboxError."""
        try:
            return action()
        except MailboxError:
            raise
        except (*_PERMANENT, EWSError, requests.RequestException, OSError) as exc:
            raise self._error(what, exc) from exc

    def _connect(self) -> Any:
        with self._lock:
            if self._account is not None:
                return self._account
            self._account = self._call("the connection", self._first_contact)
            return self._account

    def _first_contact(self) -> Any:
        settings = self.settings
        config = Configuration(
            credentials=settings.credentials,
            service_endpoint=settings.service_endpoint,
            auth_type=settings.auth_type,
            version=settings.version,
            retry_policy=self._policy,
            max_connections=4,
        )
        account = Account(
            primary_smtp_address=settings.address,
            config=config,
            autodiscover=settings.service_endpoint is None,
            access_type=settings.access_type,
        )
        # The protocol may be a cached one made by an earlier configuration: put our policy
        # and pool size on the protocol actually used, or they would be silently ignored.
        account.protocol.config.retry_policy = self._policy
        account.protocol.max_connections = 4  # a streaming connection must not block the rest
        self._policy.strict = True
        try:
            self._load_well_known(account)
        finally:
            self._policy.strict = False
        return account

    def _load_well_known(self, account: Any) -> None:
        """One GetFolder for the folders we always need; also the fail-fast credential check."""
        mailbox = EwsAddress(email_address=self.settings.address)
        wanted = {
            "msgfolderroot": MsgFolderRoot,
            "inbox": Inbox,
            "sentitems": SentItems,
            "drafts": Drafts,
        }
        folders = [
            cls(
                _distinguished_id=DistinguishedFolderId(id=name, mailbox=mailbox), root=account.root
            )
            for name, cls in wanted.items()
        ]
        found = list(FolderCollection(account=account, folders=folders).resolve())
        for name, folder in zip(wanted, found, strict=True):
            if isinstance(folder, Exception):
                raise folder
            self._well_known[name] = folder

    @property
    def account(self) -> Any:
        return self._connect()

    def open(self, folders: Sequence[str]) -> None:
        self._connect()
        for name in folders:
            self._folder(name, create=True)

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
        self._interrupt_stream()

    def _interrupt_stream(self) -> None:
        """End the watcher's blocking read at once: shut its socket down.

        Closing the response from this thread would wait for the other thread's
        read to finish (up to the stream's timeout); a socket shutdown does not.
        """
        response = getattr(self._stream, "_streaming_response", None)
        connection = getattr(getattr(response, "raw", None), "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- folders ----------------------------------------------------------------------

    def _folder(self, name: str, *, create: bool = False) -> Any:
        """The exchangelib folder for a logical name (`/` nests under the mailbox root).

        Found with FindFolder on the parent, never through exchangelib's folder cache,
        which does not see folders created after its first traversal.
        """
        self._connect()
        if name.upper() == INBOX:
            return self._well_known["inbox"]
        with self._lock:
            cached = self._folders.get(name)
            if cached is not None:
                return cached
            parent = self._well_known["msgfolderroot"]
            parts = [p for p in name.split("/") if p]
            if not parts:
                raise MailboxError(f"folder name {name!r} is empty", permanent=True)
            for depth, part in enumerate(parts, start=1):
                path = "/".join(parts[:depth])
                child = self._folders.get(path)
                if child is None:
                    child = self._call(
                        f"finding folder {path!r}", partial(self._child, parent, part)
                    )
                if child is None:
                    if not create:
                        raise MailboxError(f"folder {path!r} does not exist in the mailbox")
                    child = self._call(
                        f"creating folder {path!r}", partial(self._create_child, parent, part)
                    )
                    log.info("created folder %r in %s", path, self.settings.address)
                self._folders[path] = child
                parent = child
            return parent

    def _child(self, parent: Any, name: str) -> Any | None:
        query = SingleFolderQuerySet(account=self._account, folder=parent).depth(SHALLOW)
        for found in query.filter(name=name).only("name"):
            if isinstance(found, Exception):
                raise found
            if (found.name or "").lower() == name.lower():
                return found
        return None

    def _create_child(self, parent: Any, name: str) -> Any:
        try:
            made = CreateFolder(account=self._account).get(
                parent_folder=parent,
                folders=[Folder(parent=parent, name=name, folder_class="IPF.Note")],
            )
        except ErrorFolderExists:
            made = self._child(parent, name)  # created by someone else meanwhile
            if made is None:
                raise
        return Folder(parent=parent, id=made.id, changekey=made.changekey, name=name)

    def _forget_folder(self, name: str) -> None:
        with self._lock:
            for path in [p for p in self._folders if p == name or p.startswith(name + "/")]:
                del self._folders[path]

    # -- listing ----------------------------------------------------------------------

    def _sync_page(
        self, folder: Any, sync_state: str | None, fields: Iterable[str]
    ) -> tuple[list[tuple[str, Any]], str, bool]:
        service = SyncFolderItems(account=self.account)
        changes = list(
            service.call(
                folder=folder,
                shape=ID_ONLY,
                additional_fields=set(folder.normalize_fields(fields=list(fields))),
                sync_state=sync_state,
                ignore=None,
                max_changes_returned=self.page_size,
                sync_scope="NormalItems",
            )
        )
        for change in changes:
            if isinstance(change, Exception):
                raise change
        return changes, service.sync_state, bool(service.includes_last_item_in_range)

    def _sync(
        self, name: str, since: str | None, fields: Iterable[str]
    ) -> tuple[list[Any], str, bool]:
        """One page of creations in a folder; an unusable sync state starts from scratch."""
        folder = self._folder(name)

        def page() -> tuple[list[tuple[str, Any]], str, bool]:
            try:
                return self._sync_page(folder, since, fields)
            except ErrorInvalidSyncStateData:
                log.warning("sync state of %r is no longer valid; listing it again", name)
                return self._sync_page(folder, None, fields)
            except ErrorFolderNotFound:
                self._forget_folder(name)
                raise

        changes, state, last = self._call(f"listing {name!r}", page)
        if state == since and not last and not changes:
            last = True  # exchangelib notes servers that repeat the state: stop, do not spin
        created = [item for kind, item in changes if kind == SyncFolderItems.CREATE]
        created.sort(key=lambda item: item.datetime_received or datetime.max.astimezone())
        return created, state, last

    def scan(self, folder: str, since: Mapping[str, Any] | None = None) -> Listing:
        """One SyncFolderItems page; the checkpoint is the sync state after it."""
        state = since.get("sync_state") if since else None
        created, new_state, last = self._sync(folder, state, ("datetime_received", "size"))
        keys = []
        for item in created:
            keys.append(item.id)
            if item.size:
                self._sizes[item.id] = int(item.size)
        return Listing(keys, {"sync_state": new_state}, more=not last)

    # -- reading ----------------------------------------------------------------------

    def _chunks(self, keys: Sequence[str]) -> Iterable[list[str]]:
        """Groups of keys whose MIME stays small enough to be read quickly."""
        chunk: list[str] = []
        size = 0
        for key in keys:
            item_size = self._sizes.get(key, _UNKNOWN_SIZE)
            if chunk and (
                len(chunk) >= self.fetch_max_items or size + item_size > self.fetch_max_bytes
            ):
                yield chunk
                chunk, size = [], 0
            chunk.append(key)
            size += item_size
        if chunk:
            yield chunk

    def _get_mime(self, keys: list[str]) -> list[Any]:
        return list(
            self.account.fetch(
                ids=[ItemId(id=key) for key in keys],
                only_fields=["mime_content"],
                chunk_size=len(keys),
            )
        )

    def fetch_many(self, folder: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The raw bytes of several messages; keys that are gone are missing from the result.

        Each GetItem asks for a bounded number of bytes (sizes come from the listing).
        """
        found: dict[str, bytes] = {}
        for chunk in self._chunks(list(dict.fromkeys(keys))):
            items = self._call(
                f"fetching {len(chunk)} message(s) from {folder!r}",
                partial(self._get_mime, chunk),
            )
            for key, item in zip(chunk, items, strict=True):
                if isinstance(item, _GONE) or item is None:
                    continue
                if isinstance(item, _UNREADABLE):
                    log.warning("message %s in %r cannot be read as MIME: %s", key, folder, item)
                    found[key] = _placeholder(key, str(item))
                    continue
                if isinstance(item, Exception):
                    raise self._error(f"fetching a message from {folder!r}", item)
                raw = item.mime_content
                found[key] = raw if raw else _placeholder(key, "no MIME content")
                self._sizes.pop(key, None)
        return found

    def fetch(self, folder: str, key: str) -> bytes:
        found = self.fetch_many(folder, [key])
        if key not in found:
            raise MailboxError(f"message {key} is no longer in {folder!r}", permanent=True)
        return found[key]

    # -- moving -----------------------------------------------------------------------

    def _move_chunk(self, keys: list[str], target: Any) -> list[Any]:
        return list(
            self.account.bulk_move(
                ids=[ItemId(id=key) for key in keys], to_folder=target, chunk_size=MOVE_CHUNK
            )
        )

    def move_many(
        self, folder: str, keys: Sequence[str], destination: str
    ) -> dict[str, str | None]:
        """Move several messages with MoveItem (a hundred per request).

        Maps each key to its new key, or None when the message was already gone.
        """
        target = self._folder(destination, create=True)
        moved: dict[str, str | None] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), MOVE_CHUNK):
            chunk = unique[start : start + MOVE_CHUNK]
            results = self._call(
                f"moving {len(chunk)} message(s) to {destination!r}",
                partial(self._move_chunk, chunk, target),
            )
            for key, result in zip(chunk, results, strict=True):
                if isinstance(result, _GONE) or result is None:
                    moved[key] = None
                elif isinstance(result, Exception):
                    raise self._error(f"moving a message to {destination!r}", result)
                else:
                    new_id = result[0] if isinstance(result, tuple) else getattr(result, "id", None)
                    moved[key] = new_id
        return moved

    def move(self, folder: str, key: str, destination: str) -> str | None:
        return self.move_many(folder, [key], destination).get(key)

    # -- writing ----------------------------------------------------------------------

    def _create(
        self, raw: bytes, message_id: str, folder: Any, disposition: str, **fields: Any
    ) -> Any:
        message = Message(
            account=self.account,
            folder=folder,
            mime_content=raw,
            mailbot_message_id=message_id,
            **fields,
        )
        return CreateItem(account=self.account).get(
            items=[message],
            folder=folder,
            message_disposition=disposition,
            send_meeting_invitations=SEND_TO_NONE,
        )

    def send(self, raw: bytes, envelope: Envelope, message_id: str) -> str:
        """SendAndSaveCopy; then the copy in Sent tells which Message-ID the server used."""
        sent = self._well_known_folder("sentitems")
        in_headers = _header_addresses(raw)
        extra = [r for r in envelope.recipients if r.lower() not in in_headers]
        fields: dict[str, Any] = {}
        if extra:
            fields["bcc_recipients"] = [EwsAddress(email_address=r) for r in extra]
        header_id = _header_message_id(raw)
        try:
            self._call(
                "sending a message",
                lambda: self._create(raw, message_id, sent, SEND_AND_SAVE_COPY, **fields),
            )
        except MailboxError as exc:
            # a timeout may hide a message that did go out: Sent Items tells
            if exc.permanent or self._find(sent, message_id, header_id) is None:
                raise
            log.warning("sending %s seemed to fail, but its copy is in Sent Items", message_id)
        deadline = time.monotonic() + self.sent_lookup_seconds
        delay = 0.2
        while True:
            copy = self._find(sent, message_id, header_id)
            if copy is not None:
                used = _bare(copy.message_id) or header_id or message_id
                if used != message_id:
                    log.info("Exchange replaced Message-ID %s with %s", message_id, used)
                return used
            if time.monotonic() + delay > deadline:
                log.warning("sent %s, but its copy did not show up in Sent in time", message_id)
                return message_id
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def save_draft(self, raw: bytes, message_id: str) -> str:
        drafts = self._well_known_folder("drafts")
        result = self._call(
            "saving a draft",
            lambda: self._create(
                raw, message_id, drafts, SAVE_ONLY, mailbot_flags=_MSGFLAG_READ_UNSENT
            ),
        )
        return str(result.id)

    def _well_known_folder(self, name: str) -> Any:
        self._connect()
        return self._well_known[name]

    @staticmethod
    def _ours(message_id: str, header_id: str | None = None) -> Any:
        query = Q(message_id=_angle(message_id)) | Q(mailbot_message_id=message_id)
        if header_id and header_id != message_id:
            query |= Q(message_id=_angle(header_id))
        return query

    def _find(self, folder: Any, message_id: str, header_id: str | None = None) -> Any | None:
        """The item with our Message-ID (by header or by our named property), with its header."""

        def find() -> Any | None:
            query = self._ours(message_id, header_id)
            for item in folder.filter(query).only("message_id")[:1]:
                if isinstance(item, Exception):
                    raise item
                return item
            return None

        return self._call("searching a folder", find)

    def _exists(self, folder: Any, message_id: str) -> bool:
        return bool(
            self._call("searching a folder", lambda: folder.filter(self._ours(message_id)).exists())
        )

    def was_sent(self, message_id: str) -> bool:
        return self._exists(self._well_known_folder("sentitems"), message_id)

    def has_draft(self, message_id: str) -> bool:
        return self._exists(self._well_known_folder("drafts"), message_id)

    def sent_messages(self, since_key: str | None) -> tuple[list[SentCopy], str | None]:
        """New items in Sent; the key is Sent's sync state after them."""
        sent = self._well_known_folder("sentitems")
        created: list[Any] = []
        state = since_key
        while True:
            page, state, last = self._call(
                "listing Sent",
                partial(self._sync_sent_page, sent, state),
            )
            created += [item for kind, item in page if kind == SyncFolderItems.CREATE]
            if last:
                break
        copies: list[SentCopy] = []
        for start in range(0, len(created), 25):  # a group at a time: only headers are kept
            group = created[start : start + 25]
            raws = self.fetch_many("Sent", [item.id for item in group])
            for item in group:
                if item.id not in raws:
                    continue
                copy = SentCopy.from_header(
                    item.id, raws[item.id], message_id=_bare(item.message_id)
                )
                if item.mailbot_case:  # the property Exchange keeps, before the header
                    copy = replace(copy, case_ref=case_of_header(item.mailbot_case))
                copies.append(copy)
        return copies, state

    def sent_marker(self) -> str | None:
        """The key of "now" in Sent, without reading a single message.

        What `sent_messages(None)` returns as its key, but it costs one IdOnly
        SyncFolderItems page per 500 items instead of fetching all of Sent:
        for a first look at Sent, where everything is history anyway.
        """
        sent = self._well_known_folder("sentitems")
        state = None
        while True:
            _, state, last = self._call(
                "listing Sent",
                partial(self._sync_sent_page, sent, state, ()),
            )
            if last:
                return state

    def _sync_sent_page(
        self,
        sent: Any,
        state: str | None,
        fields: Iterable[str] = ("datetime_received", "size", "message_id", "mailbot_case"),
    ) -> tuple[list[tuple[str, Any]], str, bool]:
        try:
            changes, new_state, last = self._sync_page(sent, state, fields)
        except ErrorInvalidSyncStateData:
            changes, new_state, last = self._sync_page(sent, None, fields)
        for _, item in changes:
            if getattr(item, "size", None):
                self._sizes[item.id] = int(item.size)
        return changes, new_state, last or (new_state == state and not changes)

    # -- waiting ----------------------------------------------------------------------

    def watch(self, folders: Sequence[str]) -> None:
        """Subscribe to streaming notifications on `folders` (the daemon's watched ones)."""
        self._watched = list(folders)
        self._subscription = None
        self._start_watching()

    def _subscribe(self) -> None:
        folders = [self._folder(name) for name in self._watched]
        ids = {str(f.id) for f in folders}

        def subscribe() -> str:
            collection = FolderCollection(account=self.account, folders=folders)
            return str(collection.subscribe_to_streaming(event_types=_ARRIVAL_EVENTS))

        self._subscription = self._call("subscribing to notifications", subscribe)
        self._watched_ids = ids

    def _start_watching(self) -> None:
        """Subscribe now (events queue on the server from here on), then stream in a thread."""
        try:
            self._subscribe()
        except MailboxError as exc:
            if not self._push_refused:
                log.info("no streaming notifications (%s); polling on the timer instead", exc)
            self._push_refused = True
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(
                target=self._stream_events, name="ews-notifications", daemon=True
            )
            self._watcher.start()

    def _stream_events(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if self._subscription is None:
                try:
                    self._subscribe()
                    self._push_refused = False
                except MailboxError:
                    self._push_refused = True
                    failures += 1
                    self._stop.wait(min(300.0, 5.0 * 2**failures))
                    continue
            try:
                started = time.monotonic()
                self._read_stream()
                failures = 0
                if time.monotonic() - started < 1.0:
                    self._stop.wait(1.0)  # a server that closes at once must not make us spin
            except _SUBSCRIPTION_LOST:
                self._subscription = None
            except Exception as exc:  # anything: the stream is only a wake-up
                if self._stop.is_set():
                    return
                failures += 1
                log.debug("notification stream broke off: %s", exc)
                self._subscription = None
                self._stop.wait(min(300.0, 2.0 * 2**failures))

    def _read_stream(self) -> None:
        service = GetStreamingEvents(account=self.account)
        self._stream = service
        try:
            for notification in service.call(
                subscription_ids=[self._subscription], connection_timeout=self.stream_minutes
            ):
                if isinstance(notification, Exception):
                    raise notification
                if self._stop.is_set():
                    return
                if any(self._arrived(event) for event in notification.events or ()):
                    self._changed.set()
        finally:
            self._stream = None

    def _arrived(self, event: Any) -> bool:
        if type(event).__name__ not in _ARRIVAL_EVENTS:
            return False
        parent = getattr(event, "parent_folder_id", None)
        # a move out of a watched folder (our own moves) reports the new parent: not for us
        return parent is None or str(parent.id) in self._watched_ids

    def wait(self, timeout: float) -> bool:
        """Woken by a streaming notification; without one, sleep (the daemon polls)."""
        if self._watcher is None:
            self._start_watching()
        if self._push_refused and self._subscription is None:
            self._stop.wait(timeout)
            return False
        woke = self._changed.wait(timeout)
        if self._stop.is_set():
            return False
        if woke:
            self._changed.clear()
        return woke

    # -- check-config ----------------------------------------------------------------------------

    def probe(self) -> list[str]:
        """What `mailbot check-config` reports: who we are, which folders exist.

        Creates nothing. Raises `MailboxError` when the mailbox cannot be reached at all.
        """
        settings = self.settings
        account = self._connect()
        self._call("reading the folders", partial(self._load_well_known, account))  # fresh counts
        version = account.version
        lines = [
            f"EWS: connected to {account.protocol.service_endpoint} ({settings.describe})",
            f"server: {version.api_version} (build {version.build})",
            f"mailbox: {settings.address} ({settings.access_type} access)",
        ]
        for label, name in (("Inbox", "inbox"), ("Sent Items", "sentitems"), ("Drafts", "drafts")):
            folder = self._well_known[name]
            lines.append(
                f"folder {label}: found ({folder.total_count} messages, "
                f"{folder.unread_count} unread)"
            )
        lines += folder_report(self.config_folders, self._folder)
        drafts = self._well_known["drafts"]
        rights = getattr(drafts, "effective_rights", None)
        can_create = getattr(rights, "create_contents", None)
        if can_create is not None:
            lines.append(f"Drafts: {'may' if can_create else 'may NOT'} create items")
        lines.append(
            "sending: not tried (check-config sends nothing); "
            "needs Send As or full access to the mailbox"
        )
        try:
            self._subscribe()
            lines.append("streaming notifications: available")
        except MailboxError as exc:
            lines.append(f"streaming notifications: not available ({exc}); polling instead")
        return lines


# -- configuration -------------------------------------------------------------------


def parse_version(text: str | None) -> Any | None:
    """`Exchange2016` etc. from the config; None lets exchangelib ask the server."""
    if not text:
        return None
    build = VERSIONS.get(re.sub(r"[\s-]", "", text).lower())
    if build is None:
        known = ", ".join(sorted({"Exchange2010", "Exchange2013", "Exchange2016", "Exchange2019"}))
        raise ConfigError([f"mailbox.ews.version: unknown version {text!r} (known: {known})"])
    return Version(build=build)


def settings_from_config(config: Config) -> EwsSettings:
    ews = config.mailbox.ews
    if ews is None:
        raise ConfigError(['backend = "ews" needs a [mailbox.ews] section'])
    address = config.mailbox.address
    if ews.auth == "oauth2":
        secret = config.secrets.get("mailbox.ews.client_secret")
        missing = [
            key
            for key, value in (
                ("tenant_id", ews.tenant_id),
                ("client_id", ews.client_id),
                ("client_secret_env or client_secret_file", secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                [f"mailbox.ews.{key}: required with auth = oauth2" for key in missing]
            )
        assert secret is not None
        credentials = OAuth2Credentials(
            client_id=ews.client_id,
            client_secret=secret.get_secret_value(),
            tenant_id=ews.tenant_id,
            identity=Identity(primary_smtp_address=address),
        )
        return EwsSettings(
            address=address,
            service_endpoint=ews.service_endpoint
            or "https://outlook.office365.com/EWS/Exchange.asmx",
            credentials=credentials,
            auth_type=OAUTH2,
            access_type=IMPERSONATION if ews.impersonate else DELEGATE,
            version=parse_version(ews.version),
            describe=f"oauth2 client credentials, app {ews.client_id}",
        )
    password = config.secrets.get("mailbox.ews.password")
    if not ews.username or password is None:
        raise ConfigError(
            [
                "mailbox.ews.username and password_env/password_file: "
                f"required with auth = {ews.auth}"
            ]
        )
    return EwsSettings(
        address=address,
        service_endpoint=ews.service_endpoint,
        credentials=Credentials(ews.username, password.get_secret_value()),
        auth_type=NTLM if ews.auth == "ntlm" else BASIC,
        # a service account with Full Access and Send As on the shared mailbox
        # (`impersonate` is for oauth2, as config.example.toml says)
        access_type=DELEGATE,
        version=parse_version(ews.version),
        describe=f"{ews.auth} as {ews.username}",
    )


def from_config(config: Config) -> EwsMailbox:
    """Builds the mailbox; nothing connects until it is opened."""
    folders = config.mailbox.folders
    return EwsMailbox(
        settings_from_config(config),
        config_folders=(
            folders.compliments,
            folders.processed,
            folders.triage,
            folders.quarantine,
        ),
    )
