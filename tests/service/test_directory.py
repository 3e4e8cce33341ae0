"""Who is who: the supplier an address belongs to, and staff, from the config's indexes."""

from __future__ import annotations

from collections.abc import Callable

from mailbot.config import Config
from mailbot.service.directory import Directory

SUPPLIERS = [
    {"id": "acme", "name": "Acme", "domains": ["acme.example"], "counterpart": "sm@acme.example"},
    {
        "id": "hosting",
        "name": "Hosting",
        "domains": ["hosting.acme.example", "host.example"],
        "counterpart": "jan@gmail.example",
        "contacts": ["desk@acme.example"],  # a shared desk that Acme runs for them
    },
    {"id": "later", "name": "Later", "domains": ["acme.example"], "counterpart": "x@later.example"},
]


def directory(make_config: Callable[..., Config]) -> Directory:
    return Directory(make_config(suppliers=[{**s, "sla_reference": "SLA"} for s in SUPPLIERS]))


def supplier_id(found: object) -> str | None:
    return getattr(found, "id", None)


def test_a_known_contact_names_its_supplier_whatever_its_domain(
    make_config: Callable[..., Config],
) -> None:
    people = directory(make_config)
    assert supplier_id(people.supplier_of("jan@gmail.example")) == "hosting"
    assert supplier_id(people.supplier_of("Desk@ACME.example")) == "hosting"


def test_a_domain_and_its_subdomains_belong_to_the_first_supplier_naming_one(
    make_config: Callable[..., Config],
) -> None:
    people = directory(make_config)
    assert supplier_id(people.supplier_of("iemand@acme.example")) == "acme"  # not "later"
    assert supplier_id(people.supplier_of("iemand@mail.acme.example")) == "acme"
    # both acme.example (acme, first) and hosting.acme.example (hosting) match: first wins
    assert supplier_id(people.supplier_of("noc@eu.hosting.acme.example")) == "acme"
    assert supplier_id(people.supplier_of("noc@host.example")) == "hosting"
    assert people.supplier_of("noc@nothost.example") is None
    assert people.supplier_of("iemand@example") is None
    assert people.supplier_of(None) is None and people.supplier_of("") is None


def test_staff_are_found_whatever_the_case_of_their_address(
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    people = Directory(config)
    assert people.is_staff("A.Jansen@Gemeente.example")
    assert people.name_of("a.jansen@gemeente.example") == "Anna Jansen"
    assert config.person("P.DEVRIES@gemeente.example") is not None
    assert not people.is_staff("onbekend@gemeente.example")


def test_a_copy_of_the_config_with_other_people_answers_for_them(
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    assert Directory(config).is_staff("a.jansen@gemeente.example")  # index built
    newcomer = config.people[0].model_copy(update={"email": "nieuw@gemeente.example"})
    copy = config.model_copy(update={"people": (newcomer,)})
    assert Directory(copy).is_staff("nieuw@gemeente.example")
    assert not Directory(copy).is_staff("a.jansen@gemeente.example")
    assert Directory(config).is_staff("a.jansen@gemeente.example")
