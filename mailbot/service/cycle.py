"""One pass of the daemon: what `mailbot run --once` does and what the scheduler repeats.

Order matters: ingest first (a supplier's reply that arrived before a deadline
must be seen before that deadline fires), then due deadlines, then the outbox,
so that everything decided in this pass also leaves in this pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from mailbot.service.app import App
from mailbot.service.ingest import IngestReport, Processor, ingest
from mailbot.service.outbox import FlushReport, flush

log = logging.getLogger(__name__)

Step = Callable[[App], object]


@dataclass
class CycleReport:
    ingest: IngestReport
    flush: FlushReport
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.ingest.errors and not self.flush.errors


def run_cycle(app: App, process: Processor, steps: dict[str, Step] | None = None) -> CycleReport:
    """Ingest, run the extra steps (deadlines, drafts, digest) in order, flush the outbox."""
    ingest_report = ingest(app, process)
    extra: dict[str, object] = {}
    for name, step in (steps or {}).items():
        extra[name] = step(app)
    flush_report = flush(app)
    return CycleReport(ingest=ingest_report, flush=flush_report, extra=extra)
