"""Every mail template renders, in Dutch and in English, with the data the service passes.

The sample contexts below mirror what the service code hands to the renderer
(`escalations.context()` plus each caller's extras: `notify()`, `step_letter()`,
`_send_letter()`, `escalation_mail.reply_to_sender()`, `forward_to_owner()`,
`change_owner()`, `outbox.notify_admins()` from ingest, outbox, deadlines and
the router; for compliments `compliments.context()` plus `send()`,
`_reaction_mails()`, `compliment_mail.run_command()`/`_refuse()` and
`replies.reply_to_sender()`/`send_status()`).
StrictUndefined turns a missing variable into a failure here instead of an
empty spot in a letter to a supplier's director. Several templates get more
than one sample, so that every branch (policy, verb, reason, kind) renders.

Template data is plain JSON (Zulip's rule), dates and datetimes excepted: no
ORM objects, so a template can never reach the database.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import pytest

from mailbot.domain.commands import Command, Verb, parse_command, parse_date
from mailbot.domain.compliments import ACTOR, Norms, Stage
from mailbot.domain.ladder import STEP_NAMES_EN, STEP_NAMES_NL, Parties, step_recipients
from mailbot.domain.suggest import LIKELY, POSSIBLE, SURE, Suggestion
from mailbot.render import RenderedMail, Renderer
from mailbot.resources import templates_dir
from tests.digest_sample import digest_samples

LANGUAGES = ("nl", "en")
NAMES = sorted(
    p.name.removesuffix(".subject.txt") for p in (templates_dir() / "nl").glob("*.subject.txt")
)
STEP_LETTERS = [f"step{n}" for n in range(1, 6)]
OWNER_LETTERS = [*STEP_LETTERS, "closing", "withdrawal"]

ORGANISATION = "Gemeente Voorbeeld"
MAILBOX = "leveranciers@gemeente.example"
REF = "ESC-2026-0007"
OWNER = {"email": "a.jansen@gemeente.example", "name": "Anna Jansen", "title": "contractmanager"}
MANAGER = {"email": "b.bakker@gemeente.example", "name": "Bert Bakker"}
COLLEAGUE = {"email": "p.devries@gemeente.example", "name": "Piet de Vries"}
FROM = {"email": "j.pietersen@acme.example", "name": "Jan Pietersen"}  # the supplier's side
SUPPLIER = {
    "id": "acme",
    "name": "Acme Hosting B.V.",
    "sla_reference": "SLA Hosting 2025 bijlage 4",
    "counterpart": "servicemanager@acme.example",
    "counterpart_name": "Jan Pietersen",
}
PARTIES = Parties(
    owner=OWNER["email"],
    owner_manager=MANAGER["email"],
    counterpart=SUPPLIER["counterpart"],
    counterpart_manager="manager@acme.example",
    our_directors=("directie@gemeente.example",),
    their_directors=("directie@acme.example",),
)
DEADLINE_DAY = date(2026, 12, 14)  # maandag 14 december 2026
DEADLINE = datetime(2026, 12, 14, 23, 0, tzinfo=UTC)  # the first instant after it, in UTC
DEADLINE_WORDS = {"nl": "maandag 14 december 2026", "en": "Monday 14 December 2026"}
SENT = {
    1: datetime(2026, 9, 21, 7, 0, tzinfo=UTC),
    2: datetime(2026, 10, 6, 7, 0, tzinfo=UTC),
    3: datetime(2026, 10, 28, 8, 0, tzinfo=UTC),
    4: datetime(2026, 11, 16, 8, 0, tzinfo=UTC),
    5: datetime(2026, 12, 15, 8, 0, tzinfo=UTC),
}

# Text people wrote (staff, suppliers, mail servers); the hostile version must
# reach the plain text unchanged and the HTML escaped.
REALISTIC = {
    "shortfall": "back-ups van de klantdatabase mislukken al drie weken",
    "description": (
        "Sinds 16 november mislukt de nachtelijke back-up van de klantdatabase.\n"
        "Een terugzettest op 1 december is niet gelukt."
    ),
    "subject": "Escalatie acme: back-ups van de klantdatabase mislukken al drie weken",
    "reply": (
        "Beste Anna,\n\nWe hebben de back-upsoftware bijgewerkt; sinds gisteren lukken de "
        "back-ups weer.\nIn de bijlage het rapport van de terugzettest.\n\n"
        "Met vriendelijke groet,\nJan Pietersen"
    ),
    "free": "nieuwe prestatienorm 98%, vergoeding 10% lager",
    "error": "SMTPRecipientsRefused: 550 5.1.1 mailbox unavailable",
    # compliments: the maker's display name and words, a receiver's reaction, a CAP
    "maker": "Mevr. J. de Groot",
    "compliment": (
        "Beste mensen,\n\nGisteren kon ik niet meer inloggen op Mijn Gemeente.\n"
        "Piet de Vries van de servicedesk bleef geduldig aan de lijn tot alles weer werkte.\n\n"
        "Hartelijke groet,\nJ. de Groot"
    ),
    "compliment_subject": "Compliment voor de servicedesk",
    "reaction": "Wat leuk om te lezen! Ik help graag.\nFijn dat het weer werkt.",
    "cap": (
        "We bespreken in het teamoverleg hoe Piet dit aanpakte.\n"
        "Zijn stappenplan voor inlogproblemen komt in de kennisbank."
    ),
    "typed": "Piet de Vris",  # a receiver the coordinator typed that is not in the directory
}
USER_TEXT = 'Back-ups <script>alert("x")</script> & herstel > 3 dagen'
HOSTILE = dict.fromkeys(REALISTIC, USER_TEXT)

Context = dict[str, Any]


# -- the data the service passes ---------------------------------------------------------


def step_names(language: str) -> dict[int, str]:
    return dict(STEP_NAMES_NL if language == "nl" else STEP_NAMES_EN)


def history(language: str, upto: int, *, outside_before: int = 1) -> list[Context]:
    """`state.steps` as `escalations.context()` lists them; steps before `outside_before`
    happened outside mailbot (`Start: stap N`)."""
    names = step_names(language)
    return [
        {
            "number": n,
            "name": names[n],
            "sent_at": SENT[n],
            "via": "outside" if n < outside_before else "send",
        }
        for n in range(1, upto + 1)
    ]


def case_context(
    language: str,
    texts: dict[str, str],
    *,
    step: int = 2,
    phase: str = "active",
    steps: list[Context] | None = None,
    deadline: bool = True,
    pending: Context | None = None,
    awaiting_verdict: int = 0,
    outcome: str | None = None,
) -> Context:
    """What `escalations.context()` returns."""
    names = step_names(language)
    to, cc = step_recipients(step, PARTIES) if step else ((), ())
    return {
        "step_to": list(to),
        "step_cc": list(cc),
        "ref": REF,
        "title": texts["shortfall"],
        "shortfall": texts["shortfall"],
        "description": texts["description"],
        "kpi": "beschikbaarheid back-up 99,5% per maand (gemeten: 71%)",
        "incident": None,
        "supplier": dict(SUPPLIER),
        "owner": dict(OWNER),
        "organisation": ORGANISATION,
        "mailbox": MAILBOX,
        "step": step,
        "step_name": names.get(step, ""),
        "step_names": names,
        "steps": history(language, step) if steps is None else steps,
        "phase": phase,
        "deadline": DEADLINE if deadline else None,
        "deadline_day": DEADLINE_DAY if deadline else None,
        "pending": pending,
        "awaiting_verdict": awaiting_verdict,
        "outcome": outcome,
    }


def sender(person: Context, texts: dict[str, str]) -> Context:
    """What `escalation_mail.reply_to_sender()` adds."""
    return {
        "sender": {"email": person["email"], "name": person["name"]},
        "subject": texts["subject"],
    }


def notice(language: str, texts: dict[str, str], to: Context = OWNER, **state: Any) -> Context:
    """`escalations.notify()`: the case context plus the recipient."""
    ctx = case_context(language, texts, **state)
    ctx["recipient"] = {"email": to["email"], "name": to["name"]}
    return ctx


def letter(language: str, texts: dict[str, str], step: int) -> Context:
    """`escalations.step_letter()`."""
    ctx = case_context(language, texts, step=step, steps=history(language, step - 1))
    days = {1: 10, 2: 15, 3: 10, 4: 20}.get(step)
    to, cc = step_recipients(step, PARTIES)
    ctx["letter_deadline_day"] = DEADLINE_DAY if days else None
    ctx["deadline_days"] = days
    ctx["previous_steps"] = [s for s in ctx["steps"] if s["number"] < step]
    ctx["recipients"] = {"to": list(to), "cc": list(cc)}
    return ctx


def end_letter(language: str, texts: dict[str, str]) -> Context:
    """`escalations._send_letter()` (closing, withdrawal)."""
    return {
        **case_context(language, texts, step=2, phase="resolved", deadline=False),
        "last_step": 2,
    }


def approval_request(language: str, texts: dict[str, str], held: bool, step: int) -> Context:
    """`escalations._send_step()` with policy `approve`: the letter as it would go out."""
    proposed = renderer().render(f"step{step}", language, **letter(language, texts, step))
    to, cc = step_recipients(step, PARTIES)
    pending = {"step": step, "mode": "approve", "held_for_verdict": held}
    state = {"phase": "waiting", "deadline": False, "awaiting_verdict": 1 if held else 0}
    ctx = notice(
        language, texts, step=step, steps=history(language, step - 1), pending=pending, **state
    )
    return ctx | {
        "letter_subject": proposed.subject,
        "letter_text": proposed.text,
        "letter_to": list(to),
        "letter_cc": list(cc),
        "held_for_verdict": held,
    }


def command_done(language: str, texts: dict[str, str], verb: str, **state: Any) -> Context:
    """`escalation_mail.run_command()`: the state after the command, plus who did what."""
    actor = state.pop("actor", OWNER)
    days = state.pop("days", None)
    return {
        **sender(actor, texts),
        **case_context(language, texts, **state),
        "verb": verb,
        "days": days,
        "actor": actor["email"],
        "actor_name": actor["name"],
    }


def forward(
    language: str, texts: dict[str, str], kind: str, author: Context = FROM, **extra: Any
) -> Context:
    """`escalation_mail.forward_to_owner()`."""
    return {
        **case_context(language, texts),
        "kind": kind,
        "from": dict(author),
        "original_subject": f"RE: [{REF}] {texts['subject']}",
        "original_topic": texts["subject"],
        "trimmed": True,
        "original_date": datetime(2026, 12, 3, 14, 12, tzinfo=UTC),
        "reply_text": texts["reply"],
        "full_text": texts["reply"] + "\n\n> Geachte Jan Pietersen,\n> Wij constateren ...",
        "attachments_skipped": [],
        "inbound_id": 412,
        "outsider": kind in ("supplier", "tentative", "after_close"),
        **extra,
    }


def refused(
    language: str, texts: dict[str, str], reason: str, verb: str = "PAUZE", **details: Any
) -> Context:
    """`escalation_mail.run_command()` when the ladder refuses (`**refused.details`); the
    verb is the word as typed, and an English word is what makes the answer English."""
    word = Verb(verb).english if language == "en" else verb
    return {**sender(OWNER, texts), "reason": reason, "verb": word, "ref": REF,
            "owner": OWNER["email"], **details}  # fmt: skip


def status(language: str, texts: dict[str, str], **state: Any) -> Context:
    """`escalation_mail.send_status()`."""
    return {
        **sender(MANAGER, texts),
        **case_context(language, texts, **state),
        "timeline": [
            {"at": SENT[1], "summary": "case opened at step 1", "actor": OWNER["email"]},
            {"at": SENT[2], "summary": "step 2 sent", "actor": "mailbot"},
        ],
        "state": state.get("phase", "active"),
        "title": texts["shortfall"],
    }


Samples = list[tuple[str, Context]]
Builder = Callable[[str, dict[str, str]], Samples]
SAMPLES: dict[str, Builder] = {}
WAITING = {"step": 3, "mode": "approve", "held_for_verdict": False}
DRAFT = {"step": 3, "mode": "draft", "held_for_verdict": False}


def sample(*names: str) -> Callable[[Builder], Builder]:
    """Register the sample contexts of one or more templates."""

    def register(builder: Builder) -> Builder:
        for name in names:
            SAMPLES[name] = builder
        return builder

    return register


def samples(name: str, language: str, texts: dict[str, str]) -> Samples:
    """(label, context) pairs for one template; together they reach every branch."""
    return SAMPLES[name](language, texts)


sample("digest")(digest_samples)


@sample("cap_hit")
def _cap_hit(lang: str, t: dict[str, str]) -> Samples:
    return [
        (
            window,
            {
                "recipient": "servicemanager@acme.example",
                "window": window,
                "limit": limit,
                "subject": f"[ESC-2026-0007] {t['shortfall']}",
            },
        )
        for window, limit in (("hour", 20), ("day", 100))
    ]


for _n in range(1, 6):
    sample(f"step{_n}")(lambda lang, t, n=_n: [("letter", letter(lang, t, n))])


@sample("closing", "withdrawal")
def _end_letters(lang: str, t: dict[str, str]) -> Samples:
    return [("end", end_letter(lang, t))]


@sample("esc_opened")
def _opened(lang: str, t: dict[str, str]) -> Samples:
    result = []
    for policy, cc in (("send", True), ("send", False), ("approve", False), ("draft", False)):
        sent = policy == "send"
        ctx = notice(lang, t, step=1, steps=history(lang, 1) if sent else [], deadline=sent)
        ctx |= {
            "first_step": 1,
            "first_to": [SUPPLIER["counterpart"]],
            "first_cc": [OWNER["email"]] if cc else [],
            "first_policy": policy,
        }
        result.append((f"{policy}-cc-{cc}", ctx))
    return result


@sample("esc_approval_request")
def _approval_request(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("ready", approval_request(lang, t, held=False, step=3)),
        ("held-for-verdict", approval_request(lang, t, held=True, step=4)),
    ]


@sample("esc_approval_reminder")
def _approval_reminder(lang: str, t: dict[str, str]) -> Samples:
    return [("owner", notice(lang, t, step=3, phase="waiting", pending=WAITING))]


@sample("esc_approval_manager_notice")
def _approval_manager_notice(lang: str, t: dict[str, str]) -> Samples:
    return [("manager", notice(lang, t, to=MANAGER, step=3, phase="waiting", pending=WAITING))]


@sample("esc_bounce_alert")
def _bounce_alert(lang: str, t: dict[str, str]) -> Samples:
    return [
        (
            "step-bounced",
            notice(lang, t)
            | {
                "failed": [SUPPLIER["counterpart"]],
                "bounced_step": 2,
                "bounce_subject": "Undeliverable: " + t["subject"],
            },
        ),
        (
            "unknown",
            notice(lang, t) | {"failed": [], "bounced_step": None, "bounce_subject": t["error"]},
        ),
    ]


@sample("esc_deadline_reminder")
def _deadline_reminder(lang: str, t: dict[str, str]) -> Samples:
    return [(f"awaiting-{n}", notice(lang, t, awaiting_verdict=n)) for n in (0, 1, 2)]


@sample("esc_draft_ready")
def _draft_ready(lang: str, t: dict[str, str]) -> Samples:
    subject = f"[{REF}] Stap 3 – managementnotitie: onvoldoende voortgang – Acme Hosting B.V."
    ctx = notice(lang, t, step=3, phase="waiting", pending=DRAFT)
    return [("draft", ctx | {"letter_subject": subject})]


@sample("esc_oof_notice")
def _oof_notice(lang: str, t: dict[str, str]) -> Samples:
    away = {"away": SUPPLIER["counterpart"]}
    text = "Ik ben afwezig tot en met 11 december.\n\n" + t["reply"]
    return [
        ("with-text", notice(lang, t) | away | {"away_text": text}),
        ("no-deadline", notice(lang, t, deadline=False) | away | {"away_text": ""}),
    ]


@sample("esc_outcome_request")
def _outcome_request(lang: str, t: dict[str, str]) -> Samples:
    return [("outcome", notice(lang, t, step=5, phase="outcome", deadline=False))]


@sample("esc_step_sent")
def _step_sent(lang: str, t: dict[str, str]) -> Samples:
    return [("deadline-passed", notice(lang, t, step=3, steps=history(lang, 3)))]


@sample("esc_forward")
def _forward(lang: str, t: dict[str, str]) -> Samples:
    nameless = {"email": "noreply@acme.example", "name": ""}
    too_big = [{"name": "terugzettest.pdf", "size": 22_000_000}]
    return [
        ("supplier", forward(lang, t, "supplier")),
        (
            "no-name",
            forward(lang, t, "supplier", author=nameless, original_date=None, trimmed=False),
        ),
        ("tentative", forward(lang, t, "tentative")),
        ("ticket", forward(lang, t, "ticket", author=nameless)),
        ("after-close", forward(lang, t, "after_close")),
        ("colleague", forward(lang, t, "colleague", author=COLLEAGUE, attachments_skipped=too_big)),
    ]


@sample("esc_command_done")
def _command_done(lang: str, t: dict[str, str]) -> Samples:
    closed = {"deadline": False}
    waiting = {"phase": "waiting", "deadline": False}
    nothing_sent = history(lang, 1, outside_before=2)
    return [
        ("resolved", command_done(lang, t, "OPGELOST", phase="resolved", **closed)),
        ("accepted", command_done(lang, t, "AKKOORD", phase="resolved", actor=MANAGER, **closed)),
        ("rejected", command_done(lang, t, "ONVOLDOENDE")),
        ("rejected-held", command_done(lang, t, "ONVOLDOENDE", pending=WAITING, **waiting)),
        ("paused-days", command_done(lang, t, "PAUZE", phase="paused", days=5)),
        ("paused", command_done(lang, t, "PAUZE", phase="paused", **closed)),
        ("resumed", command_done(lang, t, "HERVAT")),
        ("extended", command_done(lang, t, "VERLENG", days=5)),
        ("escalated", command_done(lang, t, "ESCALEER", step=3)),
        ("escalated-approve", command_done(lang, t, "ESCALEER", pending=WAITING, **waiting)),
        ("escalated-draft", command_done(lang, t, "ESCALEER", pending=DRAFT, **waiting)),
        ("sent", command_done(lang, t, "VERSTUUR", step=3)),
        ("withdrawn", command_done(lang, t, "INTREKKEN", phase="withdrawn", **closed)),
        (
            "withdrawn-nothing-sent",
            command_done(lang, t, "INTREKKEN", phase="withdrawn", steps=nothing_sent, **closed),
        ),
        ("terminated", command_done(lang, t, "BEEINDIGD", step=5, phase="terminated", **closed)),
        (
            "continued",
            command_done(
                lang, t, "VOORTGEZET", step=5, phase="continued", outcome=t["free"], **closed
            ),
        ),
    ]


@sample("esc_status")
def _status(lang: str, t: dict[str, str]) -> Samples:
    waiting = {"phase": "waiting", "deadline": False}
    ended = history(lang, 5, outside_before=3)
    return [
        ("active", status(lang, t, awaiting_verdict=1)),
        ("approval", status(lang, t, pending=WAITING, **waiting)),
        ("draft", status(lang, t, pending=DRAFT, awaiting_verdict=2, **waiting)),
        (
            "continued",
            status(
                lang, t, step=5, phase="continued", deadline=False, outcome=t["free"], steps=ended
            ),
        ),
    ]


@sample("esc_help")
def _help(lang: str, t: dict[str, str]) -> Samples:
    return [("help", sender(OWNER, t) | {"ref": REF})]


@sample("esc_link_done")
def _link_done(lang: str, t: dict[str, str]) -> Samples:
    """The owner's manager may decide too; then the owner gets a copy."""
    return [
        (
            f"linked-{linked}-by-{who['name']}",
            sender(who, t)
            | {
                "linked": linked,
                "count": 1,
                "ref": REF,
                "owner_copied": who is MANAGER,
                "owner_name": OWNER["name"],
            },
        )
        for linked in (True, False)
        for who in (OWNER, MANAGER)
    ]


@sample("esc_open_refused")
def _open_refused(lang: str, t: dict[str, str]) -> Samples:
    known = [
        {"id": "acme", "name": "Acme Hosting B.V."},
        {"id": "globex", "name": "Globex Facilitair"},
    ]
    problems = [
        ("unknown_supplier", "acmee", known),
        ("missing_supplier", "", known),
        ("missing_shortfall", "", known),
        ("bad_deadline", "vijf weken", known),
        ("bad_start", "stap zes", known),
        ("unknown_supplier", "acmee", []),
    ]
    return [
        (
            f"{problem}-{len(suppliers)}",
            sender(OWNER, t)
            | {
                "problem": problem,
                "value": value,
                "supplier_given": "acmee",
                "suppliers": suppliers,
            },
        )
        for problem, value, suppliers in problems
    ]


@sample("command_refused")
def _command_refused(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("not-allowed", refused(lang, t, "not_allowed", "VERSTUUR")),
        ("closed", refused(lang, t, "closed", "ESCALEER", phase="resolved")),
        ("nothing-to-approve", refused(lang, t, "nothing_to_approve", "VERSTUUR")),
        ("already-paused", refused(lang, t, "already_paused")),
        ("not-paused", refused(lang, t, "not_paused", "HERVAT")),
        ("cannot-pause-waiting", refused(lang, t, "cannot_pause", phase="waiting")),
        ("no-deadline", refused(lang, t, "no_deadline", "VERLENG")),  # no `phase` in details
        ("last-step", refused(lang, t, "last_step", "ESCALEER")),
        ("cannot-escalate", refused(lang, t, "cannot_escalate", "ESCALEER", phase="waiting")),
        ("no-outcome", refused(lang, t, "no_outcome_expected", "BEEINDIGD")),
        ("nothing-tentative", refused(lang, t, "nothing_tentative", "KOPPEL")),
        (
            "new-owner",
            refused(
                lang, t, "new_owner_not_staff", "OVERDRAGEN", new_owner="stagiair@gemeente.example"
            ),
        ),
        ("wrong-kind", refused(lang, t, "wrong_case_kind", "GEGEVEN")),
        ("bad-days", refused(lang, t, "bad_days", "VERLENG")),
        *_compliment_refusals(lang, t),
    ]


def _compliment_refusals(lang: str, t: dict[str, str]) -> Samples:
    who = {"coordinator": COORDINATOR, "provider": PROVIDER}
    cases = [  # (reason, verb, stage the compliment is in, who tried)
        ("not_allowed_compliment", Verb.RECEIVER, "registered", "provider"),
        ("not_allowed_compliment", Verb.CLOSE, "given", "provider"),
        ("not_allowed_compliment", Verb.GIVEN, "assigned", "coordinator"),
        ("not_allowed_compliment", Verb.NO_CAP, "registered", "coordinator"),  # no provider yet
        ("already_given", Verb.RECEIVER, "given", "coordinator"),
        ("no_receivers", Verb.PROVIDER, "registered", "coordinator"),
        ("not_assigned", Verb.GIVEN, "registered", "provider"),
        ("no_cap_expected", Verb.CAP, "cap", "provider"),
        ("no_cap_expected", Verb.NO_CAP, "given", "provider"),
        ("no_cap", Verb.DONE, "reacted", "provider"),
        ("empty_cap", Verb.CAP, "reacted", "provider"),
        ("closed", Verb.CLOSE, "closed", "coordinator"),
        ("wrong_case_kind", Verb.ACCEPT, "given", "provider"),
    ]
    return [
        (
            f"cmp-{reason}-{verb.name.lower()}-{stage}",
            cmp_refused(lang, t, reason, verb, stage, who[actor]),
        )
        for reason, verb, stage, actor in cases
    ]


@sample("command_error")
def _command_error(lang: str, t: dict[str, str]) -> Samples:
    messages = {
        "message_nl": "Geef het aantal werkdagen (1-60), bijvoorbeeld: VERLENG 5 werkdagen",
        "message_en": "Give the number of working days (1-60), for example: EXTEND 5 working days",
    }
    return [("days", sender(OWNER, t) | {"verb": "VERLENG", "ref": REF} | messages)]


@sample("near_miss")
def _near_miss(lang: str, t: dict[str, str]) -> Samples:
    return [("akoord", sender(OWNER, t) | {"word": "AKOORD", "suggestion": "AKKOORD", "ref": REF})]


@sample("not_in_directory")
def _not_in_directory(lang: str, t: dict[str, str]) -> Samples:
    stranger = {"email": "stagiair@gemeente.example", "name": "stagiair@gemeente.example"}
    actions = ("open an escalation", "give a command", "ask for a status")
    return [(action, sender(stranger, t) | {"action": action}) for action in actions]


@sample("unknown_case")
def _unknown_case(lang: str, t: dict[str, str]) -> Samples:
    return [("unknown", sender(MANAGER, t) | {"ref": "ESC-2026-0099"})]


@sample("command_without_case")
def _command_without_case(lang: str, t: dict[str, str]) -> Samples:
    """`router._unmatched_staff()`: a command in a mail that belongs to no case."""
    verb = {"nl": "PAUZE", "en": "PAUSE"}[lang]
    return [("pause", sender(OWNER, t) | {"verb": verb, "folder": "Te beoordelen"})]


@sample("handover")
def _handover(lang: str, t: dict[str, str]) -> Samples:
    """`escalation_mail.change_owner()`."""
    ctx = {
        "ref": REF,
        "title": t["shortfall"],
        "old_owner": OWNER["email"],
        "new_owner": COLLEAGUE["email"],
        "actor": MANAGER["email"],
        "old_owner_name": OWNER["name"],
        "new_owner_name": COLLEAGUE["name"],
    }
    by_the_owner = ctx | {"actor": OWNER["email"], "copied": [OWNER["name"]]}
    return [
        ("handover-by-manager", ctx | {"copied": [OWNER["name"], MANAGER["name"]]}),
        ("handover-by-owner", by_the_owner),
        ("handover-no-copy", ctx | {"actor": "admin (command line)", "copied": []}),
    ]


@sample("admin_refused_sender")
def _admin_refused_sender(lang: str, t: dict[str, str]) -> Samples:
    """`escalation_mail.refuse_unknown_sender()` through `outbox.notify_admins()`."""
    who = {True: "stagiair@gemeente.example", False: "sales@concurrent.example"}
    return [
        (
            f"inside-{inside}",
            {
                "sender": who[inside],
                "subject": t["subject"],
                "action": "open an escalation",
                "inside": inside,
                "inbound_id": 87,
            },
        )
        for inside in (True, False)
    ]


@sample("deadline_failed")
def _deadline_failed(lang: str, t: dict[str, str]) -> Samples:
    """`deadlines._failed()` through `outbox.notify_admins()`."""
    due = datetime(2026, 12, 15, 8, 0, tzinfo=UTC)
    return [("failed", {"ref": REF, "kind": "step", "due_at": due, "error": t["error"]})]


@sample("quarantine_notice")
def _quarantine_notice(lang: str, t: dict[str, str]) -> Samples:
    """`ingest._failed()` through `outbox.notify_admins()`; `from_addr`/`subject` may be empty."""
    base = {"attempts": 3, "error": t["error"], "folder": "Quarantaine"}
    return [
        ("known", base | {"inbound_id": 87, "sender": FROM["email"], "subject": t["subject"]}),
        ("unknown", base | {"inbound_id": 88, "sender": None, "subject": None}),
    ]


@sample("keys_renamed")
def _keys_renamed(lang: str, t: dict[str, str]) -> Samples:
    """`ingest._keys_renamed()` through `notify_admins()`; `since` is None when the
    folder had never given mailbot a message."""
    return [
        ("many", {"folder": "complimenten", "present": 212, "since": "2026-11-20"}),
        ("one-never-read", {"folder": "INBOX", "present": 1, "since": None}),
    ]


@sample("delivery_failed")
def _delivery_failed(lang: str, t: dict[str, str]) -> Samples:
    """`outbox` after the last attempt, through `notify_admins()`."""
    ctx = {
        "subject": f"[{REF}] " + t["subject"],
        "recipients": [SUPPLIER["counterpart"], "manager@acme.example"],
        "attempts": 5,
        "error": t["error"],
        "outbound_id": 231,
    }
    return [("failed", ctx)]


@sample("triage_notice")
def _triage_notice(lang: str, t: dict[str, str]) -> Samples:
    """`triage.send_triage_notice()`: the day's unclaimed mail, at most 50 per notice."""
    outside = {
        "id": 140,
        "from": FROM["email"],
        "subject": t["subject"],
        "date": datetime(2026, 12, 3, 14, 12, tzinfo=UTC),
        "why": "matched no case and is no command",
        "excerpt": t["reply"],
        "cut": False,
        "inside": False,
        "attachment": None,
        "too_big": False,
    }
    inside = {
        "id": 141,
        "from": COLLEAGUE["email"],
        "subject": "",
        "date": datetime(2026, 12, 3, 15, 40, tzinfo=UTC),
        "why": "list mail that matched no case",
        "excerpt": "",
        "cut": False,
        "inside": True,
        "attachment": "bericht-141.eml",
        "too_big": False,
    }
    cut = [outside | {"cut": True}, inside | {"excerpt": t["reply"], "cut": True}]
    huge = inside | {"attachment": None, "too_big": True}
    folder = {"folder": "Te beoordelen", "limit": 50, "limit_mb": 15}
    return [
        ("one", {"items": [outside], "more": 0} | folder),
        ("two", {"items": [outside, inside], "more": 0} | folder),
        ("more", {"items": [outside, inside], "more": 12} | folder),
        ("one more", {"items": [huge], "more": 1} | folder),
        ("cut", {"items": cut, "more": 0} | folder),
    ]


@sample("pilot_hold")
def _pilot_hold(lang: str, t: dict[str, str]) -> Samples:
    """`outbox._tell_owner_of_hold()`: pilot mode kept a mail as a draft."""
    ctx = {
        "ref": REF,
        "title": t["shortfall"],
        "held_subject": f"[{REF}] {t['subject']}",
        "held_for": [SUPPLIER["counterpart"], "manager@acme.example"],
    }
    return [
        ("allowed", ctx | {"allowed": [OWNER["email"], MANAGER["email"]]}),
        ("nobody", ctx | {"allowed": []}),
    ]


# -- compliments ------------------------------------------------------------------------------

CMP_REF = "CMP-2026-0003"
# `compliments.context()` turns each address into a directory person: email, name, team
PIET = {"email": "p.devries@gemeente.example", "name": "Piet de Vries", "team": "Servicedesk"}
SANNE = {"email": "s.bos@gemeente.example", "name": "Sanne Bos", "team": "Servicedesk"}
AHMED = {"email": "a.elamrani@gemeente.example", "name": "Ahmed El Amrani", "team": "Servicedesk"}
PROVIDER = {"email": "m.smit@gemeente.example", "name": "Marieke Smit", "team": "Servicedesk"}
COORDINATOR = {"email": "kwaliteit@gemeente.example", "name": "Karin de Wit", "team": "Kwaliteit"}
FORWARDER = {"email": OWNER["email"], "name": OWNER["name"], "team": "Inkoop"}
STAGES = [stage.value for stage in Stage]
NORMS = Norms()
CAP_DUE = date(2027, 3, 1)
STARTED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def maker(t: dict[str, str], kind: str = "external") -> Context:
    """The maker as `context()` gives it: `name` falls back to the address, then to ""."""
    return {
        "external": {"email": "j.degroot@klant.example", "name": t["maker"], "external": True},
        "nameless": {  # no display name: the address stands in for it
            "email": "j.degroot@klant.example",
            "name": "j.degroot@klant.example",
            "external": True,
        },
        "internal": {"email": OWNER["email"], "name": OWNER["name"], "external": False},
        "anonymous": {"email": None, "name": "", "external": False},  # e.g. a phone note
    }[kind]


def suggestion(receiver: str, label: str, confidence: str, why: str, team: bool = False) -> Context:
    """One of `compliment_mail.intake()`'s suggestions (`asdict(Suggestion)`)."""
    return asdict(Suggestion(receiver, label, confidence, f"{why} in the text", team))


SUGGESTIONS = [
    suggestion(PIET["email"], PIET["name"], SURE, "full name"),
    suggestion("Servicedesk", "Servicedesk", SURE, "team name", team=True),
    suggestion(SANNE["email"], SANNE["name"], LIKELY, "last name"),
    suggestion(AHMED["email"], AHMED["name"], POSSIBLE, "first name"),
]


def cmp_context(
    t: dict[str, str],
    stage: str,
    *,
    receivers: list[Context] | None = None,
    reacted: int | None = None,
    who: str = "external",
    forwarded: bool = False,
    suggestions: list[Context] | None = None,
    record: bool = False,
    cap: bool | None = None,
    cap_due: bool = True,
    assigned: bool = True,
) -> Context:
    """What `compliments.context()` returns for a compliment in `stage`.

    `reacted`: how many receivers have reacted (all of them from `reacted` on);
    `cap`: whether a CAP was recorded (from `cap` on, unless closed with GEEN CAP);
    `assigned=False`: closed (SLUITEN) before anyone was chosen.
    """
    order = STAGES.index(stage)
    assigned = assigned and order > 0
    people = ([PIET] if receivers is None else receivers) if assigned else []
    if reacted is None:
        reacted = len(people) if order >= STAGES.index("reacted") else 0
    with_cap = order >= STAGES.index("cap") if cap is None else cap
    reached = {s: datetime(2026, 11, 2 + 2 * n, 9, 30, tzinfo=UTC) for n, s in enumerate(STAGES)}
    return {
        "ref": CMP_REF,
        "title": t["compliment_subject"],
        "stage": stage,
        "compliment_text": t["compliment"],
        "compliment_subject": t["compliment_subject"],
        "maker": maker(t, who),
        "forwarded_by": dict(FORWARDER) if forwarded else None,
        "suggestions": SUGGESTIONS if suggestions is None else suggestions,
        "receivers": [dict(p) for p in people],
        "waiting_for": [dict(p) for p in people[reacted:]],
        "provider": dict(PROVIDER) if assigned else None,
        "record": record,
        "reactions": [{"receiver": dict(p), "text": t["reaction"]} for p in people[:reacted]],
        "cap": t["cap"] if with_cap else None,
        "cap_due": CAP_DUE if with_cap and cap_due else None,
        "opened_at": STARTED,
        "reached": {s: reached[s] for s in STAGES[: order + 1]},
        "norms": {s.value: NORMS.of(s) for s in Stage if NORMS.of(s)},
        "cap_days": NORMS.cap_days,
        "thanked": who == "external",
        "reaction_to_maker": who == "external",
        "coordinators": [dict(COORDINATOR)],
    }


def cmp_mail(t: dict[str, str], to_role: str, stage: str, **state: Any) -> Context:
    """`compliments.send()`: the context plus the effect's context and the roles."""
    norm_stage = state.pop("norm_stage", None)
    ctx = cmp_context(t, stage, **state)
    if norm_stage:  # cmp_reminder, cmp_norm_notice
        ctx["stage"] = norm_stage
    ctx["to_role"] = to_role
    ctx["actor_role"] = ACTOR.get(Stage(norm_stage)) if norm_stage else None
    return ctx


def reaction(t: dict[str, str], stage: str, receiver: Context = PIET, **state: Any) -> Context:
    """`compliments._reaction_mails()`: no roles, but the receiver and the reaction."""
    ctx = cmp_context(t, stage, **state)
    return ctx | {
        "receiver": receiver["email"],
        "reaction": t["reaction"],
        "receiver_name": receiver["name"],
    }


def cmp_sender(person: Context, t: dict[str, str]) -> Context:
    """What `replies.reply_to_sender()` adds: the staff member who wrote, and their subject."""
    return {
        "sender": {"email": person["email"], "name": person["name"]},
        "subject": f"RE: [{CMP_REF}] {t['compliment_subject']}",
    }


def cmp_done(t: dict[str, str], verb: str, stage: str, actor: Context, **state: Any) -> Context:
    """`compliment_mail.run_command()`: the state after the command, and the Dutch verb;
    the coordinator gets a copy when someone else acted."""
    return {
        **cmp_sender(actor, t),
        **cmp_context(t, stage, **state),
        "verb": verb,
        "coordinator_copy": actor != COORDINATOR,
    }


def cmp_refused(
    lang: str, t: dict[str, str], reason: str, verb: Verb, stage: str, actor: Context = PROVIDER
) -> Context:
    """`compliment_mail._refuse()`: the word as typed (English makes the answer English)."""
    return {
        **cmp_sender(actor, t),
        "reason": reason,
        "verb": verb.english if lang == "en" else verb.value,
        "ref": CMP_REF,
        "owner": COORDINATOR["email"],
        "stage": stage,
        "provider": PROVIDER["email"] if STAGES.index(stage) > 0 else "",
        "coordinators": [COORDINATOR["email"]],
    }


TWO = [PIET, SANNE]
TEAM = [PIET, SANNE, AHMED]


@sample("cmp_thanks")
def _cmp_thanks(lang: str, t: dict[str, str]) -> Samples:
    return [
        (who, cmp_mail(t, "maker", "registered", who=who))
        for who in ("external", "nameless", "internal")
    ]


@sample("cmp_registered")
def _cmp_registered(lang: str, t: dict[str, str]) -> Samples:
    def registered(**state: Any) -> Context:
        return cmp_mail(t, "coordinator", "registered", **state)

    return [
        ("all-confidences", registered()),
        ("sure-forwarded", registered(forwarded=True, suggestions=SUGGESTIONS[:2])),
        ("likely", registered(suggestions=SUGGESTIONS[2:3])),
        ("possible-nameless", registered(who="nameless", suggestions=SUGGESTIONS[3:])),
        ("none-internal", registered(who="internal", suggestions=[])),
        ("none-anonymous", registered(who="anonymous", suggestions=[])),
    ]


@sample("cmp_assigned")
def _cmp_assigned(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("one", cmp_mail(t, "provider", "assigned")),
        ("two", cmp_mail(t, "provider", "assigned", receivers=TWO)),
        ("team-internal", cmp_mail(t, "provider", "assigned", receivers=TEAM, who="internal")),
        ("anonymous", cmp_mail(t, "provider", "assigned", who="anonymous")),
    ]


JAN = {"email": "servicemanager@acme.example", "name": "Jan Pietersen", "team": ""}
ACME = {"id": "acme", "name": "Acme Hosting B.V."}


def supplier_side(t: dict[str, str], to_role: str, stage: str, **state: Any) -> Context:
    """`compliments.send()` for praise across the boundary: the supplier is in the context."""
    return cmp_mail(t, to_role, stage, receivers=[JAN], **state) | {"supplier": dict(ACME)}


@sample("cmp_assigned_supplier")
def _cmp_assigned_supplier(lang: str, t: dict[str, str]) -> Samples:
    return [("one", supplier_side(t, "provider", "assigned"))]


@sample("cmp_given_supplier")
def _cmp_given_supplier(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("external", supplier_side(t, "receivers", "given")),
        ("anonymous", supplier_side(t, "receivers", "given", who="anonymous")),
    ]


@sample("cmp_cap_request_supplier")
def _cmp_cap_request_supplier(lang: str, t: dict[str, str]) -> Samples:
    return [("one", supplier_side(t, "provider", "reacted"))]


@sample("cmp_cap_check_supplier")
def _cmp_cap_check_supplier(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("due", supplier_side(t, "provider", "cap")),
        ("no-due", supplier_side(t, "provider", "cap", cap_due=False)),
    ]


@sample("cmp_reminder_supplier")
def _cmp_reminder_supplier(lang: str, t: dict[str, str]) -> Samples:
    return [
        (stage, supplier_side(t, role, stage, norm_stage=stage))
        for stage, role in (
            ("assigned", "provider"),
            ("given", "receivers"),
            ("reacted", "provider"),
        )
    ]


@sample("cmp_given")
def _cmp_given(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("one-external", cmp_mail(t, "receivers", "given")),
        ("two-external", cmp_mail(t, "receivers", "given", receivers=TWO, record=True)),
        ("one-internal", cmp_mail(t, "receivers", "given", who="internal")),
        ("two-anonymous", cmp_mail(t, "receivers", "given", receivers=TWO, who="anonymous")),
        # a team compliment whose provider (the manager) is in the team: no "told you already"
        ("two-with-provider", cmp_mail(t, "receivers", "given", receivers=[PIET, PROVIDER])),
    ]


@sample("cmp_reaction_maker")
def _cmp_reaction_maker(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("last", reaction(t, "reacted")),
        (
            "first-of-two-nameless",
            reaction(t, "given", SANNE, receivers=TWO, reacted=1, who="nameless"),
        ),
    ]


@sample("cmp_reaction_coordinator")
def _cmp_reaction_coordinator(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("last-external", reaction(t, "reacted")),
        ("first-of-three", reaction(t, "given", receivers=TEAM, reacted=1)),
        ("last-internal", reaction(t, "reacted", SANNE, receivers=TWO, who="internal")),
    ]


def cmp_forward(
    t: dict[str, str], kind: str, author: Context, supplier: Context | None = None, **extra: Any
) -> Context:
    """`compliment_mail.forward_to_coordinators()`: the context plus the mail passed on."""
    return cmp_context(t, "given") | {
        "kind": kind,
        "supplier": supplier,
        "from": {"email": author["email"], "name": author["name"]},
        "original_subject": f"RE: [{CMP_REF}] {t['compliment_subject']}",
        "original_topic": t["compliment_subject"],
        "trimmed": True,
        "original_date": datetime(2026, 12, 3, 14, 12, tzinfo=UTC),
        "reply_text": t["reaction"],
        "full_text": t["reaction"] + "\n\n> " + t["compliment"],
        "attachments_skipped": [],
        "inbound_id": 412,
        **extra,
    }


@sample("cmp_forward")
def _cmp_forward(lang: str, t: dict[str, str]) -> Samples:
    maker_as_author = {"email": "j.degroot@klant.example", "name": t["maker"]}
    stranger = {"email": "info@elders.example", "name": ""}
    too_big = [{"name": "foto.jpg", "size": 22_000_000}]
    return [
        ("maker", cmp_forward(t, "maker", maker_as_author)),
        ("supplier", cmp_forward(t, "supplier", JAN, dict(ACME))),
        ("colleague", cmp_forward(t, "colleague", PIET, attachments_skipped=too_big)),
        ("outsider-nameless", cmp_forward(t, "outsider", stranger, original_date=None)),
    ]


def cmp_bounce(
    t: dict[str, str], stage: str, failed: list[str], role: str | None, **bounced: Any
) -> Context:
    """`compliments.bounced()`: the context plus the mail that bounced and to whom."""
    return cmp_context(t, stage) | {
        "bounced": bounced or None,
        "failed": failed,
        "failed_role": role,
        "bounce_subject": "Undelivered Mail Returned to Sender",
    }


@sample("cmp_bounce_alert")
def _cmp_bounce_alert(lang: str, t: dict[str, str]) -> Samples:
    maker_address = "j.degroot@klant.example"
    thanks = {"topic": "Dank u wel voor uw compliment", "to": [maker_address]}
    ask = {"topic": "Wil je dit compliment geven?", "to": [PROVIDER["email"]]}
    given = {"topic": "Een compliment voor jou", "to": [PIET["email"]]}
    return [
        ("thanks", cmp_bounce(t, "registered", [maker_address], "maker", **thanks)),
        ("provider", cmp_bounce(t, "assigned", [PROVIDER["email"]], "provider", **ask)),
        ("receiver-no-address", cmp_bounce(t, "given", [], "receivers", **given)),
        ("unknown", cmp_bounce(t, "reacted", [], None)),
    ]


@sample("cmp_cap_request")
def _cmp_cap_request(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("one", cmp_mail(t, "provider", "reacted")),
        ("two-one-reacted", cmp_mail(t, "provider", "reacted", receivers=TWO, reacted=1)),
    ]


@sample("cmp_cap_check")
def _cmp_cap_check(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("due", cmp_mail(t, "provider", "cap")),
        ("no-due", cmp_mail(t, "provider", "cap", cap_due=False)),
    ]


@sample("cmp_reminder")
def _cmp_reminder(lang: str, t: dict[str, str]) -> Samples:
    result = []
    for norm_stage in ("registered", "assigned", "given", "reacted"):
        role = ACTOR[Stage(norm_stage)]
        result.append((norm_stage, cmp_mail(t, role, norm_stage, norm_stage=norm_stage)))
    result.append(
        ("given-two", cmp_mail(t, "receivers", "given", norm_stage="given", receivers=TWO))
    )
    return result


@sample("cmp_norm_notice")
def _cmp_norm_notice(lang: str, t: dict[str, str]) -> Samples:
    result = [
        (norm_stage, cmp_mail(t, "coordinator", norm_stage, norm_stage=norm_stage))
        for norm_stage in ("registered", "assigned", "given", "reacted")
    ]
    late = cmp_mail(t, "coordinator", "given", norm_stage="given", receivers=TEAM, reacted=1)
    unanswered_cap = cmp_mail(t, "coordinator", "cap", norm_stage="cap")
    return [*result, ("given-one-of-three", late), ("cap", unanswered_cap)]


@sample("cmp_command_done")
def _cmp_command_done(lang: str, t: dict[str, str]) -> Samples:
    return [
        ("receiver", cmp_done(t, "ONTVANGER", "assigned", COORDINATOR)),
        ("receiver-team", cmp_done(t, "ONTVANGER", "assigned", COORDINATOR, receivers=TEAM)),
        ("provider", cmp_done(t, "GEVER", "assigned", COORDINATOR, receivers=TWO)),
        ("given", cmp_done(t, "GEGEVEN", "given", PROVIDER)),
        ("given-record-two", cmp_done(t, "GEGEVEN", "given", PROVIDER, receivers=TWO, record=True)),
        ("cap", cmp_done(t, "CAP", "cap", PROVIDER)),
        ("no-cap", cmp_done(t, "GEEN CAP", "closed", PROVIDER, cap=False)),
        ("done", cmp_done(t, "UITGEVOERD", "closed", PROVIDER)),
        ("close-unassigned", cmp_done(t, "SLUITEN", "closed", COORDINATOR, assigned=False)),
    ]


@sample("cmp_help")
def _cmp_help(lang: str, t: dict[str, str]) -> Samples:
    return [("help", cmp_sender(PROVIDER, t) | {"ref": CMP_REF})]


@sample("cmp_status")
def _cmp_status(lang: str, t: dict[str, str]) -> Samples:
    """`replies.send_status()` for a compliment (any staff member may ask)."""
    timeline = [
        {"at": STARTED, "summary": "compliment from j.degroot@klant.example", "actor": "mailbot"},
        {"at": STARTED, "summary": "compliment registered", "actor": "mailbot"},
    ]

    def status_of(stage: str, **state: Any) -> Context:
        ctx = cmp_context(t, stage, **state)
        return cmp_sender(MANAGER, t) | ctx | {"timeline": timeline, "state": stage}

    return [
        *[(stage, status_of(stage)) for stage in STAGES],
        ("given-one-of-two", status_of("given", receivers=TWO, reacted=1, who="internal")),
        ("cap-without-due", status_of("cap", cap_due=False)),
        ("closed-no-cap", status_of("closed", cap=False, who="anonymous")),
        ("closed-unassigned", status_of("closed", assigned=False, cap=False)),
    ]


@sample("cmp_unknown_receiver")
def _cmp_unknown_receiver(lang: str, t: dict[str, str]) -> Samples:
    ctx = cmp_sender(COORDINATOR, t) | {"ref": CMP_REF}
    return [
        ("one", ctx | {"unknown": [t["typed"]]}),
        ("two", ctx | {"unknown": [t["typed"], "Helpdesk"]}),
    ]


@sample("admin_internal_bounce")
def _admin_internal_bounce(lang: str, t: dict[str, str]) -> Samples:
    """`escalation_mail.automated_mail()`: a mail to one of our own addresses bounced."""
    base = {"address": COORDINATOR["email"], "ref": CMP_REF, "inbound_id": 94}
    return [
        ("subject", base | {"subject": "Undeliverable: " + t["compliment_subject"]}),
        ("no-subject", base | {"subject": ""}),
    ]


@sample("admin_spoof")
def _admin_spoof(lang: str, t: dict[str, str]) -> Samples:
    """`router._spoofed()` through `outbox.notify_admins()`; a mail may have no subject."""
    base = {"sender": COORDINATOR["email"], "reason": "dmarc=fail", "inbound_id": 93}
    return [
        ("subject", base | {"subject": "RE: " + t["compliment_subject"]}),
        ("no-subject", base | {"subject": "", "reason": "spf=fail"}),
    ]


# -- rendering ------------------------------------------------------------------------------


@cache
def renderer() -> Renderer:
    return Renderer(globals={"organisation": ORGANISATION, "mailbox": MAILBOX})


@cache
def rendered(name: str, language: str, hostile: bool = False) -> list[tuple[str, RenderedMail]]:
    texts = HOSTILE if hostile else REALISTIC
    return [
        (label, renderer().render(name, language, **ctx))
        for label, ctx in samples(name, language, texts)
    ]


def own_html(name: str, language: str) -> bool:
    return (templates_dir() / language / f"{name}.html").is_file()


def visible(html: str) -> str:
    """The HTML as a reader sees it: tags gone, entities decoded, whitespace collapsed."""
    inline = re.sub(r"</?(?:span|b|code)\b[^>]*>", "", html)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def lines_of(text: str) -> list[str]:
    """The text's lines without their quote/list/footer markers."""
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line == "---":
            continue
        line = line.removeprefix(">").strip().removeprefix("- ")
        if line:
            result.append(" ".join(line.split()))
    return result


def body_of(text: str) -> str:
    """A letter without its footer."""
    return text.split("\n---\n", 1)[0]


both = pytest.mark.parametrize("language", LANGUAGES)
every = pytest.mark.parametrize("name", NAMES)
# Mails that quote no free text people wrote (only ids, command words, addresses).
QUIET = (
    "esc_help",
    "esc_link_done",
    "near_miss",
    "not_in_directory",
    "unknown_case",
    "command_without_case",
    "command_refused",
    "command_error",
    "esc_outcome_request",
    "esc_step_sent",
    "cmp_help",
    "cmp_command_done",
    "cmp_cap_request",
    "cmp_cap_request_supplier",
    "keys_renamed",  # only a folder name from the config and numbers
)
COMPLIMENT_MAILS = [n for n in NAMES if n.startswith("cmp_")]
TO_MAKER = ("cmp_thanks", "cmp_reaction_maker")  # may go to a customer: formal `u`
_DUTCH = "de het een van stap je jij wij uw niet hallo geachte termijn leverancier bericht zaak"
DUTCH_WORDS = frozenset([*_DUTCH.split(), "antwoord", "gedeelde"])
LEAKS = ("{{", "}}", "{%", "%}", "{#", "None", "Undefined", "[]", "{}", "()", "[ ]", "''", '""')


# -- tests --------------------------------------------------------------------------------


def test_it_has_the_same_templates_in_both_languages() -> None:
    def files(language: str) -> set[str]:
        return {p.name for p in (templates_dir() / language).iterdir() if p.is_file()}

    assert files("nl") == files("en")
    assert len(NAMES) >= 30


@both
def test_it_has_a_sample_context_for_every_template(language: str) -> None:
    for name in NAMES:
        assert samples(name, language, REALISTIC), name


@every
@both
def test_it_renders_a_clean_subject(name: str, language: str) -> None:
    for label, mail in rendered(name, language):
        subject = mail.subject
        assert subject.strip(), label
        assert "\n" not in subject, label
        for leak in ("{{", "{%", "None", "Undefined", "[]", "()"):
            assert leak not in subject, (label, subject)


@every
@both
def test_it_renders_a_clean_text(name: str, language: str) -> None:
    for label, mail in rendered(name, language):
        text = mail.text
        assert len(text.strip()) > 40, label
        for leak in LEAKS:
            assert leak not in text, (label, leak, text)
        trailing = re.search(r"^(?!> $).*[ \t]$", text, re.MULTILINE)  # "> " quotes a blank line
        assert not trailing, (label, "trailing blanks", trailing and trailing.group())
        for line in text.splitlines():  # double spaces: only to align "Label:   value"
            assert not re.search(r"\S  +\S", re.sub(r"^[\w ]+:\s+", "", line)), (label, line)
        assert "\n\n\n" not in text, label
        assert not re.search(r"(?<!\.)\.\.(?!\.)", text), (label, "double full stop")


@every
@both
def test_it_shows_the_text_in_the_html(name: str, language: str) -> None:
    for label, mail in rendered(name, language):
        page = visible(mail.html)
        assert mail.html.lstrip().startswith("<!DOCTYPE html>"), label
        assert f'lang="{language}"' in mail.html, label
        if own_html(name, language):  # its own layout: at least the opening sentence
            first = re.split(r"(?<=\.)\s", mail.text, maxsplit=1)[0]
            assert first in page, (label, first)
            continue
        for line in lines_of(mail.text):
            assert line in page, (label, line)


@every
@both
def test_it_escapes_user_text_in_html_and_keeps_it_in_text(name: str, language: str) -> None:
    shows_user_text = False
    for label, mail in rendered(name, language, hostile=True):
        assert "<script" not in mail.html, label
        assert not re.search(r"&(?![a-z]+;|#\d+;)", mail.html), (label, "bare &")
        shown = USER_TEXT in mail.text or USER_TEXT in mail.subject  # unchanged in plain text
        assert not shown or "&lt;script&gt;" in mail.html, label  # escaped in the HTML
        shows_user_text = shows_user_text or shown
    assert shows_user_text or name in QUIET, "none of the user text reached the mail"


@both
def test_it_gives_the_command_confirmation_its_own_paragraphs(language: str) -> None:
    """A sentence that ends in `{% endif %}` must not glue the next paragraph to it."""
    for label, mail in rendered("esc_command_done", language):
        paragraphs = mail.text.split("\n\n")
        status = [p for p in paragraphs if p.startswith(("Stand van zaken:", "Status:"))]
        assert len(status) == 1 and "\n" not in status[0], (label, mail.text)
        assert all("\n" not in p for p in paragraphs[:-1]), (label, mail.text)


@pytest.mark.parametrize("step", range(1, 6))
@both
def test_it_signs_step_letters_and_cites_the_sla(step: int, language: str) -> None:
    ((_, mail),) = rendered(f"step{step}", language)
    body = body_of(mail.text)
    assert SUPPLIER["sla_reference"] in body
    assert f"{OWNER['name']}\n{OWNER['title']}\n{ORGANISATION}" in body
    assert body.rstrip().endswith(ORGANISATION)
    assert mail.text.startswith(("Geachte Jan Pietersen,", "Dear Jan Pietersen,"))
    if step < 5:
        assert DEADLINE_WORDS[language] in body
    assert f"{step}" in mail.subject and SUPPLIER["name"] in mail.subject
    for earlier in range(1, step if step >= 3 else 1):  # from step 3 on the history is listed
        assert step_names(language)[earlier].lower() in body


@pytest.mark.parametrize("name", OWNER_LETTERS)
@both
def test_it_writes_letters_as_the_owner_not_as_a_robot(name: str, language: str) -> None:
    for label, mail in rendered(name, language):
        body = body_of(mail.text).lower()
        assert "mailbot" not in body, label
        assert "\n---\n" in mail.text and MAILBOX in mail.text.split("\n---\n", 1)[1], label
        assert REF in mail.text, label


@every
@both
def test_it_tells_readers_the_command_words_of_their_language(name: str, language: str) -> None:
    other = "en" if language == "nl" else "nl"
    words = {"nl": {v.value for v in Verb}, "en": {v.english for v in Verb}}
    foreign = words[other] - words[language]
    if name in ("esc_help", "cmp_help"):  # say on purpose that the other words work too
        return
    for label, mail in rendered(name, language):
        found = {w for w in foreign if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", mail.text)}
        assert not found, (label, found)


@every
def test_it_leaves_no_dutch_in_english_templates(name: str) -> None:
    folder = templates_dir() / "en"
    for path in [*folder.glob(f"{name}.*"), *folder.glob("_*.txt")]:
        source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", path.read_text(encoding="utf-8"), flags=re.S)
        found = DUTCH_WORDS & set(re.findall(r"[a-zà-ÿ]+", source.lower()))
        assert not found, (path.name, found)


@every
@both
def test_it_passes_plain_template_data(name: str, language: str) -> None:
    def check(value: object, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str | int), where
                check(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                check(item, f"{where}[{index}]")
        else:
            plain = (str, int, float, bool, type(None), date, datetime)
            assert isinstance(value, plain), f"{where} is a {type(value).__name__}"

    for label, ctx in samples(name, language, REALISTIC):
        check(ctx, f"{name}:{label}")


def test_it_writes_deadlines_in_words() -> None:
    for language, words in DEADLINE_WORDS.items():
        (_, mail), *_ = rendered("esc_deadline_reminder", language)
        assert words in mail.subject and words in mail.text


# -- compliments ----------------------------------------------------------------------------


def paragraphs(text: str) -> list[str]:
    """The body's paragraphs, without the footer."""
    return [p for p in body_of(text).split("\n\n") if p.strip()]


@pytest.mark.parametrize("name", COMPLIMENT_MAILS)
@both
def test_it_keeps_compliment_paragraphs_apart(name: str, language: str) -> None:
    """A sentence after an `{% endif %}` must not be glued to the paragraph before it:
    only list items, quotes and `Label: value` lines may follow a paragraph's first line."""
    follow = re.compile(r"^(?:- |>|[\w()' -]+: )")
    for label, mail in rendered(name, language):
        glued = re.search(r"[a-z][A-Z][a-z]+:", mail.text)  # "GrootStand:": "\n" eaten
        assert not glued, (label, "glued lines", glued and glued.group())
        for paragraph in paragraphs(mail.text):
            first, *rest = paragraph.splitlines()
            allowed = re.compile(">") if first.startswith(">") else follow
            assert all(allowed.match(line) for line in rest), (label, paragraph)


@pytest.mark.parametrize("name", TO_MAKER)
@both
def test_it_writes_to_an_external_maker_formally_and_never_by_address(
    name: str, language: str
) -> None:
    greeting = {"nl": ("Geachte ", "Geachte heer, mevrouw,"), "en": ("Dear ", "Dear Sir or Madam,")}
    formal, anonymous = greeting[language]
    for label, mail in rendered(name, language):
        first = mail.text.splitlines()[0]
        if label == "internal":
            assert first == f"{'Hallo' if language == 'nl' else 'Hello'} Anna,", (label, first)
            assert not re.search(r"\b(?:u|uw)\b", mail.text), (label, mail.text)
            continue
        assert first.startswith(formal), (label, first)
        assert "@" not in first, (label, first)  # "Geachte j.degroot@klant.example," is wrong
        if "nameless" in label:
            assert first == anonymous, (label, first)
        else:
            assert first == f"{formal}Mevr. J. de Groot,", (label, first)
        if language == "nl":
            assert not re.search(r"\b(?:je|jij|jou|jouw)\b", mail.text), (label, mail.text)
        assert mail.text.rstrip().split("\n---\n")[0].rstrip().endswith(ORGANISATION), label


SUPPLIER_SIDE = [n for n in COMPLIMENT_MAILS if n.endswith("_supplier")]


@pytest.mark.parametrize(
    "name", [n for n in COMPLIMENT_MAILS if n not in TO_MAKER and n not in SUPPLIER_SIDE]
)
def test_it_speaks_to_staff_informally(name: str) -> None:
    for label, mail in rendered(name, "nl"):
        own = "\n".join(line for line in mail.text.splitlines() if not line.startswith(">"))
        assert not re.search(r"\b(?:u|uw|Geachte)\b", own), (label, own)


@pytest.mark.parametrize("name", SUPPLIER_SIDE)
@both
def test_it_writes_to_a_suppliers_people_formally(name: str, language: str) -> None:
    for label, mail in rendered(name, language):
        first = mail.text.splitlines()[0]
        assert first.startswith("Geachte " if language == "nl" else "Dear "), (label, first)
        if language == "nl":
            own = "\n".join(line for line in mail.text.splitlines() if not line.startswith(">"))
            assert not re.search(r"\b(?:je|jij|jou|jouw)\b", own), (label, own)


@both
def test_it_speaks_to_one_receiver_or_to_several(language: str) -> None:
    singular, plural = {"nl": (r"\bjou\b", r"\bjullie\b"), "en": (r"Hello Piet,", r"Each of you")}[
        language
    ]
    for label, mail in rendered("cmp_given", language):
        one = label.startswith("one")
        assert bool(re.search(singular, mail.subject + mail.text)) == one, (label, mail.text)
        assert bool(re.search(plural, mail.subject + mail.text)) != one, (label, mail.text)
        if language == "nl" and not one:
            assert not re.search(r"\b(?:jou|je)\b", mail.subject + body_of(mail.text)), label
        told = PROVIDER["name"] in mail.text
        assert told == (label != "two-with-provider"), (label, mail.text)


def test_it_lists_several_receivers_naturally() -> None:
    subjects = {label: mail.subject for label, mail in rendered("cmp_assigned", "en")}
    assert subjects["one"].endswith("to Piet de Vries?")
    assert subjects["two"].endswith("to Piet de Vries and Sanne Bos?")
    assert subjects["team-internal"].endswith("to Piet de Vries, Sanne Bos and Ahmed El Amrani?")


@pytest.mark.parametrize("name", COMPLIMENT_MAILS)
@both
def test_it_shows_replies_the_parser_understands(name: str, language: str) -> None:
    """A command word alone in its own paragraph, or a `WORD: …` example line, is what
    the reader will type back: it must parse as that command, in the reader's language."""
    words = {v.value if language == "nl" else v.english: v for v in Verb}
    for label, mail in rendered(name, language):
        for paragraph in paragraphs(mail.text):
            line = paragraph.splitlines()[0]
            word = re.match(r"^([A-Z]+(?: CAP)?)(?::|$)", line)
            if not word or word[1] not in words:
                continue
            parsed = parse_command(line)
            verb = words[word[1]]
            assert isinstance(parsed, Command), (label, line, parsed)
            assert parsed.verb is verb, (label, line)
            assert parsed.english == (language == "en" and verb.english != verb.value), label


@both
def test_it_gives_a_due_date_example_the_parser_reads(language: str) -> None:
    for label, mail in rendered("cmp_cap_request", language):
        due = re.search(
            r"^(Gereed|Due): .*\((?:bijvoorbeeld|for example) ([^)]+)\)$", mail.text, re.M
        )
        assert due, (label, mail.text)
        assert parse_date(due[2]) == date(2027, 3, 31), (label, due[2])
        reply = f"CAP: we delen de aanpak in het teamoverleg\n{due[1]}: {due[2]}"
        parsed = parse_command(reply)
        assert isinstance(parsed, Command) and parsed.due == date(2027, 3, 31), label


@both
def test_it_names_the_stage_when_a_compliment_command_is_refused(language: str) -> None:
    stage_reasons = ("already_given", "no_receivers", "not_assigned", "no_cap_expected", "no_cap")
    checked = 0
    for label, mail in rendered("command_refused", language):
        if not label.startswith(tuple(f"cmp-{reason}-" for reason in stage_reasons)):
            continue
        checked += 1
        assert re.search(r": (?:het compliment|the compliment) \w", mail.text), label
        assert mail.text.count("STATUS") == 1, (label, mail.text)  # only in the closing line
    assert checked == 6
