"""The weekly digest: its numbers on a history laid out by hand, its HTML, its CLI, its speed.

The expected numbers below are worked out by hand from the history in
`lay_out_history()` (the working days are counted in the comments), never by
calling the digest's own code. Week 47 of 2026 runs from Monday 16 to Sunday
22 November; the digest is built on Monday 23 November at 08:00.
"""

from __future__ import annotations

import re
import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from mailbot.cli import app as cli
from mailbot.clock import ManualClock
from mailbot.domain.calendar import WorkingCalendar
from mailbot.domain.digest_schedule import Week
from mailbot.render import Renderer
from mailbot.service import digest, digest_figures
from mailbot.service.app import App
from mailbot.service.digest_figures import (
    CaseLine,
    ComplimentLine,
    Overdue,
    Refs,
    StageNorm,
    StepCount,
    Summary,
    Waiting,
)
from mailbot.store.tables import OutboundMessage
from tests.digest_history import add_compliment, add_escalation, seed_history
from tests.digest_sample import digest_samples
from tests.servers import require_program

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=AMS)
WEEK = Week(2026, 47)
ANNA, BERT, PIET = (
    "a.jansen@gemeente.example",
    "b.bakker@gemeente.example",
    "p.devries@gemeente.example",
)
MARIEKE, KWALITEIT, BEHEER = (
    "m.smit@gemeente.example",
    "kwaliteit@gemeente.example",
    "beheer@gemeente.example",
)
ACME_SM = "servicemanager@acme.example"
USER_TEXT = 'Back-ups <script>alert("x")</script> & herstel > 3 dagen'


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def nov(day: int, hour: int = 10) -> datetime:
    return at(2026, 11, day, hour)


def lay_out_history(session: Session) -> None:
    """Eleven escalations and ten compliments (E1..E11, C1..C10 in the comments)."""
    esc = add_escalation
    # E1 acme: step 2 since Mon 16 Nov, deadline ahead. Open, 5 working days in step 2.
    esc(session, ref="ESC-2026-0001", supplier="acme", owner=ANNA, opened=nov(2),
        steps=[nov(2), nov(16, 9)], deadline=at(2026, 12, 8, 0))  # fmt: skip
    # E2 acme: opened Thu 19 Nov (this week), step 1. 2 working days (20, 23).
    esc(session, ref="ESC-2026-0002", supplier="acme", owner=ANNA, opened=nov(19, 14),
        steps=[nov(19, 14)], deadline=at(2026, 12, 4, 0))  # fmt: skip
    # E3 acme: step 3 since Tue 6 Oct; its deadline (end of Fri 20 Nov) passed: overdue.
    esc(session, ref="ESC-2026-0003", supplier="acme", owner=BERT, opened=at(2026, 9, 1),
        steps=[at(2026, 9, 1), at(2026, 9, 15), at(2026, 10, 6, 9)],
        deadline=at(2026, 11, 21, 0))  # fmt: skip
    # E4 globex: step 3 since Thu 5 Nov; step 4 waits for approval since Wed 18 Nov 09:00.
    esc(session, ref="ESC-2026-0004", supplier="globex", owner=PIET, opened=at(2026, 10, 1),
        steps=[at(2026, 10, 1), at(2026, 10, 15), nov(5)], phase="waiting",
        deadline=nov(18, 0), pending=(4, "approve", nov(18, 9)))  # fmt: skip
    # E5 globex: opened Mon 2 Nov, resolved Wed 18 Nov at the same hour: 16 days.
    esc(session, ref="ESC-2026-0005", supplier="globex", owner=PIET, opened=nov(2),
        steps=[nov(2), nov(16)], phase="resolved", closed=nov(18))  # fmt: skip
    # E6 acme: June, resolved in exactly 10 days.
    esc(session, ref="ESC-2026-0006", supplier="acme", owner=ANNA, opened=at(2026, 6, 1),
        steps=[at(2026, 6, 1)], phase="resolved", closed=at(2026, 6, 11))  # fmt: skip
    # E7 acme: went all the way to step 5 and the contract was terminated (not a resolution).
    esc(session, ref="ESC-2025-0007", supplier="acme", owner=ANNA, opened=at(2025, 12, 1),
        steps=[at(2025, 12, 1), at(2025, 12, 15), at(2026, 1, 6), at(2026, 1, 20),
               at(2026, 2, 17)], phase="terminated", closed=at(2026, 3, 2))  # fmt: skip
    # E8 acme: closed in April 2025, before the 12 months: in no figure at all.
    esc(session, ref="ESC-2025-0008", supplier="acme", owner=ANNA, opened=at(2025, 3, 3),
        steps=[at(2025, 3, 3)], phase="resolved", closed=at(2025, 4, 1))  # fmt: skip
    # E9 acme: opened before the 12 months (1 Oct 2025 10:00 CEST = 08:00 UTC), resolved inside
    # them (2 Dec 2025 09:00 CET = 08:00 UTC): exactly 62 days.
    esc(session, ref="ESC-2025-0009", supplier="acme", owner=ANNA, opened=at(2025, 10, 1),
        steps=[at(2025, 10, 1)], phase="resolved", closed=at(2025, 12, 2, 9))  # fmt: skip
    # E10 globex: opened Tue 17 Nov and withdrawn Fri 20 Nov, both this week.
    esc(session, ref="ESC-2026-0010", supplier="globex", owner=PIET, opened=nov(17),
        steps=[nov(17)], phase="withdrawn", closed=nov(20))  # fmt: skip
    # E11 globex: paused at step 1 since Tue 10 Nov: 9 working days (11-13, 16-20, 23).
    esc(session, ref="ESC-2026-0011", supplier="globex", owner=PIET, opened=nov(10),
        steps=[nov(10)], phase="paused")  # fmt: skip

    cmp = add_compliment
    # C1 (this week) Servicedesk: registered 1 wd (met), assigned 2 wd (met), given running.
    cmp(session, ref="CMP-2026-0001", opened=nov(16), receivers=[PIET],
        reached=[("assigned", nov(17)), ("given", nov(19))])  # fmt: skip
    # C2 (this week) no receiver yet: registered since Wed 18, 3 working days > 2: missed.
    cmp(session, ref="CMP-2026-0002", opened=nov(18))
    # C3 Contractmanagement + Servicedesk: registered 4 wd (missed), assigned 1 (met),
    # given 9 (missed), reacted running; both reacted, external maker: passed back.
    cmp(session, ref="CMP-2026-0003", opened=nov(2), receivers=[ANNA, PIET], reactions=2,
        reached=[("assigned", nov(6)), ("given", nov(9)), ("reacted", nov(20))])  # fmt: skip
    # C4 Servicedesk, internal maker: 1, 3, 1, 3 working days (all met); CAP done.
    cmp(session, ref="CMP-2026-0004", opened=at(2026, 9, 1), receivers=[MARIEKE], reactions=1,
        external_maker=False, closed_how="done",
        reached=[("assigned", at(2026, 9, 2)), ("given", at(2026, 9, 7)),
                 ("reacted", at(2026, 9, 8)), ("cap", at(2026, 9, 11)),
                 ("closed", at(2026, 10, 9))])  # fmt: skip
    # C5 about Acme's service manager: 1, 0, 4, 5 working days (all met); CAP running.
    cmp(session, ref="CMP-2026-0005", opened=at(2026, 10, 19), receivers=[ACME_SM],
        reactions=1, supplier="acme",
        reached=[("assigned", at(2026, 10, 20)), ("given", at(2026, 10, 20, 15)),
                 ("reacted", at(2026, 10, 26)), ("cap", nov(2))])  # fmt: skip
    # C6 before the 12 weeks, CAP still running: only in "CAPs being carried out".
    cmp(session, ref="CMP-2026-0006", opened=at(2026, 8, 27), receivers=[BERT], reactions=1,
        reached=[("assigned", at(2026, 8, 28)), ("given", at(2026, 8, 31)),
                 ("reacted", at(2026, 9, 1)), ("cap", at(2026, 9, 3))])  # fmt: skip
    # C7 about Globex, two years ago: in nothing.
    cmp(session, ref="CMP-2024-0007", opened=at(2024, 11, 1), supplier="globex",
        reached=[("closed", at(2024, 11, 4))], closed_how="closed_by_coordinator")  # fmt: skip
    # C8 ICT: registered 3 wd (missed), assigned 7 wd (missed) until the coordinator closed it.
    cmp(session, ref="CMP-2026-0008", opened=at(2026, 10, 5), receivers=[BEHEER],
        closed_how="closed_by_coordinator",
        reached=[("assigned", at(2026, 10, 8)), ("closed", at(2026, 10, 19))])  # fmt: skip
    # C9 Contractmanagement: 0, 1, 1, 2 working days (all met), closed without a CAP.
    cmp(session, ref="CMP-2026-0009", opened=nov(10), receivers=[ANNA], reactions=1,
        closed_how="no_cap",
        reached=[("assigned", nov(10, 14)), ("given", nov(11)), ("reacted", nov(12)),
                 ("closed", nov(16))])  # fmt: skip
    # C10 Kwaliteit, internal maker, arrived Mon 26 Oct 00:30 local = Sun 25 Oct 23:30 UTC:
    # week 44 in local time (week 43 by UTC date). 0 and 1 working days (met); given since
    # 27 Oct, far over its 5 days (missed).
    cmp(session, ref="CMP-2026-0010", opened=at(2026, 10, 26, 0, 30), receivers=[KWALITEIT],
        external_maker=False,
        reached=[("assigned", at(2026, 10, 26)), ("given", at(2026, 10, 27))])  # fmt: skip


@pytest.fixture
def history(make_app: Callable[..., App], clock: ManualClock) -> App:
    clock.set(NOW)
    app = make_app()
    with app.db.session() as session:
        lay_out_history(session)
    return app


# -- the numbers ----------------------------------------------------------------------------------


def test_it_counts_this_weeks_escalations_and_what_needs_attention(history: App) -> None:
    d = digest.build(history, WEEK)
    assert d.week.key == "2026-W47" and d.week.period == "16 tot en met 22 november 2026"
    assert d.summary == Summary(open_escalations=5, opened=2, closed=2, attention=2, compliments=2)
    assert d.opened == [
        CaseLine("ESC-2026-0010", "Globex Facilitair", "back-ups mislukken", "Piet de Vries",
                 "withdrawn", 1),
        CaseLine("ESC-2026-0002", "Acme Hosting B.V.", "back-ups mislukken", "Anna Jansen",
                 "active", 1),
    ]  # fmt: skip
    assert [(c.ref, c.state) for c in d.closed] == [
        ("ESC-2026-0005", "resolved"),
        ("ESC-2026-0010", "withdrawn"),
    ]
    assert d.overdue == [
        Overdue(
            ref="ESC-2026-0003",
            supplier="Acme Hosting B.V.",
            step=3,
            deadline_day=date(2026, 11, 20),
            days_over=1,
            owner="Bert Bakker",
            next_step_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),  # 09:00 local
        )
    ]
    assert d.waiting == [
        Waiting(
            ref="ESC-2026-0004",
            supplier="Globex Facilitair",
            step=4,
            mode="approve",
            since=date(2026, 11, 18),
            days=3,  # 19, 20, 23 November
            owner="Piet de Vries",
            held_for_verdict=False,
        )
    ]


def test_it_shows_open_escalations_per_supplier_and_step_with_time_in_step(history: App) -> None:
    d = digest.build(history, WEEK)
    acme, globex = d.open_by_supplier
    assert (acme.supplier, acme.count, globex.supplier, globex.count) == (
        "Acme Hosting B.V.",
        3,
        "Globex Facilitair",
        2,
    )
    assert acme.steps == [
        StepCount(1, 1, ["ESC-2026-0002"]),
        StepCount(2, 1, ["ESC-2026-0001"]),
        StepCount(3, 1, ["ESC-2026-0003"]),
    ]
    assert globex.steps == [StepCount(1, 1, ["ESC-2026-0011"]), StepCount(3, 1, ["ESC-2026-0004"])]
    # working days in the current step: E3 7-31 Oct (18) + 2-23 Nov (16); E1 17-20 + 23 Nov;
    # E2 20 and 23 Nov; E4 6, 9-13, 16-20, 23 Nov; E11 11-13, 16-20, 23 Nov
    assert [(c.ref, c.step, c.days_in_step, c.state) for c in acme.cases] == [
        ("ESC-2026-0003", 3, 34, "active"),
        ("ESC-2026-0001", 2, 5, "active"),
        ("ESC-2026-0002", 1, 2, "active"),
    ]
    assert [(c.ref, c.step, c.days_in_step, c.state) for c in globex.cases] == [
        ("ESC-2026-0004", 3, 12, "waiting"),
        ("ESC-2026-0011", 1, 9, "paused"),
    ]


def test_it_sums_up_twelve_months_per_supplier(history: App) -> None:
    acme, globex = digest.build(history, WEEK).suppliers
    assert acme.supplier == "Acme Hosting B.V."
    # open ones first, newest first; E8 closed before the 12 months began
    assert acme.cases == Refs(
        6,
        ["ESC-2026-0002", "ESC-2026-0001", "ESC-2026-0003", "ESC-2026-0006", "ESC-2025-0007",
         "ESC-2025-0009"],
        0,
    )  # fmt: skip
    assert (acme.highest_step, acme.resolved, acme.compliments) == (5, 2, 1)
    assert acme.median_days == "36"  # median of 10 (E6) and 62 (E9) days
    assert globex.cases == Refs(
        4, ["ESC-2026-0011", "ESC-2026-0004", "ESC-2026-0010", "ESC-2026-0005"], 0
    )
    assert (globex.highest_step, globex.resolved, globex.median_days, globex.compliments) == (
        3,
        1,
        "16",
        0,
    )


def test_it_draws_twelve_weeks_of_trend_in_local_weeks(history: App) -> None:
    trend = digest.build(history, WEEK).trend
    assert [t.number for t in trend] == list(range(36, 48))
    assert trend[0].monday == date(2026, 8, 31) and trend[0].day == "31 aug"
    rows = [(t.opened, t.closed, t.open_at_end, t.compliments) for t in trend]
    assert rows == [
        (1, 0, 1, 1),  # 36: E3 opened, C4
        (0, 0, 1, 0),
        (0, 0, 1, 0),
        (0, 0, 1, 0),
        (1, 0, 2, 0),  # 40: E4
        (0, 0, 2, 1),  # 41: C8
        (0, 0, 2, 0),
        (0, 0, 2, 1),  # 43: C5
        (0, 0, 2, 1),  # 44: C10, which arrived at 00:30 on Monday, local time
        (2, 0, 4, 1),  # 45: E1, E5; C3
        (1, 0, 5, 1),  # 46: E11; C9
        (2, 2, 5, 2),  # 47: E2, E10 opened; E5, E10 closed; C1, C2
    ]
    assert (trend[-1].opened_bar, trend[-1].compliments_bar) == (100, 100)
    assert (trend[0].opened_bar, trend[1].opened_bar) == (50, 0)
    assert trend[0].opened_text == "▇" * 10 and trend[1].opened_text == ""


def test_it_measures_compliment_kpis_per_team(history: App) -> None:
    d = digest.build(history, WEEK)
    assert d.received == [
        ComplimentLine("CMP-2026-0001", ["Servicedesk"]),
        ComplimentLine("CMP-2026-0002", [None]),
    ]
    teams = {t.team: t for t in d.teams}
    assert [t.team for t in d.teams] == [
        "Servicedesk",
        "Contractmanagement",
        "Acme Hosting B.V.",
        "ICT",
        "Kwaliteit",
        None,
    ]
    figures = {
        team: (
            t.received.count,
            t.norms_met,
            t.norms_counted,
            t.norms_percent,
            t.reactions_back,
            t.caps_open,
            t.caps_done,
        )
        for team, t in teams.items()
    }
    assert figures == {
        "Servicedesk": (3, 7, 9, 78, 1, 0, 1),  # C1 2/2, C3 1/3, C4 4/4
        "Contractmanagement": (2, 5, 7, 71, 2, 0, 0),  # C3 1/3, C9 4/4
        "Acme Hosting B.V.": (1, 4, 4, 100, 1, 1, 0),  # C5
        "ICT": (1, 0, 2, 0, 0, 0, 0),  # C8
        "Kwaliteit": (1, 2, 3, 67, 0, 0, 0),  # C10
        None: (1, 0, 1, 0, 0, 0, 0),  # C2
    }
    assert teams["Servicedesk"].received.refs == ["CMP-2026-0001", "CMP-2026-0003", "CMP-2026-0004"]
    total = d.compliments_total
    assert (total.received.count, total.norms_met, total.norms_counted, total.norms_percent) == (
        8,
        17,
        23,
        74,
    )
    assert (total.reactions_back, total.caps_open, total.caps_done) == (3, 1, 1)  # C3 C5 C9
    assert d.norms_by_stage == [
        StageNorm("registered", 2, 5, 8, 63),  # 62.5 rounds up, as a reader does
        StageNorm("assigned", 5, 6, 7, 86),
        StageNorm("given", 5, 3, 5, 60),
        StageNorm("reacted", 10, 3, 3, 100),
        StageNorm("cap", 5, 0, 0, None),  # the sample's CAPs carry no due date
    ]
    assert d.caps_open == Refs(2, ["CMP-2026-0006", "CMP-2026-0005"], 0)


def test_it_writes_the_numbers_into_both_parts_in_dutch(history: App) -> None:
    mail = digest.render(history, digest.build(history, WEEK))
    assert mail.subject == (
        "Weekoverzicht week 47: 5 open escalaties, 2 vragen aandacht, 2 complimenten"
    )
    text = mail.text
    for line in (
        "Dit is het weekoverzicht van Gemeente Voorbeeld over week 47: "
        "16 tot en met 22 november 2026.",
        "- Deze week nieuw: 2, afgesloten: 2",
        "STATUS ESC-2026-0003",
        "- ESC-2026-0003, Acme Hosting B.V., stap 3: termijn liep tot en met vrijdag "
        "20 november 2026 (1 werkdag geleden). Eigenaar: Bert Bakker. "
        "Stap 4 volgt maandag 23 november 2026 om 09:00.",
        "- ESC-2026-0004, Globex Facilitair: stap 4 wacht op VERSTUUR sinds woensdag "
        "18 november 2026 (3 werkdagen). Eigenaar: Piet de Vries.",
        "Acme Hosting B.V.: 3 open (stap 1: 1, stap 2: 1, stap 3: 1)",
        "- ESC-2026-0011, stap 1 (Rectificatienotitie, gepauzeerd), 9 werkdagen in deze stap, "
        "eigenaar Piet de Vries: back-ups mislukken",
        "- week 44 (26 okt): escalaties 0 | complimenten 1 ▇▇▇▇▇▇▇▇▇▇",
        "- Acme Hosting B.V.: 6 escalaties, hoogste stap 5, 2 opgelost in mediaan 36 dagen, "
        "1 compliment (ESC-2026-0002, ESC-2026-0001, ESC-2026-0003, ESC-2026-0006, "
        "ESC-2025-0007, ESC-2025-0009)",
        "- Servicedesk: 3 ontvangen, normen gehaald 78% (7 van 9), 1 reactie teruggegeven, "
        "CAP: 0 open, 1 uitgevoerd (CMP-2026-0001, CMP-2026-0003, CMP-2026-0004)",
        "- Nog geen ontvanger: 1 ontvangen, normen gehaald 0% (0 van 1), 0 reacties "
        "teruggegeven, CAP: 0 open, 0 uitgevoerd (CMP-2026-0002)",
        "- ontvanger kiezen (binnen 2 werkdagen): 63% (5 van 8)",
        "CAP's in uitvoering: 2 (CMP-2026-0006, CMP-2026-0005)",
    ):
        assert line in text.splitlines(), line
    page = visible(mail.html)
    for words in ("Weekoverzicht week 47", "36", "78%", "ESC-2026-0003", "Wacht op de eigenaar"):
        assert words in page
    assert 'href="mailto:leveranciers@gemeente.example?subject=STATUS%20ESC-2026-0003&amp;' in (
        mail.html
    )


def test_it_writes_english_when_the_organisation_does(
    make_app: Callable[..., App], clock: ManualClock
) -> None:
    clock.set(NOW)
    app = make_app(mailbot={"language": "en"})
    with app.db.session() as session:
        lay_out_history(session)
    mail = digest.render(app, digest.build(app, WEEK))
    assert (
        mail.subject == "Weekly digest week 47: 5 open escalations, 2 need attention, 2 compliments"
    )
    assert "- ESC-2026-0004, Globex Facilitair: step 4 waits for SEND since Wednesday " in mail.text
    assert "receiver's reaction (within 5 working days): 60% (3 of 5)" in mail.text
    assert "VERSTUUR" not in mail.text and "werkdag" not in mail.html


# -- the HTML -----------------------------------------------------------------------------------


VOID = {"br", "meta", "img", "hr", "input", "link", "area", "base", "col", "source", "wbr"}


class StrictHTML(HTMLParser):
    """Fails on what Outlook and Gmail choke on: unbalanced tags and things they block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, tuple[int, int]]] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))
        for name, value in attrs:
            value = value or ""
            if name in ("src", "background") or (name == "href" and value.startswith("http")):
                self.problems.append(f"external resource {name}={value!r} at {self.getpos()}")
            if name == "style" and re.search(r"url\(|display\s*:\s*(flex|grid)|@import", value):
                self.problems.append(f"style Outlook cannot show: {value!r}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            open_tag = self.stack[-1] if self.stack else None
            self.problems.append(f"</{tag}> at {self.getpos()} closes {open_tag}")
            return
        self.stack.pop()


def check_html(html: str) -> StrictHTML:
    assert html.lstrip().startswith("<!DOCTYPE html>")
    parser = StrictHTML()
    parser.feed(html)
    parser.close()
    assert not parser.problems, parser.problems
    assert not parser.stack, f"never closed: {parser.stack}"
    assert not parser.tags & {"svg", "script", "style", "img", "link", "iframe", "object"}
    assert not re.search(r"&(?![a-z]+;|#\d+;)", html), "bare &"
    return parser


def test_the_checker_catches_unbalanced_html() -> None:
    parser = StrictHTML()
    parser.feed("<table><tr><td>x</tr></table>")
    assert parser.problems


def visible(html: str) -> str:
    inline = re.sub(r"</?(?:span|b|a|code)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", inline).replace("&amp;", "&").split())


@pytest.mark.parametrize("language", ["nl", "en"])
def test_it_renders_valid_outlook_safe_html_for_busy_and_quiet_weeks(language: str) -> None:
    renderer = Renderer(globals={"organisation": "Gemeente Voorbeeld", "mailbox": "l@g.example"})
    for texts in ({"shortfall": "back-ups mislukken"}, {"shortfall": USER_TEXT}):
        for label, ctx in digest_samples(language, texts):
            mail = renderer.render("digest", language, **ctx)
            check_html(mail.html)
            assert f'lang="{language}"' in mail.html
            first = re.split(r"(?<=\.)\s", mail.text, maxsplit=1)[0]
            assert first in visible(mail.html), label
            assert "<script" not in mail.html
            for leak in ("{{", "{%", "None", "Undefined", "[]", "()", "''"):
                assert leak not in mail.text and leak not in mail.subject, (label, leak)
            assert "\n\n\n" not in mail.text
            assert not re.search(r"[ \t]$", mail.text, re.MULTILINE), label
            if label == "busy":
                assert (USER_TEXT in mail.text) == (texts["shortfall"] == USER_TEXT)
                if texts["shortfall"] == USER_TEXT:
                    assert "&lt;script&gt;" in mail.html


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit PNG, decoded with the stdlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, bpp)]


def test_it_previews_html_that_chromium_draws_with_its_chart(history: App, tmp_path: Path) -> None:
    chromium = require_program("chromium", "chromium")
    page = digest.write_preview(history, tmp_path / "digest.html")
    check_html(page.read_text(encoding="utf-8"))
    shot = tmp_path / "digest.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=800,1400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (800, 1400)
    white = sum(1 for p in pixels if p == b"\xff\xff\xff")
    background = sum(1 for p in pixels if p == b"\xf4\xf5\xf7")
    assert white + background < 0.9 * len(pixels), "the page is (nearly) blank"
    assert len(set(pixels)) > 50, "no text was drawn"
    # the trend chart's bars, in their exact colours (solid fills are not anti-aliased)
    assert pixels.count(bytes.fromhex("c4420c")) > 500, "no escalation bars"
    assert pixels.count(bytes.fromhex("1864ab")) > 500, "no compliment bars"


# -- the command line ---------------------------------------------------------------------------

CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
lease_seconds = 1

[mailbox]
address = "leveranciers@gemeente.example"
path = "mailbox"

[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]
digest_to = ["mt@gemeente.example"]

[[people]]
email = "a.jansen@gemeente.example"
name = "Anna Jansen"
"""


def mailbot(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_it_offers_a_preview_and_a_send_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(CONFIG)
    for wrong in ((), ("--send", "--preview", str(tmp_path / "x.html"))):
        code, output = mailbot(config, "digest", *wrong)
        assert code == 2 and "exactly one of --preview FILE or --send" in output
    code, output = mailbot(config, "digest", "--preview", str(tmp_path / "digest.html"))
    assert code == 0 and str(tmp_path / "digest.html") in output
    check_html((tmp_path / "digest.html").read_text(encoding="utf-8"))
    code, output = mailbot(config, "digest", "--send")
    assert code == 0 and "digest sent to mt@gemeente.example" in output
    outgoing = list((tmp_path / "mailbox" / ".Uitgaand" / "cur").iterdir())
    assert len(outgoing) == 1 and b"Weekoverzicht week" in outgoing[0].read_bytes()


# -- speed ------------------------------------------------------------------------------------


def test_it_builds_two_years_of_history_in_well_under_two_seconds(
    make_app: Callable[..., App], clock: ManualClock
) -> None:
    clock.set(NOW)
    app = make_app()
    with app.db.session() as session:
        seeded = seed_history(session, app.config, app.calendar, until=NOW)
    assert seeded.escalations > 200 and seeded.compliments > 1500
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        mail = digest.render(app, digest.build(app, WEEK))
        timings.append(time.perf_counter() - start)
    assert median(timings) < 2.0, timings
    check_html(mail.html)
    assert len(mail.html.encode()) < 102_000, "Gmail clips HTML mail above 102 kB"
    with app.db.session() as session:
        assert session.scalar(select(OutboundMessage.id).where(
            OutboundMessage.purpose == "digest")) is None  # fmt: skip


def test_a_cap_counts_as_met_when_carried_out_before_its_check_went_unanswered() -> None:
    """The CAP's norm is its own due date plus the provider's time to answer the check
    after it (`norm_cap_answer`, 5 working days): due Fri 15 Jan 2027, asked Mon 18 Jan
    09:00, so met when the case closed by the end of Mon 25 Jan (the coordinator is told
    on Tue 26 at 09:00), missed after that, not counted while still in time."""
    calendar = WorkingCalendar()
    entered = datetime(2026, 12, 18, 10, tzinfo=AMS)

    def outcome(closed: datetime | None, now: datetime) -> list[tuple[str, bool]]:
        reached = [["cap", entered.isoformat()]]
        if closed is not None:
            reached.append(["closed", closed.isoformat()])
        compliment = {"reached": reached, "cap_due": "2027-01-15"}
        return digest_figures._norm_outcomes(compliment, {"cap": 5}, calendar, now)

    late = datetime(2027, 2, 1, 10, tzinfo=AMS)
    assert outcome(datetime(2027, 1, 25, 17, tzinfo=AMS), late) == [("cap", True)]
    assert outcome(datetime(2027, 1, 26, 9, tzinfo=AMS), late) == [("cap", False)]
    assert outcome(None, datetime(2027, 1, 25, 17, tzinfo=AMS)) == []
    assert outcome(None, datetime(2027, 1, 26, 0, 1, tzinfo=AMS)) == [("cap", False)]
