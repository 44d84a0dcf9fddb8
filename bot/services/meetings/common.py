"""What every part of quadrant meetings shares: the vocabularies, who may organise a meeting of
which quadrant, finding a meeting the actor may see, the numbering, the guarded update, the
outbox keys, and how a meeting's time is written.

Who may do what:
- a quadrant chair organises meetings of the quadrant(s) they chair; an LA officer those of the
  quadrant they serve, or of any quadrant when they serve the whole local authority;
- the meeting's own chair (`chair_person_id`) may always manage it;
- invitees see the meetings they are invited to; Project Board members and administrators see
  every meeting of their local authority, but organise none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select, update

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.ids import parse_id
from bot.services.calendar import TenantCalendar
from bot.services.calendar_file import fmt
from bot.types import Actor, Role, ScopeKind
from storage.meeting_tables import Meeting, MeetingCounter, MeetingInvitee
from storage.models import Person

ACTION_PREFIX = "slis.meeting."  # every meeting button's action_id starts with it
SEE_ALL_ROLES = frozenset({Role.BOARD_MEMBER, Role.ADMINISTRATOR})
REFERENCE = re.compile(r"^M-(\d{4})-(\d{1,6})$", re.IGNORECASE)
_COUNTER = MeetingCounter.__table__  # type: ignore[attr-defined]


class State(StrEnum):
    """Where a meeting is: see storage.meeting_tables.Meeting."""

    DRAFT = "draft"
    POLLING = "polling"
    BOOKED = "booked"
    CANCELLED = "cancelled"
    HELD = "held"


class Mode(StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"


class Rsvp(StrEnum):
    GOING = "going"
    NOT_GOING = "not_going"


# A form page's heading is shown as a Slack header block (150 characters at most).
FORM_HEADING_LIMIT = 150


def form_heading(meeting: Meeting) -> str:
    """The heading of a form about one meeting: its reference and title."""
    return f"{meeting.reference} · {meeting.title}"[:FORM_HEADING_LIMIT]


def tenant_of(actor: Actor) -> int:
    """The actor's local authority; UserError if they are not in the directory."""
    if actor.tenant_id is None or actor.person_id is None:
        raise UserError("You need to be in your local authority's directory to do that.")
    return actor.tenant_id


def organiser_quadrants(actor: Actor) -> frozenset[int] | None:
    """The quadrants whose meetings the actor may organise; None: every quadrant (an LA officer
    for the whole local authority)."""
    found: set[int] = set()
    for g in actor.grants:
        if g.role is Role.LA_OFFICER and g.scope is ScopeKind.COUNTY:
            return None
        quadrant_role = g.role in (Role.QUADRANT_CHAIR, Role.LA_OFFICER)
        if quadrant_role and g.scope is ScopeKind.QUADRANT and g.scope_id is not None:
            found.add(g.scope_id)
    return frozenset(found)


def may_organise(actor: Actor, quadrant_id: int) -> bool:
    """Whether the actor may propose and manage meetings of the quadrant."""
    quadrants = organiser_quadrants(actor)
    return quadrants is None or quadrant_id in quadrants


def may_manage(actor: Actor, meeting: Meeting) -> bool:
    """Whether the actor may run this meeting: its chair, or an organiser of its quadrant."""
    return meeting.chair_person_id == actor.person_id or may_organise(actor, meeting.quadrant_id)


def entry(action: str) -> authorisation.Entry:
    """The table entry of a meeting button (`book`, `agenda_order`...)."""
    found = authorisation.button(ACTION_PREFIX + action)
    assert found is not None, action
    return found


def require_manager(actor: Actor, meeting: Meeting, action: authorisation.Entry) -> None:
    """Forbidden, saying who may (the table's `action` entry), unless the actor may manage
    the meeting."""
    if not may_manage(actor, meeting):
        raise authorisation.refusal(
            action,
            meeting.reference,
            hint=f"Ask the chair of {meeting.reference} if something needs changing.",
        )


def is_invitee(session: Session, meeting_id: int, person_id: int | None) -> bool:
    if person_id is None:
        return False
    return (
        session.exec(
            select(MeetingInvitee.id).where(
                MeetingInvitee.meeting_id == meeting_id, MeetingInvitee.person_id == person_id
            )
        ).first()
        is not None
    )


def may_see(session: Session, actor: Actor, meeting: Meeting) -> bool:
    """Invitees, those who may manage it, the Board and administrators see a meeting."""
    assert meeting.id is not None
    return (
        may_manage(actor, meeting)
        or actor.has_any(SEE_ALL_ROLES)
        or meeting.created_by == actor.person_id
        or is_invitee(session, meeting.id, actor.person_id)
    )


def find_meeting(session: Session, actor: Actor, ref: str | int) -> Meeting:
    """The meeting named by its reference ("M-2027-0007") or id, in the actor's local
    authority and visible to them; NotFound (the same answer whether it exists or not)."""
    tenant_id = tenant_of(actor)
    query = select(Meeting).where(Meeting.tenant_id == tenant_id)
    if isinstance(ref, int) or str(ref).strip().isdigit():
        # An id no row can have (too large, not ASCII) finds nothing.
        query = query.where(Meeting.id == (parse_id(ref) or 0))
    else:
        text = str(ref).strip().upper()
        if not REFERENCE.match(text):
            raise NotFound(
                f"{str(ref).strip()!r} is not a meeting reference.",
                hint="References look like M-2027-0007; `/slis meeting list` shows yours.",
            )
        query = query.where(Meeting.reference == text)
    meeting = session.exec(query).first()
    if meeting is None or not may_see(session, actor, meeting):
        raise NotFound(
            f"I can't find meeting {ref} among the meetings you can see.",
            hint=f"Only {authorisation.who_may(authorisation.command('meeting show'))} may see"
            " a meeting; `/slis meeting list` shows the ones you can see.",
        )
    return meeting


def next_reference(session: Session, tenant_id: int, year: int) -> str:
    """The next meeting reference of the tenant's year, from one upsert on `meeting_counter`
    (the row stays locked until the caller commits, so two meetings never share a number)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(_COUNTER)
        .values(tenant_id=tenant_id, year=year, last=1)
        .on_conflict_do_update(
            index_elements=["tenant_id", "year"], set_={"last": _COUNTER.c.last + 1}
        )
        .returning(_COUNTER.c.last)
    )
    number = int(session.exec(stmt).one()[0])
    return f"M-{year}-{number:04d}"


def guarded_update(
    session: Session, meeting_id: int, read_version: int, now: datetime, **values: Any
) -> bool:
    """Apply `values` to the meeting if nobody changed it since `read_version` was read,
    bumping the version; False (nothing written) if somebody did. Make it the first statement
    of its transaction: on SQLite that takes the write lock before anything is read."""
    result = session.exec(
        update(Meeting)
        .where(col(Meeting.id) == meeting_id, col(Meeting.version) == read_version)
        .values(version=read_version + 1, updated_at=now, **values)
    )
    return bool(result.rowcount)


def invitee_ids(session: Session, meeting_id: int) -> list[int]:
    """The meeting's invitees' person ids, in a stable order."""
    return list(
        session.exec(
            select(MeetingInvitee.person_id)
            .where(MeetingInvitee.meeting_id == meeting_id)
            .order_by(col(MeetingInvitee.person_id))
        ).all()
    )


def parse_value(value: str, parts: int) -> tuple[str, ...]:
    """A button's value split on ":" into exactly `parts` pieces; UserError if it is not one
    (an old or altered button)."""
    pieces = tuple(value.split(":"))
    if len(pieces) != parts or not all(pieces):
        raise UserError("That button is out of date: run `/slis meeting list` to find the meeting.")
    return pieces


def meeting_id_of(value: str) -> int:
    """The meeting id at the start of a button's value."""
    meeting_id = parse_id(value.partition(":")[0])
    if meeting_id is None:
        raise UserError("That button is out of date: run `/slis meeting list` to find the meeting.")
    return meeting_id


# --- how a meeting's time is written ---------------------------------------------------------


def day_text(calendar: TenantCalendar, t: datetime) -> str:
    """E.g. "Tue 2 Mar 2027" in the tenant's local time."""
    return fmt(calendar.local(t).date())


def time_text(calendar: TenantCalendar, t: datetime) -> str:
    """E.g. "16:00" in the tenant's local time."""
    return f"{calendar.local(t):%H:%M}"


def at_text(calendar: TenantCalendar, t: datetime) -> str:
    """E.g. "Tue 2 Mar 2027 at 16:00" (local time)."""
    return f"{day_text(calendar, t)} at {time_text(calendar, t)}"


def when_text(calendar: TenantCalendar, starts: datetime, ends: datetime) -> str:
    """E.g. "Tue 2 Mar 2027, 16:00–17:30" (local time)."""
    start, end = time_text(calendar, starts), time_text(calendar, ends)
    return f"{day_text(calendar, starts)}, {start}–{end}"


# --- outbox keys: one per message, so a repeated step sends nothing twice ------------------


def poll_key(meeting_id: int, person_id: int) -> str:
    """An invitee's poll card (edited in place as they vote)."""
    return f"meeting:{meeting_id}:poll:{person_id}"


def tally_key(meeting_id: int) -> str:
    """The chair's live tally card (edited in place as votes come in)."""
    return f"meeting:{meeting_id}:tally"


def invite_key(meeting_id: int, sequence: int, person_id: int) -> str:
    """The invitation (time, place, RSVP buttons) of one `ics_sequence` to one person."""
    return f"meeting:{meeting_id}:invite:{sequence}:{person_id}"


def ics_key(meeting_id: int, sequence: int, person_id: int) -> str:
    """The .ics file that follows an invitation or a cancellation."""
    return f"meeting:{meeting_id}:ics:{sequence}:{person_id}"


def names_of(session: Session, person_ids: Sequence[int]) -> Mapping[int, str]:
    """People's names by id (for lists and tallies)."""
    if not person_ids:
        return {}
    rows = session.exec(
        select(Person.id, Person.name).where(col(Person.id).in_(list(person_ids)))
    ).all()
    return {pid: name for pid, name in rows if pid is not None}
