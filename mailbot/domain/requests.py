"""Understanding a staff mail that opens an escalation case.

Subject: `Escalatie <supplier>: <shortfall>` (or `Escalation …`), supplier by
id or name. Optional body lines: `Termijn: 5 werkdagen`, `Start: stap 2`,
`KPI: …`, `Incident: …` (English: `Deadline: 5 working days`, `Start: step 2`).
Everything else in the body describes the shortfall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.domain.subjects import REPLY_PREFIXES, strip_prefixes

_OPEN_RE = re.compile(r"^(?:escalatie|escalation)\b\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_DEADLINE_RE = re.compile(
    r"^\s*(?:termijn|deadline)\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE | re.MULTILINE
)
_START_RE = re.compile(r"^\s*start\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE | re.MULTILINE)
_FIELD_RE = re.compile(
    r"^\s*(?P<name>kpi|incident)\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE | re.MULTILINE
)
_DAYS_RE = re.compile(
    r"^(?P<n>\d{1,3})(?:\s*(?:werkdagen|werkdag|working\s+days?|wd|dagen|days?))?\.?$",
    re.IGNORECASE,
)
_STEP_RE = re.compile(r"^(?:stap|step)?\s*(?P<n>\d)\.?$", re.IGNORECASE)


@dataclass(frozen=True)
class EscalationRequest:
    supplier: str  # as written: an id or a name
    shortfall: str
    description: str
    deadline_days: int | None = None
    start_step: int = 1
    kpi: str | None = None
    incident: str | None = None


@dataclass(frozen=True)
class RequestProblem:
    """What is wrong with an opening mail; `code` selects the explanation."""

    code: str  # missing_supplier | missing_shortfall | bad_deadline | bad_start
    value: str = ""
    supplier: str = ""


def is_opening(subject: str) -> bool:
    """Does this subject ask to open an escalation? Replies never do."""
    text, replied, _ = strip_prefixes(subject)
    if replied or any(text.lower().startswith(p + ":") for p in REPLY_PREFIXES):
        return False
    return bool(_OPEN_RE.match(text))


def parse_request(subject: str, body: str) -> EscalationRequest | RequestProblem:
    """Read an opening mail (call only when `is_opening(subject)`)."""
    text, _, _ = strip_prefixes(subject)
    match = _OPEN_RE.match(text)
    rest = match.group("rest").strip() if match else ""
    supplier, colon, shortfall = rest.partition(":")
    supplier, shortfall = supplier.strip(), shortfall.strip()
    if not supplier:
        return RequestProblem("missing_supplier")
    if not colon or not shortfall:
        return RequestProblem("missing_shortfall", supplier=supplier)
    deadline_days: int | None = None
    found = _DEADLINE_RE.search(body)
    if found:
        days = _DAYS_RE.match(found.group("value"))
        if not days or not 1 <= int(days.group("n")) <= 365:
            return RequestProblem("bad_deadline", value=found.group("value"), supplier=supplier)
        deadline_days = int(days.group("n"))
    start_step = 1
    found = _START_RE.search(body)
    if found:
        step = _STEP_RE.match(found.group("value"))
        if not step or not 1 <= int(step.group("n")) <= 5:
            return RequestProblem("bad_start", value=found.group("value"), supplier=supplier)
        start_step = int(step.group("n"))
    fields = {m.group("name").lower(): m.group("value") for m in _FIELD_RE.finditer(body)}
    description = _DEADLINE_RE.sub("", body)
    description = _START_RE.sub("", description)
    description = _FIELD_RE.sub("", description)
    description = re.sub(r"\n{3,}", "\n\n", description).strip()
    return EscalationRequest(
        supplier=supplier,
        shortfall=shortfall,
        description=description,
        deadline_days=deadline_days,
        start_step=start_step,
        kpi=fields.get("kpi") or None,
        incident=fields.get("incident") or None,
    )
