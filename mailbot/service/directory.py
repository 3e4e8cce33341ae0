"""Who is who: our staff, their managers and roles, and which supplier an address belongs to.

A thin, read-only view over the config's directory so that the processes ask
questions in their own words ("is this staff?", "whose manager?", "which
supplier sent this?") instead of walking config lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from mailbot.config import Config, Person, Supplier


@dataclass(frozen=True)
class Directory:
    config: Config

    @cached_property
    def _people(self) -> dict[str, Person]:
        return {p.email: p for p in self.config.people}

    def person(self, email: str | None) -> Person | None:
        return self._people.get((email or "").lower())

    def is_staff(self, email: str | None) -> bool:
        """In the directory: may open cases and give commands (roles permitting)."""
        return self.person(email) is not None

    def is_organisation(self, email: str | None) -> bool:
        return bool(email) and self.config.is_organisation_address(email or "")

    def name_of(self, email: str) -> str:
        person = self.person(email)
        return person.name if person else email

    def manager_of(self, email: str) -> str | None:
        person = self.person(email)
        return person.manager if person else None

    def is_admin(self, email: str | None) -> bool:
        return (email or "").lower() in self.config.mailbot.admins

    def is_director(self, email: str | None) -> bool:
        return (email or "").lower() in self.config.organisation.directors

    def is_coordinator(self, email: str | None) -> bool:
        return (email or "").lower() in self.config.organisation.compliment_coordinators

    def supplier_of(self, email: str | None) -> Supplier | None:
        """The supplier an address belongs to: a known contact or one of its domains."""
        if not email:
            return None
        email = email.lower()
        domain = email.rpartition("@")[2]
        for supplier in self.config.suppliers:
            contacts = {
                supplier.counterpart,
                supplier.counterpart_manager,
                *supplier.directors,
                *supplier.contacts,
            }
            if email in contacts:
                return supplier
        for supplier in self.config.suppliers:
            if any(domain == d or domain.endswith("." + d) for d in supplier.domains):
                return supplier
        return None

    def supplier(self, key: str | None) -> Supplier | None:
        return self.config.supplier(key) if key else None
