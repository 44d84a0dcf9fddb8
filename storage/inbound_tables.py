"""Keys of inbound requests already handled, so a retried delivery has one effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class SeenRequest(SQLModel, table=True):
    """A platform request (event id, trigger id...) seen once. `expires_at` is when it stops
    being needed to refuse retries; the retention purge forgets it later than that."""

    __tablename__ = "seen_request"

    key: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
