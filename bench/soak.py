"""Soak test: the real daemon against a private Dovecot for minutes, with faults.

    python -m bench.soak [--minutes 10] [--write]

A feeder appends a mixed stream to the IMAP account (escalations opened by
staff, supplier replies to the letters that went out, owners' verdicts,
compliments, out-of-office replies, malformed mail from the corpora) while a
`mailbot run` process works through it. Every so often the daemon is killed
with SIGKILL and started again, and Dovecot is restarted under it.

At the end the books must balance: every appended message is in the database
and in an end folder (messages in = messages accounted for), no Message-ID
reached the SMTP server twice (duplicate sends = 0), and the daemon never
exited on its own (crashes = 0). Results go to docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller

from bench.report import write_section
from mailbot.mail.parse import parse
from tests.corpora import corpus_messages
from tests.servers import free_port
from tests.servers.dovecot import new_account, start_dovecot
from tests.servers.smtp import SmtpSink

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
poll_interval = 5
lease_seconds = 5
max_per_recipient_per_hour = 1000
max_per_recipient_per_day = 10000
[mailbox]
backend = "imap"
address = "leveranciers@gemeente.example"
[mailbox.imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password_file = "imap.secret"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]
compliment_coordinators = ["kwaliteit@gemeente.example"]
digest_to = []
[[people]]
email = "a.jansen@gemeente.example"
name = "Anna Jansen"
[[people]]
email = "kwaliteit@gemeente.example"
name = "Karin de Wit"
[[suppliers]]
id = "acme"
name = "Acme Hosting B.V."
domains = ["acme.example"]
sla_reference = "SLA Hosting 2025"
counterpart = "servicemanager@acme.example"
"""


def message(
    n: int, sender: str, subject: str, body: str, extra: str = "", reply_to: str = ""
) -> bytes:
    headers = [
        f"From: {sender}",
        "To: leveranciers@gemeente.example",
        f"Subject: {subject}",
        f"Message-ID: <soak-{n}@{sender.rpartition('@')[2]}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if reply_to:
        headers += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


class Feeder(threading.Thread):
    def __init__(self, account: object, sink: SmtpSink, until: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.account, self.sink, self.until = account, sink, until
        self.rng = random.Random(seed)
        self.appended = 0
        self.failed_appends = 0
        self.corpus = [p for p in corpus_messages() if p.stat().st_size < 200_000]

    def append(self, folder: str, raw: bytes) -> None:
        for _ in range(20):
            try:
                self.account.append(folder, raw)  # type: ignore[attr-defined]
                self.appended += 1
                return
            except Exception:  # Dovecot is being restarted: try again shortly
                time.sleep(0.5)
        self.failed_appends += 1

    def sent(self, pattern: str) -> list[tuple[str, str]]:
        found = []
        for received in list(self.sink.messages):
            mail = parse(received.data)
            if re.search(pattern, mail.subject) and mail.message_id:
                found.append((mail.subject, mail.message_id))
        return found

    def run(self) -> None:
        n = 0
        while time.monotonic() < self.until:
            n += 1
            kind = self.rng.choices(
                ["open", "reply", "verdict", "praise", "oof", "corpus"], [1, 4, 2, 2, 1, 3]
            )[0]
            if kind == "open":
                self.append(
                    "INBOX",
                    message(
                        n,
                        "a.jansen@gemeente.example",
                        f"Escalatie acme: storing {n}",
                        "Het werkt niet.",
                    ),
                )
            elif kind == "reply" and (letters := self.sent(r"Stap \d")):
                subject, mid = self.rng.choice(letters)
                self.append(
                    "INBOX",
                    message(
                        n,
                        "servicemanager@acme.example",
                        f"RE: {subject}",
                        f"We werken eraan ({n}).",
                        reply_to=mid,
                    ),
                )
            elif kind == "verdict" and (forwards := self.sent(r"Reactie van")):
                subject, mid = self.rng.choice(forwards)
                word = self.rng.choice(["ONVOLDOENDE", "AKKOORD", "VERLENG 2"])
                self.append(
                    "INBOX",
                    message(n, "a.jansen@gemeente.example", f"RE: {subject}", word, reply_to=mid),
                )
            elif kind == "praise":
                self.append(
                    "complimenten",
                    message(
                        n,
                        f"klant{n}@klant.example",
                        "Compliment",
                        "Anna Jansen hielp ons geweldig.",
                    ),
                )
            elif kind == "oof" and (letters := self.sent(r"Stap \d")):
                subject, mid = self.rng.choice(letters)
                self.append(
                    "INBOX",
                    message(
                        n,
                        "servicemanager@acme.example",
                        f"Automatisch antwoord: {subject}",
                        "Ik ben afwezig.",
                        extra="Auto-Submitted: auto-replied",
                        reply_to=mid,
                    ),
                )
            else:
                self.append("INBOX", self.rng.choice(self.corpus).read_bytes())
            time.sleep(self.rng.uniform(0.05, 0.4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    server = start_dovecot()
    account = new_account(server)
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    root = Path(tempfile.mkdtemp(prefix="mailbot-soak-"))
    (root / "imap.secret").write_text(account.password)
    (root / "mailbot.toml").write_text(
        CONFIG.format(imap_port=account.port, user=account.user, smtp_port=controller.port)
    )
    command = [sys.executable, "-m", "mailbot", "--config", str(root / "mailbot.toml"), "run"]
    subprocess.run([*command, "--once"], check=True, capture_output=True)  # first start: empty
    log = (root / "daemon.log").open("ab")
    start = time.monotonic()
    until = start + args.minutes * 60
    feeder = Feeder(account, sink, until, args.seed)
    feeder.start()
    daemon = subprocess.Popen(command, stdout=log, stderr=log)
    kills = restarts = crashes = 0
    next_kill = time.monotonic() + rng.uniform(20, 60)
    next_restart = time.monotonic() + rng.uniform(40, 90)
    while time.monotonic() < until:
        time.sleep(1)
        if daemon.poll() is not None:
            crashes += 1  # it ended without us killing it
            daemon = subprocess.Popen(command, stdout=log, stderr=log)
        if time.monotonic() >= next_kill:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            kills += 1
            daemon = subprocess.Popen(command, stdout=log, stderr=log)
            next_kill = time.monotonic() + rng.uniform(20, 60)
        if time.monotonic() >= next_restart:
            server.restart()
            restarts += 1
            next_restart = time.monotonic() + rng.uniform(40, 90)
    feeder.join()
    # let it finish what is waiting, then stop it cleanly
    time.sleep(30)
    daemon.send_signal(signal.SIGTERM)
    exit_code = daemon.wait(120)
    subprocess.run([*command, "--once"], capture_output=True)
    with sqlite3.connect(root / "mailbot.db") as db:
        stored = db.execute(
            "select count(*) from inbound_messages where status != 'preexisting'"
        ).fetchone()[0]
        unfinished = db.execute(
            "select count(*) from inbound_messages where status not in ('moved', 'preexisting')"
        ).fetchone()[0]
        cases = db.execute("select kind, count(*) from cases group by kind").fetchall()
    left = len(account.messages("INBOX")) + len(account.messages("complimenten"))
    ends = sum(len(account.messages(f)) for f in ("Verwerkt", "Te beoordelen", "Quarantaine"))
    ids = Counter(parse(m.data).message_id for m in sink.messages)
    duplicates = sum(count - 1 for count in ids.values() if count > 1)
    accounted = stored == ends == feeder.appended and left == 0
    lines = [
        f"- duration **{args.minutes:g} min**, {feeder.appended} messages appended "
        f"({feeder.failed_appends} appends failed during server restarts and were not counted)",
        f"- faults: **{kills} × kill -9** of the daemon, **{restarts} Dovecot restarts**",
        f"- messages in: {feeder.appended}; in the database: {stored}; in an end folder: {ends}; "
        f"still in a watched folder: {left}; not finished: {unfinished}",
        f"- **messages in = messages accounted for: {'yes' if accounted else 'NO'}**",
        f"- mails sent: {sum(ids.values())} ({len(ids)} distinct Message-IDs); "
        f"**duplicate sends: {duplicates}**",
        f"- **crashes: {crashes}** (daemon exits we did not cause); "
        f"clean stop at the end: exit {exit_code}",
        f"- cases at the end: {', '.join(f'{n} {k}' for k, n in cases)}",
    ]
    print("\n".join(lines))
    controller.stop()
    server.stop()
    if args.write:
        write_section(
            "Soak test",
            lines,
            machine=f"{platform.node()} {os.cpu_count()} cores",
            doc=DOC,
            heading="# Reliability\n",
        )


if __name__ == "__main__":
    main()
