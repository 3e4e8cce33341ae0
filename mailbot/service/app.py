"""What every use case needs, wired once by the daemon (or a test)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from mailbot.clock import Clock
from mailbot.config import Config
from mailbot.domain.calendar import WorkingCalendar
from mailbot.mail.port import Mailbox
from mailbot.render import Renderer
from mailbot.store.db import Database


@dataclass
class App:
    config: Config
    db: Database
    mailbox: Mailbox
    clock: Clock
    renderer: Renderer
    calendar: WorkingCalendar
    instance_id: str
    leader_id: str = field(default="")
    # Set by SIGTERM or a lost leader lease: passes stop after the current message.
    stop: threading.Event = field(default_factory=threading.Event)
    # Renews the leader lease when due; set for the duration of a pass.
    keep_lease: Callable[[], object] = field(default=lambda: None)

    def still_working(self) -> bool:
        """Between two units of work: keep the lease, and say whether to go on."""
        self.keep_lease()
        return not self.stop.is_set()

    @property
    def folders(self) -> FolderNames:
        return FolderNames.from_config(self.config)

    @property
    def own_address(self) -> str:
        return self.config.mailbox.address


@dataclass(frozen=True)
class FolderNames:
    inbox: str
    compliments: str
    processed: str
    triage: str
    quarantine: str
    outgoing: str

    @classmethod
    def from_config(cls, config: Config) -> FolderNames:
        f = config.mailbox.folders
        return cls(f.inbox, f.compliments, f.processed, f.triage, f.quarantine, f.outgoing)

    @property
    def watched(self) -> tuple[str, str]:
        return (self.inbox, self.compliments)

    @property
    def end_folders(self) -> tuple[str, str, str]:
        return (self.processed, self.triage, self.quarantine)

    def for_destination(self, destination: str) -> str:
        return {
            "processed": self.processed,
            "triage": self.triage,
            "quarantine": self.quarantine,
        }[destination]
