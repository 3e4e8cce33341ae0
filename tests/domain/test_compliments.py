"""The compliment lifecycle, transition by transition (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.domain import compliments
from mailbot.domain.calendar import WorkingCalendar
from mailbot.domain.compliments import (
    Assign,
    CancelSchedules,
    CapCheckDue,
    CapDone,
    CapSubmitted,
    Close,
    Compliment,
    Given,
    Mail,
    NoCap,
    NormPassed,
    Norms,
    Reacted,
    Refused,
    Registered,
    Rules,
    Schedule,
    Stage,
    decide,
)

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY = datetime(2026, 11, 30, 10, tzinfo=AMS)
CAL = WorkingCalendar()


def rules(now: datetime = MONDAY) -> Rules:
    return Rules(now=now.astimezone(UTC), calendar=CAL, norms=Norms())


def mails(decision: compliments.Decision) -> list[tuple[str, str]]:
    return [(e.template, e.to) for e in decision.effects if isinstance(e, Mail)]


def schedules(decision: compliments.Decision) -> list[Schedule]:
    return [e for e in decision.effects if isinstance(e, Schedule)]


def registered(thank: bool = True) -> Compliment:
    return decide(None, Registered(thank_maker=thank), rules()).state


def assigned(receivers: tuple[str, ...] = ("piet@x",)) -> Compliment:
    return decide(registered(), Assign(receivers, "marieke@x"), rules()).state


def given(receivers: tuple[str, ...] = ("piet@x",)) -> Compliment:
    return decide(assigned(receivers), Given(), rules()).state


def test_it_thanks_the_maker_and_asks_the_coordinator_with_a_two_day_norm() -> None:
    decision = decide(None, Registered(thank_maker=True), rules())
    assert decision.state.stage is Stage.REGISTERED
    assert mails(decision) == [("cmp_thanks", "maker"), ("cmp_registered", "coordinator")]
    (norm,) = schedules(decision)
    assert norm.payload == {"stage": "registered", "count": 1}
    # two working days run to the end of Wednesday (SPEC §12); the reminder for an
    # overdue norm goes at 09:00 on the next working day, not on the norm's last day
    assert norm.at.astimezone(AMS) == datetime(2026, 12, 3, 9, tzinfo=AMS)
    assert decision.state.reached_at(Stage.REGISTERED) == rules().now


def test_it_does_not_thank_when_told_not_to() -> None:
    decision = decide(None, Registered(thank_maker=False), rules())
    assert mails(decision) == [("cmp_registered", "coordinator")]


def test_it_asks_the_provider_to_give_it_once_receivers_are_named() -> None:
    decision = decide(registered(), Assign(("piet@x", "anna@x"), "marieke@x"), rules())
    assert decision.state.stage is Stage.ASSIGNED
    assert (
        decision.state.receivers == ("piet@x", "anna@x") and decision.state.provider == "marieke@x"
    )
    assert mails(decision) == [("cmp_assigned", "provider")]
    assert CancelSchedules(("norm",)) in decision.effects
    (norm,) = schedules(decision)
    assert norm.payload["stage"] == "assigned"
    with pytest.raises(Refused, match="no_receivers"):
        decide(registered(), Assign((), "m@x"), rules())


def test_it_lets_the_coordinator_change_receivers_until_it_is_given() -> None:
    state = decide(assigned(), Assign(("anna@x",), "bert@x"), rules()).state
    assert state.receivers == ("anna@x",)
    with pytest.raises(Refused, match="already_given"):
        decide(given(), Assign(("anna@x",), "bert@x"), rules())


def test_it_asks_the_receivers_to_react_once_given_and_records_the_dossier_wish() -> None:
    decision = decide(assigned(), Given(record=True), rules())
    assert decision.state.stage is Stage.GIVEN and decision.state.record
    assert mails(decision) == [("cmp_given", "receivers")]
    with pytest.raises(Refused, match="not_assigned"):
        decide(registered(), Given(), rules())


def test_it_passes_each_reaction_on_and_asks_for_a_cap_when_all_reacted() -> None:
    state = given(("piet@x", "anna@x"))
    first = decide(state, Reacted("piet@x", "Wat leuk!"), rules())
    assert first.state.stage is Stage.GIVEN and first.state.waiting_for == ("anna@x",)
    assert mails(first) == [("cmp_reaction", "maker")]
    second = decide(first.state, Reacted("anna@x", "Dank!"), rules())
    assert second.state.stage is Stage.REACTED
    assert mails(second) == [("cmp_reaction", "maker"), ("cmp_cap_request", "provider")]
    with pytest.raises(Refused, match="not_a_receiver"):
        decide(state, Reacted("bert@x", "?"), rules())


def test_it_asks_for_the_cap_when_the_reaction_norm_passes_with_some_reactions() -> None:
    state = decide(given(("piet@x", "anna@x")), Reacted("piet@x", "Top"), rules()).state
    decision = decide(state, NormPassed(Stage.GIVEN, 1), rules())
    assert decision.state.stage is Stage.REACTED
    assert ("cmp_cap_request", "provider") in mails(decision)
    assert decision.state.norm_missed == ("given",)


def test_a_reaction_after_the_reaction_norm_passed_sends_the_cap_request() -> None:
    """SPEC §12: with several receivers the CAP request goes when all reacted or the norm
    passed; the norm passed (nobody had reacted yet: a reminder went) and one reacts now."""
    state = given(("piet@x", "anna@x"))
    reminded = decide(state, NormPassed(Stage.GIVEN, 1), rules())
    assert mails(reminded) == [("cmp_reminder", "receivers")]
    late = decide(reminded.state, Reacted("piet@x", "Top"), rules())
    assert late.state.stage is Stage.REACTED
    assert mails(late) == [("cmp_reaction", "maker"), ("cmp_cap_request", "provider")]


def test_a_reaction_between_the_reminder_and_the_second_norm_is_not_left_waiting() -> None:
    state = given(("piet@x", "anna@x"))
    reminded = decide(state, NormPassed(Stage.GIVEN, 1), rules()).state
    # a reaction recorded without moving on (as stored before this rule) is picked up
    # by the second firing instead of only telling the coordinator
    some = replace(reminded, reactions=(("piet@x", "Top"),))
    second = decide(some, NormPassed(Stage.GIVEN, 2), rules())
    assert second.state.stage is Stage.REACTED
    assert ("cmp_cap_request", "provider") in mails(second)


def test_it_reminds_then_tells_the_coordinator_when_a_norm_passes() -> None:
    state = assigned()
    first = decide(state, NormPassed(Stage.ASSIGNED, 1), rules())
    assert mails(first) == [("cmp_reminder", "provider")]
    (again,) = schedules(first)
    assert again.payload == {"stage": "assigned", "count": 2}
    second = decide(first.state, NormPassed(Stage.ASSIGNED, 2), rules())
    assert mails(second) == [("cmp_norm_notice", "coordinator")]
    assert second.state.norm_missed == ("assigned",)
    moved_on = decide(state, Given(), rules()).state
    assert decide(moved_on, NormPassed(Stage.ASSIGNED, 1), rules()).effects == ()


def test_it_records_a_cap_with_its_due_date_and_checks_it_then() -> None:
    state = decide(given(), Reacted("piet@x", "Fijn"), rules()).state
    decision = decide(
        state, CapSubmitted("Aanpak delen in teamoverleg", date(2027, 1, 15)), rules()
    )
    assert decision.state.stage is Stage.CAP and decision.state.cap_due == date(2027, 1, 15)
    (check,) = [s for s in schedules(decision) if s.kind == "cap_check"]
    # asked after the due date (Friday 15 January): 09:00 on the next working day
    assert check.at.astimezone(AMS) == datetime(2027, 1, 18, 9, tzinfo=AMS)
    monday = datetime(2027, 1, 18, 9, tzinfo=AMS)
    asked = decide(decision.state, CapCheckDue(), rules(monday))
    assert mails(asked) == [("cmp_cap_check", "provider")]
    # no answer within five working days (to the end of Monday 25th): the coordinator hears
    (notice,) = schedules(asked)
    assert notice.payload == {"stage": "cap", "count": 2}
    assert notice.at.astimezone(AMS) == datetime(2027, 1, 26, 9, tzinfo=AMS)
    told = decide(asked.state, NormPassed(Stage.CAP, 2), rules())
    assert mails(told) == [("cmp_norm_notice", "coordinator")]
    assert told.state.norm_missed == ("cap",)
    done = decide(decision.state, CapDone(), rules())
    assert done.state.stage is Stage.CLOSED and done.state.closed_how == "done"


def test_it_gives_a_cap_without_due_date_twenty_working_days() -> None:
    state = decide(given(), Reacted("piet@x", "Fijn"), rules()).state
    decision = decide(state, CapSubmitted("Plan"), rules())
    # 20 working days after Mon 30 Nov 2026, over Christmas and New Year: Wed 30 Dec? no:
    # Dec 1-4 (4), 7-11 (9), 14-18 (14), 21-24 (18), 28-29 (20) -> Tue 29 Dec
    assert decision.state.cap_due == date(2026, 12, 29)
    with pytest.raises(Refused, match="empty_cap"):
        decide(state, CapSubmitted("  "), rules())


def test_it_closes_on_geen_cap_and_refuses_everything_after() -> None:
    state = decide(given(), Reacted("piet@x", "Fijn"), rules()).state
    closed = decide(state, NoCap(), rules())
    assert closed.state.stage is Stage.CLOSED and closed.state.closed_how == "no_cap"
    assert closed.effects == (CancelSchedules(),)
    for event in (Given(), NoCap(), Close(), Assign(("a@x",), "b@x")):
        with pytest.raises(Refused, match="closed"):
            decide(closed.state, event, rules())


def test_it_lets_the_coordinator_close_a_stalled_compliment() -> None:
    decision = decide(assigned(), Close(), rules())
    assert (
        decision.state.stage is Stage.CLOSED
        and decision.state.closed_how == "closed_by_coordinator"
    )


def test_it_refuses_cap_words_in_the_wrong_stage() -> None:
    with pytest.raises(Refused, match="no_cap_expected"):
        decide(assigned(), CapSubmitted("x"), rules())
    with pytest.raises(Refused, match="no_cap"):
        decide(assigned(), CapDone(), rules())


def test_it_round_trips_through_json() -> None:
    state = decide(given(("piet@x", "anna@x")), Reacted("piet@x", "Top"), rules()).state
    assert compliments.from_data(json.loads(json.dumps(compliments.to_data(state)))) == state
