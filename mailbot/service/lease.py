"""The leader lease: one instance per mailbox ingests and sends.

A lease row with an expiry, taken and renewed by conditional UPDATE (see
`Database.try_lease`). It is renewed once a third of its lifetime has passed:
while a pass runs by the pass itself between batches and by a heartbeat
thread during long single operations, and between passes by the daemon's
lease keeper (a leader keeps its lease while idle, so that `run --once` and
commands that send can tell that a daemon is running). When it was refused or
ran out, the `stop` event is set and the pass ends after the message it is
working on, so two instances never work at once for longer than that one
message. A renewal
that fails because the database is busy is not a loss while the lease holds.

Lease times are wall-clock time, never the app's clock: the demo and the tests
move the app's clock through weeks, but liveness is about real seconds. On
PostgreSQL they are the database server's clock, so that machines whose own
clocks disagree still agree on who leads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from mailbot.store.db import Database

log = logging.getLogger(__name__)


class LeaderBusy(RuntimeError):
    """Another mailbot instance holds the leader lease for this mailbox."""


class Lease:
    def __init__(self, db: Database, name: str, holder: str, ttl: timedelta) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self._lock = threading.Lock()
        self._held_until = 0.0  # monotonic time until which our last renewal holds
        self._lost: threading.Event | None = None

    def try_acquire(self) -> bool:
        """Take or renew the lease now; True when we hold it."""
        started = time.monotonic()  # no later than the expiry the database computes
        held = self.db.try_lease(self.name, self.holder, None, self.ttl)
        if held:
            with self._lock:
                self._held_until = max(self._held_until, started + self.ttl.total_seconds())
        return held

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lease, waiting up to `wait` seconds for a dead holder's lease to expire."""
        deadline = time.monotonic() + wait
        while True:
            if self.try_acquire():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def release(self) -> None:
        try:
            self.db.release_lease(self.name, self.holder)
        except Exception as exc:  # the database may be why we stop
            log.warning("could not release the leader lease: %s", exc)

    def renew_if_due(self) -> bool:
        """Renew when a third of the lifetime has passed; False when the lease is lost.

        Called between batches by the working thread itself (on SQLite it holds the
        write lock most of the time, so a separate thread alone could not get a word
        in), by the heartbeat, and by an idle daemon's lease keeper."""
        with self._lock:
            due = time.monotonic() >= self._held_until - self.ttl.total_seconds() * 2 / 3
        if not due:
            return True
        try:
            held = self.try_acquire()
        except Exception as exc:  # busy or briefly unreachable: not lost while it still holds
            log.debug("leader lease not renewed yet: %s", exc)
            held = time.monotonic() < self._held_until
        if not held and self._lost is not None and not self._lost.is_set():
            log.error("leader lease lost; stopping after the current message")
            self._lost.set()
        return held

    @contextmanager
    def heartbeat(self, lost: threading.Event) -> Iterator[None]:
        """Keep the lease while the block runs; set `lost` if it slips away.

        A thread renews every ttl/3 (for single long operations: a huge fetch, a
        slow SMTP server); the work loops also call `renew_if_due()` between
        batches. The lease counts as lost only when it was refused or its time
        really ran out, not because the database was busy for a moment.
        """
        done = threading.Event()
        interval = self.ttl.total_seconds() / 6
        self._lost = lost

        def beat() -> None:
            while not done.wait(interval) and not lost.is_set():
                self.renew_if_due()

        thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self._lost = None
