"""`slis privacy`: subject access exports, erasure and retention."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import migrated, only_la_code, refuse, settings
from bot.errors import UserError
from bot.ports import SystemClock
from bot.services.audit import COMMAND_LINE
from bot.services.privacy import Erasure, PrivacyExport
from bot.services.retention import RetentionService

privacy_app = typer.Typer(
    help="Data protection: subject access exports, erasure, retention.", no_args_is_help=True
)


PersonOption = Annotated[
    str, typer.Option("--person", help="The person: their e-mail address or person id")
]
LaCodeOption = Annotated[
    int | None, typer.Option("--la-code", help="Local authority (default: the only one)")
]


@privacy_app.command("export")
def export_cmd(
    person: PersonOption,
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Folder for the files")],
    la_code: LaCodeOption = None,
) -> None:
    """Write everything held about a person (subject access): a JSON and a Markdown file."""
    db = migrated(settings())
    code = la_code if la_code is not None else only_la_code(db)
    try:
        result = PrivacyExport(db, SystemClock()).export(code, person)
    except UserError as exc:
        refuse(exc)
    for path in result.write(out):
        typer.echo(f"wrote {path}")


@privacy_app.command("erase")
def erase_cmd(
    person: PersonOption,
    la_code: LaCodeOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would change; change nothing")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase a person: delete or irreversibly anonymise them everywhere (cannot be undone)."""
    db = migrated(settings())
    code = la_code if la_code is not None else only_la_code(db)
    erasure = Erasure(db, SystemClock())
    try:
        if not dry_run and not yes:
            for line in erasure.erase(code, person, dry_run=True).lines():
                typer.echo(line)
            if not typer.confirm("Erase this person? This cannot be undone.", default=False):
                typer.echo("Nothing was changed.")
                raise typer.Exit(1)
        result = erasure.erase(code, person, dry_run=dry_run)
    except UserError as exc:
        refuse(exc)
    for line in result.lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add `slis privacy` to the `slis` command."""
    app.add_typer(privacy_app, name="privacy")


@privacy_app.command("retention")
def retention_cmd(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what is due; change nothing")
    ] = False,
    la_code: Annotated[
        int | None,
        typer.Option("--la-code", help="Only this local authority (default: all, and the keys)"),
    ] = None,
) -> None:
    """Purge records past their retention period (the nightly job does the same), or with
    --dry-run show, per local authority and kind, the period, the cut-off and what is due."""
    db = migrated(settings())
    clock = SystemClock()
    service = RetentionService(db, clock, platform=COMMAND_LINE)
    run = service.due if dry_run else service.purge
    report = run(clock.now(), la_code=la_code)
    if la_code is not None and not report.tenants:
        refuse(UserError(f"There is no local authority with LA code {la_code}."))
    for line in report.lines():
        typer.echo(line)
