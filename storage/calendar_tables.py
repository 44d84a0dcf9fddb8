"""The school calendar's tables: term dates, closures inside terms, and quiet hours, per tenant.

Dates are calendar dates in the tenant's own zone; times of day are local wall-clock times.
Kinds are plain strings; the core owns their vocabulary (`bot.services.calendar`).
Closures are county-wide: per-school INSET days are not modelled.
"""

from __future__ import annotations

from datetime import date, time

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

DEFAULT_QUIET_HOURS_START = time(7, 30)
DEFAULT_QUIET_HOURS_END = time(18, 0)


class SchoolTerm(SQLModel, table=True):
    """A term as the calendar file gives it, e.g. "Autumn" of school year "2026-27"."""

    __tablename__ = "school_term"
    __table_args__ = (
        UniqueConstraint("tenant_id", "school_year", "name"),
        CheckConstraint("ends >= starts", name="ck_school_term_dates"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    school_year: str = Field(max_length=7)  # "2026-27"
    name: str = Field(max_length=50)
    starts: date
    ends: date  # inclusive
    source: str = Field(default="", max_length=200)  # the file it was imported from


class SchoolClosure(SQLModel, table=True):
    """Days inside a term with no school: half term, an INSET day, or another closure."""

    __tablename__ = "school_closure"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "starts"),
        CheckConstraint("ends >= starts", name="ck_school_closure_dates"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    school_year: str = Field(max_length=7)
    kind: str = Field(max_length=16)  # half_term | inset | other
    starts: date
    ends: date  # inclusive
    note: str = Field(default="", max_length=200)


class QuietHours(SQLModel, table=True):
    """The local hours of a school day in which the bot may start conversations.

    Outside them (and on days that are not school days) the bot is quiet. A tenant without a
    row has the defaults, 07:30-18:00.
    """

    __tablename__ = "quiet_hours"
    __table_args__ = (CheckConstraint("ends > starts", name="ck_quiet_hours_order"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", unique=True)
    starts: time = Field(default=DEFAULT_QUIET_HOURS_START)
    ends: time = Field(default=DEFAULT_QUIET_HOURS_END)  # exclusive
