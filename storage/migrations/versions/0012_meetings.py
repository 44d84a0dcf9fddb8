"""quadrant meetings: meetings, candidate slots, invitees, votes, agenda items, actions, numbering

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 09:00:00

meeting.chosen_slot_id and meeting_slot.meeting_id refer to each other, so the first of the two
foreign keys is added once both tables exist (a batch operation, for SQLite). A meeting's
`version` is for optimistic concurrency (see storage/meeting_tables.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("quadrant_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("venue", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("online_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("chair_person_id", sa.Integer(), nullable=False),
        sa.Column("note_taker_person_id", sa.Integer(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("vote_deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chosen_slot_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ics_sequence", sa.Integer(), nullable=False),
        sa.Column("graph_event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("agenda_deadline_days", sa.Integer(), nullable=False),
        sa.Column("agenda_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(starts_at IS NULL AND ends_at IS NULL) OR starts_at < ends_at",
            name="ck_meeting_times",
        ),
        sa.CheckConstraint("agenda_deadline_days >= 0", name="ck_meeting_agenda_deadline_days"),
        sa.ForeignKeyConstraint(["chair_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["note_taker_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["quadrant_id"], ["quadrant.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "reference"),
    )
    op.create_index(op.f("ix_meeting_tenant_id"), "meeting", ["tenant_id"])
    op.create_index(
        "ix_meeting_tenant_quadrant_starts", "meeting", ["tenant_id", "quadrant_id", "starts_at"]
    )
    op.create_index("ix_meeting_state_vote_deadline", "meeting", ["state", "vote_deadline"])
    op.create_index("ix_meeting_state_starts", "meeting", ["state", "starts_at"])

    op.create_table(
        "meeting_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("starts_at < ends_at", name="ck_meeting_slot_times"),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "starts_at"),
    )
    op.create_index(op.f("ix_meeting_slot_tenant_id"), "meeting_slot", ["tenant_id"])
    with op.batch_alter_table("meeting") as batch:
        batch.create_foreign_key(
            "fk_meeting_chosen_slot", "meeting_slot", ["chosen_slot_id"], ["id"]
        )

    op.create_table(
        "meeting_invitee",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("rsvp", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("nudged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "person_id"),
    )
    op.create_index(op.f("ix_meeting_invitee_tenant_id"), "meeting_invitee", ["tenant_id"])
    op.create_index(
        "ix_meeting_invitee_tenant_person", "meeting_invitee", ["tenant_id", "person_id"]
    )

    op.create_table(
        "meeting_vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["slot_id"], ["meeting_slot.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot_id", "person_id"),
    )
    op.create_index(op.f("ix_meeting_vote_tenant_id"), "meeting_vote", ["tenant_id"])
    op.create_index("ix_meeting_vote_meeting_person", "meeting_vote", ["meeting_id", "person_id"])

    op.create_table(
        "meeting_agenda_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["added_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_meeting_agenda_item_tenant_id"), "meeting_agenda_item", ["tenant_id"])
    op.create_index(
        "ix_meeting_agenda_item_meeting", "meeting_agenda_item", ["meeting_id", "position"]
    )

    op.create_table(
        "meeting_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"]),
        sa.ForeignKeyConstraint(["owner_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_meeting_action_tenant_id"), "meeting_action", ["tenant_id"])
    op.create_index("ix_meeting_action_done_due", "meeting_action", ["done_at", "due_on"])
    op.create_index(
        "ix_meeting_action_tenant_owner",
        "meeting_action",
        ["tenant_id", "owner_person_id", "done_at"],
    )
    op.create_index("ix_meeting_action_meeting", "meeting_action", ["meeting_id"])

    op.create_table(
        "meeting_counter",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "year"),
    )


def downgrade() -> None:
    op.drop_table("meeting_counter")
    op.drop_index("ix_meeting_action_meeting", table_name="meeting_action")
    op.drop_index("ix_meeting_action_tenant_owner", table_name="meeting_action")
    op.drop_index("ix_meeting_action_done_due", table_name="meeting_action")
    op.drop_index(op.f("ix_meeting_action_tenant_id"), table_name="meeting_action")
    op.drop_table("meeting_action")
    op.drop_index("ix_meeting_agenda_item_meeting", table_name="meeting_agenda_item")
    op.drop_index(op.f("ix_meeting_agenda_item_tenant_id"), table_name="meeting_agenda_item")
    op.drop_table("meeting_agenda_item")
    op.drop_index("ix_meeting_vote_meeting_person", table_name="meeting_vote")
    op.drop_index(op.f("ix_meeting_vote_tenant_id"), table_name="meeting_vote")
    op.drop_table("meeting_vote")
    op.drop_index("ix_meeting_invitee_tenant_person", table_name="meeting_invitee")
    op.drop_index(op.f("ix_meeting_invitee_tenant_id"), table_name="meeting_invitee")
    op.drop_table("meeting_invitee")
    with op.batch_alter_table("meeting") as batch:
        batch.drop_constraint("fk_meeting_chosen_slot", type_="foreignkey")
    op.drop_index(op.f("ix_meeting_slot_tenant_id"), table_name="meeting_slot")
    op.drop_table("meeting_slot")
    op.drop_index("ix_meeting_state_starts", table_name="meeting")
    op.drop_index("ix_meeting_state_vote_deadline", table_name="meeting")
    op.drop_index("ix_meeting_tenant_quadrant_starts", table_name="meeting")
    op.drop_index(op.f("ix_meeting_tenant_id"), table_name="meeting")
    op.drop_table("meeting")
