"""Subject lines: the prefixes mail clients add, and the case tag mailbot puts in.

Clients in every language prefix replies and forwards (Re, RE, Antw, AW, SV,
Fwd, FW, Doorst, TR, WG, …), sometimes several times and with counters
(`RE[2]:`), sometimes after a `[EXTERNAL]` banner that a mail gateway added.
"""

from __future__ import annotations

import re

REPLY_PREFIXES = ("re", "antw", "aw", "sv", "vs", "ref", "rif", "odp", "res", "ynt", "atb")
FORWARD_PREFIXES = ("fw", "fwd", "doorst", "tr", "wg", "vb", "rv", "fs", "i", "enc", "pd")
_PREFIX_RE = re.compile(
    r"^\s*(?:(?P<word>[a-z]{1,6})(?:\s*[\[(]\d+[\])])?\s*[:：]\s*|\[(?:extern|external|ext)\]\s*)",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"\[\s*((?:ESC|CMP)-\d{4}-\d{4,})\s*\]", re.IGNORECASE)


def strip_prefixes(subject: str) -> tuple[str, bool, bool]:
    """(subject without prefixes, was a reply, was a forward)."""
    text = subject
    replied = forwarded = False
    while True:
        match = _PREFIX_RE.match(text)
        if not match:
            return text.strip(), replied, forwarded
        word = (match.group("word") or "").lower()
        if word in REPLY_PREFIXES:
            replied = True
        elif word in FORWARD_PREFIXES:
            forwarded = True
        elif word:
            return text.strip(), replied, forwarded  # "KPI: …" is not a prefix
        text = text[match.end() :]


def subject_tags(subject: str) -> list[str]:
    """Case refs written as tags `[ESC-2026-0007]` in a subject, in order, unique."""
    return list(dict.fromkeys(m.upper() for m in _TAG_RE.findall(subject)))


def tagged(ref: str, subject: str) -> str:
    """`[ESC-2026-0007] subject` (the tag first, as Outlook keeps it visible)."""
    return f"[{ref}] {subject}"


def topic(subject: str) -> str:
    """What a subject is about, without client prefixes and case tags (for our own subjects)."""
    text, _, _ = strip_prefixes(_TAG_RE.sub("", subject))
    text, _, _ = strip_prefixes(text)
    return " ".join(text.split()) or subject.strip()
