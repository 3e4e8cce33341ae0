"""Start-up with a big database: time from process start to the first ingest, and idle CPU.

    python -m bench.startup [--cases 100000] [--idle-seconds 60] [--write]

Start-up: `mailbot run --once` on an empty mailbox with N open cases (nothing
due): imports, config, migration check, first ingest, sweep, exit.
Idle: the real daemon (`mailbot run`) with nothing to do, CPU time used over
a minute, read from /proc: push/IDLE or directory watching, no busy polling.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section
from bench.seed import a_working_monday, seed, write_config


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbot-startup-"))
    try:
        config = write_config(root)
        seed(root, args.cases, 0, a_working_monday())
        command = [sys.executable, "-m", "mailbot", "--config", str(config)]
        subprocess.run([*command, "run", "--once"], check=True, capture_output=True)  # first start
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([*command, "run", "--once"], check=True, capture_output=True)
            runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mailbot.cli, mailbot.daemon"], check=True)
        imports = time.perf_counter() - start
        daemon = subprocess.Popen(
            [*command, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(5)  # started, first pass done
        before, wall = cpu_seconds(daemon.pid), time.perf_counter()
        time.sleep(args.idle_seconds)
        used, elapsed = cpu_seconds(daemon.pid) - before, time.perf_counter() - wall
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        lines = [
            f"- `mailbot run --once` with {args.cases:,} open cases and an empty mailbox: "
            f"**{min(runs):.2f} s** (best of 5; median {sorted(runs)[2]:.2f} s), of which "
            f"{imports:.2f} s is starting Python and importing mailbot",
            f"- the daemon with nothing to do: **{used / elapsed * 100:.2f} % of one core** "
            f"({used:.2f} s CPU in {elapsed:.0f} s; Maildir backend, which stats the watched "
            "folders once a second; IMAP uses IDLE)",
        ]
        print("\n".join(lines))
        if args.write:
            write_section(
                "Start-up and idle", lines, machine=f"{platform.node()} {os.cpu_count()} cores"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
