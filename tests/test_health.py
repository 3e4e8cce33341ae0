"""/healthz and /metrics: what a healthcheck and Prometheus see of a running daemon."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailbot.daemon import Daemon, make_lease
from mailbot.health import Health, HealthServer, PassState
from mailbot.mail.port import MailboxError
from mailbot.service.app import App
from mailbot.store.db import Database
from tests.mail.contract import make_mail
from tests.servers import free_port

pytestmark = pytest.mark.database

NOW = datetime(2026, 12, 14, 10, 0, tzinfo=UTC)
SAMPLE = re.compile(r"^[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? -?[0-9.e+]+$")


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except urllib.error.URLError:
        return 0, ""  # not listening (yet)


def samples(metrics: str) -> dict[str, float]:
    """`name{labels}` -> value, checking every line against the text format."""
    found: dict[str, float] = {}
    families: set[str] = set()
    for line in metrics.splitlines():
        if line.startswith("# TYPE "):
            families.add(line.split()[2])
        elif not line.startswith("# HELP "):
            assert SAMPLE.match(line), line
            key, value = line.rsplit(" ", 1)
            assert key.split("{")[0] in families, f"{key} has no TYPE line"
            found[key] = float(value)
    return found


def drop(app: App, raw: bytes, name: str) -> None:
    path = app.mailbox.folder_path("INBOX") / "new"  # type: ignore[attr-defined]
    (path / name).write_bytes(raw)


@contextmanager
def running(app: App) -> Iterator[Daemon]:
    daemon = Daemon(app)
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.stop.set()
        thread.join(30)
        assert not thread.is_alive()


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def health_app(make_app: Callable[..., App]) -> App:
    return make_app(
        mailbot={"health_port": free_port(), "poll_interval": 1, "lease_seconds": 3},
        mailbox={"process_existing": True},
    )


def test_it_reports_a_working_leader_and_counts_its_mail(health_app: App) -> None:
    port = health_app.config.mailbot.health_port
    assert port is not None
    drop(health_app, make_mail("Wat is dit?", sender="iemand@elders.example"), "a.eml")
    drop(
        health_app,
        make_mail("Afwezig", sender="x@elders.example", extra="Auto-Submitted: auto-replied\r\n"),
        "b.eml",
    )
    with running(health_app):

        def processed() -> bool:  # the mail is counted, and the pass that took it in ended
            status, body = get(port, "/metrics")
            normal = samples(body).get('mailbot_messages_in_total{class="normal"}') if body else 0
            return status == 200 and normal == 1 and get(port, "/healthz")[0] == 200

        wait_for(processed)
        status, body = get(port, "/healthz")
        assert status == 200
        health = json.loads(body)
        assert health["status"] == "ok" and health["leader"] is True
        assert health["database"] == health["mailbox"] == "ok"
        assert health["failures"] == 0
        last_success = datetime.fromisoformat(health["last_success"])
        assert abs(datetime.now(UTC) - last_success) < timedelta(seconds=30)
        assert health["last_sync"] is not None

        metrics = samples(get(port, "/metrics")[1])
        assert metrics['mailbot_messages_in_total{class="auto_reply"}'] == 1
        assert metrics['mailbot_messages_in_total{class="bounce"}'] == 0
        assert metrics["mailbot_leader"] == 1
        assert metrics["mailbot_database_up"] == 1
        assert metrics["mailbot_outbox_depth"] == 0
        assert metrics["mailbot_deadlines_due"] == 0
        assert metrics['mailbot_failed{kind="quarantined"}'] == 0
        assert metrics['mailbot_errors_total{kind="pass"}'] == 0
        assert {
            'mailbot_mails_out_total{mode="send"}',
            'mailbot_mails_out_total{mode="draft"}',
        } <= set(metrics)
        assert metrics["mailbot_last_success_timestamp_seconds"] == pytest.approx(
            last_success.timestamp(), abs=30
        )
        assert get(port, "/nothing")[0] == 404
    with pytest.raises(OSError):  # stopped with the daemon
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_it_reports_a_standby_as_healthy_but_not_the_leader(health_app: App) -> None:
    port = health_app.config.mailbot.health_port
    assert port is not None
    other = dataclasses.replace(health_app, leader_id="elsewhere:1:leader")
    lease = make_lease(other)
    lease.ttl = timedelta(minutes=5)
    assert lease.try_acquire()
    with running(health_app):
        wait_for(lambda: get(port, "/healthz")[0] == 200)
        health = json.loads(get(port, "/healthz")[1])
        assert health["leader"] is False and health["status"] == "ok"
        assert health["last_sync"] is None  # a standby does not touch the mailbox
        assert samples(get(port, "/metrics")[1])["mailbot_leader"] == 0


def state(**change: Any) -> PassState:
    base = PassState(leader=True, last_success=NOW, last_sync=NOW, failures=0, last_error=None)
    return dataclasses.replace(base, **change)


def test_it_answers_503_when_no_pass_has_worked_for_too_long(app: App) -> None:
    # poll_interval 1 s: stale after 3 x 1 + 60 s
    fresh = Health(app, lambda: state(last_success=NOW - timedelta(seconds=62)))
    assert fresh.healthz(now=NOW)[0] == 200
    stale = Health(app, lambda: state(last_success=NOW - timedelta(seconds=64)))
    code, body = stale.healthz(now=NOW)
    assert code == 503 and body["status"] == "degraded"
    never = Health(app, lambda: state(last_success=None, last_sync=None))
    code, body = never.healthz(now=NOW)
    assert code == 503 and body["last_success"] is None


def test_it_names_the_mailbox_when_the_last_pass_failed_there(app: App) -> None:
    failing = state(failures=2, last_error=MailboxError("IMAP login refused"))
    code, body = Health(app, lambda: failing).healthz(now=NOW)
    assert code == 200  # the last success is still recent …
    assert body["status"] == "degraded"  # … but it is not all well
    assert body["mailbox"] == "error" and body["database"] == "ok"
    assert "IMAP login refused" in body["error"]


def test_it_names_the_database_when_it_cannot_be_reached(app: App) -> None:
    gone = dataclasses.replace(
        app, db=Database.connect(f"postgresql+psycopg://mailbot@127.0.0.1:{free_port()}/gone")
    )
    health = Health(gone, lambda: state())
    _, body = health.healthz(now=NOW)
    assert body["database"] == "error" and body["status"] == "degraded"
    metrics = samples(health.metrics(now=NOW))
    assert metrics["mailbot_database_up"] == 0
    assert "mailbot_outbox_depth" not in metrics  # unknown is not zero
    assert metrics["mailbot_leader"] == 1
    gone.db.close()


def test_it_refuses_to_start_on_a_port_that_is_taken(app: App, tmp_path: Path) -> None:
    health = Health(app, lambda: state())
    first = HealthServer(health, 0)
    try:
        with pytest.raises(OSError, match="health_port"):
            HealthServer(health, first.port)
    finally:
        first.server.server_close()


def test_it_shows_a_mailbox_outage_in_the_running_daemon(
    health_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = health_app.config.mailbot.health_port
    assert port is not None

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise MailboxError("connection refused by imap.example")

    monkeypatch.setattr(health_app.mailbox, "scan", unreachable)
    with running(health_app):

        def failed() -> bool:
            status, body = get(port, "/healthz")
            return status != 0 and json.loads(body)["mailbox"] == "error"

        wait_for(failed)
        status, body = get(port, "/healthz")
        health = json.loads(body)
        assert status == 503 and health["last_success"] is None  # a pass without the mailbox
        assert health["status"] == "degraded" and health["database"] == "ok"
        assert "connection refused" in health["error"]
        assert samples(get(port, "/metrics")[1])['mailbot_errors_total{kind="pass"}'] >= 1
