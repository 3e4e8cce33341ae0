"""Refused: the answer of both state machines to an event that does not apply."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """The event does not apply to the case as it stands; `reason` names why, and
    `details` carry what the reply to the sender needs (the phase, the stage)."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details
