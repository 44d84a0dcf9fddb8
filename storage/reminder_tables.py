"""The reminders table: who set what, for whom, and when it is due.

The table is the source of truth for schedules; the scheduler rebuilds its jobs from it.
Schedules are structured columns, never pickled: a one-off `at` (UTC), or a recurrence
(`weekly` on `weekdays` at `local_time`, every `school_day` at `local_time`, or the first
school day of each `term_start`) read in the reminder's own `timezone`.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.models import timestamp_column as _ts


class Reminder(SQLModel, table=True):
    """One reminder set with `/slis remind`, to a person, the holders of a role, or a channel."""

    __table_args__ = (
        Index("ix_reminder_status_next_due", "status", "next_due"),
        Index("ix_reminder_tenant_created_by", "tenant_id", "created_by"),
        Index("ix_reminder_updated_at", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    created_by: int = Field(foreign_key="person.id")

    # Whom it is for: `person`, `role` or `channel`; only that kind's columns are set.
    target_kind: str = Field(max_length=16)
    target_person_id: int | None = Field(default=None, foreign_key="person.id")
    target_role: str | None = Field(default=None, max_length=32)
    target_scope_kind: str | None = Field(default=None, max_length=16)  # quadrant | partnership
    target_scope_id: int | None = Field(default=None)
    target_platform: str | None = Field(default=None, max_length=16)
    target_workspace_id: str | None = Field(default=None, max_length=64)
    target_conversation_id: str | None = Field(default=None, max_length=64)
    target_label: str | None = Field(default=None, max_length=200)  # a channel's name, for display

    text: str = Field(max_length=2000)

    # When: `once` (at), `weekly` (weekdays + local_time), `school_day` or `term_start`
    # (local_time), in `timezone`.
    schedule_kind: str = Field(max_length=16)
    at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    weekdays: str | None = Field(default=None, max_length=32)  # e.g. "mon,wed"
    local_time: time | None = Field(default=None)
    timezone: str = Field(default="Europe/London", max_length=64)
    # Move deliveries to the next school-day slot (terms, holidays, quiet hours).
    respect_school_calendar: bool = Field(default=False)

    status: str = Field(default="active", max_length=16)  # active | done | cancelled
    next_due: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_due: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(sa_column=_ts())
    # Bumped on every change, so the scheduler on any replica can pick up what changed.
    updated_at: datetime = Field(sa_column=_ts())
