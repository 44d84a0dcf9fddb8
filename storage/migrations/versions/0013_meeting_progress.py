"""meeting progress: what has been sent out (invites, reminders, minutes), Graph publication
retries, the poll's close, the minutes; a quadrant's announcement channel

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meeting") as batch:
        batch.add_column(
            sa.Column("sent_sequence", sa.Integer(), nullable=False, server_default="-1")
        )
        batch.add_column(
            sa.Column("publish_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("publish_after", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("publish_problem", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("poll_closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch.add_column(sa.Column("minutes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("minutes_sent_at", sa.DateTime(timezone=True), nullable=True))
    # Publication sweep: meetings whose latest change has not gone out yet.
    op.create_index("ix_meeting_publish", "meeting", ["state", "sent_sequence", "ics_sequence"])
    with op.batch_alter_table("quadrant") as batch:
        batch.add_column(
            sa.Column(
                "channel_platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True
            )
        )
        batch.add_column(
            sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("quadrant") as batch:
        batch.drop_column("channel_id")
        batch.drop_column("channel_platform")
    op.drop_index("ix_meeting_publish", table_name="meeting")
    with op.batch_alter_table("meeting") as batch:
        for name in (
            "minutes_sent_at",
            "minutes",
            "cancel_reason",
            "poll_closed_at",
            "reminders_sent",
            "publish_problem",
            "publish_after",
            "publish_attempts",
            "sent_sequence",
        ):
            batch.drop_column(name)
