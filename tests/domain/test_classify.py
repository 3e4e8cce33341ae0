"""classify() / failed_recipients() against hand-written cases and the shared corpora.

The corpora live beside the repository (../shared/corpora) and are never
copied in. A missing corpus folder fails loudly: nothing here is skipped.

The sisimai and flufl corpora are bounce collections written for other
projects, so their expectations are translated into mailbot's classes below;
every deliberate difference and every known miss is listed with its reason.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mailbot.domain.classify import Classification, MailClass, classify, failed_recipients
from mailbot.mail.parse import parse

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
SISIMAI = CORPORA / "sisimai-set-of-emails"
FLUFL = CORPORA / "flufl-bounce"
FLUFL_DATA = FLUFL / "flufl" / "bounce" / "tests" / "data"
TALON = CORPORA / "mailgun-talon" / "tests" / "fixtures"
REPLY_BODY_FOLDERS = (
    CORPORA / "discourse-email_reply_trimmer" / "test" / "emails",
    CORPORA / "alfonsrv-mail-parser-reply" / "test" / "emails",
    CORPORA / "crisp-email-reply-parser" / "test" / "fixtures",
)

SHARED = "klachten@example.nl"
OWN = frozenset({SHARED})


def _missing(folder: Path) -> str:
    return (
        f"corpus folder {folder} is missing: the tests expect the shared corpora checked "
        f"out as ../shared/corpora beside the repository"
    )


def _files(folder: Path, patterns: tuple[str, ...], minimum: int) -> list[Any]:
    """Parametrisation that turns a missing/shrunken corpus into a failing case."""
    found: list[Path] = []
    if folder.is_dir():
        for pattern in patterns:
            found.extend(p for p in folder.glob(pattern) if p.is_file())
    if len(found) < minimum:
        return [pytest.param(None, id=f"MISSING:{folder.name}")]
    return [pytest.param(path, id=str(path.relative_to(folder))) for path in sorted(found)]


def _require(path: Path | None, folder: Path) -> Path:
    if path is None:
        pytest.fail(_missing(folder))
    return path


@cache
def _classified(path: Path) -> Classification:
    return classify(parse(path.read_bytes()), own_addresses=OWN)


def _mail(headers: str, body: str = "Hallo,\n\nZie bijlage.\n\nGroet, Jan\n") -> bytes:
    """A small RFC 5322 message; `headers` are complete header lines."""
    return (headers.strip() + "\n\n" + body).encode("utf-8")


BASE = """\
From: Jan de Leverancier <jan@leverancier.example>
To: Klachten <klachten@example.nl>
Date: Tue, 14 May 2024 10:12:00 +0200
Message-ID: <abc123@leverancier.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
"""


def _classify(raw: bytes, item_class: str | None = None) -> Classification:
    return classify(parse(raw), own_addresses=OWN, item_class=item_class)


# --------------------------------------------------------------------------- #
# Hand-written cases: the traps named in the spec
# --------------------------------------------------------------------------- #


def test_it_treats_outlook_mail_with_only_auto_response_suppress_as_normal() -> None:
    # Outlook puts this header on ordinary mail; it says "don't answer me
    # automatically", not "I am automatic".
    raw = _mail(BASE + "Subject: Re: Klacht order 4711\nX-Auto-Response-Suppress: All\n")
    assert _classify(raw) == Classification(MailClass.NORMAL, ())


def test_it_treats_inbox_rules_loop_alone_as_normal() -> None:
    # Exchange adds it to mail forwarded by an inbox rule: a human's text.
    raw = _mail(
        BASE + "Subject: FW: Klacht order 4711\nX-MS-Exchange-Inbox-Rules-Loop: jan@lev.example\n"
    )
    assert _classify(raw) == Classification(MailClass.NORMAL, ())


def test_it_treats_a_dutch_reply_about_absence_as_normal_without_hint() -> None:
    raw = _mail(BASE + "Subject: Re: Afwezigheid morgen\n", "Prima, tot overmorgen.\n")
    assert _classify(raw) == Classification(MailClass.NORMAL, ())


def test_it_marks_the_exchange_oof_pair_as_out_of_office() -> None:
    raw = _mail(
        BASE
        + "Subject: Automatisch antwoord: Klacht order 4711\n"
        + "X-Auto-Response-Suppress: All\n"
        + "X-MS-Exchange-Inbox-Rules-Loop: jan@leverancier.example\n"
        + "auto-submitted: auto-generated\n"
        + "x-ms-exchange-generated-message-source: Mailbox Rules Agent\n"
        + "Return-Path: <>\n",
        "Ik ben afwezig tot en met 20 mei.\n",
    )
    result = _classify(raw)
    assert result.kind is MailClass.AUTO_REPLY
    assert result.out_of_office is True
    assert result.hint_only is False
    assert any("X-Auto-Response-Suppress" in r for r in result.reasons)
    assert "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent" in result.reasons


def test_it_marks_the_bare_exchange_pair_as_out_of_office() -> None:
    raw = _mail(
        BASE
        + "Subject: Klacht order 4711\n"
        + "X-Auto-Response-Suppress: All\n"
        + "X-MS-Exchange-Inbox-Rules-Loop: jan@leverancier.example\n"
    )
    result = _classify(raw)
    assert (result.kind, result.out_of_office) == (MailClass.AUTO_REPLY, True)


def test_it_treats_auto_submitted_no_as_normal() -> None:
    raw = _mail(BASE + "Subject: Re: Klacht order 4711\nAuto-Submitted: no\n")
    assert _classify(raw) == Classification(MailClass.NORMAL, ())


def test_it_keeps_a_subject_only_hint_normal_with_hint_only() -> None:
    raw = _mail(BASE + "Subject: Automatisch antwoord: Klacht order 4711\n")
    result = _classify(raw)
    assert result.kind is MailClass.NORMAL
    assert result.hint_only is True
    assert result.out_of_office is False
    assert len(result.reasons) == 1
    assert "Automatisch antwoord: Klacht order 4711" in result.reasons[0]


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Order 4711",
        "Afwezig: Klacht",
        "Out of Office: Order 4711",
        "Abwesend: Reklamation",
        "=?utf-8?q?R=C3=A9ponse_automatique_:?= Commande 4711",
        "Autosvar: Order 4711",
        "Niet aanwezig: Klacht",
    ],
)
def test_it_recognises_the_usual_auto_reply_subject_prefixes_as_hints(subject: str) -> None:
    result = _classify(_mail(BASE + f"Subject: {subject}\n"))
    assert (result.kind, result.hint_only) == (MailClass.NORMAL, True)


def test_it_makes_a_subject_hint_an_oof_next_to_an_auto_header() -> None:
    raw = _mail(BASE + "Subject: Afwezig: Klacht order 4711\nAuto-Submitted: auto-replied\n")
    result = _classify(raw)
    assert (result.kind, result.out_of_office) == (MailClass.AUTO_REPLY, True)


def test_it_keeps_a_ticket_acknowledgement_apart_from_an_oof() -> None:
    raw = _mail(
        BASE + "Subject: [Ticket#88231] Uw melding is ontvangen\nAuto-Submitted: auto-replied\n"
    )
    result = _classify(raw)
    assert (result.kind, result.out_of_office) == (MailClass.AUTO_REPLY, False)
    assert result.reasons == ("Auto-Submitted: auto-replied",)


def test_it_classifies_list_mail_as_list() -> None:
    raw = _mail(
        BASE
        + "Subject: [inkoop] Nieuwe prijslijst\n"
        + "List-Id: Inkoop <inkoop.lists.example>\n"
        + "List-Unsubscribe: <mailto:inkoop-leave@lists.example>\n"
    )
    result = _classify(raw)
    assert result.kind is MailClass.LIST
    assert result.reasons[0] == "List-Id: Inkoop <inkoop.lists.example>"


def test_it_files_precedence_list_under_auto_reply_as_the_spec_says() -> None:
    raw = _mail(BASE + "Subject: [inkoop] Prijzen\nList-Id: <inkoop.lists.example>\n")
    assert _classify(raw).kind is MailClass.LIST
    raw = _mail(
        BASE + "Subject: [inkoop] Prijzen\nList-Id: <inkoop.lists.example>\nPrecedence: list\n"
    )
    assert _classify(raw).kind is MailClass.AUTO_REPLY


def test_it_recognises_mailbots_own_mail() -> None:
    raw = _mail(
        "From: Klachtenbot <Klachten@Example.nl>\n"
        "To: inkoop@leverancier.example\n"
        "Subject: Herinnering: klacht 2024-0042\n"
        "X-Mailbot-Case: 2024-0042\n"
        "Auto-Submitted: auto-generated\n"
    )
    result = _classify(raw)
    assert result.kind is MailClass.OWN
    assert result.reasons == (
        "From is mailbot's own address klachten@example.nl",
        "X-Mailbot-Case: 2024-0042",
        "Auto-Submitted: auto-generated",
    )


def test_it_treats_any_mail_from_the_shared_mailbox_as_own() -> None:
    raw = _mail(BASE.replace("jan@leverancier.example", SHARED) + "Subject: test\n")
    result = classify(parse(raw), own_addresses=frozenset({" KLACHTEN@example.nl "}))
    assert result.kind is MailClass.OWN


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "auto-submitted: AUTO-GENERATED",
        'Auto-Submitted: auto-replied; owner-email="jan@leverancier.example"',
        "Auto-Submitted: auto-notified",
        "X-Autoreply: yes",
        "X-Autorespond: Order 4711",
        "X-Autoresponder: vacation",
        "Precedence: bulk",
        "Precedence:  JUNK ",
        "Precedence: auto_reply",
    ],
)
def test_it_recognises_auto_reply_headers(header: str) -> None:
    result = _classify(_mail(BASE + f"Subject: Re: Order 4711\n{header}\n"))
    assert result.kind is MailClass.AUTO_REPLY
    assert len(result.reasons) == 1


def test_it_marks_a_vacation_program_as_out_of_office() -> None:
    raw = _mail(BASE + "Subject: Re: Order 4711\nX-Autoresponder: vacation\n")
    assert (_classify(raw).kind, _classify(raw).out_of_office) == (MailClass.AUTO_REPLY, True)
    raw = _mail(BASE + "Subject: Re: Order 4711\nX-Autoreply: yes\n")
    assert (_classify(raw).kind, _classify(raw).out_of_office) == (MailClass.AUTO_REPLY, False)


def test_it_takes_an_empty_return_path_with_auto_headers_as_auto_reply() -> None:
    raw = _mail(BASE + "Subject: Re: Order 4711\nReturn-Path: <>\nAuto-Submitted: auto-replied\n")
    result = _classify(raw)
    assert result.kind is MailClass.AUTO_REPLY
    assert "empty Return-Path (null envelope sender)" in result.reasons


def test_it_takes_an_empty_return_path_alone_as_auto_reply() -> None:
    # No human mail client sends with the null sender; but nothing says "failure".
    result = _classify(_mail(BASE + "Subject: Order 4711\nReturn-Path: <>\n"))
    assert result == Classification(
        MailClass.AUTO_REPLY, ("empty Return-Path (null envelope sender)",)
    )


def test_it_takes_an_empty_return_path_with_a_dsn_subject_as_bounce() -> None:
    raw = _mail(BASE + "Subject: Undeliverable: Order 4711\nReturn-Path: <>\n")
    result = _classify(raw)
    assert result.kind is MailClass.BOUNCE
    assert result.reasons == (
        "empty Return-Path (null envelope sender)",
        "delivery-failure subject: Undeliverable: Order 4711",
    )


def test_it_never_calls_a_human_writing_about_failed_delivery_a_bounce() -> None:
    raw = _mail(
        BASE + "Subject: Undeliverable goods, order 4711\n",
        "Hallo,\n\nMail delivery failed gisteren, en ook: Delivery has failed to these "
        "recipients. Your message could not be delivered.\n\nGroet, Jan\n",
    )
    assert _classify(raw) == Classification(MailClass.NORMAL, ())


def test_it_keeps_an_oof_that_echoes_our_subject_an_auto_reply() -> None:
    # Our subjects talk about deliveries; the supplier's OOF quotes them.
    raw = _mail(
        BASE
        + "Subject: Automatic reply: Order 4711 could not be delivered\n"
        + "Return-Path: <>\n"
        + "X-Auto-Response-Suppress: All\n"
        + "X-MS-Exchange-Inbox-Rules-Loop: jan@leverancier.example\n"
    )
    result = _classify(raw)
    assert (result.kind, result.out_of_office) == (MailClass.AUTO_REPLY, True)


def test_it_classifies_x_failed_recipients_as_bounce() -> None:
    raw = _mail(BASE + "Subject: Mail failure\nX-Failed-Recipients: x@leverancier.example\n")
    assert _classify(raw).kind is MailClass.BOUNCE


def test_it_classifies_a_mailer_daemon_without_address_as_bounce() -> None:
    raw = _mail(
        BASE.replace("Jan de Leverancier <jan@leverancier.example>", "MAILER-DAEMON <>")
        + "Subject: Mail delivery failed\n"
    )
    result = _classify(raw)
    assert result.kind is MailClass.BOUNCE
    assert result.reasons == ("sender: MAILER-DAEMON <>",)


DSN_TEMPLATE = """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.nl>
To: klachten@example.nl
Subject: {subject}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type="{report}"; boundary="b1"

--b1
Content-Type: text/plain

{text}

--b1
Content-Type: message/{report}

Reporting-MTA: dns; mx.example.nl

Final-Recipient: rfc822; Inkoop@Leverancier-X.example
Original-Recipient: rfc822; Inkoop@Leverancier-X.example
Action: {action}
Status: {status}

--b1--
"""


def _dsn(subject: str, *, report: str = "delivery-status", action: str = "failed") -> bytes:
    status = "2.0.0" if action in ("delivered", "displayed") else "5.1.1"
    text = "The mail system could not deliver your message."
    return DSN_TEMPLATE.format(
        subject=subject, report=report, text=text, action=action, status=status
    ).encode()


def test_it_classifies_a_dsn_as_bounce() -> None:
    result = _classify(_dsn("Undelivered Mail Returned to Sender"))
    assert result.kind is MailClass.BOUNCE
    assert result.reasons[0] == "delivery status notification (multipart/report; delivery-status)"


def test_it_classifies_a_successful_dsn_as_delivery_receipt() -> None:
    result = _classify(_dsn("Delivered: Klacht order 4711", action="delivered"))
    assert result.kind is MailClass.AUTO_REPLY
    assert "delivery receipt (DSN announcing success)" in result.reasons


def test_it_classifies_a_read_receipt_as_auto_reply_not_bounce() -> None:
    result = _classify(_dsn("Read: Klacht", report="disposition-notification", action="displayed"))
    assert result.kind is MailClass.AUTO_REPLY
    assert result.reasons[0] == "read receipt (multipart/report; disposition-notification)"


@pytest.mark.parametrize(
    ("item_class", "kind", "out_of_office", "reason"),
    [
        ("REPORT.IPM.Note.NDR", MailClass.BOUNCE, False, "non-delivery report"),
        ("report.ipm.note.ndr", MailClass.BOUNCE, False, "non-delivery report"),
        ("REPORT.IPM.Schedule.Meeting.Request.NDR", MailClass.BOUNCE, False, "non-delivery"),
        ("REPORT.IPM.Note.DR", MailClass.AUTO_REPLY, False, "delivery receipt"),
        ("REPORT.IPM.Note.IPNRN", MailClass.AUTO_REPLY, False, "read receipt"),
        ("REPORT.IPM.Note.IPNNRN", MailClass.AUTO_REPLY, False, "not-read"),
        ("IPM.Note.Rules.OofTemplate.Microsoft", MailClass.AUTO_REPLY, True, "out of office"),
        ("IPM.Note.Rules.ReplyTemplate.Microsoft", MailClass.AUTO_REPLY, False, "rule auto-reply"),
        ("IPM.Note", MailClass.NORMAL, False, None),
    ],
)
def test_it_uses_the_exchange_item_class(
    item_class: str, kind: MailClass, out_of_office: bool, reason: str | None
) -> None:
    result = _classify(_mail(BASE + "Subject: Klacht order 4711\n"), item_class=item_class)
    assert (result.kind, result.out_of_office) == (kind, out_of_office)
    if reason is None:
        assert result.reasons == ()
    else:
        assert reason in result.reasons[0]


def test_it_extracts_failed_recipients_lower_cased_and_deduplicated() -> None:
    permanent, temporary = failed_recipients(_dsn("Undelivered Mail Returned to Sender"))
    assert (permanent, temporary) == (["inkoop@leverancier-x.example"], [])


def test_it_reports_delayed_recipients_as_temporary() -> None:
    permanent, temporary = failed_recipients(_dsn("Delayed Mail", action="delayed"))
    assert (permanent, temporary) == ([], ["inkoop@leverancier-x.example"])


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe", b"From: \n\n", b"Content-Type: multipart/report\n\n--x\n", b"x" * 5000],
)
def test_it_never_raises_on_garbage(raw: bytes) -> None:
    assert failed_recipients(raw) == ([], [])
    assert _classify(raw).kind is MailClass.NORMAL


# --------------------------------------------------------------------------- #
# sisimai set-of-emails: ~600 bounces from ~75 MTAs, ARF, RFC 3834 replies
# --------------------------------------------------------------------------- #

# sisimai reason -> what mailbot must say. Every other reason (userunknown,
# mailboxfull, expired, filtered, ..., and sisimai's "onhold"/"undefined" for
# bounces it cannot explain) is a delivery failure: BOUNCE.
SISIMAI_NON_FAILURES: dict[str, frozenset[MailClass]] = {
    # RFC 3834 auto-replies.
    "vacation": frozenset({MailClass.AUTO_REPLY}),
    # ARF / SES complaints: a recipient flagged mail as spam -- automated, but
    # not a delivery failure. (The JSON's extractor left these reason lists
    # empty; p5-sisimai's t/899-arf.t expects "feedback".)
    "feedback": frozenset({MailClass.AUTO_REPLY}),
    # Success DSNs / SES delivery notifications. A DSN's Action field is not
    # visible in InboundMail (see the parser note in the report), so a success
    # DSN without a "Delivered:"-style subject stays a BOUNCE; both are "not
    # human" and failed_recipients() then finds nothing.
    "delivered": frozenset({MailClass.AUTO_REPLY, MailClass.BOUNCE}),
}

# Files where mailbot deliberately disagrees with "it is a bounce/not a bounce".
SISIMAI_OVERRIDES: dict[str, MailClass] = {
    # A person forwarded a bounce ("Fwd: Returned mail: ..."): From is a human,
    # no machine header at all. For mailbot that is a human's mail.
    "maildir/bsd/lhost-sendmail-14.eml": MailClass.NORMAL,
    "maildir/err/make-test-36.eml": MailClass.NORMAL,
    # maildir/not holds non-bounces ...
    "maildir/not/is-not-bounce-01.eml": MailClass.NORMAL,
    "maildir/not/is-not-bounce-02.eml": MailClass.NORMAL,
    # ... and one real "mailbox full" notice from postmaster with an empty
    # Return-Path (rb-sisimai issue 368 is about sisimai not parsing it).
    "maildir/not/rb-issue-368-bug.eml": MailClass.BOUNCE,
}

# Bounces (per sisimai) that carry no structural signal mailbot trusts.
KNOWN_MISSES: dict[str, str] = {
    # fml mailing-list manager: "you are not a member" notice sent from the
    # list's -admin address with a normal Return-Path and no DSN/auto header;
    # only the body says what happened. Lands in LIST (List-Subscribe,
    # Mailing-List), so it is still never answered.
    "maildir/bsd/lhost-fml-02.eml": "fml list-manager notice, no bounce header (LIST)",
    # fml "Loop Alert: Duplicated Message-ID": from the list -admin address to
    # itself, no list/DSN/auto header at all -> NORMAL.
    "maildir/bsd/lhost-fml-03.eml": "fml loop alert, no header signal (NORMAL)",
}


def _sisimai_expectations() -> dict[str, tuple[str, ...]]:
    path = SISIMAI / "EXPECTED_from_p5-sisimai_t.json"
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: tuple(sorted({entry["reason"] for entry in value["expected"]}))
        for name, value in data.items()
    }


SISIMAI_REASONS = _sisimai_expectations()


def _sisimai_reasons(rel: str) -> tuple[str, ...]:
    """sisimai's reasons for a corpus file, by the rules of the corpus README."""
    name = rel.rsplit("/", 1)[-1]
    # maildir/mac and maildir/dos are CR / CRLF copies of maildir/bsd files.
    reasons = SISIMAI_REASONS.get(f"maildir/bsd/{name}")
    if reasons:
        return reasons
    # Empty lists in the JSON are ARF / SES complaints (see SISIMAI_NON_FAILURES);
    # files the JSON does not list (renamed rhost-*, newer samples, maildir/err =
    # mbox-0 split, maildir/tmp, to-be-debugged) follow their sisimai file name.
    if name.startswith("rfc3834-"):
        return ("vacation",)
    if name.startswith("arf-") or reasons == ():
        return ("feedback",)
    return ("bounce",)


def _sisimai_expected(rel: str) -> frozenset[MailClass]:
    if rel in SISIMAI_OVERRIDES:
        return frozenset({SISIMAI_OVERRIDES[rel]})
    allowed: set[MailClass] = set()
    for reason in _sisimai_reasons(rel):
        allowed |= SISIMAI_NON_FAILURES.get(reason, frozenset({MailClass.BOUNCE}))
    # A file mixing a failure with e.g. "delivered" must be a bounce.
    if any(r not in SISIMAI_NON_FAILURES for r in _sisimai_reasons(rel)):
        allowed = {MailClass.BOUNCE}
    return frozenset(allowed)


SISIMAI_FILES = _files(
    SISIMAI,
    ("maildir/*/*.eml", "to-be-debugged-because/*/*.eml", "mailbox/mbox-1"),
    minimum=800,
)


@pytest.mark.parametrize("path", SISIMAI_FILES)
def test_it_classifies_the_sisimai_corpus(path: Path | None) -> None:
    path = _require(path, SISIMAI)
    rel = path.relative_to(SISIMAI).as_posix()
    expected = _sisimai_expected(rel)
    result = _classified(path)
    if rel in KNOWN_MISSES:
        assert result.kind not in expected, f"{rel} is detected now: drop it from KNOWN_MISSES"
        assert result.kind is not MailClass.BOUNCE
        return
    assert result.kind in expected, f"{rel}: {result}"


def _is_sisimai_bounce(rel: str) -> bool:
    """sisimai's verdict: a delivery failure (maildir/not is "not a bounce" by README)."""
    if rel.startswith("maildir/not/"):
        return False
    return any(reason not in SISIMAI_NON_FAILURES for reason in _sisimai_reasons(rel))


def test_it_detects_at_least_95_percent_of_sisimai_bounces_structurally() -> None:
    # Human-forwarded bounces (SISIMAI_OVERRIDES) and KNOWN_MISSES count as missed.
    if not SISIMAI_REASONS:
        pytest.fail(_missing(SISIMAI))
    paths = [p.values[0] for p in SISIMAI_FILES if isinstance(p.values[0], Path)]
    bounces = [p for p in paths if _is_sisimai_bounce(p.relative_to(SISIMAI).as_posix())]
    detected = [p for p in bounces if _classified(p).kind is MailClass.BOUNCE]
    assert len(bounces) >= 700
    assert len(detected) / len(bounces) >= 0.95, f"{len(detected)}/{len(bounces)}"


@pytest.mark.parametrize("name", ["size-0", "size-1", "size-2"])
def test_it_survives_sisimai_degenerate_mailboxes(name: str) -> None:
    path = SISIMAI / "mailbox" / name
    if not path.is_file():
        pytest.fail(_missing(SISIMAI / "mailbox"))
    assert _classified(path).kind is MailClass.NORMAL
    assert failed_recipients(path.read_bytes()) == ([], [])


# --------------------------------------------------------------------------- #
# flufl.bounce test data: ~100 bounces, and which addresses failed
# --------------------------------------------------------------------------- #

FLUFL_KNOWN_MISSES: dict[str, str] = {
    # From E500_SMTP_Mail_Service@..., no Return-Path, no auto/DSN header:
    # only the body ("------ Failed Recipients ------") says it is a bounce.
    "bounce_02.txt": "no header signal; sender looks like any mailbox",
    # Subject "RE: ... : non remis" from a normal-looking address whose
    # Return-Path is itself: indistinguishable from a human reply by headers.
    "simple_20.txt": "reply-style subject, human-looking sender",
    # From <"System Administrator"@xxx.com> (the parser drops quoted local parts
    # with spaces), no Return-Path, no auto header.
    "simple_36.txt": "no usable sender, no header signal",
}


@pytest.mark.parametrize("path", _files(FLUFL_DATA, ("*.txt",), minimum=100))
def test_it_classifies_flufl_bounces_as_bounce(path: Path | None) -> None:
    path = _require(path, FLUFL_DATA)
    result = _classified(path)
    if path.name in FLUFL_KNOWN_MISSES:
        assert result.kind is not MailClass.BOUNCE, f"{path.name} detected: update the list"
        return
    assert result.kind is MailClass.BOUNCE, f"{path.name}: {result}"


def _flufl_expectations() -> list[Any]:
    path = FLUFL / "EXPECTED_from_detectors_py.json"
    if not path.is_file():
        return [pytest.param(None, False, (), id="MISSING:flufl-bounce")]
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    # One file can appear under several detectors (groupwise_02: the GroupWise
    # detector finds nothing, the Exchange one finds the address): merge them.
    merged: dict[tuple[str, bool], set[str]] = {}
    for entry in entries:
        key = (entry["file"], bool(entry["temporary"]))
        merged.setdefault(key, set()).update(a.lower() for a in entry["expected_failed_addresses"])
    return [
        pytest.param(file, temporary, tuple(sorted(addresses)), id=file.rsplit("/", 1)[-1])
        for (file, temporary), addresses in sorted(merged.items())
    ]


@pytest.mark.parametrize(("file", "temporary", "expected"), _flufl_expectations())
def test_it_finds_the_failed_recipients_flufl_expects(
    file: str | None, temporary: bool, expected: tuple[str, ...]
) -> None:
    if file is None:
        pytest.fail(_missing(FLUFL))
    permanent, temporary_found = failed_recipients((FLUFL / file).read_bytes())
    found = temporary_found if temporary else permanent
    # flufl 6's chain may find more than the single detector the JSON was
    # written for (sendmail_01 also reports the "expanded from" address).
    assert set(expected) <= set(found), (permanent, temporary_found)
    assert found == sorted(set(found))


# --------------------------------------------------------------------------- #
# Ordinary human mail must stay NORMAL
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("path", _files(TALON, ("*.eml", "standard_replies/*.eml"), minimum=12))
def test_it_keeps_talon_replies_normal(path: Path | None) -> None:
    path = _require(path, TALON)
    assert _classified(path) == Classification(MailClass.NORMAL, ())


def _reply_bodies() -> list[Any]:
    params: list[Any] = []
    for folder in REPLY_BODY_FOLDERS:
        params.extend(_files(folder, ("*.txt",), minimum=30))
    return params


@pytest.mark.parametrize("path", _reply_bodies())
def test_it_keeps_corpus_reply_bodies_normal(path: Path | None) -> None:
    # These corpora hold reply *bodies* (13 languages, Dutch "Op ... schreef",
    # forwarded headers in the text), not whole messages: wrap each in the
    # headers of an ordinary supplier reply.
    if path is None:
        pytest.fail(_missing(REPLY_BODY_FOLDERS[0]))
    body = path.read_bytes().decode("utf-8", errors="replace")
    raw = _mail(BASE + "Subject: Re: Klacht order 4711\n", body)
    assert _classify(raw) == Classification(MailClass.NORMAL, ())
