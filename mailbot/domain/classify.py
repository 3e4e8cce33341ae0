"""Is this mail from a human, or must mailbot stay silent?

mailbot must never answer automated mail: one reply to a supplier's
auto-responder can start a mail loop the customer will see. So before
matching, every inbound mail gets a `MailClass` plus the evidence that decided
it; the case timeline shows that evidence to staff.

Rules, first match wins:

1. OWN -- From is one of mailbot's own addresses (the shared mailbox).
   First, because mailbot's own notifications carry
   ``Auto-Submitted: auto-generated`` and would otherwise look like
   auto-replies, and a copy of our own mail coming back (Bcc to itself, a
   journal copy) must never be fed back in as supplier input. Staff who write
   from the shared mailbox do so in Outlook; those mails sit in Sent, not in
   the Inbox mailbot reads, so "From is ours" is enough.
2. BOUNCE -- a delivery failure. Before auto-replies because DSNs routinely
   carry ``Auto-Submitted`` and ``Precedence`` as well, and "your mail did not
   arrive" is what the case needs to know. *Strong* signals decide alone: a
   ``multipart/report; report-type=delivery-status``, ``X-Failed-Recipients``,
   ``X-MS-Exchange-Message-Is-Ndr``, an Exchange ``REPORT.*.NDR`` item class,
   or MAILER-DAEMON / postmaster / "Mail Delivery Subsystem" as the author.
   *Weak* signals -- a subject that starts like a DSN, or the boilerplate
   sentence of a common MTA in the body -- count only when the envelope or
   the headers already say "machine" (empty Return-Path, empty From,
   ``Auto-Submitted``, ``Precedence: bulk``, a system sender such as
   ``no-reply`` or ``MicrosoftExchange<hex>``). A supplier who writes
   "Mail delivery failed, please resend" stays a human. DSN subjects are only
   matched at the start, because mailbot's own subjects ("Order 123 not
   delivered") come back inside auto-replies.
   A DSN whose subject announces success ("Delivered:", "Relayed:") is a
   delivery receipt, not a failure, and goes to rule 3.
3. AUTO_REPLY -- RFC 3834 ``Auto-Submitted`` (anything but ``no``),
   ``X-Autoreply``/``X-Autorespond``/``X-Autoresponder``,
   ``Precedence: bulk|junk|list|auto_reply`` (the spec files even
   ``Precedence: list`` here), the Exchange out-of-office pair, Exchange OOF /
   reply-template / receipt item classes, Apple's ``X-Apple-Action:
   VACATION``, read receipts (MDN), abuse reports (ARF, Hotmail JMRP, SES
   complaints) and delivery receipts. An empty Return-Path with no bounce
   evidence lands here too: RFC 3834 asks responders to use the null sender
   and no human mail client sends with one.
4. LIST -- RFC 2369/2919 list headers (``List-Id``, ``List-Unsubscribe``,
   ``List-Post``, ...). After AUTO_REPLY because a list's auto-responder is
   still an auto-responder.
5. NORMAL -- everything else. A subject that merely looks automatic
   ("Automatic reply:", "Afwezig:") never decides alone -- people do write
   such subjects, and a supplier reply silently dropped costs more than a
   hint shown -- so it only sets ``hint_only``.

Deliberately not signals on their own:

* ``X-Auto-Response-Suppress`` -- Outlook adds it to ordinary mail.
* ``X-MS-Exchange-Inbox-Rules-Loop`` -- Exchange also stamps it on mail that
  an inbox rule forwards, and that mail carries a human's text. Only the
  pair with ``X-Auto-Response-Suppress`` (what Exchange puts on OOF replies)
  counts. Caveat: a rule-forwarded Outlook mail may carry the pair too.
* ``X-MS-Exchange-Generated-Message-Source`` -- "Mailbox Rules Agent" is the
  source of OOF replies but also of inbox-rule forwards. Every Exchange agent
  mail we have seen also carries ``Auto-Submitted``, so this header is only
  recorded as extra evidence next to a real signal.

Header values are compared stripped, lower-cased and without parameters
(``auto-replied; owner-email=...`` is ``auto-replied``). The module is pure:
no I/O, so classification can be re-run whenever the rules improve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.iterators import body_line_iterator
from email.message import Message
from email.policy import compat32
from enum import StrEnum

from flufl.bounce import all_failures

from mailbot.domain.message import InboundMail

__all__ = ["Classification", "MailClass", "classify", "failed_recipients"]


class MailClass(StrEnum):
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    LIST = "list"
    OWN = "own"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict plus the evidence, so staff can see why mailbot stayed silent.

    ``out_of_office`` tells an absence notice apart from, say, a ticket
    system's acknowledgement: only the former means "the person is away".
    ``hint_only`` marks a NORMAL mail whose subject looked automatic.
    """

    kind: MailClass
    reasons: tuple[str, ...]
    out_of_office: bool = False
    hint_only: bool = False


# --- vocabularies --------------------------------------------------------------

_BOUNCE_LOCALPARTS = frozenset(
    {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster", "post_master"}
)
_BOUNCE_DISPLAY_NAMES = frozenset(
    {"mail delivery subsystem", "mail delivery system", "mailer-daemon", "mailer daemon"}
)
# When From has no usable address (`MAILER-DAEMON <>`, `<MAILER-DAEMON>`), read the raw text.
_BOUNCE_RAW_FROM_RE = re.compile(
    r"(?<![\w.-])(?:mailer[-_]?daemon|post_?master)(?![\w-])|mail\s+delivery\s+sub(?:system)?",
    re.IGNORECASE,
)
# Senders that never type by hand; enough to trust a DSN-like subject or body.
_SYSTEM_SENDER_RE = re.compile(
    r"""^(?:
        microsoftexchange[0-9a-f]{32} | no[-_.]?reply | do[-_.]?not[-_.]?reply | bounces? |
        mdaemon | .*daemon | .*antivirus.* | mailscanner
    )$""",
    re.VERBOSE,
)
_DSN_SUBJECT_RE = re.compile(
    r"""^\s*(?:
        undeliver(?:able|ed) | non[- ]?deliver | message\s+not\s+delivered |
        (?:mail|message)\s+could\s+not\s+be\s+delivered |
        (?:sorry,\s+)?your\s+message\s+could\s+not |
        (?:e-?mail\s+|mail\s+|message\s+)?delivery\s+(?:status|failure|failed|has\s+failed|
            notification|report|problem) |
        (?:failed|failure)\s+delivery | message\s+delivery\s+has\s+failed |
        mail\s+(?:failure|failed|error) | returned\s+mail | failure\s+notice |
        postmaster\s+notify | notice:\s+mail\s+delivery | delayed\s+mail |
        warning:\s+message\s+\S+\s+delayed | warning\W+could\s+not\s+send |
        could\s+not\s+send\s+(?:message|mail) | there\s+was\s+an\s+error\s+sending\s+your\s+mail |
        mail\s+system\s+error | unable\s+to\s+deliver | \*+\s*message\s+you\s+sent\s+blocked |
        warning:\s+\S+\s+-\s+user\s+unknown |
        onbestelbaar | niet\s+bezorgd | kan\s+niet\s+worden\s+bezorgd |
        unzustellbar | nicht\s+zustellbar | non\s+remis | non\s+distribuable |
        no\s+se\s+puede\s+entregar | non\s+recapitabile |
        ваше\s+сообщение\s+не\s+доставлено | недоставленн | メッセージを配信できません
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Boilerplate sentences of common MTAs; never enough alone (see rule 2).
_NDR_BODY_RE = re.compile(
    r"""(?:
        delivery\s+has\s+failed\s+to\s+these\s+recipients |
        de\s+bezorging\s+aan\s+deze\s+geadresseerden\s+of\s+groepen\s+is\s+mislukt |
        zustellung\s+an\s+folgende\s+empf[äa]nger\s+(?:oder\s+gruppen\s+)?ist\s+fehlgeschlagen |
        your\s+message\s+(?:wasn't|was\s+not|couldn't\s+be|could\s+not\s+be)\s+delivered |
        could\s+not\s+be\s+delivered\s+to\s+one\s+or\s+more\s+(?:of\s+its\s+)?recipients |
        (?:cannot|could\s+not)\s+(?:be\s+)?deliver(?:ed)?\s+(?:message\s+)?to\s+the\s+following |
        could\s+not\s+be\s+delivered\s+to:\s*< |
        this\s+is\s+a\s+permanent\s+error |
        delivery\s+to\s+the\s+following\s+recipients?\s+failed |
        the\s+following\s+addresses\s+had\s+permanent\s+fatal\s+errors |
        there\s+was\s+an\s+error\s+delivering\s+your\s+mail |
        i'm\s+sorry\s+to\s+have\s+to\s+inform\s+you\s+that\s+your\s+message |
        no\s+such\s+user\s+here |
        \\?"notificationType\\?"\s*:\s*\\?"Bounce
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_SES_NOTIFICATION_RE = re.compile(
    r'\\?"notificationType\\?"\s*:\s*\\?"(?P<kind>Complaint|Delivery)\\?"', re.IGNORECASE
)
_DELIVERED_SUBJECT_RE = re.compile(
    r"""^\s*(?:delivered|relayed|expanded|zugestellt|bezorgd)\s*: |
        ^\s*(?:successful\s+mail\s+delivery|delivery\s+status\s+notification\s+\((?:success|relay)\))""",
    re.IGNORECASE | re.VERBOSE,
)
# Prefixes auto-responders put before the original subject. Matched at the start only,
# so "Re: Afwezigheid morgen" is not one.
_AUTO_SUBJECT_RE = re.compile(
    r"""^\s*(?:
        automatic\s+reply | automatisch(?:e)?\s+antwoord | automatische\s+antwort |
        r[ée]ponse\s+automatique | risposta\s+automatica | respuesta\s+autom[áa]tica |
        resposta\s+autom[áa]tica | autosvar | automatisk\s+svar | automaattinen\s+vastaus |
        auto(?:matic)?[-\s]?(?:reply|response|respons|antwort) | autoresponder |
        out\s+of\s+(?:the\s+)?office | afwezig | niet\s+aanwezig | abwesend |
        abwesenheitsnotiz | absence | absent | vacation\s+reply | on\s+vacation
    )\s*:""",
    re.IGNORECASE | re.VERBOSE,
)
# Words that make an already automatic reply an absence notice.
_ABSENCE_WORDS_RE = re.compile(
    r"""(?:
        out\s+of\s+(?:the\s+)?office | \bOOO\b | \bOOF\b | afwezig | niet\s+aanwezig | vakantie |
        abwesen | urlaub | absen[ct] | vacation | holiday | cong[ée] | \baway\b | on\s+leave |
        automatic\s+reply | automatisch\s+antwoord | automatische\s+antwort |
        r[ée]ponse\s+automatique | autosvar
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_REPORT_NOT_DELIVERY = frozenset({"disposition-notification", "feedback-report"})
_OOF_ITEM_CLASSES = frozenset(
    {"ipm.note.rules.ooftemplate.microsoft", "ipm.note.rules.externalooftemplate.microsoft"}
)
_REPLY_TEMPLATE_ITEM_CLASS = "ipm.note.rules.replytemplate.microsoft"
_RECEIPT_ITEM_SUFFIXES = (
    (".ipnnrn", "not-read notification"),
    (".ipnrn", "read receipt"),
    (".dr", "delivery receipt"),
)
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_FALSE_VALUES = frozenset({"no", "false", "0", "off"})
_PRECEDENCE_AUTO = frozenset({"bulk", "junk", "list", "auto_reply"})
_PRECEDENCE_MACHINE = frozenset({"bulk", "junk", "auto_reply"})
_LIST_HEADERS = (
    "List-Id",
    "List-Unsubscribe",
    "List-Post",
    "List-Subscribe",
    "List-Help",
    "List-Owner",
    "List-Archive",
    "Mailing-List",
)
_MAX_REASON_VALUE = 80
_BODY_SAMPLE = 20_000
_HTML_TAG_RE = re.compile(r"<[^>]*>")


# --- helpers -------------------------------------------------------------------


def _token(value: str | None) -> str:
    """The header's main value: stripped, lower-cased, parameters dropped."""
    if value is None:
        return ""
    return value.split(";", 1)[0].strip().lower()


def _shown(name: str, value: str) -> str:
    """A reason line: header-like, one line, short enough for a timeline."""
    value = " ".join(value.split())
    if len(value) > _MAX_REASON_VALUE:
        value = value[: _MAX_REASON_VALUE - 1] + "…"
    return f"{name}: {value}" if value else name


def _local_part(address: str | None) -> str:
    if not address:
        return ""
    address = address.strip().strip("<>").strip()
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()


def _return_path(mail: InboundMail) -> str | None:
    value = mail.header("Return-Path")
    return None if value is None else value.strip()


def _null_return_path(mail: InboundMail) -> bool:
    value = _return_path(mail)
    return value is not None and value.replace(" ", "") in ("<>", "")


def _null_from(mail: InboundMail) -> bool:
    raw = mail.header("From")
    if mail.from_ is not None or raw is None:
        return False
    return raw.replace(" ", "") == "" or raw.rstrip().endswith("<>")


def _report_type(mail: InboundMail) -> str:
    if mail.content_type != "multipart/report":
        return ""
    return _token(mail.content_param("report-type"))


def _body_sample(mail: InboundMail) -> str:
    text = mail.text
    if not text.strip() and mail.html:
        text = _HTML_TAG_RE.sub(" ", mail.html)
    return text[:_BODY_SAMPLE]


def _auto_submitted(mail: InboundMail) -> str | None:
    """The raw Auto-Submitted value when it says "automatic" (anything but `no`)."""
    value = mail.header("Auto-Submitted")
    if value is None or _token(value) in ("", "no"):
        return None
    return value


def _bounce_sender(mail: InboundMail) -> str | None:
    """MAILER-DAEMON / postmaster / "Mail Delivery Subsystem" as the author."""
    if mail.from_ is not None:
        if _local_part(mail.from_.email) in _BOUNCE_LOCALPARTS:
            return f"sender {mail.from_.email}"
        if mail.from_.name.strip().lower() in _BOUNCE_DISPLAY_NAMES:
            return f"sender {mail.from_}"
        return None
    raw = mail.header("From") or ""
    return _shown("sender", raw) if _BOUNCE_RAW_FROM_RE.search(raw) else None


def _machine_evidence(mail: InboundMail) -> list[str]:
    """Envelope/header evidence that no human typed this mail."""
    found: list[str] = []
    return_path = _return_path(mail)
    if _null_return_path(mail):
        found.append("empty Return-Path (null envelope sender)")
    elif _local_part(return_path) in _BOUNCE_LOCALPARTS:
        found.append(_shown("Return-Path", return_path or ""))
    if _null_from(mail):
        found.append("empty From address")
    elif _SYSTEM_SENDER_RE.match(_local_part(mail.sender_email)):
        found.append(f"system sender {mail.sender_email}")
    auto = _auto_submitted(mail)
    if auto is not None:
        found.append(_shown("Auto-Submitted", auto))
    precedence = _token(mail.header("Precedence"))
    if precedence in _PRECEDENCE_MACHINE:
        found.append(_shown("Precedence", precedence))
    return found


def _hotmail_complaint(mail: InboundMail) -> bool:
    """Hotmail/Outlook.com JMRP complaints: the marker sits in the attached original."""
    for attachment in mail.attachments:
        if attachment.content_type == "message/rfc822":
            head = attachment.content[:16_384].split(b"\n\n", 1)[0]
            if b"x-hmxmroriginalrecipient:" in head.lower():
                return True
    return False


# --- rules ---------------------------------------------------------------------


def _own(mail: InboundMail, own: frozenset[str]) -> list[str]:
    sender = mail.sender_email
    if not sender or sender not in own:
        return []
    reasons = [f"From is mailbot's own address {sender}"]
    case = mail.header("X-Mailbot-Case")
    if case is not None:
        reasons.append(_shown("X-Mailbot-Case", case))
    auto = _auto_submitted(mail)
    if auto is not None:
        reasons.append(_shown("Auto-Submitted", auto))
    return reasons


def _bounce(mail: InboundMail, item_class: str) -> list[str]:
    report = _report_type(mail)
    if report in _REPORT_NOT_DELIVERY:
        return []  # a report about reading or spam, not about delivery
    strong: list[str] = []
    if report == "delivery-status":
        strong.append("delivery status notification (multipart/report; delivery-status)")
    if item_class.startswith("report.") and item_class.endswith(".ndr"):
        strong.append(f"Exchange item class {item_class} (non-delivery report)")
    failed = mail.header("X-Failed-Recipients")
    if failed is not None:
        strong.append(_shown("X-Failed-Recipients", failed))
    if mail.header("X-MS-Exchange-Message-Is-Ndr") is not None:
        strong.append("X-MS-Exchange-Message-Is-Ndr")
    sender = _bounce_sender(mail)
    if sender:
        strong.append(sender)
    if strong:
        if failed is None and _DELIVERED_SUBJECT_RE.match(mail.subject):
            return []  # a DSN announcing success: a delivery receipt (AUTO_REPLY)
        return strong
    weak: list[str] = []
    if _DSN_SUBJECT_RE.match(mail.subject):
        weak.append(_shown("delivery-failure subject", mail.subject))
    match = _NDR_BODY_RE.search(_body_sample(mail))
    if match:
        weak.append(f"non-delivery text {' '.join(match.group(0).split())!r}")
    if not weak:
        return []
    machine = _machine_evidence(mail)
    return [*machine, *weak] if machine else []


@dataclass
class _AutoEvidence:
    reasons: list[str] = field(default_factory=list)
    out_of_office: bool = False

    def add(self, reason: str, *, out_of_office: bool = False) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.out_of_office = self.out_of_office or out_of_office


def _auto_reply(mail: InboundMail, item_class: str) -> _AutoEvidence:
    evidence = _AutoEvidence()
    report = _report_type(mail)
    if report == "disposition-notification":
        evidence.add("read receipt (multipart/report; disposition-notification)")
    elif report == "feedback-report":
        evidence.add("abuse/feedback report (ARF, multipart/report; feedback-report)")
    elif report == "delivery-status":
        # Only reachable when _bounce() let a DSN go because its subject announces success.
        evidence.add("delivery receipt (DSN announcing success)")
    if _hotmail_complaint(mail):
        evidence.add("abuse complaint (Hotmail JMRP, X-HmXmrOriginalRecipient)")

    if item_class in _OOF_ITEM_CLASSES:
        evidence.add(f"Exchange item class {item_class} (out of office)", out_of_office=True)
    elif item_class == _REPLY_TEMPLATE_ITEM_CLASS:
        evidence.add(f"Exchange item class {item_class} (rule auto-reply)")
    elif item_class.startswith("report."):
        for suffix, label in _RECEIPT_ITEM_SUFFIXES:
            if item_class.endswith(suffix):
                evidence.add(f"Exchange item class {item_class} ({label})")
                break

    auto = _auto_submitted(mail)
    if auto is not None:
        evidence.add(_shown("Auto-Submitted", auto), out_of_office="vacation" in auto.lower())
    for name in _AUTOREPLY_HEADERS:
        value = mail.header(name)
        if value is not None and _token(value) not in _FALSE_VALUES:
            # vacation(1) and friends name themselves; ticket systems say "yes".
            vacation = _ABSENCE_WORDS_RE.search(value) is not None
            evidence.add(_shown(name, value), out_of_office=vacation)
    precedence = _token(mail.header("Precedence"))
    if precedence in _PRECEDENCE_AUTO:
        evidence.add(_shown("Precedence", precedence))
    if (
        mail.header("X-Auto-Response-Suppress") is not None
        and mail.header("X-MS-Exchange-Inbox-Rules-Loop") is not None
    ):
        evidence.add(
            "Exchange out-of-office pair (X-Auto-Response-Suppress + "
            "X-MS-Exchange-Inbox-Rules-Loop)",
            out_of_office=True,
        )
    if _token(mail.header("X-Apple-Action")) == "vacation":
        evidence.add("X-Apple-Action: VACATION", out_of_office=True)
    machine = _machine_evidence(mail)
    if machine:
        ses = _SES_NOTIFICATION_RE.search(_body_sample(mail))
        if ses:
            evidence.add(f"Amazon SES {ses.group('kind').lower()} notification")
    if _null_return_path(mail):
        evidence.add("empty Return-Path (null envelope sender)")

    if not evidence.reasons:
        return evidence
    source = mail.header("X-MS-Exchange-Generated-Message-Source")
    if source is not None:
        evidence.add(_shown("X-MS-Exchange-Generated-Message-Source", source))
    # An absence subject makes it an OOF only next to a *reply* header: a newsletter
    # with `Precedence: bulk` about "holiday opening hours" is not an absence notice.
    replied = (
        _token(auto) == "auto-replied"
        or any(mail.header(name) is not None for name in _AUTOREPLY_HEADERS)
        or precedence == "auto_reply"
        or _null_return_path(mail)
        or (auto is not None and _AUTO_SUBJECT_RE.match(mail.subject) is not None)
    )
    if replied and _ABSENCE_WORDS_RE.search(mail.subject):
        evidence.add(_shown("absence subject", mail.subject), out_of_office=True)
    return evidence


def _list(mail: InboundMail) -> list[str]:
    return [
        _shown(name, value) for name in _LIST_HEADERS if (value := mail.header(name)) is not None
    ]


def classify(
    mail: InboundMail, *, own_addresses: frozenset[str], item_class: str | None = None
) -> Classification:
    """Classify one inbound mail; the rule order is explained in the module docstring.

    ``item_class`` is Exchange's ItemClass when the backend is EWS/Graph: it
    is the only trace of an NDR or OOF that Exchange hands over as an item
    rather than as MIME headers.
    """
    own = frozenset(address.strip().lower() for address in own_addresses)
    klass = (item_class or "").strip().lower()

    reasons = _own(mail, own)
    if reasons:
        return Classification(MailClass.OWN, tuple(reasons))

    reasons = _bounce(mail, klass)
    if reasons:
        return Classification(MailClass.BOUNCE, tuple(reasons))

    evidence = _auto_reply(mail, klass)
    if evidence.reasons:
        return Classification(
            MailClass.AUTO_REPLY, tuple(evidence.reasons), out_of_office=evidence.out_of_office
        )

    reasons = _list(mail)
    if reasons:
        return Classification(MailClass.LIST, tuple(reasons))

    if _AUTO_SUBJECT_RE.match(mail.subject):
        hint = _shown("subject looks automatic but no header says so", mail.subject)
        return Classification(MailClass.NORMAL, (hint,), hint_only=True)
    return Classification(MailClass.NORMAL, ())


# --- failed recipients -----------------------------------------------------------

# flufl.bounce 6.0.0's SimpleMatch validates addresses with `[a-z0-9._]+` as the
# domain, so every address at a hyphenated domain (t-online.de, ...) is dropped.
_VALID_ADDRESS_RE = re.compile(rb"^[\x21-\x3d\x3f\x41-\x7e]+@[a-z0-9._-]+$", re.IGNORECASE)
_QUOPRI_RE = re.compile(r"=([0-9a-fA-F]{2})")


def _simplematch_with_hyphens(message: Message) -> frozenset[bytes]:
    """SimpleMatch's own patterns and loop, with a validity check that allows hyphens."""
    # Private module: imported here so a flufl.bounce reshuffle only disables this
    # fallback (failed_recipients guards every exception) instead of breaking imports.
    from flufl.bounce._detectors.simplematch import SimpleMatch

    for start, end, address_re in SimpleMatch.PATTERNS:
        found: set[bytes] = set()
        tag_seen = False
        for line in body_line_iterator(message):
            if not tag_seen and start.search(line):
                tag_seen = True
            if not tag_seen:
                continue
            match = address_re.search(line)
            if match is not None:
                if address := match.group("addr"):
                    unquoted = _QUOPRI_RE.sub(lambda m: chr(int(m.group(1), 16)), address)
                    found.add(unquoted.encode("ascii", "ignore").strip())
            elif end.search(line):
                break
        if found:
            return frozenset(a for a in found if _VALID_ADDRESS_RE.match(a))
    return frozenset()


def failed_recipients(raw: bytes) -> tuple[list[str], list[str]]:
    """(permanent, temporary) failed addresses of a bounce, lower-cased and deduplicated.

    Uses flufl.bounce's detector chain (`all_failures`, the sibling of
    `scan_message` that also reports temporary failures). Detectors are
    heuristics over arbitrary input and flufl re-raises their exceptions, so
    any failure means "nothing found" rather than a crashed mail loop.
    """
    try:
        message = message_from_bytes(raw, policy=compat32)
        temporary, permanent = all_failures(message)
        if not temporary and not permanent:
            permanent = _simplematch_with_hyphens(message)
    except Exception:
        return [], []
    permanent_list = _addresses(permanent)
    return permanent_list, [a for a in _addresses(temporary) if a not in permanent_list]


def _addresses(found: frozenset[bytes]) -> list[str]:
    result: dict[str, None] = {}
    for item in sorted(found):
        text = item.decode("utf-8", "replace").strip().strip("<>").strip().lower()
        if "@" in text:
            result[text] = None
    return list(result)
