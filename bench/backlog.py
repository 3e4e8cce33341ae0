"""Backlog ingest: N waiting mails processed by one real `mailbot run --once`.

    python -m bench.backlog [--messages 10000] [--cases 100] [--write]

The mailbox holds supplier replies to open escalations (each is matched, recorded
and forwarded to its owner with the verdict question) and compliments (each is
registered, the maker thanked and the coordinator told): realistic work, not
just moves. Measured end to end as a separate process, the way cron runs it:
messages per second, peak RSS, and the ratio to a bare stdlib parse of the
same files (the floor any Python mail program stands on).

In the same run it measures the storage floor: the work no implementation of
the pass can skip on the embedded default, done with mailbot's own Maildir
adapter and parser but without any database or decision: reading each mail,
writing each answer the pass sent durably into a Maildir (spool and Sent), and
moving each mail out of the inbox. What the targets leave for everything else
is the target's time minus this floor.
"""

from __future__ import annotations

import argparse
import email
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from email.policy import compat32, default
from pathlib import Path

from bench.report import write_section
from mailbot.mail.maildir import MaildirMailbox
from mailbot.mail.parse import parse
from mailbot.mail.port import INBOX, Envelope

CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
lease_seconds = 30
# the owner gets thousands of forwards at once: the loop-protection cap would (rightly)
# hold most of them; this benchmark measures processing, so the caps are set high
max_per_recipient_per_hour = 100000
max_per_recipient_per_day = 1000000
[mailbox]
address = "leveranciers@gemeente.example"
path = "mailbox"
[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]
compliment_coordinators = ["kwaliteit@gemeente.example"]
[[people]]
email = "a.jansen@gemeente.example"
name = "Anna Jansen"
[[people]]
email = "kwaliteit@gemeente.example"
name = "Karin de Wit"
[[people]]
email = "p.devries@gemeente.example"
name = "Piet de Vries"
team = "Servicedesk"
{suppliers}
"""

SUPPLIER = """
[[suppliers]]
id = "s{n}"
name = "Leverancier {n} B.V."
domains = ["s{n}.example"]
sla_reference = "SLA {n}"
counterpart = "sm@s{n}.example"
"""

REPLY = (
    "From: Service Manager <sm@s{s}.example>\r\nTo: leveranciers@gemeente.example\r\n"
    "Subject: RE: {subject}\r\nMessage-ID: <reply-{n}@s{s}.example>\r\nIn-Reply-To: <{mid}>\r\n"
    "References: <{mid}>\r\nDate: Mon, 14 Dec 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Geachte mevrouw Jansen,\r\n\r\nWe hebben maatregel {n} genomen: de server is vervangen.\r\n"
    "Met vriendelijke groet,\r\nService Manager\r\n\r\n"
    "Van: Anna Jansen via Leveranciersmanagement <leveranciers@gemeente.example>\r\n"
    "Verzonden: maandag 7 december 2026 10:00\r\nOnderwerp: {subject}\r\n\r\n"
    + "> Eerdere tekst.\r\n"
    * 30
)
PRAISE = (
    "From: Klant {n} <klant{n}@klant.example>\r\nTo: leveranciers@gemeente.example\r\n"
    "Subject: Compliment voor de servicedesk\r\nMessage-ID: <praise-{n}@klant.example>\r\n"
    "Date: Mon, 14 Dec 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Wat een fijne hulp van Piet de Vries vandaag! Binnen een uur was alles opgelost.\r\n" * 3
)


def mailbot(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(root / "mailbot.toml"), *args],
        capture_output=True,
        text=True,
        check=True,
    )


def prepare(root: Path, messages: int, cases: int) -> list[Path]:
    suppliers = "".join(SUPPLIER.format(n=n) for n in range(cases))
    (root / "mailbot.toml").write_text(CONFIG.format(suppliers=suppliers))
    mailbot(root, "run", "--once")  # first start
    inbox = root / "mailbox" / "new"
    for n in range(cases):
        (inbox / f"open-{n}.eml").write_bytes(
            f"From: a.jansen@gemeente.example\r\nTo: leveranciers@gemeente.example\r\n"
            f"Subject: Escalatie s{n}: storing {n}\r\n"
            f"Message-ID: <open-{n}@gemeente.example>\r\n\r\n"
            f"Storing {n}.\r\n".encode()
        )
    mailbot(root, "run", "--once")  # opens the cases, sends step 1
    letters: list[tuple[int, str, str]] = []
    for path in (root / "mailbox" / ".Uitgaand" / "cur").iterdir():
        mail = parse(path.read_bytes())
        if "Stap 1" in mail.subject:
            supplier = int(mail.to[0].email.split("@s")[1].split(".")[0])
            letters.append((supplier, mail.subject, mail.message_id or ""))
    replies = messages * 4 // 5
    files: list[Path] = []
    for n in range(messages):
        if n < replies:
            s, subject, mid = letters[n % len(letters)]
            raw = REPLY.format(s=s, subject=subject, mid=mid, n=n)
            path = inbox / f"reply-{n}.eml"
        else:
            raw = PRAISE.format(n=n)
            path = root / "mailbox" / ".complimenten" / "new" / f"praise-{n}.eml"
        path.write_bytes(raw.encode())
        files.append(path)
    return files


def bare_parse(raws: list[bytes]) -> tuple[float, float]:
    """Seconds to parse every message with the stdlib: compat32, and policy.default + body."""
    start = time.perf_counter()
    for raw in raws:
        email.message_from_bytes(raw, policy=compat32)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    for raw in raws:
        message = email.message_from_bytes(raw, policy=default)
        body = message.get_body(preferencelist=("plain", "html"))
        if body is not None:
            body.get_content()
    full = time.perf_counter() - start
    return fast, full


def storage_floor(raws: list[bytes], answers: list[bytes], scratch: Path) -> dict[str, float]:
    """Seconds for the unskippable part of a pass, through mailbot's own adapter:
    parse every mail, deliver every answer (spool file + Sent link, fsync'd), move
    every mail out of the inbox."""
    start = time.perf_counter()
    for raw in raws:
        parse(raw)
    parsing = time.perf_counter() - start
    box = MaildirMailbox(scratch / "floor")
    box.open(["Verwerkt"])
    envelope = Envelope(sender="leveranciers@gemeente.example", recipients=["a@gemeente.example"])
    start = time.perf_counter()
    for n, raw in enumerate(answers):
        box.send(raw, envelope, f"<floor-{n}@gemeente.example>")
    delivering = time.perf_counter() - start
    for n, raw in enumerate(raws):
        (box.root / "new" / f"in-{n}.eml").write_bytes(raw)
    keys = list(box.scan(INBOX).keys)
    start = time.perf_counter()
    box.move_many(INBOX, keys, "Verwerkt")
    moving = time.perf_counter() - start
    return {"parse": parsing, "deliver": delivering, "move": moving}


def run(messages: int, cases: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    try:
        raws = [p.read_bytes() for p in prepare(root, messages, cases)]
        spool = root / "mailbox" / ".Uitgaand" / "cur"
        letters_before = set(spool.iterdir())  # the step-1 letters that opened the cases
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        result = mailbot(root, "run", "--once")
        elapsed = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        stored = int(result.stdout.split(" stored")[0].split()[-1])
        processed = int(result.stdout.split(" processed")[0].split()[-1])
        sent = int(result.stdout.split("out: ")[1].split(" sent")[0])
        # a pass that stopped early (a lost lease, an error) must not pass for a fast one
        assert stored == processed == messages, result.stdout + result.stderr[-2000:]
        assert sent >= messages, result.stdout
        # the next pass reads back what this one sent (drafts sent by hand, SPEC §4)
        start = time.perf_counter()
        mailbot(root, "run", "--once")
        after = time.perf_counter() - start
        fast, full = bare_parse(raws)
        answers = [p.read_bytes() for p in set(spool.iterdir()) - letters_before]
        floor = storage_floor(raws, answers, root)
        floor_seconds = sum(floor.values())
        return {
            "messages": messages,
            "seconds": elapsed,
            "rate": messages / elapsed,
            "peak_rss_mb": max(peak_kb, before) / 1024,
            "bare_compat32_rate": messages / fast,
            "bare_default_rate": messages / full,
            "ratio_default": elapsed / full,
            "ratio_compat32": elapsed / fast,
            "out": float(result.stdout.split("out: ")[1].split(" sent")[0]),
            "after_seconds": after,
            "answers": len(answers),
            "floor_parse": floor["parse"],
            "floor_deliver": floor["deliver"],
            "floor_move": floor["move"],
            "floor_seconds": floor_seconds,
            "floor_rate": messages / floor_seconds,
            "floor_ratio_default": floor_seconds / full,
            "left_at_500": messages / 500 - floor_seconds,
            "left_at_5x": 5 * full - floor_seconds,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument(
        "--write", action="store_true", help="write the result to docs/performance.md"
    )
    args = parser.parse_args()
    figures = run(args.messages, args.cases)
    lines = [
        f"- {figures['messages']:.0f} waiting mails (4/5 supplier replies to {args.cases} "
        "open cases, "
        f"1/5 compliments) in one `mailbot run --once`: **{figures['seconds']:.1f} s = "
        f"{figures['rate']:.0f} messages/s** end to end (process start, migrations check, "
        f"{figures['out']:.0f} mails out), peak RSS **{figures['peak_rss_mb']:.0f} MB**",
        f"- bare stdlib parse of the same files: {figures['bare_default_rate']:.0f} msg/s "
        f"(`policy.default` + body), {figures['bare_compat32_rate']:.0f} msg/s (`compat32`); "
        f"mailbot takes **{figures['ratio_default']:.1f}×** the `policy.default` parse "
        f"({figures['ratio_compat32']:.1f}× the `compat32` one)",
        f"- the pass after it, which reads back the {figures['out']:.0f} copies in Sent "
        f"(looking for drafts sent by hand) and finds nothing else to do: "
        f"**{figures['after_seconds']:.1f} s**",
        f"- the storage floor of the same mails, no database, no decisions (mailbot's parser "
        f"and Maildir adapter): parsing {figures['floor_parse']:.1f} s, delivering the "
        f"{figures['answers']:.0f} answers durably (spool + Sent) "
        f"**{figures['floor_deliver']:.1f} s** "
        f"({figures['floor_deliver'] / figures['answers'] * 1000:.2f} ms each), moving "
        f"{figures['floor_move']:.1f} s: **{figures['floor_seconds']:.1f} s = "
        f"{figures['floor_rate']:.0f} messages/s, {figures['floor_ratio_default']:.1f}× the bare "
        f"parse** before any database work; at 500 msg/s that leaves "
        f"{figures['left_at_500']:.1f} s, within 5× the bare parse "
        f"{figures['left_at_5x']:.1f} s, for storing, deciding, rendering and recording "
        f"{figures['messages']:.0f} mails",
    ]
    print("\n".join(lines))
    if args.write:
        write_section("Backlog ingest", lines, machine=f"{platform.node()} {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
