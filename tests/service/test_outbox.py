"""The outbox sends each mail exactly once, through crashes and outages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot.domain.message import Address
from mailbot.mail.compose import OutgoingMail
from mailbot.mail.parse import parse
from mailbot.service.app import App
from mailbot.service.outbox import MAX_SEND_ATTEMPTS, enqueue, flush, notify_admins
from mailbot.store.tables import Case, OutboundMessage, TimelineEvent
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.database


def mail(to: str = "servicemanager@acme.example", subject: str = "Stap 1") -> OutgoingMail:
    return OutgoingMail(to=(Address(to),), subject=subject, text="Geachte heer,", automated=False)


def queue(app: App, key: str = "escalation:ESC-2026-0001:step-1", **kwargs: object) -> int:
    with app.db.session() as session:
        row = enqueue(
            session, app, dedup_key=key, mail=kwargs.pop("m", mail()), purpose="step", **kwargs
        )  # type: ignore[arg-type]
        return row.id


def spool(app: App, folder: str) -> list[bytes]:
    path = Path(app.config.mailbox.path) / f".{folder}" / "cur"
    return [p.read_bytes() for p in sorted(path.iterdir())]


def status(app: App, row_id: int) -> OutboundMessage:
    with app.db.session() as session:
        return session.get_one(OutboundMessage, row_id)


def test_it_enqueues_once_per_dedup_key(app: App) -> None:
    first = queue(app)
    assert queue(app) == first
    assert flush(app).sent == 1
    assert queue(app) == first, "a sent mail is never queued again"
    assert flush(app).sent == 0
    assert len(spool(app, "Uitgaand")) == len(spool(app, "Sent")) == 1


def test_it_records_the_message_id_and_the_timeline(app: App) -> None:
    now = app.clock.now()
    with app.db.session() as session:
        case = Case(
            ref="ESC-2026-0001",
            kind="escalation",
            state="step",
            title="t",
            language="nl",
            opened_at=now,
            updated_at=now,
        )
        session.add(case)
        session.flush()
        case_id = case.id
    row_id = queue(app, case_id=case_id)
    flush(app)
    row = status(app, row_id)
    assert row.status == "sent" and row.sent_at == now
    (sent,) = spool(app, "Sent")
    assert parse(sent).message_id == row.message_id
    with app.db.session() as session:
        (event,) = session.scalars(select(TimelineEvent)).all()
        assert event.kind == "mail-out" and event.outbound_id == row_id


def test_it_marks_an_admin_notice_as_belonging_to_no_case(app: App) -> None:
    """SPEC §6: every outgoing mail carries `X-Mailbot-Case`, also one about no case."""
    with app.db.session() as session:
        notify_admins(
            session,
            app,
            dedup_key="cap:servicemanager@acme.example:2026-12-14",
            template="cap_hit",
            recipient="servicemanager@acme.example",
            window="hour",
            limit=30,
            subject="Stap 1",
        )
    assert flush(app).sent == 1
    (sent,) = spool(app, "Sent")
    assert parse(sent).header("X-Mailbot-Case") == "none"


def test_it_turns_every_send_into_a_draft_in_dry_run(make_app: Callable[..., App]) -> None:
    app = make_app(mailbot={"dry_run": True})
    row_id = queue(app)
    report = flush(app)
    assert (report.sent, report.drafted) == (0, 1)
    assert status(app, row_id).status == "drafted"
    assert len(spool(app, "Drafts")) == 1
    assert spool(app, "Uitgaand") == []


def test_it_holds_mail_to_outsiders_as_a_draft_in_pilot_mode(make_app: Callable[..., App]) -> None:
    app = make_app(mailbot={"allowed_recipients": ["gemeente.example"]})
    inside = queue(app, "a", m=mail("a.jansen@gemeente.example"))
    outside = queue(app, "b", m=mail("servicemanager@acme.example"))
    flush(app)
    assert status(app, inside).status == "sent"
    assert status(app, outside).status == "drafted"


def test_it_does_not_resend_what_a_crash_left_in_sending_but_sent(app: App) -> None:
    row_id = queue(app)
    flush(app)
    with app.db.session() as session:
        session.get_one(OutboundMessage, row_id).status = "sending"  # crash before the record
    report = flush(app)
    assert (report.recovered, report.sent) == (1, 0)
    assert len(spool(app, "Uitgaand")) == 1
    assert status(app, row_id).status == "sent"


def test_it_resends_what_a_crash_left_in_sending_and_never_sent(app: App) -> None:
    row_id = queue(app)
    with app.db.session() as session:
        session.get_one(OutboundMessage, row_id).status = "sending"  # crash before delivery
    report = flush(app)
    assert (report.recovered, report.sent) == (0, 1)
    assert len(spool(app, "Uitgaand")) == 1


@pytest.fixture
def relayed(make_app: Callable[..., App], smtp_server: SmtpServer) -> App:
    return make_app(smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "none"})


@pytest.mark.integration
def test_it_relays_over_smtp_exactly_once(relayed: App, smtp_server: SmtpServer) -> None:
    queue(relayed)
    flush(relayed)
    flush(relayed)
    (received,) = smtp_server.sink.wait_for(1)
    assert received.recipients == ["servicemanager@acme.example"]
    assert received.sender == "leveranciers@gemeente.example"
    assert len(spool(relayed, "Sent")) == 1 and spool(relayed, "Uitgaand") == []


@pytest.mark.integration
def test_it_waits_out_a_temporary_smtp_outage_without_giving_up(
    relayed: App, smtp_server: SmtpServer
) -> None:
    smtp_server.sink.down = True
    row_id = queue(relayed)
    for _ in range(MAX_SEND_ATTEMPTS + 2):
        report = flush(relayed)
        assert report.errors and report.failed == 0
    row = status(relayed, row_id)
    assert row.status == "pending" and row.attempts == 0 and "451" in (row.last_error or "")
    smtp_server.sink.down = False
    assert flush(relayed).sent == 1
    assert len(smtp_server.sink.wait_for(1)) == 1


@pytest.mark.integration
def test_it_gives_up_on_a_refused_recipient_and_tells_the_admins(
    relayed: App, smtp_server: SmtpServer
) -> None:
    smtp_server.sink.refuse = {"nobody@acme.example"}
    row_id = queue(relayed, m=mail("nobody@acme.example"))
    for _ in range(MAX_SEND_ATTEMPTS):
        flush(relayed)
    assert status(relayed, row_id).status == "failed"
    received = smtp_server.sink.wait_for(1)
    assert [r.recipients for r in received] == [["beheer@gemeente.example"]]
    assert "nobody@acme.example" in parse(received[0].data).text


@pytest.mark.integration
def test_it_sends_to_the_accepted_recipients_when_one_is_refused(
    relayed: App, smtp_server: SmtpServer
) -> None:
    smtp_server.sink.refuse = {"nobody@acme.example"}
    both = OutgoingMail(
        to=(Address("nobody@acme.example"), Address("servicemanager@acme.example")),
        subject="s",
        text="t",
    )
    row_id = queue(relayed, m=both)
    flush(relayed)
    assert status(relayed, row_id).status == "sent"
    (received,) = smtp_server.sink.wait_for(1)
    assert received.recipients == ["servicemanager@acme.example"]


def test_it_holds_mail_over_the_per_recipient_cap_and_sends_it_when_the_window_allows(
    make_app: Callable[..., App],
) -> None:
    from datetime import timedelta

    app = make_app(mailbot={"max_per_recipient_per_hour": 3})
    ids = [
        queue(app, f"loop:{n}", m=mail("servicemanager@acme.example", f"bericht {n}"))
        for n in range(5)
    ]
    report = flush(app)
    assert (report.sent, report.held) == (3 + 1, 2), (
        "three to the supplier, one notice to the admins"
    )
    held = status(app, ids[3])
    assert held.status == "pending" and held.attempts == 0 and "held" in (held.last_error or "")
    notices = [
        m for m in spool(app, "Uitgaand") if b"beheer@gemeente.example" in m.split(b"\r\n\r\n")[0]
    ]
    assert len(notices) == 1 and "Verzendlimiet" in parse(notices[0]).subject
    assert flush(app).sent == 0, "still capped, and the admins are told only once"
    app.clock.advance(timedelta(minutes=61))  # type: ignore[attr-defined]
    assert flush(app).sent == 2
    assert [status(app, i).status for i in ids] == ["sent"] * 5
