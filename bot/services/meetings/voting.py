"""The availability poll once it is sent: votes through the poll card's buttons, the chair's
live tally, the one nudge to those who have not answered, and closing the poll.

Rules:
- Only invitees vote, while the meeting is polling, its poll is not closed and its deadline
  has not passed. A vote upserts the (slot, person) row; the same answer twice changes nothing.
- Votes of different people never conflict (different rows), but each vote locks the meeting
  row (FOR UPDATE on PostgreSQL; SQLite's write lock does the same), so every tally edit is
  computed after the votes before it and shows the latest counts.
- The nudge: one, to each invitee with a chat account who has not answered every time, from
  the opening of the last school day before the deadline's local date (a Monday-noon deadline:
  from the Friday before), and only for polls sent before that moment (a poll sent the day
  before its deadline is its own reminder). `nudged_at` marks it; never twice.
- Closing (deadline passed, or the chair's button): `poll_closed_at` is set with a guarded
  update; every poll card is edited to say voting has closed, and the tally card shows the
  final counts with a Book button per time. The sweep also sends the chair a "pick" message
  (key `meeting:<id>:pick`), which notifies (an edit does not); the chair who pressed Close is
  answered with the same content instead.

Outbox keys: poll cards `meeting:<id>:poll:<person>` and the tally `meeting:<id>:tally`
(common); edits `…:poll:<person>:closed`, `…:tally:v<hex>` (one per vote that changed
something), `…:tally:closed`; the nudge `meeting:<id>:nudge:<person>` (in the poll card's
thread); the pick `meeting:<id>:pick`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import exists
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select, update

from bot import authorisation
from bot.errors import UserError
from bot.form_flow import ShowPage
from bot.ids import parse_id
from bot.ports import Clock
from bot.replies import meetings_poll as present
from bot.services import audit
from bot.services.calendar import TenantCalendar
from bot.services.meetings.common import (
    Mode,
    State,
    day_text,
    entry,
    find_meeting,
    guarded_update,
    is_invitee,
    parse_value,
    poll_key,
    require_manager,
    tally_key,
    tenant_of,
    time_text,
    when_text,
)
from bot.services.meetings.poll import Answer, best_slot, tally
from bot.services.outbox import Message, Recipient, enqueue, enqueue_many
from bot.types import Actor, Reply
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee, MeetingSlot, MeetingVote
from storage.models import ChatIdentity, Person, Quadrant, aware, maybe_aware
from storage.outbox_tables import OutboxMessage

__all__ = ["NUDGE_HORIZON", "Voting", "announce_poll", "nudge_from", "pick_key"]

_VOTE = MeetingVote.__table__  # type: ignore[attr-defined]
# How far ahead of its deadline a poll can be due a nudge: the last school day before a deadline
# is at most a holiday away (Christmas is the longest), so this bounds the sweep's read.
NUDGE_HORIZON = timedelta(days=35)
_LOOK_BACK_DAYS = 60  # school days are searched no further back than this


def pick_key(meeting_id: int) -> str:
    """The chair's "pick a time" message when the poll closes."""
    return f"meeting:{meeting_id}:pick"


def nudge_key(meeting_id: int, person_id: int) -> str:
    return f"meeting:{meeting_id}:nudge:{person_id}"


def nudge_from(calendar: TenantCalendar, deadline: datetime) -> datetime:
    """When the nudge may go: the opening of the last school day before the deadline's local
    date (24 hours before the deadline if there is none in reach)."""
    day = calendar.local(deadline).date()
    for _ in range(_LOOK_BACK_DAYS):
        day -= timedelta(days=1)
        if calendar.is_school_day(day):
            return calendar.next_slot(calendar.at(day, time(0, 0)))
    return deadline - timedelta(days=1)


def deadline_text(calendar: TenantCalendar, t: datetime) -> str:
    """E.g. "Mon 8 Mar 2027 at 12:00" (local time)."""
    return f"{day_text(calendar, t)} at {time_text(calendar, t)}"


# --- reading a poll ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PollInvitee:
    person_id: int
    name: str
    has_chat: bool


@dataclass(frozen=True)
class PollSlot:
    """A candidate time, its instants aware (SQLite hands back naive ones)."""

    id: int
    position: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Poll:
    """A meeting's poll as stored: its slots, invitees and votes; times aware."""

    meeting: Meeting
    deadline: datetime
    closed_at: datetime | None
    quadrant: str
    slots: tuple[PollSlot, ...]  # by position
    invitees: tuple[PollInvitee, ...]  # by name
    votes: Mapping[tuple[int, int], Answer]  # (slot id, person id) -> answer

    @property
    def meeting_id(self) -> int:
        assert self.meeting.id is not None
        return self.meeting.id

    def answers_of(self, person_id: int) -> dict[int, Answer]:
        return {slot: a for (slot, person), a in self.votes.items() if person == person_id}

    def is_open(self, now: datetime) -> bool:
        polling = self.meeting.state == State.POLLING
        return polling and self.closed_at is None and now < self.deadline


def read_poll(session: Session, meeting: Meeting) -> Poll:
    """The meeting's poll, in four indexed reads."""
    assert meeting.id is not None
    quadrant = session.get(Quadrant, meeting.quadrant_id)
    slots = session.exec(
        select(MeetingSlot)
        .where(MeetingSlot.meeting_id == meeting.id)
        .order_by(col(MeetingSlot.position))
    ).all()
    people = session.exec(
        select(
            MeetingInvitee.person_id,
            Person.name,
            exists().where(
                col(ChatIdentity.tenant_id) == meeting.tenant_id,
                col(ChatIdentity.person_id) == col(MeetingInvitee.person_id),
            ),
        )
        .join(Person, col(Person.id) == col(MeetingInvitee.person_id))
        .where(MeetingInvitee.meeting_id == meeting.id)
    ).all()
    invitees = sorted(
        (PollInvitee(pid, name, bool(chat)) for pid, name, chat in people),
        key=lambda i: (i.name.casefold(), i.person_id),
    )
    votes = session.exec(
        select(MeetingVote.slot_id, MeetingVote.person_id, MeetingVote.answer).where(
            MeetingVote.meeting_id == meeting.id
        )
    ).all()
    return Poll(
        meeting,
        aware(meeting.vote_deadline),
        maybe_aware(meeting.poll_closed_at),
        quadrant.name if quadrant is not None else "",
        tuple(
            PollSlot(s.id, s.position, aware(s.starts_at), aware(s.ends_at))
            for s in slots
            if s.id is not None
        ),
        tuple(invitees),
        {(slot, person): Answer(answer) for slot, person, answer in votes},
    )


# --- views -------------------------------------------------------------------------------------


def header(poll: Poll, calendar: TenantCalendar) -> present.MeetingHeader:
    m = poll.meeting
    if m.mode == Mode.ONLINE:
        place = (
            f"Online: {m.online_url}"
            if m.online_url
            else "Online (the link comes with the invitation)"
        )
    else:
        place = f"In person: {m.venue}" if m.venue else "In person"
    return present.MeetingHeader(
        poll.meeting_id,
        m.reference,
        m.title,
        m.purpose,
        place,
        poll.quadrant,
        deadline_text(calendar, poll.deadline),
    )


def slot_lines(poll: Poll, calendar: TenantCalendar) -> tuple[present.SlotLine, ...]:
    lines: list[present.SlotLine] = []
    for s in poll.slots:
        start = f"{day_text(calendar, s.starts_at)}, {time_text(calendar, s.starts_at)}"
        lines.append(
            present.SlotLine(s.position, s.id, when_text(calendar, s.starts_at, s.ends_at), start)
        )
    return tuple(lines)


def closed_note(poll: Poll, calendar: TenantCalendar) -> str:
    m = poll.meeting
    if m.state == State.CANCELLED:
        return "The meeting was cancelled."
    closed_at = poll.closed_at or poll.deadline
    after = (
        "The chair will send the invitation once a time is booked."
        if m.state == State.POLLING
        else ""
    )
    return f"Voting closed on {deadline_text(calendar, closed_at)}. {after}".strip()


def poll_view(
    poll: Poll, calendar: TenantCalendar, person_id: int, now: datetime
) -> present.PollView:
    is_open = poll.is_open(now)
    return present.PollView(
        header(poll, calendar),
        slot_lines(poll, calendar),
        poll.answers_of(person_id),
        is_open,
        "" if is_open else closed_note(poll, calendar),
    )


def tally_view(poll: Poll, calendar: TenantCalendar, now: datetime) -> present.TallyView:
    lines = {line.slot_id: line for line in slot_lines(poll, calendar)}
    counts = tally(
        [(s.id, s.starts_at) for s in poll.slots],
        ((slot, person, a) for (slot, person), a in poll.votes.items()),
        len(poll.invitees),
    )
    rows = {
        c.slot_id: present.TallyRow(lines[c.slot_id], c.yes, c.if_need_be, c.no, c.not_voted)
        for c in counts
    }
    best = best_slot(counts)
    answered: dict[int, int] = {}
    for _, person in poll.votes:
        answered[person] = answered.get(person, 0) + 1
    not_voted = tuple(i.name for i in poll.invitees if i.has_chat and i.person_id not in answered)
    part_voted = tuple(
        i.name for i in poll.invitees if 0 < answered.get(i.person_id, 0) < len(poll.slots)
    )
    is_open = poll.is_open(now)
    m = poll.meeting
    state_note = {
        State.BOOKED: "A time has been booked: the invitation has gone to everyone.",
        State.CANCELLED: "The meeting was cancelled.",
        State.HELD: "The meeting has been held.",
    }.get(State(m.state), "")
    return present.TallyView(
        header(poll, calendar),
        tuple(rows[c.slot_id] for c in counts),
        best.slot_id if best is not None else None,
        not_voted,
        part_voted,
        tuple(i.name for i in poll.invitees if not i.has_chat),
        open=is_open,
        closed_note="" if is_open else closed_note(poll, calendar),
        bookable=not is_open and m.state == State.POLLING,
        state_note=state_note,
        rows_best_first=tuple(rows[c.slot_id] for c in sorted(counts, key=lambda c: c.rank_key)),
    )


# --- sending ------------------------------------------------------------------------------------


def announce_poll(
    session: Session, meeting: Meeting, calendar: TenantCalendar, now: datetime
) -> tuple[int, tuple[str, ...]]:
    """Queue the poll card of every invitee with a chat account and the chair's tally card,
    due when the bot may next speak, in the caller's transaction; (cards queued, names of the
    invitees without a chat account)."""
    poll = read_poll(session, meeting)
    messages: list[Message] = []
    for invitee in poll.invitees:
        if not invitee.has_chat:
            continue
        card = present.poll_card(poll_view(poll, calendar, invitee.person_id, now))
        messages.append(
            Message(
                poll_key(poll.meeting_id, invitee.person_id),
                Recipient(person_id=invitee.person_id),
                card,
            )
        )
    messages.append(
        Message(
            tally_key(poll.meeting_id),
            Recipient(person_id=meeting.chair_person_id),
            present.tally_card(tally_view(poll, calendar, now)),
        )
    )
    enqueue_many(
        session,
        tenant_id=meeting.tenant_id,
        messages=messages,
        not_before=calendar.next_slot(now),
        now=now,
    )
    no_chat = tuple(i.name for i in poll.invitees if not i.has_chat)
    return len(messages) - 1, no_chat


def _edit_tally(
    session: Session, poll: Poll, calendar: TenantCalendar, now: datetime, suffix: str
) -> None:
    enqueue(
        session,
        tenant_id=poll.meeting.tenant_id,
        key=f"{tally_key(poll.meeting_id)}:{suffix}",
        to=Recipient(person_id=poll.meeting.chair_person_id),
        reply=present.tally_card(tally_view(poll, calendar, now)),
        not_before=now,
        now=now,
        edits=tally_key(poll.meeting_id),
    )


def _carded(session: Session, meeting: Meeting) -> set[int]:
    """The people who hold a poll card of the meeting."""
    assert meeting.id is not None
    prefix = f"meeting:{meeting.id}:poll:"
    keys = session.exec(
        select(OutboxMessage.key).where(
            OutboxMessage.tenant_id == meeting.tenant_id,
            col(OutboxMessage.key).startswith(prefix),
            col(OutboxMessage.edits_key).is_(None),
        )
    ).all()
    return {int(k[len(prefix) :]) for k in keys if k[len(prefix) :].isdigit()}


# --- the slice ----------------------------------------------------------------------------------


class Voting:
    """Votes, the tally, the nudge and the close of a meeting's availability poll."""

    ACTIONS: tuple[str, ...] = ("vote", "close")
    IN_PLACE: tuple[str, ...] = ("vote",)

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    # --- buttons ------------------------------------------------------------------------------

    def press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """A poll button: a vote (the poll card redrawn) or the chair's Close (the pick)."""
        name = action.partition(".")[0]
        if name == "vote":
            return self.vote(actor, value)
        if name == "close":
            return self.close(actor, value)
        raise UserError(f"I don't know the meeting action {action!r}.")

    def vote(self, actor: Actor, value: str) -> Reply:
        """Record the actor's answer for one time (`<meeting>:<slot>:<answer>`); their poll
        card as it now stands."""
        tenant_id = tenant_of(actor)
        meeting_part, slot_part, answer_part = parse_value(value, 3)
        meeting_id, slot_id = parse_id(meeting_part), parse_id(slot_part)
        if meeting_id is None or slot_id is None or answer_part not in set(Answer):
            raise UserError(
                "That button is out of date: run `/slis meeting list` to find the meeting."
            )
        answer = Answer(answer_part)
        person_id = actor.person_id
        assert person_id is not None
        with self.db.session() as s:
            meeting = find_meeting(s, actor, meeting_id)
            assert meeting.id is not None
            meeting_id = meeting.id
            if not is_invitee(s, meeting_id, person_id):
                raise authorisation.refusal(
                    entry("vote"),
                    meeting.reference,
                    hint="Ask its chair to add you if you should be there.",
                )
            slot = s.get(MeetingSlot, slot_id)
            if slot is None or slot.meeting_id != meeting_id:
                raise UserError(
                    "That button is out of date: run `/slis meeting list` to find the meeting."
                )
        calendar = self.calendars(tenant_id)
        now = self.clock.now()
        with self.db.session() as s:
            # The write first: on SQLite it takes the write lock before anything is read.
            changed = self._upsert(s, tenant_id, meeting_id, slot_id, person_id, answer, now)
            # Then the meeting row, locked: votes of one meeting queue here, so each sees the
            # ones before it, and a close in flight is seen before the vote counts. NO KEY
            # UPDATE: the vote's foreign key already holds KEY SHARE on the row, which a plain
            # FOR UPDATE would wait on (two votes at once: a deadlock).
            lock = select(Meeting).where(Meeting.id == meeting_id).with_for_update(key_share=True)
            locked = s.exec(lock).one()
            s.refresh(locked)
            poll = read_poll(s, locked)
            if not poll.is_open(now):
                raise UserError(f"{locked.reference}: {closed_note(poll, calendar)}")
            if changed:
                _edit_tally(s, poll, calendar, now, f"v{secrets.token_hex(8)}")
            return present.poll_card(poll_view(poll, calendar, person_id, now))

    @staticmethod
    def _upsert(
        s: Session,
        tenant_id: int,
        meeting_id: int,
        slot_id: int,
        person_id: int,
        answer: Answer,
        now: datetime,
    ) -> bool:
        """Insert or change the vote; False when it already said `answer`."""
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = insert(_VOTE).values(
            tenant_id=tenant_id,
            meeting_id=meeting_id,
            slot_id=slot_id,
            person_id=person_id,
            answer=answer.value,
            updated_at=now,
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["slot_id", "person_id"],
            set_={"answer": stmt.excluded.answer, "updated_at": stmt.excluded.updated_at},
            where=_VOTE.c.answer != stmt.excluded.answer,
        )
        return s.exec(upsert.returning(_VOTE.c.id)).first() is not None

    def close(self, actor: Actor, value: str) -> Reply:
        """The chair's Close button: close the poll now; the pick, to book a time."""
        meeting_id = parse_id(value)
        if meeting_id is None:
            raise UserError(
                "That button is out of date: run `/slis meeting list` to find the meeting."
            )
        tenant_id = tenant_of(actor)
        with self.db.session() as s:
            meeting = find_meeting(s, actor, meeting_id)
            require_manager(actor, meeting, entry("close"))
            if meeting.state != State.POLLING:
                raise UserError(
                    f"{meeting.reference} is {meeting.state}: its poll is over.",
                    hint="`/slis meeting list` shows where your meetings stand.",
                )
        calendar = self.calendars(tenant_id)
        self._close(meeting_id, calendar, self.clock.now(), notify=False, actor=actor)
        with self.db.session() as s:
            fresh = s.get(Meeting, meeting_id)
            assert fresh is not None
            view = tally_view(read_poll(s, fresh), calendar, self.clock.now())
        reply = present.pick_message(view)
        return Reply(reply.text, reply.blocks, private=True)

    def tally(self, actor: Actor, meeting_ref: str) -> Reply:
        """The tally card of a meeting the actor manages (e.g. for `/slis meeting show`)."""
        tenant_id = tenant_of(actor)
        with self.db.session() as s:
            meeting = find_meeting(s, actor, meeting_ref)
            require_manager(actor, meeting, authorisation.command("meeting tally"))
            view = tally_view(read_poll(s, meeting), self.calendars(tenant_id), self.clock.now())
        reply = present.tally_card(view)
        return Reply(reply.text, reply.blocks, private=True)

    # --- timed work ---------------------------------------------------------------------------

    def sweep(self, now: datetime) -> dict[str, int]:
        """Close the polls whose deadline has passed, and nudge non-voters of those closing
        within a school day; counts by what was done. Idempotent."""
        closed = 0
        for meeting_id, tenant_id in self._due_to_close(now):
            if self._close(meeting_id, self.calendars(tenant_id), now, notify=True):
                closed += 1
        nudged = 0
        for meeting in self._closing_soon(now):
            nudged += self._nudge(meeting, self.calendars(meeting.tenant_id), now)
        return {"polls_closed": closed, "nudges": nudged}

    def _due_to_close(self, now: datetime) -> list[tuple[int, int]]:
        with self.db.session() as s:
            rows = s.exec(
                select(Meeting.id, Meeting.tenant_id)
                .where(
                    Meeting.state == State.POLLING.value,
                    col(Meeting.vote_deadline) <= now,
                    col(Meeting.poll_closed_at).is_(None),
                )
                .order_by(col(Meeting.vote_deadline))
            ).all()
        return [(mid, tid) for mid, tid in rows if mid is not None]

    def _close(
        self,
        meeting_id: int,
        calendar: TenantCalendar,
        now: datetime,
        *,
        notify: bool,
        actor: Actor | None = None,
    ) -> bool:
        """Close the poll (if still open): poll cards and tally edited, the pick sent to the
        chair when `notify`. False if it was already closed. `actor`: who pressed Close (None:
        the deadline passed)."""
        for _ in range(3):
            with self.db.session() as s:
                meeting = s.get(Meeting, meeting_id)
                if meeting is None or meeting.poll_closed_at is not None:
                    return False
                if meeting.state != State.POLLING:
                    return False
                version = meeting.version
            with self.db.session() as s:
                if not guarded_update(s, meeting_id, version, now, poll_closed_at=now):
                    continue
                fresh = s.exec(select(Meeting).where(Meeting.id == meeting_id)).one()
                s.refresh(fresh)
                poll = read_poll(s, fresh)
                audit.record(
                    s,
                    tenant_id=fresh.tenant_id,
                    at=now,
                    action="meeting.poll_close",
                    subject=fresh.reference,
                    actor=actor,
                    detail={"by": "chair" if actor is not None else "deadline"},
                )
                self._closed_cards(s, poll, calendar, now)
                _edit_tally(s, poll, calendar, now, "closed")
                if notify:
                    enqueue(
                        s,
                        tenant_id=fresh.tenant_id,
                        key=pick_key(meeting_id),
                        to=Recipient(person_id=fresh.chair_person_id),
                        reply=present.pick_message(tally_view(poll, calendar, now)),
                        not_before=calendar.next_slot(now),
                        now=now,
                    )
                return True
        raise UserError("Others are changing this meeting right now: please try again.")

    def _closed_cards(
        self, s: Session, poll: Poll, calendar: TenantCalendar, now: datetime
    ) -> None:
        messages = [
            Message(
                f"{poll_key(poll.meeting_id, person_id)}:closed",
                Recipient(person_id=person_id),
                present.poll_card(poll_view(poll, calendar, person_id, now)),
                edits=poll_key(poll.meeting_id, person_id),
            )
            for person_id in sorted(_carded(s, poll.meeting))
        ]
        enqueue_many(
            s, tenant_id=poll.meeting.tenant_id, messages=messages, not_before=now, now=now
        )

    def _closing_soon(self, now: datetime) -> list[Meeting]:
        with self.db.session() as s:
            return list(
                s.exec(
                    select(Meeting)
                    .where(
                        Meeting.state == State.POLLING.value,
                        col(Meeting.vote_deadline) > now,
                        col(Meeting.vote_deadline) <= now + NUDGE_HORIZON,
                        col(Meeting.poll_closed_at).is_(None),
                    )
                    .order_by(col(Meeting.vote_deadline))
                ).all()
            )

    def _nudge(self, meeting: Meeting, calendar: TenantCalendar, now: datetime) -> int:
        """Nudge this poll's non-voters if its nudge is due; how many were nudged."""
        assert meeting.id is not None
        deadline = aware(meeting.vote_deadline)
        starts = nudge_from(calendar, deadline)
        if now < starts or aware(meeting.created_at) >= starts:
            return 0
        due = calendar.next_slot(now)
        if due >= deadline:
            return 0
        with self.db.session() as s:
            poll = read_poll(s, meeting)
            waiting = self._unnudged(s, meeting.id)
        wanted = [
            i.person_id
            for i in poll.invitees
            if i.has_chat
            and i.person_id in waiting
            and len(poll.answers_of(i.person_id)) < len(poll.slots)
        ]
        if not wanted:
            return 0
        with self.db.session() as s:
            # The mark first (the write lock on SQLite); only those it marks are nudged.
            marked = [
                row[0]
                for row in s.exec(
                    update(MeetingInvitee)
                    .where(
                        col(MeetingInvitee.meeting_id) == meeting.id,
                        col(MeetingInvitee.person_id).in_(wanted),
                        col(MeetingInvitee.nudged_at).is_(None),
                    )
                    .values(nudged_at=now)
                    .returning(col(MeetingInvitee.person_id))
                ).all()
            ]
            lines = {line.slot_id: line for line in slot_lines(poll, calendar)}
            head = header(poll, calendar)
            messages = []
            for person_id in sorted(marked):
                answered = poll.answers_of(person_id)
                missing = [line for sid, line in lines.items() if sid not in answered]
                messages.append(
                    Message(
                        nudge_key(meeting.id, person_id),
                        Recipient(person_id=person_id),
                        present.nudge(head, missing),
                        thread_of=poll_key(meeting.id, person_id),
                    )
                )
            enqueue_many(s, tenant_id=meeting.tenant_id, messages=messages, not_before=due, now=now)
        return len(marked)

    @staticmethod
    def _unnudged(s: Session, meeting_id: int) -> set[int]:
        return set(
            s.exec(
                select(MeetingInvitee.person_id).where(
                    MeetingInvitee.meeting_id == meeting_id,
                    col(MeetingInvitee.nudged_at).is_(None),
                )
            ).all()
        )
