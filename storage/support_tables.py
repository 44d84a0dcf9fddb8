"""Support brokerage: requests from schools, the offers made to alliances, and the audit trail.

A request's `state` is one of the core's lifecycle states (bot/services/support/lifecycle.py);
it moves only through that state machine, and every move writes one `support_event`. Updates to
a request compare and bump `version` (UPDATE … WHERE id = ? AND version = ?), so two people
acting at once cannot both win: the loser's update touches no row and is retried or refused.
The first claim wins the same way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Index,
    Numeric,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from storage.models import timestamp_column as _ts


class SupportRequest(SQLModel, table=True):
    """A school's request for support, e.g. SR-2026-0042, and who holds it."""

    __tablename__ = "support_request"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        CheckConstraint(
            "window_from IS NULL OR window_to IS NULL OR window_from <= window_to",
            name="ck_support_request_window",
        ),
        # Lists: a school's requests, an alliance's queue, open requests by state.
        Index("ix_support_request_tenant_school", "tenant_id", "school_id", "created_at"),
        Index("ix_support_request_tenant_alliance", "tenant_id", "claimed_by_alliance_id"),
        Index("ix_support_request_tenant_state", "tenant_id", "state", "created_at"),
        # The escalation and nudge sweeps, across tenants: requests in a state since when.
        Index("ix_support_request_state_updated", "state", "updated_at"),
        # The sweeps' due times (NULL once done, so the indexes stay small in practice).
        Index("ix_support_request_escalate_at", "escalate_at"),
        Index("ix_support_request_start_nudge_at", "start_nudge_at"),
        Index("ix_support_request_close_nudge_at", "close_nudge_at"),
        CheckConstraint(
            "impact_rating IS NULL OR (impact_rating BETWEEN 1 AND 5)",
            name="ck_support_request_impact",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    reference: str = Field(max_length=32)  # e.g. SR-2026-0042, unique within the tenant
    school_id: int = Field(foreign_key="school.id")
    requested_by: int = Field(foreign_key="person.id", index=True)

    category_id: str = Field(max_length=64)  # a catalogue category
    needed: str = Field(sa_column=Column(Text, nullable=False))
    why_now: str = Field(default="", sa_column=Column(Text, nullable=False))
    urgency: str = Field(default="normal", max_length=16)  # low | normal | high | urgent
    window_from: date | None = Field(default=None)
    window_to: date | None = Field(default=None)
    days_estimate: float | None = Field(default=None)  # rough days, as the requester guesses
    consent_to_share: bool = Field(default=False)  # may providers see the details?

    # "traded" (offered to alliances) or "la" (sent to the LA), from the category when asked.
    route: str = Field(default="traded", max_length=8)

    state: str = Field(default="submitted", max_length=16)
    claimed_by_alliance_id: int | None = Field(default=None, foreign_key="alliance.id")
    # The alliance lead who claimed it (or to whom a chair assigned it): who is told and nudged.
    claimed_by_person_id: int | None = Field(default=None, foreign_key="person.id")

    # The provider's current proposal (void again when the requester asks for changes); once
    # accepted these are the agreed figures the ledger counts.
    proposal_days: Decimal | None = Field(default=None, sa_column=Column(Numeric(6, 1)))
    proposal_starts_on: date | None = Field(default=None)
    proposal_ends_on: date | None = Field(default=None)
    proposal_cost_pence: int | None = Field(default=None)
    proposal_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    impact_rating: int | None = Field(default=None)  # 1-5, given when the requester closes it
    impact_evidence: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

    # When things happened, for the stats (time to claim, time to close).
    claimed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    agreed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # When the sweeps act next: escalate if still unclaimed; nudge the provider if an agreed
    # request has not started; nudge the requester if a delivered one is not closed. Each is
    # set by the transition that starts the wait and cleared when the wait ends or is acted on.
    escalate_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    start_nudge_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    close_nudge_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Optimistic concurrency: every update says which version it read and bumps it.
    version: int = Field(default=1)
    created_at: datetime = Field(sa_column=_ts())
    # Bumped on every change; the sweeps read it as "in this state since".
    updated_at: datetime = Field(sa_column=_ts())


class SupportOffer(SQLModel, table=True):
    """A request put in front of one alliance: offered, then declined, claimed or lapsed."""

    __tablename__ = "support_offer"
    __table_args__ = (
        UniqueConstraint("request_id", "alliance_id"),
        # An alliance lead's open offers.
        Index("ix_support_offer_tenant_alliance_status", "tenant_id", "alliance_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    request_id: int = Field(foreign_key="support_request.id")
    alliance_id: int = Field(foreign_key="alliance.id")
    status: str = Field(
        default="offered", max_length=16
    )  # offered | declined | claimed | lapsed (another alliance holds it, or it ended)
    decline_reason: str | None = Field(default=None, max_length=500)
    offered_at: datetime = Field(sa_column=_ts())
    responded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class SupportEvent(SQLModel, table=True):
    """One transition of a request, for the audit trail: who did what, from which state to which.

    `actor_person_id` is NULL when the bot itself acted (routing, escalation); `party` says in
    which capacity the actor acted (requester, provider, chair, system). `detail` holds what the
    action carried: a proposal's days, dates and cost, a decline reason, an impact rating.
    """

    __tablename__ = "support_event"
    __table_args__ = (Index("ix_support_event_request_at", "request_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    request_id: int = Field(foreign_key="support_request.id")
    at: datetime = Field(sa_column=_ts())
    actor_person_id: int | None = Field(default=None, foreign_key="person.id")
    party: str = Field(max_length=16)
    action: str = Field(max_length=16)
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SupportCounter(SQLModel, table=True):
    """The last request number given in a tenant's year: SR-2026-0042 is number 42 of 2026.

    Taken with one upsert (INSERT … ON CONFLICT DO UPDATE SET last = last + 1 RETURNING), which
    locks the row until the request is committed, so two requests never share a number.
    """

    __tablename__ = "support_counter"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    year: int = Field(primary_key=True)
    last: int = Field(default=0)
