"""`slis audit`: the audit log of a local authority, filtered."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from bot.cli_common import migrated, only_la_code, refuse, settings
from bot.errors import UserError
from bot.ports import SystemClock
from bot.services import audit
from bot.services.audit import AuditListing, AuditLog, AuditQuery, AuditView

TIME_FORMAT = "%Y-%m-%d %H:%M"


def audit_cmd(
    la_code: Annotated[
        int | None, typer.Option("--la-code", help="Local authority (default: the only one)")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option(help="To this day, included (YYYY-MM-DD)")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="An action (meeting.create) or a kind of action (support)"),
    ] = None,
    person: Annotated[
        str | None,
        typer.Option(help="Who acted, or whom it was about: an e-mail address or person id"),
    ] = None,
    platform: Annotated[
        str | None, typer.Option(help="Where from: " + ", ".join(audit.PLATFORMS))
    ] = None,
    limit: Annotated[int, typer.Option(help=f"At most this many (1 to {audit.MAX_LIMIT})")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """List who did what, when and from where: newest first, times in Europe/London."""
    db = migrated(settings())
    try:
        query = AuditQuery(
            since=None if since is None else audit.day(since),
            until=None if until is None else audit.day(until),
            action=None if action is None else audit.action_filter(action),
            person=person,
            platform=None if platform is None else audit.platform_filter(platform),
            limit=audit.limit(str(limit)),
        )
        if query.since and query.until and query.until < query.since:
            raise UserError("--until is before --since.")
        log = AuditLog(db, SystemClock())
        tenant_id = log.tenant_of(la_code if la_code is not None else only_la_code(db))
        found = log.read(tenant_id, query, platform=audit.COMMAND_LINE)
    except UserError as exc:
        refuse(exc)
    finally:
        db.dispose()
    for entry in found.entries:
        typer.echo(json.dumps(as_json_object(entry)) if as_json else line(entry, found))
    if not as_json:
        if not found.entries:
            typer.echo("No audit entries match.")
        elif found.more:
            typer.echo(f"(only the newest {len(found.entries)}; give --limit for more)", err=True)


def line(entry: AuditView, found: AuditListing) -> str:
    """One entry as a line: time, platform, who, action, subject."""
    when = entry.at.astimezone(found.zone).strftime(TIME_FORMAT)
    parts = [when, entry.platform, entry.actor, entry.action, entry.subject or "-"]
    if entry.about:
        parts.append(f"about {entry.about}")
    return "  ".join(parts)


def as_json_object(entry: AuditView) -> dict[str, object]:
    """One entry for machines: UTC time, ids and names as the log and directory have them."""
    return {
        "id": entry.id,
        "at": _utc(entry.at),
        "platform": entry.platform,
        "actor": entry.actor,
        "action": entry.action,
        "meaning": entry.meaning,
        "subject": entry.subject,
        "about": entry.about,
        "detail": dict(entry.detail),
    }


def _utc(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def register(app: typer.Typer) -> None:
    """Add `slis audit` to the `slis` command."""
    app.command("audit")(audit_cmd)
