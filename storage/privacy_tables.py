"""Tables for data protection and administration: the audit log and per-tenant retention.

An audit entry says who did what, when and from where; it names people only by their person
id (so erasing a person leaves the entry without their name, e-mail or chat ids) and its
`detail` holds only facts that are not personal data (counts, states, references).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from storage.models import timestamp_column


class AuditEntry(SQLModel, table=True):
    """One administrative or state-changing action: who (a person, the command line or the bot
    itself), what, on what, when and from which platform."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_tenant_at", "tenant_id", "at"),
        Index("ix_audit_entry_tenant_action", "tenant_id", "action", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    at: datetime = Field(sa_column=timestamp_column())
    # slack | teams | cli | system (the bot's own scheduled work) | sandbox
    platform: str = Field(max_length=16)
    # The person who acted; NULL for the command line and for the bot itself.
    actor_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    action: str = Field(max_length=64)  # e.g. healthcheck.launch, support.claim, privacy.erase
    # What it acted on, as people refer to it: SR-2026-0042, M-2027-0007, round 12, person 88.
    subject: str = Field(default="", max_length=200)
    # The person the action was about (an export, an erasure, an assignment), if any.
    about_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RetentionPeriod(SQLModel, table=True):
    """A local authority's own retention period for one kind of record, in days, where it
    differs from the default (bot/services/retention.py lists the kinds and defaults)."""

    __tablename__ = "retention_period"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    record_kind: str = Field(max_length=32, primary_key=True)
    keep_days: int
