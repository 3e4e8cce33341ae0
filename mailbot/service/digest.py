"""The weekly management digest (SPEC §7, §12 "Digest timing"): build, render, queue once.

**Exactly once per ISO week.** Every pass asks which week's digest moment
passed last (`DigestSchedule.latest_due`); when the outbox holds no row with
that week's dedup key (`digest:2026-W47`) yet, the digest is built and
queued. The outbox row is the only record: a restart, a crash after the
commit (the row is flushed on the next pass), or a daemon that was down at
08:00 (the first pass after it sends) all come out as one mail. After a long
outage only the latest missed week goes out, because older weeks are never
looked at. The very first start stores `installed_at`; a digest whose moment
fell before that is never sent, so installing mailbot on a Tuesday does not
produce a late digest about the week before — the first one is the
following Monday's. `digest --send` uses its own key (`digest:manual:…`),
so it never uses up the scheduled one.

**The chart is table/CSS bars, not an inline PNG.** A `<td>` with a
`bgcolor` and a percentage width renders the same in Outlook desktop (Word's
HTML engine), Outlook on the web, Gmail and phone clients, with no image
blocking ("click to download pictures"), no `multipart/related` plumbing in
`compose`, crisp at any zoom, readable by screen readers (each bar carries its
number in text), and nothing to break in dark mode but a colour. A PNG
would need an image library or a hand-written encoder and still be hidden by
default in Outlook. The same bars appear as `▇` runs in the plain-text part.

Snapshots (open cases, overdue deadlines, approvals waiting) are taken when
the digest is built; counts over time are per local week. The definitions
of every figure are in `mailbot.service.digest_figures`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from mailbot.config import digest_time
from mailbot.domain.digest_schedule import DigestSchedule, Week
from mailbot.domain.ladder import STEP_NAMES_EN, STEP_NAMES_NL
from mailbot.domain.message import Address
from mailbot.mail.compose import OutgoingMail
from mailbot.render import RenderedMail
from mailbot.service.app import App
from mailbot.service.digest_figures import Digest, Rows, Window, compute
from mailbot.service.directory import Directory
from mailbot.service.outbox import enqueue
from mailbot.store import digest_queries as queries
from mailbot.store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

TEMPLATE = "digest"
PURPOSE = "digest"
INSTALLED_AT = "installed_at"


def schedule_of(app: App) -> DigestSchedule:
    config = app.config
    return DigestSchedule.from_names(
        config.mailbot.timezone, config.mailbot.digest_day, digest_time(config)
    )


def scheduled_key(week: Week) -> str:
    return f"digest:{week.key}"


def installed_at(app: App) -> datetime:
    """When mailbot first started on this database (stored then, if it was not yet)."""
    stored = app.db.meta_default(INSTALLED_AT, app.clock.now().isoformat())
    return datetime.fromisoformat(stored)


# -- building --------------------------------------------------------------------------------


def build(app: App, week: Week, now: datetime | None = None) -> Digest:
    """The figures for `week`, with snapshots taken at `now` (default: the clock)."""
    now = now or app.clock.now()
    window = Window.of(week, now, app.calendar)
    with app.db.session() as session:
        rows = Rows(
            spans=queries.escalation_spans(session, window.since),
            open=queries.open_escalations(session),
            compliments=queries.compliments_since(session, window.trend_start),
            caps=queries.open_caps(session),
            compliments_per_supplier=queries.compliments_per_supplier(session, window.year_start),
        )
    return compute(rows, window, app.config, app.calendar, app.config.mailbot.language)


def context(digest: Digest, language: str) -> dict[str, Any]:
    """Plain template data (no ORM objects): the figures as dicts, plus the step names."""
    return {
        **asdict(digest),
        "step_names": dict(STEP_NAMES_NL if language == "nl" else STEP_NAMES_EN),
    }


def render(app: App, digest: Digest) -> RenderedMail:
    language = app.config.mailbot.language
    return app.renderer.render(TEMPLATE, language, **context(digest, language))


# -- sending ---------------------------------------------------------------------------------


def _queue(app: App, week: Week, dedup_key: str) -> bool:
    """Build, render and put the digest in the outbox; False when there is nobody to send to."""
    recipients = app.config.organisation.digest_to
    if not recipients:
        log.info("no digest for %s: organisation.digest_to is empty", week.key)
        return False
    rendered = render(app, build(app, week))
    names = Directory(app.config)
    mail = OutgoingMail(
        to=tuple(Address(a, names.name_of(a) if names.person(a) else "") for a in recipients),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        from_name=app.config.mailbox.display_name,
    )
    with app.db.session() as session:
        enqueue(session, app, dedup_key=dedup_key, mail=mail, purpose=PURPOSE)
    log.info("digest for %s queued (%s)", week.key, dedup_key)
    return True


def send_due_digest(app: App) -> str | None:
    """The daemon's step: queue the latest due week's digest unless it was queued before.

    Returns the dedup key of a digest queued now, else None.
    """
    now = app.clock.now()
    first_start = installed_at(app)
    schedule = schedule_of(app)
    week = schedule.latest_due(now)
    if schedule.due(week) <= first_start:
        return None  # due before mailbot existed here: no late digest at installation
    key = scheduled_key(week)
    with app.db.session() as session:
        if queries.outbox_has(session, key):
            return None
    try:
        queued = _queue(app, week, key)
    except (DatabaseUnavailable, OperationalError):
        raise  # the pass backs off and retries
    except Exception:
        # a digest that cannot be built (say, a broken site template) must not stop
        # the rest of the pass: mail keeps flowing, and every pass tries it again
        log.exception("the digest for %s could not be built; the next pass tries again", week.key)
        return None
    return key if queued else None


def next_digest_moment(app: App) -> datetime:
    """The next scheduled digest moment after now (the daemon wakes up for it)."""
    return schedule_of(app).next_after(app.clock.now())


def send_now(app: App) -> str | None:
    """`mailbot digest --send`: queue a digest of the last complete week, outside the schedule."""
    now = app.clock.now()
    week = schedule_of(app).last_complete_week(now)
    key = f"digest:manual:{now.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"
    return key if _queue(app, week, key) else None


def write_preview(app: App, path: Path) -> Path:
    """`mailbot digest --preview FILE`: the HTML of the last complete week, nothing sent."""
    week = schedule_of(app).last_complete_week(app.clock.now())
    rendered = render(app, build(app, week))
    path.write_text(rendered.html, encoding="utf-8")
    return path
