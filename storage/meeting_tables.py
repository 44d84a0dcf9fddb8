"""Quadrant meetings: the availability poll, the booking, the agenda and the actions after.

A chair proposes a meeting (`state` draft) with candidate slots and invitees, and sends the poll
(polling); invitees vote Yes / If need be / No on each slot until `vote_deadline`; the chair
books one slot (booked: `chosen_slot_id`, `starts_at` and `ends_at` set), and after the meeting
it is `held`. A meeting may be cancelled from draft, polling or booked. States and the other
vocabularies (mode, invitee source, RSVP, vote answer) are plain strings the core owns.

Updates to a meeting compare and bump `version` (UPDATE … WHERE id = ? AND version = ?), so two
people acting at once cannot both win. `ics_sequence` is the iCalendar SEQUENCE of the invite
last sent: every change of time, place or status that is sent out bumps it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from storage.models import timestamp_column as _ts


class Meeting(SQLModel, table=True):
    """A quadrant meeting, e.g. M-2027-0007: from its poll to the booked time and after."""

    __tablename__ = "meeting"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        CheckConstraint(
            "(starts_at IS NULL AND ends_at IS NULL) OR starts_at < ends_at",
            name="ck_meeting_times",
        ),
        CheckConstraint("agenda_deadline_days >= 0", name="ck_meeting_agenda_deadline_days"),
        # `/slis meeting list`: a quadrant's meetings by start.
        Index("ix_meeting_tenant_quadrant_starts", "tenant_id", "quadrant_id", "starts_at"),
        # The sweeps, across tenants: polls by deadline (nudge, close); booked meetings by start
        # (agenda deadline, reminders, marking held).
        Index("ix_meeting_state_vote_deadline", "state", "vote_deadline"),
        Index("ix_meeting_state_starts", "state", "starts_at"),
        # The publication sweep: meetings whose latest change has not gone out.
        Index("ix_meeting_publish", "state", "sent_sequence", "ics_sequence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    reference: str = Field(max_length=32)  # e.g. M-2027-0007, unique within the tenant
    quadrant_id: int = Field(foreign_key="quadrant.id")
    title: str = Field(max_length=200)
    purpose: str = Field(default="", sa_column=Column(Text, nullable=False))
    mode: str = Field(default="in_person", max_length=16)  # in_person | online
    venue: str | None = Field(default=None, max_length=500)
    # The join link: typed by the chair, or the Teams meeting's when Graph created the event.
    online_url: str | None = Field(default=None, max_length=2000)
    created_by: int = Field(foreign_key="person.id")
    chair_person_id: int = Field(foreign_key="person.id")
    note_taker_person_id: int | None = Field(default=None, foreign_key="person.id")

    state: str = Field(
        default="draft", max_length=16
    )  # draft | polling | booked | cancelled | held
    vote_deadline: datetime = Field(sa_column=_ts())
    # The slot booked. The FK is added after both tables exist: meeting and meeting_slot refer
    # to each other.
    chosen_slot_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("meeting_slot.id", use_alter=True, name="fk_meeting_chosen_slot"),
            nullable=True,
        ),
    )
    # Copied from the chosen slot on booking, and moved if the meeting is moved.
    starts_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ends_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ics_sequence: int = Field(default=0)
    # The event in the chair's calendar, when Microsoft Graph is configured for the tenant.
    graph_event_id: str | None = Field(default=None, max_length=255)
    # Invitees may add agenda items until this many days before the start.
    agenda_deadline_days: int = Field(default=5)
    agenda_published_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))

    # The `ics_sequence` whose invite (or cancellation) has gone out: the publication sweep
    # sends a booked or cancelled meeting whose `sent_sequence` is behind (-1: nothing sent).
    sent_sequence: int = Field(default=-1)
    # Microsoft Graph publication: failed tries so far, when to try again, and why the last
    # failed (shown to the chair when the bot gives up on Graph and sends its own invites).
    publish_attempts: int = Field(default=0)
    publish_after: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    publish_problem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Reminder stages sent for the current time (0 none, 1 a week before, 2 a day, 3 an hour);
    # moving the meeting sets it back.
    reminders_sent: int = Field(default=0)
    # When the poll closed (deadline passed or the chair closed it) and the pick was offered.
    poll_closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    cancel_reason: str | None = Field(default=None, max_length=500)
    # The notes the chair or note-taker recorded, and when they went to the attendees.
    minutes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    minutes_sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Optimistic concurrency: every update says which version it read and bumps it.
    version: int = Field(default=1)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class MeetingSlot(SQLModel, table=True):
    """A candidate time for a meeting, as offered in the poll."""

    __tablename__ = "meeting_slot"
    __table_args__ = (
        UniqueConstraint("meeting_id", "starts_at"),
        CheckConstraint("starts_at < ends_at", name="ck_meeting_slot_times"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id")
    starts_at: datetime = Field(sa_column=_ts())
    ends_at: datetime = Field(sa_column=_ts())
    position: int  # its place in the form and the poll message, from 1


class MeetingInvitee(SQLModel, table=True):
    """A person invited to a meeting, why, and their answer once it is booked."""

    __tablename__ = "meeting_invitee"
    __table_args__ = (
        UniqueConstraint("meeting_id", "person_id"),
        # A person's meetings: `/slis meeting list`, "my polls".
        Index("ix_meeting_invitee_tenant_person", "tenant_id", "person_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id")
    person_id: int = Field(foreign_key="person.id")
    # partnership_lead | alliance_lead | association_rep (from the directory) | added (by the chair)
    source: str = Field(max_length=32)
    rsvp: str | None = Field(default=None, max_length=16)  # going | not_going; NULL: no answer
    # When the one nudge to vote was sent (NULL: not nudged).
    nudged_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class MeetingVote(SQLModel, table=True):
    """One invitee's answer for one slot; a changed vote updates the row."""

    __tablename__ = "meeting_vote"
    __table_args__ = (
        UniqueConstraint("slot_id", "person_id"),
        # The tally, and who has not voted: a meeting's votes.
        Index("ix_meeting_vote_meeting_person", "meeting_id", "person_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id")
    slot_id: int = Field(foreign_key="meeting_slot.id")
    person_id: int = Field(foreign_key="person.id")
    answer: str = Field(max_length=16)  # yes | if_need_be | no
    updated_at: datetime = Field(sa_column=_ts())


class MeetingAgendaItem(SQLModel, table=True):
    """An item an invitee put forward for the agenda; `position` is set when the chair orders."""

    __tablename__ = "meeting_agenda_item"
    __table_args__ = (Index("ix_meeting_agenda_item_meeting", "meeting_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id")
    added_by: int = Field(foreign_key="person.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    position: int | None = Field(default=None)  # NULL until the chair orders the agenda
    created_at: datetime = Field(sa_column=_ts())


class MeetingAction(SQLModel, table=True):
    """An action from a meeting's minutes: what, whose, by when, and whether it is done."""

    __tablename__ = "meeting_action"
    __table_args__ = (
        # The reminder sweep, across tenants: open actions (done_at NULL) by due date.
        Index("ix_meeting_action_done_due", "done_at", "due_on"),
        # `/slis actions`: a person's actions; the chair's view goes through the meeting.
        Index("ix_meeting_action_tenant_owner", "tenant_id", "owner_person_id", "done_at"),
        Index("ix_meeting_action_meeting", "meeting_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id")
    what: str = Field(sa_column=Column(Text, nullable=False))
    owner_person_id: int = Field(foreign_key="person.id")
    due_on: date
    done_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # When the owner was last reminded (NULL: not yet), so the sweep reminds once per due time.
    reminded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(sa_column=_ts())


class MeetingCounter(SQLModel, table=True):
    """The last meeting number given in a tenant's year: M-2027-0007 is number 7 of 2027.

    Taken with one upsert (INSERT … ON CONFLICT DO UPDATE SET last = last + 1 RETURNING), which
    locks the row until the meeting is committed, so two meetings never share a number.
    """

    __tablename__ = "meeting_counter"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    year: int = Field(primary_key=True)
    last: int = Field(default=0)
