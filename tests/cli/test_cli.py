"""The command line: helpful output and the exit codes cron and systemd rely on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from mailbot.cli import app
from mailbot.store.db import Database
from mailbot.store.tables import Lease
from tests.mail.contract import make_mail

pytestmark = pytest.mark.database

CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "{database}"
lease_seconds = 1

[mailbox]
address = "leveranciers@gemeente.example"
path = "{mailbox}"

[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]

[[people]]
email = "a.jansen@gemeente.example"
name = "Anna Jansen"

[[suppliers]]
id = "acme"
name = "Acme Hosting B.V."
domains = ["acme.example"]
sla_reference = "SLA 2025"
counterpart = "servicemanager@acme.example"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(CONFIG.format(database="sqlite:///mailbot.db", mailbox="mailbox"))
    return path


def mailbot(*args: str, config: Path | None = None) -> tuple[int, str]:
    runner = CliRunner()
    argv = ["--config", str(config), *args] if config else list(args)
    result = runner.invoke(app, argv, catch_exceptions=False)
    return result.exit_code, result.output


def test_it_explains_itself_with_help() -> None:
    code, out = mailbot("--help")
    assert code == 0
    for command in ("run", "check-config", "cases", "case", "quarantine", "demo", "db"):
        assert command in out
    assert "Exit codes" in out


def test_it_reports_every_config_problem_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        CONFIG.format(database="sqlite:///x.db", mailbox="m").replace(
            'counterpart = "servicemanager@acme.example"', 'counterpart = "nope"'
        )
        + "\n[ladder]\nreminder_befor = 2\n"
    )
    code, out = mailbot("check-config", config=bad)
    assert code == 2
    assert "suppliers[0].counterpart: not an email address" in out
    assert "ladder.reminder_befor: unknown key" in out


def test_it_refuses_to_start_with_bad_holiday_settings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        CONFIG.format(database="sqlite:///x.db", mailbox="m").replace(
            "lease_seconds = 1", 'lease_seconds = 1\nholidays = "XX"\nextra_closed_days = ["13-01"]'
        )
    )
    for command in (["check-config"], ["run"], ["run", "--once"], ["cases"]):
        code, out = mailbot(*command, config=bad)
        assert code == 2, (command, out)
        assert "mailbot.holidays: unknown country code 'XX'" in out
        assert "mailbot.extra_closed_days: '13-01' is not a valid date" in out


def test_it_says_where_to_find_a_config_when_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    code, out = mailbot("cases")
    assert code == 2 and "no config file" in out


def test_it_checks_the_config_and_the_database(config: Path) -> None:
    code, out = mailbot("check-config", config=config)
    assert code == 0
    assert "ok: the config is valid" in out and "suppliers:    1 (acme)" in out
    assert "run `mailbot db upgrade`" in out
    code, out = mailbot("db", "upgrade", config=config)
    assert code == 0
    code, out = mailbot("check-config", config=config)
    assert "up to date (" in out


def test_it_shows_pilot_mode_and_dry_run(tmp_path: Path) -> None:
    path = tmp_path / "pilot.toml"
    path.write_text(
        CONFIG.format(database="sqlite:///x.db", mailbox="m").replace(
            "lease_seconds = 1",
            'lease_seconds = 1\ndry_run = true\nallowed_recipients = ["gemeente.example"]',
        )
    )
    code, out = mailbot("check-config", config=path)
    assert code == 0 and "pilot mode:   ON" in out and "dry run:      ON" in out


def test_it_runs_one_pass_and_lists_cases(config: Path) -> None:
    code, out = mailbot("run", "--once", config=config)
    assert code == 0, out
    mailbox = config.parent / "mailbox"
    (mailbox / "new" / "open.eml").write_bytes(
        make_mail(
            "Escalatie acme: storing", sender="a.jansen@gemeente.example", body="Alles ligt eruit."
        )
    )
    code, out = mailbot("run", "--once", config=config)
    assert code == 0 and "1 processed" in out and "2 sent" in out
    code, out = mailbot("cases", "--json", config=config)
    (case,) = json.loads(out)
    assert case["ref"].startswith("ESC-") and case["owner"] == "a.jansen@gemeente.example"
    code, out = mailbot("case", "show", case["ref"].lower(), config=config)
    assert code == 0 and "timeline:" in out and "opened by a.jansen@gemeente.example" in out
    code, out = mailbot("case", "show", "ESC-1999-0001", config=config)
    assert code == 1 and "no case ESC-1999-0001" in out


def test_it_exits_3_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    path = tmp_path / "db.toml"
    path.write_text(CONFIG.format(database="sqlite:///blocker/sub/mailbot.db", mailbox="mailbox"))
    code, out = mailbot("run", "--once", config=path)
    assert code == 3 and "database" in out


def test_it_exits_3_when_the_mailbox_cannot_be_reached(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the mailbox should be")
    path = tmp_path / "mb.toml"
    path.write_text(CONFIG.format(database="sqlite:///mailbot.db", mailbox="blocker"))
    code, out = mailbot("run", "--once", config=path)
    assert code == 3 and "mailbox" in out


def test_it_exits_4_while_another_instance_holds_the_lock(config: Path) -> None:
    db = Database.connect(f"sqlite:///{config.parent / 'mailbot.db'}")
    db.upgrade()
    assert db.try_lease(
        "mailbox:leveranciers@gemeente.example",
        "other-host:1:x",
        datetime.now(UTC),
        timedelta(minutes=5),
    )
    code, out = mailbot("run", "--once", config=config)
    assert code == 4 and "another mailbot instance" in out


def test_it_lists_and_retries_quarantined_mail(config: Path) -> None:
    code, out = mailbot("quarantine", "list", config=config)
    assert code == 0 and "quarantine is empty" in out
    code, out = mailbot("quarantine", "retry", "42", config=config)
    assert code == 1 and "not in quarantine: #42" in out


def test_it_prints_json_logs_on_request(config: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailbot",
            "--config",
            str(config),
            "--log-format",
            "json",
            "run",
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines and all("level" in json.loads(line) for line in lines)


@pytest.mark.slow
def test_the_daemon_reacts_to_new_mail_and_stops_cleanly_on_sigterm(config: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        time.sleep(2.5)
        mailbox = config.parent / "mailbox"
        (mailbox / "new" / "m.eml").write_bytes(
            make_mail("Wat is dit?", sender="iemand@elders.example")
        )
        deadline = time.monotonic() + 15
        triage = mailbox / ".Te beoordelen" / "cur"
        while time.monotonic() < deadline and not any(triage.glob("*")):
            time.sleep(0.2)
        assert any(triage.glob("*")), "the watcher woke a pass for the new mail"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert b"mailbot stopped" in (daemon.stderr.read() if daemon.stderr else b"")


@pytest.mark.slow
def test_run_once_exits_4_next_to_an_idle_daemon_and_runs_once_it_stopped(config: Path) -> None:
    """The daemon passes once a minute but its lease lasts a second: it keeps the lease
    while idle, and gives it up when it stops."""
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        db = Database.connect(f"sqlite:///{config.parent / 'mailbot.db'}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not leased(db):
            time.sleep(0.2)
        assert leased(db), "the daemon took the lease"
        time.sleep(3)  # idle: three lease lifetimes after its first pass
        code, out = mailbot("run", "--once", config=config)
        assert code == 4 and "another mailbot instance" in out
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    code, out = mailbot("run", "--once", config=config)
    assert code == 0, out


def leased(db: Database) -> bool:
    """Whether some instance holds an unexpired leader lease (a fresh database has none)."""
    try:
        with db.session() as session:
            expiries = list(session.scalars(select(Lease.expires_at)))
    except OperationalError:  # not migrated yet
        return False
    return any(e.replace(tzinfo=e.tzinfo or UTC) > datetime.now(UTC) for e in expiries)


def test_it_purges_only_when_asked_twice(config: Path) -> None:
    result = CliRunner().invoke(app, ["--config", str(config), "purge"])
    assert result.exit_code == 2 and "purging is off" in result.output
    code, out = mailbot("purge", "--older-than", "365", config=config)
    assert code == 0 and "run again with --yes" in out
    code, out = mailbot("purge", "--older-than", "365", "--yes", config=config)
    assert code == 0 and "purged 0 case(s)" in out


def test_it_purges_compliments_on_their_own_retention(config: Path) -> None:
    config.write_text(
        config.read_text().replace(
            "lease_seconds = 1", "lease_seconds = 1\ncompliment_retention_days = 730"
        )
    )
    code, out = mailbot("purge", config=config)
    assert code == 0 and "would purge compliments closed more than 730 days ago" in out
    code, out = mailbot("purge", "--yes", config=config)
    assert code == 0 and "purged 0 case(s)" in out


def test_it_probes_the_mailbox_when_checking_the_config(config: Path) -> None:
    code, out = mailbot("check-config", config=config)
    assert code == 0 and "mailbox check:" in out and "opened maildir mailbox" in out
    code, out = mailbot("check-config", "--no-probe", config=config)
    assert code == 0 and "mailbox check:" not in out
