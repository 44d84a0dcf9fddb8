"""support brokerage: requests, offers to alliances, the audit trail

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 18:30:00

A request's `version` is for optimistic concurrency (see storage/support_tables.py); every
lifecycle transition writes one support_event.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("category_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("needed", sa.Text(), nullable=False),
        sa.Column("why_now", sa.Text(), nullable=False),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("window_from", sa.Date(), nullable=True),
        sa.Column("window_to", sa.Date(), nullable=True),
        sa.Column("days_estimate", sa.Float(), nullable=True),
        sa.Column("consent_to_share", sa.Boolean(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("claimed_by_alliance_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "window_from IS NULL OR window_to IS NULL OR window_from <= window_to",
            name="ck_support_request_window",
        ),
        sa.ForeignKeyConstraint(["claimed_by_alliance_id"], ["alliance.id"]),
        sa.ForeignKeyConstraint(["requested_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "reference"),
    )
    op.create_index(op.f("ix_support_request_tenant_id"), "support_request", ["tenant_id"])
    op.create_index(op.f("ix_support_request_requested_by"), "support_request", ["requested_by"])
    op.create_index(
        "ix_support_request_tenant_school",
        "support_request",
        ["tenant_id", "school_id", "created_at"],
    )
    op.create_index(
        "ix_support_request_tenant_alliance",
        "support_request",
        ["tenant_id", "claimed_by_alliance_id"],
    )
    op.create_index(
        "ix_support_request_tenant_state", "support_request", ["tenant_id", "state", "created_at"]
    )
    op.create_index("ix_support_request_state_updated", "support_request", ["state", "updated_at"])

    op.create_table(
        "support_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("alliance_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decline_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alliance_id"], ["alliance.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["support_request.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "alliance_id"),
    )
    op.create_index(op.f("ix_support_offer_tenant_id"), "support_offer", ["tenant_id"])
    op.create_index(
        "ix_support_offer_tenant_alliance_status",
        "support_offer",
        ["tenant_id", "alliance_id", "status"],
    )

    op.create_table(
        "support_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_person_id", sa.Integer(), nullable=True),
        sa.Column("party", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("from_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("to_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["actor_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["support_request.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_support_event_tenant_id"), "support_event", ["tenant_id"])
    op.create_index("ix_support_event_request_at", "support_event", ["request_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_support_event_request_at", table_name="support_event")
    op.drop_index(op.f("ix_support_event_tenant_id"), table_name="support_event")
    op.drop_table("support_event")
    op.drop_index("ix_support_offer_tenant_alliance_status", table_name="support_offer")
    op.drop_index(op.f("ix_support_offer_tenant_id"), table_name="support_offer")
    op.drop_table("support_offer")
    op.drop_index("ix_support_request_state_updated", table_name="support_request")
    op.drop_index("ix_support_request_tenant_state", table_name="support_request")
    op.drop_index("ix_support_request_tenant_alliance", table_name="support_request")
    op.drop_index("ix_support_request_tenant_school", table_name="support_request")
    op.drop_index(op.f("ix_support_request_requested_by"), table_name="support_request")
    op.drop_index(op.f("ix_support_request_tenant_id"), table_name="support_request")
    op.drop_table("support_request")
