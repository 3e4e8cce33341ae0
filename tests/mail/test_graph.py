"""The Graph backend against the in-process Graph + Entra ID fake: msal's and httpx's real code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailbot.clock import ManualClock
from mailbot.config import Config, ConfigError
from mailbot.daemon import build_app
from mailbot.mail.graph import Certificate, GraphMailbox, from_config
from mailbot.mail.parse import parse
from mailbot.mail.port import INBOX, Envelope, MailboxError
from mailbot.service.ingest import ingest
from mailbot.service.router import process
from tests.mail.backends_exchange import (
    graph_config,
    graph_mailbox,
    running_graph,
)
from tests.mail.contract import make_mail
from tests.servers.graph_fake import GraphFakeServer, app_certificate

FOLDERS = ["complimenten", "Verwerkt", "Te beoordelen", "Quarantaine"]


@pytest.fixture
def graph() -> Iterator[tuple[GraphMailbox, GraphFakeServer]]:
    with running_graph(page_size=3) as (mailbox, fake):
        mailbox.open(FOLDERS)
        yield mailbox, fake


def all_keys(mailbox: GraphMailbox, folder: str) -> list[str]:
    keys: list[str] = []
    since = None
    while True:
        listing = mailbox.scan(folder, since)
        keys += listing.keys
        since = listing.checkpoint
        if not listing.more:
            return keys


def subjects(mailbox: GraphMailbox, keys: list[str]) -> list[str]:
    raws = mailbox.fetch_many(INBOX, keys)
    return [parse(raws[k]).subject for k in keys]


def test_it_pages_and_resumes_exactly_after_a_crash(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    for i in range(7):
        fake.deliver(INBOX, make_mail(f"oud {i}"))
    first = mailbox.scan(INBOX, None)
    second = mailbox.scan(INBOX, first.checkpoint)
    assert (len(first.keys), first.more, len(second.keys), second.more) == (3, True, 3, True)
    assert second.checkpoint is not None and "next" in second.checkpoint
    saved = second.checkpoint  # what the core persisted before the crash

    restarted = graph_mailbox(fake, page_size=3)  # the process after the crash
    try:
        rest = restarted.scan(INBOX, saved)
        assert subjects(restarted, rest.keys) == ["oud 6"] and not rest.more
        assert rest.checkpoint is not None and "delta" in rest.checkpoint
        fake.deliver(INBOX, make_mail("nieuw"))
        later = restarted.scan(INBOX, rest.checkpoint)
        assert subjects(restarted, later.keys) == ["nieuw"]
    finally:
        restarted.close()


def test_it_lists_everything_again_when_the_delta_link_is_gone(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    fake.deliver(INBOX, make_mail("een"))
    listing = mailbox.scan(INBOX, None)
    fake.deliver(INBOX, make_mail("twee"))
    fake.expire_delta_links()
    again = mailbox.scan(INBOX, listing.checkpoint)  # 410 Gone: a full resync
    assert sorted(subjects(mailbox, again.keys)) == ["een", "twee"]
    assert mailbox.scan(INBOX, again.checkpoint).keys == []


def test_it_ignores_removals_and_lists_a_changed_message_under_its_known_key(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    fake.deliver(INBOX, make_mail("een"))
    fake.deliver(INBOX, make_mail("twee"))
    listing = mailbox.scan(INBOX, None)
    mailbox.move(INBOX, listing.keys[1], "Verwerkt")
    fake.mark_read(listing.keys[0])
    after = mailbox.scan(INBOX, listing.checkpoint)
    assert after.keys == [listing.keys[0]], "the core ignores keys it already stored"


def test_it_keeps_ids_across_moves(graph: tuple[GraphMailbox, GraphFakeServer]) -> None:
    mailbox, fake = graph
    fake.deliver(INBOX, make_mail("verplaats"))
    (key,) = mailbox.scan(INBOX, None).keys
    assert mailbox.move(INBOX, key, "Verwerkt") == key  # Prefer: IdType="ImmutableId"
    assert parse(mailbox.fetch("Verwerkt", key)).subject == "verplaats"
    assert mailbox.move_many("Verwerkt", [key, "no-such-key"], "Te beoordelen") == {
        key: key,
        "no-such-key": None,
    }
    assert mailbox.move(INBOX, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Verwerkt") is None


def test_it_waits_as_long_as_the_server_asks_and_then_succeeds(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    fake.deliver(INBOX, make_mail("een"))
    fake.counts.clear()
    fake.throttle(times=1, retry_after=1, operation="delta")
    started = time.monotonic()
    listing = mailbox.scan(INBOX, None)
    assert time.monotonic() - started >= 1.0
    assert len(listing.keys) == 1 and fake.counts["delta"] == 2


def test_it_retries_throttled_requests_inside_a_batch(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    for i in range(3):
        fake.deliver(INBOX, make_mail(f"bericht {i}"))
    keys = all_keys(mailbox, INBOX)
    fake.throttle(times=2, retry_after=1, status=503, operation="$value")
    started = time.monotonic()
    assert len(mailbox.fetch_many(INBOX, keys)) == 3
    assert time.monotonic() - started >= 1.0
    assert fake.counts["$batch"] == 2


def test_it_gives_up_on_a_server_that_keeps_throttling(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    mailbox.max_wait = 2.5
    fake.throttle(times=100, retry_after=1)
    started = time.monotonic()
    with pytest.raises(MailboxError) as refused:
        mailbox.scan(INBOX, None)
    assert not refused.value.permanent
    assert time.monotonic() - started < 4


def test_it_never_has_more_than_four_requests_in_flight(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    for i in range(12):
        fake.deliver(INBOX, make_mail(f"bericht {i}"))
    keys = all_keys(mailbox, INBOX)
    fake.slow_seconds = 0.1
    fake.max_in_flight = 0
    threads = [threading.Thread(target=mailbox.fetch, args=(INBOX, key)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert fake.max_in_flight == 4


def test_it_reports_a_wrong_client_secret_at_once_and_for_good() -> None:
    with running_graph(client_secret="fout") as (mailbox, fake):
        started = time.monotonic()
        with pytest.raises(MailboxError) as refused:
            mailbox.open(FOLDERS)
        assert refused.value.permanent
        assert "invalid_client" in str(refused.value) and "AADSTS7000215" in str(refused.value)
        assert time.monotonic() - started < 3
        assert fake.counts["token"] == 1


def test_it_reports_an_unknown_tenant() -> None:
    with running_graph() as (_, fake):
        mailbox = GraphMailbox(
            user=fake.user,
            tenant_id="00000000-0000-0000-0000-000000000000",
            client_id="x",
            client_secret="y",
            authority=fake.url,
            graph_url=fake.url,
            verify=fake.ca_file,
            validate_authority=False,
        )
        with pytest.raises(MailboxError) as refused:
            mailbox.open(FOLDERS)
        assert refused.value.permanent


def test_it_signs_in_with_a_certificate(tmp_path: Path) -> None:
    pem, cert, thumbprint = app_certificate()
    (tmp_path / "app.pem").write_text(pem)
    certificate = Certificate.from_file(tmp_path / "app.pem")
    assert certificate.thumbprint == thumbprint
    with running_graph(client_secret=None, certificate=certificate) as (mailbox, fake):
        fake.app_certificate_pem = cert
        mailbox.open(FOLDERS)
        assert fake.tokens_issued == 1


def test_it_explains_a_mailbox_the_app_may_not_open(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    fake.denied = True
    with pytest.raises(MailboxError, match=r"Mail\.ReadWrite") as refused:
        mailbox.scan(INBOX, None)
    assert refused.value.permanent


def test_it_reuses_its_token_and_renews_a_revoked_one(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    for _ in range(3):
        mailbox.scan(INBOX, None)
    assert fake.tokens_issued == 1
    fake.revoke_tokens()
    mailbox.scan(INBOX, None)
    assert fake.tokens_issued == 2


def test_it_sends_our_mime_and_reads_back_the_message_id(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    raw = make_mail(
        "Stap 1",
        message_id="mailbot.abc@gemeente.example",
        extra="In-Reply-To: <vraag@acme.example>\r\nX-Mailbot-Case: ESC-2026-0007\r\n",
    )
    used = mailbox.send(
        raw, Envelope("x", ["leveranciers@gemeente.example"]), "mailbot.abc@gemeente.example"
    )
    assert used == "mailbot.abc@gemeente.example"
    assert fake.sent[0][1] == raw, "threading headers and Message-ID are ours"
    assert mailbox.was_sent(used) and not mailbox.was_sent("other@gemeente.example")
    copies, _ = mailbox.sent_messages(None)
    assert [(c.message_id, c.case_ref) for c in copies] == [(used, "ESC-2026-0007")]


def test_it_does_not_send_twice_when_the_answer_to_a_send_is_lost() -> None:
    with running_graph(timeout=0.5) as (mailbox, fake):
        mailbox.open(FOLDERS)
        fake.late_answers["sendMail"] = 1.0
        raw = make_mail("Stap 1", message_id="m1@gemeente.example")
        used = mailbox.send(raw, Envelope("x", []), "m1@gemeente.example")
        assert used == "m1@gemeente.example"
        assert len(fake.sent) == 1


def test_it_sends_envelope_only_recipients_as_bcc(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    raw = make_mail("Stap 1", message_id="m1@gemeente.example")
    mailbox.send(raw, Envelope("x", ["leveranciers@gemeente.example", "stil@acme.example"]), "m1")
    recipients, delivered = fake.sent[0]
    assert "stil@acme.example" in recipients
    assert delivered == raw


def test_it_marks_now_in_sent_without_reading_it(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    for i in range(4):
        mailbox.send(make_mail(f"oud {i}", message_id=f"o{i}@x"), Envelope("x", []), f"o{i}@x")
    fake.counts.clear()
    marker = mailbox.sent_marker()
    assert fake.counts["$value"] == 0 and fake.counts["$batch"] == 0
    mailbox.send(make_mail("nieuw", message_id="n@x"), Envelope("x", []), "n@x")
    copies, _ = mailbox.sent_messages(marker)
    assert [c.message_id for c in copies] == ["n@x"]


def test_it_saves_drafts_in_drafts(graph: tuple[GraphMailbox, GraphFakeServer]) -> None:
    mailbox, fake = graph
    key = mailbox.save_draft(make_mail("Concept", message_id="d1@gemeente.example"), "d1")
    (item,) = fake.folder_items("Drafts")
    assert item.immutable_id == key and item.is_draft
    assert mailbox.has_draft("d1@gemeente.example")
    assert fake.sent == []


def test_it_is_woken_by_new_mail_but_not_by_its_own_moves(
    graph: tuple[GraphMailbox, GraphFakeServer],
) -> None:
    mailbox, fake = graph
    fake.deliver(INBOX, make_mail("een"))
    (key,) = mailbox.scan(INBOX, None).keys
    mailbox.watch([INBOX, "complimenten"])
    assert mailbox.wait(0) is False  # learns where "now" is
    mailbox.move(INBOX, key, "Verwerkt")
    assert mailbox.wait(0.5) is False
    fake.deliver("complimenten", make_mail("Compliment"))
    assert mailbox.wait(5) is True


def test_it_tells_check_config_what_it_sees(graph: tuple[GraphMailbox, GraphFakeServer]) -> None:
    mailbox, fake = graph
    fake.roles = ["Mail.ReadWrite"]
    fake.revoke_tokens()
    mailbox.config_folders = ("complimenten", "Ontbreekt")
    mailbox._token(renew=True)
    report = "\n".join(mailbox.probe())
    assert "application permissions in the token: Mail.ReadWrite" in report
    assert "folder Inbox: found" in report
    assert "folder 'complimenten': found" in report
    assert "folder 'Ontbreekt': missing" in report
    assert "Mail.Send is not in the token" in report


def test_it_builds_the_mailbox_from_the_config(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    with running_graph() as (_, fake):
        mailbox = from_config(make_config(mailbox=graph_config(fake, tmp_path)))
        assert mailbox.authority == f"{fake.url}/{mailbox.tenant_id}"
        assert mailbox.base == f"{fake.url}/v1.0/users/leveranciers%40gemeente.example"
        mailbox.close()


def test_it_wants_exactly_one_credential(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    with running_graph() as (_, fake):
        section = graph_config(fake, tmp_path)
        del section["graph"]["client_secret_file"]
        with pytest.raises(ConfigError, match="exactly one"):
            from_config(make_config(mailbox=section))


# -- efficiency -----------------------------------------------------------------------------

BACKLOG = 500


def backlog_requests(
    make_config: Callable[..., Config], clock: ManualClock, tmp_path: Path
) -> tuple[dict[str, int], int]:
    """Graph requests while one pass ingested a backlog of 500 messages (sign-in not counted)."""
    with running_graph() as (mailbox, fake):
        config = make_config(mailbox=graph_config(fake, tmp_path))
        app = build_app(config, clock=clock, mailbox=mailbox)
        try:
            ingest(app, process)  # first start: the delta links mark "now"
            for i in range(BACKLOG):
                fake.deliver(INBOX, make_mail(f"Melding {i}", body=f"storing {i}\r\n" * 40))
            fake.counts.clear()
            report = ingest(app, process)
            assert (report.stored, report.moved) == (BACKLOG, BACKLOG)
            assert len(fake.folder_messages("Te beoordelen")) == BACKLOG
            return dict(fake.counts), fake.total_requests()
        finally:
            app.db.close()


@pytest.mark.database
def test_it_ingests_a_backlog_with_few_requests_per_message(
    make_config: Callable[..., Config],
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    counts, total = backlog_requests(make_config, clock, tmp_path)
    print(f"Graph backlog: {counts} = {total / BACKLOG:.3f} per message")
    assert total / BACKLOG < 0.2
