"""The world around an Exchange mailbox for `tests.scenario.Story`: the EWS and Graph fakes.

Mail arrives by the fake's `deliver()` into its folders (as transport or a rule
would put it there); what "left" is what the fake's transport saw, in order
(`sent`: EWS CreateItem with SendAndSaveCopy, Graph `sendMail` with MIME);
drafts are the items in the fake's Drafts folder. The mailbox under test
talks to the same fake over HTTP with exchangelib's or httpx's real code.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.servers.ews_fake import EwsFakeServer
from tests.servers.graph_fake import GraphFakeServer


@dataclass
class _FakeOutside:
    fake: EwsFakeServer | GraphFakeServer

    def deliver(self, folder: str, raw: bytes) -> None:
        self.fake.deliver(folder, raw)

    def sent(self) -> list[bytes]:
        with self.fake.lock:
            return [raw for _, raw in self.fake.sent]

    def drafts(self) -> list[bytes]:
        return self.fake.folder_messages("Drafts")

    def count(self, folder: str) -> int:
        return len(self.fake.folder_messages(folder))


@dataclass
class EwsOutside(_FakeOutside):
    """The EWS fake (tests/servers/ews_fake.py) behind an `ews` mailbox."""

    fake: EwsFakeServer


@dataclass
class GraphOutside(_FakeOutside):
    """The Graph fake (tests/servers/graph_fake.py) behind a `graph` mailbox."""

    fake: GraphFakeServer
