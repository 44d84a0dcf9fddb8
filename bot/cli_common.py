"""What every `slis` subcommand needs: the settings, the migrated database, the local authority
meant, and a refusal printed as the person can act on it."""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlmodel import select

from bot.config import ConfigError, Settings, load_settings
from bot.errors import UserError
from storage.engine import Database
from storage.models import Tenant


def settings() -> Settings:
    """The settings, or exit 2 naming what is wrong with them."""
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def database(settings: Settings) -> Database:
    """The configured database (not checked for migrations)."""
    path = settings.sqlite_path()
    if path is not None and not path.parent.exists():
        typer.echo(f"The folder for the database file does not exist: {path.parent}", err=True)
        raise typer.Exit(2)
    return Database.from_url(settings.database_url)


def migrated(settings: Settings) -> Database:
    """The database, if it is at the newest migration; otherwise say what to run."""
    from storage.migrate import is_up_to_date

    db = database(settings)
    if not is_up_to_date(db.engine):
        db.dispose()
        typer.echo("The database is not up to date: run `slis db upgrade` first.", err=True)
        raise typer.Exit(2)
    return db


def only_la_code(db: Database) -> int:
    """The local authority when the database holds exactly one; else exit 2 listing them."""
    with db.session() as session:
        codes = session.exec(select(Tenant.la_code)).all()
    if len(codes) != 1:
        known = ", ".join(str(c) for c in codes) or "none yet"
        typer.echo(f"Give --la-code: the database holds local authorities {known}.", err=True)
        raise typer.Exit(2)
    return codes[0]


def refuse(exc: UserError) -> NoReturn:
    """Print why the request cannot be done, and exit 1."""
    typer.echo(exc.message + (f" {exc.hint}" if exc.hint else ""), err=True)
    raise typer.Exit(1)
