"""data protection: the audit log, per-tenant retention periods, uninstalled workspaces and
erased people

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform", _str(length=16), nullable=False),
        sa.Column("actor_person_id", sa.Integer(), nullable=True),
        sa.Column("action", _str(length=64), nullable=False),
        sa.Column("subject", _str(length=200), nullable=False),
        sa.Column("about_person_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.ForeignKeyConstraint(["actor_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["about_person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entry_tenant_at", "audit_entry", ["tenant_id", "at"])
    op.create_index("ix_audit_entry_tenant_action", "audit_entry", ["tenant_id", "action", "at"])
    op.create_index("ix_audit_entry_actor_person_id", "audit_entry", ["actor_person_id"])
    op.create_index("ix_audit_entry_about_person_id", "audit_entry", ["about_person_id"])
    op.create_table(
        "retention_period",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("record_kind", _str(length=32), nullable=False),
        sa.Column("keep_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "record_kind"),
    )
    with op.batch_alter_table("chat_workspace") as batch:
        batch.add_column(sa.Column("uninstalled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.drop_column("erased_at")
    with op.batch_alter_table("chat_workspace") as batch:
        batch.drop_column("uninstalled_at")
    op.drop_table("retention_period")
    op.drop_index("ix_audit_entry_about_person_id", table_name="audit_entry")
    op.drop_index("ix_audit_entry_actor_person_id", table_name="audit_entry")
    op.drop_index("ix_audit_entry_tenant_action", table_name="audit_entry")
    op.drop_index("ix_audit_entry_tenant_at", table_name="audit_entry")
    op.drop_table("audit_entry")
