"""Who made a compliment that staff forwarded to mailbot.

Customers compliment an employee, the employee (or their manager) forwards the
mail to mailbot. The compliment belongs to the customer, so we want the sender
printed in the innermost forwarded header block, not the forwarder.

Mail clients print those blocks differently: Outlook ("Van:/Verzonden:/Aan:/
Onderwerp:", no marker, or "-----Oorspronkelijk bericht-----"), Gmail
("---------- Forwarded message ---------" / "Doorgestuurd bericht"), Apple Mail
("Begin forwarded message:", often ">"-quoted) and Thunderbird ("-------- Forwarded
Message --------", Subject first). Header field names come from
`replytext.header_field`, so both modules agree on what a header block is.

Descending into nested blocks needs care: a header block is also what Outlook
prints above *reply* history. We go one block deeper only when the inner block
has an explicit forward marker or the block we are in has a forward subject
(FW:, Fwd:, Doorst:, WG:, TR:). So a customer's "RE:" reply that an employee
forwards yields the customer, not the employee the customer was answering.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from mailbot.domain.replytext import (
    DATE,
    FROM,
    SUBJECT,
    header_block_at,
    header_field,
    html_to_text,
    new_text,
    strip_quote_marker,
)
from mailbot.domain.replytext import (
    forward_marker as _forward_marker,
)

__all__ = ["ForwardedOriginal", "find_forwarded"]


@dataclass(frozen=True, slots=True)
class ForwardedOriginal:
    """The forwarded original: its sender and the text its sender wrote.

    `sender_email` is lower-case; it is "" when the client printed only a
    display name (Exchange does that for internal senders). `body` is the
    original's text below its header block, without the original's own quoted
    history.
    """

    sender_email: str
    sender_name: str
    subject: str | None
    date_text: str | None
    body: str


@dataclass(slots=True)
class _Block:
    start: int  # first line of the block, including a marker line
    end: int  # first line after the header fields
    depth: int  # ">" quote depth of the header lines
    marked: bool  # introduced by an explicit forward marker
    fields: dict[str, str] = field(default_factory=dict)


_FORWARD_SUBJECT_RE: Final = re.compile(r"^\s*(?:fw|fwd|doorst|wg|tr|rv)\s*:", re.IGNORECASE)
_EMAIL_RE: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_MARKER_LOOKAHEAD: Final = 4  # non-blank lines between a marker and the first field


def _depth(line: str) -> int:
    match = re.match(r"^(?:\s*>)+", line)
    return match.group(0).count(">") if match else 0


def _is_continuation(line: str, following: str | None) -> bool:
    """A wrapped header value: an address part, or a line between two fields."""
    text = strip_quote_marker(line)
    if not text:
        return False
    if text.startswith("<") or _EMAIL_RE.match(text):
        return True
    return following is not None and header_field(following) is not None


def _parse_fields(lines: Sequence[str], start: int) -> tuple[dict[str, str], int]:
    """Header fields from line `start` on; returns the fields and the line after them."""
    fields: dict[str, str] = {}
    last: str | None = None
    i = start
    while i < len(lines):
        line = lines[i]
        parsed = header_field(line)
        if parsed is not None:
            if parsed.kind == FROM and FROM in fields:
                break  # a second From: starts the next block
            fields.setdefault(parsed.kind, parsed.value)
            last = parsed.kind
        elif last is not None and _is_continuation(
            line, lines[i + 1] if i + 1 < len(lines) else None
        ):
            fields[last] = f"{fields[last]} {strip_quote_marker(line)}".strip()
        else:
            break
        i += 1
    return fields, i


def _block_at(lines: Sequence[str], i: int) -> _Block | None:
    marker = _forward_marker(lines[i])
    if marker is not None:
        j = i + 1
        seen = 0
        while j < len(lines) and seen < _MARKER_LOOKAHEAD:
            if strip_quote_marker(lines[j]):
                if header_field(lines[j]) is not None:
                    fields, end = _parse_fields(lines, j)
                    if FROM in fields:
                        return _Block(i, end, _depth(lines[j]), marker == "forward", fields)
                    return None
                seen += 1
            j += 1
        return None
    if header_block_at(lines, i):
        fields, end = _parse_fields(lines, i)
        if FROM in fields:
            return _Block(i, end, _depth(lines[i]), False, fields)
    return None


def _blocks(lines: Sequence[str]) -> list[_Block]:
    found: list[_Block] = []
    i = 0
    while i < len(lines):
        block = _block_at(lines, i)
        if block is None:
            i += 1
            continue
        found.append(block)
        i = max(block.end, i + 1)
    return found


def _sender(value: str) -> tuple[str, str]:
    """("jan@acme.nl", "Jan Jansen") from the many ways clients print a From: value."""
    cleaned = value.replace("mailto:", "")
    match = _EMAIL_RE.search(cleaned)
    email = match.group(0).lower() if match else ""
    name = re.split(r"[<\[(]", cleaned, maxsplit=1)[0] if match else cleaned
    name = name.strip().strip("\"'“”*_ ").strip()
    if email and name.lower() == email:
        name = ""
    return email, name


def _body(lines: Sequence[str], block: _Block, stop: int) -> str:
    """The original's own text: below the block, at its quote depth, minus its history."""
    kept: list[str] = []
    for line in lines[block.end : stop]:
        if strip_quote_marker(line) and _depth(line) < block.depth:
            break  # back out of the quoted forward
        text = line
        for _ in range(block.depth):
            text = re.sub(r"^\s*>\s?", "", text, count=1)
        kept.append(text)
    return new_text("\n".join(kept))


def find_forwarded(text: str, html: str | None = None) -> ForwardedOriginal | None:
    """The innermost forwarded original in a mail body, or None if nothing was forwarded."""
    body = text if text.strip() else (html_to_text(html) if html else "")
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks = _blocks(lines)
    if not blocks:
        return None
    index = 0
    while index + 1 < len(blocks):
        inner = blocks[index + 1]
        if inner.marked or _FORWARD_SUBJECT_RE.match(blocks[index].fields.get(SUBJECT, "")):
            index += 1
        else:
            break
    chosen = blocks[index]
    stop = blocks[index + 1].start if index + 1 < len(blocks) else len(lines)
    email, name = _sender(chosen.fields[FROM])
    if not email and not name:
        return None
    return ForwardedOriginal(
        sender_email=email,
        sender_name=name,
        subject=chosen.fields.get(SUBJECT) or None,
        date_text=chosen.fields.get(DATE) or None,
        body=_body(lines, chosen, stop),
    )
