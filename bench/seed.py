"""Seeding many open escalation cases, fast (bulk inserts), for the sweep and start-up benchmarks.

Each case is what the ladder leaves after step 1 went out: a real state in
`cases.data`, participants, and pending deadlines (the step deadline and its
reminder). `due` of them have their step deadline in the past.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from mailbot.domain import ladder
from mailbot.domain.calendar import WorkingCalendar
from mailbot.store.db import Database
from mailbot.store.tables import Case, Deadline, Meta, Participant

CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
poll_interval = 60
[mailbox]
address = "leveranciers@gemeente.example"
path = "mailbox"
[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]
digest_to = []
[[people]]
email = "a.jansen@gemeente.example"
name = "Anna Jansen"
[[suppliers]]
id = "acme"
name = "Acme Hosting B.V."
domains = ["acme.example"]
sla_reference = "SLA Hosting 2025"
counterpart = "servicemanager@acme.example"
"""


def write_config(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mailbox").mkdir(exist_ok=True)
    path = root / "mailbot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def seed(root: Path, cases: int, due: int, now: datetime) -> None:
    """`cases` open escalations at step 1; the first `due` of them past their deadline."""
    db = Database.connect(f"sqlite:///{root / 'mailbot.db'}")
    db.upgrade()
    db.meta_default("instance_id", uuid.uuid4().hex)
    db.meta_default("installed_at", (now - timedelta(days=400)).isoformat())
    calendar = WorkingCalendar()
    rules = ladder.Rules(now=now - timedelta(days=30), calendar=calendar, profile=ladder.Profile())
    opened = ladder.decide(None, ladder.Opened(), rules).state
    future = ladder.decide(
        None, ladder.Opened(), ladder.Rules(now, calendar, ladder.Profile())
    ).state
    with db.engine.begin() as connection:
        connection.execute(insert(Meta), [{"key": "sent_marker", "value": ""}])
        for start in range(0, cases, 5000):
            chunk = range(start, min(cases, start + 5000))
            rows: list[dict[str, Any]] = []
            for n in chunk:
                state = opened if n < due else future
                rows.append(
                    {
                        "id": n + 1,
                        "ref": f"ESC-2025-{n + 1:06d}",
                        "kind": "escalation",
                        "state": "active",
                        "step": 1,
                        "supplier_id": "acme",
                        "owner": "a.jansen@gemeente.example",
                        "title": f"storing {n}",
                        "language": "nl",
                        "thread_root": None,
                        "data": {
                            "escalation": ladder.to_data(state),
                            "request": {"start_step": 1},
                            "decisions": 1,
                        },
                        "opened_at": now - timedelta(days=30),
                        "updated_at": now - timedelta(days=30),
                        "closed_at": None,
                        "version": 1,
                    }
                )
            connection.execute(insert(Case), rows)
            connection.execute(
                insert(Participant),
                [
                    {
                        "case_id": n + 1,
                        "email": "a.jansen@gemeente.example",
                        "role": "owner",
                        "name": "",
                    }
                    for n in chunk
                ],
            )
            deadlines: list[dict[str, Any]] = []
            for n in chunk:
                state = opened if n < due else future
                assert state.deadline is not None
                step_at = calendar.due_step_moment(state.deadline)
                deadlines.append(
                    {
                        "case_id": n + 1,
                        "kind": "step",
                        "due_at": step_at,
                        "status": "pending",
                        "payload": {"deadline": state.deadline.isoformat()},
                        "created_at": now,
                        "fired_at": None,
                    }
                )
                deadlines.append(
                    {
                        "case_id": n + 1,
                        "kind": "reminder",
                        "due_at": step_at - timedelta(days=2),
                        "status": "fired" if n < due else "pending",
                        "payload": {"deadline": state.deadline.isoformat()},
                        "created_at": now,
                        "fired_at": None,
                    }
                )
            connection.execute(insert(Deadline), deadlines)
    db.close()


def a_working_monday() -> datetime:
    return datetime(2026, 12, 14, 10, tzinfo=UTC)
