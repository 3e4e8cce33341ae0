"""kill -9 at random moments of a real `mailbot run --once`: nothing lost, nothing applied twice."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.corpora import corpus_messages

pytestmark = [pytest.mark.slow, pytest.mark.database]

CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
max_attempts = 2
lease_seconds = 2

[mailbox]
address = "leveranciers@gemeente.example"
path = "mailbox"

[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]
"""


def mailbot(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def messages_in(folder: Path) -> list[Path]:
    return [p for sub in ("new", "cur") for p in (folder / sub).glob("*") if p.is_file()]


def test_it_survives_kill_9_at_random_moments(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(CONFIG)
    first = mailbot(config, "run", "--once")
    assert first.wait(60) == 0, first.stderr.read() if first.stderr else ""

    rng = random.Random(int(os.environ.get("MAILBOT_CRASH_SEED", "20261214")))
    # enough mail that a pass is still working when the kill comes, also on a fast day
    sample = rng.sample(corpus_messages(), 800)
    root = tmp_path / "mailbox"
    for index, path in enumerate(sample):
        folder = root if index % 3 else root / ".complimenten"
        (folder / "new" / f"drop-{index}.eml").write_bytes(path.read_bytes())

    def waiting() -> int:
        return len(messages_in(root)) + len(messages_in(root / ".complimenten"))

    def progress() -> tuple[int, ...]:
        """Rows stored, applied and moved: changes whenever mailbot did work."""
        with sqlite3.connect(tmp_path / "mailbot.db", timeout=30) as db:
            return tuple(
                db.execute(
                    "select count(*), sum(status in ('done', 'moved')), sum(status = 'moved')"
                    " from inbound_messages"
                ).fetchone()
            )

    kills_mid_work = 0
    for _ in range(40):
        if waiting() == 0:
            break
        before = progress()
        process = mailbot(config, "run", "--once")
        time.sleep(rng.uniform(0.7, 1.7))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills_mid_work += progress() != before  # it was working when it died
        process.wait(60)
    assert kills_mid_work >= 3, "the kills must land while mailbot is working"

    final = mailbot(config, "run", "--once")
    assert final.wait(120) == 0, final.stderr.read() if final.stderr else ""

    ends = [root / ".Verwerkt", root / ".Te beoordelen", root / ".Quarantaine"]
    assert messages_in(root) == [] and messages_in(root / ".complimenten") == []
    landed = [p for folder in ends for p in messages_in(folder)]
    assert len(landed) == len(sample), "every message in exactly one end folder"
    assert not list(root.glob("**/tmp/*")), "no half-written files"

    with sqlite3.connect(tmp_path / "mailbot.db") as db:
        statuses = dict(db.execute("select status, count(*) from inbound_messages group by status"))
        assert statuses == {"moved": len(sample)}
        keys = [k for (k,) in db.execute("select backend_key from inbound_messages")]
        assert len(keys) == len(set(keys))
        landed_keys = {p.name.split(":")[0] for p in landed}
        assert landed_keys == set(keys), "database and folders tell the same story"
