"""The agenda: invitees put items forward until the deadline, the chair orders and publishes
them, and the published agenda goes out with the next reminder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.form_flow import Finished, PageErrors, ShowPage
from bot.forms import ChoiceField, NumberField
from bot.reply_codec import reply_from_json
from bot.services.meetings.agenda import Agenda, agenda
from bot.services.meetings.reminding import Reminding
from storage.engine import Database
from storage.meeting_tables import MeetingAgendaItem
from storage.models import maybe_aware
from tests.services.meeting_world import MeetingWorld, meeting_world
from tests.services.test_meeting_reminders import STARTS, book, meeting, words


def items(w: MeetingWorld, meeting_id: int) -> list[MeetingAgendaItem]:
    with w.db.session() as s:
        return list(
            s.exec(
                select(MeetingAgendaItem)
                .where(MeetingAgendaItem.meeting_id == meeting_id)
                .order_by(col(MeetingAgendaItem.id))
            ).all()
        )


def published(w: MeetingWorld, meeting_id: int) -> list[str]:
    with w.db.session() as s:
        return agenda(s, meeting(w, meeting_id))


def test_an_invitee_adds_an_item_and_sees_the_agenda_so_far(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    a = Agenda(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    a.add(w.actor("Wren Halloway"), ref, "Writing moderation across the Colne schools")
    reply = a.add(
        w.actor("ada Quickfern"), ref.lower(), "  Attendance:   the   persistent absentees "
    )
    text = words(reply)
    assert "Attendance: the persistent absentees" in text
    assert "1. Writing moderation across the Colne schools" in text
    assert "2. Attendance: the persistent absentees" in text
    stored = items(w, m)
    assert [i.added_by for i in stored] == [w.person("Wren Halloway"), w.person("ada Quickfern")]
    assert all(i.position is None for i in stored)


def test_strangers_and_onlookers_cannot_add(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    a = Agenda(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    with pytest.raises(NotFound):
        a.add(w.actor("Fenn Saltley"), ref, "South's business")  # not invited: not visible
    with pytest.raises(NotFound):
        a.add(w.actor("Sol Southgate"), ref, "South's business")  # another quadrant's chair
    with pytest.raises(Forbidden, match="Only those invited"):
        a.add(w.actor("Bea Boardman"), ref, "Board business")  # sees it, is not invited
    assert items(w, m) == []


def test_items_close_days_before_the_meeting_except_for_the_chair(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)  # Thu 18 Mar 16:00; agenda closes Sat 13 Mar 16:00
    a = Agenda(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    w.at(STARTS - timedelta(days=5, seconds=1))
    a.add(w.actor("Corin Ashdale"), ref, "Just in time")
    w.at(STARTS - timedelta(days=5))
    with pytest.raises(UserError, match="closed on Sat 13 Mar 2027 at 16:00") as refused:
        a.add(w.actor("Corin Ashdale"), ref, "Too late")
    assert refused.value.hint is not None and "Juno Chairwell" in refused.value.hint
    a.add(w.actor("Juno Chairwell"), ref, "The chair's late item")
    w.at(STARTS)
    with pytest.raises(UserError, match="closed"):
        a.add(w.actor("Juno Chairwell"), ref, "Once it has started")
    assert [i.text for i in items(w, m)] == ["Just in time", "The chair's late item"]


def test_a_poll_takes_items_and_a_cancelled_meeting_does_not(db: Database) -> None:
    w = meeting_world(db)
    poll = book(w, state="polling")
    cancelled = book(w, state="cancelled")
    a = Agenda(w.db, w.clock, w.calendars)
    a.add(w.actor("Elm Rushworth"), meeting(w, poll).reference, "Before we even have a date")
    with pytest.raises(UserError, match="cancelled: its agenda is closed"):
        a.add(w.actor("Elm Rushworth"), meeting(w, cancelled).reference, "Anything")


def test_an_item_must_say_something_and_not_too_much(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    a = Agenda(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    with pytest.raises(UserError, match="Say what"):
        a.add(w.actor("Wren Halloway"), ref, "   ")
    with pytest.raises(UserError, match="500 characters"):
        a.add(w.actor("Wren Halloway"), ref, "x" * 501)
    a.add(w.actor("Wren Halloway"), ref, "x" * 500)


def test_the_agenda_button_opens_a_form_that_adds_the_item(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    a = Agenda(w.db, w.clock, w.calendars)
    wren = w.actor("Wren Halloway")
    page = a.press(wren, "agenda", str(m))
    assert isinstance(page, ShowPage)
    assert page.form.callback_id == "slis.meeting.agenda"
    metadata = page.form.private_metadata
    assert a.add_flow.submit(wren, metadata, 0, {"item": " "}) == PageErrors(
        {"item": "Say what should be discussed."}
    )
    done = a.add_flow.submit(wren, metadata, 0, {"item": "Moderation"})
    assert isinstance(done, Finished)
    assert [i.text for i in items(w, m)] == ["Moderation"]
    with pytest.raises(NotFound):
        a.press(w.actor("Hal Headley"), "agenda", str(m))


def _order(a: Agenda, w: MeetingWorld, m: int) -> tuple[ShowPage, list[int]]:
    page = a.order_form(w.actor("Juno Chairwell"), meeting(w, m).reference)
    return page, [i.id for i in items(w, m) if i.id is not None]


def test_the_chair_orders_and_publishes(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    a = Agenda(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    for who, text in (
        ("Wren Halloway", "Moderation"),
        ("ada Quickfern", "Attendance"),
        ("Elm Rushworth", "Association news"),
    ):
        a.add(w.actor(who), ref, text)
    page, (mod, att, news) = _order(a, w, m)
    fields = page.form.fields()
    assert [f.id for f in fields] == [f"pos_{mod}", f"pos_{att}", f"pos_{news}", "publish"]
    assert all(isinstance(f, NumberField) and f.max_value == 3 for f in fields[:3])
    assert [getattr(f, "initial", None) for f in fields[:3]] == [1, 2, 3]
    assert isinstance(fields[3], ChoiceField)
    juno = w.actor("Juno Chairwell")
    md = page.form.private_metadata

    clash = a.order_flow.submit(juno, md, 0, {f"pos_{mod}": 1, f"pos_{att}": 1})
    assert isinstance(clash, PageErrors) and set(clash.errors) == {f"pos_{att}"}
    assert meeting(w, m).agenda_published_at is None

    saved = a.order_flow.submit(juno, md, 0, {f"pos_{news}": 1, f"pos_{mod}": 3, "publish": "save"})
    assert isinstance(saved, Finished)
    assert meeting(w, m).agenda_published_at is None
    assert published(w, m) == ["Association news", "Moderation"]  # renumbered, attendance off
    assert {i.text: i.position for i in items(w, m)} == {
        "Moderation": 2,
        "Attendance": 0,
        "Association news": 1,
    }

    done = a.order_flow.submit(
        juno, md, 0, {f"pos_{mod}": 1, f"pos_{att}": 2, "publish": "publish"}
    )
    assert isinstance(done, Finished) and "published" in done.reply.text
    assert maybe_aware(meeting(w, m).agenda_published_at) == w.clock.now()
    assert published(w, m) == ["Moderation", "Attendance"]
    # An item put forward after the ordering follows the ordered ones; the form of the
    # earlier items, sent again, does not leave it off.
    a.add(w.actor("Corin Ashdale"), ref, "Alliance offer")
    a.order_flow.submit(juno, md, 0, {f"pos_{att}": 1, f"pos_{mod}": 2, "publish": "save"})
    assert published(w, m) == ["Attendance", "Moderation", "Alliance offer"]
    page, _ = _order(a, w, m)
    assert [getattr(f, "initial", None) for f in page.form.fields()[:4]] == [2, 1, None, 3]


def test_only_managers_order_the_agenda(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    a = Agenda(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    with pytest.raises(UserError, match="Nobody has put an item forward"):
        a.order_form(w.actor("Juno Chairwell"), ref)
    a.add(w.actor("Wren Halloway"), ref, "Moderation")
    with pytest.raises(Forbidden):
        a.order_form(w.actor("Wren Halloway"), ref)
    with pytest.raises(Forbidden):
        a.press(w.actor("Wren Halloway"), "agenda_order", str(m))
    assert isinstance(a.press(w.actor("Kit Officer"), "agenda_order", str(m)), ShowPage)


def test_the_published_agenda_goes_out_with_the_next_reminder(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    a = Agenda(w.db, w.clock, w.calendars)
    ref = meeting(w, m).reference
    a.add(w.actor("Wren Halloway"), ref, "Moderation")
    a.add(w.actor("ada Quickfern"), ref, "Attendance")
    remind = Reminding(w.db, w.clock, w.calendars)
    w.at(STARTS - timedelta(days=7))
    remind.sweep(w.clock.now())
    week = words(reply_from_json(w.outbox(f"meeting:{m}:remind:1:")[0].payload))
    assert "has not published an agenda" in week and "Moderation" not in week

    page, (mod, att) = _order(a, w, m)
    a.order_flow.submit(
        w.actor("Juno Chairwell"),
        page.form.private_metadata,
        0,
        {f"pos_{att}": 1, f"pos_{mod}": 2, "publish": "publish"},
    )
    w.at(STARTS - timedelta(days=1))
    remind.sweep(w.clock.now())
    for row in w.outbox(f"meeting:{m}:remind:2:"):
        text = words(reply_from_json(row.payload))
        assert "1. Attendance\n2. Moderation" in text
