"""The config fails loudly, names every bad key, and keeps secrets out of the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from mailbot import config as config_module
from mailbot.config import Config, ConfigError, from_dict, load
from tests.fixtures import BASE_CONFIG, merge

REPO = Path(__file__).resolve().parents[1]


def problems(data: dict, base: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        from_dict(data, base_dir=base)
    return caught.value.problems


def test_it_loads_the_example_config(tmp_path: Path) -> None:
    config = load(REPO / "config.example.toml")
    assert config.mailbox.backend == "maildir"
    assert config.supplier("ACME") is config.supplier("Acme Hosting B.V.")
    assert config.mailbot.database == f"sqlite:///{REPO / 'mailbot.db'}"


def _field_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                names |= _field_names(candidate)
    return names


def test_it_documents_every_key_in_the_example() -> None:
    text = (REPO / "config.example.toml").read_text()
    documented = set(re.findall(r"^#?\s*([a-z_0-9]+)\s*=", text, re.M))
    documented |= set(re.findall(r"^#?\s*\[+([a-z_.]+)\]+", text, re.M))
    documented = {part for item in documented for part in item.split(".")}
    undocumented = _field_names(Config) - documented - {"base_dir", "secrets"}
    assert not undocumented, f"keys missing from config.example.toml: {sorted(undocumented)}"


def test_it_reports_every_problem_with_its_key_path(tmp_path: Path) -> None:
    data = merge(BASE_CONFIG, {"mailbot": {"tijdzone": "x", "timezone": "Mars/Olympus"}})
    data["suppliers"][1]["counterpart"] = "not-an-email"
    data["suppliers"][0]["directors"] = ["ok@acme.example", "bad"]
    data["ladder"] = {"policies": ["send", "send", "approve", "approve", "maybe"]}
    found = problems(data, tmp_path)
    assert "mailbot.tijdzone: unknown key" in found
    assert "mailbot.timezone: unknown timezone 'Mars/Olympus'" in found
    assert "suppliers[1].counterpart: not an email address" in found
    assert "suppliers[0].directors[1]: not an email address" in found
    assert any(p.startswith("ladder.policies[4]:") for p in found)
    assert len(found) == 5


def test_it_names_missing_sections_and_cross_checks(tmp_path: Path) -> None:
    assert "mailbox: required key is missing" in problems(
        {k: v for k, v in BASE_CONFIG.items() if k != "mailbox"}, tmp_path
    )
    data = merge(BASE_CONFIG, {})
    data["suppliers"][1]["id"] = "acme"
    data["suppliers"][1]["domains"] = ["gemeente.example"]
    found = problems(data, tmp_path)
    assert "suppliers[1].id: duplicate id 'acme'" in found
    assert "suppliers[1].domains: gemeente.example is one of organisation.domains" in found


def test_it_names_bad_holiday_settings_at_load(tmp_path: Path) -> None:
    """The working-day calendar's settings are checked when the config is read, not when
    the daemon builds its calendar (it used to crash there, after check-config said ok)."""
    found = problems(merge(BASE_CONFIG, {"mailbot": {"holidays": "XX"}}), tmp_path)
    assert found == [
        "mailbot.holidays: unknown country code 'XX' for public holidays "
        '(use an ISO 3166 code the holidays package knows, or "" for none)'
    ]
    settings = {
        "extra_closed_days": ["2026-13-45", "05-05", "banana"],
        "working_holidays": ["Good Friday", "Sinterklaas"],
    }
    found = problems(merge(BASE_CONFIG, {"mailbot": settings}), tmp_path)
    assert found == [
        "mailbot.extra_closed_days: '2026-13-45' is not a valid date",
        "mailbot.extra_closed_days: 'banana' is not of the form YYYY-MM-DD or MM-DD",
        "mailbot.working_holidays: 'Sinterklaas' is not a holiday name the holidays package "
        "uses for NL (in English or the country's own language)",
    ]
    found = problems(
        merge(BASE_CONFIG, {"mailbot": {"holidays": "", "working_holidays": ["Good Friday"]}}),
        tmp_path,
    )
    assert found == [
        "mailbot.working_holidays: 'Good Friday' names a holiday, "
        "but no country (so no holidays) is configured"
    ]
    good = {"holidays": "NL", "extra_closed_days": ["05-05", "12-24..12-31"]}
    assert from_dict(merge(BASE_CONFIG, {"mailbot": good}), base_dir=tmp_path)


def test_it_asks_for_the_backend_section_that_is_chosen(tmp_path: Path) -> None:
    found = problems(merge(BASE_CONFIG, {"mailbox": {"backend": "imap"}}), tmp_path)
    assert found == ['mailbox: backend = "imap" needs a [mailbox.imap] section']


def test_it_reads_secrets_from_env_and_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "smtp.secret").write_text("s3cret-from-file\n")
    monkeypatch.setenv("MAILBOT_TEST_IMAP", "s3cret-from-env")
    data = merge(
        BASE_CONFIG,
        {
            "mailbox": {
                "backend": "imap",
                "imap": {
                    "host": "imap.example",
                    "username": "u",
                    "password_env": "MAILBOT_TEST_IMAP",
                },
            },
            "smtp": {"host": "smtp.example", "password_file": "smtp.secret"},
        },
    )
    config = from_dict(data, base_dir=tmp_path)
    assert config.secrets["mailbox.imap.password"].get_secret_value() == "s3cret-from-env"
    assert config.secrets["smtp.password"].get_secret_value() == "s3cret-from-file"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())

    monkeypatch.delenv("MAILBOT_TEST_IMAP")
    found = problems(data, tmp_path)
    assert found == ["mailbox.imap.password_env: environment variable MAILBOT_TEST_IMAP is not set"]


def test_it_refuses_a_plain_password_key(tmp_path: Path) -> None:
    data = merge(BASE_CONFIG, {"smtp": {"host": "smtp.example", "password": "plain"}})
    assert problems(data, tmp_path) == ["smtp.password: unknown key"]


def test_it_resolves_relative_paths_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "mailbot.toml").write_text(
        (REPO / "config.example.toml")
        .read_text()
        .replace('database = "sqlite:///mailbot.db"', 'database = "sqlite:///data/mb.db"')
    )
    monkeypatch.chdir("/")
    config = load(folder / "mailbot.toml")
    assert config.mailbot.database == f"sqlite:///{folder / 'data' / 'mb.db'}"
    assert config.mailbox.path == str(folder / "mailbox")


def test_it_adds_people_from_the_directory_csv(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        "email,name,team,manager,title,roles\n"
        "C.Claes@gemeente.example,Chris Claes,Facilitair,b.bakker@gemeente.example,"
        "teamleider,owner;coordinator\n"
    )
    config = from_dict(
        merge(BASE_CONFIG, {"organisation": {"directory_csv": "people.csv"}}), base_dir=tmp_path
    )
    person = config.person("c.claes@gemeente.example")
    assert person is not None and person.roles == ("owner", "coordinator")
    (tmp_path / "people.csv").write_text("email,name\nnot-an-address,Someone\n")
    found = problems(
        merge(BASE_CONFIG, {"organisation": {"directory_csv": "people.csv"}}), tmp_path
    )
    assert found == [f"people[{len(BASE_CONFIG['people'])}].email: not an email address"]


def test_it_explains_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[mailbot\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(tmp_path / "bad.toml")


def test_it_merges_a_supplier_ladder_override_with_the_default(tmp_path: Path) -> None:
    data = merge(BASE_CONFIG, {})
    data["suppliers"][0]["ladder"] = {"deadlines": [5, 5, 5, 5]}
    config = from_dict(data, base_dir=tmp_path)
    profile = config.ladder_for(config.suppliers[0])
    assert profile.deadlines == (5, 5, 5, 5)
    assert profile.policies == config.ladder.policies


def test_it_keeps_no_config_in_module_globals() -> None:
    assert not any(isinstance(v, Config) for v in vars(config_module).values())


def test_it_asks_for_smtp_and_credentials_with_imap(tmp_path: Path) -> None:
    imap = {"backend": "imap", "imap": {"host": "imap.example", "username": "u"}}
    found = problems(merge(BASE_CONFIG, {"mailbox": imap}), tmp_path)
    assert found == [
        "mailbox.imap: give password_env or password_file (or oauth2_token_env / oauth2_token_file)"
    ]
    imap["imap"]["password_file"] = "secret"  # type: ignore[index]
    (tmp_path / "secret").write_text("x")
    found = problems(merge(BASE_CONFIG, {"mailbox": imap}), tmp_path)
    assert found == ['smtp: backend = "imap" sends through SMTP: add an [smtp] section']
