"""An in-process Exchange Web Services endpoint, so exchangelib's real code runs in tests.

It speaks SOAP over real HTTP (`http://127.0.0.1:PORT/EWS/Exchange.asmx`, basic
authentication) for the operations mailbot uses: GetFolder, FindFolder,
CreateFolder, SyncFolderItems, GetItem, MoveItem, CreateItem, FindItem,
Subscribe (streaming), GetStreamingEvents and Unsubscribe. The XML follows
Microsoft's EWS reference and the fixtures in exchangelib's own tests
(namespaces, `ResponseClass`, `ResponseCode`, `MessageText`, the SOAP fault
with `BackOffMilliseconds` that Exchange sends when it throttles).

Behind it sits a tiny mailbox: folders holding items with their MIME bytes.
Like Exchange, it gives an item a new id when it moves, maps `X-` headers to
PS_INTERNET_HEADERS properties, and can be told to replace client Message-IDs.

What it cannot show: how a real server orders and pages sync results, how
it rewrites MIME (Exchange regenerates it; this fake returns bytes unchanged),
NTLM, autodiscover, and the timing of a real Sent copy. See docs/exchange.md.

Test controls: `throttle()`, `expire_sync_states()`, `deliver()`,
`folder_messages()`, `counts` (requests per operation), `sent` (what left).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import itertools
import json
import socket
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape, quoteattr

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
PUBLIC_STRINGS = "00020329-0000-0000-c000-000000000046"
INTERNET_HEADERS = "00020386-0000-0000-c000-000000000046"
_SETS = {"PublicStrings": PUBLIC_STRINGS, "InternetHeaders": INTERNET_HEADERS}

_HEADER = (
    "<s:Header>"
    '<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" '
    'MinorBuildNumber="23" Version="V2017_07_11" '
    'xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" '
    'xmlns="http://schemas.microsoft.com/exchange/services/2006/types" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
    "</s:Header>"
)


def envelope(body: str, header: bool = True) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{S}">'
        + (_HEADER if header else "")
        + '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">' + body + "</s:Body></s:Envelope>"
    ).encode()


def server_busy(back_off_ms: int) -> bytes:
    """The fault Exchange answers with (HTTP 500) when it throttles a client."""
    return envelope(
        "<s:Fault>"
        f'<faultcode xmlns:a="{T}">a:ErrorServerBusy</faultcode>'
        '<faultstring xml:lang="en-US">The server cannot service this request right now. '
        "Try again later.</faultstring>"
        "<detail>"
        '<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
        "ErrorServerBusy</e:ResponseCode>"
        '<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
        "The server cannot service this request right now. Try again later.</e:Message>"
        f'<t:MessageXml xmlns:t="{T}"><t:Value Name="BackOffMilliseconds">{back_off_ms}'
        "</t:Value></t:MessageXml>"
        "</detail></s:Fault>",
        header=False,
    )


def _response(operation: str, messages: list[str]) -> str:
    return (
        f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}"><m:ResponseMessages>'
        + "".join(messages)
        + f"</m:ResponseMessages></m:{operation}Response>"
    )


def _ok(operation: str, inner: str = "") -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{operation}ResponseMessage>"
    )


_ERROR_TEXT = {
    "ErrorItemNotFound": "The specified object was not found in the store., "
    "The process failed to get the correct properties.",
    "ErrorInvalidIdMalformed": "Id is malformed.",
    "ErrorFolderNotFound": "The specified folder could not be found in the store.",
    "ErrorFolderExists": "A folder with the specified name already exists.",
    "ErrorInvalidSyncStateData": "Synchronization state data is corrupt or otherwise invalid.",
    "ErrorSubscriptionNotFound": "The specified subscription was not found.",
    "ErrorNonExistentMailbox": "The SMTP address has no mailbox associated with it.",
    "ErrorAccessDenied": "Access is denied. Check credentials and try again.",
    "ErrorInvalidPropertySet": "Property is read-only and can't be set.",
    "ErrorSubscriptionAccessDenied": "You don't have permission to subscribe to this folder.",
}


def _error(operation: str, code: str, extra: str = "") -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error">'
        f"<m:MessageText>{escape(_ERROR_TEXT.get(code, code))}</m:MessageText>"
        f"<m:ResponseCode>{code}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{extra}"
        f"</m:{operation}ResponseMessage>"
    )


class Refused(Exception):
    """One response message answers with an error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _new_id(kind: bytes) -> str:
    # Real ids are base64 of a binary store id; this keeps the look and the length.
    raw = b"\x00\x00\x00\x00" + kind + b"\x00" + uuid.uuid4().bytes + uuid.uuid4().bytes
    return base64.b64encode(raw).decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeFolder:
    id: str
    name: str
    parent_id: str | None
    distinguished: str | None = None
    folder_class: str | None = "IPF.Note"


@dataclass
class FakeItem:
    id: str
    folder_id: str
    mime: bytes
    received: datetime
    internet_message_id: str | None
    is_read: bool = False
    is_draft: bool = False
    item_class: str = "IPM.Note"
    changekey: str = field(default_factory=lambda: base64.b64encode(uuid.uuid4().bytes).decode())
    properties: dict[tuple[str, str], str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        value = BytesHeaderParser(policy=compat32).parsebytes(self.mime).get(name)
        return str(value) if value is not None else None


@dataclass
class Subscription:
    id: str
    folder_ids: set[str]
    events: list[tuple[str, FakeItem, str, str | None]] = field(default_factory=list)


@dataclass
class Throttle:
    remaining: int
    back_off_ms: int
    operation: str | None


class EwsFakeServer:
    """See the module docstring. Start with `start()`, stop with `stop()`."""

    def __init__(
        self,
        address: str = "leveranciers@gemeente.example",
        username: str = "svc-mailbot",
        password: str = "geheim",
    ) -> None:
        self.address = address.lower()
        self.username = username
        self.password = password
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.folders: dict[str, FakeFolder] = {}
        self.items: dict[str, FakeItem] = {}
        self.log: list[tuple[int, str, str, str]] = []  # (seq, folder id, kind, item id)
        self._seq = itertools.count(1)
        self.counts: Counter[str] = Counter()
        self.sent: list[tuple[list[str], bytes]] = []
        self.throttles: list[Throttle] = []
        self.sync_generation = 1
        self.replace_message_ids = False
        self.subscriptions: dict[str, Subscription] = {}
        self.stream_seconds = 60.0
        self.refuse_subscriptions = False
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        root = self._add_folder("root", None, "root", folder_class=None)
        top = self._add_folder("Top of Information Store", root.id, "msgfolderroot")
        for name, wellknown in (
            ("Inbox", "inbox"),
            ("Sent Items", "sentitems"),
            ("Drafts", "drafts"),
            ("Deleted Items", "deleteditems"),
        ):
            self._add_folder(name, top.id, wellknown)
        self.httpd: ThreadingHTTPServer | None = None

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> EwsFakeServer:
        server = self

        class Handler(_Handler):
            fake = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="ews-fake", daemon=True
        ).start()
        return self

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/EWS/Exchange.asmx"

    def stop(self) -> None:
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        for sock in list(self._connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- the mailbox model ------------------------------------------------------------

    def _add_folder(
        self,
        name: str,
        parent: str | None,
        wellknown: str | None = None,
        folder_class: str | None = "IPF.Note",
    ) -> FakeFolder:
        folder = FakeFolder(_new_id(b"F"), name, parent, wellknown, folder_class)
        self.folders[folder.id] = folder
        return folder

    def wellknown(self, name: str) -> FakeFolder:
        return next(f for f in self.folders.values() if f.distinguished == name)

    def folder_by_path(self, path: str) -> FakeFolder | None:
        """A folder by the logical name mailbot uses (`INBOX`, `a/b`)."""
        with self.lock:
            if path.upper() == "INBOX":
                return self.wellknown("inbox")
            if path in ("Sent", "Sent Items"):
                return self.wellknown("sentitems")
            if path == "Drafts":
                return self.wellknown("drafts")
            folder = self.wellknown("msgfolderroot")
            for part in [p for p in path.split("/") if p]:
                child = self._child(folder.id, part)
                if child is None:
                    return None
                folder = child
            return folder

    def _child(self, parent_id: str, name: str) -> FakeFolder | None:
        return next(
            (
                f
                for f in self.folders.values()
                if f.parent_id == parent_id and f.name.lower() == name.lower()
            ),
            None,
        )

    def _record(self, folder_id: str, kind: str, item_id: str) -> None:
        self.log.append((next(self._seq), folder_id, kind, item_id))
        self.changed.notify_all()

    def _notify(self, event: str, item: FakeItem, old_folder: str | None = None) -> None:
        for sub in self.subscriptions.values():
            if item.folder_id in sub.folder_ids or old_folder in sub.folder_ids:
                sub.events.append((event, item, item.folder_id, old_folder))
        self.changed.notify_all()

    def _store(
        self, folder_id: str, mime: bytes, *, new_mail: bool = True, **fields: Any
    ) -> FakeItem:
        parsed = BytesHeaderParser(policy=compat32).parsebytes(mime)
        message_id = parsed.get("Message-ID")
        item = FakeItem(
            id=_new_id(b"I"),
            folder_id=folder_id,
            mime=mime,
            received=datetime.now(UTC),
            internet_message_id=str(message_id).strip() if message_id else None,
            **fields,
        )
        self.items[item.id] = item
        self._record(folder_id, "create", item.id)
        if new_mail:
            self._notify("NewMailEvent", item)
        self._notify("CreatedEvent", item)
        return item

    def deliver(self, path: str, raw: bytes) -> str:
        """A message arrives in a folder from outside (transport, a rule, a user's move)."""
        with self.changed:
            folder = self.folder_by_path(path)
            assert folder is not None, f"no folder {path!r}"
            return self._store(folder.id, raw).id

    def folder_messages(self, path: str) -> list[bytes]:
        with self.lock:
            folder = self.folder_by_path(path)
            if folder is None:
                return []
            return [i.mime for i in self._in_folder(folder.id)]

    def folder_items(self, path: str) -> list[FakeItem]:
        with self.lock:
            folder = self.folder_by_path(path)
            return [] if folder is None else self._in_folder(folder.id)

    def _in_folder(self, folder_id: str) -> list[FakeItem]:
        return [i for i in self.items.values() if i.folder_id == folder_id]

    def throttle(
        self, times: int = 1, back_off_ms: int = 1000, operation: str | None = None
    ) -> None:
        """The next `times` requests (of `operation`) get ErrorServerBusy."""
        with self.lock:
            self.throttles.append(Throttle(times, back_off_ms, operation))

    def expire_sync_states(self) -> None:
        """Every sync state handed out so far becomes invalid (ErrorInvalidSyncStateData)."""
        with self.lock:
            self.sync_generation += 1

    def total_requests(self) -> int:
        return sum(self.counts.values())

    # -- request handling -------------------------------------------------------------

    def handle(self, operation_elem: ET.Element) -> tuple[int, bytes]:
        operation = operation_elem.tag.split("}")[1]
        with self.changed:
            self.counts[operation] += 1
            for throttle in self.throttles:
                if throttle.remaining > 0 and throttle.operation in (None, operation):
                    throttle.remaining -= 1
                    return 500, server_busy(throttle.back_off_ms)
            handler = getattr(self, f"op_{operation}", None)
            if handler is None:
                return 500, envelope(
                    "<s:Fault><faultcode>a:ErrorInvalidRequest</faultcode>"
                    f"<faultstring>The fake does not know {operation}</faultstring></s:Fault>"
                )
            return 200, envelope(handler(operation_elem))

    # folder ids in requests

    def _resolve_folder(self, elem: ET.Element) -> FakeFolder:
        local = elem.tag.split("}")[1]
        if local == "DistinguishedFolderId":
            mailbox = elem.find(f"{{{T}}}Mailbox/{{{T}}}EmailAddress")
            if mailbox is not None and (mailbox.text or "").lower() != self.address:
                raise Refused("ErrorNonExistentMailbox")
            name = elem.get("Id", "")
            found = next((f for f in self.folders.values() if f.distinguished == name), None)
        else:
            found = self.folders.get(elem.get("Id", ""))
        if found is None:
            raise Refused("ErrorFolderNotFound")
        return found

    def _folder_xml(self, folder: FakeFolder) -> str:
        items = self._in_folder(folder.id)
        children = [f for f in self.folders.values() if f.parent_id == folder.id]
        parent = (
            f'<t:ParentFolderId Id="{folder.parent_id}" ChangeKey="AQAAAA=="/>'
            if folder.parent_id
            else ""
        )
        folder_class = (
            f"<t:FolderClass>{folder.folder_class}</t:FolderClass>" if folder.folder_class else ""
        )
        return (
            f'<t:Folder><t:FolderId Id="{folder.id}" ChangeKey="AQAAABYAAAA="/>{parent}'
            f"{folder_class}<t:DisplayName>{escape(folder.name)}</t:DisplayName>"
            f"<t:TotalCount>{len(items)}</t:TotalCount>"
            f"<t:ChildFolderCount>{len(children)}</t:ChildFolderCount>"
            "<t:EffectiveRights><t:CreateAssociated>true</t:CreateAssociated>"
            "<t:CreateContents>true</t:CreateContents><t:CreateHierarchy>true</t:CreateHierarchy>"
            "<t:Delete>true</t:Delete><t:Modify>true</t:Modify><t:Read>true</t:Read>"
            "<t:ViewPrivateItems>true</t:ViewPrivateItems></t:EffectiveRights>"
            f"<t:UnreadCount>{sum(1 for i in items if not i.is_read)}</t:UnreadCount>"
            "</t:Folder>"
        )

    def op_GetFolder(self, op: ET.Element) -> str:
        messages = []
        for elem in op.find(f"{{{M}}}FolderIds") or []:
            try:
                folder = self._resolve_folder(elem)
                messages.append(
                    _ok("GetFolder", f"<m:Folders>{self._folder_xml(folder)}</m:Folders>")
                )
            except Refused as refused:
                messages.append(_error("GetFolder", refused.code))
        return _response("GetFolder", messages)

    def op_FindFolder(self, op: ET.Element) -> str:
        restriction = op.find(f"{{{M}}}Restriction")
        messages = []
        for elem in op.find(f"{{{M}}}ParentFolderIds") or []:
            try:
                parent = self._resolve_folder(elem)
            except Refused as refused:
                messages.append(_error("FindFolder", refused.code))
                continue
            found = [
                f
                for f in self.folders.values()
                if f.parent_id == parent.id
                and (restriction is None or self._matches(restriction[0], folder=f))
            ]
            xml = "".join(self._folder_xml(f) for f in found)
            messages.append(
                _ok(
                    "FindFolder",
                    f'<m:RootFolder IndexedPagingOffset="{len(found)}" '
                    f'TotalItemsInView="{len(found)}"'
                    f' IncludesLastItemInRange="true"><t:Folders>{xml}</t:Folders></m:RootFolder>',
                )
            )
        return _response("FindFolder", messages)

    def op_CreateFolder(self, op: ET.Element) -> str:
        parent_elem = op.find(f"{{{M}}}ParentFolderId")
        assert parent_elem is not None
        parent = self._resolve_folder(parent_elem[0])
        messages = []
        for elem in op.find(f"{{{M}}}Folders") or []:
            name = elem.findtext(f"{{{T}}}DisplayName") or ""
            if self._child(parent.id, name) is not None:
                messages.append(_error("CreateFolder", "ErrorFolderExists"))
                continue
            folder = self._add_folder(
                name, parent.id, folder_class=elem.findtext(f"{{{T}}}FolderClass")
            )
            messages.append(
                _ok(
                    "CreateFolder",
                    f'<m:Folders><t:Folder><t:FolderId Id="{folder.id}" ChangeKey="AQAAABYAAAA="/>'
                    "</t:Folder></m:Folders>",
                )
            )
        return _response("CreateFolder", messages)

    # items

    def _requested(
        self, op: ET.Element, shape: str = "ItemShape"
    ) -> tuple[set[str], list[ET.Element]]:
        fields: set[str] = set()
        extended: list[ET.Element] = []
        props = op.find(f"{{{M}}}{shape}/{{{T}}}AdditionalProperties")
        for elem in props if props is not None else []:
            if elem.tag == f"{{{T}}}FieldURI":
                fields.add(elem.get("FieldURI", ""))
            elif elem.tag == f"{{{T}}}ExtendedFieldURI":
                extended.append(elem)
        return fields, extended

    def _property_key(self, uri: ET.Element) -> tuple[str, str]:
        if uri.get("PropertyTag"):
            return ("tag", str(int(uri.get("PropertyTag", "0"), 0)))
        set_id = uri.get("PropertySetId") or _SETS.get(
            uri.get("DistinguishedPropertySetId", ""), ""
        )
        return (set_id.lower(), uri.get("PropertyName") or uri.get("PropertyId") or "")

    def _property(self, item: FakeItem, key: tuple[str, str]) -> str | None:
        if key[0] == INTERNET_HEADERS:  # Exchange keeps X- headers in this property set
            return item.header(key[1])
        return item.properties.get(key)

    def _item_xml(self, item: FakeItem, fields: set[str], extended: list[ET.Element]) -> str:
        parts = []
        if "item:MimeContent" in fields:
            parts.append(
                '<t:MimeContent CharacterSet="UTF-8">'
                + base64.b64encode(item.mime).decode()
                + "</t:MimeContent>"
            )
        parts.append(f'<t:ItemId Id="{item.id}" ChangeKey="{item.changekey}"/>')
        if "item:ParentFolderId" in fields:
            parts.append(f'<t:ParentFolderId Id="{item.folder_id}" ChangeKey="AQAAAA=="/>')
        if "item:ItemClass" in fields:
            parts.append(f"<t:ItemClass>{item.item_class}</t:ItemClass>")
        if "item:Subject" in fields:
            parts.append(f"<t:Subject>{escape(item.header('Subject') or '')}</t:Subject>")
        if "item:DateTimeReceived" in fields:
            parts.append(f"<t:DateTimeReceived>{_iso(item.received)}</t:DateTimeReceived>")
        if "item:Size" in fields:
            parts.append(f"<t:Size>{len(item.mime)}</t:Size>")
        if "item:IsDraft" in fields:
            parts.append(f"<t:IsDraft>{str(item.is_draft).lower()}</t:IsDraft>")
        for uri in extended:
            value = self._property(item, self._property_key(uri))
            if value is not None:
                attrs = " ".join(f"{k}={quoteattr(v)}" for k, v in uri.attrib.items())
                parts.append(
                    f"<t:ExtendedProperty><t:ExtendedFieldURI {attrs}/>"
                    f"<t:Value>{escape(value)}</t:Value></t:ExtendedProperty>"
                )
        if "message:IsRead" in fields:
            parts.append(f"<t:IsRead>{str(item.is_read).lower()}</t:IsRead>")
        if "message:InternetMessageId" in fields and item.internet_message_id:
            parts.append(
                f"<t:InternetMessageId>{escape(item.internet_message_id)}</t:InternetMessageId>"
            )
        return "<t:Message>" + "".join(parts) + "</t:Message>"

    def _item(self, elem: ET.Element) -> FakeItem:
        item_id = elem.get("Id", "")
        try:
            decoded = base64.b64decode(item_id, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) < 8:
            raise Refused("ErrorInvalidIdMalformed")
        item = self.items.get(item_id)
        if item is None:
            raise Refused("ErrorItemNotFound")
        return item

    def op_GetItem(self, op: ET.Element) -> str:
        fields, extended = self._requested(op)
        messages = []
        for elem in op.find(f"{{{M}}}ItemIds") or []:
            try:
                item = self._item(elem)
                messages.append(
                    _ok("GetItem", f"<m:Items>{self._item_xml(item, fields, extended)}</m:Items>")
                )
            except Refused as refused:
                messages.append(_error("GetItem", refused.code))
        return _response("GetItem", messages)

    def op_MoveItem(self, op: ET.Element) -> str:
        target_elem = op.find(f"{{{M}}}ToFolderId")
        assert target_elem is not None
        target = self._resolve_folder(target_elem[0])
        messages = []
        for elem in op.find(f"{{{M}}}ItemIds") or []:
            try:
                item = self._item(elem)
            except Refused as refused:
                messages.append(_error("MoveItem", refused.code))
                continue
            old_folder = item.folder_id
            del self.items[item.id]
            self._record(old_folder, "delete", item.id)
            item.id = _new_id(b"I")  # like Exchange: a moved item has a new id
            item.folder_id = target.id
            self.items[item.id] = item
            self._record(target.id, "create", item.id)
            self._notify("MovedEvent", item, old_folder)
            messages.append(
                _ok(
                    "MoveItem",
                    f'<m:Items><t:Message><t:ItemId Id="{item.id}" ChangeKey="{item.changekey}"/>'
                    "</t:Message></m:Items>",
                )
            )
        return _response("MoveItem", messages)

    def op_CreateItem(self, op: ET.Element) -> str:
        disposition = op.get("MessageDisposition", "SaveOnly")
        saved_elem = op.find(f"{{{M}}}SavedItemFolderId")
        folder = (
            self._resolve_folder(saved_elem[0])
            if saved_elem is not None
            else self.wellknown("sentitems")
        )
        messages = []
        for elem in op.find(f"{{{M}}}Items") or []:
            mime_text = elem.findtext(f"{{{T}}}MimeContent") or ""
            mime = base64.b64decode(mime_text)
            properties: dict[tuple[str, str], str] = {}
            for prop in elem.findall(f"{{{T}}}ExtendedProperty"):
                uri = prop.find(f"{{{T}}}ExtendedFieldURI")
                assert uri is not None
                properties[self._property_key(uri)] = prop.findtext(f"{{{T}}}Value") or ""
            bcc = [
                (e.text or "").lower()
                for e in elem.findall(f"{{{T}}}BccRecipients/{{{T}}}Mailbox/{{{T}}}EmailAddress")
            ]
            flags = int(properties.get(("tag", str(0x0E07)), "0"))
            if disposition in ("SendAndSaveCopy", "SendOnly"):
                if self.replace_message_ids:
                    mime = _replace_message_id(
                        mime, f"<{uuid.uuid4().hex}@EXCH01.gemeente.example>"
                    )
                parsed = BytesHeaderParser(policy=compat32).parsebytes(mime)
                values = [str(v) for n in ("To", "Cc", "Bcc") for v in parsed.get_all(n, [])]
                recipients = [a.lower() for _, a in email.utils.getaddresses(values) if a] + bcc
                self.sent.append((recipients, mime))
                if disposition == "SendAndSaveCopy":
                    self._store(
                        folder.id, mime, new_mail=False, is_read=True, properties=properties
                    )
                messages.append(_ok("CreateItem", "<m:Items/>"))
            else:
                item = self._store(
                    folder.id,
                    mime,
                    new_mail=False,
                    is_read=bool(flags & 1),
                    is_draft=bool(flags & 8),
                    properties=properties,
                )
                messages.append(
                    _ok(
                        "CreateItem",
                        f'<m:Items><t:Message><t:ItemId Id="{item.id}" '
                        f'ChangeKey="{item.changekey}"/>'
                        "</t:Message></m:Items>",
                    )
                )
        return _response("CreateItem", messages)

    # restrictions (FindItem, FindFolder)

    def _matches(
        self, cond: ET.Element, item: FakeItem | None = None, folder: FakeFolder | None = None
    ) -> bool:
        local = cond.tag.split("}")[1]
        if local == "Or":
            return any(self._matches(c, item, folder) for c in cond)
        if local == "And":
            return all(self._matches(c, item, folder) for c in cond)
        if local == "Not":
            return not self._matches(cond[0], item, folder)
        if local == "IsEqualTo":
            uri = cond[0]
            constant = cond.find(f"{{{T}}}FieldURIOrConstant/{{{T}}}Constant")
            wanted = constant.get("Value", "") if constant is not None else ""
            if uri.tag == f"{{{T}}}FieldURI":
                name = uri.get("FieldURI")
                if folder is not None and name == "folder:DisplayName":
                    return folder.name.lower() == wanted.lower()
                if item is not None and name == "message:InternetMessageId":
                    return (item.internet_message_id or "").lower() == wanted.lower()
                if item is not None and name == "item:Subject":
                    return (item.header("Subject") or "").lower() == wanted.lower()
                raise AssertionError(f"the fake cannot restrict on {name}")
            if item is not None and uri.tag == f"{{{T}}}ExtendedFieldURI":
                value = self._property(item, self._property_key(uri))
                return value is not None and value.lower() == wanted.lower()
        raise AssertionError(f"the fake cannot evaluate {local}")

    def op_FindItem(self, op: ET.Element) -> str:
        fields, extended = self._requested(op)
        restriction = op.find(f"{{{M}}}Restriction")
        view = op.find(f"{{{M}}}IndexedPageItemView")
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        offset = int(view.get("Offset", "0")) if view is not None else 0
        messages = []
        for elem in op.find(f"{{{M}}}ParentFolderIds") or []:
            try:
                folder = self._resolve_folder(elem)
            except Refused as refused:
                messages.append(_error("FindItem", refused.code))
                continue
            found = [
                i
                for i in self._in_folder(folder.id)
                if restriction is None or self._matches(restriction[0], item=i)
            ]
            page = found[offset : offset + limit]
            xml = "".join(self._item_xml(i, fields, extended) for i in page)
            last = offset + len(page) >= len(found)
            messages.append(
                _ok(
                    "FindItem",
                    f'<m:RootFolder IndexedPagingOffset="{offset + len(page)}" '
                    f'TotalItemsInView="{len(found)}" '
                    f'IncludesLastItemInRange="{str(last).lower()}">'
                    f"<t:Items>{xml}</t:Items></m:RootFolder>",
                )
            )
        return _response("FindItem", messages)

    # synchronisation

    def _sync_state(self, folder_id: str, seq: int) -> str:
        payload = json.dumps({"f": folder_id, "s": seq, "g": self.sync_generation}).encode()
        return base64.b64encode(b"H4sIAAAAAAAEAO29B2AcSZYlJi9tynt" + payload).decode()

    def _read_state(self, text: str, folder_id: str) -> int:
        try:
            raw = base64.b64decode(text, validate=True)
            data = json.loads(raw[len(b"H4sIAAAAAAAEAO29B2AcSZYlJi9tynt") :])
        except (binascii.Error, ValueError):
            raise Refused("ErrorInvalidSyncStateData") from None
        if data.get("f") != folder_id or data.get("g") != self.sync_generation:
            raise Refused("ErrorInvalidSyncStateData")
        return int(data["s"])

    def op_SyncFolderItems(self, op: ET.Element) -> str:
        fields, extended = self._requested(op)
        folder_elem = op.find(f"{{{M}}}SyncFolderId")
        assert folder_elem is not None
        try:
            folder = self._resolve_folder(folder_elem[0])
            state_text = op.findtext(f"{{{M}}}SyncState")
            after = self._read_state(state_text, folder.id) if state_text else 0
        except Refused as refused:
            # as in Microsoft's example: an empty SyncState comes with the error
            tail = "<m:SyncState /><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
            return _response("SyncFolderItems", [_error("SyncFolderItems", refused.code, tail)])
        limit = int(op.findtext(f"{{{M}}}MaxChangesReturned") or "100")
        changes: list[str] = []
        position = after
        entries = [e for e in self.log if e[0] > after and e[1] == folder.id]
        for seq, _, kind, item_id in entries:
            if len(changes) >= limit:
                break
            position = seq
            item = self.items.get(item_id)
            if kind == "create" and item is not None and item.folder_id == folder.id:
                changes.append(f"<t:Create>{self._item_xml(item, fields, extended)}</t:Create>")
            elif kind == "delete" and after > 0:
                changes.append(
                    f'<t:Delete><t:ItemId Id="{item_id}" ChangeKey="AQAAAA=="/></t:Delete>'
                )
            elif kind == "read" and item is not None and item.folder_id == folder.id and after > 0:
                changes.append(
                    f'<t:ReadFlagChange><t:ItemId Id="{item_id}" ChangeKey="{item.changekey}"/>'
                    f"<t:IsRead>{str(item.is_read).lower()}</t:IsRead></t:ReadFlagChange>"
                )
        last = not [e for e in entries if e[0] > position]
        if last:
            position = max([after, *(e[0] for e in self.log)])
        inner = (
            f"<m:SyncState>{self._sync_state(folder.id, position)}</m:SyncState>"
            f"<m:IncludesLastItemInRange>{str(last).lower()}</m:IncludesLastItemInRange>"
            f"<m:Changes>{''.join(changes)}</m:Changes>"
        )
        return _response("SyncFolderItems", [_ok("SyncFolderItems", inner)])

    def mark_read(self, item_id: str) -> None:
        """Someone reads the message in Outlook: a read-flag change, not new mail."""
        with self.changed:
            item = self.items[item_id]
            item.is_read = True
            self._record(item.folder_id, "read", item.id)

    # notifications

    def op_Subscribe(self, op: ET.Element) -> str:
        request = op.find(f"{{{M}}}StreamingSubscriptionRequest")
        if self.refuse_subscriptions:
            return _response("Subscribe", [_error("Subscribe", "ErrorSubscriptionAccessDenied")])
        if request is None:
            return _response("Subscribe", [_error("Subscribe", "ErrorInvalidSubscriptionRequest")])
        ids = {self._resolve_folder(e).id for e in request.find(f"{{{T}}}FolderIds") or []}
        subscription = Subscription(base64.b64encode(uuid.uuid4().bytes * 2).decode(), ids)
        self.subscriptions[subscription.id] = subscription
        return _response(
            "Subscribe",
            [_ok("Subscribe", f"<m:SubscriptionId>{subscription.id}</m:SubscriptionId>")],
        )

    def op_Unsubscribe(self, op: ET.Element) -> str:
        self.subscriptions.pop(op.findtext(f"{{{M}}}SubscriptionId") or "", None)
        return _response("Unsubscribe", [_ok("Unsubscribe")])

    def notification_xml(self, subscription: Subscription) -> str:
        events = []
        for event, item, folder_id, old_folder in subscription.events:
            old = (
                f'<t:OldItemId Id="{item.id}" ChangeKey="{item.changekey}"/>'
                f'<t:OldParentFolderId Id="{old_folder}" ChangeKey="AQAAAA=="/>'
                if event == "MovedEvent" and old_folder
                else ""
            )
            events.append(
                f"<t:{event}><t:Watermark>AQAAAA==</t:Watermark>"
                f"<t:TimeStamp>{_iso(datetime.now(UTC))}</t:TimeStamp>"
                f'<t:ItemId Id="{item.id}" ChangeKey="{item.changekey}"/>'
                f'<t:ParentFolderId Id="{folder_id}" ChangeKey="AQAAAA=="/>{old}</t:{event}>'
            )
        subscription.events.clear()
        return (
            f"<m:Notifications><m:Notification><t:SubscriptionId>{subscription.id}</t:SubscriptionId>"
            "<t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
            + "".join(events)
            + "</m:Notification></m:Notifications>"
        )


def _replace_message_id(mime: bytes, new_id: str) -> bytes:
    head, sep, body = mime.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"message-id:")]
    return b"\r\n".join([*lines, b"Message-ID: " + new_id.encode()]) + sep + body


class _Handler(BaseHTTPRequestHandler):
    fake: EwsFakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fake._connections.add(self.connection)

    def finish(self) -> None:
        self.fake._connections.discard(self.connection)
        super().finish()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.fake.username and password == self.fake.password

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path.lower() != "/ews/exchange.asmx":
            self._send(404, b"")
            return
        if not self._authorised():
            with self.fake.lock:
                self.fake.counts["401"] += 1
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="127.0.0.1"'})
            return
        payload = ET.fromstring(body).find(f"{{{S}}}Body")
        assert payload is not None and len(payload), "SOAP request without a body"
        if payload[0].tag == f"{{{M}}}GetStreamingEvents":
            self._stream(payload[0])
            return
        status, response = self.fake.handle(payload[0])
        self._send(status, response)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, op: ET.Element) -> None:
        """GetStreamingEvents: one chunked response, an envelope per notification."""
        fake = self.fake
        ids = [e.text or "" for e in op.find(f"{{{M}}}SubscriptionIds") or []]
        minutes = int(op.findtext(f"{{{M}}}ConnectionTimeout") or "1")
        with fake.lock:
            fake.counts["GetStreamingEvents"] += 1
            subscriptions = [fake.subscriptions.get(i) for i in ids]
        if not all(subscriptions):
            self._send(
                200,
                envelope(
                    _response(
                        "GetStreamingEvents",
                        [_error("GetStreamingEvents", "ErrorSubscriptionNotFound")],
                    )
                ),
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = threading.Event()
        timer = threading.Timer(min(minutes * 60.0, fake.stream_seconds), deadline.set)
        timer.daemon = True
        timer.start()
        try:
            while not deadline.is_set() and not fake.stopping.is_set():
                with fake.changed:
                    pending = [s for s in subscriptions if s is not None and s.events]
                    if not pending:
                        fake.changed.wait(0.2)
                        continue
                    notifications = "".join(fake.notification_xml(s) for s in pending)
                self._chunk(
                    envelope(
                        _response(
                            "GetStreamingEvents",
                            [
                                _ok(
                                    "GetStreamingEvents",
                                    notifications + "<m:ConnectionStatus>OK</m:ConnectionStatus>",
                                )
                            ],
                        )
                    )
                )
            self._chunk(
                envelope(
                    _response(
                        "GetStreamingEvents",
                        [
                            _ok(
                                "GetStreamingEvents",
                                "<m:ConnectionStatus>Closed</m:ConnectionStatus>",
                            )
                        ],
                    )
                )
            )
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass
        finally:
            timer.cancel()
