"""Suggesting who a compliment is for: names and teams from the directory found in the text.

The coordinator decides; mailbot only points and says how sure it is:
- a full name ("Piet de Vries") or an address in the text: sure;
- a last name that only one person in the directory has: likely;
- a first name that only one person has: possible;
- a team name: the team (its members are the receivers).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

SURE, LIKELY, POSSIBLE = "sure", "likely", "possible"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    team: str = ""


@dataclass(frozen=True)
class Suggestion:
    receiver: str  # an email, or a team name when `team`
    label: str  # what to show: the name or the team
    confidence: str  # sure | likely | possible
    why: str
    team: bool = False


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _mentions(text: str, phrase: str) -> bool:
    phrase = _fold(phrase).strip()
    if len(phrase) < 3:
        return False
    return re.search(r"(?<![\w])" + re.escape(phrase) + r"(?![\w])", text) is not None


_PARTICLES = {"van", "de", "der", "den", "het", "ter", "ten", "la", "le", "du", "von", "da"}


def _last_name(name: str) -> str:
    parts = name.split()
    if len(parts) < 2:
        return ""
    rest = parts[1:]
    while len(rest) > 1 and rest[0].lower() in _PARTICLES:
        rest = rest[1:]
    return rest[-1] if rest else ""


def suggest(
    text: str, people: Sequence[Person], *, exclude: Sequence[str] = ()
) -> list[Suggestion]:
    """Best first; at most one suggestion per person or team."""
    folded = _fold(text)
    found: dict[str, Suggestion] = {}
    skip = {e.lower() for e in exclude}
    candidates = [p for p in people if p.email.lower() not in skip]
    for person in candidates:
        if person.email.lower() in folded or (
            len(person.name.split()) > 1 and _mentions(folded, person.name)
        ):
            found[person.email] = Suggestion(
                person.email, person.name, SURE, "full name in the text"
            )
    for label, part, confidence in (
        ("last name", _last_name, LIKELY),
        ("first name", lambda n: n.split()[0] if n.split() else "", POSSIBLE),
    ):
        counts: dict[str, list[Person]] = {}
        for person in candidates:
            key = _fold(part(person.name))
            if key:
                counts.setdefault(key, []).append(person)
        for key, owners in counts.items():
            if len(owners) == 1 and owners[0].email not in found and _mentions(folded, key):
                person = owners[0]
                found[person.email] = Suggestion(
                    person.email, person.name, confidence, f"{label} in the text"
                )
    teams = sorted({p.team for p in candidates if p.team})
    for team in teams:
        if _mentions(folded, team):
            found["team:" + team] = Suggestion(team, team, SURE, "team name in the text", team=True)
    order = {SURE: 0, LIKELY: 1, POSSIBLE: 2}
    return sorted(found.values(), key=lambda s: (order[s.confidence], s.team, s.label))
