"""Sample template data for `templates/<lang>/digest.*`, as `digest.context()` makes it.

The figures are computed by the real `compute()` from a few hand-made rows,
with the escalation titles taken from `texts["shortfall"]`, so the generic
template checks (tests/test_templates.py: clean text, escaped user text,
plain data) see what the service really passes. Register it there with

    from tests.digest_sample import digest_samples
    sample("digest")(digest_samples)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.config import from_dict
from mailbot.domain import compliments as cmp
from mailbot.domain import ladder
from mailbot.domain.calendar import WorkingCalendar
from mailbot.domain.digest_schedule import Week
from mailbot.service.digest import context
from mailbot.service.digest_figures import Rows, Window, compute
from mailbot.store.digest_queries import ComplimentRow, EscalationSpan, OpenEscalation
from tests.fixtures import BASE_CONFIG, merge

AMS = ZoneInfo("Europe/Amsterdam")
WEEK = Week(2026, 47)  # 16 to 22 November 2026
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=AMS)
Context = dict[str, Any]


def _at(day: int, month: int = 11, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=AMS)


def _escalation(
    step: int, sent: datetime, deadline: datetime | None, pending: bool = False
) -> dict[str, Any]:
    state = ladder.Escalation(
        phase=ladder.Phase.WAITING if pending else ladder.Phase.ACTIVE,
        step=step,
        steps=tuple(
            ladder.StepRecord(n, sent - timedelta(days=14 * (step - n)), "send")
            for n in range(1, step + 1)
        ),
        deadline=deadline,
        pending=ladder.Pending(step + 1, ladder.Policy.APPROVE, _at(18)) if pending else None,
    )
    return ladder.to_data(state)


def _compliment(stages: list[tuple[str, datetime]], receivers: list[str]) -> dict[str, Any]:
    state = cmp.Compliment(
        stage=cmp.Stage(stages[-1][0]),
        receivers=tuple(receivers),
        reactions=tuple((r, "Dank je wel!") for r in receivers)
        if any(s == "reacted" for s, _ in stages)
        else (),
        reached=tuple((s, m.isoformat()) for s, m in stages),
    )
    return cmp.to_data(state)


def _rows(title: str) -> Rows:
    opened = [
        EscalationSpan("ESC-2026-0003", "acme", "active", 3, _at(1, 9), None, "a", title),
        EscalationSpan("ESC-2026-0004", "globex", "waiting", 3, _at(1, 10), None, "b", title),
        EscalationSpan("ESC-2026-0009", "acme", "active", 1, _at(17), None, "a", title),
        EscalationSpan("ESC-2026-0005", "globex", "resolved", 2, _at(2), _at(18), "b", title),
    ]
    open_ = [
        OpenEscalation(
            "ESC-2026-0003",
            "acme",
            "active",
            3,
            "a.jansen@gemeente.example",
            title,
            _at(1, 9),
            _escalation(3, _at(6, 10), _at(21, hour=0)),
        ),
        OpenEscalation(
            "ESC-2026-0004",
            "globex",
            "waiting",
            3,
            "b.bakker@gemeente.example",
            title,
            _at(1, 10),
            _escalation(3, _at(5), _at(18, hour=0), pending=True),
        ),
        OpenEscalation(
            "ESC-2026-0009",
            "acme",
            "active",
            1,
            "a.jansen@gemeente.example",
            title,
            _at(17),
            _escalation(1, _at(17), _at(2, 12, hour=0)),
        ),
    ]
    compliments = [
        ComplimentRow(
            "CMP-2026-0001",
            None,
            "given",
            _at(16),
            None,
            _compliment(
                [("registered", _at(16)), ("assigned", _at(17)), ("given", _at(19))],
                ["p.devries@gemeente.example"],
            ),
            True,
        ),
        ComplimentRow(
            "CMP-2026-0002",
            "acme",
            "cap",
            _at(19, 10),
            None,
            _compliment(
                [
                    ("registered", _at(19, 10)),
                    ("assigned", _at(20, 10)),
                    ("given", _at(21, 10)),
                    ("reacted", _at(26, 10)),
                    ("cap", _at(2)),
                ],
                ["servicemanager@acme.example"],
            ),
            True,
        ),
        ComplimentRow(
            "CMP-2026-0003",
            None,
            "registered",
            _at(18),
            None,
            _compliment([("registered", _at(18))], []),
            False,
        ),
    ]
    return Rows(opened, open_, compliments, [compliments[1]], {"acme": 1})


def digest_samples(language: str, texts: dict[str, str]) -> list[tuple[str, Context]]:
    """A busy week (every list filled) and a quiet one (every list empty)."""
    config = from_dict(
        merge(BASE_CONFIG, {"mailbot": {"language": language}}), base_dir=Path("/nonexistent")
    )
    calendar = WorkingCalendar()
    window = Window.of(WEEK, NOW, calendar)
    busy = compute(_rows(texts["shortfall"]), window, config, calendar, language)
    quiet = compute(Rows([], [], [], [], {}), window, config, calendar, language)
    return [("busy", context(busy, language)), ("quiet", context(quiet, language))]
