"""Is a compliment about a supplier? Which one, and how do we know?

The seed's complaint is that organisations manage only the negative; mailbot
holds both sides of a supplier relationship. A compliment is linked to a
supplier when its text or subject names the supplier (its name, with or
without "B.V." and the like, or its short id), mentions one of its mail
domains or contact addresses, or carries the tag of one of its cases. Each
link says how it was found, because a person decides what it means.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_LEGAL = r"\b(?:b\.?v\.?|n\.?v\.?|v\.?o\.?f\.?|c\.?v\.?|ltd\.?|gmbh|inc\.?|holding|groep|group)\s*$"


@dataclass(frozen=True)
class SupplierRef:
    id: str
    name: str
    domains: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    supplier: str  # supplier id
    how: str  # name | id | domain | contact | case tag
    evidence: str


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


@dataclass(frozen=True)
class _Mention:
    """`needle` as a whole word (names, ids): a plain substring test first, because
    the word-boundary pattern is slow and most texts do not contain the needle at all."""

    needle: str
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, needle: str) -> _Mention | None:
        """None for needles too short to mean much."""
        needle = needle.strip()
        if len(needle) < 3:
            return None
        return cls(needle, re.compile(r"(?<![\w.@-])" + re.escape(needle) + r"(?![\w-]|\.\w)"))

    def found_in(self, text: str) -> bool:
        return self.needle in text and self.pattern.search(text) is not None


def short_name(name: str) -> str:
    """ "Acme Hosting B.V." -> "acme hosting"."""
    return re.sub(_LEGAL, "", _fold(name), flags=re.IGNORECASE).strip(" ,.")


@dataclass(frozen=True)
class _Matcher:
    """One supplier's evidence, folded and compiled once (a compliment is checked
    against every supplier, and a backlog brings hundreds of compliments)."""

    supplier: SupplierRef
    contacts: tuple[tuple[str, str], ...]  # (as configured, folded)
    domains: tuple[tuple[str, re.Pattern[str]], ...]
    names: tuple[_Mention, ...]
    id: _Mention | None

    @classmethod
    def of(cls, supplier: SupplierRef) -> _Matcher:
        candidates = dict.fromkeys((_fold(supplier.name), short_name(supplier.name)))
        return cls(
            supplier,
            tuple((c, _fold(c)) for c in supplier.contacts if c),
            tuple((d, re.compile(r"[@.\s/]" + re.escape(d) + r"\b")) for d in supplier.domains),
            tuple(m for m in map(_Mention.of, candidates) if m is not None),
            _Mention.of(supplier.id) if len(supplier.id) >= 4 else None,
        )

    def link(self, folded: str) -> Link | None:
        """The strongest evidence in `folded` text: contact, domain, name, id."""
        supplier = self.supplier
        for contact, folded_contact in self.contacts:
            if folded_contact in folded:
                return Link(supplier.id, "contact", contact)
        for domain, pattern in self.domains:
            if domain in folded and (pattern.search(folded) or folded.startswith(domain)):
                return Link(supplier.id, "domain", domain)
        if any(m.found_in(folded) for m in self.names):
            return Link(supplier.id, "name", supplier.name)
        if self.id is not None and self.id.found_in(folded):
            return Link(supplier.id, "id", supplier.id)
        return None


@functools.lru_cache(maxsize=4)
def _matchers(suppliers: tuple[SupplierRef, ...]) -> tuple[_Matcher, ...]:
    return tuple(_Matcher.of(s) for s in suppliers)


def find_links(
    text: str, suppliers: Sequence[SupplierRef], case_suppliers: dict[str, str]
) -> list[Link]:
    """Links found in `text` (subject and body together); `case_suppliers` maps case refs
    (ESC-…/CMP-…) mentioned in the text to their supplier ids. One link per supplier,
    the strongest evidence first: case tag, contact, domain, name, id."""
    folded = _fold(text)
    links: dict[str, Link] = {}
    for ref, supplier_id in case_suppliers.items():
        links.setdefault(supplier_id, Link(supplier_id, "case tag", ref))
    for matcher in _matchers(tuple(suppliers)):
        if matcher.supplier.id not in links and (link := matcher.link(folded)):
            links[matcher.supplier.id] = link
    return list(links.values())
