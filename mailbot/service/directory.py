"""Who is who: our staff, their managers and roles, and which supplier an address belongs to.

A thin, read-only view over the config's directory so that the processes ask
questions in their own words ("is this staff?", "whose manager?", "which
supplier sent this?") instead of walking config lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.config import Config, Person, Supplier


@dataclass(frozen=True)
class Directory:
    config: Config

    def person(self, email: str | None) -> Person | None:
        return self.config.people_index.get((email or "").lower())

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
        contact = self.config.supplier_contacts_index.get(email)
        if contact is not None:
            return contact
        # the address's domain and every parent domain (a.b.example: a.b.example, b.example,
        # example); of the suppliers they name, the first in the config, as always
        labels = email.rpartition("@")[2].split(".")
        domains = self.config.supplier_domains_index
        named = [domains[d] for i in range(len(labels)) if (d := ".".join(labels[i:])) in domains]
        return min(named, key=lambda found: found[0])[1] if named else None

    def supplier(self, key: str | None) -> Supplier | None:
        return self.config.supplier(key) if key else None
