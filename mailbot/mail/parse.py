"""Raw RFC 822 bytes -> `InboundMail`, without ever raising on bad input.

Real mail is broken in every way imaginable (see `../shared/corpora`): unknown
charsets, 8-bit headers, broken base64, missing boundaries. The stdlib's
`policy.default` raises on several of those and parses at only ~600 msg/s on
our target machine, so we parse with `compat32` (~15,000 msg/s, never raises
on structure) and decode headers and payloads ourselves with explicit
fallbacks. Whatever cannot be decoded is replaced, recorded in `defects`, and
the raw bytes stay in the database untouched.
"""

from __future__ import annotations

import binascii
import quopri
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from mailbot.domain.message import Address, Attachment, InboundMail

_FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")
_CHARSET_ALIASES = {
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "x-user-defined": "cp1252",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}
_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_FOLD_RE = re.compile(r"\r?\n[ \t]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode with the declared charset, falling back; returns (text, clean)."""
    candidates: list[str] = []
    if charset:
        name = charset.strip().strip('"').lower()
        candidates.append(_CHARSET_ALIASES.get(name, name))
    candidates.extend(_FALLBACK_CHARSETS)
    for index, name in enumerate(candidates):
        try:
            return data.decode(name), index == 0 and bool(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1", errors="replace"), False  # pragma: no cover - latin-1 never fails


def _raw_header_text(value: object) -> str:
    """compat32 gives str (8-bit bytes as surrogates) or, for 8-bit headers, a Header
    whose chunks are raw bytes in charset "unknown-8bit": decode those ourselves."""
    if isinstance(value, Header):
        try:
            chunks = decode_header(value)
        except Exception:
            chunks = []
        parts = []
        for chunk, charset in chunks:
            if isinstance(chunk, bytes):
                parts.append(decode_bytes(chunk, charset)[0])
            else:
                parts.append(chunk)
        return "".join(parts)
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raw = text.encode("ascii", errors="surrogateescape")
        text, _ = decode_bytes(raw, "utf-8")
    return text


def decode_header_value(value: object) -> str:
    """Unfold and decode RFC 2047 encoded words; never raises."""
    text = _FOLD_RE.sub(" ", _raw_header_text(value))
    if "=?" not in text:
        return _CONTROL_RE.sub("", text).strip()
    try:
        chunks = decode_header(text)
    except Exception:  # malformed encoded words: keep the text as written
        return _CONTROL_RE.sub("", text).strip()
    parts: list[str] = []
    previous_encoded = False
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            decoded, _ = decode_bytes(chunk, charset)
            encoded = charset is not None
        else:
            decoded, encoded = chunk, False
        # decode_header already drops whitespace between adjacent encoded words;
        # between an encoded word and plain text it keeps what was written.
        if parts and not encoded and not previous_encoded and not decoded.startswith(" "):
            parts.append(" ")
        parts.append(decoded)
        previous_encoded = encoded
    return _CONTROL_RE.sub("", "".join(parts)).strip()


def parse_addresses(value: str | None) -> tuple[Address, ...]:
    """Parse an address list; silently skips what is not an address."""
    if not value:
        return ()
    try:
        pairs = getaddresses([value])
    except Exception:
        return ()
    result: list[Address] = []
    for name, email in pairs:
        email = email.strip().strip("<>").lower()
        if "@" not in email or " " in email:
            continue
        result.append(Address(email=email, name=name.strip().strip('"')))
    return tuple(result)


def message_ids(value: str | None) -> tuple[str, ...]:
    """All `<id>` tokens of a Message-ID/References/In-Reply-To header, brackets removed."""
    if not value:
        return ()
    found = _MSGID_RE.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    return tuple(dict.fromkeys(found))


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    return b""


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        try:
            name = part.get_param("name")  # type: ignore[assignment]
        except Exception:
            name = None
    if isinstance(name, tuple):  # RFC 2231 triple
        try:
            name = name[2].encode("latin-1", "surrogateescape").decode(name[0] or "utf-8")
        except Exception:
            name = str(name[2])
    return decode_header_value(name) if name else ""


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


class _Bodies:
    """Collects the first text and html body parts and every attachment."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.html: str | None = None
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []

    def walk(self, message: Message) -> None:
        stack: list[Message] = [message]
        while stack:
            part = stack.pop(0)
            if part.is_multipart():
                children = part.get_payload()
                if isinstance(children, list):
                    ctype = _content_type(part)
                    # message/rfc822 keeps its child message in the payload list
                    if ctype == "message/rfc822":
                        self._attach_message(part, children)
                    elif ctype.startswith("message/"):
                        # delivery-status and friends: header blocks, kept as text
                        self._attach_report(part, ctype, children)
                    else:
                        stack[0:0] = [c for c in children if isinstance(c, Message)]
                continue
            self._leaf(part)

    def _attach_message(self, part: Message, children: list[Any]) -> None:
        inner = children[0] if children else None
        data = inner.as_bytes() if isinstance(inner, Message) else b""
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding in ("base64", "quoted-printable"):
            # not allowed by RFC 2046, but real MTAs (and Python) do it: decode
            data = _decode_transfer(data.lstrip(b"\r\n"), encoding)
        self.attachments.append(
            Attachment(_filename(part) or "forwarded.eml", "message/rfc822", data)
        )

    def _attach_report(self, part: Message, ctype: str, children: list[Any]) -> None:
        blocks = [c.as_bytes() for c in children if isinstance(c, Message)]
        name = _filename(part) or ctype.partition("/")[2] + ".txt"
        self.attachments.append(Attachment(name, ctype, b"\n".join(blocks)))

    def _leaf(self, part: Message) -> None:
        ctype = _content_type(part)
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = _filename(part)
        is_attachment = disposition == "attachment" or (filename and disposition != "inline")
        if ctype in ("text/plain", "text/html") and not is_attachment:
            data = _payload_bytes(part)
            text, clean = decode_bytes(data, part.get_content_charset())
            if not clean and part.get_content_charset():
                self.defects.append(f"undecodable charset {part.get_content_charset()!r}")
            if ctype == "text/plain" and self.text is None:
                self.text = text
                return
            if ctype == "text/html" and self.html is None:
                self.html = text
                return
        self.attachments.append(
            Attachment(filename or _default_name(ctype), ctype, _payload_bytes(part))
        )


def _decode_transfer(data: bytes, encoding: str) -> bytes:
    try:
        if encoding == "base64":
            return binascii.a2b_base64(b"".join(data.split()) + b"==")
        return quopri.decodestring(data)
    except (binascii.Error, ValueError):
        return data


def _default_name(ctype: str) -> str:
    main, _, sub = ctype.partition("/")
    return f"{main or 'part'}.{sub or 'bin'}"


@dataclass(frozen=True, slots=True)
class HeaderSummary:
    """What ingest stores beside a message's bytes (see `summarize`)."""

    message_id: str | None
    sender_email: str | None
    subject: str


def summarize(raw: bytes) -> HeaderSummary:
    """Message-ID, sender and subject exactly as `parse()` gives them, from the header
    alone: storing a backlog should not walk every body twice. Never raises on bytes."""
    try:
        message = BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:  # pragma: no cover - compat32 does not raise on bytes
        return HeaderSummary(None, None, "")
    wanted: dict[str, str | None] = {"message-id": None, "from": None, "subject": None}
    for key, value in message.items():
        name = str(key).strip().lower()
        if name in wanted and wanted[name] is None:
            wanted[name] = decode_header_value(value)
    ids = message_ids(wanted["message-id"])
    from_ = parse_addresses(wanted["from"])
    return HeaderSummary(
        ids[0] if ids else None, from_[0].email if from_ else None, wanted["subject"] or ""
    )


def parse(raw: bytes) -> InboundMail:
    """Parse raw message bytes. Never raises on any input (bytes)."""
    try:
        message = message_from_bytes(raw, policy=compat32)
    except Exception as exc:  # pragma: no cover - compat32 does not raise on bytes
        return _unparseable(raw, exc)
    headers: list[tuple[str, str]] = []
    for key, value in message.items():
        headers.append((str(key).strip(), decode_header_value(value)))

    def first(name: str) -> str | None:
        wanted = name.lower()
        for key, value in headers:
            if key.lower() == wanted:
                return value
        return None

    bodies = _Bodies()
    try:
        bodies.walk(message)
    except Exception as exc:  # deeply broken structure: keep what we have
        bodies.defects.append(f"body walk failed: {type(exc).__name__}")
    defects = [type(d).__name__ for d in getattr(message, "defects", [])] + bodies.defects
    ids = message_ids(first("Message-ID"))
    from_ = parse_addresses(first("From"))
    params: list[tuple[str, str]] = []
    try:
        for item in message.get_params() or []:
            if isinstance(item, tuple) and len(item) == 2 and item[1]:
                params.append((str(item[0]).lower(), str(item[1])))
    except Exception:
        defects.append("unreadable Content-Type parameters")
    return InboundMail(
        headers=tuple(headers),
        message_id=ids[0] if ids else None,
        in_reply_to=message_ids(first("In-Reply-To")),
        references=message_ids(first("References")),
        subject=first("Subject") or "",
        from_=from_[0] if from_ else None,
        reply_to=parse_addresses(first("Reply-To")),
        to=_all_addresses(headers, "To"),
        cc=_all_addresses(headers, "Cc"),
        date=_parse_date(first("Date")),
        content_type=_content_type(message),
        content_params=tuple(params),
        text=bodies.text or "",
        html=bodies.html,
        attachments=tuple(bodies.attachments),
        defects=tuple(defects),
        size=len(raw),
    )


def _all_addresses(headers: list[tuple[str, str]], name: str) -> tuple[Address, ...]:
    wanted = name.lower()
    found: list[Address] = []
    for key, value in headers:
        if key.lower() == wanted:
            found.extend(parse_addresses(value))
    return tuple(found)


def _unparseable(raw: bytes, exc: Exception) -> InboundMail:  # pragma: no cover
    return InboundMail(
        headers=(),
        message_id=None,
        in_reply_to=(),
        references=(),
        subject="",
        from_=None,
        reply_to=(),
        to=(),
        cc=(),
        date=None,
        content_type="text/plain",
        content_params=(),
        text=raw.decode("utf-8", errors="replace"),
        html=None,
        attachments=(),
        defects=(f"unparseable: {type(exc).__name__}",),
        size=len(raw),
    )
