"""Minutes and actions: who may record them and when, the form's checks, what is sent to whom,
corrections, marking an action done, and reminding owners before (and after) the due date."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.form_flow import Finished, PageErrors, ShowPage
from bot.forms import FormValue, MultiChoiceField, TextField
from bot.reply_codec import reply_from_json
from bot.services.meetings.minutes import Minutes
from bot.types import Reply
from storage.engine import Database
from storage.meeting_tables import MeetingAction
from storage.models import maybe_aware
from tests.services.meeting_world import MeetingWorld, meeting_world
from tests.services.test_meeting_reminders import STARTS, book, buttons, meeting, words

AFTER = STARTS + timedelta(hours=2)  # Thu 18 Mar 2027 18:00


def actions(w: MeetingWorld, meeting_id: int) -> list[MeetingAction]:
    with w.db.session() as s:
        return list(
            s.exec(
                select(MeetingAction)
                .where(MeetingAction.meeting_id == meeting_id)
                .order_by(col(MeetingAction.id))
            ).all()
        )


def done_at_of(w: MeetingWorld, meeting_id: int) -> datetime | None:
    return maybe_aware(actions(w, meeting_id)[0].done_at)


def open_form(mn: Minutes, w: MeetingWorld, m: int, who: str = "Juno Chairwell") -> ShowPage:
    return mn.minutes_form(w.actor(who), meeting(w, m).reference)


def send(
    mn: Minutes, w: MeetingWorld, page: ShowPage, values: Mapping[str, FormValue], who: str
) -> object:
    return mn.flow.submit(w.actor(who), page.form.private_metadata, 0, values)


def test_minutes_are_for_the_chair_managers_and_note_taker_once_it_has_started(
    db: Database,
) -> None:
    w = meeting_world(db)
    m = book(w, note_taker="Elm Rushworth")
    mn = Minutes(w.db, w.clock, w.calendars)
    w.at(STARTS - timedelta(minutes=1))
    with pytest.raises(UserError, match="has not started yet"):
        open_form(mn, w, m)
    w.at(STARTS)
    assert open_form(mn, w, m).form.callback_id == "slis.meeting.minutes"
    assert isinstance(open_form(mn, w, m, "Elm Rushworth"), ShowPage)
    assert isinstance(open_form(mn, w, m, "Kit Officer"), ShowPage)
    with pytest.raises(Forbidden):
        open_form(mn, w, m, "Wren Halloway")
    with pytest.raises(NotFound):
        open_form(mn, w, m, "Sol Southgate")
    poll = book(w, state="polling")
    with pytest.raises(UserError, match="no minutes to record"):
        open_form(mn, w, poll)


def test_the_form_offers_the_meetings_people_and_expects_those_going(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)
    form = open_form(Minutes(w.db, w.clock, w.calendars), w, m).form
    attended = form.field("attended")
    assert isinstance(attended, MultiChoiceField)
    assert [o.label for o in attended.options] == [
        "ada Quickfern",
        "Bryn Tolliver",
        "Corin Ashdale",
        "Elm Rushworth",
        "Juno Chairwell",
        "Wren Halloway",
    ]
    assert w.names(int(v) for v in attended.initial) == {
        "Wren Halloway",
        "Elm Rushworth",
        "Juno Chairwell",
    }
    assert "action_6_due" in form.field_ids() and "action_7_what" not in form.field_ids()


def test_a_partly_filled_action_or_a_past_due_date_is_refused(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)
    mn = Minutes(w.db, w.clock, w.calendars)
    page = open_form(mn, w, m)
    wren = str(w.person("Wren Halloway"))
    step = send(
        mn,
        w,
        page,
        {
            "notes": "We met.",
            "action_1_what": "Share the moderation samples",
            "action_2_owner": wren,
            "action_3_what": "Book the hall",
            "action_3_owner": wren,
            "action_3_due": date(2027, 3, 17),
        },
        "Juno Chairwell",
    )
    assert isinstance(step, PageErrors)
    assert step.errors == {
        "action_1_owner": "Choose who will do it.",
        "action_1_due": "Give a due date.",
        "action_2_what": "Say what needs doing.",
        "action_2_due": "Give a due date.",
        "action_3_due": "The due date is in the past.",
    }
    assert actions(w, m) == [] and meeting(w, m).minutes is None


def test_minutes_go_to_those_present_and_actions_to_their_owners(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)
    mn = Minutes(w.db, w.clock, w.calendars)
    page = open_form(mn, w, m)
    present = [str(w.person(n)) for n in ("Wren Halloway", "Bryn Tolliver", "Juno Chairwell")]
    done = send(
        mn,
        w,
        page,
        {
            "notes": "Agreed a shared approach to writing moderation.",
            "attended": present,
            "action_1_what": "Share the moderation samples",
            "action_1_owner": str(w.person("Wren Halloway")),
            "action_1_due": date(2027, 3, 25),
            "action_2_what": "Draft the Easter CPD offer",
            "action_2_owner": str(w.person("Bryn Tolliver")),
            "action_2_due": date(2027, 4, 16),
        },
        "Juno Chairwell",
    )
    assert isinstance(done, Finished)
    assert "sent to 2 people" in done.reply.text
    assert "Not sent to Bryn Tolliver (no chat account)" in done.reply.text
    held = meeting(w, m)
    assert (
        held.state == "held" and held.minutes == "Agreed a shared approach to writing moderation."
    )
    assert held.minutes_sent_at is not None
    rows = actions(w, m)
    assert [(a.what, w.names([a.owner_person_id]), a.due_on) for a in rows] == [
        ("Share the moderation samples", {"Wren Halloway"}, date(2027, 3, 25)),
        ("Draft the Easter CPD offer", {"Bryn Tolliver"}, date(2027, 4, 16)),
    ]
    sent = w.outbox(f"meeting:{m}:minutes:")
    assert w.names(r.person_id for r in sent) == {"Wren Halloway", "Juno Chairwell"}
    text = words(reply_from_json(sent[0].payload))
    assert "Agreed a shared approach" in text
    assert "Share the moderation samples — Wren Halloway, due Thu 25 Mar 2027" in text
    assert "Present: Bryn Tolliver, Juno Chairwell, Wren Halloway" in text
    assigned = w.outbox("meeting-action:")
    assert [r.key for r in assigned] == [f"meeting-action:{rows[0].id}:assigned"]
    assert assigned[0].person_id == w.person("Wren Halloway")
    card = reply_from_json(assigned[0].payload)
    assert buttons(card) == [("slis.meeting.done", str(rows[0].id))]


def test_a_form_sent_twice_adds_nothing_and_a_correction_edits_what_was_sent(
    db: Database,
) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)
    mn = Minutes(w.db, w.clock, w.calendars)
    page = open_form(mn, w, m)
    values: dict[str, FormValue] = {
        "notes": "First notes.",
        "attended": [str(w.person("Wren Halloway"))],
        "action_1_what": "Share the samples",
        "action_1_owner": str(w.person("Wren Halloway")),
        "action_1_due": date(2027, 3, 25),
    }
    assert isinstance(send(mn, w, page, values, "Juno Chairwell"), Finished)
    with pytest.raises(UserError, match="recorded since you opened the form"):
        send(mn, w, page, values, "Juno Chairwell")
    assert len(actions(w, m)) == 1

    w.clock.advance(minutes=10)
    again = open_form(mn, w, m)
    notes = again.form.field("notes")
    assert isinstance(notes, TextField) and notes.initial == "First notes."
    correction = send(
        mn,
        w,
        again,
        {
            "notes": "Corrected notes.",
            "attended": [str(w.person(n)) for n in ("Wren Halloway", "Elm Rushworth")],
            "action_1_what": "Circulate the data pack",
            "action_1_owner": str(w.person("Elm Rushworth")),
            "action_1_due": date(2027, 4, 14),
        },
        "Juno Chairwell",
    )
    assert isinstance(correction, Finished) and "Corrected minutes" in correction.reply.text
    assert meeting(w, m).minutes == "Corrected notes."
    assert [a.what for a in actions(w, m)] == ["Share the samples", "Circulate the data pack"]
    originals = [r for r in w.outbox(f"meeting:{m}:minutes:") if r.edits_key is None]
    edits = [r for r in w.outbox(f"meeting:{m}:minutes:") if r.edits_key is not None]
    assert w.names(r.person_id for r in originals) == {
        "Wren Halloway",
        "Juno Chairwell",
        "Elm Rushworth",
    }
    assert {r.edits_key for r in edits} == {
        f"meeting:{m}:minutes:{w.person('Wren Halloway')}",
        f"meeting:{m}:minutes:{w.person('Juno Chairwell')}",
    }
    assert all("Corrected notes." in words(reply_from_json(r.payload)) for r in edits)
    assert len(w.outbox("meeting-action:")) == 2


def _one_action(w: MeetingWorld, m: int, owner: str, due: date) -> int:
    mn = Minutes(w.db, w.clock, w.calendars)
    send(
        mn,
        w,
        open_form(mn, w, m),
        {
            "notes": "Notes.",
            "action_1_what": "Share the samples",
            "action_1_owner": str(w.person(owner)),
            "action_1_due": due,
        },
        "Juno Chairwell",
    )
    found = actions(w, m)[-1].id
    assert found is not None
    return found


def test_marking_done_is_for_the_owner_or_a_manager_and_happens_once(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)
    action = _one_action(w, m, "Wren Halloway", date(2027, 3, 25))
    mn = Minutes(w.db, w.clock, w.calendars)
    with pytest.raises(Forbidden, match="Only its owner, the meeting's chair") as refused:
        mn.press(w.actor("ada Quickfern"), "done", str(action))
    assert "Wren Halloway" not in refused.value.message  # no other person's name
    w.clock.advance(hours=20)
    card = mn.press(w.actor("Wren Halloway"), "done", str(action))
    assert isinstance(card, Reply)
    assert "Done ✓ on Fri 19 Mar 2027" in words(card) and buttons(card) == []
    done_at = w.clock.now()
    assert done_at_of(w, m) == done_at
    w.clock.advance(hours=1)
    again = mn.press(w.actor("Juno Chairwell"), "done.7", str(action))
    assert isinstance(again, Reply) and "already done" in words(again)
    assert done_at_of(w, m) == done_at


def test_an_owner_is_reminded_before_the_due_date_once_and_when_overdue(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)
    # Due Thu 25 Mar: reminded from Tue 23 Mar 07:30; overdue from Mon 12 Apr 07:30 (Easter).
    action = _one_action(w, m, "Wren Halloway", date(2027, 3, 25))
    mn = Minutes(w.db, w.clock, w.calendars)
    w.at(datetime(2027, 3, 23, 7, 29, tzinfo=UTC))
    assert mn.sweep(w.clock.now()) == {"action_reminders": 0, "overdue_reminders": 0}
    w.at(datetime(2027, 3, 23, 7, 30, tzinfo=UTC))
    assert mn.sweep(w.clock.now()) == {"action_reminders": 1, "overdue_reminders": 0}
    assert mn.sweep(w.clock.now()) == {"action_reminders": 0, "overdue_reminders": 0}
    reminded = w.outbox(f"meeting-action:{action}:remind")
    assert len(reminded) == 1 and reminded[0].person_id == w.person("Wren Halloway")
    card = reply_from_json(reminded[0].payload)
    assert "due on Thu 25 Mar 2027" in words(card)
    assert buttons(card) == [("slis.meeting.done", str(action))]

    w.at(datetime(2027, 4, 9, 12, 0, tzinfo=UTC))
    assert mn.sweep(w.clock.now())["overdue_reminders"] == 0
    w.at(datetime(2027, 4, 12, 6, 30, tzinfo=UTC))  # 07:30 BST
    assert mn.sweep(w.clock.now())["overdue_reminders"] == 1
    assert mn.sweep(w.clock.now())["overdue_reminders"] == 0
    assert len(w.outbox(f"meeting-action:{action}:overdue")) == 1


def test_a_done_action_is_never_reminded(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)
    action = _one_action(w, m, "Wren Halloway", date(2027, 3, 25))
    mn = Minutes(w.db, w.clock, w.calendars)
    mn.mark_done(w.actor("Wren Halloway"), action)
    for when in (datetime(2027, 3, 23, 9, 0, tzinfo=UTC), datetime(2027, 4, 12, 9, 0, tzinfo=UTC)):
        w.at(when)
        assert mn.sweep(w.clock.now()) == {"action_reminders": 0, "overdue_reminders": 0}
    assert w.outbox(f"meeting-action:{action}:remind") == []
    assert w.outbox(f"meeting-action:{action}:overdue") == []


def test_an_action_set_inside_the_reminder_window_is_not_reminded_again(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(AFTER)  # Thu 18 Mar; due Mon 22 Mar: the window opened Thu 18 Mar 07:30
    action = _one_action(w, m, "Wren Halloway", date(2027, 3, 22))
    mn = Minutes(w.db, w.clock, w.calendars)
    w.at(datetime(2027, 3, 19, 9, 0, tzinfo=UTC))
    assert mn.sweep(w.clock.now())["action_reminders"] == 0
    assert w.outbox(f"meeting-action:{action}:remind") == []
    assert len(w.outbox(f"meeting-action:{action}:assigned")) == 1


def test_the_chair_names_a_note_taker_who_may_then_record_the_minutes(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    mn = Minutes(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    w.at(STARTS)
    with pytest.raises(Forbidden):
        open_form(mn, w, m, "Wren Halloway")
    wren = "wren.halloway@schools.example.org"
    with pytest.raises(NotFound):  # South's chair cannot see West's meeting
        mn.name_note_taker(w.actor("Sol Southgate"), ref, wren)
    with pytest.raises(Forbidden, match="may name this meeting's note-taker"):
        mn.name_note_taker(w.actor("Corin Ashdale"), ref, wren)  # an invitee, not the chair
    with pytest.raises(NotFound, match=r"nobody\.example\.org"):
        mn.name_note_taker(w.actor("Juno Chairwell"), ref, "someone@nobody.example.org")
    version = meeting(w, m).version

    said = mn.name_note_taker(w.actor("Juno Chairwell"), ref, wren.upper())
    assert "Wren Halloway will take the notes" in said.text
    assert meeting(w, m).note_taker_person_id == w.person("Wren Halloway")
    assert meeting(w, m).version == version + 1
    assert isinstance(open_form(mn, w, m, "Wren Halloway"), ShowPage)

    said = mn.name_note_taker(w.actor("Juno Chairwell"), ref, "none")
    assert "Nobody is named" in said.text
    assert meeting(w, m).note_taker_person_id is None
    with pytest.raises(Forbidden):
        open_form(mn, w, m, "Wren Halloway")
