"""`mailbot demo`: a realistic story on a fresh local mailbox, in fast-forward.

It writes a config, a Maildir and a SQLite database into a folder, then plays
a few weeks of a contract manager's mail: mails are dropped into the shared
mailbox as if people sent them, and the real daemon pass (`run_once`, the same
code as `mailbot run`) runs at the moments the story needs, on a clock that
jumps ahead. After each pass it prints which mails went where. Everything
stays on disk afterwards, so every mail can be opened and `mailbot --config
<folder>/mailbot.toml cases --all` shows the result.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from mailbot.clock import ManualClock
from mailbot.config import load
from mailbot.daemon import build_app, run_once
from mailbot.mail.parse import parse
from mailbot.service.cycle import CycleReport

TZ = ZoneInfo("Europe/Amsterdam")
Echo = Callable[[str], None]

CONFIG = """\
# The demo's config: a fictional municipality, two suppliers, a local Maildir.
[mailbot]
language = "{language}"
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
lease_seconds = 5

[mailbox]
backend = "maildir"
address = "leveranciers@gemeente.example"
path = "mailbox"

[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]
directors = ["directie@gemeente.example"]
compliment_coordinators = ["kwaliteit@gemeente.example"]
digest_to = ["mt@gemeente.example"]

[[people]]
email = "a.jansen@gemeente.example"
name = "Anna Jansen"
team = "Contractmanagement"
manager = "b.bakker@gemeente.example"
title = "{owner_title}"

[[people]]
email = "b.bakker@gemeente.example"
name = "Bert Bakker"
team = "Contractmanagement"
title = "{manager_title}"

[[people]]
email = "kwaliteit@gemeente.example"
name = "Karin de Wit"
team = "Kwaliteit"

[[suppliers]]
id = "acme"
name = "Acme Hosting B.V."
domains = ["acme.example"]
sla_reference = "SLA Hosting 2025, bijlage 4 (escalatieprocedure)"
counterpart = "servicemanager@acme.example"
counterpart_name = "Jan Pietersen"
counterpart_manager = "manager@acme.example"
directors = ["directie@acme.example"]
language = "{language}"
"""

WORDS = {
    "nl": {
        "title": "mailbot demo — een escalatie van begin tot eind, in vijf weken (versneld)",
        "folder": "Alles staat in",
        "open": "Anna Jansen (contractmanager) mailt het gedeelde postvak: Escalatie acme",
        "reply1": "Jan Pietersen van Acme antwoordt op stap 1",
        "verdict1": "Anna vindt het antwoord onvoldoende",
        "quiet": "weken later: de zaak is dicht, alleen het weekoverzicht voor het MT gaat nog uit",
        "reminder": "twee werkdagen voor de termijn",
        "deadline": "de termijn van stap 1 is verstreken",
        "plan": "Acme stuurt een actieplan met bijlage",
        "accept": "Anna keurt het plan goed",
        "stranger": "iemand van buiten kopieert het zaaknummer in een onderwerp",
        "broken": "een kapotte e-mail (ongeldige MIME) komt binnen",
        "out": "verstuurd",
        "draft": "als concept bewaard",
        "to": "aan",
        "cc": "cc",
        "in": "binnen",
        "end": "Einde van het verhaal. Zaken:",
        "look": "Bekijk een zaak met:",
        "where": "Mappen in het postvak:",
    },
    "en": {
        "title": "mailbot demo — one escalation from start to finish, five weeks in fast-forward",
        "folder": "Everything is in",
        "open": "Anna Jansen (contract manager) mails the shared mailbox: Escalation acme",
        "reply1": "Jan Pietersen of Acme replies to step 1",
        "verdict1": "Anna finds the reply insufficient",
        "quiet": "weeks later: the case is closed; only management's weekly digest still goes out",
        "reminder": "two working days before the deadline",
        "deadline": "the deadline of step 1 has passed",
        "plan": "Acme sends an action plan with an attachment",
        "accept": "Anna accepts the plan",
        "stranger": "an outsider copies the case number into a subject",
        "broken": "a broken mail (invalid MIME) arrives",
        "out": "sent",
        "draft": "saved as draft",
        "to": "to",
        "cc": "cc",
        "in": "in",
        "end": "End of the story. Cases:",
        "look": "Look at a case with:",
        "where": "Folders in the mailbox:",
    },
}

_numbers = itertools.count(1)


@dataclass
class _Demo:
    root: Path
    language: str
    echo: Echo
    clock: ManualClock
    seen: set[str]

    @property
    def words(self) -> dict[str, str]:
        return WORDS[self.language]

    def drop(self, message: EmailMessage | bytes, folder: str = "") -> None:
        raw = message if isinstance(message, bytes) else message.as_bytes()
        target = self.root / "mailbox" / (f".{folder}" if folder else "") / "new"
        target.mkdir(parents=True, exist_ok=True)
        (target / f"demo-{next(_numbers)}.eml").write_bytes(raw)

    def at(self, moment: datetime, what: str) -> None:
        self.clock.set(moment)
        self.echo("")
        self.echo(f"{_when(moment, self.language)}  {what}")

    def run(self) -> CycleReport:
        config = load(self.root / "mailbot.toml")
        app = build_app(config, clock=self.clock)
        try:
            report = run_once(app)
        finally:
            app.mailbox.close()
            app.db.close()
        self._show_incoming(report)
        self._show_outgoing()
        return report

    def _show_incoming(self, report: CycleReport) -> None:
        folders = {"processed": "Verwerkt", "triage": "Te beoordelen", "quarantine": "Quarantaine"}
        for destination, count in sorted(report.ingest.destinations.items()):
            self.echo(
                f"      ← {count} {self.words['in']} → {folders.get(destination, destination)}"
            )

    def _show_outgoing(self) -> None:
        words = self.words
        for folder, verb in (("Uitgaand", words["out"]), ("Drafts", words["draft"])):
            cur = self.root / "mailbox" / f".{folder}" / "cur"
            if not cur.is_dir():
                continue
            for path in sorted(cur.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name)):
                if path.name in self.seen:
                    continue
                self.seen.add(path.name)
                mail = parse(path.read_bytes())
                to = ", ".join(a.email for a in mail.to)
                cc = ", ".join(a.email for a in mail.cc)
                extra = f" ({words['cc']} {cc})" if cc else ""
                self.echo(f"      → {verb}: {mail.subject}")
                self.echo(f"          {words['to']} {to}{extra}")

    def last_to(self, recipient: str, contains: str) -> EmailMessage:
        """The newest mail sent to `recipient` whose subject contains `contains`."""
        cur = self.root / "mailbox" / ".Uitgaand" / "cur"
        for path in sorted(
            cur.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True
        ):
            mail = parse(path.read_bytes())
            if recipient in [a.email for a in mail.to] and contains in mail.subject:
                message = EmailMessage()
                message["Subject"] = mail.subject
                message["Message-ID"] = f"<{mail.message_id}>"
                return message
        raise LookupError(f"no mail to {recipient} about {contains!r}")


def _when(moment: datetime, language: str) -> str:
    from babel.dates import format_datetime as babel_format

    locale = "nl_NL" if language == "nl" else "en_GB"
    return babel_format(moment.astimezone(TZ), "EEE d MMM HH:mm", locale=locale)


def _mail(
    sender: str,
    subject: str,
    body: str,
    *,
    name: str = "",
    reply_to: EmailMessage | None = None,
    when: datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>" if name else sender
    message["To"] = "leveranciers@gemeente.example"
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<demo-{next(_numbers)}@{sender.rpartition('@')[2]}>"
    if reply_to is not None:
        message["In-Reply-To"] = reply_to["Message-ID"]
        message["References"] = reply_to["Message-ID"]
    message.set_content(body)
    return message


def _next_monday(today: date) -> date:
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


def run_demo(
    directory: Path | None, *, language: str = "nl", echo: Echo = print, today: date | None = None
) -> int:
    """Play the story; returns the exit code (0)."""
    if language not in WORDS:
        echo(f"mailbot demo: unknown language {language!r} (nl or en)")
        return 2
    root = Path(tempfile.mkdtemp(prefix="mailbot-demo-")) if directory is None else directory
    root.mkdir(parents=True, exist_ok=True)
    if (root / "mailbot.toml").exists() or (root / "mailbox").exists():
        echo(f"mailbot demo: {root} is not empty; give a new folder with --dir")
        return 2
    titles = (
        ("contractmanager", "hoofd Inkoop")
        if language == "nl"
        else ("contract manager", "head of procurement")
    )
    (root / "mailbot.toml").write_text(
        CONFIG.format(language=language, owner_title=titles[0], manager_title=titles[1]),
        encoding="utf-8",
    )
    monday = _next_monday(today or datetime.now(TZ).date())
    start = datetime.combine(monday, datetime.min.time(), TZ).replace(hour=8)
    demo = _Demo(root, language, echo, ManualClock(start), set())
    words = demo.words
    echo(words["title"])
    echo(f"{words['folder']} {root}")
    demo.run()  # first start: an empty mailbox

    day = lambda n, hour=10: start + timedelta(days=n, hours=hour - 8)  # noqa: E731
    _story(demo, day, words, language)

    echo("")
    echo(words["end"])
    config = load(root / "mailbot.toml")
    app = build_app(config, clock=demo.clock)
    from mailbot.store import queries

    with app.db.session() as session:
        for case in queries.list_cases(session, include_closed=True):
            echo(f"  {case['ref']}  {case['state']:<10} {case['supplier']:<6} {case['title']}")
    echo(words["where"])
    for folder in ("Verwerkt", "Te beoordelen", "Quarantaine", "Uitgaand", "Drafts"):
        count = len(app.mailbox.scan(folder, None).keys)
        echo(f"  {folder:<14} {count}")
    app.db.close()
    echo(words["look"])
    echo(f"  mailbot --config {root / 'mailbot.toml'} case show ESC-{monday.year}-0001")
    return 0


def _story(demo: _Demo, day: Callable[..., datetime], words: dict[str, str], language: str) -> None:
    nl = language == "nl"
    anna, acme = "a.jansen@gemeente.example", "servicemanager@acme.example"

    demo.at(day(0), words["open"])
    demo.drop(
        _mail(
            anna,
            "Escalatie acme: back-ups mislukken" if nl else "Escalation acme: backups failing",
            (
                "De nachtelijke back-ups van de zaaksystemen mislukken sinds vorige week.\n"
                "Incident: INC-4711\nKPI: geslaagde back-ups 99,5%\n"
            )
            if nl
            else (
                "The nightly backups of the case systems have failed since last week.\n"
                "Incident: INC-4711\nKPI: successful backups 99.5%\n"
            ),
            name="Anna Jansen",
            when=day(0),
        )
    )
    demo.run()

    demo.at(day(1, 11), words["reply1"])
    step_word = "Stap" if nl else "Step"
    step1 = demo.last_to(acme, f"{step_word} 1")
    demo.drop(
        _mail(
            acme,
            f"RE: {step1['Subject']}",
            "We hebben de back-upserver herstart. Vannacht liep de back-up goed.\n\nJan Pietersen"
            if nl
            else "We restarted the backup server. Last night's backup ran fine.\n\nJan Pietersen",
            name="Jan Pietersen",
            reply_to=step1,
            when=day(1, 11),
        )
    )
    demo.run()

    demo.at(day(2, 9), words["verdict1"])
    forward = demo.last_to(anna, "Acme Hosting B.V.:")
    demo.drop(
        _mail(
            anna,
            f"RE: {forward['Subject']}",
            "ONVOLDOENDE\n\nDe back-up van gisteren faalde weer."
            if nl
            else "REJECT\n\nYesterday's backup failed again.",
            reply_to=forward,
            when=day(2, 9),
        )
    )
    demo.run()

    demo.at(day(3, 12), words["stranger"])
    demo.drop(
        _mail("nieuwsgierig@elders.example", f"Re: {step1['Subject']}", "AKKOORD", when=day(3, 12))
    )
    demo.run()

    demo.at(day(4, 9), words["broken"])
    demo.drop(
        b"From: <broken@\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n"
        b"--\r\n\xff\xfe\x00garbage"
    )
    demo.run()

    demo.at(day(10, 9), words["reminder"])
    demo.run()

    demo.at(day(15, 9), words["deadline"])
    demo.run()

    demo.at(day(17, 14), words["plan"])
    step2 = demo.last_to(acme, f"{step_word} 2")
    plan = _mail(
        "manager@acme.example",
        f"RE: {step2['Subject']}",
        "Bijgaand ons corrigerend actieplan met de root cause analyse."
        if nl
        else "Please find attached our corrective action plan with the root cause analysis.",
        name="Marloes de Boer",
        reply_to=step2,
        when=day(17, 14),
    )
    plan.add_attachment(
        b"%PDF-1.4\n% demo action plan\n",
        maintype="application",
        subtype="pdf",
        filename="actieplan-acme.pdf" if nl else "action-plan-acme.pdf",
    )
    demo.drop(plan)
    demo.run()

    demo.at(day(18, 9), words["accept"])
    forward = demo.last_to(anna, "Acme Hosting B.V.:")
    demo.drop(
        _mail(
            anna,
            f"RE: {forward['Subject']}",
            "AKKOORD\n\nGoed plan." if nl else "ACCEPT\n\nGood plan.",
            reply_to=forward,
            when=day(18, 9),
        )
    )
    demo.run()

    demo.at(day(35, 9), words["quiet"])
    demo.run()
