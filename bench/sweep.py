"""Deadline sweep: N open cases, 100 of them due. Does the cost grow with N?

    python -m bench.sweep [--write]

Two figures per size: finding the due rows (the part that could grow with the
number of open cases: an indexed query on `(status, due_at)`), and firing all
100 due deadlines (each a real ladder decision: step 2's letter rendered and
queued, new deadlines, timeline). Of the firing, the time spent rendering the
letters from their templates is reported too: work any implementation does,
whatever its database.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import write_section
from bench.seed import a_working_monday, seed, write_config
from mailbot.clock import ManualClock
from mailbot.config import load
from mailbot.daemon import build_app
from mailbot.render import RenderedMail
from mailbot.service.app import App
from mailbot.service.deadlines import due_ids, fire_due

DUE = 100


def _time_rendering(app: App) -> list[float]:
    """Wrap the app's renderer so that every template rendering is timed."""
    timings: list[float] = []
    render = app.renderer.render

    def timed(name: str, language: str, **context: Any) -> RenderedMail:
        start = time.perf_counter()
        try:
            return render(name, language, **context)
        finally:
            timings.append(time.perf_counter() - start)

    app.renderer.render = timed  # type: ignore[method-assign]
    return timings


def measure(cases: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="mailbot-sweep-"))
    try:
        now = a_working_monday()
        config = load(write_config(root))
        seed(root, cases, DUE, now)
        app = build_app(config, clock=ManualClock(now))
        finds = []
        for _ in range(20):
            start = time.perf_counter()
            found = due_ids(app, now)
            finds.append(time.perf_counter() - start)
        assert len(found) == DUE, len(found)
        rendering = _time_rendering(app)
        start = time.perf_counter()
        fired = fire_due(app)
        fire = time.perf_counter() - start
        assert fired == DUE, fired
        start = time.perf_counter()
        assert fire_due(app) == 0
        empty = time.perf_counter() - start
        app.db.close()
        return {
            "find_ms": statistics.median(finds) * 1000,
            "fire_ms": fire * 1000,
            "render_ms": sum(rendering) * 1000,
            "letters": len(rendering),
            "empty_ms": empty * 1000,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--sizes", default="1000,100000")
    args = parser.parse_args()
    lines = [
        "| open cases | find the 100 due rows | fire all 100 (letters queued) "
        "| of which rendering the letters | a sweep with nothing due |",
        "|---|---|---|---|---|",
    ]
    for size in (int(s) for s in args.sizes.split(",")):
        figures = measure(size)
        lines.append(
            f"| {size:,} | {figures['find_ms']:.1f} ms | {figures['fire_ms']:.0f} ms "
            f"| {figures['render_ms']:.0f} ms ({figures['letters']:.0f} renderings) "
            f"| {figures['empty_ms']:.1f} ms |"
        )
        print(lines[-1], flush=True)
    if args.write:
        write_section("Deadline sweep", lines, machine=f"{platform.node()} {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
