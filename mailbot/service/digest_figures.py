"""The weekly digest's figures, computed from a few bounded reads (SPEC §7).

Definitions (what a reader of the digest may rely on):

- **The week** is the ISO week that ended, Monday 00:00 to Monday 00:00
  local time. "Opened/closed this week" and "received this week" count
  cases whose `opened_at` / `closed_at` falls inside it.
- **Snapshot figures** (open escalations, overdue deadlines, approvals
  waiting, time in the current step, CAPs being carried out) are taken at the
  moment the digest is built: management reads them on Monday morning and
  wants today's picture, not last Sunday's.
- **Time in the current step** is counted in working days (the ladder's own
  unit) since that step's mail went out, or since the case was opened when
  no step went out yet.
- **Overdue**: the current step's deadline has passed and the next step has
  not gone out yet (it goes out at the next send moment). A step that waits
  for the owner (approval or a draft to send) is listed under **waiting**.
- **The 12-month supplier table** covers every escalation that was open at
  some moment of the last 12 months up to the end of the week: how many,
  the highest step any of them reached, and the median calendar days from
  opening to `resolved` for the ones resolved in those 12 months (withdrawn,
  terminated and continued cases are outcomes, not resolutions).
- **Compliments, last 12 weeks** (the same window as the trend chart): a
  compliment counts for every team of its receivers (a person's `team` from
  the directory; a supplier's person counts for that supplier); one without
  receivers yet counts as "no receiver yet".
- **KPI norm met**: a stage with a norm (registered, assigned, given,
  reacted) was left for the next stage within its norm in working days
  (`WorkingCalendar.working_days_between`). A stage still running counts
  only once it has overrun its norm (then as missed); a stage entered again
  (re-assignment) restarts its norm, as the reminders do.
- **Reaction passed back**: the maker was external and at least one receiver
  reacted (and `reaction_to_maker` is on).
- **CAP open / done**: the compliment is in stage `cap` / closed as `done`.

Every count carries the case ids behind it (at most `MAX_REFS` shown, then
"and N more"), so a reader can reply `STATUS ESC-…`.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal

from mailbot.config import Config
from mailbot.domain.calendar import WorkingCalendar
from mailbot.domain.digest_schedule import Week
from mailbot.service.directory import Directory
from mailbot.store.digest_queries import ComplimentRow, EscalationSpan, OpenEscalation

MAX_REFS = 8
TREND_WEEKS = 12
TEXT_BAR_WIDTH = 20
NORM_STAGES = ("registered", "assigned", "given", "reacted", "cap")
_LOCALES = {"nl": "nl_NL", "en": "en_GB"}


# -- the model (plain data: it becomes the template context as it is) ---------------------------


@dataclass(frozen=True)
class Refs:
    """A number and the case ids behind it."""

    count: int
    refs: list[str]
    more: int

    @classmethod
    def of(cls, refs: Sequence[str]) -> Refs:
        return cls(len(refs), list(refs[:MAX_REFS]), max(0, len(refs) - MAX_REFS))


@dataclass(frozen=True)
class WeekInfo:
    key: str
    year: int
    number: int
    monday: date
    sunday: date
    period: str  # "16 tot en met 22 november 2026" / "16 to 22 November 2026"


@dataclass(frozen=True)
class Summary:
    open_escalations: int
    opened: int
    closed: int
    attention: int
    compliments: int


@dataclass(frozen=True)
class OpenCase:
    ref: str
    step: int
    state: str
    since: date
    days_in_step: int
    owner: str
    title: str


@dataclass(frozen=True)
class StepCount:
    step: int
    count: int
    refs: list[str]


@dataclass(frozen=True)
class SupplierOpen:
    supplier: str
    count: int
    steps: list[StepCount]
    cases: list[OpenCase]


@dataclass(frozen=True)
class CaseLine:
    ref: str
    supplier: str
    title: str
    owner: str
    state: str
    step: int


@dataclass(frozen=True)
class Overdue:
    ref: str
    supplier: str
    step: int
    deadline_day: date
    days_over: int
    owner: str
    next_step_at: datetime | None


@dataclass(frozen=True)
class Waiting:
    ref: str
    supplier: str
    step: int
    mode: str  # approve | draft
    since: date
    days: int
    owner: str
    held_for_verdict: bool


@dataclass(frozen=True)
class SupplierYear:
    supplier: str
    cases: Refs
    highest_step: int
    resolved: int
    median_days: str | None  # formatted for the reader's language
    compliments: int


@dataclass(frozen=True)
class TrendWeek:
    key: str
    number: int
    monday: date
    day: str  # the Monday, short: "16 nov" / "16 Nov"
    opened: int
    closed: int
    open_at_end: int
    compliments: int
    opened_bar: int  # percent of the chart's width
    compliments_bar: int
    opened_text: str  # the same bar for the plain-text part
    compliments_text: str


@dataclass(frozen=True)
class ComplimentLine:
    ref: str
    teams: list[str | None]


@dataclass(frozen=True)
class TeamFigures:
    team: str | None  # None: no receiver yet
    received: Refs
    norms_met: int
    norms_counted: int
    norms_percent: int | None
    reactions_back: int
    caps_open: int
    caps_done: int


@dataclass(frozen=True)
class StageNorm:
    stage: str
    days: int
    met: int
    counted: int
    percent: int | None


@dataclass(frozen=True)
class Digest:
    week: WeekInfo
    as_of: datetime
    summary: Summary
    open_by_supplier: list[SupplierOpen]
    opened: list[CaseLine]
    closed: list[CaseLine]
    overdue: list[Overdue]
    waiting: list[Waiting]
    suppliers: list[SupplierYear]
    trend: list[TrendWeek]
    received: list[ComplimentLine]
    teams: list[TeamFigures]
    compliments_total: TeamFigures
    norms_by_stage: list[StageNorm]
    caps_open: Refs
    trend_weeks: int = TREND_WEEKS


@dataclass(frozen=True)
class Rows:
    """What the queries returned (see `mailbot.store.digest_queries`)."""

    spans: list[EscalationSpan]
    open: list[OpenEscalation]
    compliments: list[ComplimentRow]
    caps: list[ComplimentRow]
    compliments_per_supplier: dict[str, int]


@dataclass(frozen=True)
class Window:
    """The moments the digest is built around (all UTC)."""

    week: Week
    start: datetime  # the week's Monday 00:00 local
    end: datetime  # the next Monday 00:00 local
    trend_start: datetime  # Monday 00:00 local, TREND_WEEKS weeks back
    year_start: datetime  # 12 months before `end`
    now: datetime
    tz: ZoneInfo

    @classmethod
    def of(cls, week: Week, now: datetime, calendar: WorkingCalendar) -> Window:
        tz = calendar.tz
        end_day = week.sunday + timedelta(days=1)
        year_ago = _year_before(end_day)
        return cls(
            week=week,
            start=week.start(tz),
            end=week.end(tz),
            trend_start=week.shift(1 - TREND_WEEKS).start(tz),
            year_start=datetime.combine(year_ago, time(0), tzinfo=tz).astimezone(UTC),
            now=now,
            tz=tz,
        )

    @property
    def since(self) -> datetime:
        """The earliest moment any figure looks at."""
        return min(self.trend_start, self.year_start)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


# -- building ------------------------------------------------------------------------------------


def compute(
    rows: Rows, window: Window, config: Config, calendar: WorkingCalendar, language: str
) -> Digest:
    """All figures of one digest: one pass in Python over each bounded row set."""
    people = Directory(config)
    names = _SupplierNames(config)
    now = window.now

    def owner(email: str | None) -> str:
        return people.name_of(email) if email else "-"

    open_cases, overdue, waiting = _open_escalations(rows.open, names, owner, calendar, now)
    in_week = [s for s in rows.spans if window.start <= s.opened_at < window.end]
    closed_in_week = [
        s
        for s in rows.spans
        if s.closed_at is not None and window.start <= s.closed_at < window.end
    ]
    cohort = [c for c in rows.compliments if c.opened_at < window.end]
    received = [c for c in cohort if c.opened_at >= window.start]
    team_of = _TeamOf(config, people)
    teams, total, stages = _compliment_figures(cohort, team_of, config, calendar, now)
    return Digest(
        week=WeekInfo(
            window.week.key,
            window.week.year,
            window.week.number,
            window.week.monday,
            window.week.sunday,
            _period(window.week, language),
        ),
        as_of=now,
        summary=Summary(
            open_escalations=len(rows.open),
            opened=len(in_week),
            closed=len(closed_in_week),
            attention=len(overdue) + len(waiting),
            compliments=len(received),
        ),
        open_by_supplier=open_cases,
        opened=[_line(s, names, owner) for s in in_week],
        closed=[_line(s, names, owner) for s in closed_in_week],
        overdue=overdue,
        waiting=waiting,
        suppliers=_supplier_year(rows, window, names, language),
        trend=_trend(rows, window, language),
        received=[ComplimentLine(c.ref, team_of.teams(c)) for c in received],
        teams=teams,
        compliments_total=total,
        norms_by_stage=stages,
        caps_open=Refs.of([c.ref for c in rows.caps]),
    )


_OwnerName = Callable[[str | None], str]


class _SupplierNames:
    def __init__(self, config: Config) -> None:
        self._names = {s.id: s.name for s in config.suppliers}

    def __call__(self, supplier_id: str | None) -> str:
        if not supplier_id:
            return "-"
        return self._names.get(supplier_id, supplier_id)


class _TeamOf:
    """A receiver's team: the directory's `team`, a supplier's name, or the address's domain."""

    def __init__(self, config: Config, people: Directory) -> None:
        self.people = people
        self.reaction_to_maker = config.compliments.reaction_to_maker

    def of(self, email: str) -> str:
        person = self.people.person(email)
        if person is not None and person.team:
            return person.team
        supplier = self.people.supplier_of(email)
        if supplier is not None:
            return supplier.name
        return person.name if person is not None else email.rpartition("@")[2]

    def teams(self, row: ComplimentRow) -> list[str | None]:
        receivers = row.compliment.get("receivers") or []
        found: list[str | None] = list(dict.fromkeys(self.of(r) for r in receivers))
        return found or [None]


def _line(span: EscalationSpan, names: _SupplierNames, owner: _OwnerName) -> CaseLine:
    return CaseLine(
        ref=span.ref,
        supplier=names(span.supplier_id),
        title=span.title,
        owner=owner(span.owner),
        state=span.state,
        step=span.step,
    )


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _open_escalations(
    rows: list[OpenEscalation],
    names: _SupplierNames,
    owner: _OwnerName,
    calendar: WorkingCalendar,
    now: datetime,
) -> tuple[list[SupplierOpen], list[Overdue], list[Waiting]]:
    per_supplier: dict[str, list[OpenCase]] = defaultdict(list)
    overdue: list[Overdue] = []
    waiting: list[Waiting] = []
    for row in rows:
        state = row.escalation
        supplier = names(row.supplier_id)
        steps = state.get("steps") or []
        current = [s for s in steps if s.get("number") == row.step]
        since = _moment(current[-1]["sent_at"]) if current else None
        since = since or row.opened_at
        per_supplier[supplier].append(
            OpenCase(
                ref=row.ref,
                step=row.step,
                state=row.state,
                since=calendar.local_date(since),
                days_in_step=calendar.working_days_between(since, now),
                owner=owner(row.owner),
                title=row.title,
            )
        )
        pending = state.get("pending")
        deadline = _moment(state.get("deadline"))
        if pending:
            pending_since = _moment(pending.get("since")) or now
            waiting.append(
                Waiting(
                    ref=row.ref,
                    supplier=supplier,
                    step=int(pending["step"]),
                    mode=str(pending.get("mode") or "approve"),
                    since=calendar.local_date(pending_since),
                    days=calendar.working_days_between(pending_since, now),
                    owner=owner(row.owner),
                    held_for_verdict=bool(pending.get("held_for_verdict")),
                )
            )
        elif row.state == "active" and deadline is not None and deadline <= now:
            last_day = calendar.local_date(deadline - timedelta(microseconds=1))
            next_at = calendar.due_step_moment(deadline)
            overdue.append(
                Overdue(
                    ref=row.ref,
                    supplier=supplier,
                    step=row.step,
                    deadline_day=last_day,
                    days_over=calendar.working_days_between(
                        deadline - timedelta(microseconds=1), now
                    ),
                    owner=owner(row.owner),
                    next_step_at=max(next_at, now) if row.step < 5 else None,
                )
            )
    grouped = [
        SupplierOpen(
            supplier=supplier,
            count=len(cases),
            steps=[
                StepCount(step, len(refs), refs)
                for step, refs in sorted(_refs_by_step(cases).items())
            ],
            cases=sorted(cases, key=lambda c: (-c.step, c.since, c.ref)),
        )
        for supplier, cases in per_supplier.items()
    ]
    grouped.sort(key=lambda g: (-g.count, g.supplier.casefold()))
    overdue.sort(key=lambda o: (o.deadline_day, o.ref))
    waiting.sort(key=lambda w: (w.since, w.ref))
    return grouped, overdue, waiting


def _refs_by_step(cases: Iterable[OpenCase]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for case in cases:
        found[case.step].append(case.ref)
    return found


def _supplier_year(
    rows: Rows, window: Window, names: _SupplierNames, language: str
) -> list[SupplierYear]:
    cases: dict[str, list[EscalationSpan]] = defaultdict(list)
    for span in rows.spans:
        if span.opened_at >= window.end:
            continue
        if span.closed_at is not None and span.closed_at < window.year_start:
            continue
        cases[span.supplier_id or ""].append(span)
    keys = set(cases) | set(rows.compliments_per_supplier)
    table = []
    for key in keys:
        spans = cases.get(key, [])
        durations = [
            (s.closed_at - s.opened_at).total_seconds() / 86400
            for s in spans
            if s.state == "resolved"
            and s.closed_at is not None
            and window.year_start <= s.closed_at < window.end
        ]
        median = statistics.median(durations) if durations else None
        table.append(
            SupplierYear(
                supplier=names(key or None),
                # open cases first, then the most recent: what a reader asks about
                cases=Refs.of(
                    [
                        s.ref
                        for s in sorted(
                            spans, key=lambda s: (s.closed_at is None, s.opened_at), reverse=True
                        )
                    ]
                ),
                highest_step=max((s.step for s in spans), default=0),
                resolved=len(durations),
                median_days=_decimal(median, language) if median is not None else None,
                compliments=rows.compliments_per_supplier.get(key, 0),
            )
        )
    table.sort(key=lambda t: (-t.cases.count, -t.compliments, t.supplier.casefold()))
    return table


def _period(week: Week, language: str) -> str:
    """The week in words, naming the month and year only once when they are shared."""
    locale = _LOCALES[language]
    first, last = week.monday, week.sunday
    if first.year != last.year:
        pattern = "d MMMM y"
    elif first.month != last.month:
        pattern = "d MMMM"
    else:
        pattern = "d"
    joiner = " tot en met " if language == "nl" else " to "
    start = format_date(first, format=pattern, locale=locale)
    return start + joiner + format_date(last, format="d MMMM y", locale=locale)


def _decimal(value: float, language: str) -> str:
    return str(format_decimal(round(value, 1), format="#,##0.#", locale=_LOCALES[language]))


def _trend(rows: Rows, window: Window, language: str) -> list[TrendWeek]:
    """Per week: escalations opened and closed, open at the week's end, compliments received."""
    opened = sorted(s.opened_at for s in rows.spans)
    closed = sorted(s.closed_at for s in rows.spans if s.closed_at is not None)
    received = sorted(c.opened_at for c in rows.compliments)

    def between(values: list[datetime], start: datetime, end: datetime) -> int:
        return bisect_left(values, end) - bisect_left(values, start)

    counts = []
    for offset in range(1 - TREND_WEEKS, 1):
        week = window.week.shift(offset)
        start, end = week.start(window.tz), week.end(window.tz)
        counts.append(
            (
                week,
                between(opened, start, end),
                between(closed, start, end),
                # cases closed before `since` are in neither list, so they cancel out
                bisect_left(opened, end) - bisect_left(closed, end),
                between(received, start, end),
            )
        )
    scale = max([1, *(c[1] for c in counts), *(c[4] for c in counts)])
    return [
        TrendWeek(
            key=week.key,
            number=week.number,
            monday=week.monday,
            day=str(format_date(week.monday, format="d MMM", locale=_LOCALES[language])),
            opened=n_opened,
            closed=n_closed,
            open_at_end=n_open,
            compliments=n_received,
            opened_bar=_bar(n_opened, scale),
            compliments_bar=_bar(n_received, scale),
            opened_text=_text_bar(n_opened, scale),
            compliments_text=_text_bar(n_received, scale),
        )
        for week, n_opened, n_closed, n_open, n_received in counts
    ]


def _bar(value: int, scale: int) -> int:
    """Bar width in percent; a non-zero value always shows."""
    return 0 if value <= 0 else max(2, round(100 * value / scale))


def _text_bar(value: int, scale: int) -> str:
    return "" if value <= 0 else "▇" * max(1, round(TEXT_BAR_WIDTH * value / scale))


def _norm_outcomes(
    compliment: dict[str, Any], norms: dict[str, int], calendar: WorkingCalendar, now: datetime
) -> list[tuple[str, bool]]:
    """(stage, met) for each stage with a norm that was left, or has overrun its norm."""
    reached = [(str(r[0]), datetime.fromisoformat(r[1])) for r in compliment.get("reached") or []]
    outcomes = []
    for index, (stage, entered) in enumerate(reached):
        days = norms.get(stage)
        if days is None:
            continue
        following = reached[index + 1] if index + 1 < len(reached) else None
        if stage == "cap":
            # the CAP's norm is its own due date: met when carried out (or the case closed)
            # before the provider's time to answer the check after it ran out, the moment
            # the coordinator is told (compliments._cap_check)
            if not compliment.get("cap_due"):
                continue
            due = date.fromisoformat(compliment["cap_due"])
            asked = calendar.due_step_moment(calendar.end_of_day(due))
            deadline = calendar.deadline(asked, days)
            if following is not None:
                outcomes.append((stage, following[1] < deadline))
            elif now >= deadline:
                outcomes.append((stage, False))
            continue
        if following is not None:
            if following[0] == stage:
                continue  # entered again: the norm restarted
            outcomes.append((stage, calendar.working_days_between(entered, following[1]) <= days))
        elif calendar.working_days_between(entered, now) > days:
            outcomes.append((stage, False))
    return outcomes


def _compliment_figures(
    cohort: list[ComplimentRow],
    team_of: _TeamOf,
    config: Config,
    calendar: WorkingCalendar,
    now: datetime,
) -> tuple[list[TeamFigures], TeamFigures, list[StageNorm]]:
    c = config.compliments
    norms = {
        "registered": c.norm_registered,
        "assigned": c.norm_assigned,
        "given": c.norm_given,
        "reacted": c.norm_reacted,
        "cap": c.norm_cap_answer,
    }
    per_team: dict[str | None, list[tuple[ComplimentRow, list[tuple[str, bool]]]]] = defaultdict(
        list
    )
    everything = []
    stage_met: dict[str, list[bool]] = {stage: [] for stage in NORM_STAGES}
    for row in cohort:
        outcomes = _norm_outcomes(row.compliment, norms, calendar, now)
        for stage, met in outcomes:
            stage_met[stage].append(met)
        everything.append((row, outcomes))
        for team in team_of.teams(row):
            per_team[team].append((row, outcomes))
    teams = [_team(team, items, team_of) for team, items in per_team.items()]
    teams.sort(key=lambda t: (t.team is None, -t.received.count, (t.team or "").casefold()))
    stages = [
        StageNorm(stage, norms[stage], sum(met), len(met), _percent(sum(met), len(met)))
        for stage, met in stage_met.items()
    ]
    return teams, _team(None, everything, team_of), stages


def _team(
    team: str | None,
    items: list[tuple[ComplimentRow, list[tuple[str, bool]]]],
    team_of: _TeamOf,
) -> TeamFigures:
    met = sum(1 for _, outcomes in items for _, ok in outcomes if ok)
    counted = sum(len(outcomes) for _, outcomes in items)
    return TeamFigures(
        team=team,
        received=Refs.of([row.ref for row, _ in reversed(items)]),  # the newest first
        norms_met=met,
        norms_counted=counted,
        norms_percent=_percent(met, counted),
        reactions_back=sum(
            1
            for row, _ in items
            if team_of.reaction_to_maker
            and row.maker_external
            and (row.compliment.get("reactions") or [])
        ),
        caps_open=sum(1 for row, _ in items if row.compliment.get("stage") == "cap"),
        caps_done=sum(1 for row, _ in items if row.compliment.get("closed_how") == "done"),
    )


def _percent(part: int, whole: int) -> int | None:
    """Whole percent, halves rounded up (5 of 8 is 63%, as a reader rounds; not banker's 62)."""
    return (200 * part + whole) // (2 * whole) if whole else None
