"""A real SMTP server (aiosmtpd) that records every message it accepts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.servers import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SmtpSink:
    """Collects messages; `refuse` makes it answer RCPT for those addresses with 550,
    `down` makes it answer every DATA with 451 (temporary trouble)."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    down: bool = False
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.down:
            return "451 4.3.0 Try again later"
        content = envelope.original_content or b""
        with self.arrived:
            self.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), content)
            )
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


@dataclass
class SmtpServer:
    host: str
    port: int
    sink: SmtpSink
    controller: Controller


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, sink, controller)
    finally:
        controller.stop()
