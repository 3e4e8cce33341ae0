"""Configs and apps for service and end-to-end tests.

`database_url` is the one place that decides which database a test uses, so
the same tests can run on PostgreSQL (see tests/servers/postgres.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailbot.clock import ManualClock
from mailbot.config import Config, from_dict
from mailbot.daemon import build_app
from mailbot.service.app import App
from tests.servers.dbselect import database_url_for

AMS = ZoneInfo("Europe/Amsterdam")

BASE_CONFIG: dict[str, Any] = {
    "mailbot": {
        "language": "nl",
        "admins": ["beheer@gemeente.example"],
        "poll_interval": 1,
    },
    "mailbox": {
        "backend": "maildir",
        "address": "leveranciers@gemeente.example",
        "path": "mailbox",
    },
    "organisation": {
        "name": "Gemeente Voorbeeld",
        "domains": ["gemeente.example"],
        "directors": ["directie@gemeente.example"],
        "compliment_coordinators": ["kwaliteit@gemeente.example"],
        "digest_to": ["mt@gemeente.example"],
    },
    "people": [
        {
            "email": "a.jansen@gemeente.example",
            "name": "Anna Jansen",
            "team": "Contractmanagement",
            "manager": "b.bakker@gemeente.example",
            "title": "contractmanager",
        },
        {
            "email": "b.bakker@gemeente.example",
            "name": "Bert Bakker",
            "team": "Contractmanagement",
            "title": "afdelingshoofd Inkoop",
        },
        {"email": "kwaliteit@gemeente.example", "name": "Karin de Wit", "team": "Kwaliteit"},
        {"email": "beheer@gemeente.example", "name": "Beheer", "team": "ICT"},
        {
            "email": "p.devries@gemeente.example",
            "name": "Piet de Vries",
            "team": "Servicedesk",
            "manager": "m.smit@gemeente.example",
        },
        {"email": "m.smit@gemeente.example", "name": "Marieke Smit", "team": "Servicedesk"},
    ],
    "suppliers": [
        {
            "id": "acme",
            "name": "Acme Hosting B.V.",
            "domains": ["acme.example"],
            "sla_reference": "SLA Hosting 2025, bijlage 4 (escalatieprocedure)",
            "counterpart": "servicemanager@acme.example",
            "counterpart_name": "Jan Pietersen",
            "counterpart_manager": "manager@acme.example",
            "directors": ["directie@acme.example"],
        },
        {
            "id": "globex",
            "name": "Globex Facilitair",
            "domains": ["globex.example"],
            "sla_reference": "DVO Facilitair 2024, artikel 12",
            "counterpart": "sm@globex.example",
            "language": "en",
        },
    ],
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url_for(request, tmp_path)


@pytest.fixture
def make_config(tmp_path: Path, database_url: str) -> Callable[..., Config]:
    def factory(**override: Any) -> Config:
        data = merge(BASE_CONFIG, override)
        data["mailbot"].setdefault("database", database_url)
        return from_dict(data, base_dir=tmp_path)

    return factory


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 14, 10, 0, tzinfo=AMS))


@pytest.fixture
def make_app(
    make_config: Callable[..., Config], clock: ManualClock
) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def factory(config: Config | None = None, **override: Any) -> App:
        app = build_app(config or make_config(**override), clock=clock)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.mailbox.close()
        app.db.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()
