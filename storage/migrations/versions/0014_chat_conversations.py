"""chat conversations: where the bot may post unasked (Teams service URLs and conversation
ids, and whether the bot is still installed there)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "chat_conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("platform", _str(length=16), nullable=False),
        sa.Column("workspace_id", _str(length=64), nullable=False),
        sa.Column("conversation_id", _str(length=255), nullable=False),
        sa.Column("kind", _str(length=16), nullable=False),
        sa.Column("service_url", _str(length=500), nullable=True),
        sa.Column("user_id", _str(length=64), nullable=True),
        sa.Column("member_id", _str(length=255), nullable=True),
        sa.Column("name", _str(length=200), nullable=False),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "workspace_id", "conversation_id"),
    )
    op.create_index(
        "ix_chat_conversation_tenant_id", "chat_conversation", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_chat_conversation_user",
        "chat_conversation",
        ["platform", "workspace_id", "user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_chat_conversation_user", table_name="chat_conversation")
    op.drop_index("ix_chat_conversation_tenant_id", table_name="chat_conversation")
    op.drop_table("chat_conversation")
