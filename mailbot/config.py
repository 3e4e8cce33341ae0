"""The TOML config file -> a typed, validated `Config` value.

The config is the administrator's whole interface, so it fails loudly: every
problem is reported at once with its key path (`suppliers[1].counterpart: not
an email address`), unknown keys are rejected (a typo must not silently fall
back to a default), and secrets never sit in the file itself: each secret is
named by `*_env` (an environment variable) or `*_file` (a file to read).

`load(path)` returns a value; nothing is read at import time.
"""

from __future__ import annotations

import csv
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_DOMAIN_RE = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.[a-z]{2,}$|^localhost$")


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL_RE.match(value) or (
        "." not in value.rpartition("@")[2] and not value.endswith("@localhost")
    ):
        raise ValueError("not an email address")
    return value.lower()


def _domain(value: str) -> str:
    value = value.strip().lower().lstrip("@")
    if not _DOMAIN_RE.match(value):
        raise ValueError("not a mail domain")
    return value


def _email_or_domain(value: str) -> str:
    return _email(value) if "@" in value else _domain(value)


Email = Annotated[str, AfterValidator(_email)]
Domain = Annotated[str, AfterValidator(_domain)]
EmailOrDomain = Annotated[str, AfterValidator(_email_or_domain)]
Policy = Literal["send", "draft", "approve"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ConfigError(Exception):
    """The config cannot be used. `problems` holds one line per problem."""

    def __init__(self, problems: list[str], path: Path | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Secret(_Section):
    """Mixin logic for sections holding one secret named by `<name>_env` or `<name>_file`."""

    @staticmethod
    def resolve(env: str | None, file: str | None, base: Path, label: str) -> SecretStr | None:
        if env and file:
            raise ValueError(f"give {label}_env or {label}_file, not both")
        if env:
            value = os.environ.get(env)
            if value is None:
                raise ValueError(f"{label}_env: environment variable {env} is not set")
            return SecretStr(value)
        if file:
            path = (base / file).resolve()
            try:
                return SecretStr(path.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ValueError(f"{label}_file: cannot read {path}: {exc.strerror}") from exc
        return None


class MailbotSection(_Section):
    language: Literal["nl", "en"] = "nl"
    timezone: str = "Europe/Amsterdam"
    holidays: str = "NL"
    extra_closed_days: tuple[str, ...] = ()
    working_holidays: tuple[str, ...] = ()
    database: str = "sqlite:///mailbot.db"
    dry_run: bool = False
    admins: tuple[Email, ...] = Field(min_length=1)
    triage_to: tuple[Email, ...] = ()
    allowed_recipients: tuple[EmailOrDomain, ...] | None = None
    trusted_authserv_id: str | None = None
    templates: str | None = None
    poll_interval: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    max_per_recipient_per_hour: int = Field(default=20, ge=1)
    max_per_recipient_per_day: int = Field(default=100, ge=1)
    digest_day: str = "monday"
    digest_time: str = "08:00"
    log_format: Literal["text", "json"] = "text"
    health_port: int | None = Field(default=None, ge=1, le=65535)
    lease_seconds: float = Field(default=20.0, ge=1)
    retention_days: int | None = Field(default=None, ge=30)
    compliment_retention_days: int | None = Field(default=None, ge=30)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, value: str) -> str:
        _check_calendar("holidays", country=value)
        return value

    @field_validator("extra_closed_days")
    @classmethod
    def _closed_days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _check_calendar("extra_closed_days", extra_closed_days=value)
        return value

    @field_validator("working_holidays")
    @classmethod
    def _waived_holidays(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if "holidays" in info.data:  # otherwise the country is wrong, and reported as such
            _check_calendar(
                "working_holidays", country=info.data["holidays"], working_holidays=value
            )
        return value

    @field_validator("digest_day")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value.lower() not in WEEKDAYS:
            raise ValueError(f"must be one of {', '.join(WEEKDAYS)}")
        return value.lower()

    @field_validator("digest_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("must be a time like 08:00") from exc
        return value

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value


def _check_calendar(key: str, **settings: Any) -> None:
    """Build the working-day calendar from one setting, so that a wrong country, date or
    holiday name is a config error naming its key (SPEC §9) rather than a crash at start.
    A list is checked entry by entry first, so that every bad entry is named at once."""
    from mailbot.domain.calendar import CalendarError, WorkingCalendar  # loads `holidays`

    value = settings.get(key)
    entries = [{**settings, key: (entry,)} for entry in value] if isinstance(value, tuple) else []
    problems: list[str] = []
    for attempt in [*entries, settings]:  # the whole list last: "closes every day of the year"
        try:
            WorkingCalendar(**attempt)
        except CalendarError as exc:
            problem = str(exc).removeprefix(f"{key}: ")
            if problem not in problems:
                problems.append(problem)
    if problems:
        raise ValueError("\n".join(problems))


class FoldersSection(_Section):
    """Folder names in the shared mailbox; `/` nests (e.g. `mailbot/Verwerkt`)."""

    inbox: str = "INBOX"
    compliments: str = "complimenten"
    processed: str = "Verwerkt"
    triage: str = "Te beoordelen"
    quarantine: str = "Quarantaine"
    outgoing: str = "Uitgaand"

    @model_validator(mode="after")
    def _distinct(self) -> FoldersSection:
        names = [self.compliments, self.processed, self.triage, self.quarantine, self.outgoing]
        if len({n.lower() for n in names}) != len(names):
            raise ValueError("folder names must all be different")
        return self


class ImapSection(_Section):
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password_env: str | None = None
    password_file: str | None = None
    oauth2_token_env: str | None = None
    oauth2_token_file: str | None = None
    idle: bool = True

    @model_validator(mode="after")
    def _credentials(self) -> ImapSection:
        given = [
            self.password_env,
            self.password_file,
            self.oauth2_token_env,
            self.oauth2_token_file,
        ]
        if not any(given):
            raise ValueError(
                "give password_env or password_file (or oauth2_token_env / oauth2_token_file)"
            )
        return self


class EwsSection(_Section):
    service_endpoint: str | None = None
    auth: Literal["ntlm", "basic", "oauth2"] = "ntlm"
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    version: str | None = None
    impersonate: bool = True


class GraphSection(_Section):
    tenant_id: str
    client_id: str
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    certificate_file: str | None = None
    certificate_thumbprint: str | None = None
    user: Email
    authority: str | None = None
    graph_url: str = "https://graph.microsoft.com"


class MailboxSection(_Section):
    backend: Literal["maildir", "imap", "ews", "graph"] = "maildir"
    address: Email
    display_name: str = "Leveranciersmanagement"
    path: str = "mailbox"
    process_existing: bool = False
    folders: FoldersSection = FoldersSection()
    imap: ImapSection | None = None
    ews: EwsSection | None = None
    graph: GraphSection | None = None

    @model_validator(mode="after")
    def _backend_section(self) -> MailboxSection:
        if self.backend in ("imap", "ews", "graph") and getattr(self, self.backend) is None:
            raise ValueError(f'backend = "{self.backend}" needs a [mailbox.{self.backend}] section')
        return self


class SmtpSection(_Section):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    timeout: float = Field(default=30.0, gt=0)


class OrganisationSection(_Section):
    name: str
    domains: tuple[Domain, ...] = Field(min_length=1)
    directors: tuple[Email, ...] = ()
    compliment_coordinators: tuple[Email, ...] = ()
    digest_to: tuple[Email, ...] = ()
    directory_csv: str | None = None


class Person(_Section):
    email: Email
    name: str
    team: str = ""
    manager: Email | None = None
    title: str = ""
    roles: tuple[str, ...] = ()


class LadderProfile(_Section):
    deadlines: tuple[int, int, int, int] = (10, 15, 10, 20)
    policies: tuple[Policy, Policy, Policy, Policy, Policy] = (
        "send",
        "send",
        "approve",
        "approve",
        "approve",
    )
    reminder_before: int = Field(default=2, ge=0)

    @field_validator("deadlines")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 1 for v in value):
            raise ValueError("every deadline must be at least 1 working day")
        return value


class SupplierLadder(_Section):
    """Per-supplier override: only the keys given replace the default profile."""

    deadlines: tuple[int, int, int, int] | None = None
    policies: tuple[Policy, Policy, Policy, Policy, Policy] | None = None
    reminder_before: int | None = Field(default=None, ge=0)


class Supplier(_Section):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    domains: tuple[Domain, ...] = ()
    sla_reference: str
    counterpart: Email
    counterpart_name: str = ""
    counterpart_manager: Email | None = None
    directors: tuple[Email, ...] = ()
    contacts: tuple[Email, ...] = ()
    language: Literal["nl", "en"] | None = None
    ladder: SupplierLadder = SupplierLadder()

    @field_validator("id", mode="before")
    @classmethod
    def _lower_id(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class ComplimentsSection(_Section):
    """KPI norms in working days per state, and who hears back."""

    norm_registered: int = Field(default=2, ge=1)
    norm_assigned: int = Field(default=5, ge=1)
    norm_given: int = Field(default=5, ge=1)
    norm_reacted: int = Field(default=10, ge=1)
    cap_default_days: int = Field(default=20, ge=1)
    norm_cap_answer: int = Field(default=5, ge=1)
    thank_makers: bool = True
    thank_staff_makers: bool = False
    reaction_to_maker: bool = True


class Config(_Section):
    """The whole config. Paths are already absolute (resolved against the file's folder)."""

    mailbot: MailbotSection
    mailbox: MailboxSection
    smtp: SmtpSection | None = None
    organisation: OrganisationSection
    people: tuple[Person, ...] = ()
    suppliers: tuple[Supplier, ...] = ()
    ladder: LadderProfile = LadderProfile()
    compliments: ComplimentsSection = ComplimentsSection()
    base_dir: Path = Path()
    secrets: dict[str, SecretStr] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        problems: list[str] = []
        if self.mailbox.backend == "imap" and self.smtp is None:
            problems.append('smtp: backend = "imap" sends through SMTP: add an [smtp] section')
        seen: dict[str, int] = {}
        for index, supplier in enumerate(self.suppliers):
            if supplier.id in seen:
                problems.append(f"suppliers[{index}].id: duplicate id {supplier.id!r}")
            seen[supplier.id] = index
            for domain in supplier.domains:
                if domain in self.organisation.domains:
                    problems.append(
                        f"suppliers[{index}].domains: {domain} is one of organisation.domains"
                    )
        emails: set[str] = set()
        for index, person in enumerate(self.people):
            if person.email in emails:
                problems.append(f"people[{index}].email: duplicate {person.email}")
            emails.add(person.email)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # -- indexes: built once per config, because a directory of thousands of people is
    # asked several times for every mail (the config is frozen, so they cannot go stale;
    # `model_copy` drops them, as a copy may have other people or suppliers)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Config:
        copy = super().model_copy(update=update, deep=deep)
        for name in ("people_index", "supplier_contacts_index", "supplier_domains_index"):
            copy.__dict__.pop(name, None)
        return copy

    @cached_property
    def people_index(self) -> dict[str, Person]:
        return {p.email: p for p in self.people}

    @cached_property
    def supplier_contacts_index(self) -> dict[str, Supplier]:
        """Every configured address of a supplier; the first supplier naming it wins."""
        found: dict[str, Supplier] = {}
        for supplier in self.suppliers:
            for email in (
                supplier.counterpart,
                supplier.counterpart_manager,
                *supplier.directors,
                *supplier.contacts,
            ):
                if email:
                    found.setdefault(email, supplier)
        return found

    @cached_property
    def supplier_domains_index(self) -> dict[str, tuple[int, Supplier]]:
        """Domain -> (position in the config, supplier); the first supplier naming it wins."""
        found: dict[str, tuple[int, Supplier]] = {}
        for position, supplier in enumerate(self.suppliers):
            for domain in supplier.domains:
                found.setdefault(domain, (position, supplier))
        return found

    # -- convenient views -------------------------------------------------

    def supplier(self, key: str) -> Supplier | None:
        """A supplier by id or by name, case-insensitive."""
        wanted = key.strip().lower()
        for supplier in self.suppliers:
            if wanted in (supplier.id, supplier.name.lower()):
                return supplier
        return None

    def person(self, email: str) -> Person | None:
        return self.people_index.get(email.lower())

    def is_organisation_address(self, email: str) -> bool:
        domain = email.lower().rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in self.organisation.domains)

    def ladder_for(self, supplier: Supplier) -> LadderProfile:
        override = supplier.ladder
        return LadderProfile(
            deadlines=override.deadlines or self.ladder.deadlines,
            policies=override.policies or self.ladder.policies,
            reminder_before=(
                self.ladder.reminder_before
                if override.reminder_before is None
                else override.reminder_before
            ),
        )

    @property
    def database_url(self) -> str:
        return self.mailbot.database

    @property
    def mailbox_path(self) -> Path:
        return Path(self.mailbox.path)


def load(path: Path | str) -> Config:
    """Read, validate and resolve a config file. Raises `ConfigError`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError([f"config file not found: {path}"], path) from exc
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror}"], path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(["the config file is not UTF-8 text"], path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], path) from exc
    return from_dict(data, base_dir=path.resolve().parent, path=path)


def from_dict(data: dict[str, Any], *, base_dir: Path, path: Path | None = None) -> Config:
    """Validate a parsed config. Relative paths resolve against `base_dir`."""
    problems: list[str] = []
    data = dict(data)
    data["people"] = list(data.get("people", []))
    csv_people = _people_from_csv(data, base_dir, problems)
    data["people"].extend(csv_people)
    try:
        config = Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        problems.extend(_format_errors(exc))
        raise ConfigError(problems, path) from None
    if problems:
        raise ConfigError(problems, path)
    config = _resolve_paths(config, base_dir)
    secrets, secret_problems = _resolve_secrets(config, base_dir)
    if secret_problems:
        raise ConfigError(secret_problems, path)
    return config.model_copy(update={"secrets": secrets})


def _people_from_csv(data: dict[str, Any], base_dir: Path, problems: list[str]) -> list[Any]:
    organisation = data.get("organisation")
    if not isinstance(organisation, dict) or not organisation.get("directory_csv"):
        return []
    csv_path = base_dir / str(organisation["directory_csv"])
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        problems.append(f"organisation.directory_csv: cannot read {csv_path}: {exc.strerror}")
        return []
    people: list[dict[str, Any]] = []
    for row in rows:
        entry: dict[str, Any] = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if entry.get("manager") == "":
            entry.pop("manager")
        if "roles" in entry:
            entry["roles"] = [r.strip() for r in entry["roles"].split(";") if r.strip()]
        people.append(entry)
    return people


def _format_errors(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for error in exc.errors():
        location = _location(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        for part in message.split("\n"):
            # model-level cross-checks have no location and name their own keys
            lines.append(f"{location}: {part}" if location else part)
    return lines


def _location(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    """Relative paths resolve against the config file's folder (systemd runs in `/`)."""
    database = config.mailbot.database
    prefix = "sqlite:///"
    if database.startswith(prefix) and not database.startswith(prefix + "/"):
        rest = database.removeprefix(prefix)
        if rest and rest != ":memory:":
            database = prefix + str((base_dir / rest).resolve())
    mailbox_path = str((base_dir / config.mailbox.path).resolve())
    templates = config.mailbot.templates
    if templates:
        templates = str((base_dir / templates).resolve())
    return config.model_copy(
        update={
            "mailbot": config.mailbot.model_copy(
                update={"database": database, "templates": templates}
            ),
            "mailbox": config.mailbox.model_copy(update={"path": mailbox_path}),
        }
    )


def _resolve_secrets(config: Config, base_dir: Path) -> tuple[dict[str, SecretStr], list[str]]:
    secrets: dict[str, SecretStr] = {}
    problems: list[str] = []
    sections: list[tuple[str, BaseModel | None, tuple[str, ...]]] = [
        ("mailbox.imap", config.mailbox.imap, ("password", "oauth2_token")),
        ("mailbox.ews", config.mailbox.ews, ("password", "client_secret")),
        ("mailbox.graph", config.mailbox.graph, ("client_secret",)),
        ("smtp", config.smtp, ("password",)),
    ]
    active = {"mailbox." + config.mailbox.backend}
    if config.smtp is not None:
        active.add("smtp")
    for key_path, section, names in sections:
        if section is None or key_path not in active:
            continue
        for name in names:
            env = getattr(section, f"{name}_env", None)
            file = getattr(section, f"{name}_file", None)
            try:
                value = Secret.resolve(env, file, base_dir, name)
            except ValueError as exc:
                problems.append(f"{key_path}.{exc}")
                continue
            if value is not None:
                secrets[f"{key_path}.{name}"] = value
    return secrets, problems


def digest_time(config: Config) -> time:
    return time.fromisoformat(config.mailbot.digest_time)
