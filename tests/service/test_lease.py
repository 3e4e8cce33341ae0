"""The leader lease survives a busy database and is given up only when really lost."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, tzinfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailbot.service.app import App
from mailbot.service.lease import Lease
from mailbot.store import db as db_module


def _clock_off_by(seconds: int) -> type[datetime]:
    """`datetime` for a machine whose clock is `seconds` off."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Skewed:
            real = datetime.now(tz) + timedelta(seconds=seconds)
            return cls.fromtimestamp(real.timestamp(), real.tzinfo)

    return Skewed


def test_the_working_thread_keeps_the_lease_while_it_holds_the_write_lock(app: App) -> None:
    """On SQLite a pass holds the write lock almost all the time (one batch after the other);
    the heartbeat thread alone would not get a word in, so the pass renews between batches."""
    lease = Lease(app.db, "leader", "me", timedelta(seconds=0.6))
    assert lease.acquire()
    app.keep_lease = lease.renew_if_due
    lost = threading.Event()
    with lease.heartbeat(lost):
        until = time.monotonic() + 2.0
        while time.monotonic() < until and app.still_working():
            with app.db.session() as session:  # a "batch": holds the write lock for 150 ms
                session.execute(text("UPDATE leases SET holder = holder WHERE name = 'none'"))
                time.sleep(0.15)
    assert not lost.is_set()
    other = Lease(app.db, "leader", "other", timedelta(seconds=0.6))
    assert not other.try_acquire()  # still ours after 3 lifetimes


def test_a_lease_that_another_instance_took_stops_the_pass(app: App) -> None:
    mine = Lease(app.db, "leader", "me", timedelta(seconds=0.3))
    assert mine.acquire()
    lost = threading.Event()
    with mine.heartbeat(lost):
        app.db.release_lease("leader", "me")  # as if it had expired while we were stuck
        assert Lease(app.db, "leader", "other", timedelta(seconds=30)).try_acquire()
        assert lost.wait(2.0)


def test_a_busy_database_is_not_a_lost_lease_until_the_time_runs_out(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = Lease(app.db, "leader", "me", timedelta(seconds=0.6))
    assert lease.acquire()

    def busy(*args: object) -> bool:
        raise OperationalError("UPDATE leases", {}, Exception("database is locked"))

    monkeypatch.setattr(app.db, "try_lease", busy)
    lost = threading.Event()
    with lease.heartbeat(lost):
        time.sleep(0.3)  # renewals due and failing, but our lease still holds
        assert not lost.is_set()
        assert lost.wait(2.0)  # once it has run out, it is lost


def test_a_late_renewal_never_shortens_the_lease(app: App) -> None:
    """Two threads renew; the one that waited longest for the lock must not win backwards."""
    now = datetime.now(UTC)
    ttl = timedelta(seconds=30)
    assert app.db.try_lease("leader", "me", now + timedelta(seconds=20), ttl)
    assert app.db.try_lease("leader", "me", now, ttl)  # stale: still ours, expiry kept
    assert not app.db.try_lease("leader", "other", now + timedelta(seconds=40), ttl)
    assert app.db.try_lease("leader", "other", now + timedelta(seconds=51), ttl)


@pytest.mark.database
def test_machines_whose_clocks_disagree_still_agree_on_the_leader(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two machines share one PostgreSQL: the lease is judged by the server's clock, so a
    standby whose clock runs an hour ahead cannot take a live leader's lease, and a leader
    whose clock runs behind does not write an expiry that is already past."""
    if app.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite is a file on one machine: every instance reads the same clock")
    ttl = timedelta(seconds=30)
    monkeypatch.setattr(db_module, "datetime", _clock_off_by(-3600))
    assert app.db.try_lease("leader", "behind", None, ttl)
    monkeypatch.setattr(db_module, "datetime", _clock_off_by(+3600))
    assert not app.db.try_lease("leader", "ahead", None, ttl)
    monkeypatch.setattr(db_module, "datetime", datetime)
    assert app.db.try_lease("leader", "behind", None, ttl), "the leader renews"
