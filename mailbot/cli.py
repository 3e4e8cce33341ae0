"""The `mailbot` command line: for the administrator, never for end users.

Exit codes (cron and systemd rely on them):
  0  done (also when some mail was quarantined: it is safe and the admins were told)
  1  unexpected error
  2  the config is wrong (every problem is printed with its key)
  3  the mailbox or the database cannot be reached
  4  another mailbot instance holds the leader lock for this mailbox
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer

from mailbot import __version__, logs
from mailbot.config import Config, ConfigError, load

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_BUSY = 4
DEFAULT_CONFIGS = (Path("mailbot.toml"), Path("/etc/mailbot/mailbot.toml"))

app = typer.Typer(
    name="mailbot",
    help=(
        "mailbot watches a shared mailbox and runs supplier escalations and compliment "
        "management by email.\n\nThe config file is found via --config, then $MAILBOT_CONFIG, "
        "then ./mailbot.toml, then /etc/mailbot/mailbot.toml. "
        "Exit codes: 0 ok, 1 error, 2 config wrong, 3 mailbox/database unreachable, "
        "4 another instance is running."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
case_app = typer.Typer(help="Look at one case.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Mail that could not be processed.", no_args_is_help=True)
outbox_app = typer.Typer(help="Mail waiting to be sent, or that failed.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(case_app, name="case")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(outbox_app, name="outbox")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="MAILBOT_CONFIG",
        help="Path of the TOML config file.",
        show_default=False,
    ),
]


class _State:
    config_path: Path | None = None
    log_format: str | None = None
    verbose: bool = False


state = _State()


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"mailbot: {message}", err=True)
    raise typer.Exit(code)


def _config_path() -> Path:
    if state.config_path is not None:
        return state.config_path
    for candidate in DEFAULT_CONFIGS:
        if candidate.is_file():
            return candidate
    fail(
        "no config file: give --config PATH or set MAILBOT_CONFIG "
        "(an annotated example is config.example.toml)",
        EXIT_CONFIG,
    )


def load_config() -> Config:
    path = _config_path()
    try:
        config = load(path)
    except ConfigError as exc:
        typer.echo(f"{path}: the config has {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    logs.setup(
        logging.DEBUG if state.verbose else logging.INFO,
        state.log_format or config.mailbot.log_format,
    )
    return config


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailbot {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    config: ConfigOption = None,
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", help="Log as 'text' or 'json' (overrides the config)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    state.config_path = config
    state.log_format = log_format
    state.verbose = verbose
    if log_format not in (None, "text", "json"):
        fail("--log-format must be 'text' or 'json'", EXIT_CONFIG)


def _open_app(config: Config, migrate: bool = True) -> Any:
    from mailbot.daemon import build_app
    from mailbot.mail.port import MailboxError
    from mailbot.store.db import DatabaseUnavailable

    try:
        return build_app(config, migrate=migrate)
    except ConfigError as exc:  # a backend found its section unusable
        _report_config_problems(exc)
    except DatabaseUnavailable as exc:
        fail(f"the database cannot be reached: {exc}", EXIT_UNAVAILABLE)
    except MailboxError as exc:
        fail(f"the mailbox cannot be reached: {exc}", EXIT_UNAVAILABLE)


def _report_config_problems(exc: ConfigError) -> NoReturn:
    where = f"{exc.path}: " if exc.path else ""
    typer.echo(f"{where}the config has {len(exc.problems)} problem(s):", err=True)
    for problem in exc.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(EXIT_CONFIG)


def _open_app_patiently(config: Config) -> Any:
    """The daemon does not give up when the mailbox or database is down at start:
    it retries with back-off (5 s doubling to 5 min) until they answer."""
    import time

    from mailbot.daemon import build_app
    from mailbot.mail.port import MailboxError
    from mailbot.store.db import DatabaseUnavailable

    delay = 5.0
    while True:
        try:
            return build_app(config)
        except ConfigError as exc:
            _report_config_problems(exc)
        except (DatabaseUnavailable, MailboxError) as exc:
            if isinstance(exc, MailboxError) and exc.permanent:
                fail(f"the mailbox refused us: {exc}", EXIT_UNAVAILABLE)
            logging.getLogger("mailbot").warning(
                "cannot start yet (%s); retrying in %.0f s", exc, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 300.0)


@app.command()
def run(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="One pass (ingest everything waiting, fire due deadlines, send the outbox), "
            "then exit. For cron.",
        ),
    ] = False,
) -> None:
    """Run the daemon (or one pass with --once)."""
    from mailbot.daemon import Daemon, run_once
    from mailbot.mail.port import MailboxError
    from mailbot.service.lease import LeaderBusy
    from mailbot.store.db import DatabaseUnavailable

    config = load_config()
    if not once:
        Daemon(_open_app_patiently(config)).run()
        return
    bot = _open_app(config)
    try:
        report = run_once(bot)
    except LeaderBusy as exc:
        fail(str(exc), EXIT_BUSY)
    except (DatabaseUnavailable, MailboxError) as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    typer.echo(
        f"in: {report.ingest.stored} stored, {report.ingest.applied} processed, "
        f"{report.ingest.quarantined} quarantined, {report.ingest.preexisting} left in place; "
        f"out: {report.flush.sent} sent, {report.flush.drafted} drafted"
    )
    if report.ingest.errors and report.ingest.applied == 0 and report.ingest.stored == 0:
        for error in report.ingest.errors:
            typer.echo(f"  {error}", err=True)
        if any(not e.startswith("#") for e in report.ingest.errors):
            raise typer.Exit(EXIT_UNAVAILABLE)
    if report.flush.errors and report.flush.sent == 0 and report.flush.drafted == 0:
        for error in report.flush.errors:
            typer.echo(f"  outbox: {error}", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE)


@app.command("check-config")
def check_config(
    probe: Annotated[
        bool,
        typer.Option(
            "--probe/--no-probe",
            help="Also connect to the mailbox and report what mailbot can see (read-only).",
        ),
    ] = True,
) -> None:
    """Validate the config, then check the database; prints every problem with its key."""
    from mailbot.store.db import Database, DatabaseUnavailable

    config = load_config()
    typer.echo("ok: the config is valid")
    mailbox = config.mailbox
    typer.echo(f"  mailbox:      {mailbox.address} ({mailbox.backend}, {mailbox.path})")
    typer.echo(
        f"  organisation: {config.organisation.name} ({', '.join(config.organisation.domains)})"
    )
    typer.echo(f"  people:       {len(config.people)}")
    typer.echo(
        f"  suppliers:    {len(config.suppliers)} ({', '.join(s.id for s in config.suppliers)})"
    )
    typer.echo(
        f"  language:     {config.mailbot.language}, timezone {config.mailbot.timezone}, "
        f"holidays {config.mailbot.holidays}"
    )
    if config.mailbot.dry_run:
        typer.echo("  dry run:      ON — every mail becomes a draft")
    if config.mailbot.allowed_recipients is not None:
        allowed = ", ".join(config.mailbot.allowed_recipients) or "nobody"
        typer.echo(f"  pilot mode:   ON — real mail only to {allowed}; the rest becomes a draft")
    db = Database.connect(config.database_url)
    try:
        current, head = db.migration_state()
    except DatabaseUnavailable as exc:
        fail(f"the database cannot be reached: {exc}", EXIT_UNAVAILABLE)
    finally:
        db.close()
    typer.echo(f"  database:     {_safe_url(config.database_url)}")
    if current == head:
        typer.echo(f"  schema:       up to date ({head})")
    else:
        typer.echo(
            f"  schema:       at {current or 'empty'}, newest is {head}: "
            "run `mailbot db upgrade` (the daemon also does this at start)"
        )
    if probe:
        _probe_mailbox(config)


def _probe_mailbox(config: Config) -> None:
    """Connect to the mailbox and say what mailbot can see there (read-only)."""
    from mailbot.daemon import make_mailbox
    from mailbot.mail.port import MailboxError

    try:
        mailbox = make_mailbox(config)
        lines = mailbox.probe() if hasattr(mailbox, "probe") else None
        if lines is None:
            mailbox.open([])
            lines = [f"opened {config.mailbox.backend} mailbox {config.mailbox.address}"]
    except ConfigError as exc:
        _report_config_problems(exc)
    except MailboxError as exc:
        fail(f"the mailbox cannot be reached: {exc}", EXIT_UNAVAILABLE)
    typer.echo("  mailbox check:")
    for line in lines:
        typer.echo(f"    {line}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (the daemon also does this at start)."""
    from mailbot.store.db import Database, DatabaseUnavailable

    config = load_config()
    db = Database.connect(config.database_url)
    try:
        db.upgrade()
        current, _ = db.migration_state()
    except DatabaseUnavailable as exc:
        fail(f"the database cannot be reached: {exc}", EXIT_UNAVAILABLE)
    finally:
        db.close()
    typer.echo(f"database schema is at {current}")


@app.command("cases")
def cases(
    all_: Annotated[bool, typer.Option("--all", help="Include closed cases.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List open cases (all cases with --all)."""
    from mailbot.store import queries

    config = load_config()
    bot = _open_app(config)
    with bot.db.session() as session:
        rows = queries.list_cases(session, include_closed=all_)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    if not rows:
        typer.echo("no open cases" if not all_ else "no cases")
        return
    for row in rows:
        step = f" step {row['step']}" if row["step"] else ""
        typer.echo(
            f"{row['ref']:<15} {row['state']:<12}{step:<8} {row['supplier'] or '':<12} "
            f"{row['owner'] or '':<32} {row['title']}"
        )


@case_app.command("show")
def case_show(
    case_ref: Annotated[str, typer.Argument(metavar="ID", help="e.g. ESC-2026-0007")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show one case with its whole timeline."""
    from mailbot.store import queries

    config = load_config()
    bot = _open_app(config)
    with bot.db.session() as session:
        detail = queries.case_detail(session, case_ref.upper())
    if detail is None:
        fail(f"no case {case_ref}", EXIT_ERROR)
    if as_json:
        typer.echo(json.dumps(detail, indent=2, ensure_ascii=False, default=str))
        return
    tz = ZoneInfo(config.mailbot.timezone)

    def local(moment: str | None) -> str:
        if not moment:
            return "-"
        return datetime.fromisoformat(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    step = f", step {detail['step']}" if detail["step"] else ""
    typer.echo(f"{detail['ref']}  {detail['title']}")
    typer.echo(f"  state:     {detail['state']}{step}")
    typer.echo(f"  supplier:  {detail['supplier'] or '-'}")
    typer.echo(f"  owner:     {detail['owner'] or '-'}")
    typer.echo(f"  opened:    {local(detail['opened_at'])}   closed: {local(detail['closed_at'])}")
    typer.echo(f"  (times in {config.mailbot.timezone})")
    typer.echo("  people:")
    for participant in detail["participants"]:
        typer.echo(f"    {participant['role']:<20} {participant['email']}")
    pending = [d for d in detail["deadlines"] if d["status"] == "pending"]
    if pending:
        typer.echo("  coming up:")
        for deadline in pending:
            typer.echo(f"    {local(deadline['due_at'])}  {deadline['kind']}")
    typer.echo("  timeline:")
    for event in detail["timeline"]:
        typer.echo(f"    {local(event['at'])}  {event['actor']:<28} {event['summary']}")


@case_app.command("export")
def case_export(
    case_ref: Annotated[str, typer.Argument(metavar="ID", help="e.g. ESC-2026-0007")],
    to: Annotated[
        Path, typer.Option("--to", help="Folder to write into (a subfolder per case).")
    ] = Path(),
) -> None:
    """Write a case's whole correspondence (.eml files) and a readable timeline, for the archive."""
    from mailbot.service.export import export_case

    config = load_config()
    bot = _open_app(config)
    folder = export_case(bot, case_ref.upper(), to)
    if folder is None:
        fail(f"no case {case_ref}", EXIT_ERROR)
    count = len(list(folder.glob("*.eml")))
    typer.echo(f"{folder}: {count} mail(s), timeline.html, case.json")


@case_app.command("handover")
def case_handover(
    case_ref: Annotated[str, typer.Argument(metavar="ID", help="e.g. ESC-2026-0007")],
    email: Annotated[str, typer.Argument(help="The new owner (must be in the directory).")],
) -> None:
    """Hand a case to another owner (both are told by mail)."""
    from sqlalchemy import select

    from mailbot.daemon import flush_as_leader
    from mailbot.service.directory import Directory
    from mailbot.service.escalation_mail import change_owner
    from mailbot.store.tables import Case

    config = load_config()
    bot = _open_app(config)
    email = email.strip().lower()
    if not Directory(config).is_staff(email):
        fail(f"{email} is not in the directory ([[people]] or the directory CSV)", EXIT_ERROR)
    with bot.db.session() as session:
        case = session.scalar(select(Case).where(Case.ref == case_ref.upper()))
        if case is None:
            fail(f"no case {case_ref}", EXIT_ERROR)
        if case.closed_at is not None:
            fail(f"{case.ref} is closed", EXIT_ERROR)
        change_owner(session, bot, case, email, actor="admin (command line)", inbound_id=None)
    if flush_as_leader(bot) is None:
        typer.echo(
            f"{case_ref.upper()}: handed over to {email}; "
            "the running mailbot sends the mails on its next pass"
        )
        return
    typer.echo(f"{case_ref.upper()}: handed over to {email}")


@app.command("purge")
def purge(
    older_than: Annotated[
        int | None,
        typer.Option("--older-than", help="Days since a case closed (default: retention_days)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it (otherwise only say what would go).")
    ] = False,
) -> None:
    """Remove mail and personal data of long-closed cases; the figures stay (off by default)."""
    from datetime import timedelta

    from mailbot.service.retention import purge as run_purge

    config = load_config()
    days = older_than or config.mailbot.retention_days
    compliment_days = config.mailbot.compliment_retention_days
    if days is None and compliment_days is None:
        fail(
            "give --older-than DAYS (no retention_days or compliment_retention_days in the "
            "config: purging is off)",
            EXIT_CONFIG,
        )
    if days is not None and days < 30:
        fail("--older-than must be at least 30 days", EXIT_CONFIG)
    if not yes:
        what = [f"cases closed more than {days} days ago"] if days else []
        if compliment_days:
            what.append(f"compliments closed more than {compliment_days} days ago")
        typer.echo(f"would purge {' and '.join(what)}; run again with --yes to do it")
        return
    bot = _open_app(config)
    report = run_purge(
        bot,
        older_than=timedelta(days=days) if days else None,
        compliments_older_than=timedelta(days=compliment_days) if compliment_days else None,
    )
    typer.echo(
        f"purged {report.cases} case(s): {report.inbound} incoming and {report.outbound} "
        "outgoing mail(s) emptied; case numbers, steps and dates kept"
    )


@app.command("import")
def import_existing(
    folder: Annotated[
        str | None,
        typer.Option("--folder", help="Only this folder (default: all watched folders)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only mail dated on or after YYYY-MM-DD.")
    ] = None,
) -> None:
    """Process the mail that was already in the mailbox at first start (it was left alone)."""
    from datetime import date

    from mailbot.daemon import run_once
    from mailbot.mail.port import MailboxError
    from mailbot.service.importing import queue_existing
    from mailbot.service.lease import LeaderBusy

    config = load_config()
    try:
        since_day = date.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since {since!r}: use YYYY-MM-DD", EXIT_CONFIG)
    bot = _open_app(config)
    with bot.db.session() as session:
        from sqlalchemy import func, select

        from mailbot.store.tables import InboundMessage

        total = (
            session.scalar(select(func.count()).where(InboundMessage.status == "preexisting")) or 0
        )
    if total == 0:
        typer.echo("nothing to import: no mail was left in place at first start")
        return
    try:
        with typer.progressbar(length=total, label="fetching", file=sys.stderr) as bar:
            summary = queue_existing(bot, folder=folder, since=since_day, progress=bar.update)
    except MailboxError as exc:  # what was fetched is kept: running import again goes on
        fail(
            f"the mailbox cannot be reached: {exc}; run `mailbot import` again to go on",
            EXIT_UNAVAILABLE,
        )
    typer.echo(f"processing {summary.queued} message(s)…")
    try:
        report = run_once(bot)
    except LeaderBusy as exc:
        fail(f"{exc}; the messages are queued and the running daemon processes them", EXIT_BUSY)
    typer.echo(
        f"imported {report.ingest.applied} of {summary.found} "
        f"({summary.too_old} older than --since left in place, {summary.gone} gone); "
        f"{report.ingest.quarantined} quarantined; {report.flush.sent} mail(s) sent"
    )


@quarantine_app.command("list")
def quarantine_list() -> None:
    """Messages in quarantine, with the error that put them there."""
    from mailbot.store import queries

    config = load_config()
    bot = _open_app(config)
    with bot.db.session() as session:
        rows = queries.quarantined(session)
    if not rows:
        typer.echo("quarantine is empty")
        return
    for row in rows:
        typer.echo(
            f"#{row['id']:<6} {row['received_at']}  {row['from'] or '(no sender)'}  "
            f"{row['subject']}"
        )
        typer.echo(f"        {row['error']}")


@quarantine_app.command("retry")
def quarantine_retry(
    ids: Annotated[
        list[int], typer.Argument(metavar="ID...", help="Numbers from `quarantine list`.")
    ],
) -> None:
    """Put quarantined messages back; the next pass processes them again."""
    from mailbot.service.ingest import retry_quarantined

    config = load_config()
    bot = _open_app(config)
    missing = [i for i in ids if not retry_quarantined(bot, i)]
    for i in ids:
        if i not in missing:
            typer.echo(f"#{i}: back in the queue")
    if missing:
        fail(f"not in quarantine: {', '.join(f'#{i}' for i in missing)}", EXIT_ERROR)


@outbox_app.command("list")
def outbox_list(
    all_: Annotated[bool, typer.Option("--all", help="Include mail already sent.")] = False,
) -> None:
    """Mail waiting to go out, or that failed."""
    from mailbot.store import queries

    config = load_config()
    bot = _open_app(config)
    with bot.db.session() as session:
        rows = queries.outbox(session, include_sent=all_)
    if not rows:
        typer.echo("the outbox is empty")
        return
    for row in rows:
        typer.echo(
            f"#{row['id']:<6} {row['status']:<8} {row['created_at']}  "
            f"{', '.join(row['recipients'])}  {row['subject']}"
        )
        if row["error"]:
            typer.echo(f"        {row['error']}")


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[list[int], typer.Argument(metavar="ID...", help="Numbers from `outbox list`.")],
) -> None:
    """Send failed mail again on the next pass."""
    from mailbot.store import queries

    config = load_config()
    bot = _open_app(config)
    with bot.db.session() as session:
        missing = [i for i in ids if not queries.requeue_failed(session, i)]
    if missing:
        fail(f"not failed: {', '.join(f'#{i}' for i in missing)}", EXIT_ERROR)
    typer.echo("queued again; the next pass sends them")


@app.command()
def digest(
    preview: Annotated[
        Path | None,
        typer.Option(
            "--preview",
            metavar="FILE",
            help="Write the digest of last week as HTML (chart included) to FILE; send nothing.",
        ),
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Send the digest of last week to digest_to now (the scheduled one "
            "still goes out as planned).",
        ),
    ] = False,
) -> None:
    """The weekly management digest: preview it, or send it now."""
    from mailbot.daemon import flush_as_leader
    from mailbot.service import digest as digests

    if (preview is None) == (not send):
        fail("give exactly one of --preview FILE or --send", EXIT_CONFIG)
    config = load_config()
    bot = _open_app(config)
    if preview is not None:
        try:
            written = digests.write_preview(bot, preview)
        except OSError as exc:
            fail(f"cannot write {preview}: {exc.strerror}", EXIT_ERROR)
        typer.echo(f"digest preview written to {written.resolve()}")
        return
    if not config.organisation.digest_to:
        fail("organisation.digest_to is empty: nobody to send the digest to", EXIT_CONFIG)
    key = digests.send_now(bot)
    report = flush_as_leader(bot)
    if report is None:
        typer.echo(f"digest queued ({key}); the running mailbot sends it on its next pass")
        return
    if report.errors and not (report.sent or report.drafted):
        fail(f"digest queued ({key}) but not delivered: {report.errors[0]}", EXIT_UNAVAILABLE)
    typer.echo(f"digest sent to {', '.join(config.organisation.digest_to)} ({key})")


@app.command()
def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to build the demo (default: a new temporary folder)."),
    ] = None,
    language: Annotated[str, typer.Option("--language", help="nl or en")] = "nl",
) -> None:
    """A realistic story on a fresh local mailbox, in fast-forward, with the real daemon code."""
    from mailbot.demo import run_demo

    logs.setup(logging.WARNING)
    raise typer.Exit(run_demo(directory, language=language, echo=typer.echo))


def _safe_url(url: str) -> str:
    """The database URL without a password (URLs may carry one)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    # mail and the database hold personal data: nothing we create is world-readable
    os.umask(0o077)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
