"""Case history written straight into the database, for the digest's tests and its bench.

Two levels:
- `add_escalation()` / `add_compliment()` write one case exactly as the
  service leaves it (the `cases` columns plus `data["escalation"]` /
  `data["compliment"]` made by the domain's own `to_data()`), so a test can
  lay out a small history by hand and compute the digest's numbers itself;
- `seed_history()` plays years of realistic life: suppliers that mostly fix
  things at step 1 or 2 and sometimes go all the way, approvals that wait,
  compliments that move through their stages at human speed (some stall,
  some skip the CAP), with timeline, deadline and outbox rows around them so
  the tables have the size a real installation would have.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.orm import Session

from mailbot.config import Config
from mailbot.domain import compliments as cmp
from mailbot.domain import ladder
from mailbot.domain.calendar import WorkingCalendar
from mailbot.store.tables import Case, CaseCounter, Deadline, OutboundMessage, TimelineEvent

TEXT = (
    "Ik wil graag laten weten hoe blij ik ben met de hulp die ik kreeg. De medewerker nam de "
    "tijd, legde alles rustig uit en belde de volgende dag zelfs terug om te vragen of het "
    "gelukt was. Dat had ik niet verwacht. Hartelijk dank daarvoor!"
)
MAKER_OUTSIDE = "klant@voorbeeld.example"
MAKER_INSIDE = "p.devries@gemeente.example"
SHORTFALLS = (
    "back-ups van de klantdatabase mislukken",
    "storingen niet binnen de hersteltijd opgelost",
    "beschikbaarheid onder de 99,5 procent",
    "schoonmaak van de werkplekken niet volgens bestek",
    "rapportages komen te laat",
    "wachttijd servicedesk boven de norm",
)


@dataclass
class Refs:
    """Hands out ESC-/CMP- numbers per prefix and year, like `cases.next_ref()`."""

    counters: Counter[tuple[str, int]] = field(default_factory=Counter)

    def next(self, prefix: str, moment: datetime) -> str:
        year = moment.year
        self.counters[(prefix, year)] += 1
        return f"{prefix}-{year}-{self.counters[(prefix, year)]:04d}"

    def store(self, session: Session) -> None:
        for (prefix, year), last in self.counters.items():
            session.merge(CaseCounter(prefix=prefix, year=year, last=last))


def add_escalation(
    session: Session,
    *,
    ref: str,
    supplier: str,
    owner: str,
    opened: datetime,
    steps: Sequence[datetime],
    phase: str = "active",
    closed: datetime | None = None,
    deadline: datetime | None = None,
    pending: tuple[int, str, datetime] | None = None,
    held_for_verdict: bool = False,
    title: str = "back-ups mislukken",
    updated: datetime | None = None,
) -> Case:
    """One escalation whose steps 1..n went out at `steps` (the last one is the current step)."""
    records = tuple(
        ladder.StepRecord(number=n, sent_at=sent, via="send")
        for n, sent in enumerate(steps, start=1)
    )
    state = ladder.Escalation(
        phase=ladder.Phase(phase),
        step=len(steps),
        steps=records,
        deadline=deadline,
        pending=(
            ladder.Pending(
                step=pending[0],
                mode=ladder.Policy(pending[1]),
                since=pending[2],
                held_for_verdict=held_for_verdict,
            )
            if pending
            else None
        ),
    )
    case = Case(
        ref=ref,
        kind="escalation",
        state=phase,
        step=len(steps),
        supplier_id=supplier,
        owner=owner,
        title=title,
        language="nl",
        data={
            "escalation": ladder.to_data(state),
            "request": {"description": TEXT, "kpi": None, "incident": None},
        },
        opened_at=opened,
        updated_at=updated or closed or opened,
        closed_at=closed,
    )
    session.add(case)
    return case


def add_compliment(
    session: Session,
    *,
    ref: str,
    opened: datetime,
    reached: Sequence[tuple[str, datetime]] = (),
    receivers: Sequence[str] = (),
    external_maker: bool = True,
    reactions: int = 0,
    supplier: str | None = None,
    closed_how: str | None = None,
    coordinator: str = "kwaliteit@gemeente.example",
) -> Case:
    """One compliment; `reached` lists (stage, moment) after registration (at `opened`)."""
    moments = [("registered", opened), *reached]
    stage = moments[-1][0]
    state = cmp.Compliment(
        stage=cmp.Stage(stage),
        receivers=tuple(receivers),
        provider="b.bakker@gemeente.example" if receivers else None,
        reactions=tuple((r, "Dank je wel, wat fijn om te horen!") for r in receivers[:reactions]),
        cap="Elke week een klantverhaal in het teamoverleg." if stage in ("cap",) else None,
        reached=tuple((s, m.isoformat()) for s, m in moments),
        closed_how=closed_how if stage == "closed" else None,
    )
    closed = moments[-1][1] if stage == "closed" else None
    case = Case(
        ref=ref,
        kind="compliment",
        state=stage,
        step=None,
        supplier_id=supplier,
        owner=coordinator,
        title="Compliment voor de servicedesk",
        language="nl",
        data={
            "compliment": cmp.to_data(state),
            "maker": {
                "email": MAKER_OUTSIDE if external_maker else MAKER_INSIDE,
                "name": "Klant",
                "external": external_maker,
            },
            "text": TEXT,
            "subject": "Compliment",
            "suppliers": [{"supplier": supplier}] if supplier else [],
        },
        opened_at=opened,
        updated_at=moments[-1][1],
        closed_at=closed,
    )
    session.add(case)
    return case


# -- realistic years --------------------------------------------------------------------------


@dataclass
class Seeded:
    escalations: int = 0
    compliments: int = 0
    open_escalations: int = 0
    timeline: int = 0
    outbox: int = 0


@dataclass
class _Life:
    """Moves through working time: `later(n)` is n working days on, at a plausible hour."""

    calendar: WorkingCalendar
    rng: random.Random

    def at_work(self, moment: datetime) -> datetime:
        day = self.calendar.add_working_days(self.calendar.local_date(moment), 0)
        clock = time(self.rng.randint(8, 16), self.rng.randint(0, 59))
        local = datetime.combine(day, clock, tzinfo=self.calendar.tz)
        return max(local.astimezone(UTC), moment)

    def later(self, moment: datetime, working_days: int) -> datetime:
        day = self.calendar.add_working_days(self.calendar.local_date(moment), working_days)
        clock = time(self.rng.randint(8, 16), self.rng.randint(0, 59))
        return datetime.combine(day, clock, tzinfo=self.calendar.tz).astimezone(UTC)


def seed_history(
    session: Session,
    config: Config,
    calendar: WorkingCalendar,
    *,
    until: datetime,
    years: float = 2.0,
    escalations_per_week: float = 2.5,
    compliments_per_week: float = 20.0,
    seed: int = 20261123,
) -> Seeded:
    """`years` of history ending at `until` (cases still running then are left open)."""
    rng = random.Random(seed)
    life = _Life(calendar, rng)
    refs = Refs()
    counts = Seeded()
    start = until - timedelta(days=round(365 * years))
    staff = [p for p in config.people if p.team]
    owners = [p.email for p in staff] or ["a.jansen@gemeente.example"]
    suppliers = [s.id for s in config.suppliers]
    weights = [max(1, len(suppliers) - i) for i in range(len(suppliers))]
    days = (until - start).days

    def moments(count: int) -> list[datetime]:
        """Opening moments in time order, so case numbers rise with time as they do for real."""
        found = [
            life.at_work(start + timedelta(seconds=rng.uniform(0, days * 86400)))
            for _ in range(count)
        ]
        return sorted(m for m in found if m < until)

    for opened in moments(round(days / 7 * escalations_per_week)):
        case = _escalation_life(
            session,
            config,
            life,
            refs,
            opened=opened,
            until=until,
            supplier=rng.choices(suppliers, weights)[0],
            owner=rng.choice(owners),
        )
        counts.escalations += 1
        counts.open_escalations += case.closed_at is None
    receivers = [p.email for p in staff]
    supplier_people = [s.counterpart for s in config.suppliers]
    for opened in moments(round(days / 7 * compliments_per_week)):
        _compliment_life(
            session,
            config,
            life,
            refs,
            opened=opened,
            until=until,
            receivers=receivers,
            supplier_people=supplier_people,
        )
        counts.compliments += 1
    refs.store(session)
    session.flush()
    counts.timeline, counts.outbox = _surroundings(session, rng)
    return counts


def _escalation_life(
    session: Session,
    config: Config,
    life: _Life,
    refs: Refs,
    *,
    opened: datetime,
    until: datetime,
    supplier: str,
    owner: str,
) -> Case:
    rng = life.rng
    profile = config.ladder_for(next(s for s in config.suppliers if s.id == supplier))
    ref = refs.next("ESC", opened)
    steps = [opened]
    phase, closed, deadline, pending = "active", None, None, None
    withdraw = rng.random() < 0.05
    while True:
        step = len(steps)
        sent = steps[-1]
        if step == ladder.LAST_STEP:
            end = life.later(sent, rng.randint(5, 30))
            if end < until:
                phase = rng.choice(["terminated", "continued", "resolved"])
                closed = end
            else:
                phase = "outcome"
            break
        deadline = life.calendar.deadline(sent, profile.deadlines[step - 1])
        if withdraw and rng.random() < 0.5:
            end = life.later(sent, rng.randint(1, 5))
            if end < until:
                phase, closed, deadline = "withdrawn", end, None
            break
        # most suppliers fix it at step 1 or 2; fewer the further it goes
        if rng.random() < (0.6 if step <= 2 else 0.45):
            end = life.later(sent, rng.randint(1, profile.deadlines[step - 1]))
            if end < until:
                phase, closed, deadline = "resolved", end, None
            break
        next_at = life.calendar.due_step_moment(deadline)
        if next_at >= until:
            break  # still running (possibly just overdue: the next step goes at 09:00)
        if profile.policies[step] == "approve":
            approved = life.later(next_at, rng.choice([0, 0, 1, 2, 4]))
            if approved >= until:
                phase, pending = "waiting", (step + 1, "approve", next_at)
                break
            next_at = approved
        steps.append(next_at)
    if phase == "active" and deadline is None and len(steps) < ladder.LAST_STEP:
        deadline = life.calendar.deadline(steps[-1], profile.deadlines[len(steps) - 1])
    return add_escalation(
        session,
        ref=ref,
        supplier=supplier,
        owner=owner,
        opened=opened,
        steps=steps,
        phase=phase,
        closed=closed,
        deadline=deadline if phase in ("active", "waiting") else None,
        pending=pending,
        title=rng.choice(SHORTFALLS),
    )


def _compliment_life(
    session: Session,
    config: Config,
    life: _Life,
    refs: Refs,
    *,
    opened: datetime,
    until: datetime,
    receivers: list[str],
    supplier_people: list[str],
) -> Case:
    rng = life.rng
    ref = refs.next("CMP", opened)
    about_supplier = bool(supplier_people) and rng.random() < 0.1
    chosen = (
        [rng.choice(supplier_people)]
        if about_supplier
        else rng.sample(receivers, k=min(len(receivers), rng.choice([1, 1, 1, 2])))
    )
    supplier = None
    if about_supplier:
        supplier = next(s.id for s in config.suppliers if s.counterpart == chosen[0])
    reached: list[tuple[str, datetime]] = []
    moment = opened
    closed_how = None
    # (next stage, working days it usually takes: mostly within the norm, sometimes not)
    path = [("assigned", 4), ("given", 7), ("reacted", 7)]
    path.append(("closed", 12) if rng.random() < 0.3 else ("cap", 12))
    for stage, slowest in path:
        if rng.random() < 0.02:  # stalled; the coordinator closes it later
            moment = life.later(moment, rng.randint(10, 25))
            if moment < until:
                reached.append(("closed", moment))
                closed_how = "closed_by_coordinator"
            break
        moment = life.later(moment, rng.randint(0, slowest))
        if moment >= until:
            break
        reached.append((stage, moment))
        if stage == "closed":
            closed_how = "no_cap"
    if reached and reached[-1][0] == "cap":
        done = life.later(moment, rng.randint(15, 40))
        if done < until:
            reached.append(("closed", done))
            closed_how = "done"
    stages = [s for s, _ in reached]
    return add_compliment(
        session,
        ref=ref,
        opened=opened,
        reached=reached,
        receivers=chosen if stages else [],
        external_maker=rng.random() < 0.7,
        reactions=len(chosen) if "reacted" in stages else 0,
        supplier=supplier,
        closed_how=closed_how,
    )


def _surroundings(session: Session, rng: random.Random) -> tuple[int, int]:
    """Timeline, deadline and outbox rows of the size a real installation keeps per case."""
    from sqlalchemy import select

    timeline = outbox = 0
    rows = session.execute(select(Case.id, Case.ref, Case.opened_at)).all()
    raw = b"X" * 3000

    for case_id, ref, opened in rows:
        for n in range(rng.randint(4, 10)):
            at = opened + timedelta(hours=6 * n)
            session.add(
                TimelineEvent(
                    case_id=case_id,
                    at=at,
                    kind="mail-out",
                    actor="mailbot",
                    summary=f"sent: [{ref}] bericht {n}",
                    data={},
                )
            )
            timeline += 1
        for n in range(rng.randint(1, 4)):
            session.add(
                OutboundMessage(
                    dedup_key=f"seed:{ref}:{n}",
                    case_id=case_id,
                    purpose="notice",
                    mode="send",
                    status="sent",
                    recipients=["a.jansen@gemeente.example"],
                    subject=f"[{ref}] bericht {n}",
                    message_id=f"seed.{ref}.{n}@gemeente.example",
                    raw=raw,
                    created_at=opened,
                    sent_at=opened,
                )
            )
            outbox += 1
        session.add(
            Deadline(
                case_id=case_id,
                kind="step",
                due_at=opened + timedelta(days=14),
                status="fired",
                payload={},
                created_at=opened,
                fired_at=opened + timedelta(days=14),
            )
        )
    session.flush()
    return timeline, outbox
