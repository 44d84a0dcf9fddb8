"""Booking a meeting, answering its invitation, changing and cancelling it: who may, what
changes in the meeting, and what goes into the outbox (nothing but notes until publication)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.form_flow import Finished, PageErrors, ShowPage
from bot.forms import DateField, FormValue, SelectField, TextField, TimeField
from bot.services.meetings.booking import CancelFlow, ChangeFlow
from bot.services.meetings.common import poll_key, tally_key
from bot.services.outbox import Recipient, enqueue
from bot.types import Reply
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee
from tests.services.meeting_world import MeetingWorld
from tests.services.test_meeting_publication import (
    AFTER_CHANGE,
    BEFORE_CHANGE,
    LONDON,
    REACHED,
    booked_meeting,
    button_ids,
    ics_of,
    meeting,
    polling_meeting,
    reply_of,
    services,
    world,
)

CHAIR = "Juno Chairwell"
INVITEES_WITH_CHAT = REACHED - {CHAIR}


def published(w: MeetingWorld, meeting_id: int) -> int:
    """Publish what is due for the meeting, as the scheduler does without a calendar."""
    _, publication = services(w)
    [pending] = [p for p in publication.due(w.clock.now()) if p.meeting_id == meeting_id]
    return publication.published(meeting_id, pending.sequence, event_id=None, join_url=None)


def rsvp_of(w: MeetingWorld, meeting_id: int, name: str) -> str | None:
    with w.db.session() as s:
        row = s.exec(
            select(MeetingInvitee).where(
                MeetingInvitee.meeting_id == meeting_id,
                MeetingInvitee.person_id == w.person(name),
            )
        ).one()
        return row.rsvp


def set_meeting(w: MeetingWorld, meeting_id: int, **values: object) -> None:
    """Set columns as another part of the bot would have (the reminders sent, say)."""
    with w.db.session() as s:
        s.exec(update(Meeting).where(col(Meeting.id) == meeting_id).values(**values))


def text_of(reply: Reply) -> str:
    return " ".join([reply.text, *(str(b) for b in reply.blocks)])


# --- booking ---------------------------------------------------------------------------------


def test_booking_sends_nothing_until_publication(db: Database) -> None:
    w = world(db)
    meeting_id, slot_ids = polling_meeting(w)
    booking, publication = services(w)

    reply = booking.press(w.actor(CHAIR), "book.2", f"{meeting_id}:{slot_ids[1]}")

    assert isinstance(reply, Reply)
    assert reply.text.startswith("Booked M-2027-0001 for Tue 30 Mar 2027, 16:00–17:30;")
    assert "invitations go out to the 4 people now" in reply.text
    assert "Bryn Tolliver has no chat account" in reply.text
    m = meeting(w, meeting_id)
    assert (m.state, m.chosen_slot_id, m.ics_sequence, m.sent_sequence) == (
        "booked",
        slot_ids[1],
        0,
        -1,
    )
    assert m.starts_at is not None and m.ends_at is not None
    assert m.starts_at.replace(tzinfo=UTC) == AFTER_CHANGE
    assert m.ends_at.replace(tzinfo=UTC) == AFTER_CHANGE + timedelta(minutes=90)
    assert (m.reminders_sent, m.publish_attempts, m.publish_after) == (0, 0, None)
    assert m.poll_closed_at is not None
    assert w.outbox() == []
    [pending] = publication.due(w.clock.now())
    assert (pending.meeting_id, pending.kind, pending.sequence) == (meeting_id, "create", 0)


def test_booking_the_same_slot_twice_changes_nothing(db: Database) -> None:
    w = world(db)
    meeting_id, slot_ids = polling_meeting(w)
    booking, _ = services(w)
    booking.press(w.actor(CHAIR), "book.1", f"{meeting_id}:{slot_ids[0]}")
    version = meeting(w, meeting_id).version

    again = booking.press(w.actor(CHAIR), "book.1", f"{meeting_id}:{slot_ids[0]}")

    assert isinstance(again, Reply)
    assert again.text == "M-2027-0001 is already booked for Tue 23 Mar 2027, 16:00–17:30."
    assert meeting(w, meeting_id).version == version


def test_the_chair_may_book_before_the_poll_closes_and_an_la_officer_may_too(
    db: Database,
) -> None:
    w = world(db)
    meeting_id, slot_ids = polling_meeting(w)
    booking, _ = services(w)
    assert meeting(w, meeting_id).poll_closed_at is None
    booking.press(w.actor("Kit Officer"), "book.1", f"{meeting_id}:{slot_ids[0]}")
    assert meeting(w, meeting_id).state == "booked"


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("Wren Halloway", Forbidden),  # invited, but not the chair
        ("Sol Southgate", NotFound),  # chairs South: a West meeting is none of theirs
        ("Hal Headley", NotFound),
    ],
)
def test_only_those_who_manage_the_meeting_may_book_change_or_cancel(
    db: Database, who: str, error: type[UserError]
) -> None:
    w = world(db)
    meeting_id, slot_ids = booked_meeting(w)
    booking, _ = services(w)
    actor = w.actor(who)
    with pytest.raises(error):
        booking.press(actor, "book.2", f"{meeting_id}:{slot_ids[1]}")
    with pytest.raises(error):
        booking.change_form(actor, "M-2027-0001")
    with pytest.raises(error):
        booking.cancel_form(actor, "M-2027-0001")
    with pytest.raises(error):
        CancelFlow(booking).submit(actor, str(meeting_id), 0, {"reason": "No longer needed."})
    assert meeting(w, meeting_id).state == "booked"
    assert meeting(w, meeting_id).ics_sequence == 0


def test_a_slot_of_another_meeting_or_one_past_is_refused(db: Database) -> None:
    w = world(db)
    meeting_id, slot_ids = polling_meeting(w)
    other_id, other_slots = polling_meeting(w)
    booking, _ = services(w)
    chair = w.actor(CHAIR)
    with pytest.raises(UserError, match="out of date"):
        booking.press(chair, "book.1", f"{meeting_id}:{other_slots[0]}")
    with pytest.raises(UserError, match="out of date"):
        booking.press(chair, "book.1", f"{meeting_id}")
    w.at(BEFORE_CHANGE + timedelta(minutes=1))
    with pytest.raises(UserError, match="already passed"):
        booking.press(chair, "book.1", f"{meeting_id}:{slot_ids[0]}")
    assert meeting(w, meeting_id).state == "polling"
    assert meeting(w, other_id).state == "polling"


def test_booking_another_slot_moves_the_meeting_and_tells_everyone(db: Database) -> None:
    w = world(db)
    meeting_id, slot_ids = booked_meeting(w)
    published(w, meeting_id)
    booking, _ = services(w)
    set_meeting(w, meeting_id, reminders_sent=1)  # the week-before reminder went out

    reply = booking.press(w.actor(CHAIR), "book.2", f"{meeting_id}:{slot_ids[1]}")

    assert isinstance(reply, Reply)
    assert reply.text.startswith("Moved M-2027-0001 to Tue 30 Mar 2027, 16:00–17:30")
    m = meeting(w, meeting_id)
    assert (m.ics_sequence, m.sent_sequence, m.chosen_slot_id) == (1, 0, slot_ids[1])
    assert m.reminders_sent == 0
    notes = w.outbox(f"meeting:{meeting_id}:changed:1:")
    assert w.names(n.person_id for n in notes) == INVITEES_WITH_CHAT
    assert all(n.thread_key == f"meeting:{meeting_id}:invite:0:{n.person_id}" for n in notes)
    assert "Tue 23 Mar 2027, 16:00–17:30 → Tue 30 Mar 2027, 16:00–17:30" in reply_of(notes[0]).text

    published(w, meeting_id)
    for row in w.outbox(f"meeting:{meeting_id}:ics:1:"):
        _, event = ics_of(row)
        assert int(event["SEQUENCE"]) == 1
        assert event["DTSTART"].dt == AFTER_CHANGE
    [card] = [
        r
        for r in w.outbox(f"meeting:{meeting_id}:invite:1:")
        if r.person_id == w.person("Corin Ashdale")
    ]
    assert reply_of(card).text.startswith("Updated invitation")


# --- answers ---------------------------------------------------------------------------------


def test_an_invitee_answers_and_the_invitation_is_redrawn_for_them(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w, 1)
    published(w, meeting_id)
    booking, _ = services(w)
    wren = w.actor("Wren Halloway")

    card = booking.press(wren, "rsvp.going", str(meeting_id))

    assert isinstance(card, Reply)
    assert rsvp_of(w, meeting_id, "Wren Halloway") == "going"
    assert "('Your answer', 'Going')" in text_of(card)
    assert "✓ Going" in text_of(card)
    assert button_ids(card) == ["slis.meeting.rsvp.going", "slis.meeting.rsvp.not_going"]
    assert booking.IN_PLACE == ("rsvp",)

    again = booking.press(wren, "rsvp.going", str(meeting_id))
    assert isinstance(again, Reply) and again.blocks == card.blocks
    changed = booking.press(wren, "rsvp.not_going", str(meeting_id))
    assert isinstance(changed, Reply)
    assert rsvp_of(w, meeting_id, "Wren Halloway") == "not_going"
    assert "('Your answer', \"Can't come\")" in text_of(changed)
    assert rsvp_of(w, meeting_id, "Corin Ashdale") is None


def test_only_invitees_answer_and_only_while_a_booked_meeting_is_to_come(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    polling_id, _ = polling_meeting(w)
    booking, _ = services(w)
    with pytest.raises(Forbidden):
        booking.press(w.actor(CHAIR), "rsvp.going", str(meeting_id))  # chairs, not invited
    with pytest.raises(NotFound):
        booking.press(w.actor("Fenn Saltley"), "rsvp.going", str(meeting_id))
    with pytest.raises(UserError, match="no time booked"):
        booking.press(w.actor("Wren Halloway"), "rsvp.going", str(polling_id))
    with pytest.raises(UserError, match="out of date"):
        booking.press(w.actor("Wren Halloway"), "rsvp.maybe", str(meeting_id))
    w.at(BEFORE_CHANGE + timedelta(minutes=90))
    with pytest.raises(UserError, match="already taken place"):
        booking.press(w.actor("Wren Halloway"), "rsvp.going", str(meeting_id))
    assert rsvp_of(w, meeting_id, "Wren Halloway") is None


# --- changing --------------------------------------------------------------------------------


def change_values(**changes: FormValue) -> dict[str, FormValue]:
    values: dict[str, FormValue] = {
        "date": date(2027, 3, 23),
        "start": time(16, 0),
        "length": "90",
        "venue": "Harbour Room, Colne Valley Primary",
    }
    values.update(changes)
    return values


def test_the_change_form_is_filled_with_the_meeting_as_it_is(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w, 1)
    booking, _ = services(w)
    page = booking.press(w.actor(CHAIR), "change", str(meeting_id))
    assert isinstance(page, ShowPage)
    form = page.form
    assert form.callback_id == "slis.meeting.change"
    assert form.private_metadata == str(meeting_id)
    date_field, start_field, length_field, venue_field = form.fields()[:4]
    assert isinstance(date_field, DateField) and date_field.initial == date(2027, 3, 30)
    assert isinstance(start_field, TimeField) and start_field.initial == time(16, 0)
    assert isinstance(length_field, SelectField) and length_field.initial == "90"
    assert isinstance(venue_field, TextField) and venue_field.required
    assert venue_field.initial == "Harbour Room, Colne Valley Primary"
    assert ChangeFlow(booking).form(w.actor(CHAIR), str(meeting_id)) == form


def test_a_change_of_time_bumps_the_sequence_restarts_reminders_and_resends(
    db: Database,
) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    published(w, meeting_id)
    booking, _ = services(w)
    set_meeting(w, meeting_id, reminders_sent=1)
    booking.press(w.actor("Wren Halloway"), "rsvp.going", str(meeting_id))
    flow = ChangeFlow(booking)

    step = flow.submit(
        w.actor(CHAIR),
        str(meeting_id),
        0,
        change_values(date=date(2027, 3, 24), start=time(15, 30), length="60", note="Room clash."),
    )

    assert isinstance(step, Finished)
    said = step.reply.text
    assert said.startswith("Changed M-2027-0001: Time: Tue 23 Mar 2027, 16:00–17:30 → Wed 24")
    assert "The updated invitation goes to the 4 people now." in said
    m = meeting(w, meeting_id)
    assert (m.ics_sequence, m.sent_sequence, m.reminders_sent) == (1, 0, 0)
    assert m.starts_at is not None
    assert m.starts_at.replace(tzinfo=UTC) == datetime(2027, 3, 24, 15, 30, tzinfo=UTC)
    # Answers are kept: the note and the new invitation ask people to check.
    assert rsvp_of(w, meeting_id, "Wren Halloway") == "going"
    notes = w.outbox(f"meeting:{meeting_id}:changed:1:")
    assert w.names(n.person_id for n in notes) == INVITEES_WITH_CHAT
    note = text_of(reply_of(notes[0]))
    assert "Room clash." in note and "check you can still come" in note

    published(w, meeting_id)
    files = w.outbox(f"meeting:{meeting_id}:ics:1:")
    assert w.names(r.person_id for r in files) == REACHED
    for row in files:
        calendar, event = ics_of(row)
        assert str(calendar["METHOD"]) == "REQUEST"
        assert int(event["SEQUENCE"]) == 1
        assert event["DTSTART"].dt == datetime(2027, 3, 24, 15, 30, tzinfo=LONDON)
        assert event["DTEND"].dt == datetime(2027, 3, 24, 16, 30, tzinfo=LONDON)
    [wren] = [
        r
        for r in w.outbox(f"meeting:{meeting_id}:invite:1:")
        if r.person_id == w.person("Wren Halloway")
    ]
    assert "('Your answer', 'Going')" in text_of(reply_of(wren))
    assert len(w.outbox(f"meeting:{meeting_id}:announce:")) == 2


def test_a_change_of_venue_only_keeps_the_reminders(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    booking, _ = services(w)
    set_meeting(w, meeting_id, reminders_sent=1)
    step = ChangeFlow(booking).submit(
        w.actor(CHAIR),
        str(meeting_id),
        0,
        change_values(venue="Library, Harbour Academy"),
    )
    assert isinstance(step, Finished)
    assert "Venue: Library, Harbour Academy" in step.reply.text
    m = meeting(w, meeting_id)
    assert (m.ics_sequence, m.reminders_sent, m.venue) == (1, 1, "Library, Harbour Academy")
    # Nothing had gone out yet: no "what changed" note, the first invitation is the new one.
    assert w.outbox(f"meeting:{meeting_id}:changed:") == []


def test_no_change_is_said_and_bad_answers_are_shown_on_their_fields(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    booking, _ = services(w)
    flow = ChangeFlow(booking)
    chair = w.actor(CHAIR)
    version = meeting(w, meeting_id).version

    same = flow.submit(chair, str(meeting_id), 0, change_values())
    assert isinstance(same, Finished)
    assert same.reply.text == "Nothing changed: M-2027-0001 stays as it was."

    past = flow.submit(chair, str(meeting_id), 0, change_values(date=date(2027, 2, 26)))
    assert isinstance(past, PageErrors)
    assert past.errors == {"start": "Fri 26 Feb 2027 at 16:00 has already passed."}

    bad = flow.submit(
        chair,
        str(meeting_id),
        0,
        change_values(venue="  ", link="teams meeting"),
    )
    assert isinstance(bad, PageErrors)
    assert set(bad.errors) == {"venue", "link"}

    missing = flow.submit(chair, str(meeting_id), 0, {"length": "90"})
    assert isinstance(missing, PageErrors)
    assert set(missing.errors) == {"date", "start"}
    assert meeting(w, meeting_id).version == version


def test_only_a_booked_meeting_still_to_come_can_be_changed(db: Database) -> None:
    w = world(db)
    polling_id, _ = polling_meeting(w)
    meeting_id, _ = booked_meeting(w)
    booking, _ = services(w)
    with pytest.raises(UserError, match="only a booked meeting"):
        booking.change_form(w.actor(CHAIR), polling_id)
    w.at(BEFORE_CHANGE + timedelta(hours=2))
    with pytest.raises(UserError, match="already taken place"):
        booking.change_form(w.actor(CHAIR), meeting_id)


# --- cancelling ------------------------------------------------------------------------------


def test_cancelling_a_booked_meeting_sends_method_cancel_with_a_higher_sequence(
    db: Database,
) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w, 1)
    published(w, meeting_id)
    booking, _ = services(w)
    page = booking.press(w.actor(CHAIR), "cancel", str(meeting_id))
    assert isinstance(page, ShowPage) and page.form.callback_id == "slis.meeting.cancel"

    step = CancelFlow(booking).submit(
        w.actor(CHAIR), str(meeting_id), 0, {"reason": "The heads' conference moved to that day."}
    )

    assert isinstance(step, Finished)
    assert step.reply.text.startswith("Cancelled M-2027-0001. The 4 people get the cancellation")
    m = meeting(w, meeting_id)
    assert (m.state, m.ics_sequence, m.sent_sequence) == ("cancelled", 1, 0)
    assert m.cancel_reason == "The heads' conference moved to that day."
    assert w.outbox(f"meeting:{meeting_id}:cancel:") == []  # publication sends it

    added = published(w, meeting_id)

    cancels = w.outbox(f"meeting:{meeting_id}:cancel:1:")
    files = w.outbox(f"meeting:{meeting_id}:ics:1:")
    assert w.names(r.person_id for r in cancels) == REACHED
    assert w.names(r.person_id for r in files) == REACHED
    assert added == len(cancels) + len(files) + 1
    assert all("heads' conference moved" in reply_of(r).text for r in cancels)
    for row in files:
        calendar, event = ics_of(row)
        assert str(calendar["METHOD"]) == "CANCEL"
        assert int(event["SEQUENCE"]) == 1
        assert str(event["STATUS"]) == "CANCELLED"
        assert event["DTSTART"].dt == AFTER_CHANGE
        assert calendar.walk("VTIMEZONE")
    [announce] = w.outbox(f"meeting:{meeting_id}:announce:1")
    assert reply_of(announce).text.startswith("Meeting cancelled: West quadrant meeting")
    with pytest.raises(UserError, match="cancelled"):
        booking.press(w.actor("Wren Halloway"), "rsvp.going", str(meeting_id))


def test_cancelling_a_booking_before_it_went_out_sends_no_calendar_file(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    booking, _ = services(w)
    booking.cancel(w.actor(CHAIR), meeting_id, "Booked by mistake.")
    published(w, meeting_id)
    assert w.names(r.person_id for r in w.outbox(f"meeting:{meeting_id}:cancel:1:")) == REACHED
    assert w.outbox(f"meeting:{meeting_id}:ics:") == []


def test_cancelling_a_poll_tells_the_invitees_and_closes_their_poll_cards(db: Database) -> None:
    w = world(db)
    meeting_id, _ = polling_meeting(w)
    booking, publication = services(w)
    now = w.clock.now()
    with w.db.session() as s:  # the poll cards and the tally the poll sent
        for name in ("Wren Halloway", "Corin Ashdale"):
            enqueue(
                s,
                tenant_id=w.tenant_id,
                key=poll_key(meeting_id, w.person(name)),
                to=Recipient(person_id=w.person(name)),
                reply=Reply("Poll"),
                not_before=now,
                now=now,
            )
        enqueue(
            s,
            tenant_id=w.tenant_id,
            key=tally_key(meeting_id),
            to=Recipient(person_id=w.person(CHAIR)),
            reply=Reply("Tally"),
            not_before=now,
            now=now,
        )

    step = CancelFlow(booking).submit(
        w.actor(CHAIR), str(meeting_id), 0, {"reason": "We will meet at the county conference."}
    )

    assert isinstance(step, Finished)
    assert "The 4 people invited are told now, and their polls are closed." in step.reply.text
    assert "Bryn Tolliver has no chat account" in step.reply.text
    m = meeting(w, meeting_id)
    assert (m.state, m.ics_sequence, m.sent_sequence) == ("cancelled", 0, 0)
    told = w.outbox(f"meeting:{meeting_id}:cancel:0:")
    assert w.names(r.person_id for r in told) == INVITEES_WITH_CHAT
    assert all(reply_of(r).files == () for r in told)
    assert "county conference" in reply_of(told[0]).text
    edits = [r for r in w.outbox(f"meeting:{meeting_id}:") if r.edits_key is not None]
    assert {(r.key, r.edits_key) for r in edits} == {
        (f"{k}:cancelled", k)
        for k in (
            poll_key(meeting_id, w.person("Wren Halloway")),
            poll_key(meeting_id, w.person("Corin Ashdale")),
            tally_key(meeting_id),
        )
    }
    assert all(r.not_before.replace(tzinfo=UTC) == now for r in edits)
    assert w.outbox(f"meeting:{meeting_id}:ics:") == []
    assert publication.due(now) == []


def test_a_cancel_needs_a_reason_and_a_meeting_that_can_be(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    booking, _ = services(w)
    flow = CancelFlow(booking)
    blank = flow.submit(w.actor(CHAIR), str(meeting_id), 0, {"reason": "   "})
    assert isinstance(blank, PageErrors) and set(blank.errors) == {"reason"}
    long = flow.submit(w.actor(CHAIR), str(meeting_id), 0, {"reason": "x" * 501})
    assert isinstance(long, PageErrors) and set(long.errors) == {"reason"}
    assert meeting(w, meeting_id).state == "booked"

    booking.cancel(w.actor(CHAIR), meeting_id, "No longer needed.")
    with pytest.raises(UserError, match="can't be cancelled"):
        booking.cancel_form(w.actor(CHAIR), "M-2027-0001")
    with pytest.raises(UserError, match="can't be booked"):
        booking.press(
            w.actor(CHAIR), "book.1", f"{meeting_id}:{meeting(w, meeting_id).chosen_slot_id}"
        )


def test_the_buttons_the_slice_handles(db: Database) -> None:
    w = world(db)
    booking, _ = services(w)
    assert booking.ACTIONS == ("book", "rsvp", "change", "cancel")
    with pytest.raises(UserError):
        booking.press(w.actor(CHAIR), "rebook", "1")
