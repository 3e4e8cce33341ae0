"""`/healthz` and `/metrics` for `mailbot run`, on 127.0.0.1:`health_port`.

A container healthcheck, a load balancer in front of a hot standby pair or an
operator with curl needs to know three things without reading logs: is this
instance working (its last pass succeeded recently), is it the leader or the
standby, and which side is down when it is not (mailbox or database).
`/healthz` answers that as JSON, with HTTP 200 while the last successful pass
is at most 3 x `poll_interval` + 60 s old and 503 after that, so a checker
needs no JSON parser. A standby's pass is checking the lease, so a healthy
standby answers 200 too; `leader` tells the two apart.

`/metrics` is the Prometheus text format (version 0.0.4). Most numbers are
counted in the database (messages in by class, mails out by mode, outbox
depth, due deadlines, what failed for good), so they survive restarts and are
the same on the leader and the standby; `mailbot_leader`, the error counter
and the last-success time are this process's own. The format is written here
rather than with `prometheus-client`: a dozen series of plain numbers do not
justify a dependency, its process-global registry or its own HTTP server.

Bound to 127.0.0.1 only: the numbers say how much mail an organisation
handles, and nothing here needs to be reachable from elsewhere (a container
healthcheck runs inside the container; Prometheus can scrape via a sidecar or
an SSH tunnel).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from mailbot.domain.classify import MailClass
from mailbot.mail.port import MailboxError
from mailbot.service.app import App
from mailbot.store.tables import Deadline, InboundMessage, OutboundMessage

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
OUTBOX_WAITING = ("pending", "sending")
MAIL_OUT = {"sent": "send", "drafted": "draft"}  # outbox status -> mode label


@dataclass(frozen=True)
class PassState:
    """What the daemon knows about its own passes (wall-clock times, aware UTC)."""

    leader: bool
    last_success: datetime | None  # the last pass that worked: a full pass, or a standby's check
    last_sync: datetime | None  # the last full pass (ingest, deadlines, outbox) as the leader
    failures: int  # passes failed in a row
    last_error: BaseException | None
    errors: dict[str, int] = field(default_factory=dict)  # since start: pass, message, delivery


class Health:
    """Builds the two answers; `state` is read afresh for every request."""

    def __init__(self, app: App, state: Callable[[], PassState]) -> None:
        self.app = app
        self.state = state

    @property
    def fresh_for(self) -> timedelta:
        return timedelta(seconds=3 * self.app.config.mailbot.poll_interval + 60)

    def database_ok(self) -> bool:
        try:
            with self.app.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.debug("health: database unreachable: %s", exc)
            return False
        return True

    def healthz(self, now: datetime | None = None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body)."""
        now = now or datetime.now(UTC)
        state = self.state()
        database = self.database_ok()
        mailbox = not isinstance(state.last_error, MailboxError)
        fresh = state.last_success is not None and now - state.last_success <= self.fresh_for
        ok = fresh and database and state.failures == 0
        body: dict[str, Any] = {
            "status": "ok" if ok else "degraded",
            "leader": state.leader,
            "database": "ok" if database else "error",
            "mailbox": "ok" if mailbox else "error",
            "last_success": _iso(state.last_success),
            "last_sync": _iso(state.last_sync),
            "failures": state.failures,
        }
        if state.last_error is not None:
            body["error"] = f"{type(state.last_error).__name__}: {state.last_error}"[:500]
        return (200 if fresh else 503), body

    def metrics(self, now: datetime | None = None) -> str:
        """The Prometheus exposition text."""
        now = now or datetime.now(UTC)
        state = self.state()
        out: list[str] = []
        family = _Family(out)
        try:
            counts = _database_counts(self.app, self.app.clock.now())
        except SQLAlchemyError as exc:
            log.debug("metrics: database unreachable: %s", exc)
            counts = None
        if counts is not None:
            family(
                "mailbot_messages_in_total",
                "counter",
                "Messages taken in from the watched folders, by classification.",
                [({"class": name}, n) for name, n in counts.messages_in.items()],
            )
            family(
                "mailbot_mails_out_total",
                "counter",
                "Mails sent or saved as drafts, by mode.",
                [({"mode": mode}, n) for mode, n in counts.mails_out.items()],
            )
            family(
                "mailbot_outbox_depth",
                "gauge",
                "Outbox rows not delivered yet.",
                [({}, counts.outbox_depth)],
            )
            family(
                "mailbot_deadlines_due",
                "gauge",
                "Pending deadlines whose time has come.",
                [({}, counts.deadlines_due)],
            )
            family(
                "mailbot_failed",
                "gauge",
                "What failed for good and waits for an admin: mail in quarantine, "
                "undeliverable outbox rows, deadlines whose decision failed.",
                [({"kind": kind}, n) for kind, n in counts.failed.items()],
            )
        family(
            "mailbot_errors_total",
            "counter",
            "Errors since this process started: failed passes (mailbox or database down), "
            "messages and deliveries that failed in a pass (retried later).",
            [({"kind": kind}, n) for kind, n in sorted(state.errors.items())],
        )
        family(
            "mailbot_database_up",
            "gauge",
            "1 when the database answered this scrape.",
            [({}, 0 if counts is None else 1)],
        )
        family(
            "mailbot_leader",
            "gauge",
            "1 when this instance holds the leader lease.",
            [({}, int(state.leader))],
        )
        family(
            "mailbot_pass_failures",
            "gauge",
            "Passes failed in a row (0 after a pass that worked).",
            [({}, state.failures)],
        )
        family(
            "mailbot_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last pass that worked (0: none yet).",
            [({}, state.last_success.timestamp() if state.last_success else 0)],
        )
        return "\n".join(out) + "\n"


@dataclass(frozen=True)
class _Counts:
    messages_in: dict[str, int]
    mails_out: dict[str, int]
    outbox_depth: int
    deadlines_due: int
    failed: dict[str, int]


def _database_counts(app: App, now: datetime) -> _Counts:
    """A few GROUP BY counts on indexed columns: cheap enough for every scrape."""
    with app.db.session() as session:
        messages_in = {str(c): 0 for c in MailClass}
        for name, n in session.execute(
            select(InboundMessage.classification, func.count())
            .where(InboundMessage.classification.is_not(None))
            .group_by(InboundMessage.classification)
        ):
            messages_in[str(name)] = n
        mails_out = dict.fromkeys(MAIL_OUT.values(), 0)
        outbox_depth = 0
        undeliverable = 0
        for status, n in session.execute(
            select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
        ):
            if status in MAIL_OUT:
                mails_out[MAIL_OUT[status]] += n
            elif status in OUTBOX_WAITING:
                outbox_depth += n
            elif status == "failed":
                undeliverable += n
        deadlines_due = session.scalar(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.status == "pending", Deadline.due_at <= now)
        )
        deadlines_failed = session.scalar(
            select(func.count()).select_from(Deadline).where(Deadline.status == "failed")
        )
        quarantined = session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.destination == "quarantine")
        )
    return _Counts(
        messages_in=messages_in,
        mails_out=mails_out,
        outbox_depth=outbox_depth,
        deadlines_due=deadlines_due or 0,
        failed={
            "quarantined": quarantined or 0,
            "undeliverable": undeliverable,
            "deadline_failed": deadlines_failed or 0,
        },
    )


class _Family:
    """Appends one metric family (HELP, TYPE, samples) in the text format."""

    def __init__(self, out: list[str]) -> None:
        self.out = out

    def __call__(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[dict[str, str], float]],
    ) -> None:
        self.out.append(f"# HELP {name} {help_text}")
        self.out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            self.out.append(
                f"{name}{{{rendered}}} {_number(value)}" if labels else f"{name} {_number(value)}"
            )


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class HealthServer:
    """A tiny threaded HTTP server in a daemon thread; `stop()` shuts it down."""

    def __init__(self, health: Health, port: int, host: str = HOST) -> None:
        self.health = health
        handler = _handler(health)
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot serve /healthz on {host}:{port} (health_port): {exc.strerror}"
            ) from exc
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="health-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()
        log.info("serving /healthz and /metrics on %s:%d", HOST, self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mailbot"
        sys_version = ""  # no Python version in the Server header

        def do_GET(self) -> None:  # the name http.server calls
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                status, body = health.healthz()
                self._send(status, "application/json", json.dumps(body).encode())
            elif path == "/metrics":
                self._send(
                    200, "text/plain; version=0.0.4; charset=utf-8", health.metrics().encode()
                )
            else:
                self._send(
                    404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n"
                )

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health: " + format, *args)

    return Handler
