"""Weekly digest build time on two years of realistic history (target: under 2 s).

Run by hand from the repository root:

    python -m bench.digest              # SQLite, and PostgreSQL when Debian's postgresql is there
    python -m bench.digest --write      # also update the "Digest" section of docs/performance.md

It seeds a fresh database with `tests.digest_history.seed_history()` (two
years: escalations that mostly end at step 1 or 2 and sometimes reach step 5,
approvals that wait, compliments at human speed, with the timeline, deadline
and outbox rows around them), then builds and renders the digest of the last
complete week five times and reports the median. It does the same at five
times that volume, to show the headroom: the digest reads bounded sets (open
cases, the last 12 months of escalation timestamps, the last 12 weeks of
compliments), so its time follows those, not the size of the history.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy

from mailbot.clock import ManualClock
from mailbot.config import from_dict
from mailbot.daemon import build_app
from mailbot.service import digest
from tests.digest_history import seed_history
from tests.fixtures import BASE_CONFIG, merge

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
SECTION = "## Digest"
DOC_HEADER = """# Performance

Measured figures. Each section is written by a script in `bench/` and names
the machine and the date it was measured on; rerun the script to refresh it.
"""
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
RUNS = 5
HEADER = (
    "| database | volume | escalations | compliments | rows in total | queries + figures (ms) "
    "| with rendering, median (ms) | slowest (ms) | HTML (kB) |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


@dataclass
class Result:
    database: str
    scale: int
    escalations: int
    compliments: int
    rows: int
    seconds: list[float]  # build + render, per run
    build: list[float]  # queries and figures only
    html_kb: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """A throwaway PostgreSQL database, or None when PostgreSQL is not installed."""
    try:
        from tests.servers.postgres import PostgresServer
    except ImportError:
        yield None
        return
    initdb = next(Path("/usr/lib/postgresql").glob("*/bin/initdb"), None)
    if initdb is None:
        yield None
        return
    server = PostgresServer(str(initdb))
    try:
        server.start()
        yield server.url(server.create_database())
    finally:
        server.cleanup()


def measure(url: str, scale: int, folder: Path) -> Result:
    config = from_dict(
        merge(BASE_CONFIG, {"mailbot": {"database": url}, "mailbox": {"path": str(folder)}}),
        base_dir=folder,
    )
    app = build_app(config, clock=ManualClock(NOW))
    try:
        with app.db.session() as session:
            seeded = seed_history(
                session,
                config,
                app.calendar,
                until=NOW,
                escalations_per_week=2.5 * scale,
                compliments_per_week=20.0 * scale,
            )
        week = digest.schedule_of(app).last_complete_week(NOW)
        seconds, builds = [], []
        for _ in range(RUNS):
            start = time.perf_counter()
            built = digest.build(app, week)
            middle = time.perf_counter()
            mail = digest.render(app, built)
            seconds.append(time.perf_counter() - start)
            builds.append(middle - start)
        return Result(
            database=sqlalchemy.engine.make_url(url).get_backend_name(),
            scale=scale,
            escalations=seeded.escalations,
            compliments=seeded.compliments,
            rows=seeded.escalations + seeded.compliments + seeded.timeline + seeded.outbox,
            seconds=seconds,
            build=builds,
            html_kb=len(mail.html.encode()) / 1000,
        )
    finally:
        app.mailbox.close()
        app.db.close()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}"
    )


def section(results: list[Result]) -> str:
    rows = "\n".join(
        f"| {r.database} | {r.scale}× | {r.escalations} | {r.compliments} | {r.rows} "
        f"| {statistics.median(r.build) * 1000:.0f} | {r.median * 1000:.0f} "
        f"| {max(r.seconds) * 1000:.0f} | {r.html_kb:.0f} |"
        for r in results
    )
    return f"""{SECTION}

Building and rendering the weekly digest (`mailbot.service.digest.build()` +
`render()`) on two years of realistic history seeded by
`tests.digest_history.seed_history()` (`python -m bench.digest`); median of
{RUNS} runs. The target is under 2 s. 1× is a busy municipality (about 2.5
escalations and 20 compliments a week, with 4 to 10 timeline rows and 1 to 4
outbox rows per case); 5× shows the headroom.

{HEADER}
{rows}

Measured {dt.date.today().isoformat()} on {machine()}.

The digest never walks the whole history: it reads the open escalations, the
timestamps of escalations open or closed in the last 12 months, the compliments
of the last 12 weeks and the open CAPs (JSON members only, not the mail texts),
plus one GROUP BY, and computes the rest in one pass in Python. Gmail clips
HTML mail above 102 kB (the rest is one tap away); the digest's size follows
the number of open escalations, not the history.
"""


def write_section(text: str) -> None:
    content = DOC.read_text(encoding="utf-8") if DOC.exists() else DOC_HEADER
    if SECTION + "\n" in content:
        start = content.index(SECTION + "\n")
        following = content.find("\n## ", start + len(SECTION))
        rest = content[following + 1 :] if following != -1 else ""  # the sections after ours
        content = content[:start] + text + ("\n" + rest if rest else "")
    else:
        content = content.rstrip("\n") + "\n\n" + text
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(content, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results = []
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp:
        for scale in args.scales:
            folder = Path(tmp) / f"sqlite-{scale}"
            folder.mkdir()
            results.append(measure(f"sqlite:///{folder / 'mailbot.db'}", scale, folder))
            print(f"sqlite {scale}×: {results[-1].median:.3f} s", file=sys.stderr)
        if not args.no_postgres:
            for scale in args.scales:
                with postgres_url() as url:
                    if url is None:
                        print("PostgreSQL not installed: skipped", file=sys.stderr)
                        break
                    folder = Path(tmp) / f"postgres-{scale}"
                    folder.mkdir()
                    results.append(measure(url, scale, folder))
                    print(f"postgresql {scale}×: {results[-1].median:.3f} s", file=sys.stderr)
    text = section(results)
    print(text)
    if args.write:
        write_section(text)
        print(f"written to {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
