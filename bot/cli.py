"""The `slis` command: serve the bot, migrate the database, import the directory, package the
Teams app."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from sqlmodel import select

from bot.cli_common import database as _database
from bot.cli_common import migrated as _migrated
from bot.cli_common import only_la_code as _only_la_code
from bot.cli_common import settings as _settings
from bot.config import SANDBOX_HOST, ConfigError, SandboxSwitch, Settings
from bot.errors import InvalidImport, UserError
from bot.ports import SystemClock
from bot.services.directory_import import (
    ImportSummary,
    import_directory,
    import_schools,
    load_sample,
)
from storage.models import Tenant

app = typer.Typer(
    help="SLIS Bot: a school-led improvement system in Slack and Teams.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
directory_app = typer.Typer(
    help="The directory: schools, partnerships, people.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(directory_app, name="directory")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: PORT)")] = None,
) -> None:
    """Serve the bot over HTTP (Slack events, Teams activities, health endpoints; the sandbox
    at /sandbox when no chat credentials are set)."""
    _serve(_settings(), host, port)


@app.command()
def sandbox(
    port: Annotated[int | None, typer.Option(help="Port to bind (default: PORT)")] = None,
) -> None:
    """Serve the bot with its local sandbox: a Slack of its own at http://127.0.0.1:PORT/sandbox,
    for trying the bot with no workspace. Refuses where real Slack credentials are set, unless
    SLIS_SANDBOX=on says to use the sandbox instead of that workspace."""
    settings = _settings()
    refusal = settings.sandbox_refusal()
    if refusal is not None:
        typer.echo(f"The sandbox will not start: {refusal}.", err=True)
        raise typer.Exit(2)
    _serve(settings.model_copy(update={"slis_sandbox": SandboxSwitch.ON}), SANDBOX_HOST, port)


SANDBOX_SHUTDOWN_SECONDS = 3


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    from bot.app import create_app

    # The sandbox signs requests to the bot's own address: it must know where it listens.
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asgi = create_app(settings)
        plan = settings.sandbox()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if plan is not None:
        typer.echo(f"\n  The sandbox is on: open {plan.page_url} in your browser.\n")
    config = uvicorn.Config(
        asgi,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=SANDBOX_SHUTDOWN_SECONDS if plan is not None else None,
    )
    # The sandbox (mounted on app.state) answers an open page's long poll at once on Ctrl-C.
    sandbox = getattr(asgi.state, "sandbox", None)
    _Server(config, sandbox.stopping if sandbox is not None else None).run()


class _Server(uvicorn.Server):
    """uvicorn's server, telling the sandbox first when asked to stop: uvicorn waits for open
    requests (a page's long poll) before it shuts the app down."""

    def __init__(self, config: uvicorn.Config, stopping: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stopping is not None:
            self._stopping()
        super().handle_exit(sig, frame)


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from storage.migrate import upgrade

    settings = _settings()
    _database(settings).dispose()
    upgrade(settings.database_url, revision)
    typer.echo("Database is up to date.")


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration revision and the newest one."""
    from storage.migrate import current_revisions, head_revisions

    db = _database(_settings())
    current = ", ".join(sorted(current_revisions(db.engine))) or "none"
    typer.echo(f"current: {current}  newest: {', '.join(sorted(head_revisions()))}")


def _run_import(action: str, run: Callable[[], ImportSummary | list[ImportSummary]]) -> None:
    try:
        result = run()
    except InvalidImport as exc:
        typer.echo(f"{exc}", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1) from None
    except UserError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    for summary in result if isinstance(result, list) else [result]:
        for line in summary.lines():
            typer.echo(line)
    typer.echo(f"{action}: done.")


@directory_app.command("import-schools")
def import_schools_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GIAS extract (CSV)")],
    la_code: Annotated[
        int | None, typer.Option(help="Local authority (default: the only one)")
    ] = None,
    skip_invalid: Annotated[bool, typer.Option(help="Apply good rows, list bad ones")] = False,
) -> None:
    """Upsert schools from a GIAS establishment extract, filtered to the LA code."""
    db = _migrated(_settings())
    code = la_code if la_code is not None else _only_la_code(db)
    _run_import(
        "import-schools",
        lambda: import_schools(db, code, file, clock=SystemClock(), skip_invalid=skip_invalid),
    )


@directory_app.command("import")
def import_directory_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Directory (YAML)")],
    skip_invalid: Annotated[bool, typer.Option(help="Apply good records, list bad ones")] = False,
) -> None:
    """Load quadrants, partnerships, alliances, people, roles and chat identities."""
    db = _migrated(_settings())
    _run_import(
        "import",
        lambda: import_directory(db, file, clock=SystemClock(), skip_invalid=skip_invalid),
    )


@directory_app.command("load-sample")
def load_sample_cmd() -> None:
    """Load the shipped sample directory (fictional people) and term dates; safe to repeat."""
    from bot.services.calendar import load_sample_calendar

    db = _migrated(_settings())
    _run_import("load-sample", lambda: [*load_sample(db, SystemClock()), load_sample_calendar(db)])


def main() -> None:
    """Entry point of the `slis` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


# --- slis calendar: the school calendar (terms, INSET days, quiet hours) ----------------------

calendar_app = typer.Typer(
    help="The school calendar: term dates, INSET days, quiet hours.", no_args_is_help=True
)
app.add_typer(calendar_app, name="calendar")


@calendar_app.command("import")
def calendar_import_cmd(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Calendar file (YAML or CSV)")
    ],
    la_code: Annotated[
        int | None, typer.Option(help="Local authority (default: the file's, or the only one)")
    ] = None,
) -> None:
    """Import a school year's terms, half terms, INSET days and quiet hours; all or nothing."""
    from bot.services.calendar import CalendarService

    db = _migrated(_settings())
    _run_import("calendar import", lambda: CalendarService(db).import_file(la_code, file))


@calendar_app.command("show")
def calendar_show_cmd(
    la_code: Annotated[
        int | None, typer.Option(help="Local authority (default: the only one)")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: today)")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=400, help="How many days to list")] = 14,
) -> None:
    """List the days from a date: school day or not, and why; with terms and quiet hours."""
    from datetime import date

    from bot.services.calendar import CalendarService, calendar_report

    db = _migrated(_settings())
    code = la_code if la_code is not None else _only_la_code(db)
    try:
        calendar = CalendarService(db).for_la_code(code)
    except UserError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    try:
        start = date.fromisoformat(from_) if from_ else calendar.local(SystemClock().now()).date()
    except ValueError:
        raise typer.BadParameter(
            f"{from_!r} is not a date (YYYY-MM-DD)", param_hint="--from"
        ) from None
    typer.echo(f"School calendar of LA {code}.")
    for line in calendar_report(calendar, start, days):
        typer.echo(line)


# --- slis outbox: messages waiting to be sent, and those that failed --------------------------

outbox_app = typer.Typer(
    help="The outbox: messages waiting to be sent, and those that failed.", no_args_is_help=True
)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("status")
def outbox_status_cmd(
    la_code: Annotated[
        int | None, typer.Option(help="Only this local authority (default: all)")
    ] = None,
    failed: Annotated[
        int, typer.Option(min=0, max=500, help="How many of the latest failures to list")
    ] = 10,
) -> None:
    """Pending, in-flight and failed messages per local authority; the latest failures."""
    from bot.services.outbox import OutboxService

    db = _migrated(_settings())
    tenant_id: int | None = None
    if la_code is not None:
        with db.session() as session:
            tenant_id = session.exec(select(Tenant.id).where(Tenant.la_code == la_code)).first()
        if tenant_id is None:
            typer.echo(f"No local authority with LA code {la_code} in the database.", err=True)
            raise typer.Exit(1)
    status = OutboxService(db, SystemClock()).status(tenant_id, failed_limit=failed)
    if not status.tenants:
        typer.echo("The outbox is empty.")
    for t in status.tenants:
        typer.echo(
            f"{t.tenant_name}: {t.pending} pending ({t.due} due now), {t.in_flight} in flight,"
            f" {t.failed} failed, {t.sent} sent"
        )
    if status.failed:
        typer.echo("Latest failures (send one again with `slis outbox retry ID`):")
        for row in status.failed:
            when = f"{row.failed_at:%Y-%m-%d %H:%M} UTC" if row.failed_at else "?"
            typer.echo(
                f"  {row.id}  {when}  {row.key} to {row.recipient},"
                f" {row.attempts} attempt(s): {row.error}"
            )


@outbox_app.command("retry")
def outbox_retry_cmd(
    row_id: Annotated[int, typer.Argument(help="The failed message's number (see status)")],
) -> None:
    """Queue a failed message again, due now, with its attempts reset."""
    from bot.services.outbox import OutboxService

    db = _migrated(_settings())
    try:
        row = OutboxService(db, SystemClock()).requeue(row_id)
    except UserError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Message {row_id} ({row.key}) is queued again; a running server sends it soon.")


# --- slis teams: the Microsoft Teams app package ---------------------------------------------

teams_app = typer.Typer(help="Microsoft Teams: the app package to upload.", no_args_is_help=True)
app.add_typer(teams_app, name="teams")


@teams_app.command("package")
def teams_package_cmd(
    out: Annotated[Path, typer.Option(help="Where to write the zip")] = Path("slis-bot-teams.zip"),
    app_id: Annotated[
        str | None,
        typer.Option(help="The bot's Microsoft App ID (default: TEAMS_APP_ID)", show_default=False),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="The bot's public host name, for the manifest's links and valid domains"
            " (default: keep slis.example.org)",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            exists=True,
            help="Folder with manifest.json and the icons (default: the repository's"
            " manifest/teams)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check manifest/teams against the Teams schema and zip it with its icons for upload."""
    from bot.teams_package import SOURCE_DIR, TEMPLATE_HOST, InvalidManifest, build_package

    app_id = app_id or _settings().teams_app_id
    if not app_id:
        typer.echo(
            "Give the bot's Microsoft App ID: --app-id ID, or set TEAMS_APP_ID."
            " Teams refuses an app whose bot id is not its app registration's.",
            err=True,
        )
        raise typer.Exit(2)
    try:
        manifest = build_package(out, app_id, host, source or SOURCE_DIR)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except InvalidManifest as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Wrote {out}: manifest {manifest['version']} for app {manifest['id']}.")
    if host is None:
        typer.echo(
            f"Its links still point at {TEMPLATE_HOST}: give --host with the bot's public host"
            " name before you upload it to Teams.",
            err=True,
        )


# --- slis privacy and slis audit: data protection and administration ---------------------------

from bot import cli_audit, cli_privacy  # noqa: E402

cli_privacy.register(app)
cli_audit.register(app)
