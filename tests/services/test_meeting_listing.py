"""`/slis meeting list|show` and `/slis actions`: what each person sees of which meetings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.errors import NotFound, UserError
from bot.forms import FormValue
from bot.services.meetings.agenda import Agenda
from bot.services.meetings.listing import Listing
from bot.services.meetings.minutes import Minutes
from bot.types import Reply
from storage.engine import Database
from storage.meeting_tables import MeetingInvitee
from tests.services.meeting_world import MeetingWorld, meeting_world
from tests.services.test_meeting_reminders import STARTS, book, buttons, meeting, words


def invite(w: MeetingWorld, meeting_id: int, name: str) -> None:
    with w.db.session() as s:
        s.add(
            MeetingInvitee(
                tenant_id=w.tenant_id,
                meeting_id=meeting_id,
                person_id=w.person(name),
                source="added",
            )
        )


def listed(w: MeetingWorld, who: str) -> str:
    return words(Listing(w.db, w.clock, w.calendars).meetings(w.actor(who), ""))


def test_the_list_shows_upcoming_then_recent_meetings(db: Database) -> None:
    w = meeting_world(db)  # Mon 1 Mar 2027
    booked = book(w, title="Booked meeting")
    poll = book(w, state="polling", title="Poll meeting")
    draft = book(w, state="draft", title="Draft meeting")
    held = book(w, state="held", starts=STARTS - timedelta(days=30), title="Held lately")
    old = book(w, state="held", starts=STARTS - timedelta(days=90), title="Held long ago")
    text = listed(w, "Juno Chairwell")
    ref = {m: meeting(w, m).reference for m in (booked, poll, draft, held, old)}
    assert f"*{ref[booked]}* Booked meeting · Booked · Thu 18 Mar 2027, 16:00–17:30" in text
    assert f"*{ref[poll]}* Poll meeting · Poll open · poll closes Mon 8 Mar 2027 16:00" in text
    assert ref[draft] in text  # the chair sees their drafts
    assert f"*{ref[held]}* Held lately · Held" in text
    assert ref[old] not in text
    assert text.index("Upcoming") < text.index(ref[booked]) < text.index("Recent")
    assert text.index("Recent") < text.index(ref[held])
    # An invitee sees their answer, and not the draft.
    wren = listed(w, "Wren Halloway")
    assert (
        f"{ref[booked]}* Booked meeting · Booked · Thu 18 Mar 2027, 16:00–17:30 · you: going"
        in (wren)
    )
    assert ref[draft] not in wren


def test_other_quadrants_meetings_are_not_listed_or_shown_unless_invited(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    ref = meeting(w, m).reference
    listing = Listing(w.db, w.clock, w.calendars)
    for outsider in ("Sol Southgate", "Fenn Saltley", "Hal Headley"):
        assert ref not in listed(w, outsider)
        with pytest.raises(NotFound):
            listing.show(w.actor(outsider), ref)
    invite(w, m, "Fenn Saltley")
    assert ref in listed(w, "Fenn Saltley")
    assert ref in words(listing.show(w.actor("Fenn Saltley"), ref))
    # The county's officer and the Board see every meeting.
    assert ref in listed(w, "Kit Officer")
    assert ref in listed(w, "Bea Boardman")


def test_an_empty_list_says_what_to_do(db: Database) -> None:
    w = meeting_world(db)
    assert "`/slis meeting new` proposes one" in listed(w, "Sol Southgate")
    hal = listed(w, "Hal Headley")
    assert "no upcoming or recent meetings" in hal and "/slis meeting new" not in hal


def test_show_gives_managers_names_and_invitees_counts(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    ref = meeting(w, m).reference
    listing = Listing(w.db, w.clock, w.calendars)
    Agenda(w.db, w.clock, w.calendars).add(w.actor("Wren Halloway"), ref, "Moderation")
    chair = listing.show(w.actor("Juno Chairwell"), ref)
    text = words(chair)
    assert "Corin Ashdale: can't come" in text and "ada Quickfern: no answer yet" in text
    assert "Invitees (2 going, 1 can't come, 2 no answer yet)" in text
    assert "Agenda items put forward (not published)" in text and "1. Moderation" in text
    assert [a for a, _ in buttons(chair)] == ["slis.meeting.agenda", "slis.meeting.agenda_order"]

    ada = listing.show(w.actor("ada Quickfern"), ref)
    text = words(ada)
    assert "Corin Ashdale" not in text
    assert "*Invitees:* 2 going, 1 can't come, 2 no answer yet" in text
    assert "*You:* no answer yet" in text
    assert [a for a, _ in buttons(ada)] == [
        "slis.meeting.agenda",
        "slis.meeting.rsvp.going",
        "slis.meeting.rsvp.not_going",
    ]
    assert all(v == str(m) for _, v in buttons(ada))

    # Onlookers see it, and may do nothing.
    assert buttons(listing.show(w.actor("Bea Boardman"), ref)) == []


def test_show_of_a_held_meeting_has_its_minutes_and_actions(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    ref = meeting(w, m).reference
    w.at(STARTS + timedelta(hours=2))
    mn = Minutes(w.db, w.clock, w.calendars)
    page = mn.minutes_form(w.actor("Juno Chairwell"), ref)
    mn.flow.submit(
        w.actor("Juno Chairwell"),
        page.form.private_metadata,
        0,
        {
            "notes": "Agreed moderation dates.",
            "action_1_what": "Book the hall",
            "action_1_owner": str(w.person("Corin Ashdale")),
            "action_1_due": date(2027, 3, 24),
        },
    )
    shown = Listing(w.db, w.clock, w.calendars).show(w.actor("Wren Halloway"), ref)
    text = words(shown)
    assert "Held" in text and "Agreed moderation dates." in text
    assert "Book the hall — Corin Ashdale, due Wed 24 Mar 2027" in text
    assert buttons(shown) == []
    chair = Listing(w.db, w.clock, w.calendars).show(w.actor("Juno Chairwell"), ref)
    assert [a for a, _ in buttons(chair)] == ["slis.meeting.minutes"]


def _actions(w: MeetingWorld) -> None:
    """Two meetings' actions: West's (Wren, Corin) and South's (Fenn)."""
    west = book(w)
    south = book(
        w,
        quadrant="South",
        chair="Sol Southgate",
        rsvps={"Fenn Saltley": "going", "Wren Halloway": "going"},
        title="South quadrant meeting",
    )
    w.at(STARTS + timedelta(hours=2))
    mn = Minutes(w.db, w.clock, w.calendars)
    for m, chair, rows in (
        (
            west,
            "Juno Chairwell",
            (("Share samples", "Wren Halloway"), ("Book hall", "Corin Ashdale")),
        ),
        (
            south,
            "Sol Southgate",
            (("Send data pack", "Fenn Saltley"), ("Chase trust", "Wren Halloway")),
        ),
    ):
        page = mn.minutes_form(w.actor(chair), meeting(w, m).reference)
        values: dict[str, FormValue] = {"notes": "Notes."}
        for n, (what, owner) in enumerate(rows, start=1):
            values[f"action_{n}_what"] = what
            values[f"action_{n}_owner"] = str(w.person(owner))
            values[f"action_{n}_due"] = date(2027, 3, 24 + n)
        mn.flow.submit(w.actor(chair), page.form.private_metadata, 0, values)


def test_actions_lists_mine_with_buttons_and_my_quadrants_by_owner(db: Database) -> None:
    w = meeting_world(db)
    _actions(w)
    listing = Listing(w.db, w.clock, w.calendars)
    wren = listing.actions(w.actor("Wren Halloway"), "")
    text = words(wren)
    assert "Share samples, due Thu 25 Mar 2027" in text and "Chase trust" in text
    assert "Book hall" not in text and "quadrant" not in text.split("Your open actions")[1]
    assert len(buttons(wren)) == 2 and len({a for a, _ in buttons(wren)}) == 2

    juno = listing.actions(w.actor("Juno Chairwell"), "")
    text = words(juno)
    assert "You have no open actions." in text
    section = text.split("Open actions in your quadrant(s)")[1]
    assert "Corin Ashdale\nBook hall" in section and "Wren Halloway\nShare samples" in section
    assert "Send data pack" not in section and "Chase trust" not in section
    assert buttons(juno) == []
    assert "Open actions in your quadrant(s)" not in words(
        listing.actions(w.actor("Juno Chairwell"), "mine")
    )

    # Overdue is marked; done moves it to `/slis actions done`.
    w.at(w.clock.now() + timedelta(days=8))  # Fri 26 Mar
    assert "Share samples, due Thu 25 Mar 2027 *overdue*" in words(
        listing.actions(w.actor("Wren Halloway"), "")
    )
    mine = listing.actions(w.actor("Wren Halloway"), "")
    action_id, value = buttons(mine)[0]
    Minutes(w.db, w.clock, w.calendars).press(
        w.actor("Wren Halloway"), action_id.removeprefix("slis.meeting."), value
    )
    after = words(listing.actions(w.actor("Wren Halloway"), ""))
    assert "Share samples" not in after
    assert "Share samples, done ✓ Fri 26 Mar 2027" in words(
        listing.actions(w.actor("Wren Halloway"), "done")
    )
    with pytest.raises(UserError):
        listing.actions(w.actor("Wren Halloway"), "everything")
    assert isinstance(mine, Reply)
