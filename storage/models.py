"""The tables. Every row that belongs to a local authority carries `tenant_id`.

Enumerated columns are stored as plain strings; the core owns their vocabularies.
Chairs, leads and heads are role assignments, not columns, so one person's roles live in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def aware(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite hands back naive ones, and every stored
    time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def maybe_aware(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def timestamp_column(*, nullable: bool = False) -> Column[datetime]:
    """A column for an aware instant (stored as UTC); every table's times use it."""
    return Column(DateTime(timezone=True), nullable=nullable)


def _ts() -> Column[datetime]:
    return timestamp_column()


class Tenant(SQLModel, table=True):
    """A local authority running the system."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    la_code: int = Field(unique=True, index=True)
    timezone: str = Field(default="Europe/London", max_length=64)
    day_rate_pence: int = Field(default=45000)
    created_at: datetime = Field(sa_column=_ts())


class ChatWorkspace(SQLModel, table=True):
    """A Slack workspace or Teams tenant that belongs to one local authority."""

    __tablename__ = "chat_workspace"
    __table_args__ = (UniqueConstraint("platform", "workspace_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    platform: str = Field(max_length=16)
    workspace_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    # Set when the workspace uninstalled the app or revoked its tokens: nothing more is sent
    # there, and its token is no longer used, until it installs the app again.
    uninstalled_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class Quadrant(SQLModel, table=True):
    """One of a local authority's geographic areas (Essex: West, South, Mid, North East)."""

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=100)
    # Where the quadrant's meetings are announced (a Slack channel id), if it has a channel.
    channel_platform: str | None = Field(default=None, max_length=16)
    channel_id: str | None = Field(default=None, max_length=64)


class QuadrantDistrict(SQLModel, table=True):
    """A local government district whose schools belong to a quadrant (from GIAS extracts)."""

    __tablename__ = "quadrant_district"
    __table_args__ = (UniqueConstraint("tenant_id", "district"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    quadrant_id: int = Field(foreign_key="quadrant.id", index=True)
    district: str = Field(max_length=100)  # stored case-folded, as GIAS names are matched


class School(SQLModel, table=True):
    """An establishment from the national register (GIAS), keyed by URN within a tenant."""

    __table_args__ = (UniqueConstraint("tenant_id", "urn"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    urn: int = Field(index=True)
    name: str = Field(max_length=300, index=True)
    phase: str = Field(default="", max_length=100)
    establishment_type: str = Field(default="", max_length=200)
    establishment_group: str = Field(default="", max_length=200)
    status: str = Field(default="Open", max_length=100)
    quadrant_id: int | None = Field(default=None, foreign_key="quadrant.id", index=True)
    updated_at: datetime = Field(sa_column=_ts())


class Partnership(SQLModel, table=True):
    """A group of schools working together: SLIS cluster, MAT, ASHE group or triad, other."""

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=32)
    quadrant_id: int | None = Field(default=None, foreign_key="quadrant.id", index=True)


class PartnershipMembership(SQLModel, table=True):
    """A school's membership of a partnership (a school may be in several)."""

    __tablename__ = "partnership_membership"
    __table_args__ = (UniqueConstraint("partnership_id", "school_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    partnership_id: int = Field(foreign_key="partnership.id", index=True)
    school_id: int = Field(foreign_key="school.id", index=True)


class Alliance(SQLModel, table=True):
    """A Teaching School Alliance: a lead school, the quadrants it serves, what it offers."""

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=200, index=True)
    lead_school_id: int | None = Field(default=None, foreign_key="school.id")
    capacity_days_per_term: int = Field(default=0)


class AllianceQuadrant(SQLModel, table=True):
    """A quadrant an alliance serves."""

    __tablename__ = "alliance_quadrant"
    __table_args__ = (UniqueConstraint("alliance_id", "quadrant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    quadrant_id: int = Field(foreign_key="quadrant.id", index=True)


class AllianceExpertise(SQLModel, table=True):
    """An area of expertise an alliance offers, as a tag (e.g. `safeguarding`, `send`)."""

    __tablename__ = "alliance_expertise"
    __table_args__ = (UniqueConstraint("alliance_id", "tag"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    alliance_id: int = Field(foreign_key="alliance.id", index=True)
    tag: str = Field(max_length=64, index=True)


class Person(SQLModel, table=True):
    """A member of staff, officer or governor known to the directory."""

    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, index=True)  # stored lower-case
    job_title: str = Field(default="", max_length=200)
    # Set by `slis privacy erase`: the row stays so that others' records keep their shape, but
    # its name, e-mail and job title have been replaced and its roles and chat ids removed.
    erased_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class RoleAssignment(SQLModel, table=True):
    """A role a person holds over a scope; `scope_id` is 0 for the whole local authority."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("person_id", "role", "scope_kind", "scope_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Field(max_length=32, index=True)
    scope_kind: str = Field(max_length=16)
    scope_id: int = Field(default=0, index=True)


class ChatIdentity(SQLModel, table=True):
    """A chat account linked to a person; `source` says how (directory file or e-mail match)."""

    __tablename__ = "chat_identity"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str = Field(max_length=16)
    workspace_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    source: str = Field(default="directory", max_length=16)
    linked_at: datetime = Field(sa_column=_ts())


# Other areas keep their tables in modules of their own; importing them here registers them on
# SQLModel.metadata, which Alembic and the tests read.
from storage import calendar_tables as _calendar_tables  # noqa: E402,F401
from storage import conversation_tables as _conversation_tables  # noqa: E402,F401
from storage import inbound_tables as _inbound_tables  # noqa: E402,F401
from storage import meeting_tables as _meeting_tables  # noqa: E402,F401
from storage import outbox_tables as _outbox_tables  # noqa: E402,F401
from storage import privacy_tables as _privacy_tables  # noqa: E402,F401
from storage import reminder_tables as _reminder_tables  # noqa: E402,F401
from storage import support_tables as _support_tables  # noqa: E402,F401
from storage import survey_tables as _survey_tables  # noqa: E402,F401
