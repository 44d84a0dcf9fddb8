"""Healthcheck surveys: rounds, who was invited, and what was answered.

A round is launched from a template and keeps a snapshot of it, so later edits to the YAML do
not change the questions of a round already out. Its audience (a role within a scope) is
resolved at launch into invitations, one per person and subject (the school or partnership the
person answers for), and frozen.

Anonymity. In a named round a response carries `respondent_person_id` and `submitted_at`, and
the invitation `answered_at`. In an anonymous round "who has answered" and "what was answered"
are kept apart, and no query over the database can join them:

- `survey_response` and `survey_answer` hold no person id, no invitation id and no timestamp
  (`submitted_at` is NULL). A response's primary key is a random UUID (version 4: never a
  time-ordered UUID), and an answer's key is (response, question): no sequence numbers. On
  SQLite both tables are WITHOUT ROWID, so there is no hidden rowid in insertion order either.
- To let a person change their answer until the close, the response carries `respondent_key`,
  an HMAC-SHA256 of (tenant, round, person, subject) under a pepper held in the app's settings
  (SLIS_ANONYMITY_PEPPER), never in the database. The app can find a person's own response;
  the database alone cannot, because without the pepper the key is a random-looking string.
- A submission writes nothing about the person: the invitation's `answered` flag is not set
  when the answer is stored, so the invitation rows carry no trace (no PostgreSQL `xmin`, no
  write order) of when each person answered. Whether a person has answered is found by the app
  through the key; the flags are set for everyone at once when the round is sealed at close,
  and `answered_at` stays NULL.
- Sealing also rewrites every response and answer of the round in one transaction, in random
  order and under fresh random ids, so that neither PostgreSQL's `xmin`/`ctid` nor the order of
  rows on disk keeps the order in which people answered.
- The subject of a response is coarsened where it would name the respondent: in an anonymous
  round of a school-scoped template (one head per school), a response is filed under the
  invitation's `response_subject` (the school's partnership, or its quadrant), never the
  school. The invitation's `response_subject` is chosen at launch and shared by many.

What remains, and is not removable at the database level:

- A group with one respondent identifies them: a partnership whose only invitee is its lead,
  or a coarsened group in which one person answered. Reports suppress groups under k answers
  (default 3); the launch should warn of groups with fewer than k invitees.
- Someone with the database and the pepper can link answers to people: the guarantee is that
  the database alone cannot. Keep the pepper secret, apart from database backups, and stable
  (changing it while a round is open stops people from changing their answers).
- Someone who watches the database while a round is open (repeated snapshots, the PostgreSQL
  WAL or the SQLite WAL file, replication, logs) sees each response arrive and may match it to
  the nudges that follow. Until the round is sealed, `xmin`/`ctid` order the responses received
  since the last seal.
- Free text can identify its writer. Reports show it without names, but cannot anonymise what
  people write.
- Anything person-linked written in the same transaction as an anonymous response would share
  its PostgreSQL `xmin`: the app must not write an outbox row, audit row or log line that names
  the person together with the response (the summary a person sees of what they sent goes back
  on the request itself, not through the outbox).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlmodel import Field, SQLModel

from storage.models import timestamp_column as _ts


class SurveyRound(SQLModel, table=True):
    """One launch of a template to an audience, open from `opens_at` until `closes_at`."""

    __tablename__ = "survey_round"
    __table_args__ = (
        Index("ix_survey_round_tenant_status", "tenant_id", "status"),
        # The previous round of the same template, for "change since last round".
        Index("ix_survey_round_tenant_template", "tenant_id", "template_id", "opens_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    template_id: str = Field(max_length=64)
    # The template as launched (Template.snapshot()), so later edits to the YAML change nothing.
    template_snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    title: str = Field(max_length=200)
    launched_by: int = Field(foreign_key="person.id")

    # The audience: holders of `audience_role` within a scope (county, quadrant, partnership).
    audience_role: str = Field(max_length=32)
    audience_scope_kind: str = Field(max_length=16)
    audience_scope_id: int | None = Field(default=None)  # None for the whole local authority
    audience_label: str = Field(default="", max_length=200)  # e.g. "Heads, North East"

    opens_at: datetime = Field(sa_column=_ts())
    closes_at: datetime = Field(sa_column=_ts())
    anonymous: bool = Field(default=False)
    # When to nudge those who have not answered,
    # e.g. {"after_school_days": [3, 6], "last_day": true}.
    nudge_plan: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="draft", max_length=16)  # draft | scheduled | open | closed
    # How many of the planned nudges (nudge_plan["at"]) have been sent or passed over.
    nudges_done: int = Field(default=0)
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))

    # Recurrence: a new round each `term` (or `half_term`, `year`), opening on the given school
    # day of it and staying open for so many school days. NULL kind: the round does not recur.
    recurrence_kind: str | None = Field(default=None, max_length=16)
    recurrence_open_school_day: int | None = Field(default=None)
    recurrence_school_days: int | None = Field(default=None)
    previous_round_id: int | None = Field(default=None, foreign_key="survey_round.id")

    created_at: datetime = Field(sa_column=_ts())


class SurveyInvitation(SQLModel, table=True):
    """A person asked to answer a round for one subject; frozen at launch.

    `subject` is what the person answers for (their school, or their partnership);
    `response_subject` is what their response is filed under: the same, except in anonymous
    rounds of school-scoped templates, where it is the school's partnership or quadrant.
    In anonymous rounds `answered` is set only when the round is sealed, and `answered_at` never.
    """

    __tablename__ = "survey_invitation"
    __table_args__ = (
        UniqueConstraint("round_id", "person_id", "subject_kind", "subject_id"),
        Index("ix_survey_invitation_round_answered", "round_id", "answered"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    round_id: int = Field(foreign_key="survey_round.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    subject_kind: str = Field(max_length=16)  # school | partnership
    subject_id: int
    response_subject_kind: str = Field(max_length=16)  # school | partnership | quadrant
    response_subject_id: int
    answered: bool = Field(default=False)
    answered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    nudges_sent: int = Field(default=0)


class SurveyResponse(SQLModel, table=True):
    """One respondent's answers to a round, about one subject; resubmitting bumps `revision`.

    Named rounds set `respondent_person_id` and `submitted_at`; anonymous rounds set only
    `respondent_key` (see the module's notes on anonymity).
    """

    __tablename__ = "survey_response"
    __table_args__ = (
        UniqueConstraint("round_id", "respondent_key"),
        UniqueConstraint("round_id", "respondent_person_id", "subject_kind", "subject_id"),
        CheckConstraint(
            "(respondent_key IS NULL) <> (respondent_person_id IS NULL)",
            name="ck_survey_response_one_respondent",
        ),
        Index("ix_survey_response_round_subject", "round_id", "subject_kind", "subject_id"),
        # No rowid: its insertion order would tell which response came when.
        {"sqlite_with_rowid": False},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    round_id: int = Field(foreign_key="survey_round.id")
    subject_kind: str = Field(max_length=16)
    subject_id: int
    respondent_person_id: int | None = Field(default=None, foreign_key="person.id")
    respondent_key: str | None = Field(default=None, max_length=64)
    submitted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revision: int = Field(default=1)


class SurveyAnswer(SQLModel, table=True):
    """The answer to one question of a response (JSON, as the template describes), and its
    optional comment."""

    __tablename__ = "survey_answer"
    __table_args__ = ({"sqlite_with_rowid": False},)

    response_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("survey_response.id", ondelete="CASCADE"), primary_key=True
        )
    )
    question_id: str = Field(primary_key=True, max_length=64)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    value: Any = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class SurveyDraft(SQLModel, table=True):
    """The answers to the pages of a form a person has gone through but not yet sent.

    A platform shows one page of a long form at a time and forgets the others, so the earlier
    pages wait here. The key is an HMAC of the invitation under the anonymity pepper (as for
    anonymous responses), so in an anonymous round a draft names nobody; it holds no time, and
    it is deleted when the answers are sent, and with every draft of a round at its close.
    """

    __tablename__ = "survey_draft"
    __table_args__ = ({"sqlite_with_rowid": False},)

    key: str = Field(primary_key=True, max_length=80)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    round_id: int = Field(foreign_key="survey_round.id", index=True)
    values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
