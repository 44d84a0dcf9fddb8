"""outbox edits and thread replies: the key of the row a row edits or replies to (edits indexed)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(
            sa.Column("edits_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch.add_column(
            sa.Column("thread_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
    op.create_index(op.f("ix_outbox_message_edits_key"), "outbox_message", ["edits_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_message_edits_key"), table_name="outbox_message")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("thread_key")
        batch.drop_column("edits_key")
