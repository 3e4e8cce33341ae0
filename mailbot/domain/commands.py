"""The command word of a staff reply, and its arguments.

Staff steer a case by replying with a command word on the first line above the
quoted text ("AKKOORD", "PAUZE 5 werkdagen", "ONTVANGER: jan@acme.nl"). Dutch is
canonical; the English word is always accepted too.

The rule is SPEC §12's, the same for every verb: the command is the first word
of the first non-empty line, case-insensitive, with accents folded (BEËINDIGD =
BEEINDIGD), Outlook's "**bold**" markers and trailing punctuation ignored.
Arguments and free text may follow on that line, with or without a separator,
and on the next lines: "Akkoord met het verbeterplan" is AKKOORD, "Escaleer
maar" is ESCALEER, "Opgelost sinds vanochtend" is OPGELOST. An owner who starts
a reply with the word has decided; reading it as a note would let the ladder
run on while the owner believes the case is closed.

What follows the word is read as the verb's argument where it takes one; an
argument that cannot be read is a `CommandError`, so the sender hears what was
wrong and nothing changes ("Pauze tot maandag" asks for working days,
"Overdragen aan Piet" for an address). The guards that remain:

* NIET (unlink) is also the Dutch "not", so it only counts alone on the line
  (punctuation or politeness allowed): "Niet akkoord" and "niet mee eens" are
  disagreement, recorded as a note, and never AKKOORD (SPEC §12). The English
  UNLINK follows the general rule.
* A "?" right after the word makes a question, not a decision: "Akkoord?" is a
  note. HELP and STATUS are questions anyway, so "Help?" and "Status?" count.
* STATUS reads a case number right after the word; a malformed one ("STATUS
  ESC-26-1") is an error, other free text ("Status update: …") does not stop
  the (read-only) status answer.
* A first word that is not a command but is one or two typing errors away from
  one ("AKOORD", "Akord met de planning") is a `NearMiss`, so mailbot can ask
  what was meant; real words that merely look like a command ("Ontvangen",
  "Niets") are not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

__all__ = [
    "Command",
    "CommandError",
    "NearMiss",
    "Verb",
    "find_case_refs",
    "parse_command",
    "parse_date",
]


class Verb(StrEnum):
    """A command; the value is the canonical Dutch word."""

    RESOLVED = "OPGELOST"
    ACCEPT = "AKKOORD"
    REJECT = "ONVOLDOENDE"
    PAUSE = "PAUZE"
    RESUME = "HERVAT"
    EXTEND = "VERLENG"
    ESCALATE = "ESCALEER"
    SEND = "VERSTUUR"
    STATUS = "STATUS"
    WITHDRAW = "INTREKKEN"
    HELP = "HELP"
    TERMINATED = "BEEINDIGD"
    CONTINUED = "VOORTGEZET"
    RECEIVER = "ONTVANGER"
    PROVIDER = "GEVER"
    GIVEN = "GEGEVEN"
    CAP = "CAP"
    NO_CAP = "GEEN CAP"
    DONE = "UITGEVOERD"
    LINK = "KOPPEL"
    UNLINK = "NIET"
    HANDOVER = "OVERDRAGEN"
    CLOSE = "SLUITEN"

    @property
    def english(self) -> str:
        """The English word staff may use instead, for replies in English."""
        return _ENGLISH[self]


_ENGLISH: Final[dict[Verb, str]] = {
    Verb.RESOLVED: "RESOLVED",
    Verb.ACCEPT: "ACCEPT",
    Verb.REJECT: "REJECT",
    Verb.PAUSE: "PAUSE",
    Verb.RESUME: "RESUME",
    Verb.EXTEND: "EXTEND",
    Verb.ESCALATE: "ESCALATE",
    Verb.SEND: "SEND",
    Verb.STATUS: "STATUS",
    Verb.WITHDRAW: "WITHDRAW",
    Verb.HELP: "HELP",
    Verb.TERMINATED: "TERMINATED",
    Verb.CONTINUED: "CONTINUED",
    Verb.RECEIVER: "RECEIVER",
    Verb.PROVIDER: "PROVIDER",
    Verb.GIVEN: "GIVEN",
    Verb.CAP: "CAP",
    Verb.NO_CAP: "NO CAP",
    Verb.DONE: "DONE",
    Verb.LINK: "LINK",
    Verb.UNLINK: "UNLINK",
    Verb.HANDOVER: "HANDOVER",
    Verb.CLOSE: "CLOSE",
}

# Every accepted spelling (folded, upper case) to its verb.
_WORDS: Final[dict[str, Verb]] = {
    **{verb.value: verb for verb in Verb},
    **{word: verb for verb, word in _ENGLISH.items()},
    "HULP": Verb.HELP,
    "GEENCAP": Verb.NO_CAP,
    "NOCAP": Verb.NO_CAP,
}

# Questions by nature: a "?" after them does not turn them into a note.
_QUERIES: Final = frozenset({Verb.HELP, Verb.STATUS})


@dataclass(frozen=True, slots=True)
class Command:
    """A recognised command with whatever its arguments said.

    `argument` is the rest of the command line after the word and its
    separator; `body` the lines below it; `text` the free text of the command
    (CAP text, VOORTGEZET remark, reason after ONVOLDOENDE) without the lines
    that were parsed into fields and without a closing greeting.
    """

    verb: Verb
    argument: str = ""
    body: str = ""
    word: str = ""  # the spelling used, folded and upper case ("ACCEPT", "AKKOORD")
    text: str = ""
    days: int | None = None  # PAUZE / VERLENG, in working days
    case_ref: str | None = None  # STATUS / KOPPEL
    receivers: tuple[str, ...] = ()  # ONTVANGER
    provider: str | None = None  # GEVER line or GEVER command
    record: bool = False  # GEGEVEN … DOSSIER
    due: date | None = None  # CAP … Gereed:
    email: str | None = None  # OVERDRAGEN
    # written plainly as a command: in capitals, alone, or followed by a separator
    # ("Gegeven, met taart"), as opposed to a sentence that opens with the word
    plain: bool = True

    @property
    def remark(self) -> str:
        """What the command's own line says besides the word and a case number: "Status
        update: bij ons faalt het ook" is a sentence, "STATUS ESC-2026-0007" a question."""
        line = self.argument.replace(self.case_ref, "") if self.case_ref else self.argument
        return line.strip(" \t,.:;!?-")

    @property
    def english(self) -> bool:
        """True when the sender used an English-only word (answer in English)."""
        return self.word == self.verb.english and self.word != self.verb.value


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A first word that looks like a mistyped command: ask what was meant."""

    word: str
    suggestion: Verb


@dataclass(frozen=True, slots=True)
class CommandError:
    """A recognised command whose arguments could not be understood."""

    verb: Verb
    message_nl: str
    message_en: str


# --------------------------------------------------------------------------- #
# Text helpers
# --------------------------------------------------------------------------- #


def _fold(text: str) -> str:
    """Strip accents (NFKD, drop combining marks) but keep case."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_DECORATION: Final = "*_~#\"'“”‘’`"
_SEPARATORS: Final = ",;:.!-–—"
_FIRST_WORD_RE: Final = re.compile(r"[^\W\d_]+")
_TWO_WORDS_RE: Final = re.compile(r"(geen|no)[\s_-]*(cap)(?![^\W\d_])", re.IGNORECASE)

# Politeness that may follow any command without making it prose.
_POLITE: Final = (
    "dank je wel",
    "dank u wel",
    "dank je",
    "dank u",
    "thank you",
    "dankjewel",
    "dankuwel",
    "bedankt",
    "graag",
    "alsjeblieft",
    "alstublieft",
    "aub",
    "a.u.b.",
    "a.u.b",
    "svp",
    "please",
    "pls",
    "thanks",
    "thx",
    "hoor",
)
_POLITE_ALTERNATIVES: Final = "|".join(re.escape(p) for p in _POLITE)
# Separators are only eaten after a word, so a failing match cannot backtrack wildly.
_POLITE_RE: Final = re.compile(
    rf"^[\s,.!;:-]*(?:(?:{_POLITE_ALTERNATIVES})(?![^\W\d_])[\s,.!;:-]*)*$", re.IGNORECASE
)
_POLITE_TAIL_RE: Final = re.compile(
    rf"(?:^|(?<=[\s,;:.!-]))(?:{_POLITE_ALTERNATIVES})[\s,.;:!]*$", re.IGNORECASE
)
_PUNCT_ONLY_RE: Final = re.compile(r"^[\s.,;:!?*_~\-–—)(]*$")


def _is_polite_or_empty(text: str) -> bool:
    return bool(_PUNCT_ONLY_RE.match(text) or _POLITE_RE.match(text))


def _strip_polite_tail(text: str) -> str:
    """Drop trailing politeness: "5 werkdagen graag" -> "5 werkdagen"."""
    previous = None
    while previous != text:
        previous = text
        text = _POLITE_TAIL_RE.sub("", text).rstrip(" ,;:.!?")
    return text.strip()


_CLOSING_RE: Final = re.compile(
    r"^(?:met )?(?:vriendelijke |hartelijke |beste )?groet(?:en|jes)?\b|^mvg\b|^gr(?:\.|\b)"
    r"|^(?:kind |best |warm )?regards\b|^cheers\b|^thanks\b|^bedankt\b|^dank(?:je| je| u)\b",
    re.IGNORECASE,
)


def _until_closing(lines: Sequence[str]) -> list[str]:
    """Lines up to a closing greeting, so a CAP text does not end in a signature."""
    kept: list[str] = []
    for line in lines:
        if _CLOSING_RE.match(line.strip()):
            break
        kept.append(line)
    return kept


def _join(lines: Sequence[str]) -> str:
    return "\n".join(lines).strip()


# --------------------------------------------------------------------------- #
# Field parsers
# --------------------------------------------------------------------------- #

_CASE_REF_RE: Final = re.compile(r"(?<![\w-])(ESC|CMP)-(\d{4})-(\d{4})(?![\w-])", re.IGNORECASE)
_CASE_REF_ATTEMPT_RE: Final = re.compile(r"^(?:esc|cmp)\b", re.IGNORECASE)


def find_case_refs(text: str) -> list[str]:
    """Every ESC-YYYY-NNNN / CMP-YYYY-NNNN tag, upper-cased, in order, once."""
    seen: dict[str, None] = {}
    for match in _CASE_REF_RE.finditer(text):
        seen.setdefault(match.group(0).upper(), None)
    return list(seen)


_EMAIL_RE: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")


def _emails(text: str) -> list[str]:
    return [m.group(0).lower() for m in _EMAIL_RE.finditer(text.replace("mailto:", " "))]


_NUMBER_WORDS: Final[dict[str, int]] = {
    **dict.fromkeys(["een", "one"], 1),
    **dict.fromkeys(["twee", "two"], 2),
    **dict.fromkeys(["drie", "three"], 3),
    **dict.fromkeys(["vier", "four"], 4),
    **dict.fromkeys(["vijf", "five"], 5),
    **dict.fromkeys(["zes", "six"], 6),
    **dict.fromkeys(["zeven", "seven"], 7),
    **dict.fromkeys(["acht", "eight"], 8),
    **dict.fromkeys(["negen", "nine"], 9),
    **dict.fromkeys(["tien", "ten"], 10),
    **dict.fromkeys(["elf", "eleven"], 11),
    **dict.fromkeys(["twaalf", "twelve"], 12),
    **dict.fromkeys(["vijftien", "fifteen"], 15),
    **dict.fromkeys(["twintig", "twenty"], 20),
}
_DAYS_RE: Final = re.compile(
    r"^(?:(?:met|by|with|voor|for|nog|another)\s+)?"
    r"(?P<n>\d{1,3}|[^\W\d_]+)\s*"
    r"(?:werk\s*dag(?:en)?|working\s*days?|work\s*days?|business\s*days?|wd)?$",
    re.IGNORECASE,
)
_MAX_DAYS: Final = 250


def _parse_days(text: str) -> int | None:
    """ "5", "5 werkdagen", "met 5 working days", "vijf werkdagen" -> 5; else None."""
    match = _DAYS_RE.match(_strip_polite_tail(text))
    if not match:
        return None
    raw = match["n"].lower()
    number = int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw)
    if number is None or not 1 <= number <= _MAX_DAYS:
        return None
    return number


_MONTHS: Final[dict[str, int]] = {
    **dict.fromkeys(["januari", "january", "jan", "janv"], 1),
    **dict.fromkeys(["februari", "february", "feb", "febr"], 2),
    **dict.fromkeys(["maart", "march", "mrt", "mar", "maa"], 3),
    **dict.fromkeys(["april", "apr"], 4),
    **dict.fromkeys(["mei", "may"], 5),
    **dict.fromkeys(["juni", "june", "jun"], 6),
    **dict.fromkeys(["juli", "july", "jul"], 7),
    **dict.fromkeys(["augustus", "august", "aug"], 8),
    **dict.fromkeys(["september", "sep", "sept"], 9),
    **dict.fromkeys(["oktober", "october", "okt", "oct"], 10),
    **dict.fromkeys(["november", "nov"], 11),
    **dict.fromkeys(["december", "dec"], 12),
}
_WEEKDAYS: Final = (
    r"(?:maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag"
    r"|ma|di|wo|do|vr|za|zo|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\.?,?\s+"
)
_NUMERIC_DMY_RE: Final = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_ISO_RE: Final = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_MONTH_YEAR_RE: Final = re.compile(
    r"^(\d{1,2})(?:st|nd|rd|th|e)?\s+([^\W\d_]+)\.?,?\s+(\d{4})$"
)
_MONTH_DAY_YEAR_RE: Final = re.compile(r"^([^\W\d_]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")


def parse_date(text: str) -> date | None:
    """A written due date: "12-01-2027", "12 januari 2027", "2027-01-12", "12 jan 2027",
    "January 12, 2027", "12 January 2027" (optionally after a weekday). None if not a date.

    Numeric dates are day-first (Dutch usage); a year is required because a
    pure function has no clock to guess it from.
    """
    cleaned = _fold(text).strip().rstrip(".").lower()
    cleaned = re.sub(rf"^{_WEEKDAYS}", "", cleaned)
    parts: tuple[int, int, int] | None = None
    if match := _NUMERIC_DMY_RE.match(cleaned):
        parts = (int(match[3]), int(match[2]), int(match[1]))
    elif match := _ISO_RE.match(cleaned):
        parts = (int(match[1]), int(match[2]), int(match[3]))
    elif (match := _DAY_MONTH_YEAR_RE.match(cleaned)) and match[2] in _MONTHS:
        parts = (int(match[3]), _MONTHS[match[2]], int(match[1]))
    elif (match := _MONTH_DAY_YEAR_RE.match(cleaned)) and match[1] in _MONTHS:
        parts = (int(match[3]), _MONTHS[match[1]], int(match[2]))
    if parts is None:
        return None
    try:
        return date(*parts)
    except ValueError:
        return None


_DUE_LINE_RE: Final = re.compile(r"^[\s*_]*(?:gereed|due|deadline)[\s*_]*:[\s*_]*(.*)$", re.I)
_PROVIDER_LINE_RE: Final = re.compile(
    r"^[\s*_]*(?:gever|provider)(?![^\W\d_])[\s*_]*:?[\s*_]*(.*)$", re.I
)
_RECORD_RE: Final = re.compile(r"^[\s*_]*(?:dossier|record)(?![^\W\d_])[\s*_.!]*$", re.I)


# --------------------------------------------------------------------------- #
# Near misses
# --------------------------------------------------------------------------- #

# Real words one or two letters away from a command, common enough at the start of
# a reply ("Ontvangen, dank je", "Niets aan de hand", "Links hieronder") that asking
# "did you mean …" would annoy.
_NOT_A_NEAR_MISS: Final = frozenset(
    {
        "ONTVANGEN",
        "GEGEVENS",
        "CAUSE",
        "EXCEPT",
        "RESULT",
        "DOEN",
        "VERSTUURD",
        "GEKOPPELD",
        "RECEIVED",
        "STATUSSEN",
        "HELPT",
        "HELE",
        "NIETS",
        "OPGELET",
        "LINKS",
        "NONE",
        "SENT",
    }
)


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance: Levenshtein plus adjacent swaps."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _near_miss(word: str) -> Verb | None:
    """The command this word is probably a typo of, if any.

    Tolerance follows the command's length: none for short words (CAP), one
    edit for four or five letters (HELP, NIET, PAUZE), two from six on.
    """
    if len(word) < 4 or word in _NOT_A_NEAR_MISS:
        return None
    best: tuple[int, Verb] | None = None
    for spelling, verb in _WORDS.items():
        if " " in spelling or len(spelling) < 4:
            continue
        allowed = 1 if len(spelling) <= 5 else 2
        if abs(len(spelling) - len(word)) > allowed:
            continue
        dist = _distance(word, spelling)
        if 0 < dist <= allowed and (best is None or dist < best[0]):
            best = (dist, verb)
    return None if best is None else best[1]


# --------------------------------------------------------------------------- #
# Parsing
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class _Line:
    """The command line taken apart."""

    word: str  # folded, upper case, single space
    written: str  # as written (folded), to quote back in a near miss
    argument: str  # rest after the word and its separator
    question: bool
    plain: bool  # in capitals, alone, or followed by a separator


def _split_line(line: str) -> _Line | None:
    head = _fold(line).strip().lstrip(_DECORATION + " \t")
    match = _TWO_WORDS_RE.match(head) or _FIRST_WORD_RE.match(head)
    if not match:
        return None
    written = match.group(0)
    word = written.upper()
    if match.re is _TWO_WORDS_RE:
        word = "NO CAP" if match[1].upper() == "NO" else "GEEN CAP"
    rest = head[match.end() :].lstrip(_DECORATION).strip()
    question = rest.startswith("?")
    argument = rest.lstrip(_SEPARATORS + "?" + _DECORATION + " \t").rstrip(_DECORATION + " \t")
    plain = written.isupper() or not rest or rest[0] in _SEPARATORS
    return _Line(word, written, argument, question, plain)


def parse_command(new_text: str) -> Command | NearMiss | CommandError | None:
    """The command of a staff reply's new text (output of `replytext.new_text`).

    None means "no command: record the reply as a note".
    """
    lines = new_text.splitlines()
    index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if index is None:
        return None
    parts = _split_line(lines[index])
    if parts is None:
        return None
    body_lines = [line.rstrip() for line in lines[index + 1 :]]
    verb = _WORDS.get(parts.word)
    if verb is None:
        suggestion = _near_miss(parts.word)
        if suggestion is Verb.UNLINK and not _is_polite_or_empty(parts.argument):
            suggestion = None  # NIET counts only alone, so "Piet belde net" is no typo of it
        if suggestion is not None and not parts.question:
            return NearMiss(parts.written, suggestion)
        return None
    if parts.question and verb not in _QUERIES:
        return None
    return _HANDLERS.get(verb, _plain)(verb, parts, body_lines)


def _command(
    verb: Verb,
    parts: _Line,
    body_lines: Sequence[str],
    *,
    text: str | None = None,
    days: int | None = None,
    case_ref: str | None = None,
    receivers: tuple[str, ...] = (),
    provider: str | None = None,
    record: bool = False,
    due: date | None = None,
    email: str | None = None,
) -> Command:
    if text is None:
        text = _join([parts.argument, *_until_closing(body_lines)])
    return Command(
        verb=verb,
        argument=parts.argument,
        body=_join(body_lines),
        word=parts.word,
        text=text,
        days=days,
        case_ref=case_ref,
        receivers=receivers,
        provider=provider,
        record=record,
        due=due,
        email=email,
        plain=parts.plain,
    )


def _plain(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    """Verbs without arguments: whatever follows the word is free text."""
    return _command(verb, parts, body)


def _unlink(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    """NIET only alone: it is also the Dutch "not", so "Niet akkoord" and "NIET AKKOORD"
    are disagreement (a note), not unlink. UNLINK has no such second meaning."""
    if parts.word != verb.value or _is_polite_or_empty(parts.argument):
        return _command(verb, parts, body)
    return None


# Where free text starts after a day count: a separator followed by a space or the end,
# so "2.5 werkdagen" is not read as 2.
_FREE_TEXT_RE: Final = re.compile(r"\s*(?:[,;:!.\u2013\u2014]|\s-)(?=\s|$)")


def _days(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    """PAUZE [n werkdagen] / VERLENG n, free text allowed after the count and a separator
    ("VERLENG 5 werkdagen, ze wachten op onderdelen"). Anything else in the place of
    the count is an error, not a guess: "Pauze tot maandag" must not pause for ever."""
    required = verb is Verb.EXTEND
    if _is_polite_or_empty(parts.argument) and not required:
        return _command(verb, parts, body)
    days = _parse_days(parts.argument)
    if days is None:
        days = _parse_days(_FREE_TEXT_RE.split(parts.argument, maxsplit=1)[0])
    if days is not None:
        return _command(verb, parts, body, days=days)
    word = verb.value
    return CommandError(
        verb,
        f"Geef het aantal werkdagen (1-{_MAX_DAYS}), bijvoorbeeld: {word} 5 werkdagen",
        f"Give the number of working days (1-{_MAX_DAYS}), for example: {verb.english} 5 "
        "working days",
    )


_REF_FILLER_RE: Final = re.compile(r"^(?:van|voor|of|for|from|aan|met|to|with)\s+", re.I)


def _status(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    """STATUS [case number] [free text]: "Status update: …" asks for this case's status."""
    argument = _REF_FILLER_RE.sub("", _strip_polite_tail(parts.argument)).strip()
    if match := _CASE_REF_RE.match(argument):
        return _command(verb, parts, body, case_ref=match[0].upper())
    if _CASE_REF_ATTEMPT_RE.match(argument):
        return CommandError(
            verb,
            "Geef een zaaknummer als ESC-2026-0001 of CMP-2026-0001, of laat het weg.",
            "Give a case number such as ESC-2026-0001 or CMP-2026-0001, or leave it out.",
        )
    return _command(verb, parts, body)


def _link(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    argument = _REF_FILLER_RE.sub("", _strip_polite_tail(parts.argument)).strip()
    if _CASE_REF_RE.fullmatch(argument):
        return _command(verb, parts, body, case_ref=argument.upper())
    return _plain(verb, parts, body)


def _handover(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    found = _emails(parts.argument)
    if len(found) == 1:
        return _command(verb, parts, body, email=found[0])
    return CommandError(
        verb,
        "Geef precies één e-mailadres, bijvoorbeeld: OVERDRAGEN jan@voorbeeld.nl",
        "Give exactly one email address, for example: HANDOVER jan@example.com",
    )


def _provider_value(verb: Verb, value: str) -> str | CommandError:
    found = _emails(value)
    if len(found) != 1:
        return CommandError(
            verb,
            f"GEVER verwacht één e-mailadres, niet '{value.strip()}'.",
            f"PROVIDER expects one email address, not '{value.strip()}'.",
        )
    return found[0]


def _provider(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    if not parts.argument:
        return _command(verb, parts, body)
    provider = _provider_value(verb, parts.argument)
    if isinstance(provider, CommandError):
        return provider
    return _command(verb, parts, body, provider=provider)


def _receivers(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    receivers: list[str] = []
    for raw in re.split(r"[,;]", parts.argument):
        item = raw.strip().strip(".").replace("mailto:", "").strip()
        if not item:
            continue
        if "@" in item and len(_emails(item)) != 1:
            return CommandError(
                verb,
                f"'{item}' is geen geldig e-mailadres.",
                f"'{item}' is not a valid email address.",
            )
        receivers.append(item)
    if not receivers:
        return CommandError(
            verb,
            "Geef na ONTVANGER: een e-mailadres, naam of team, bijvoorbeeld: "
            "ONTVANGER: jan@voorbeeld.nl",
            "Give an email address, name or team after RECEIVER:, for example: "
            "RECEIVER: jan@example.com",
        )
    provider: str | None = None
    rest: list[str] = []
    for line in body:
        match = _PROVIDER_LINE_RE.match(_fold(line)) if provider is None else None
        if match:
            value = _provider_value(Verb.PROVIDER, match[1])
            if isinstance(value, CommandError):
                return CommandError(verb, value.message_nl, value.message_en)
            provider = value
        else:
            rest.append(line)
    return _command(
        verb,
        parts,
        body,
        receivers=tuple(receivers),
        provider=provider,
        text=_join(_until_closing(rest)),
    )


def _given(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    record = False
    argument = parts.argument
    first_word = argument.split(maxsplit=1)[0] if argument else ""
    if _RECORD_RE.match(first_word):
        record = True
        argument = argument[len(first_word) :].strip(" ,;:.-")
    following = [line for line in body if line.strip()]
    rest = list(body)
    if not record and following and _RECORD_RE.match(following[0]):
        record = True
        rest.remove(following[0])
    text = _join([argument, *_until_closing(rest)])
    return _command(verb, parts, body, record=record, text=text)


def _cap(verb: Verb, parts: _Line, body: Sequence[str]) -> Command | CommandError | None:
    due: date | None = None
    text_lines: list[str] = [parts.argument]
    for line in body:
        match = _DUE_LINE_RE.match(line)
        if match and due is None:
            due = parse_date(match[1])
            if due is None:
                return CommandError(
                    verb,
                    f"'{match[1].strip()}' is geen datum; schrijf bijvoorbeeld Gereed: 12-01-2027.",
                    f"'{match[1].strip()}' is not a date; write for example Due: 12 January 2027.",
                )
        else:
            text_lines.append(line)
    text = _join(_until_closing(text_lines))
    if not text:
        return CommandError(
            verb,
            "Geef de tekst van het verbeterplan na CAP:, eventueel met een regel Gereed: <datum>.",
            "Give the corrective action text after CAP:, optionally with a line Due: <date>.",
        )
    return _command(verb, parts, body, due=due, text=text)


_HANDLERS: Final = {
    Verb.UNLINK: _unlink,
    Verb.PAUSE: _days,
    Verb.EXTEND: _days,
    Verb.STATUS: _status,
    Verb.LINK: _link,
    Verb.HANDOVER: _handover,
    Verb.PROVIDER: _provider,
    Verb.RECEIVER: _receivers,
    Verb.GIVEN: _given,
    Verb.CAP: _cap,
}
