"""Adoption (issue 12): a safe first start, import, pilot mode, hand-over, export."""

from __future__ import annotations

import random
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from mailbot.cli import app
from mailbot.config import load
from mailbot.daemon import build_app
from mailbot.mail.parse import parse
from mailbot.service.outbox import notify_admins
from mailbot.store.tables import OutboundMessage
from tests.corpora import corpus_messages
from tests.scenario import mail

pytestmark = pytest.mark.database

CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
lease_seconds = 1
{extra}

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
manager = "b.bakker@gemeente.example"

[[people]]
email = "b.bakker@gemeente.example"
name = "Bert Bakker"

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


def setup(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "mailbot.toml"
    config.write_text(CONFIG.format(extra=extra))
    return config


def cli(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def files(folder: Path) -> list[Path]:
    return [p for sub in ("new", "cur") for p in (folder / sub).glob("*") if p.is_file()]


def test_it_leaves_a_years_old_mailbox_alone_at_first_start_and_imports_on_request(
    tmp_path: Path,
) -> None:
    # importing eleven escalations at once sends their owner 22 mails this hour
    config = setup(tmp_path, "max_per_recipient_per_hour = 100")
    root = tmp_path / "mailbox"
    (root / "new").mkdir(parents=True)
    (root / ".complimenten" / "new").mkdir(parents=True)
    rng = random.Random(12)
    old = [p.read_bytes() for p in rng.sample(corpus_messages(), 480)]
    old += [
        mail(
            sender="a.jansen@gemeente.example",
            subject=f"Escalatie acme: oud probleem {n}",
            body="Vorig jaar.",
        )
        for n in range(10)
    ]
    for n, raw in enumerate(old):
        (root / "new" / f"old-{n}.eml").write_bytes(raw)
    for n in range(10):
        (root / ".complimenten" / "new" / f"praise-{n}.eml").write_bytes(
            mail(sender=f"klant{n}@klant.example", subject="Compliment", body="Top geholpen!")
        )

    out = cli(config, "run", "--once")
    assert "500 left in place" in out and "0 sent" in out
    assert len(files(root)) == 490 and len(files(root / ".complimenten")) == 10
    assert not (root / ".Uitgaand").exists() or files(root / ".Uitgaand") == []

    (root / "new" / "fresh.eml").write_bytes(
        mail(
            sender="a.jansen@gemeente.example", subject="Escalatie acme: nieuw probleem", body="Nu."
        )
    )
    out = cli(config, "run", "--once")
    assert "1 processed" in out and "2 sent" in out
    assert len(files(root)) == 490, "only the new mail moved"

    out = cli(config, "import")
    assert "imported 500 of 500" in out
    assert files(root) == [] and files(root / ".complimenten") == []
    sent = [parse(p.read_bytes()) for p in files(root / ".Uitgaand")]
    assert sum("Dank u wel" in m.subject for m in sent) == 10
    assert sum("Stap 1" in m.subject for m in sent) == 11
    out = CliRunner().invoke(app, ["--config", str(config), "import"]).output
    assert "nothing to import" in out


def test_it_imports_only_mail_since_a_date(tmp_path: Path) -> None:
    from datetime import datetime

    config = setup(tmp_path)
    root = tmp_path / "mailbox"
    (root / "new").mkdir(parents=True)
    for n, year in enumerate((2024, 2025, 2026)):
        (root / "new" / f"m{n}.eml").write_bytes(
            mail(
                sender=f"x{n}@elders.example",
                subject=f"Bericht {year}",
                body="?",
                date=datetime(year, 6, 1, tzinfo=UTC),
            )
        )
    cli(config, "run", "--once")
    out = cli(config, "import", "--since", "2025-01-01")
    assert "imported 2 of 3" in out and "1 older than --since left in place" in out
    assert [parse(p.read_bytes()).subject for p in files(root)] == ["Bericht 2024"]


def test_it_leaves_a_handovers_mail_to_the_running_daemon_and_never_sends_a_mail_twice(
    tmp_path: Path,
) -> None:
    """A daemon leads and is delivering a notice right now (claimed, not yet in Sent):
    a hand-over on the command line must neither send that notice again nor send
    anything itself; the leader sends the hand-over mails on its next pass."""
    config = setup(tmp_path)
    cli(config, "run", "--once")
    root = tmp_path / "mailbox"
    (root / "new" / "open.eml").write_bytes(
        mail(sender="a.jansen@gemeente.example", subject="Escalatie acme: storing", body="Plat.")
    )
    cli(config, "run", "--once")
    spooled = len(files(root / ".Uitgaand"))
    bot = build_app(load(config))
    assert bot.db.try_lease(
        "mailbox:leveranciers@gemeente.example", "daemon-host:1:x", None, timedelta(minutes=5)
    )
    with bot.db.session() as session:
        notify_admins(
            session,
            bot,
            dedup_key="in-flight",
            template="cap_hit",
            recipient="x@elders.example",
            window="hour",
            limit=20,
            subject="Vraag",
        )
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.dedup_key == "in-flight")
            .values(status="sending", attempts=1)
        )

    out = cli(config, "case", "handover", "ESC-2026-0001", "b.bakker@gemeente.example")
    assert "handed over to b.bakker@gemeente.example" in out
    assert "the running mailbot sends the mails on its next pass" in out
    assert len(files(root / ".Uitgaand")) == spooled, "the command line sent nothing"
    with bot.db.session() as session:
        in_flight = session.scalar(
            select(OutboundMessage.status).where(OutboundMessage.dedup_key == "in-flight")
        )
    assert in_flight == "sending", "the daemon's delivery in progress was left alone"

    bot.db.release_lease("mailbox:leveranciers@gemeente.example", "daemon-host:1:x")
    cli(config, "run", "--once")  # the leader's next pass
    told = [parse(p.read_bytes()) for p in files(root / ".Uitgaand")]
    assert any(
        m.to[0].email == "b.bakker@gemeente.example" and "Overgedragen" in m.subject for m in told
    )
    ids = [m.message_id for m in told]
    assert len(ids) == len(set(ids)), "no mail twice"


def test_it_imports_the_rest_when_a_user_moved_one_old_message_away(tmp_path: Path) -> None:
    config = setup(tmp_path)
    root = tmp_path / "mailbox"
    (root / "new").mkdir(parents=True)
    for n in range(3):
        (root / "new" / f"m{n}.eml").write_bytes(
            mail(sender=f"x{n}@elders.example", subject=f"Bericht {n}", body="?")
        )
    assert "3 left in place" in cli(config, "run", "--once")
    (root / ".Archief" / "cur").mkdir(parents=True)
    moved = sorted(files(root))[0]
    moved.rename(root / ".Archief" / "cur" / moved.name)  # a user files one away
    out = cli(config, "import")
    assert "imported 2 of 3" in out and "1 gone" in out
    assert files(root) == []
    assert len(files(root / ".Archief")) == 1, "the moved message was left where the user put it"


def test_it_keeps_mail_to_outsiders_as_drafts_in_pilot_mode_and_tells_the_owner(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path, 'allowed_recipients = ["gemeente.example"]')
    assert "pilot mode:   ON" in cli(config, "check-config")
    cli(config, "run", "--once")
    root = tmp_path / "mailbox"
    (root / "new" / "open.eml").write_bytes(
        mail(sender="a.jansen@gemeente.example", subject="Escalatie acme: storing", body="Plat.")
    )
    cli(config, "run", "--once")
    drafts = [parse(p.read_bytes()) for p in files(root / ".Drafts")]
    sent = [parse(p.read_bytes()) for p in files(root / ".Uitgaand")]
    assert [d.subject for d in drafts] == [
        "[ESC-2026-0001] Stap 1 – verzoek om herstel – Acme Hosting B.V."
    ]
    assert all(a.email.endswith("@gemeente.example") for m in sent for a in m.to)
    told = [m for m in sent if "Proefperiode" in m.subject]
    assert len(told) == 1 and "servicemanager@acme.example" in told[0].text


def test_it_hands_a_case_over_and_exports_its_dossier_from_the_command_line(tmp_path: Path) -> None:
    config = setup(tmp_path)
    cli(config, "run", "--once")
    root = tmp_path / "mailbox"
    (root / "new" / "open.eml").write_bytes(
        mail(sender="a.jansen@gemeente.example", subject="Escalatie acme: storing", body="Plat.")
    )
    cli(config, "run", "--once")
    assert "handed over to b.bakker@gemeente.example" in cli(
        config, "case", "handover", "ESC-2026-0001", "B.Bakker@gemeente.example"
    )
    told = [parse(p.read_bytes()) for p in files(root / ".Uitgaand")]
    assert any(
        m.to[0].email == "b.bakker@gemeente.example" and "Overgedragen" in m.subject for m in told
    )
    out = cli(config, "case", "export", "ESC-2026-0001", "--to", str(tmp_path / "archief"))
    folder = tmp_path / "archief" / "ESC-2026-0001"
    emls = sorted(p.name for p in folder.glob("*.eml"))
    assert len(emls) == 4 and sum(n.startswith("in-") for n in emls) == 1, emls
    timeline = (folder / "timeline.html").read_text()
    assert "handed over from a.jansen@gemeente.example to b.bakker@gemeente.example" in timeline
    assert emls[0] in timeline and "4 mail(s)" in out
    result = CliRunner().invoke(
        app, ["--config", str(config), "case", "handover", "ESC-2026-0001", "nobody@elders.example"]
    )
    assert result.exit_code == 1 and "not in the directory" in result.output
