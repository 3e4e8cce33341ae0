"""The ladder state machine, transition by transition (pure, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbot.domain import ladder
from mailbot.domain.calendar import WorkingCalendar
from mailbot.domain.ladder import (
    ApprovalReminderDue,
    Approve,
    Bounced,
    CancelSchedules,
    DeadlinePassed,
    EscalateNow,
    Escalation,
    Extend,
    Notify,
    Opened,
    OutcomeReported,
    Parties,
    Pause,
    Phase,
    Policy,
    Profile,
    Refused,
    ReminderDue,
    Resolve,
    Resume,
    Rules,
    Schedule,
    SendClosing,
    SendStep,
    SendWithdrawal,
    StepDelivered,
    SupplierReplied,
    Verdict,
    Withdraw,
    decide,
    step_recipients,
)

AMS = ZoneInfo("Europe/Amsterdam")
CALENDAR = WorkingCalendar()
MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=AMS)  # Monday 30 November 2026


def rules(now: datetime = MONDAY, **profile: object) -> Rules:
    return Rules(now=now.astimezone(UTC), calendar=CALENDAR, profile=Profile(**profile))  # type: ignore[arg-type]


def effects_of(decision: ladder.Decision, kind: type) -> list:
    return [e for e in decision.effects if isinstance(e, kind)]


def local(moment: datetime) -> datetime:
    return moment.astimezone(AMS)


def opened(now: datetime = MONDAY, **profile: object) -> Escalation:
    return decide(None, Opened(), rules(now, **profile)).state


# -- opening --------------------------------------------------------------------------


def test_it_sends_step_one_at_once_and_starts_a_ten_working_day_deadline() -> None:
    decision = decide(None, Opened(), rules())
    state = decision.state
    assert state.phase is Phase.ACTIVE and state.step == 1
    assert effects_of(decision, SendStep) == [SendStep(1, Policy.SEND)]
    # Mon 30 Nov + 10 working days = Mon 14 Dec; the deadline is the end of that day
    assert local(state.deadline) == datetime(2026, 12, 15, 0, 0, tzinfo=AMS)
    step, reminder = effects_of(decision, Schedule)
    assert step.kind == "step" and local(step.at) == datetime(2026, 12, 15, 9, 0, tzinfo=AMS)
    # 2 working days before Mon 14 Dec: Thu 10 Dec at 09:00
    assert reminder.kind == "reminder" and local(reminder.at) == datetime(
        2026, 12, 10, 9, 0, tzinfo=AMS
    )
    assert not effects_of(decision, Notify), "the owner's confirmation is the opening notice"


def test_it_uses_the_deadline_given_in_the_opening_mail_for_the_first_step_only() -> None:
    state = decide(None, Opened(deadline_days=3), rules()).state
    assert local(state.deadline).date() == date(2026, 12, 4)  # Thu 3 Dec + end of day
    later = decide(
        state, DeadlinePassed(state.deadline), rules(datetime(2026, 12, 4, 9, tzinfo=AMS))
    ).state
    # step 2 uses the profile's 15 working days from Fri 4 Dec: Fri 25 Dec and Mon 28 Dec
    # are… Christmas (25, 26 Dec) so: Dec 7-11 (5), 14-18 (10), 21-24 (14), 28 (15)
    assert local(later.deadline).date() == date(2026, 12, 29)


def test_it_uses_the_opening_mails_deadline_for_a_first_letter_that_waited() -> None:
    """The draft or the letter shown for approval already names the Termijn's date, so
    the deadline the ladder keeps must be the Termijn too, not the profile's default."""
    sent_at = datetime(2026, 12, 2, 15, tzinfo=AMS)  # Wed 2 Dec + 5 working days = Wed 9 Dec
    waiting = decide(None, Opened(start_step=3, deadline_days=5), rules()).state
    approved = decide(waiting, Approve(), rules(sent_at)).state
    assert local(approved.deadline).date() == date(2026, 12, 10)
    policies = (Policy.DRAFT, Policy.SEND, Policy.APPROVE, Policy.APPROVE, Policy.APPROVE)
    drafted = decide(None, Opened(deadline_days=5), rules(policies=policies)).state
    delivered = decide(drafted, StepDelivered(1), rules(sent_at, policies=policies)).state
    assert local(delivered.deadline).date() == date(2026, 12, 10)
    # only the first letter: step 4, approved on Thu 10 Dec, has the profile's 20 days
    due = datetime(2026, 12, 10, 9, tzinfo=AMS)
    step4 = decide(approved, DeadlinePassed(approved.deadline), rules(due)).state
    assert decide(step4, Approve(), rules(due)).state.deadline == CALENDAR.deadline(
        due.astimezone(UTC), 20
    )


def test_it_records_earlier_steps_and_asks_approval_when_starting_at_step_three() -> None:
    decision = decide(None, Opened(start_step=3), rules())
    state = decision.state
    assert [s.via for s in state.steps] == ["outside", "outside"]
    assert state.phase is Phase.WAITING and state.pending is not None
    assert (state.pending.step, state.pending.mode) == (3, Policy.APPROVE)
    assert effects_of(decision, SendStep) == [SendStep(3, Policy.APPROVE)]
    (reminder,) = effects_of(decision, Schedule)
    assert reminder.kind == "approval" and reminder.payload == {"step": 3, "count": 1}
    assert local(reminder.at) == datetime(2026, 12, 2, 9, 0, tzinfo=AMS)


def test_it_refuses_to_open_twice_or_at_a_step_that_does_not_exist() -> None:
    with pytest.raises(Refused, match="already_open"):
        decide(opened(), Opened(), rules())
    with pytest.raises(Refused, match="bad_start_step"):
        decide(None, Opened(start_step=6), rules())
    with pytest.raises(Refused, match="no_case"):
        decide(None, Resolve(), rules())


# -- deadlines --------------------------------------------------------------------------


def test_it_sends_the_next_step_when_the_deadline_passes_and_tells_the_owner() -> None:
    state = opened()
    at = datetime(2026, 12, 15, 9, 0, tzinfo=AMS)
    decision = decide(state, DeadlinePassed(state.deadline), rules(at))
    assert decision.state.step == 2 and decision.state.phase is Phase.ACTIVE
    assert effects_of(decision, SendStep) == [SendStep(2, Policy.SEND)]
    assert effects_of(decision, Notify) == [Notify("step_sent", context={"step": 2})]
    # 15 working days from Tue 15 Dec over Christmas and New Year: 16-18 (3), 21-24 (7),
    # 28-31 (11), 2 Jan is Sat, Jan 1 is a holiday, 4-7 Jan (15) -> Thu 7 Jan 2027
    assert local(decision.state.deadline).date() == date(2027, 1, 8)


def test_it_ignores_a_deadline_that_is_no_longer_the_current_one() -> None:
    state = opened()
    old = state.deadline - timedelta(days=3)
    decision = decide(state, DeadlinePassed(old), rules(MONDAY + timedelta(days=20)))
    assert decision.state == state and decision.effects == ()


def test_it_holds_the_next_step_for_approval_while_a_reply_awaits_the_verdict() -> None:
    state = decide(opened(), SupplierReplied(41), rules()).state
    assert state.awaiting_verdict == (41,)
    decision = decide(
        state, DeadlinePassed(state.deadline), rules(datetime(2026, 12, 15, 9, tzinfo=AMS))
    )
    assert decision.state.phase is Phase.WAITING
    assert decision.state.pending == ladder.Pending(
        2, Policy.APPROVE, rules(datetime(2026, 12, 15, 9, tzinfo=AMS)).now, True
    )
    assert effects_of(decision, SendStep) == [SendStep(2, Policy.APPROVE, held_for_verdict=True)]


def test_it_carries_out_the_held_step_by_its_own_policy_after_onvoldoende() -> None:
    state = decide(opened(), SupplierReplied(41), rules()).state
    at = datetime(2026, 12, 15, 9, tzinfo=AMS)
    held = decide(state, DeadlinePassed(state.deadline), rules(at)).state
    decision = decide(held, Verdict(accepted=False), rules(at + timedelta(hours=2)))
    assert decision.state.phase is Phase.ACTIVE and decision.state.step == 2
    assert effects_of(decision, SendStep) == [SendStep(2, Policy.SEND)]
    assert decision.state.awaiting_verdict == ()


def test_it_reminds_the_owner_before_the_deadline_but_never_after_it() -> None:
    state = opened()
    before = decide(
        state, ReminderDue(state.deadline), rules(datetime(2026, 12, 10, 9, tzinfo=AMS))
    )
    assert effects_of(before, Notify) == [Notify("deadline_reminder", context={"step": 1})]
    after = decide(state, ReminderDue(state.deadline), rules(datetime(2026, 12, 16, 9, tzinfo=AMS)))
    assert after.effects == ()


def test_it_skips_a_reminder_whose_moment_has_already_passed() -> None:
    decision = decide(None, Opened(deadline_days=1), rules())
    assert [s.kind for s in effects_of(decision, Schedule)] == ["step"]


# -- verdicts and ends ---------------------------------------------------------------------


def test_it_resolves_on_akkoord_stops_every_timer_and_sends_the_closing_mail() -> None:
    state = decide(opened(), SupplierReplied(7), rules()).state
    decision = decide(state, Verdict(accepted=True), rules())
    assert decision.state.phase is Phase.RESOLVED and decision.state.phase.closed
    assert effects_of(decision, CancelSchedules) == [CancelSchedules()]
    assert effects_of(decision, SendClosing) == [SendClosing()]
    assert decision.state.deadline is None and decision.state.awaiting_verdict == ()


def test_it_keeps_the_deadline_running_on_onvoldoende() -> None:
    state = decide(opened(), SupplierReplied(7), rules()).state
    decision = decide(state, Verdict(accepted=False), rules())
    assert decision.state.deadline == state.deadline and decision.effects == ()


def test_it_sends_no_closing_mail_when_nothing_went_out_yet() -> None:
    state = decide(None, Opened(start_step=3), rules()).state
    decision = decide(state, Resolve(), rules())
    assert decision.state.phase is Phase.RESOLVED
    assert effects_of(decision, SendClosing) == []


def test_it_withdraws_with_a_short_mail_only_when_a_step_mail_went_out() -> None:
    decision = decide(opened(), Withdraw(), rules())
    assert decision.state.phase is Phase.WITHDRAWN
    assert effects_of(decision, SendWithdrawal) == [SendWithdrawal()]
    quiet = decide(
        decide(
            None,
            Opened(
                start_step=2,
            ),
            rules(
                policies=(Policy.SEND, Policy.DRAFT, Policy.APPROVE, Policy.APPROVE, Policy.APPROVE)
            ),
        ).state,
        Withdraw(),
        rules(),
    )
    assert effects_of(quiet, SendWithdrawal) == []


def test_it_refuses_commands_on_a_closed_case_but_still_records_replies() -> None:
    closed = decide(opened(), Resolve(), rules()).state
    for event in (Resolve(), Approve(), Pause(), EscalateNow(), Withdraw(), Verdict(True)):
        with pytest.raises(Refused, match="closed"):
            decide(closed, event, rules())
    assert decide(closed, SupplierReplied(9), rules()).state == closed
    assert effects_of(decide(closed, Bounced(1, ("x@acme.example",)), rules()), Notify)


# -- approvals and drafts ------------------------------------------------------------------


def test_it_sends_an_approved_step_and_starts_its_deadline_from_the_approval() -> None:
    state = decide(None, Opened(start_step=3), rules()).state
    later = datetime(2026, 12, 3, 14, tzinfo=AMS)
    decision = decide(state, Approve(), rules(later))
    assert decision.state.phase is Phase.ACTIVE and decision.state.step == 3
    assert decision.state.steps[-1].via == "approve"
    assert effects_of(decision, SendStep) == [SendStep(3, Policy.SEND)]
    assert decision.state.deadline == CALENDAR.deadline(later.astimezone(UTC), 10)


def test_it_refuses_verstuur_when_nothing_waits_for_approval() -> None:
    with pytest.raises(Refused, match="nothing_to_approve"):
        decide(opened(), Approve(), rules())


def test_it_reminds_about_an_approval_then_tells_the_owners_manager() -> None:
    state = decide(None, Opened(start_step=3), rules()).state
    first = decide(state, ApprovalReminderDue(3, 1), rules(datetime(2026, 12, 2, 9, tzinfo=AMS)))
    assert effects_of(first, Notify) == [Notify("approval_reminder", context={"step": 3})]
    (again,) = effects_of(first, Schedule)
    assert again.payload == {"step": 3, "count": 2}
    assert local(again.at) == datetime(2026, 12, 4, 9, tzinfo=AMS)
    second = decide(state, ApprovalReminderDue(3, 2), rules(datetime(2026, 12, 4, 9, tzinfo=AMS)))
    assert effects_of(second, Notify) == [
        Notify("approval_manager_notice", to="owner_manager", context={"step": 3})
    ]
    sent = decide(state, Approve(), rules()).state
    assert decide(sent, ApprovalReminderDue(3, 1), rules()).effects == ()


def test_it_counts_a_draft_step_from_the_moment_the_owner_sent_it() -> None:
    policies = (Policy.DRAFT, Policy.SEND, Policy.APPROVE, Policy.APPROVE, Policy.APPROVE)
    decision = decide(None, Opened(), rules(policies=policies))
    assert decision.state.phase is Phase.WAITING
    assert effects_of(decision, SendStep) == [SendStep(1, Policy.DRAFT)]
    sent_at = datetime(2026, 12, 1, 16, tzinfo=AMS)
    delivered = decide(decision.state, StepDelivered(1), rules(sent_at, policies=policies))
    assert delivered.state.phase is Phase.ACTIVE and delivered.state.steps[-1].via == "draft"
    assert delivered.state.deadline == CALENDAR.deadline(sent_at.astimezone(UTC), 10)
    assert effects_of(delivered, SendStep) == [], "the owner already sent it"
    with pytest.raises(Refused, match="no_draft_pending"):
        decide(delivered.state, StepDelivered(1), rules(policies=policies))


# -- pause, resume, extend, escalate -----------------------------------------------------------


def test_it_pauses_and_shifts_the_deadline_by_the_working_days_paused() -> None:
    state = opened()
    paused = decide(state, Pause(), rules(datetime(2026, 12, 2, 10, tzinfo=AMS)))
    assert paused.state.phase is Phase.PAUSED
    assert effects_of(paused, CancelSchedules) == [CancelSchedules(("step", "reminder", "resume"))]
    with pytest.raises(Refused, match="already_paused"):
        decide(paused.state, Pause(), rules())
    # paused Wed 2 Dec, resumed Mon 7 Dec: Thu, Fri, Mon = 3 working days
    resumed = decide(paused.state, Resume(), rules(datetime(2026, 12, 7, 11, tzinfo=AMS)))
    assert resumed.state.phase is Phase.ACTIVE
    assert local(resumed.state.deadline).date() == date(2026, 12, 18)  # Mon 14 + 3 = Thu 17
    assert [e.kind for e in effects_of(resumed, Schedule)] == ["step", "reminder"]
    with pytest.raises(Refused, match="not_paused"):
        decide(resumed.state, Resume(), rules())


def test_it_resumes_by_itself_after_pauze_n() -> None:
    paused = decide(opened(), Pause(days=5), rules())
    (resume,) = effects_of(paused, Schedule)
    assert resume.kind == "resume" and local(resume.at) == datetime(2026, 12, 7, 9, tzinfo=AMS)


def test_it_lets_no_resume_timer_of_an_earlier_pause_end_a_later_one() -> None:
    paused = decide(opened(), Pause(days=3), rules(datetime(2026, 12, 1, 10, tzinfo=AMS)))
    escalated = decide(paused.state, EscalateNow(), rules(datetime(2026, 12, 1, 11, tzinfo=AMS)))
    assert escalated.state.phase is Phase.ACTIVE and escalated.state.step == 2
    assert any("resume" in c.kinds for c in effects_of(escalated, CancelSchedules))
    again = decide(escalated.state, Pause(), rules(datetime(2026, 12, 1, 12, tzinfo=AMS)))
    assert any("resume" in c.kinds for c in effects_of(again, CancelSchedules))
    assert not effects_of(again, Schedule), "PAUZE without days has no end"
    paused = decide(escalated.state, Pause(days=3), rules(datetime(2026, 12, 1, 13, tzinfo=AMS)))
    waiting = decide(paused.state, EscalateNow(), rules(datetime(2026, 12, 1, 14, tzinfo=AMS)))
    assert waiting.state.phase is Phase.WAITING, "step 3 waits for approval, unpaused"
    assert any("resume" in c.kinds for c in effects_of(waiting, CancelSchedules))


def test_it_refuses_to_pause_while_waiting_for_approval() -> None:
    waiting = decide(None, Opened(start_step=3), rules()).state
    with pytest.raises(Refused, match="cannot_pause"):
        decide(waiting, Pause(), rules())


def test_it_extends_the_current_deadline_in_working_days() -> None:
    decision = decide(opened(), Extend(5), rules())
    assert local(decision.state.deadline).date() == date(2026, 12, 22)  # Mon 14 + 5 = Mon 21
    with pytest.raises(Refused, match="bad_days"):
        decide(opened(), Extend(0), rules())
    waiting = decide(None, Opened(start_step=3), rules()).state
    with pytest.raises(Refused, match="no_deadline"):
        decide(waiting, Extend(5), rules())


def test_it_escalates_at_once_by_the_next_steps_policy() -> None:
    decision = decide(opened(), EscalateNow(), rules())
    assert decision.state.step == 2 and effects_of(decision, SendStep) == [SendStep(2, Policy.SEND)]
    assert effects_of(decision, Notify) == [], "the owner asked for it; the confirmation says so"
    to_three = decide(decision.state, EscalateNow(), rules())
    assert to_three.state.phase is Phase.WAITING and to_three.state.pending.step == 3


# -- step 5 and its outcome ----------------------------------------------------------------


def at_step_five() -> Escalation:
    state = decide(None, Opened(start_step=5), rules()).state
    return decide(state, Approve(), rules()).state


def test_it_waits_for_the_outcome_after_step_five() -> None:
    state = decide(None, Opened(start_step=5), rules()).state
    decision = decide(state, Approve(), rules())
    assert decision.state.phase is Phase.OUTCOME and decision.state.deadline is None
    assert Notify("outcome_request", context={"step": 5}) in decision.effects
    with pytest.raises(Refused, match="last_step"):
        decide(decision.state, EscalateNow(), rules())


def test_it_records_termination_or_continuation_with_its_terms() -> None:
    terminated = decide(at_step_five(), OutcomeReported("terminated"), rules()).state
    assert terminated.phase is Phase.TERMINATED and terminated.phase.closed
    continued = decide(at_step_five(), OutcomeReported("continued", "boete 5%"), rules()).state
    assert continued.phase is Phase.CONTINUED and continued.outcome == "boete 5%"
    resolved = decide(at_step_five(), Resolve(), rules())
    assert resolved.state.phase is Phase.RESOLVED and effects_of(resolved, SendClosing)
    with pytest.raises(Refused, match="no_outcome_expected"):
        decide(opened(), OutcomeReported("terminated"), rules())


# -- recipients ------------------------------------------------------------------------------


PARTIES = Parties(
    owner="anna@gemeente.example",
    owner_manager="bert@gemeente.example",
    counterpart="sm@acme.example",
    counterpart_manager="mgr@acme.example",
    our_directors=("directie@gemeente.example",),
    their_directors=("directie@acme.example",),
)


def test_it_addresses_each_step_exactly_as_the_seed_says() -> None:
    assert step_recipients(1, PARTIES) == (("sm@acme.example",), ("anna@gemeente.example",))
    assert step_recipients(2, PARTIES) == (
        ("sm@acme.example", "mgr@acme.example", "bert@gemeente.example"),
        ("anna@gemeente.example",),
    )
    to3, cc3 = step_recipients(3, PARTIES)
    assert to3 == (
        "sm@acme.example",
        "mgr@acme.example",
        "bert@gemeente.example",
        "directie@acme.example",
        "directie@gemeente.example",
    ) and cc3 == ("anna@gemeente.example",)
    for step in (4, 5):
        to, cc = step_recipients(step, PARTIES)
        assert cc == (), "from step 4 nobody is in Cc"
        assert to == (*to3, "anna@gemeente.example")


def test_it_leaves_out_roles_nobody_fills() -> None:
    sparse = replace(
        PARTIES, owner_manager=None, counterpart_manager=None, our_directors=(), their_directors=()
    )
    assert step_recipients(3, sparse) == (("sm@acme.example",), ("anna@gemeente.example",))


# -- persistence ------------------------------------------------------------------------------


def test_it_round_trips_every_field_through_json() -> None:
    import json

    state = decide(opened(), SupplierReplied(3), rules()).state
    state = decide(state, Pause(), rules()).state
    data = json.loads(json.dumps(ladder.to_data(state)))
    assert ladder.from_data(data) == state
    waiting = decide(None, Opened(start_step=3, deadline_days=4), rules()).state
    assert ladder.from_data(json.loads(json.dumps(ladder.to_data(waiting)))) == waiting
