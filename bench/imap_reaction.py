"""IMAP reaction time: seconds from a mail's APPEND to mailbot having handled it.

Run by hand from the repository root (needs Debian's `dovecot-imapd`):

    python -m bench.imap_reaction                 # 50 samples each, poll every 10 s
    python -m bench.imap_reaction --write         # also update docs/performance.md

It starts a private Dovecot and an aiosmtpd sink, runs the real daemon
(`mailbot.daemon.Daemon`) against them, APPENDs mails one at a time from an
outside client and measures until the end signal, once with IMAP IDLE and once
with polling only (`idle = false`). Mails are appended at a random moment of
the poll cycle, so the polling figures sample the cycle evenly.

The end signal is one function (`END_SIGNALS`): today "the mail has left the
Inbox for its end folder" (stored, processed and moved: the whole ingest);
once the ladder exists, "the owner's forward of a supplier reply reached the
SMTP server" (`forward_arrived`) measures the full path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import imaplib
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller

from mailbot.config import from_dict
from mailbot.daemon import Daemon, build_app
from tests.mail.contract import make_mail
from tests.servers import free_port
from tests.servers.dovecot import Account, mailbox_arg, new_account, start_dovecot
from tests.servers.smtp import SmtpSink

END_FOLDER = "Te beoordelen"  # where an unmatched mail from a stranger ends
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
SECTION = "## IMAP reaction time"
DOC_HEADER = """# Performance

Measured figures. Each section is written by a script in `bench/` and names
the machine and the date it was measured on; rerun the script to refresh it.
"""


@dataclass
class Rig:
    """What an end signal can look at."""

    account: Account
    sink: SmtpSink
    outside: imaplib.IMAP4


# -- end signals: each returns the moment (time.monotonic) it saw mail number `count` --


def moved_to_end_folder(rig: Rig, count: int, timeout: float) -> float:
    """The `count`-th mail has arrived in its end folder (so it left the Inbox)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        typ, data = rig.outside.status(mailbox_arg(END_FOLDER), "(MESSAGES)")
        if typ == "OK" and int(data[0].rsplit(b" ", 1)[-1].rstrip(b")")) >= count:
            return time.monotonic()
        time.sleep(0.005)
    raise TimeoutError(f"mail {count} did not reach {END_FOLDER!r} within {timeout} s")


def forward_arrived(rig: Rig, count: int, timeout: float) -> float:
    """The `count`-th forward to the owner reached the SMTP server (needs the ladder)."""
    with rig.sink.arrived:
        if not rig.sink.arrived.wait_for(lambda: len(rig.sink.messages) >= count, timeout):
            raise TimeoutError(f"forward {count} did not arrive within {timeout} s")
    return time.monotonic()


END_SIGNALS: dict[str, Callable[[Rig, int, float], float]] = {
    "end-folder": moved_to_end_folder,
    "forward": forward_arrived,
}


# -- the rig -----------------------------------------------------------------------------


@contextmanager
def running_daemon(idle: bool, poll: float) -> Iterator[Rig]:
    server = start_dovecot()
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    workdir = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    daemon: Daemon | None = None
    runner: threading.Thread | None = None
    try:
        account = new_account(server)
        os.environ["MAILBOT_BENCH_IMAP_PASSWORD"] = account.password
        config = from_dict(
            {
                "mailbot": {
                    "admins": ["beheer@gemeente.example"],
                    "poll_interval": poll,
                    "database": f"sqlite:///{workdir / 'mailbot.db'}",
                },
                "mailbox": {
                    "backend": "imap",
                    "address": "leveranciers@gemeente.example",
                    "imap": {
                        "host": account.host,
                        "port": account.port,
                        "security": "none",
                        "username": account.user,
                        "password_env": "MAILBOT_BENCH_IMAP_PASSWORD",
                        "idle": idle,
                    },
                },
                "smtp": {"host": "127.0.0.1", "port": controller.port, "security": "none"},
                "organisation": {"name": "Gemeente Voorbeeld", "domains": ["gemeente.example"]},
            },
            base_dir=workdir,
        )
        app = build_app(config)
        daemon = Daemon(app)
        runner = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
        runner.start()
        deadline = time.monotonic() + 30
        while daemon.status["last_success"] is None:  # first start recorded
            if time.monotonic() > deadline:
                raise TimeoutError("the daemon did not finish its first pass")
            time.sleep(0.05)
        outside = imaplib.IMAP4(account.host, account.port)
        outside.login(account.user, account.password)
        try:
            yield Rig(account, sink, outside)
        finally:
            outside.logout()
    finally:
        if daemon is not None:
            daemon.stop.set()
        if runner is not None:
            runner.join(30)
        controller.stop()
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def measure(idle: bool, samples: int, poll: float, signal: str) -> list[float]:
    end = END_SIGNALS[signal]
    latencies: list[float] = []
    with running_daemon(idle, poll) as rig:
        for number in range(1, samples + 1):
            # a random moment of the poll cycle (IDLE: just a short pause)
            time.sleep(random.uniform(0, poll) if not idle else random.uniform(0.1, 0.3))
            raw = make_mail(
                f"Bench {number}",
                sender="jan@acme.example",
                message_id=f"bench-{number}-{time.time_ns()}@acme.example",
            )
            started = time.monotonic()
            typ, data = rig.outside.append("INBOX", None, None, raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")
            latencies.append(end(rig, number, poll * 3 + 30) - started)
            print(
                f"  {'idle' if idle else 'poll'} {number:3d}: {latencies[-1]:.3f} s",
                file=sys.stderr,
            )
    return latencies


# -- report --------------------------------------------------------------------------------


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "median": statistics.median(ordered),
        "p90": statistics.quantiles(ordered, n=10, method="inclusive")[8],
        "min": ordered[0],
        "max": ordered[-1],
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        dovecot = subprocess.run(
            ["dovecot", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[0]
    except (OSError, IndexError):
        dovecot = "?"
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Dovecot {dovecot}"
    )


def section(results: dict[str, list[float]], poll: float, signal: str) -> str:
    rows = []
    for mode, latencies in results.items():
        s = summary(latencies)
        rows.append(
            f"| {mode} | {len(latencies)} | {s['median']:.2f} | {s['p90']:.2f} "
            f"| {s['min']:.2f} | {s['max']:.2f} |"
        )
    signal_text = {
        "end-folder": "the mail is in its end folder (stored, processed, moved out of the Inbox)",
        "forward": "the owner's forward of the supplier reply reached the SMTP server",
    }[signal]
    return f"""{SECTION}

Seconds from the APPEND of a mail into the Inbox until
{signal_text}.
The real daemon runs against a private Dovecot on loopback
(`python -m bench.imap_reaction`).
Polling mode is `idle = false` with `poll_interval = {poll:g}` s; mails are appended
at random moments of the poll cycle.

| mode | samples | median (s) | p90 (s) | min (s) | max (s) |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Measured {dt.date.today().isoformat()} on {machine()}.

With IDLE, up to 0.5 s of the reaction is Dovecot's own: after a change in a
mailbox it waits that long before telling IDLE clients, to coalesce bursts
(`NOTIFY_DELAY_MSECS` in `src/lib-storage/mailbox-watch.c`). The owner's
forward (end signal `forward`) follows when the escalation ladder lands; it adds
one pass's outbox flush and an SMTP submission to the path measured here.
"""


def write_section(text: str) -> None:
    content = DOC.read_text(encoding="utf-8") if DOC.exists() else DOC_HEADER
    if SECTION in content:
        start = content.index(SECTION)
        following = content.find("\n## ", start + len(SECTION))
        rest = content[following + 1 :] if following != -1 else ""  # the sections after ours
        content = content[:start] + text + ("\n" + rest if rest else "")
    else:
        content = content.rstrip("\n") + "\n\n" + text
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(content, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--poll", type=float, default=10.0, help="poll_interval in seconds")
    parser.add_argument("--signal", choices=sorted(END_SIGNALS), default="end-folder")
    parser.add_argument("--only", choices=["idle", "polling"], help="measure one mode only")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results: dict[str, list[float]] = {}
    for mode in ("idle", "polling"):
        if args.only in (None, mode):
            results[mode] = measure(mode == "idle", args.samples, args.poll, args.signal)
    text = section(results, args.poll, args.signal)
    print(text)
    if args.write:
        write_section(text)
        print(f"written to {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
