"""school calendar: terms, closures, quiet hours

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "school_term",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("school_year", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("ends", sa.Date(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.CheckConstraint("ends >= starts", name="ck_school_term_dates"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "school_year", "name"),
    )
    with op.batch_alter_table("school_term", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_school_term_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "school_closure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("school_year", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("ends", sa.Date(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.CheckConstraint("ends >= starts", name="ck_school_closure_dates"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "kind", "starts"),
    )
    with op.batch_alter_table("school_closure", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_school_closure_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "quiet_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.CheckConstraint("ends > starts", name="ck_quiet_hours_order"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("quiet_hours")
    with op.batch_alter_table("school_closure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_school_closure_tenant_id"))
    op.drop_table("school_closure")
    with op.batch_alter_table("school_term", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_school_term_tenant_id"))
    op.drop_table("school_term")
