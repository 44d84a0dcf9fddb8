"""healthcheck surveys: rounds, invitations, responses, answers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 16:00:00

survey_response and survey_answer are WITHOUT ROWID on SQLite (random UUID keys, no hidden
insertion order); see storage/survey_tables.py on anonymity.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("template_snapshot", sa.JSON(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("launched_by", sa.Integer(), nullable=False),
        sa.Column("audience_role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column(
            "audience_scope_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column("audience_scope_id", sa.Integer(), nullable=True),
        sa.Column("audience_label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("nudge_plan", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recurrence_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("recurrence_open_school_day", sa.Integer(), nullable=True),
        sa.Column("recurrence_school_days", sa.Integer(), nullable=True),
        sa.Column("previous_round_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["launched_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["previous_round_id"], ["survey_round.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_survey_round_tenant_id"), "survey_round", ["tenant_id"])
    op.create_index("ix_survey_round_tenant_status", "survey_round", ["tenant_id", "status"])
    op.create_index(
        "ix_survey_round_tenant_template", "survey_round", ["tenant_id", "template_id", "opens_at"]
    )

    op.create_table(
        "survey_invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column(
            "response_subject_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column("response_subject_id", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("nudges_sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["round_id"], ["survey_round.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "person_id", "subject_kind", "subject_id"),
    )
    op.create_index(op.f("ix_survey_invitation_person_id"), "survey_invitation", ["person_id"])
    op.create_index(
        "ix_survey_invitation_round_answered", "survey_invitation", ["round_id", "answered"]
    )
    op.create_index(op.f("ix_survey_invitation_tenant_id"), "survey_invitation", ["tenant_id"])

    op.create_table(
        "survey_response",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("respondent_person_id", sa.Integer(), nullable=True),
        sa.Column("respondent_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(respondent_key IS NULL) <> (respondent_person_id IS NULL)",
            name="ck_survey_response_one_respondent",
        ),
        sa.ForeignKeyConstraint(["respondent_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["round_id"], ["survey_round.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "respondent_key"),
        sa.UniqueConstraint("round_id", "respondent_person_id", "subject_kind", "subject_id"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_survey_response_round_subject",
        "survey_response",
        ["round_id", "subject_kind", "subject_id"],
    )
    op.create_index(op.f("ix_survey_response_tenant_id"), "survey_response", ["tenant_id"])

    op.create_table(
        "survey_answer",
        sa.Column("response_id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["response_id"], ["survey_response.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("response_id", "question_id"),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_survey_answer_tenant_id"), "survey_answer", ["tenant_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_survey_answer_tenant_id"), table_name="survey_answer")
    op.drop_table("survey_answer")
    op.drop_index(op.f("ix_survey_response_tenant_id"), table_name="survey_response")
    op.drop_index("ix_survey_response_round_subject", table_name="survey_response")
    op.drop_table("survey_response")
    op.drop_index(op.f("ix_survey_invitation_tenant_id"), table_name="survey_invitation")
    op.drop_index("ix_survey_invitation_round_answered", table_name="survey_invitation")
    op.drop_index(op.f("ix_survey_invitation_person_id"), table_name="survey_invitation")
    op.drop_table("survey_invitation")
    op.drop_index("ix_survey_round_tenant_template", table_name="survey_round")
    op.drop_index("ix_survey_round_tenant_status", table_name="survey_round")
    op.drop_index(op.f("ix_survey_round_tenant_id"), table_name="survey_round")
    op.drop_table("survey_round")
