"""An inbound mail as the core sees it: decoded, defensive, backend-free.

Adapters hand over raw bytes; `mailbot.mail.parse` turns them into an
`InboundMail`. Everything the domain needs to classify, match and understand a
mail is here, already decoded to `str`, so no rule has to think about MIME,
charsets or encoded words again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: display name as written, address lower-cased."""

    email: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class Attachment:
    """A non-body MIME part. `content` is the decoded payload."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, slots=True)
class InboundMail:
    """A parsed mail. Header names in `headers` keep their case; lookups ignore it."""

    headers: tuple[tuple[str, str], ...]
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    content_type: str
    content_params: tuple[tuple[str, str], ...]
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    size: int

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """Every value of a header, in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def content_param(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.content_params:
            if key.lower() == wanted:
                return value
        return None

    @property
    def sender_email(self) -> str | None:
        return self.from_.email if self.from_ else None
