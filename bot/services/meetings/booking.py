"""Booking a quadrant meeting, the invitees' answers, and changing or cancelling it.

The chair books one of the poll's slots (a "Book" button on the pick message); invitees answer
Going / Can't come on their invitation; the chair changes the time or place, or cancels, through
a form. Every change is a guarded update of the meeting (see common.guarded_update) that bumps
`ics_sequence`; nothing is sent here apart from a short "what changed" note: publication.py
sends the invitations, the .ics files and the announcement the new sequence needs.

A change of time keeps the answers already given (most people who could come still can); the
change note and the new invitation ask everyone to check and change their answer if not.
Cancelling a meeting still being voted on tells the invitees at once (no calendar file: nothing
was booked) and closes their poll cards; cancelling a booked meeting is published like a change,
with a METHOD:CANCEL file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot import authorisation
from bot.errors import UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import DateField, Form, FormValue, Option, Page, SelectField, TextField, TimeField
from bot.ids import parse_id
from bot.ports import Clock
from bot.replies import meetings_booking as present
from bot.services import audit
from bot.services.calendar import TenantCalendar
from bot.services.meetings.common import (
    ACTION_PREFIX,
    Mode,
    Rsvp,
    State,
    at_text,
    entry,
    find_meeting,
    guarded_update,
    invite_key,
    meeting_id_of,
    parse_value,
    poll_key,
    require_manager,
    tally_key,
    when_text,
)
from bot.services.meetings.publication import (
    cancel_key,
    meeting_view,
    moment_text,
    people_of,
)
from bot.services.meetings.slots import length_problem
from bot.services.outbox import Message, Recipient, enqueue_many
from bot.types import Actor, Reply
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee, MeetingSlot
from storage.models import aware
from storage.outbox_tables import OutboxMessage

CHANGE_CALLBACK = f"{ACTION_PREFIX}change"
CANCEL_CALLBACK = f"{ACTION_PREFIX}cancel"
REASON_LIMIT = 500
NOTE_LIMIT = 500
VENUE_LIMIT = 500
LINK_LIMIT = 2000
LENGTHS = (15, 30, 45, 60, 75, 90, 105, 120, 150, 180, 210, 240, 300, 360, 420, 480)
_RACES = 3
_STALE = "That button is out of date: run `/slis meeting list` to find the meeting."


class FormProblems(UserError):
    """Answers in a form that cannot be taken, by field id; the form shows them again."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class MeetingChange:
    """What the change form asks for: the new local date, start and length, and the place."""

    day: date
    start: time
    minutes: int
    venue: str | None
    link: str | None
    note: str | None


class Booking:
    """The booking buttons (book, RSVP, change, cancel) and what they do."""

    ACTIONS: tuple[str, ...] = ("book", "rsvp", "change", "cancel")
    IN_PLACE: tuple[str, ...] = ("rsvp",)

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    def press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """A button: `book[.n]` ("<meeting>:<slot>"), `rsvp.going` / `rsvp.not_going`,
        `change`, `cancel` (the meeting id)."""
        name, _, suffix = action.partition(".")
        if name == "book":
            meeting_text, slot_text = parse_value(value, 2)
            meeting, slot = parse_id(meeting_text), parse_id(slot_text)
            if meeting is None or slot is None:
                raise UserError(_STALE)
            return self.book(actor, meeting, slot)
        if name == "rsvp":
            try:
                answer = Rsvp(suffix)
            except ValueError:
                raise UserError(_STALE) from None
            return self.rsvp(actor, meeting_id_of(value), answer)
        if name == "change":
            return self.change_form(actor, meeting_id_of(value))
        if name == "cancel":
            return self.cancel_form(actor, meeting_id_of(value))
        raise UserError(f"I don't know the meeting action {action!r}.")

    # --- booking ---------------------------------------------------------------------------

    def book(self, actor: Actor, meeting_id: int, slot_id: int) -> Reply:
        """Book the slot: the meeting becomes booked at the slot's time (or, booked already at
        another time, moves to it). Booking the slot it is booked at changes nothing."""
        for _ in range(_RACES):
            now = self.clock.now()
            with self.db.session() as s:
                m = find_meeting(s, actor, meeting_id)
                assert m.id is not None
                require_manager(actor, m, entry("book"))
                slot = s.get(MeetingSlot, slot_id)
                if slot is None or slot.meeting_id != m.id:
                    raise UserError(_STALE)
                starts, ends = aware(slot.starts_at), aware(slot.ends_at)
                calendar = self.calendars(m.tenant_id)
                when = when_text(calendar, starts, ends)
                if m.state == State.BOOKED and _same_time(m, starts, ends):
                    return present.done(f"{m.reference} is already booked for {when}.")
                if m.state not in (State.POLLING, State.BOOKED):
                    raise UserError(f"{m.reference} is {m.state}: it can't be booked now.")
                if starts <= now:
                    raise UserError(
                        f"{when} has already passed: choose another time.",
                        hint=f"`/slis meeting change {m.reference}` sets any time you like."
                        if m.state == State.BOOKED
                        else None,
                    )
                moving = m.state == State.BOOKED
                old_when = _when_of(calendar, m)
                read_version, sent = m.version, m.sent_sequence
                values = {
                    "state": State.BOOKED.value,
                    "chosen_slot_id": slot.id,
                    "starts_at": starts,
                    "ends_at": ends,
                    "ics_sequence": m.ics_sequence + 1 if moving else 0,
                    "reminders_sent": 0,
                    "publish_attempts": 0,
                    "publish_after": None,
                    "poll_closed_at": m.poll_closed_at or now,
                }
            with self.db.session() as s:
                if not guarded_update(s, meeting_id, read_version, now, **values):
                    continue
                fresh = _fresh(s, meeting_id)
                audit.record(
                    s,
                    tenant_id=fresh.tenant_id,
                    at=now,
                    action="meeting.change" if moving else "meeting.book",
                    subject=fresh.reference,
                    actor=actor,
                    detail={"slot": slot_id},
                )
                if moving and sent >= 0:
                    self._tell_changed(
                        s, fresh, actor, [f"Time: {old_when} → {when}"], None, True, now, sent
                    )
                reached, missed = self._reach(s, fresh)
            at = moment_text(calendar, calendar.next_slot(now), now)
            done = f"Moved {fresh.reference} to" if moving else f"Booked {fresh.reference} for"
            message = (
                f"{done} {when}; invitations go out to {_people(reached)} {at}.{_missed(missed)}"
            )
            return present.done(message)
        raise UserError("Someone else is changing this meeting right now: please try again.")

    # --- answers ---------------------------------------------------------------------------

    def rsvp(self, actor: Actor, meeting_id: int, answer: Rsvp) -> Reply:
        """An invitee's answer; the invitation redrawn for them, showing it."""
        now = self.clock.now()
        with self.db.session() as s:
            m = find_meeting(s, actor, meeting_id)
            assert m.id is not None
            invitee = s.exec(
                select(MeetingInvitee).where(
                    MeetingInvitee.meeting_id == m.id, MeetingInvitee.person_id == actor.person_id
                )
            ).first()
            if invitee is None:
                raise authorisation.refusal(entry("rsvp"), m.reference)
            if m.state == State.CANCELLED:
                raise UserError(f"{m.reference} was cancelled: there is nothing to answer.")
            if m.state != State.BOOKED or m.ends_at is None:
                raise UserError(f"{m.reference} has no time booked yet.")
            if aware(m.ends_at) <= now:
                raise UserError(f"{m.reference} has already taken place.")
            if invitee.rsvp != answer.value:
                s.exec(
                    update(MeetingInvitee)
                    .where(col(MeetingInvitee.id) == invitee.id)
                    .values(rsvp=answer.value)
                )
            view = meeting_view(s, m, self.calendars(m.tenant_id), now)
        headline = (
            "Thanks: you're down as going."
            if answer is Rsvp.GOING
            else "Thanks: you're down as not able to come."
        )
        reply = present.invitation(
            view,
            answer=answer,
            invitee=True,
            manager=m.chair_person_id == actor.person_id,
            updated=False,
            headline=headline,
        )
        return reply

    # --- changing --------------------------------------------------------------------------

    def change_form(self, actor: Actor, ref: str | int) -> ShowPage:
        """The change form for `/slis meeting change <ref>` and the Change button."""
        return ShowPage(self.change_page(actor, str(ref)), 0)

    def change_page(self, actor: Actor, ref: str) -> Form:
        """The change form, filled with the meeting as it is."""
        now = self.clock.now()
        with self.db.session() as s:
            m = find_meeting(s, actor, ref)
            _changeable(actor, m, now)
            assert m.starts_at is not None and m.ends_at is not None
            calendar = self.calendars(m.tenant_id)
            starts = calendar.local(aware(m.starts_at))
            minutes = int((aware(m.ends_at) - aware(m.starts_at)).total_seconds() // 60)
        lengths = sorted({*LENGTHS, minutes})
        fields = (
            DateField("date", "Date", initial=starts.date()),
            TimeField("start", "Start time", initial=starts.time().replace(tzinfo=None)),
            SelectField(
                "length",
                "Length",
                options=tuple(Option(str(n), _minutes_text(n)) for n in lengths),
                initial=str(minutes),
            ),
            TextField(
                "venue",
                "Venue",
                max_length=VENUE_LIMIT,
                required=m.mode == Mode.IN_PERSON,
                initial=m.venue,
            ),
            TextField(
                "link",
                "Online link",
                max_length=LINK_LIMIT,
                required=False,
                initial=m.online_url,
                help="Leave it as it is for a Teams meeting made in the chair's calendar.",
            ),
            TextField(
                "note",
                "What changed, in a sentence (optional)",
                multiline=True,
                max_length=NOTE_LIMIT,
                required=False,
            ),
        )
        intro = (
            "Everyone invited gets the new details and an updated calendar file; a new time"
            " restarts the reminders."
        )
        return Form(
            callback_id=CHANGE_CALLBACK,
            title="Change the meeting",
            pages=(Page(f"{m.reference} · {m.title}", intro, fields),),
            submit_label="Send the change",
            private_metadata=str(m.id),
        )

    def change(self, actor: Actor, meeting_id: int, new: MeetingChange) -> str:
        """Change the time or place of a booked meeting; what the chair is told. FormProblems
        for answers that can't be taken."""
        venue = (new.venue or "").strip() or None
        link = (new.link or "").strip() or None
        note = (new.note or "").strip() or None
        for _ in range(_RACES):
            now = self.clock.now()
            with self.db.session() as s:
                m = find_meeting(s, actor, meeting_id)
                _changeable(actor, m, now)
                calendar = self.calendars(m.tenant_id)
                starts = calendar.at(new.day, new.start)
                ends = starts + timedelta(minutes=new.minutes)
                _check_change(m, calendar, now, starts, new.minutes, venue, link)
                changes: list[str] = []
                moved = not _same_time(m, starts, ends)
                if moved:
                    changes.append(
                        f"Time: {_when_of(calendar, m)} → {when_text(calendar, starts, ends)}"
                    )
                if venue != m.venue:
                    changes.append(f"Venue: {venue}" if venue else "Venue: none now")
                if link != m.online_url:
                    changes.append(f"Online link: {link}" if link else "Online link: none now")
                if not changes:
                    return f"Nothing changed: {m.reference} stays as it was."
                read_version, sent = m.version, m.sent_sequence
                values: dict[str, object] = {
                    "starts_at": starts,
                    "ends_at": ends,
                    "venue": venue,
                    "online_url": link,
                    "ics_sequence": m.ics_sequence + 1,
                    "publish_attempts": 0,
                    "publish_after": None,
                }
                if moved:
                    values["reminders_sent"] = 0
            with self.db.session() as s:
                if not guarded_update(s, meeting_id, read_version, now, **values):
                    continue
                fresh = _fresh(s, meeting_id)
                audit.record(
                    s,
                    tenant_id=fresh.tenant_id,
                    at=now,
                    action="meeting.change",
                    subject=fresh.reference,
                    actor=actor,
                    detail={"moved": moved, "place": venue != m.venue or link != m.online_url},
                )
                if sent >= 0:
                    self._tell_changed(s, fresh, actor, changes, note, moved, now, sent)
                reached, missed = self._reach(s, fresh)
            at = moment_text(calendar, calendar.next_slot(now), now)
            message = (
                f"Changed {fresh.reference}: {'; '.join(changes)}. The updated invitation goes"
                f" to {_people(reached)} {at}.{_missed(missed)}{_day_warning(calendar, starts)}"
            )
            return message
        raise UserError("Someone else is changing this meeting right now: please try again.")

    # --- cancelling ------------------------------------------------------------------------

    def cancel_form(self, actor: Actor, ref: str | int) -> ShowPage:
        """The cancel form for `/slis meeting cancel <ref>` and the Cancel button."""
        return ShowPage(self.cancel_page(actor, str(ref)), 0)

    def cancel_page(self, actor: Actor, ref: str) -> Form:
        """The cancel form: one question, why."""
        now = self.clock.now()
        with self.db.session() as s:
            m = find_meeting(s, actor, ref)
            _cancellable(actor, m, now)
        return Form(
            callback_id=CANCEL_CALLBACK,
            title="Cancel the meeting",
            pages=(
                Page(
                    f"{m.reference} · {m.title}",
                    "Everyone invited is told, with your reason.",
                    (
                        TextField(
                            "reason",
                            "Why is it cancelled?",
                            multiline=True,
                            max_length=REASON_LIMIT,
                        ),
                    ),
                ),
            ),
            submit_label="Cancel the meeting",
            close_label="Keep it",
            private_metadata=str(m.id),
        )

    def cancel(self, actor: Actor, meeting_id: int, reason: str) -> str:
        """Cancel a meeting (draft, polling or booked); what the chair is told."""
        reason = " ".join(reason.split())
        if not reason:
            raise FormProblems({"reason": "Say why, so those invited know."})
        if len(reason) > REASON_LIMIT:
            raise FormProblems({"reason": f"Please keep this to {REASON_LIMIT} characters."})
        for _ in range(_RACES):
            now = self.clock.now()
            with self.db.session() as s:
                m = find_meeting(s, actor, meeting_id)
                _cancellable(actor, m, now)
                was = State(m.state)
                read_version = m.version
                values: dict[str, object] = {
                    "state": State.CANCELLED.value,
                    "cancel_reason": reason,
                }
                if was == State.BOOKED:
                    values.update(
                        ics_sequence=m.ics_sequence + 1, publish_attempts=0, publish_after=None
                    )
                else:
                    # Nothing for publication to send: the poll's invitees are told here.
                    values["sent_sequence"] = m.ics_sequence
                calendar = self.calendars(m.tenant_id)
            with self.db.session() as s:
                if not guarded_update(s, meeting_id, read_version, now, **values):
                    continue
                fresh = _fresh(s, meeting_id)
                audit.record(
                    s,
                    tenant_id=fresh.tenant_id,
                    at=now,
                    action="meeting.cancel",
                    subject=fresh.reference,
                    actor=actor,
                    detail={"was": was.value},
                )
                reached, missed = self._reach(s, fresh)
                if was == State.POLLING:
                    self._poll_cancelled(s, fresh, reason, now)
            at = moment_text(calendar, calendar.next_slot(now), now)
            if was == State.BOOKED:
                return (
                    f"Cancelled {fresh.reference}. {_people(reached, capital=True)} get the"
                    f" cancellation, with a calendar file to take it out, {at}.{_missed(missed)}"
                )
            if was == State.POLLING:
                return (
                    f"Cancelled {fresh.reference}. {_people(reached, capital=True)} invited are"
                    f" told {at}, and their polls are closed.{_missed(missed)}"
                )
            return f"Cancelled {fresh.reference}; its poll had not been sent, so nobody was told."
        raise UserError("Someone else is changing this meeting right now: please try again.")

    # --- messages --------------------------------------------------------------------------

    def _reach(self, s: Session, m: Meeting) -> tuple[int, list[str]]:
        """How many invitees have a chat account, and the names of those who have none."""
        assert m.id is not None
        ids = list(
            s.exec(select(MeetingInvitee.person_id).where(MeetingInvitee.meeting_id == m.id)).all()
        )
        people = people_of(s, m.tenant_id, ids)
        reached = sum(1 for p in people.values() if p.has_chat)
        missed = sorted((p.name for p in people.values() if not p.has_chat), key=str.casefold)
        return reached, missed

    def _tell_changed(
        self,
        s: Session,
        m: Meeting,
        actor: Actor,
        changes: list[str],
        note: str | None,
        moved: bool,
        now: datetime,
        sent: int,
    ) -> None:
        """The "what changed" note to each invitee with a chat account (not the one who made
        the change), in the thread of the invitation they had; the new invitation follows."""
        assert m.id is not None
        ids = list(
            s.exec(select(MeetingInvitee.person_id).where(MeetingInvitee.meeting_id == m.id)).all()
        )
        people = people_of(s, m.tenant_id, ids)
        reply = present.change_note(m.reference, m.title, changes, note, moved)
        messages = [
            Message(
                f"meeting:{m.id}:changed:{m.ics_sequence}:{pid}",
                Recipient(person_id=pid),
                reply,
                thread_of=invite_key(m.id, sent, pid),
            )
            for pid in sorted(people)
            if people[pid].has_chat and pid != actor.person_id
        ]
        enqueue_many(
            s,
            tenant_id=m.tenant_id,
            messages=messages,
            not_before=self.calendars(m.tenant_id).next_slot(now),
            now=now,
        )

    def _poll_cancelled(self, s: Session, m: Meeting, reason: str, now: datetime) -> None:
        """Tell a poll's invitees it is cancelled, and close the poll cards and the tally."""
        assert m.id is not None
        ids = list(
            s.exec(select(MeetingInvitee.person_id).where(MeetingInvitee.meeting_id == m.id)).all()
        )
        people = people_of(s, m.tenant_id, [*ids, m.chair_person_id])
        chair = people[m.chair_person_id].name
        tell = present.poll_cancelled(m.reference, m.title, chair, reason)
        closed = present.poll_card_cancelled(m.reference, m.title, reason)
        calendar = self.calendars(m.tenant_id)
        enqueue_many(
            s,
            tenant_id=m.tenant_id,
            messages=[
                Message(cancel_key(m.id, m.ics_sequence, pid), Recipient(person_id=pid), tell)
                for pid in sorted(ids)
                if people[pid].has_chat
            ],
            not_before=calendar.next_slot(now),
            now=now,
        )
        # Edits go only to cards that were queued: an edit needs its original.
        cards = {poll_key(m.id, pid): pid for pid in ids}
        cards[tally_key(m.id)] = m.chair_person_id
        found = s.exec(
            select(OutboxMessage.key, OutboxMessage.person_id).where(
                OutboxMessage.tenant_id == m.tenant_id, col(OutboxMessage.key).in_(list(cards))
            )
        ).all()
        edits = [
            Message(f"{key}:cancelled", Recipient(person_id=person), closed, edits=key)
            for key, person in sorted(found)
            if person is not None
        ]
        enqueue_many(s, tenant_id=m.tenant_id, messages=edits, not_before=now, now=now)


class ChangeFlow:
    """The change form ("slis.meeting.change"): a new time, venue or link for a booked meeting."""

    callback_id = CHANGE_CALLBACK

    def __init__(self, booking: Booking) -> None:
        self.booking = booking

    def form(self, actor: Actor, metadata: str) -> Form:
        return self.booking.change_page(actor, _meeting_of(metadata))

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        day, start, length = values.get("date"), values.get("start"), values.get("length")
        errors: dict[str, str] = {}
        if not isinstance(day, date):
            errors["date"] = "Choose the date."
        if not isinstance(start, time):
            errors["start"] = "Choose the start time."
        if not (isinstance(length, str) and length.isdigit()):
            errors["length"] = "Choose how long it lasts."
        if errors:
            return PageErrors(errors)
        assert isinstance(day, date) and isinstance(start, time) and isinstance(length, str)
        change = MeetingChange(
            day=day,
            start=start,
            minutes=int(length),
            venue=_text(values.get("venue")),
            link=_text(values.get("link")),
            note=_text(values.get("note")),
        )
        try:
            message = self.booking.change(actor, int(_meeting_of(metadata)), change)
        except FormProblems as exc:
            return PageErrors(exc.errors)
        return Finished(present.done(message), "Meeting changed")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)


class CancelFlow:
    """The cancel form ("slis.meeting.cancel"): the reason, then the meeting is cancelled."""

    callback_id = CANCEL_CALLBACK

    def __init__(self, booking: Booking) -> None:
        self.booking = booking

    def form(self, actor: Actor, metadata: str) -> Form:
        return self.booking.cancel_page(actor, _meeting_of(metadata))

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        try:
            message = self.booking.cancel(
                actor, int(_meeting_of(metadata)), _text(values.get("reason")) or ""
            )
        except FormProblems as exc:
            return PageErrors(exc.errors)
        return Finished(present.done(message), "Meeting cancelled")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)


# --- rules -------------------------------------------------------------------------------------


def _changeable(actor: Actor, m: Meeting, now: datetime) -> None:
    require_manager(actor, m, entry("change"))
    if m.state != State.BOOKED or m.ends_at is None:
        hint = "Book a time first." if m.state == State.POLLING else None
        raise UserError(
            f"{m.reference} is {m.state}: only a booked meeting can be changed.", hint=hint
        )
    if aware(m.ends_at) <= now:
        raise UserError(f"{m.reference} has already taken place: it can't be changed.")


def _cancellable(actor: Actor, m: Meeting, now: datetime) -> None:
    require_manager(actor, m, entry("cancel"))
    if m.state not in (State.DRAFT, State.POLLING, State.BOOKED):
        raise UserError(f"{m.reference} is {m.state}: it can't be cancelled.")
    if m.state == State.BOOKED and m.ends_at is not None and aware(m.ends_at) <= now:
        raise UserError(f"{m.reference} has already taken place: it can't be cancelled.")


def _check_change(
    m: Meeting,
    calendar: TenantCalendar,
    now: datetime,
    starts: datetime,
    minutes: int,
    venue: str | None,
    link: str | None,
) -> None:
    errors: dict[str, str] = {}
    if starts <= now:
        errors["start"] = f"{at_text(calendar, starts)} has already passed."
    length = length_problem(minutes)
    if length is not None:
        errors["length"] = length
    if m.mode == Mode.IN_PERSON and not venue:
        errors["venue"] = "Say where the meeting is."
    if venue and len(venue) > VENUE_LIMIT:
        errors["venue"] = f"Please keep this to {VENUE_LIMIT} characters."
    if link and (not link.startswith(("https://", "http://")) or len(link) > LINK_LIMIT):
        errors["link"] = "Give the full link, starting https://"
    if errors:
        raise FormProblems(errors)


def _same_time(m: Meeting, starts: datetime, ends: datetime) -> bool:
    return (
        m.starts_at is not None
        and m.ends_at is not None
        and aware(m.starts_at) == starts.astimezone(UTC)
        and aware(m.ends_at) == ends.astimezone(UTC)
    )


def _when_of(calendar: TenantCalendar, m: Meeting) -> str:
    if m.starts_at is None or m.ends_at is None:
        return "no time"
    return when_text(calendar, aware(m.starts_at), aware(m.ends_at))


def _fresh(s: Session, meeting_id: int) -> Meeting:
    """The meeting as the guarded update left it (the session may hold an older copy)."""
    m = s.get(Meeting, meeting_id)
    assert m is not None
    s.refresh(m)
    return m


def _people(n: int, *, capital: bool = False) -> str:
    if n == 0:
        return "No one" if capital else "no one"
    return f"{'The' if capital else 'the'} {n} {'person' if n == 1 else 'people'}"


def _missed(names: list[str]) -> str:
    if not names:
        return ""
    who = ", ".join(names)
    verb = "has" if len(names) == 1 else "have"
    return f" {who} {verb} no chat account with me: please let them know yourself."


def _day_warning(calendar: TenantCalendar, starts: datetime) -> str:
    info = calendar.explain(calendar.local(starts).date())
    if info.school_day:
        return ""
    return f" Note: that day is not a school day ({info.reason})."


def _minutes_text(n: int) -> str:
    hours, minutes = divmod(n, 60)
    if not hours:
        return f"{minutes} minutes"
    h = f"{hours} hour{'s' if hours > 1 else ''}"
    return f"{h} {minutes} minutes" if minutes else h


def _meeting_of(metadata: str) -> str:
    if parse_id(metadata) is None:
        raise UserError("That form is out of date: open it again from the meeting.")
    return metadata.strip()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


__all__ = [
    "CANCEL_CALLBACK",
    "CHANGE_CALLBACK",
    "Booking",
    "CancelFlow",
    "ChangeFlow",
    "FormProblems",
    "MeetingChange",
]
