"""The outbox: messages the bot has decided to send, kept until the platform has them.

A row is written in the same transaction as the change that causes it; its unique `key` makes
that write idempotent. The relay moves a row pending -> in_flight -> sent, or parks it as
failed. A row may edit, or reply in the thread of, the message of an earlier row, named by its
key. Statuses and destinations are plain strings; the core owns their vocabulary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


def _ts(*, nullable: bool) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable),
    )


class OutboxMessage(SQLModel, table=True):
    """One outbound message: recipient, payload, when it may go, and how sending went."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        # Finding due rows: pending ones by next attempt.
        Index("ix_outbox_message_due", "status", "next_attempt_at", "id"),
        # Keeping each destination in order: the earliest unsent row of a destination goes first.
        Index("ix_outbox_message_destination", "destination", "status", "not_before", "id"),
        Index("ix_outbox_message_tenant_status", "tenant_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    key: str = Field(max_length=255, unique=True)
    # The recipient: a person (resolved to a chat account when sent) or a conversation.
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    # For a conversation, where it is; for a person, where it was last sent (set when claimed).
    platform: str | None = Field(default=None, max_length=16)
    workspace_id: str | None = Field(default=None, max_length=64)
    conversation_id: str | None = Field(default=None, max_length=255)
    service_url: str | None = Field(default=None, max_length=500)
    # Rows with one destination are sent one at a time, in order (`person:<id>` or a conversation).
    destination: str = Field(max_length=400)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # The key of an earlier row whose message this row's payload replaces (an edit), or in
    # whose thread this row's message is posted (a reply). At most one of the two.
    # Indexed: a row in doubt asks whether edits were folded into it.
    edits_key: str | None = Field(default=None, max_length=255, index=True)
    thread_key: str | None = Field(default=None, max_length=255)
    not_before: datetime = _ts(nullable=False)
    next_attempt_at: datetime = _ts(nullable=False)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    # The last attempt may have reached the platform: ask it before sending again.
    needs_check: bool = Field(default=False)
    claimed_at: datetime | None = _ts(nullable=True)
    first_attempt_at: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    message_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts(nullable=False)
