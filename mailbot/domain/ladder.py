"""The escalation ladder as a pure state machine: `decide(state, event, rules) -> Decision`.

Five steps (seed: escalatieprocedure.txt): rectification note, corrective
action plan, management note, notice of a third-party RCA at the supplier's
cost, announcement of contract termination. Each step mail starts a deadline
in working days; when it passes without accepted proof of improvement, the
next step is carried out according to its policy:

- `send`: the letter goes out now;
- `draft`: the letter is saved in Drafts, and counts once the owner sends it;
- `approve`: the owner gets the full letter and replies VERSTUUR to send it.

Nothing here does I/O or reads a clock: `rules.now` is the moment, the
calendar turns working days into instants, and the effects say what the
service layer must do (mail, deadlines, notices). A refused command raises
`Refused` with a reason the service turns into a clear reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mailbot.domain.calendar import WorkingCalendar
from mailbot.domain.refused import Refused as Refused  # re-exported

LAST_STEP = 5
STEP_NAMES_NL = {
    1: "Rectificatienotitie",
    2: "Corrigerend actieplan",
    3: "Managementnotitie",
    4: "Kennisgeving",
    5: "Aankondiging contractbeëindiging",
}
STEP_NAMES_EN = {
    1: "Rectification note",
    2: "Corrective action plan",
    3: "Management note",
    4: "Notice of third-party root cause analysis",
    5: "Announcement of contract termination",
}
APPROVAL_REMINDER_AFTER = 2  # working days (SPEC §12)
ONE_DAY = timedelta(days=1)


class Phase(StrEnum):
    ACTIVE = "active"  # a step mail went out; its deadline runs
    WAITING = "waiting"  # the next step waits for a draft to be sent or an approval
    PAUSED = "paused"
    OUTCOME = "outcome"  # step 5 went out; the owner reports how it ended
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"
    TERMINATED = "terminated"
    CONTINUED = "continued"

    @property
    def closed(self) -> bool:
        return self in (Phase.RESOLVED, Phase.WITHDRAWN, Phase.TERMINATED, Phase.CONTINUED)


class Policy(StrEnum):
    SEND = "send"
    DRAFT = "draft"
    APPROVE = "approve"


@dataclass(frozen=True)
class Profile:
    """Deadlines (working days after steps 1..4), policies per step, reminder lead."""

    deadlines: tuple[int, int, int, int] = (10, 15, 10, 20)
    policies: tuple[Policy, Policy, Policy, Policy, Policy] = (
        Policy.SEND,
        Policy.SEND,
        Policy.APPROVE,
        Policy.APPROVE,
        Policy.APPROVE,
    )
    reminder_before: int = 2

    def policy(self, step: int) -> Policy:
        return self.policies[step - 1]

    def deadline_days(self, step: int) -> int | None:
        return self.deadlines[step - 1] if step < LAST_STEP else None


@dataclass(frozen=True)
class Rules:
    """Everything a decision may depend on besides the state and the event."""

    now: datetime
    calendar: WorkingCalendar
    profile: Profile


@dataclass(frozen=True)
class StepRecord:
    number: int
    sent_at: datetime
    via: str  # send | draft | approve | outside (happened before mailbot)
    deadline: datetime | None = None  # first instant after the deadline day (UTC)


@dataclass(frozen=True)
class Pending:
    """A step that is ready but waits for a person (draft to send, approval to give)."""

    step: int
    mode: Policy
    since: datetime
    held_for_verdict: bool = False


@dataclass(frozen=True)
class Escalation:
    phase: Phase
    step: int = 0
    steps: tuple[StepRecord, ...] = ()
    deadline: datetime | None = None
    pending: Pending | None = None
    awaiting_verdict: tuple[int, ...] = ()
    paused_at: datetime | None = None
    resume_phase: Phase | None = None
    outcome: str | None = None
    first_deadline_days: int | None = None

    @property
    def last_step_record(self) -> StepRecord | None:
        return self.steps[-1] if self.steps else None

    @property
    def mail_went_out(self) -> bool:
        return any(s.via != "outside" for s in self.steps)


# -- events ---------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    start_step: int = 1
    deadline_days: int | None = None


@dataclass(frozen=True)
class StepDelivered:
    """The owner sent the step's draft from the shared mailbox (seen in Sent)."""

    step: int


@dataclass(frozen=True)
class SupplierReplied:
    inbound_id: int


@dataclass(frozen=True)
class Verdict:
    accepted: bool


@dataclass(frozen=True)
class DeadlinePassed:
    deadline: datetime  # which deadline fired (stale ones are ignored)


@dataclass(frozen=True)
class ReminderDue:
    deadline: datetime


@dataclass(frozen=True)
class ApprovalReminderDue:
    step: int
    count: int  # 1: remind the owner; 2: tell the owner's manager


@dataclass(frozen=True)
class Approve:
    pass


@dataclass(frozen=True)
class Pause:
    days: int | None = None


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Extend:
    days: int


@dataclass(frozen=True)
class EscalateNow:
    pass


@dataclass(frozen=True)
class Withdraw:
    pass


@dataclass(frozen=True)
class Resolve:
    pass


@dataclass(frozen=True)
class OutcomeReported:
    kind: str  # terminated | continued
    text: str = ""


@dataclass(frozen=True)
class Bounced:
    step: int | None
    recipients: tuple[str, ...]
    subject: str = ""


Event = (
    Opened
    | StepDelivered
    | SupplierReplied
    | Verdict
    | DeadlinePassed
    | ReminderDue
    | ApprovalReminderDue
    | Approve
    | Pause
    | Resume
    | Extend
    | EscalateNow
    | Withdraw
    | Resolve
    | OutcomeReported
    | Bounced
)


# -- effects --------------------------------------------------------------------


@dataclass(frozen=True)
class SendStep:
    """Carry out a step's letter: `send` it, save it as a `draft`, or ask for `approve`al."""

    step: int
    mode: Policy
    held_for_verdict: bool = False


@dataclass(frozen=True)
class Schedule:
    kind: str  # step | reminder | approval | resume
    at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelSchedules:
    kinds: tuple[str, ...] = ("step", "reminder", "approval", "resume")


@dataclass(frozen=True)
class Notify:
    """A notice to a person of ours: `to` is a role (owner, owner_manager)."""

    template: str
    to: str = "owner"
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendClosing:
    """The closing mail to the recipients of the last step mail."""


@dataclass(frozen=True)
class SendWithdrawal:
    """A short withdrawal to the recipients of the last step mail."""


Effect = SendStep | Schedule | CancelSchedules | Notify | SendClosing | SendWithdrawal


@dataclass(frozen=True)
class Decision:
    state: Escalation
    effects: tuple[Effect, ...]
    summary: str


# -- the machine ------------------------------------------------------------------


def decide(state: Escalation | None, event: Event, rules: Rules) -> Decision:
    """The new state and what to do about it. Raises `Refused`."""
    if isinstance(event, Opened):
        if state is not None:
            raise Refused("already_open")
        return _open(event, rules)
    if state is None:
        raise Refused("no_case")
    if state.phase.closed and not isinstance(event, SupplierReplied | Bounced):
        raise Refused("closed", phase=state.phase.value)
    handler = _HANDLERS[type(event)]
    return handler(state, event, rules)


def _open(event: Opened, rules: Rules) -> Decision:
    if not 1 <= event.start_step <= LAST_STEP:
        raise Refused("bad_start_step", step=event.start_step)
    earlier = tuple(
        StepRecord(number=n, sent_at=rules.now, via="outside") for n in range(1, event.start_step)
    )
    state = Escalation(
        phase=Phase.ACTIVE,
        step=event.start_step - 1,
        steps=earlier,
        first_deadline_days=event.deadline_days,
    )
    decision = _carry_out(state, event.start_step, rules, reason="opened")
    summary = f"case opened at step {event.start_step}; " + decision.summary
    return replace(decision, summary=summary)


def _carry_out(
    state: Escalation,
    step: int,
    rules: Rules,
    *,
    reason: str,
    force_approval: bool = False,
) -> Decision:
    """Start `step` according to its policy (or hold it for approval)."""
    policy = Policy.APPROVE if force_approval else rules.profile.policy(step)
    if policy is Policy.SEND:
        return _step_sent(state, step, rules, via="send", reason=reason)
    pending = Pending(step=step, mode=policy, since=rules.now, held_for_verdict=force_approval)
    effects: list[Effect] = [
        CancelSchedules(),  # every timer, a PAUZE n's resume too: see `_step_sent`
        SendStep(step, policy, held_for_verdict=force_approval),
    ]
    if policy is Policy.APPROVE:
        effects.append(_approval_reminder(step, 1, rules))
    new = replace(state, phase=Phase.WAITING, pending=pending)
    what = "draft saved for the owner" if policy is Policy.DRAFT else "owner asked to approve"
    return Decision(new, tuple(effects), f"step {step} prepared ({what})")


def _approval_reminder(step: int, count: int, rules: Rules) -> Schedule:
    calendar = rules.calendar
    day = calendar.add_working_days(calendar.local_date(rules.now), APPROVAL_REMINDER_AFTER)
    return Schedule("approval", calendar.at_send_hour(day), {"step": step, "count": count})


def _step_sent(state: Escalation, step: int, rules: Rules, *, via: str, reason: str) -> Decision:
    """The step's letter goes (or went) out now: record it and start its deadline."""
    calendar = rules.calendar
    # A step carried out (ESCALEER while paused) ends any pause, so the resume timer of a
    # PAUZE n goes with the others: left pending, it would lift a later open-ended PAUZE.
    effects: list[Effect] = [CancelSchedules()]
    if via in ("send", "approve"):
        effects.append(SendStep(step, Policy.SEND))
    days = rules.profile.deadline_days(step)
    if not state.mail_went_out and state.first_deadline_days is not None and step < LAST_STEP:
        # The opening mail's Termijn is the first deadline promised to the supplier, however
        # that first letter leaves: sent at once, drafted and sent by the owner, or approved.
        # The letter shown for a draft or an approval already names this date.
        days = state.first_deadline_days
    deadline = calendar.deadline(rules.now, days) if days is not None else None
    record = StepRecord(number=step, sent_at=rules.now, via=via, deadline=deadline)
    if deadline is None:
        new = replace(
            state,
            phase=Phase.OUTCOME,
            step=step,
            steps=(*state.steps, record),
            deadline=None,
            pending=None,
        )
        effects.append(Notify("outcome_request", context={"step": step}))
        return Decision(new, tuple(effects), f"step {step} sent; waiting for the outcome")
    new = replace(
        state,
        phase=Phase.ACTIVE,
        step=step,
        steps=(*state.steps, record),
        deadline=deadline,
        pending=None,
    )
    effects.extend(_deadline_schedules(deadline, rules))
    if reason == "deadline":
        effects.append(Notify("step_sent", context={"step": step}))
    return Decision(new, tuple(effects), f"step {step} sent; deadline {deadline.isoformat()}")


def _deadline_schedules(deadline: datetime, rules: Rules) -> list[Effect]:
    calendar = rules.calendar
    effects: list[Effect] = [
        Schedule("step", calendar.due_step_moment(deadline), {"deadline": deadline.isoformat()})
    ]
    before = rules.profile.reminder_before
    if before > 0:
        deadline_day = calendar.local_date(deadline) - ONE_DAY
        remind_at = calendar.reminder_moment(deadline_day, before)
        if remind_at > rules.now:
            effects.append(Schedule("reminder", remind_at, {"deadline": deadline.isoformat()}))
    return effects


def _delivered(state: Escalation, event: StepDelivered, rules: Rules) -> Decision:
    pending = state.pending
    if pending is None or pending.mode is not Policy.DRAFT or pending.step != event.step:
        raise Refused("no_draft_pending", step=event.step)
    return _step_sent(state, event.step, rules, via="draft", reason="draft")


def _supplier_replied(state: Escalation, event: SupplierReplied, rules: Rules) -> Decision:
    if state.phase.closed:
        return Decision(state, (), "supplier reply after the case was closed; passed on")
    awaiting = tuple(dict.fromkeys((*state.awaiting_verdict, event.inbound_id)))
    return Decision(
        replace(state, awaiting_verdict=awaiting),
        (),
        "supplier reply recorded; owner asked for a verdict",
    )


def _verdict(state: Escalation, event: Verdict, rules: Rules) -> Decision:
    if event.accepted:
        return _close(state, Phase.RESOLVED, "proof of improvement accepted")
    pending = state.pending
    cleared = replace(state, awaiting_verdict=())
    if pending is not None and pending.held_for_verdict:
        # the step was only held because a reply waited for judgement: carry it out now
        held = replace(cleared, pending=None, phase=Phase.ACTIVE)
        decision = _carry_out(held, pending.step, rules, reason="deadline")
        return replace(decision, summary="proof rejected; " + decision.summary)
    return Decision(cleared, (), "proof rejected; the deadline runs on")


def _deadline_passed(state: Escalation, event: DeadlinePassed, rules: Rules) -> Decision:
    if state.phase is not Phase.ACTIVE or state.deadline != event.deadline:
        return Decision(state, (), "an outdated deadline fired; ignored")
    if state.step >= LAST_STEP:
        return Decision(state, (), "no step after step 5")
    next_step = state.step + 1
    return _carry_out(
        state, next_step, rules, reason="deadline", force_approval=bool(state.awaiting_verdict)
    )


def _reminder_due(state: Escalation, event: ReminderDue, rules: Rules) -> Decision:
    if state.phase is not Phase.ACTIVE or state.deadline != event.deadline:
        return Decision(state, (), "reminder for an outdated deadline dropped")
    if state.deadline is None or state.deadline <= rules.now:
        return Decision(state, (), "reminder after its deadline dropped")
    return Decision(
        state,
        (Notify("deadline_reminder", context={"step": state.step}),),
        f"owner reminded of the deadline of step {state.step}",
    )


def _approval_reminder_due(state: Escalation, event: ApprovalReminderDue, rules: Rules) -> Decision:
    pending = state.pending
    if pending is None or pending.mode is not Policy.APPROVE or pending.step != event.step:
        return Decision(state, (), "approval reminder for an approval no longer waiting dropped")
    if event.count <= 1:
        return Decision(
            state,
            (
                Notify("approval_reminder", context={"step": pending.step}),
                _approval_reminder(pending.step, 2, rules),
            ),
            f"owner reminded of the approval of step {pending.step}",
        )
    return Decision(
        state,
        (Notify("approval_manager_notice", to="owner_manager", context={"step": pending.step}),),
        f"owner's manager told that step {pending.step} waits for approval",
    )


def _approve(state: Escalation, event: Approve, rules: Rules) -> Decision:
    pending = state.pending
    if pending is None or pending.mode is not Policy.APPROVE:
        raise Refused("nothing_to_approve")
    cleared = replace(state, pending=None, awaiting_verdict=())
    return _step_sent(cleared, pending.step, rules, via="approve", reason="approved")


def _pause(state: Escalation, event: Pause, rules: Rules) -> Decision:
    if state.phase is Phase.PAUSED:
        raise Refused("already_paused")
    if state.phase is not Phase.ACTIVE:
        raise Refused("cannot_pause", phase=state.phase.value)
    # no resume timer of an earlier pause may end this one (PAUZE without days has no end)
    effects: list[Effect] = [CancelSchedules(("step", "reminder", "resume"))]
    if event.days:
        calendar = rules.calendar
        day = calendar.add_working_days(calendar.local_date(rules.now), event.days)
        effects.append(Schedule("resume", calendar.at_send_hour(day), {}))
    new = replace(state, phase=Phase.PAUSED, paused_at=rules.now, resume_phase=state.phase)
    length = f" for {event.days} working days" if event.days else ""
    return Decision(new, tuple(effects), f"timers paused{length}")


def _resume(state: Escalation, event: Resume, rules: Rules) -> Decision:
    if state.phase is not Phase.PAUSED or state.paused_at is None:
        raise Refused("not_paused")
    calendar = rules.calendar
    paused_days = calendar.working_days_between(state.paused_at, rules.now)
    deadline = state.deadline
    effects: list[Effect] = [CancelSchedules(("resume",))]
    if deadline is not None:
        deadline_day = calendar.local_date(deadline) - ONE_DAY
        new_day = (
            calendar.add_working_days(deadline_day, paused_days) if paused_days else deadline_day
        )
        deadline = calendar.end_of_day(new_day)
        effects.extend(_deadline_schedules(deadline, rules))
    new = replace(
        state,
        phase=state.resume_phase or Phase.ACTIVE,
        paused_at=None,
        resume_phase=None,
        deadline=deadline,
    )
    return Decision(
        new, tuple(effects), f"timers resumed; deadline moved {paused_days} working days"
    )


def _extend(state: Escalation, event: Extend, rules: Rules) -> Decision:
    if state.phase is not Phase.ACTIVE or state.deadline is None:
        raise Refused("no_deadline")
    if event.days < 1:
        raise Refused("bad_days")
    calendar = rules.calendar
    deadline_day = calendar.local_date(state.deadline) - ONE_DAY
    deadline = calendar.end_of_day(calendar.add_working_days(deadline_day, event.days))
    effects: list[Effect] = [
        CancelSchedules(("step", "reminder")),
        *_deadline_schedules(deadline, rules),
    ]
    return Decision(
        replace(state, deadline=deadline),
        tuple(effects),
        f"deadline extended by {event.days} working days",
    )


def _escalate(state: Escalation, event: EscalateNow, rules: Rules) -> Decision:
    if state.step >= LAST_STEP:
        raise Refused("last_step")
    if state.phase not in (Phase.ACTIVE, Phase.PAUSED):
        raise Refused("cannot_escalate", phase=state.phase.value)
    return _carry_out(
        replace(state, phase=Phase.ACTIVE, paused_at=None, resume_phase=None),
        state.step + 1,
        rules,
        reason="escalate",
    )


def _withdraw(state: Escalation, event: Withdraw, rules: Rules) -> Decision:
    effects: list[Effect] = [CancelSchedules()]
    if state.mail_went_out:
        effects.append(SendWithdrawal())
    return Decision(
        replace(state, phase=Phase.WITHDRAWN, pending=None, deadline=None, awaiting_verdict=()),
        tuple(effects),
        "case withdrawn",
    )


def _resolve(state: Escalation, event: Resolve, rules: Rules) -> Decision:
    return _close(state, Phase.RESOLVED, "case resolved")


def _close(state: Escalation, phase: Phase, summary: str, outcome: str | None = None) -> Decision:
    effects: list[Effect] = [CancelSchedules()]
    if state.mail_went_out:
        effects.append(SendClosing())
    new = replace(
        state, phase=phase, pending=None, deadline=None, awaiting_verdict=(), outcome=outcome
    )
    return Decision(new, tuple(effects), summary)


def _outcome(state: Escalation, event: OutcomeReported, rules: Rules) -> Decision:
    if state.phase is not Phase.OUTCOME:
        raise Refused("no_outcome_expected")
    if event.kind == "terminated":
        new = replace(state, phase=Phase.TERMINATED, outcome=event.text or None)
        return Decision(new, (CancelSchedules(),), "outcome: contract terminated")
    if event.kind == "continued":
        new = replace(state, phase=Phase.CONTINUED, outcome=event.text or None)
        return Decision(new, (CancelSchedules(),), "outcome: continued on other terms")
    raise Refused("bad_outcome", kind=event.kind)


def _bounced(state: Escalation, event: Bounced, rules: Rules) -> Decision:
    which = f"step {event.step} mail" if event.step else "a mail"
    return Decision(
        state,
        (
            Notify(
                "bounce_alert",
                context={
                    "bounced_step": event.step,
                    "failed": list(event.recipients),
                    "bounce_subject": event.subject,
                },
            ),
        ),
        f"{which} bounced for {', '.join(event.recipients) or 'unknown recipients'}",
    )


_HANDLERS: dict[type, Callable[[Escalation, Any, Rules], Decision]] = {
    StepDelivered: _delivered,
    SupplierReplied: _supplier_replied,
    Verdict: _verdict,
    DeadlinePassed: _deadline_passed,
    ReminderDue: _reminder_due,
    ApprovalReminderDue: _approval_reminder_due,
    Approve: _approve,
    Pause: _pause,
    Resume: _resume,
    Extend: _extend,
    EscalateNow: _escalate,
    Withdraw: _withdraw,
    Resolve: _resolve,
    OutcomeReported: _outcome,
    Bounced: _bounced,
}


# -- recipients ------------------------------------------------------------------


@dataclass(frozen=True)
class Parties:
    """The people a case's step mails go to (addresses, lower case)."""

    owner: str
    owner_manager: str | None
    counterpart: str
    counterpart_manager: str | None
    our_directors: tuple[str, ...] = ()
    their_directors: tuple[str, ...] = ()


def step_recipients(step: int, parties: Parties) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(To, Cc) of a step mail, exactly as SPEC §4: the owner in Cc before step 4;
    from step 4 everyone in To and nobody in Cc (directors' assistants filter Cc)."""
    to: list[str] = [parties.counterpart]
    if step >= 2:
        to += [a for a in (parties.counterpart_manager, parties.owner_manager) if a]
    if step >= 3:
        to += [*parties.their_directors, *parties.our_directors]
    cc: list[str] = [parties.owner]
    if step >= 4:
        to += cc
        cc = []
    to = list(dict.fromkeys(to))
    cc = [a for a in dict.fromkeys(cc) if a not in to]
    return tuple(to), tuple(cc)


# -- (de)serialisation for the database ---------------------------------------------


def to_data(state: Escalation) -> dict[str, Any]:
    """JSON-ready dict of the state (stored in `cases.data`)."""

    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "phase": state.phase.value,
        "step": state.step,
        "steps": [
            {
                "number": s.number,
                "sent_at": moment(s.sent_at),
                "via": s.via,
                "deadline": moment(s.deadline),
            }
            for s in state.steps
        ],
        "deadline": moment(state.deadline),
        "pending": (
            {
                "step": state.pending.step,
                "mode": state.pending.mode.value,
                "since": moment(state.pending.since),
                "held_for_verdict": state.pending.held_for_verdict,
            }
            if state.pending
            else None
        ),
        "awaiting_verdict": list(state.awaiting_verdict),
        "paused_at": moment(state.paused_at),
        "resume_phase": state.resume_phase.value if state.resume_phase else None,
        "outcome": state.outcome,
        "first_deadline_days": state.first_deadline_days,
    }


def from_data(data: dict[str, Any]) -> Escalation:
    def moment(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    pending = data.get("pending")
    return Escalation(
        phase=Phase(data["phase"]),
        step=int(data.get("step", 0)),
        steps=tuple(
            StepRecord(
                number=int(s["number"]),
                sent_at=datetime.fromisoformat(s["sent_at"]),
                via=s["via"],
                deadline=moment(s.get("deadline")),
            )
            for s in data.get("steps", [])
        ),
        deadline=moment(data.get("deadline")),
        pending=(
            Pending(
                step=int(pending["step"]),
                mode=Policy(pending["mode"]),
                since=datetime.fromisoformat(pending["since"]),
                held_for_verdict=bool(pending.get("held_for_verdict")),
            )
            if pending
            else None
        ),
        awaiting_verdict=tuple(int(i) for i in data.get("awaiting_verdict", [])),
        paused_at=moment(data.get("paused_at")),
        resume_phase=Phase(data["resume_phase"]) if data.get("resume_phase") else None,
        outcome=data.get("outcome"),
        first_deadline_days=data.get("first_deadline_days"),
    )
