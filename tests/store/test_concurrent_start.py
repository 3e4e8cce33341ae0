"""Two instances (a hot standby pair) starting together on a new database."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mailbot.store.db import Database

pytestmark = [pytest.mark.database, pytest.mark.slow]

UPGRADE_AT = """
import sys, time
from mailbot.store.db import Database
database = Database.connect(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
database.upgrade()
print("upgraded")
"""


def test_it_lets_two_instances_upgrade_one_new_database_at_the_same_moment(
    database_url: str,
) -> None:
    start = time.time() + 3.0  # after both have imported everything
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_AT, database_url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err[-2000:]
        assert out.strip() == "upgraded"
    database = Database.connect(database_url)
    try:
        current, head = database.migration_state()
        assert current == head is not None
    finally:
        database.close()
