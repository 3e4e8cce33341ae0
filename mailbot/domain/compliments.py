"""The compliment lifecycle as a pure state machine (seed: complimentmanagement.txt).

Four roles: the maker gave the praise, the coordinator watches the process,
the provider (usually the receiver's manager) gives the compliment in person,
the receivers are who it was for. A compliment moves

    registered -> assigned -> given -> reacted -> cap -> closed

(`GEEN CAP` closes from reacted; the coordinator may close a stalled one at
any time). Each state has a norm in working days, counted like the ladder's
deadlines (SPEC §12: it runs to the end of its last day, and what falls due
goes out at 09:00 on the next working day): when it has passed, the one who
must act is reminded; when it passes a second time, the coordinator is told.
The CAP's norm is its own due date: after it the provider is asked whether it
was carried out, and the coordinator is told when no answer came within
`cap_answer` working days. The moments each state was reached are kept for the
digest's KPI figures.

Like the ladder, `decide(state, event, rules)` returns the new state and
effects; nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from mailbot.domain.calendar import WorkingCalendar
from mailbot.domain.refused import (
    Refused as Refused,
)  # re-exported


class Stage(StrEnum):
    REGISTERED = "registered"
    ASSIGNED = "assigned"
    GIVEN = "given"
    REACTED = "reacted"
    CAP = "cap"
    CLOSED = "closed"


# who must act in each stage (a role the service layer resolves to addresses)
ACTOR = {
    Stage.REGISTERED: "coordinator",
    Stage.ASSIGNED: "provider",
    Stage.GIVEN: "receivers",
    Stage.REACTED: "provider",
    Stage.CAP: "provider",
}


@dataclass(frozen=True)
class Norms:
    """KPI norms in working days per stage; a CAP without `Gereed:` is checked after
    `cap_days`, and the provider answers that check within `cap_answer`."""

    registered: int = 2
    assigned: int = 5
    given: int = 5
    reacted: int = 10
    cap_days: int = 20
    cap_answer: int = 5

    def of(self, stage: Stage) -> int | None:
        return {
            Stage.REGISTERED: self.registered,
            Stage.ASSIGNED: self.assigned,
            Stage.GIVEN: self.given,
            Stage.REACTED: self.reacted,
        }.get(stage)


@dataclass(frozen=True)
class Rules:
    now: datetime
    calendar: WorkingCalendar
    norms: Norms


@dataclass(frozen=True)
class Compliment:
    stage: Stage
    receivers: tuple[str, ...] = ()
    provider: str | None = None
    record: bool = False  # DOSSIER: add to the personnel file
    reactions: tuple[tuple[str, str], ...] = ()  # (receiver, reaction text)
    cap: str | None = None
    cap_due: date | None = None
    reached: tuple[tuple[str, str], ...] = ()  # (stage, iso moment) for the KPI figures
    norm_missed: tuple[str, ...] = ()  # stages whose norm passed
    closed_how: str | None = None  # no_cap | done | closed_by_coordinator

    @property
    def waiting_for(self) -> tuple[str, ...]:
        """Receivers who have not reacted yet."""
        reacted = {r for r, _ in self.reactions}
        return tuple(r for r in self.receivers if r not in reacted)

    def reached_at(self, stage: Stage) -> datetime | None:
        for name, moment in self.reached:
            if name == stage.value:
                return datetime.fromisoformat(moment)
        return None


# -- events --------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    thank_maker: bool


@dataclass(frozen=True)
class Assign:
    receivers: tuple[str, ...]
    provider: str


@dataclass(frozen=True)
class Given:
    record: bool = False


@dataclass(frozen=True)
class Reacted:
    receiver: str
    text: str


@dataclass(frozen=True)
class CapSubmitted:
    text: str
    due: date | None = None


@dataclass(frozen=True)
class NoCap:
    pass


@dataclass(frozen=True)
class CapDone:
    pass


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class NormPassed:
    stage: Stage
    count: int  # 1: remind whoever must act; 2: tell the coordinator


@dataclass(frozen=True)
class CapCheckDue:
    pass


Event = (
    Registered
    | Assign
    | Given
    | Reacted
    | CapSubmitted
    | NoCap
    | CapDone
    | Close
    | NormPassed
    | CapCheckDue
)


# -- effects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """A mail to a role: maker, coordinator, provider, receivers."""

    template: str
    to: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    kind: str  # norm | cap_check
    at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelSchedules:
    kinds: tuple[str, ...] = ("norm", "cap_check")


Effect = Mail | Schedule | CancelSchedules


@dataclass(frozen=True)
class Decision:
    state: Compliment
    effects: tuple[Effect, ...]
    summary: str


# -- the machine ---------------------------------------------------------------------------


def decide(state: Compliment | None, event: Event, rules: Rules) -> Decision:
    if isinstance(event, Registered):
        if state is not None:
            raise Refused("already_registered")
        return _registered(event, rules)
    if state is None:
        raise Refused("no_case")
    if state.stage is Stage.CLOSED and not isinstance(event, NormPassed | CapCheckDue):
        raise Refused("closed")
    return _HANDLERS[type(event)](state, event, rules)


def _enter(state: Compliment, stage: Stage, rules: Rules) -> tuple[Compliment, list[Effect]]:
    """Move to `stage`: record the moment, restart the norm clock."""
    new = replace(
        state, stage=stage, reached=(*state.reached, (stage.value, rules.now.isoformat()))
    )
    effects: list[Effect] = [CancelSchedules(("norm",))]
    days = rules.norms.of(stage)
    if days is not None:
        effects.append(_norm(stage, 1, days, rules))
    return new, effects


def _norm(stage: Stage, count: int, days: int, rules: Rules) -> Schedule:
    """Fires once the norm has passed: 09:00 on the working day after its last day."""
    calendar = rules.calendar
    at = calendar.due_step_moment(calendar.deadline(rules.now, days))
    return Schedule("norm", at, {"stage": stage.value, "count": count})


def _registered(event: Registered, rules: Rules) -> Decision:
    state, effects = _enter(Compliment(stage=Stage.REGISTERED), Stage.REGISTERED, rules)
    if event.thank_maker:
        effects.append(Mail("cmp_thanks", "maker"))
    effects.append(Mail("cmp_registered", "coordinator"))
    return Decision(
        state, tuple(effects), "compliment registered; coordinator asked for a receiver"
    )


def _assign(state: Compliment, event: Assign, rules: Rules) -> Decision:
    if state.stage not in (Stage.REGISTERED, Stage.ASSIGNED):
        raise Refused("already_given", stage=state.stage.value)
    if not event.receivers:
        raise Refused("no_receivers")
    new, effects = _enter(
        replace(state, receivers=event.receivers, provider=event.provider), Stage.ASSIGNED, rules
    )
    effects.append(Mail("cmp_assigned", "provider"))
    who = ", ".join(event.receivers)
    return Decision(new, tuple(effects), f"receivers {who}; provider {event.provider}")


def _given(state: Compliment, event: Given, rules: Rules) -> Decision:
    if state.stage is not Stage.ASSIGNED:
        raise Refused("not_assigned", stage=state.stage.value)
    new, effects = _enter(replace(state, record=event.record), Stage.GIVEN, rules)
    effects.append(Mail("cmp_given", "receivers"))
    extra = " (added to the personnel file)" if event.record else ""
    return Decision(new, tuple(effects), f"compliment given{extra}; receivers asked to react")


def _reacted(state: Compliment, event: Reacted, rules: Rules) -> Decision:
    if state.stage is not Stage.GIVEN:
        raise Refused("not_given", stage=state.stage.value)
    if event.receiver not in state.receivers:
        raise Refused("not_a_receiver")
    reactions = (
        *[r for r in state.reactions if r[0] != event.receiver],
        (event.receiver, event.text),
    )
    new = replace(state, reactions=reactions)
    effects: list[Effect] = [
        Mail("cmp_reaction", "maker", {"receiver": event.receiver, "reaction": event.text})
    ]
    if new.waiting_for and Stage.GIVEN.value not in state.norm_missed:
        return Decision(new, tuple(effects), f"reaction of {event.receiver}; waiting for others")
    # everyone reacted, or the norm for reactions passed already (SPEC §12: the CAP
    # request goes when all reacted or the norm passed)
    return _to_reacted(new, rules, effects, f"reaction of {event.receiver}")


def _to_reacted(state: Compliment, rules: Rules, effects: list[Effect], why: str) -> Decision:
    new, more = _enter(state, Stage.REACTED, rules)
    return Decision(
        new,
        (*effects, *more, Mail("cmp_cap_request", "provider")),
        f"{why}; provider asked for a Compliment Acceleration Plan",
    )


def _cap(state: Compliment, event: CapSubmitted, rules: Rules) -> Decision:
    if state.stage is not Stage.REACTED:
        raise Refused("no_cap_expected", stage=state.stage.value)
    if not event.text.strip():
        raise Refused("empty_cap")
    calendar = rules.calendar
    due = event.due or calendar.add_working_days(
        calendar.local_date(rules.now), rules.norms.cap_days
    )
    new, effects = _enter(replace(state, cap=event.text.strip(), cap_due=due), Stage.CAP, rules)
    # asked *after* the due date: the provider has until the end of that day
    effects.append(Schedule("cap_check", calendar.due_step_moment(calendar.end_of_day(due)), {}))
    return Decision(new, tuple(effects), f"CAP recorded, due {due.isoformat()}")


def _no_cap(state: Compliment, event: NoCap, rules: Rules) -> Decision:
    if state.stage is not Stage.REACTED:
        raise Refused("no_cap_expected", stage=state.stage.value)
    return _close(state, rules, "no_cap", "closed without a CAP")


def _cap_done(state: Compliment, event: CapDone, rules: Rules) -> Decision:
    if state.stage is not Stage.CAP:
        raise Refused("no_cap", stage=state.stage.value)
    return _close(state, rules, "done", "CAP carried out; compliment closed")


def _close_by_coordinator(state: Compliment, event: Close, rules: Rules) -> Decision:
    return _close(state, rules, "closed_by_coordinator", "closed by the coordinator")


def _close(state: Compliment, rules: Rules, how: str, summary: str) -> Decision:
    new, _ = _enter(replace(state, closed_how=how), Stage.CLOSED, rules)
    return Decision(new, (CancelSchedules(),), summary)


def _norm_passed(state: Compliment, event: NormPassed, rules: Rules) -> Decision:
    if state.stage is not event.stage:
        return Decision(state, (), f"norm of {event.stage.value} no longer applies")
    missed = tuple(dict.fromkeys((*state.norm_missed, event.stage.value)))
    new = replace(state, norm_missed=missed)
    if event.stage is Stage.GIVEN and state.reactions:
        # several receivers, not all reacted in time: the CAP request goes now
        return _to_reacted(new, rules, [], "norm for reactions passed")
    if event.count == 1:
        days = rules.norms.of(event.stage) or 1
        return Decision(
            new,
            (
                Mail("cmp_reminder", ACTOR[event.stage], {"stage": event.stage.value}),
                _norm(event.stage, 2, days, rules),
            ),
            f"norm of {event.stage.value} passed; {ACTOR[event.stage]} reminded",
        )
    return Decision(
        new,
        (Mail("cmp_norm_notice", "coordinator", {"stage": event.stage.value}),),
        f"norm of {event.stage.value} passed twice; coordinator told",
    )


def _cap_check(state: Compliment, event: CapCheckDue, rules: Rules) -> Decision:
    """The CAP's due date passed: ask the provider, and have the coordinator told
    (`NormPassed(CAP, 2)`) when no answer came within `cap_answer` working days."""
    if state.stage is not Stage.CAP:
        return Decision(state, (), "CAP check no longer applies")
    return Decision(
        state,
        (Mail("cmp_cap_check", "provider"), _norm(Stage.CAP, 2, rules.norms.cap_answer, rules)),
        "provider asked whether the CAP was carried out",
    )


_HANDLERS: dict[type, Callable[[Compliment, Any, Rules], Decision]] = {
    Assign: _assign,
    Given: _given,
    Reacted: _reacted,
    CapSubmitted: _cap,
    NoCap: _no_cap,
    CapDone: _cap_done,
    Close: _close_by_coordinator,
    NormPassed: _norm_passed,
    CapCheckDue: _cap_check,
}


# -- (de)serialisation ------------------------------------------------------------------------


def to_data(state: Compliment) -> dict[str, Any]:
    return {
        "stage": state.stage.value,
        "receivers": list(state.receivers),
        "provider": state.provider,
        "record": state.record,
        "reactions": [list(r) for r in state.reactions],
        "cap": state.cap,
        "cap_due": state.cap_due.isoformat() if state.cap_due else None,
        "reached": [list(r) for r in state.reached],
        "norm_missed": list(state.norm_missed),
        "closed_how": state.closed_how,
    }


def from_data(data: dict[str, Any]) -> Compliment:
    return Compliment(
        stage=Stage(data["stage"]),
        receivers=tuple(data.get("receivers", [])),
        provider=data.get("provider"),
        record=bool(data.get("record")),
        reactions=tuple((r[0], r[1]) for r in data.get("reactions", [])),
        cap=data.get("cap"),
        cap_due=date.fromisoformat(data["cap_due"]) if data.get("cap_due") else None,
        reached=tuple((r[0], r[1]) for r in data.get("reached", [])),
        norm_missed=tuple(data.get("norm_missed", [])),
        closed_how=data.get("closed_how"),
    )
