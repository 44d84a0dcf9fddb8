"""Proposing a quadrant meeting: who may, the form's two pages, its refusals by field, and the
poll cards and tally queued when it is sent.

The world stands on Mon 1 Mar 2027 09:00 (GMT); spring term runs to Thu 25 Mar, Easter
holidays to Fri 9 Apr, and Mon 3 May is the early May bank holiday. West's default invitees
are Wren Halloway, Bryn Tolliver (no chat account), Corin Ashdale, ada Quickfern and Elm
Rushworth; Juno Chairwell chairs West, Sol Southgate South, Kit Officer is a county LA officer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlmodel import col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.form_flow import Finished, PageErrors, ShowPage
from bot.forms import METADATA_LIMIT, MultiChoiceField, SelectField, validate
from bot.reply_codec import reply_from_json
from bot.services.meetings.common import poll_key, tally_key
from bot.services.meetings.proposing import CALLBACK_ID, Proposing
from bot.types import Actions, Actor, Role, ScopeKind
from handlers.slack import forms as slack_forms
from handlers.slack import render as slack_render
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee, MeetingSlot
from storage.models import aware
from tests.services.meeting_world import WEST_INVITEES, MeetingWorld, make_place, meeting_world

# Three good times after a Friday-noon deadline, in the school day.
SLOTS = (
    (date(2027, 3, 9), time(16, 0), "60"),  # Tue
    (date(2027, 3, 10), time(15, 30), "90"),  # Wed
    (date(2027, 3, 11), time(9, 0), "120"),  # Thu
)
DEADLINE = (date(2027, 3, 5), time(12, 0))  # Fri 5 Mar, noon


def page_one(
    slots: tuple[tuple[date | None, time | None, str], ...] = SLOTS,
    deadline: tuple[date, time] = DEADLINE,
    **overrides: Any,
) -> dict[str, Any]:
    """Page 1's answers as the form's parser gives them."""
    values: dict[str, Any] = {
        "title": "West quadrant: summer term priorities",
        "purpose": "Agree the locality's improvement needs with the alliances.",
        "mode": "in_person",
        "venue": "Colne Valley Primary, the hall",
        "deadline_date": deadline[0],
        "deadline_time": deadline[1],
    }
    for n, (d, t, minutes) in enumerate(slots, start=1):
        if d is not None:
            values[f"slot_{n}_date"] = d
        if t is not None:
            values[f"slot_{n}_time"] = t
        values[f"slot_{n}_minutes"] = minutes
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def service(w: MeetingWorld) -> Proposing:
    return Proposing(w.db, w.clock, w.calendars)


def first_page(w: MeetingWorld, actor: Actor, args: str = "", **values: Any) -> ShowPage:
    """Open the form and send page 1; the second page it leads to."""
    flow = service(w)
    opened = flow.open(actor, args)
    metadata = opened.form.private_metadata
    sent = page_one(**values)
    assert validate(opened.form.page(0), sent) == {}
    step = flow.submit(actor, metadata, 0, sent)
    assert isinstance(step, ShowPage), step
    assert step.page == 1
    return step


def all_ticked(page: ShowPage) -> dict[str, Any]:
    """Page 2's answers as sent without changes: every default invitee ticked."""
    field = page.form.page(1).fields[0]
    assert isinstance(field, MultiChoiceField)
    return {"invitees": list(field.initial)}


def propose(
    w: MeetingWorld, name: str = "Juno Chairwell", args: str = "", **values: Any
) -> tuple[Meeting, Finished]:
    """The whole form, sent as it comes (all invitees ticked); the meeting it made."""
    actor = w.actor(name)
    second = first_page(w, actor, args, **values)
    done = service(w).submit(actor, second.form.private_metadata, 1, all_ticked(second))
    assert isinstance(done, Finished), done
    with w.db.session() as s:
        meeting = s.exec(select(Meeting).order_by(col(Meeting.id).desc())).first()
    assert meeting is not None
    return meeting, done


def errors_of(step: object) -> Mapping[str, str]:
    assert isinstance(step, PageErrors), step
    return step.errors


# --- who may propose -----------------------------------------------------------------------------


def test_a_west_chair_proposes_and_each_west_invitee_with_chat_gets_one_poll(db: Database) -> None:
    w = meeting_world(db)
    opened = service(w).open(w.actor("Juno Chairwell"), "")
    assert opened.page == 0 and opened.form.callback_id == CALLBACK_ID
    assert "quadrant" not in opened.form.field_ids()  # Juno chairs one quadrant: West
    assert opened.form.title == "Propose a meeting"

    meeting, done = propose(w)

    assert meeting.reference == "M-2027-0001"
    assert meeting.state == "polling"
    assert meeting.quadrant_id == w.quadrant("West")
    assert meeting.chair_person_id == meeting.created_by == w.person("Juno Chairwell")
    assert aware(meeting.vote_deadline) == datetime(2027, 3, 5, 12, 0, tzinfo=UTC)
    assert (meeting.mode, meeting.venue) == ("in_person", "Colne Valley Primary, the hall")
    with w.db.session() as s:
        slots = s.exec(
            select(MeetingSlot)
            .where(MeetingSlot.meeting_id == meeting.id)
            .order_by(col(MeetingSlot.position))
        ).all()
        invitees = s.exec(
            select(MeetingInvitee).where(MeetingInvitee.meeting_id == meeting.id)
        ).all()
    assert [(s.position, aware(s.starts_at), aware(s.ends_at)) for s in slots] == [
        (1, datetime(2027, 3, 9, 16, 0, tzinfo=UTC), datetime(2027, 3, 9, 17, 0, tzinfo=UTC)),
        (2, datetime(2027, 3, 10, 15, 30, tzinfo=UTC), datetime(2027, 3, 10, 17, 0, tzinfo=UTC)),
        (3, datetime(2027, 3, 11, 9, 0, tzinfo=UTC), datetime(2027, 3, 11, 11, 0, tzinfo=UTC)),
    ]
    assert w.names(i.person_id for i in invitees) == set(WEST_INVITEES)
    assert {w.names([i.person_id]).pop(): i.source for i in invitees} == {
        "Wren Halloway": "partnership_lead",
        "Bryn Tolliver": "partnership_lead",
        "Corin Ashdale": "alliance_lead",
        "ada Quickfern": "association_rep",
        "Elm Rushworth": "association_rep",
    }

    polls = w.outbox(f"meeting:{meeting.id}:poll:")
    assert meeting.id is not None
    assert sorted(m.key for m in polls) == sorted(
        poll_key(meeting.id, w.person(n)) for n in WEST_INVITEES if n != "Bryn Tolliver"
    )
    assert w.names(m.person_id for m in polls) == set(WEST_INVITEES) - {"Bryn Tolliver"}
    # Mon 09:00 is inside the bot's hours: everything goes now.
    assert all(aware(m.not_before) == w.clock.now() for m in polls)
    tallies = w.outbox(tally_key(meeting.id))
    assert [(m.key, m.person_id) for m in tallies] == [
        (tally_key(meeting.id), w.person("Juno Chairwell"))
    ]
    assert len(w.outbox()) == 5  # four polls and the tally: nothing else

    text = done.reply.text
    assert "M-2027-0001" in text and "4 people" in text
    assert "Bryn Tolliver has no chat account" in text

    card = reply_from_json(polls[0].payload)
    rows = [b for b in card.blocks if isinstance(b, Actions)]
    assert len(rows) == 3
    assert [b.action_id for b in rows[1].buttons] == [
        "slis.meeting.vote.2.yes",
        "slis.meeting.vote.2.if_need_be",
        "slis.meeting.vote.2.no",
    ]
    assert [b.label for b in rows[1].buttons] == ["Yes", "If need be", "No"]
    assert rows[1].buttons[0].value == f"{meeting.id}:{slots[1].id}:yes"
    assert "Wed 10 Mar 2027, 15:30–17:00" in json.dumps(polls[0].payload, ensure_ascii=False)
    assert "You can change your answers until Fri 5 Mar 2027 at 12:00." in json.dumps(
        polls[0].payload, ensure_ascii=False
    )


def test_a_south_chair_cannot_propose_for_west(db: Database) -> None:
    w = meeting_world(db)
    sol = w.actor("Sol Southgate")
    flow = service(w)
    with pytest.raises(Forbidden) as refused:
        flow.open(sol, "West")
    assert refused.value.message == (
        "Only quadrant chairs and LA officers for the quadrant may propose a meeting for this"
        " quadrant (West)."
    )
    # Their own quadrant, named or not, is theirs.
    assert json.loads(flow.open(sol, "south").form.private_metadata) == {"q": w.quadrant("South")}
    assert json.loads(flow.open(sol, "").form.private_metadata) == {"q": w.quadrant("South")}
    # A form altered to name West is refused when sent, and nothing is made.
    forged = json.dumps({"q": w.quadrant("West")})
    with pytest.raises(Forbidden):
        flow.submit(sol, forged, 0, page_one())
    assert w.outbox() == []


def test_only_chairs_and_la_officers_propose(db: Database) -> None:
    w = meeting_world(db)
    for name in ("Hal Headley", "Wren Halloway", "Bea Boardman"):
        with pytest.raises(Forbidden) as refused:
            service(w).open(w.actor(name), "")
        assert refused.value.message == (
            "Only quadrant chairs and LA officers for the quadrant may propose a meeting for"
            " this quadrant."
        )


def test_an_unknown_quadrant_is_named_with_the_list(db: Database) -> None:
    w = meeting_world(db)
    with pytest.raises(NotFound) as missing:
        service(w).open(w.actor("Kit Officer"), "North")
    assert "North" in missing.value.message
    assert missing.value.hint == "Quadrants: South, West."


def test_an_la_officer_chooses_the_quadrant_and_may_propose_for_either(db: Database) -> None:
    w = meeting_world(db)
    kit = w.actor("Kit Officer")
    opened = service(w).open(kit, "")
    field = opened.form.field("quadrant")
    assert isinstance(field, SelectField)
    assert [(o.value, o.label) for o in field.options] == [
        (str(w.quadrant("South")), "South"),
        (str(w.quadrant("West")), "West"),
    ]
    # No quadrant chosen: refused on its field.
    assert "quadrant" in errors_of(service(w).submit(kit, "", 0, page_one()))

    step = service(w).submit(kit, "", 0, page_one(quadrant=str(w.quadrant("South"))))
    assert isinstance(step, ShowPage) and step.page == 1
    invite = step.form.field("invitees")
    assert isinstance(invite, MultiChoiceField)
    south = {"Fenn Saltley", "Gale Ridgeway", "Hollis Marsh", "Bryn Tolliver", "Corin Ashdale"}
    south |= {"Wren Halloway", "Elm Rushworth"}  # the county's association reps
    assert w.names(int(o.value) for o in invite.options) == south
    done = service(w).submit(kit, step.form.private_metadata, 1, all_ticked(step))
    assert isinstance(done, Finished)
    with w.db.session() as s:
        meeting = s.exec(select(Meeting)).one()
    assert meeting.quadrant_id == w.quadrant("South")
    assert meeting.chair_person_id == w.person("Kit Officer")

    west, _ = propose(w, "Kit Officer", "West")
    assert west.quadrant_id == w.quadrant("West") and west.reference == "M-2027-0002"


def test_another_local_authority_has_no_west_for_its_officer(db: Database) -> None:
    w = meeting_world(db)
    other = make_place(db, la_code=882, name="Other County")
    other.quadrant("North")
    other.person("Oona Elsewhere", (Role.LA_OFFICER, ScopeKind.COUNTY, 0))
    actor = MeetingWorld(other, w.clock, w.calendars).actor("Oona Elsewhere")
    with pytest.raises(NotFound) as missing:
        service(w).open(actor, "West")
    assert missing.value.hint == "Quadrants: North."
    opened = service(w).open(actor, "")
    assert json.loads(opened.form.private_metadata) == {"q": other.quadrants["North"]}
    # West's id, forged into the form, is not theirs to use.
    with pytest.raises(Forbidden):
        service(w).form(actor, json.dumps({"q": w.quadrant("West")}))


# --- refusals on page 1, by field -------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"slots": SLOTS[:1]}, "slot_1_date", "between 2 and 8 times"),
        ({"slots": ()}, "slot_1_date", "between 2 and 8 times"),
        (
            {"slots": (SLOTS[0], (date(2027, 2, 26), time(16, 0), "60"))},
            "slot_2_date",
            "has already passed",
        ),
        ({"deadline": (date(2027, 3, 10), time(9, 0))}, "deadline_date", "before the first"),
        ({"deadline": (date(2027, 2, 28), time(9, 0))}, "deadline_date", "already passed"),
        ({"venue": None}, "venue", "Say where you will meet"),
        ({"online_url": "teams.example.org/meet"}, "online_url", "https://"),
        (
            {"slots": (SLOTS[0], (date(2027, 3, 10), None, "60"), SLOTS[2])},
            "slot_2_time",
            "start time",
        ),
        (
            {"slots": (SLOTS[0], (None, time(10, 0), "60"), SLOTS[2])},
            "slot_2_date",
            "Give a date",
        ),
        (
            {"slots": (SLOTS[0], (SLOTS[0][0], SLOTS[0][1], "90"))},
            "slot_2_date",
            "already starts",
        ),
    ],
    ids=[
        "one slot",
        "no slot",
        "slot in the past",
        "deadline after the first slot",
        "deadline passed",
        "venue missing in person",
        "link not https",
        "date without time",
        "time without date",
        "two slots at once",
    ],
)
def test_bad_input_is_refused_with_the_field_named(
    db: Database, values: dict[str, Any], field: str, words: str
) -> None:
    w = meeting_world(db)
    juno = w.actor("Juno Chairwell")
    opened = service(w).open(juno, "")
    errors = errors_of(service(w).submit(juno, opened.form.private_metadata, 0, page_one(**values)))
    assert field in errors, errors
    assert words in errors[field]
    assert field in opened.form.field_ids()
    assert w.outbox() == []


def test_online_needs_no_venue_and_keeps_the_link(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(
        w, mode="online", venue=None, online_url="https://teams.example.org/meet/west"
    )
    assert (meeting.mode, meeting.venue) == ("online", None)
    assert meeting.online_url == "https://teams.example.org/meet/west"


def test_a_deadline_the_poll_cannot_reach_in_time_is_refused(db: Database) -> None:
    # Friday evening: the poll would only go out on Monday morning, after a Sunday deadline.
    w = meeting_world(db, datetime(2027, 3, 5, 19, 0, tzinfo=UTC))
    juno = w.actor("Juno Chairwell")
    opened = service(w).open(juno, "")
    errors = errors_of(
        service(w).submit(
            juno,
            opened.form.private_metadata,
            0,
            page_one(deadline=(date(2027, 3, 7), time(20, 0))),
        )
    )
    assert "Mon 8 Mar 2027 at 07:30" in errors["deadline_date"]


# --- page 2 ---------------------------------------------------------------------------------


def test_page_two_warns_about_the_times_and_names_who_has_no_chat(db: Database) -> None:
    w = meeting_world(db)
    slots = (
        SLOTS[0],
        (date(2027, 5, 3), time(10, 0), "60"),  # the early May bank holiday
        (date(2027, 3, 10), time(18, 30), "60"),  # after the school day
    )
    second = first_page(w, w.actor("Juno Chairwell"), slots=slots)
    intro = second.form.page(1).intro or ""
    assert "Check before you send" in intro
    assert "time 2: Mon 3 May 2027 is not a school day: bank holiday" in intro
    assert "time 3: " in intro and "outside the school day" in intro
    assert "time 1:" not in intro
    assert "Bryn Tolliver" in intro and "no chat account" in intro
    field = second.form.field("invitees")
    assert isinstance(field, MultiChoiceField)
    assert [o.label for o in field.options] == [
        "ada Quickfern",
        "Bryn Tolliver (no chat account)",
        "Corin Ashdale",
        "Elm Rushworth",
        "Wren Halloway",
    ]
    assert field.options[1].description == (
        "lead of Avon Learning Trust; lead of Harbour Triad; lead of Meadow Teachin…"
    )


def test_back_shows_page_one_with_its_answers(db: Database) -> None:
    w = meeting_world(db)
    juno = w.actor("Juno Chairwell")
    second = first_page(w, juno)
    back = service(w).back(juno, second.form.private_metadata, 0, {"invitees": []})
    assert isinstance(back, ShowPage) and back.page == 0
    assert dict(back.values) == page_one()
    assert back.values["slot_2_date"] == date(2027, 3, 10)
    assert back.values["slot_2_time"] == time(15, 30)
    assert back.values["slot_2_minutes"] == "90"
    assert back.values["title"] == "West quadrant: summer term priorities"
    # Sent again from there, it leads to page 2 as before.
    step = service(w).submit(juno, back.form.private_metadata, 0, dict(back.values))
    assert isinstance(step, ShowPage) and step.page == 1


def test_the_chair_edits_the_list_and_adds_people_by_email(db: Database) -> None:
    w = meeting_world(db)
    juno = w.actor("Juno Chairwell")
    second = first_page(w, juno)
    metadata = second.form.private_metadata
    ticked = [str(w.person(n)) for n in ("Wren Halloway", "ada Quickfern")]

    errors = errors_of(
        service(w).submit(
            juno,
            metadata,
            1,
            {"invitees": ticked, "add_emails": "fenn.saltley@schools.example.org, nobody@x.org"},
        )
    )
    assert errors == {
        "add_emails": "Not in the directory: nobody@x.org. Check the spelling, or ask your"
        " administrator to add them."
    }
    assert (
        "not e-mail addresses: fenn"
        in errors_of(
            service(w).submit(juno, metadata, 1, {"invitees": ticked, "add_emails": "fenn"})
        )["add_emails"]
    )
    assert w.outbox() == []

    done = service(w).submit(
        juno,
        metadata,
        1,
        {
            "invitees": ticked,
            "add_emails": "Fenn.Saltley@schools.example.org\nwren.halloway@schools.example.org",
        },
    )
    assert isinstance(done, Finished)
    with w.db.session() as s:
        invitees = s.exec(select(MeetingInvitee)).all()
    assert {w.names([i.person_id]).pop(): i.source for i in invitees} == {
        "Wren Halloway": "partnership_lead",
        "ada Quickfern": "association_rep",
        "Fenn Saltley": "added",
    }
    assert w.names(m.person_id for m in w.outbox("meeting:1:poll:")) == {
        "Wren Halloway",
        "ada Quickfern",
        "Fenn Saltley",
    }
    assert "3 people" in done.reply.text and "no chat account" not in done.reply.text


def test_at_least_one_person_is_invited(db: Database) -> None:
    w = meeting_world(db)
    juno = w.actor("Juno Chairwell")
    second = first_page(w, juno)
    errors = errors_of(service(w).submit(juno, second.form.private_metadata, 1, {"invitees": []}))
    assert errors == {"invitees": "Invite at least one person."}


def test_a_time_that_passes_before_sending_sends_the_chair_back_to_page_one(
    db: Database,
) -> None:
    w = meeting_world(db)
    juno = w.actor("Juno Chairwell")
    second = first_page(w, juno)
    w.at(datetime(2027, 3, 5, 12, 30, tzinfo=UTC))  # the deadline has passed meanwhile
    step = service(w).submit(juno, second.form.private_metadata, 1, all_ticked(second))
    assert isinstance(step, ShowPage) and step.page == 0
    assert "already passed" in step.errors["deadline_date"]
    assert step.values["title"] == "West quadrant: summer term priorities"
    assert w.outbox() == []


def test_a_poll_sent_out_of_hours_goes_at_the_next_school_day_opening(db: Database) -> None:
    w = meeting_world(db, datetime(2027, 3, 1, 19, 0, tzinfo=UTC))
    meeting, done = propose(w)
    due = {aware(m.not_before) for m in w.outbox()}
    assert due == {datetime(2027, 3, 2, 7, 30, tzinfo=UTC)}
    assert "at Tue 2 Mar 2027 at 07:30" in done.reply.text
    assert aware(meeting.created_at) == datetime(2027, 3, 1, 19, 0, tzinfo=UTC)


def test_references_count_up_and_long_text_still_fits_the_form(db: Database) -> None:
    w = meeting_world(db)
    juno = w.actor("Juno Chairwell")
    second = first_page(w, juno, purpose="Why we meet. " * 76)  # 988 characters
    assert len(second.form.private_metadata) <= METADATA_LIMIT
    first, _ = propose(w)
    again, _ = propose(w)
    assert (first.reference, again.reference) == ("M-2027-0001", "M-2027-0002")


def test_a_form_sent_with_no_page_one_answers_is_out_of_date(db: Database) -> None:
    w = meeting_world(db)
    juno = w.actor("Juno Chairwell")
    with pytest.raises(UserError):
        service(w).submit(juno, json.dumps({"q": w.quadrant("West")}), 1, {"invitees": []})
    with pytest.raises(UserError):
        service(w).submit(juno, "not json", 0, page_one())


def test_both_pages_and_the_cards_fit_slack(db: Database) -> None:
    """Slack's limits (blocks, metadata, texts) hold for the form's pages and the cards."""
    w = meeting_world(db)
    kit = w.actor("Kit Officer")
    opened = service(w).open(kit, "")
    assert len(slack_forms.modal(opened.form, 0)["blocks"]) <= 100
    eight = tuple((date(2027, 3, 8 + n), time(16, 0), "60") for n in range(8))
    values = page_one(
        slots=eight,
        quadrant=str(w.quadrant("West")),
        title='"Quoted" ' * 22,
        purpose='Line one,\n"two"… ' * 35,
    )
    # Too much text to carry to page 2 is refused on the longest field, not lost.
    crammed = dict(values, purpose='Line one,\n"two"… ' * 58)
    assert "shorten" in errors_of(service(w).submit(kit, "", 0, crammed))["purpose"]
    second = service(w).submit(kit, "", 0, values)
    assert isinstance(second, ShowPage), second
    view = slack_forms.modal(second.form, 1)
    assert len(view["private_metadata"]) <= 3000
    back = service(w).back(kit, second.form.private_metadata, 0, {})
    assert isinstance(back, ShowPage)
    assert len(slack_forms.modal(back.form, 0, back.values)["blocks"]) <= 100
    done = service(w).submit(kit, second.form.private_metadata, 1, all_ticked(second))
    assert isinstance(done, Finished)
    for row in w.outbox():
        rendered = slack_render.message(reply_from_json(row.payload))
        assert len(rendered["blocks"]) <= 50
