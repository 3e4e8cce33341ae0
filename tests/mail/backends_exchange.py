"""Harnesses for the Exchange backends, each against its in-process HTTP fake.

`running_ews()` and `running_graph()` give a mailbox (not yet opened) and the
fake behind it, for any test: the contract suite uses them through
`ews_harness` / `graph_harness`, an end-to-end test can hand the mailbox to
`build_app(config, mailbox=...)` and drive the fake (`deliver`, `sent`,
`folder_messages`, `counts`). `ews_config()` / `graph_config()` give the
matching `[mailbox]` override for `make_config`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exchangelib import BASIC, DELEGATE, Build, Credentials, Version

from mailbot.config import Config
from mailbot.mail.ews import EwsMailbox, EwsSettings
from mailbot.mail.graph import GraphMailbox
from mailbot.mail.port import Envelope
from tests.mail.contract import MailboxHarness
from tests.servers.ews_fake import EwsFakeServer
from tests.servers.graph_fake import CLIENT_ID, SECRET, TENANT, GraphFakeServer

ADDRESS = "leveranciers@gemeente.example"


def ews_settings(fake: EwsFakeServer, password: str | None = None) -> EwsSettings:
    """Basic authentication with a given Version: exchangelib then skips autodiscover."""
    return EwsSettings(
        address=fake.address,
        service_endpoint=fake.url,
        credentials=Credentials(fake.username, password or fake.password),
        auth_type=BASIC,
        access_type=DELEGATE,
        version=Version(build=Build(15, 1)),
        describe=f"basic as {fake.username}",
    )


@contextmanager
def running_ews(**options: Any) -> Iterator[tuple[EwsMailbox, EwsFakeServer]]:
    """A fresh fake EWS server and a mailbox pointed at it; both closed afterwards."""
    fake = EwsFakeServer(address=ADDRESS).start()
    options = {"max_wait": 10.0, "sent_lookup_seconds": 2.0, "stream_minutes": 1, **options}
    mailbox = EwsMailbox(ews_settings(fake), **options)
    try:
        yield mailbox, fake
    finally:
        mailbox.close()
        fake.stop()


def graph_mailbox(fake: GraphFakeServer, **options: Any) -> GraphMailbox:
    options = {
        "max_wait": 10.0,
        "sent_lookup_seconds": 2.0,
        "poll_interval": 0.3,
        "client_secret": SECRET,
        **options,
    }
    return GraphMailbox(
        user=fake.user,
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        authority=fake.url,
        graph_url=fake.url,
        verify=fake.ca_file,
        validate_authority=False,  # a loopback authority is not one Microsoft knows
        **options,
    )


def graph_mailbox_factory(
    fake: GraphFakeServer, **options: Any
) -> Callable[[Config], GraphMailbox]:
    """For `Story(mailbox_factory=...)` / `build_app(mailbox=...)`: a new mailbox per pass, as
    `from_config` would make it (the config's folders), but trusting the fake's private CA."""

    def factory(config: Config) -> GraphMailbox:
        folders = config.mailbox.folders
        return graph_mailbox(
            fake,
            config_folders=(
                folders.compliments,
                folders.processed,
                folders.triage,
                folders.quarantine,
            ),
            **options,
        )

    return factory


@contextmanager
def running_graph(**options: Any) -> Iterator[tuple[GraphMailbox, GraphFakeServer]]:
    """A fresh fake Graph + Entra ID server and a mailbox pointed at it."""
    fake = GraphFakeServer(user=ADDRESS).start()
    mailbox = graph_mailbox(fake, **options)
    try:
        yield mailbox, fake
    finally:
        mailbox.close()
        fake.stop()


def ews_config(fake: EwsFakeServer, tmp_path: Path) -> dict[str, Any]:
    """The `mailbox` override for `make_config`: `from_config` makes it this fake's mailbox."""
    secret = tmp_path / "ews-password"
    secret.write_text(fake.password)
    return {
        "backend": "ews",
        "address": ADDRESS,
        "ews": {
            "service_endpoint": fake.url,
            "auth": "basic",
            "username": fake.username,
            "password_file": str(secret),
            "version": "Exchange2016",
            "impersonate": False,
        },
    }


def graph_config(fake: GraphFakeServer, tmp_path: Path) -> dict[str, Any]:
    """The `mailbox` override for `make_config` (pass the mailbox itself to `build_app`:
    the config has no key for the fake's private CA)."""
    secret = tmp_path / "graph-secret"
    secret.write_text(SECRET)
    return {
        "backend": "graph",
        "address": ADDRESS,
        "graph": {
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "client_secret_file": str(secret),
            "user": ADDRESS,
            "authority": fake.url,
            "graph_url": fake.url,
        },
    }


def ews_harness(tmp_path: Path) -> Iterator[MailboxHarness]:
    with running_ews() as (mailbox, fake):

        def delivered() -> list[tuple[Envelope, bytes]]:
            return [(Envelope("", recipients), raw) for recipients, raw in fake.sent]

        def is_unread(folder: str) -> bool:
            return not any(item.is_read for item in fake.folder_items(folder))

        def deliver(folder: str, raw: bytes) -> None:
            fake.deliver(folder, raw)

        yield MailboxHarness("ews", mailbox, deliver, fake.folder_messages, delivered, is_unread)


def graph_harness(tmp_path: Path) -> Iterator[MailboxHarness]:
    with running_graph() as (mailbox, fake):

        def delivered() -> list[tuple[Envelope, bytes]]:
            return [(Envelope("", recipients), raw) for recipients, raw in fake.sent]

        def is_unread(folder: str) -> bool:
            return not any(item.is_read for item in fake.folder_items(folder))

        def deliver(folder: str, raw: bytes) -> None:
            fake.deliver(folder, raw)

        yield MailboxHarness("graph", mailbox, deliver, fake.folder_messages, delivered, is_unread)
