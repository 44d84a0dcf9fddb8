"""The one map of where a person appears in the database, and what erasure does there.

Every column that refers to a person (a foreign key to `person.id`) is listed in
`PERSON_COLUMNS` with the export section it fills and what erasure does to its rows; the chat
ids that name a person without a foreign key are in `CHAT_ID_COLUMNS`. `uncovered()` compares
the map with the tables themselves (SQLModel.metadata), so a new table that refers to a person
and is not mapped here stops erasure and fails a test until someone decides what to do with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import JSON, Column, MetaData, String, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on the metadata)


class OnErase(StrEnum):
    """What erasing the person does to rows that refer to them."""

    # Kept: the row is another person's record, or an aggregate counts it; it points at the
    # anonymised person row, and its free text is scrubbed of the person's name and ids.
    KEEP = "keep"
    DELETE = "delete"  # theirs alone and of no use to anyone else
    CANCEL = "cancel"  # reminders to them: cancelled, never sent again
    UNSEND = "unsend"  # messages to them: unsent ones deleted, sent ones blanked


@dataclass(frozen=True)
class PersonColumn:
    """A column holding a person id, the export section its rows go in, and what erasure does."""

    table: str
    column: str
    section: str
    title: str  # the section's heading, in words, addressed to the person
    on_erase: OnErase


PERSON_COLUMNS: tuple[PersonColumn, ...] = (
    PersonColumn("role_assignment", "person_id", "roles", "Your roles", OnErase.DELETE),
    PersonColumn(
        "chat_identity", "person_id", "chat_identities", "Your chat accounts", OnErase.DELETE
    ),
    PersonColumn(
        "survey_invitation",
        "person_id",
        "survey_invitations",
        "Healthcheck rounds you were invited to answer",
        OnErase.KEEP,
    ),
    PersonColumn(
        "survey_response",
        "respondent_person_id",
        "survey_responses",
        "Your named healthcheck responses",
        OnErase.KEEP,
    ),
    PersonColumn(
        "survey_round", "launched_by", "survey_rounds_launched", "Rounds you launched", OnErase.KEEP
    ),
    PersonColumn(
        "support_request",
        "requested_by",
        "support_requests_made",
        "Support requests you made",
        OnErase.KEEP,
    ),
    PersonColumn(
        "support_request",
        "claimed_by_person_id",
        "support_requests_claimed",
        "Support requests you claimed for an alliance",
        OnErase.KEEP,
    ),
    PersonColumn(
        "support_event",
        "actor_person_id",
        "support_actions",
        "What you did on support requests",
        OnErase.KEEP,
    ),
    PersonColumn(
        "meeting", "created_by", "meetings_proposed", "Meetings you proposed", OnErase.KEEP
    ),
    PersonColumn(
        "meeting", "chair_person_id", "meetings_chaired", "Meetings you chaired", OnErase.KEEP
    ),
    PersonColumn(
        "meeting",
        "note_taker_person_id",
        "meetings_noted",
        "Meetings you took notes for",
        OnErase.KEEP,
    ),
    PersonColumn(
        "meeting_invitee",
        "person_id",
        "meeting_invitations",
        "Meetings you were invited to, and your replies",
        OnErase.KEEP,
    ),
    PersonColumn(
        "meeting_vote", "person_id", "meeting_votes", "Your votes on meeting times", OnErase.KEEP
    ),
    PersonColumn(
        "meeting_agenda_item",
        "added_by",
        "agenda_items",
        "Agenda items you put forward",
        OnErase.KEEP,
    ),
    PersonColumn(
        "meeting_action", "owner_person_id", "meeting_actions", "Actions given to you", OnErase.KEEP
    ),
    # Reminders a person set for others keep going to them ("Set by Former staff member"):
    # the others still rely on them. Their own, and anyone's to them, are cancelled.
    PersonColumn("reminder", "created_by", "reminders_set", "Reminders you set", OnErase.KEEP),
    PersonColumn(
        "reminder", "target_person_id", "reminders_for_you", "Reminders to you", OnErase.CANCEL
    ),
    PersonColumn(
        "outbox_message", "person_id", "messages", "Messages the bot sent you", OnErase.UNSEND
    ),
    PersonColumn(
        "audit_entry", "actor_person_id", "audit_by_you", "Audit log: what you did", OnErase.KEEP
    ),
    PersonColumn(
        "audit_entry",
        "about_person_id",
        "audit_about_you",
        "Audit log: actions about you",
        OnErase.KEEP,
    ),
)

# Columns holding a chat platform's id for a person, with no foreign key: their personal
# conversations with the bot (deleted on erasure with their chat identities).
CHAT_ID_COLUMNS: tuple[tuple[str, str], ...] = (
    ("chat_identity", "user_id"),
    ("chat_conversation", "user_id"),
    ("chat_conversation", "member_id"),
)


def tables() -> dict[str, Table]:
    """Every table, by name."""
    return dict(SQLModel.metadata.tables)


def person_foreign_keys(metadata: MetaData | None = None) -> set[tuple[str, str]]:
    """(table, column) of every column with a foreign key to `person.id`."""
    return {
        (table.name, column.name)
        for table in (metadata or SQLModel.metadata).sorted_tables
        for column in table.columns
        for fk in column.foreign_keys
        if fk.column.table.name == "person"
    }


def uncovered(metadata: MetaData | None = None) -> set[tuple[str, str]]:
    """Columns that refer to a person but are not in `PERSON_COLUMNS`: should be empty."""
    return person_foreign_keys(metadata) - {(c.table, c.column) for c in PERSON_COLUMNS}


def is_text(column: Column[object]) -> bool:
    """Whether a column holds text or JSON (where a name, e-mail or chat id could be)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, String | JSON)


def text_columns(table: Table) -> list[Column[object]]:
    """A table's text and JSON columns, but not its primary key (keys hold ids and HMACs,
    never free text)."""
    return [c for c in table.columns if is_text(c) and not c.primary_key]
