"""The `slis` command: serve the bot, migrate the database, import the directory."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from bot.config import ConfigError, Settings, load_settings
from bot.errors import InvalidImport, UserError
from bot.services.directory_import import (
    ImportSummary,
    import_directory,
    import_schools,
    load_sample,
)
from storage.engine import Database
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


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _database(settings: Settings) -> Database:
    path = settings.sqlite_path()
    if path is not None and not path.parent.exists():
        typer.echo(f"The folder for the database file does not exist: {path.parent}", err=True)
        raise typer.Exit(2)
    return Database.from_url(settings.database_url)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: PORT)")] = None,
) -> None:
    """Serve the bot over HTTP (Slack events, health endpoints)."""
    import uvicorn

    from bot.app import create_app

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asgi = create_app(settings)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        asgi,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
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


def _migrated(settings: Settings) -> Database:
    """The database, if it is at the newest migration; otherwise say what to run."""
    from storage.migrate import is_up_to_date

    db = _database(settings)
    if not is_up_to_date(db.engine):
        typer.echo("The database is not up to date: run `slis db upgrade` first.", err=True)
        raise typer.Exit(2)
    return db


def _only_la_code(db: Database) -> int:
    with db.session() as session:
        codes = session.exec(select(Tenant.la_code)).all()
    if len(codes) != 1:
        known = ", ".join(str(c) for c in codes) or "none yet"
        typer.echo(f"Give --la-code: the database holds local authorities {known}.", err=True)
        raise typer.Exit(2)
    return codes[0]


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
    _run_import("import-schools", lambda: import_schools(db, code, file, skip_invalid=skip_invalid))


@directory_app.command("import")
def import_directory_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Directory (YAML)")],
    skip_invalid: Annotated[bool, typer.Option(help="Apply good records, list bad ones")] = False,
) -> None:
    """Load quadrants, partnerships, alliances, people, roles and chat identities."""
    db = _migrated(_settings())
    _run_import("import", lambda: import_directory(db, file, skip_invalid=skip_invalid))


@directory_app.command("load-sample")
def load_sample_cmd() -> None:
    """Load the shipped sample Essex directory (fictional people); safe to repeat."""
    db = _migrated(_settings())
    _run_import("load-sample", lambda: load_sample(db))


def main() -> None:
    """Entry point of the `slis` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
