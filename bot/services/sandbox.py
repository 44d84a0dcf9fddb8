"""What the local sandbox needs from the directory: who can be picked, the quadrant channels,
the next school morning, and a Reset that restores the sample."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import SQLModel, col, select

from bot.ports import Clock
from bot.services.calendar import CalendarService, load_sample_calendar
from bot.services.directory_import import load_sample
from bot.services.identity import scope_names
from bot.types import ROLE_LABELS, Platform, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    ChatIdentity,
    ChatWorkspace,
    Person,
    Quadrant,
    RoleAssignment,
    Tenant,
)

# The workspace the sandbox stands in for when the directory maps no Slack workspace.
FALLBACK_WORKSPACE = "T0SANDBOX"
MORNING = time(8, 0)
# Tables Reset leaves alone: the migration history.
KEPT_TABLES = frozenset({"alembic_version"})


@dataclass(frozen=True)
class SandboxWorkspace:
    """The Slack workspace the sandbox plays: its team id and name, and its local authority."""

    team_id: str
    name: str
    tenant_id: int | None
    la_code: int | None
    zone: ZoneInfo


@dataclass(frozen=True)
class SandboxPerson:
    """Someone the page can be used as: their Slack user id in the sandbox, and their roles
    in words (e.g. "Headteacher, Ashdon Primary School")."""

    user_id: str
    name: str
    email: str
    job_title: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SandboxChannel:
    """A quadrant's channel, where its meetings are announced."""

    channel_id: str
    name: str


def sandbox_user_id(email: str) -> str:
    """A stable Slack-style user id for a person with no Slack account in the directory."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:10].upper()
    return f"U0SB{digest}"


def channel_name(quadrant: str) -> str:
    """A quadrant's channel name as Slack would spell it: `west-quadrant`."""
    return "-".join(quadrant.lower().split()) + "-quadrant"


class SandboxService:
    """Directory reads and the Reset for the sandbox, over the workspace it plays."""

    def __init__(self, db: Database, clock: Clock, calendars: CalendarService) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    def workspace(self) -> SandboxWorkspace:
        """The first Slack workspace the directory maps (the sample's), else a stand-in."""
        with self.db.session() as s:
            row = s.exec(
                select(ChatWorkspace, Tenant)
                .join(Tenant, col(Tenant.id) == col(ChatWorkspace.tenant_id))
                .where(ChatWorkspace.platform == Platform.SLACK.value)
                .order_by(col(ChatWorkspace.id))
            ).first()
        if row is None:
            return SandboxWorkspace(
                FALLBACK_WORKSPACE, "SLIS sandbox", None, None, ZoneInfo("Europe/London")
            )
        workspace, tenant = row
        return SandboxWorkspace(
            workspace.workspace_id,
            workspace.name or "SLIS sandbox",
            tenant.id,
            tenant.la_code,
            ZoneInfo(tenant.timezone),
        )

    def people(self, workspace: SandboxWorkspace) -> list[SandboxPerson]:
        """Everyone in the workspace's local authority, by name, with their roles."""
        if workspace.tenant_id is None:
            return []
        tenant = workspace.tenant_id
        with self.db.session() as s:
            people = s.exec(
                select(Person).where(Person.tenant_id == tenant).order_by(col(Person.name))
            ).all()
            roles = s.exec(
                select(RoleAssignment)
                .where(RoleAssignment.tenant_id == tenant)
                .order_by(col(RoleAssignment.id))
            ).all()
            linked = dict(
                s.exec(
                    select(ChatIdentity.person_id, ChatIdentity.user_id).where(
                        ChatIdentity.tenant_id == tenant,
                        ChatIdentity.platform == Platform.SLACK.value,
                        ChatIdentity.workspace_id == workspace.team_id,
                        ChatIdentity.source == "directory",
                    )
                ).all()
            )
            names = scope_names(s, tenant, ((ScopeKind(r.scope_kind), r.scope_id) for r in roles))
        held: dict[int, list[str]] = {}
        for r in roles:
            held.setdefault(r.person_id, []).append(_role_words(r, names))
        return [
            SandboxPerson(
                linked.get(p.id or 0) or sandbox_user_id(p.email),
                p.name,
                p.email,
                p.job_title,
                tuple(held.get(p.id or 0, ())),
            )
            for p in people
        ]

    def channels(self, workspace: SandboxWorkspace) -> list[SandboxChannel]:
        """The quadrants' Slack channels (those the directory gives one), by quadrant name."""
        if workspace.tenant_id is None:
            return []
        with self.db.session() as s:
            quadrants = s.exec(
                select(Quadrant)
                .where(
                    Quadrant.tenant_id == workspace.tenant_id,
                    Quadrant.channel_platform == Platform.SLACK.value,
                    col(Quadrant.channel_id).is_not(None),
                )
                .order_by(col(Quadrant.name))
            ).all()
        return [SandboxChannel(q.channel_id or "", channel_name(q.name)) for q in quadrants]

    def next_school_morning(self, workspace: SandboxWorkspace, after: datetime) -> datetime:
        """The first 08:00 on a school day (the workspace's local time) later than `after`:
        today's when it is a school day not yet at eight. Any weekday counts when the
        directory has no local authority."""
        if workspace.la_code is None:
            day = after.astimezone(workspace.zone).date()
            while True:
                morning = datetime.combine(day, MORNING, workspace.zone)
                if day.weekday() < 5 and morning > after:
                    return morning
                day += timedelta(days=1)
        calendar = self.calendars.for_la_code(workspace.la_code)
        day = calendar.next_school_day(calendar.local(after).date())
        if calendar.at(day, MORNING) <= after:
            day = calendar.next_school_day(day, inclusive=False)
        return calendar.at(day, MORNING)

    def reset(self) -> None:
        """Delete every row of every table, then load the sample directory and its term dates:
        the state of a fresh quick start."""
        with self.db.session() as s:
            for table in reversed(SQLModel.metadata.sorted_tables):
                if table.name not in KEPT_TABLES:
                    s.execute(delete(table))
            s.commit()
        self.calendars.forget()
        load_sample(self.db, self.clock)
        load_sample_calendar(self.db)
        self.calendars.forget()


def _role_words(role: RoleAssignment, names: Mapping[tuple[ScopeKind, int], str]) -> str:
    try:
        label = ROLE_LABELS[Role(role.role)]
    except ValueError:
        label = role.role.replace("_", " ").capitalize()
    scope = names.get((ScopeKind(role.scope_kind), role.scope_id))
    return f"{label}, {scope}" if scope else label
