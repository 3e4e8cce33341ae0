"""The leader lease: one instance per mailbox ingests and sends.

A lease row with an expiry, taken and renewed by conditional UPDATE (see
`Database.try_lease`). While a pass runs, a heartbeat thread renews it every
third of its lifetime; if renewal fails, the `stop` event is set and the pass
ends after the message it is working on, so two instances never work at once
for longer than that one message.

Lease times are wall-clock time, never the app's clock: the demo and the tests
move the app's clock through weeks, but liveness is about real seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

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

    def try_acquire(self) -> bool:
        """Take or renew the lease now; True when we hold it."""
        return self.db.try_lease(self.name, self.holder, datetime.now(UTC), self.ttl)

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

    @contextmanager
    def heartbeat(self, lost: threading.Event) -> Iterator[None]:
        """Renew every ttl/3 while the block runs; set `lost` if the lease slips away."""
        done = threading.Event()
        interval = self.ttl.total_seconds() / 3

        def beat() -> None:
            while not done.wait(interval):
                try:
                    held = self.try_acquire()
                except Exception as exc:
                    log.warning("leader lease not renewed: %s", exc)
                    held = False
                if not held:
                    log.error("leader lease lost; stopping after the current message")
                    lost.set()
                    return

        thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
