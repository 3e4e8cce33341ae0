"""Is a compliment about a supplier? Which one, and how do we know?

The seed's complaint is that organisations manage only the negative; mailbot
holds both sides of a supplier relationship. A compliment is linked to a
supplier when its text or subject names the supplier (its name, with or
without "B.V." and the like, or its short id), mentions one of its mail
domains or contact addresses, or carries the tag of one of its cases. Each
link says how it was found, because a person decides what it means.
"""

from __future__ import annotations

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


def _mentions(haystack: str, needle: str) -> bool:
    needle = needle.strip()
    if len(needle) < 3:
        return False
    return re.search(r"(?<![\w.@-])" + re.escape(needle) + r"(?![\w-]|\.\w)", haystack) is not None


def short_name(name: str) -> str:
    """ "Acme Hosting B.V." -> "acme hosting"."""
    return re.sub(_LEGAL, "", _fold(name), flags=re.IGNORECASE).strip(" ,.")


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
    for supplier in suppliers:
        if supplier.id in links:
            continue
        contact = next((c for c in supplier.contacts if c and _fold(c) in folded), None)
        if contact:
            links[supplier.id] = Link(supplier.id, "contact", contact)
            continue
        domain = next(
            (
                d
                for d in supplier.domains
                if re.search(r"[@.\s/]" + re.escape(d) + r"\b", folded) or folded.startswith(d)
            ),
            None,
        )
        if domain:
            links[supplier.id] = Link(supplier.id, "domain", domain)
            continue
        for candidate in dict.fromkeys((_fold(supplier.name), short_name(supplier.name))):
            if _mentions(folded, candidate):
                links[supplier.id] = Link(supplier.id, "name", supplier.name)
                break
        else:
            if len(supplier.id) >= 4 and _mentions(folded, supplier.id):
                links[supplier.id] = Link(supplier.id, "id", supplier.id)
    return list(links.values())
