"""reminders

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("target_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("target_person_id", sa.Integer(), nullable=True),
        sa.Column("target_role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("target_scope_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("target_scope_id", sa.Integer(), nullable=True),
        sa.Column("target_platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column(
            "target_workspace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column(
            "target_conversation_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("target_label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("schedule_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("weekdays", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("local_time", sa.Time(), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("respect_school_calendar", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["target_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_reminder_status_next_due", ["status", "next_due"], unique=False)
        batch_op.create_index(
            "ix_reminder_tenant_created_by", ["tenant_id", "created_by"], unique=False
        )
        batch_op.create_index("ix_reminder_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_updated_at")
        batch_op.drop_index("ix_reminder_tenant_created_by")
        batch_op.drop_index("ix_reminder_status_next_due")
        batch_op.drop_index(batch_op.f("ix_reminder_tenant_id"))

    op.drop_table("reminder")
