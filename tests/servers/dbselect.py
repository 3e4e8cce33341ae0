"""`--db=sqlite|postgresql`: which database the database tests run on.

The whole suite runs on SQLite (the default). CI runs it a second time with
`-m database --db=postgresql`; that run is only worth its minutes for tests
that really reach the database through the `database_url` fixture, so under
`--db=postgresql` every other test is deselected: the ones not marked
`database`, and the marked ones that write their own `sqlite:///` URL (they
would only repeat their SQLite run).

Each selected test gets a fresh database on the session's private PostgreSQL
(tests/servers/postgres.py), started only when the first such test asks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHOICES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=CHOICES,
        default="sqlite",
        help="database for the tests marked `database` (default: sqlite; postgresql "
        "starts a private server and deselects every test that cannot use it)",
    )


def on_postgresql(config: pytest.Config) -> bool:
    return bool(config.getoption("db") == "postgresql")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {config.getoption('db')}"


def _runs_on_the_selected_database(item: pytest.Item) -> bool:
    return item.get_closest_marker("database") is not None and "database_url" in getattr(
        item, "fixturenames", ()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgresql(config):
        return
    selected = [item for item in items if _runs_on_the_selected_database(item)]
    deselected = [item for item in items if not _runs_on_the_selected_database(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def database_url_for(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What the `database_url` fixture returns: a fresh PostgreSQL database for a
    `database` test under `--db=postgresql`, else a SQLite file in `tmp_path`."""
    if on_postgresql(request.config) and request.node.get_closest_marker("database"):
        return str(request.getfixturevalue("postgres_database"))
    return f"sqlite:///{tmp_path / 'mailbot.db'}"
