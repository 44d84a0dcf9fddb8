"""support lifecycle: who claimed, the proposal and impact, the sweeps' due times, numbering

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMES = (
    "claimed_at",
    "agreed_at",
    "delivered_at",
    "closed_at",
    "escalate_at",
    "start_nudge_at",
    "close_nudge_at",
)
DUE = ("escalate_at", "start_nudge_at", "close_nudge_at")


def upgrade() -> None:
    with op.batch_alter_table("support_request") as batch:
        batch.add_column(
            sa.Column(
                "route",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="traded",
            )
        )
        batch.add_column(sa.Column("claimed_by_person_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("proposal_days", sa.Numeric(6, 1), nullable=True))
        batch.add_column(sa.Column("proposal_starts_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("proposal_ends_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("proposal_cost_pence", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("proposal_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("impact_rating", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("impact_evidence", sa.Text(), nullable=True))
        for name in TIMES:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_support_request_claimed_by_person", "person", ["claimed_by_person_id"], ["id"]
        )
        batch.create_check_constraint(
            "ck_support_request_impact", "impact_rating IS NULL OR (impact_rating BETWEEN 1 AND 5)"
        )
    for name in DUE:
        op.create_index(f"ix_support_request_{name}", "support_request", [name])
    op.create_table(
        "support_counter",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "year"),
    )


def downgrade() -> None:
    op.drop_table("support_counter")
    for name in DUE:
        op.drop_index(f"ix_support_request_{name}", table_name="support_request")
    with op.batch_alter_table("support_request") as batch:
        batch.drop_constraint("ck_support_request_impact", type_="check")
        batch.drop_constraint("fk_support_request_claimed_by_person", type_="foreignkey")
        for name in reversed(TIMES):
            batch.drop_column(name)
        for name in (
            "impact_evidence",
            "impact_rating",
            "proposal_note",
            "proposal_cost_pence",
            "proposal_ends_on",
            "proposal_starts_on",
            "proposal_days",
            "claimed_by_person_id",
            "route",
        ):
            batch.drop_column(name)
