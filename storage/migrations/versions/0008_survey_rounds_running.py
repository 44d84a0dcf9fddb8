"""healthcheck rounds running: nudges sent, close time, drafts of multi-page answers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 18:00:00

survey_draft is WITHOUT ROWID on SQLite, like survey_response: its key is an HMAC, not a
sequence, and nothing records the order in which drafts came.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("survey_round") as batch:
        batch.add_column(sa.Column("nudges_done", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "survey_draft",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["survey_round.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("key"),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_survey_draft_tenant_id"), "survey_draft", ["tenant_id"])
    op.create_index(op.f("ix_survey_draft_round_id"), "survey_draft", ["round_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_survey_draft_round_id"), table_name="survey_draft")
    op.drop_index(op.f("ix_survey_draft_tenant_id"), table_name="survey_draft")
    op.drop_table("survey_draft")
    with op.batch_alter_table("survey_round") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("nudges_done")
