"""Quadrant meetings end to end in Slack: the issue's acceptance scenarios, driven by signed
Slack requests into the real app, with the fake Slack Web API and (for booking) a fake Graph.

The chair of West proposes on Mon 1 Mar 2027 (GMT) three times after the clocks go forward
(Sun 28 Mar), in the summer term: Tue 20 Apr 16:00, Wed 21 Apr 16:00 and Thu 22 Apr 09:00
(BST). West's invitees with a chat account are Wren Halloway, Corin Ashdale, ada Quickfern and
Elm Rushworth; Bryn Tolliver has none.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar  # type: ignore[import-untyped]
import pytest

from bot.config import GraphCredentials
from handlers.graph.calendars import GraphCalendars
from storage.engine import Database
from tests.conftest import FIXTURES
from tests.fakes.graph_api import JOIN_URL, TENANT, FakeGraphApi, fake_graph  # noqa: F401
from tests.fakes.slack_api import FakeSlackApi, Posted
from tests.graph.test_calendar import _shape as json_shape
from tests.slack.meeting_world import MeetingSlack, button_of, meeting_buttons, meeting_slack
from tests.slack.support_world import action_body, words

LONDON = ZoneInfo("Europe/London")
CHAIR = "Juno Chairwell"
SOUTH_CHAIR = "Sol Southgate"
INVITED = ("Wren Halloway", "Corin Ashdale", "ada Quickfern", "Elm Rushworth")
NOT_INVITED = ("Fenn Saltley", "Gale Ridgeway", "Hollis Marsh", "Ivo Drifting", SOUTH_CHAIR)
TITLE = "West quadrant: summer term priorities"
PAGE_ONE = {
    "title": TITLE,
    "purpose": "Locality improvement needs for the summer term.",
    "mode": "online",
    "slot_1_date": "2027-04-20",
    "slot_1_time": "16:00",
    "slot_2_date": "2027-04-21",
    "slot_2_time": "16:00",
    "slot_3_date": "2027-04-22",
    "slot_3_time": "09:00",
    "deadline_date": "2027-03-12",
    "deadline_time": "12:00",
}
DEADLINE = datetime(2027, 3, 12, 12, 0, tzinfo=LONDON)
# Votes by position in the poll (the times in order): 1 Tue 20, 2 Wed 21, 3 Thu 22.
# Tue: 2 Yes, 1 No; Wed: 2 Yes, no No (the best: as many Yes, fewer No); Thu: 2 Yes, 2 No.
VOTES = {
    "Wren Halloway": ("yes", "yes", "yes"),
    "Corin Ashdale": ("yes", "yes", "no"),
    "ada Quickfern": ("no", "if_need_be", "yes"),
    "Elm Rushworth": ("if_need_be", "if_need_be", "no"),
}
BEST_START = datetime(2027, 4, 21, 16, 0, tzinfo=LONDON)  # Wed 21 Apr 16:00 BST = 15:00 UTC


@pytest.fixture
async def ms(database_url: str, db: Database, fake_slack: FakeSlackApi) -> MeetingSlack:
    async with meeting_slack(database_url, db, fake_slack) as world:
        yield world  # type: ignore[misc]


async def propose(ms: MeetingSlack, **changes: str) -> int:
    """The chair's `/slis meeting new`, both pages sent: the new meeting's id."""
    assert await ms.slash(CHAIR, "meeting new") == {}
    page_two = await ms.submit(CHAIR, {**PAGE_ONE, **changes})
    assert page_two.get("response_action") == "update", page_two
    blocks = {b.get("block_id") for b in page_two["view"]["blocks"]}
    assert {"invitees", "add_emails"} <= blocks
    done = await ms.submit(CHAIR)
    assert done.get("response_action") == "update", done
    meeting = ms.meeting()
    assert meeting.reference in words(done["view"]["blocks"])
    assert meeting.id is not None
    return meeting.id


async def vote_all(ms: MeetingSlack, meeting_id: int) -> None:
    for name, answers in VOTES.items():
        for position, answer in enumerate(answers, start=1):
            card = ms.one(name, "poll", meeting_id)
            pressed = await ms.press(name, card, f"vote.{position}.{answer}")
            [said] = pressed.said
            assert said["replace_original"] is True, said
            # The card comes back redrawn with this answer chosen.
            chosen = [
                b
                for b in _buttons(said)
                if b["action_id"] == f"slis.meeting.vote.{position}.{answer}"
            ]
            assert chosen and chosen[0].get("style") == "primary"
    await ms.deliver()


def _buttons(message: dict[str, object]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for block in message.get("blocks") or []:  # type: ignore[union-attr]
        if block.get("type") == "actions":
            out.extend(block["elements"])
    return out


async def polled(ms: MeetingSlack) -> tuple[int, Posted]:
    """A proposed, voted and closed poll: the meeting id and the chair's pick message."""
    meeting_id = await propose(ms)
    await ms.deliver()
    await vote_all(ms, meeting_id)
    ms.at(DEADLINE.astimezone(UTC) + timedelta(minutes=1))
    counts = await ms.sweep()
    assert counts["polls_closed"] == 1
    await ms.deliver()
    return meeting_id, ms.one(CHAIR, "pick", meeting_id)


def graph_calendars(fake: FakeGraphApi) -> GraphCalendars:
    creds = GraphCredentials(
        tenant_id=TENANT,
        client_id="11111111-2222-3333-4444-555555555555",
        client_secret="client-secret-value",
        api_url=fake.api_url,
        authority_url=fake.authority_url,
        la_codes=None,
    )
    return GraphCalendars(creds, lambda _tenant: 881)


def ics_of(ms: MeetingSlack, name: str) -> list[icalendar.Calendar]:
    return [icalendar.Calendar.from_ical(f.content) for f in ms.files(name)]


# --- proposing and the poll --------------------------------------------------------------------


async def test_a_chair_of_south_cannot_create_a_meeting_for_west(ms: MeetingSlack) -> None:
    answer = await ms.slash(SOUTH_CHAIR, "meeting new West")
    text = words(answer)
    assert "Only quadrant chairs and LA officers for the quadrant may propose" in text
    assert ms.fake.calls_to("views.open") == []


async def test_bad_input_is_refused_in_the_form_with_the_field_named(ms: MeetingSlack) -> None:
    assert await ms.slash(CHAIR, "meeting new") == {}
    one_slot = {**PAGE_ONE, "slot_2_date": None, "slot_2_time": None}
    one_slot.update(slot_3_date=None, slot_3_time=None)
    errors = (await ms.submit(CHAIR, one_slot))["errors"]
    assert "slot_1_date" in errors and "between 2 and 8" in errors["slot_1_date"]

    past = {**PAGE_ONE, "slot_2_date": "2027-02-26"}
    errors = (await ms.submit(CHAIR, past))["errors"]
    assert "already passed" in errors["slot_2_date"]

    late_deadline = {**PAGE_ONE, "deadline_date": "2027-04-21"}
    errors = (await ms.submit(CHAIR, late_deadline))["errors"]
    assert "deadline_date" in errors
    assert ms.fake.posted() == []


async def test_a_three_slot_poll_reaches_exactly_the_invitees_and_the_tally_follows_the_votes(
    ms: MeetingSlack,
) -> None:
    meeting_id = await propose(ms)
    await ms.deliver()
    for name in INVITED:
        card = ms.one(name, "poll", meeting_id)
        assert len(meeting_buttons(card)) == 9  # three answers for each of three times
    for name in (*NOT_INVITED, "Bryn Tolliver"):
        assert ms.messages(name, "poll") == []
    tally = ms.one(CHAIR, "tally", meeting_id)
    assert "Bryn Tolliver" in words(tally)  # no chat account: named to the chair

    await vote_all(ms, meeting_id)
    reply = await ms.slash(CHAIR, f"meeting tally {ms.meeting(meeting_id).reference}")
    text = words(reply)
    for line in ("Yes 2 · If need be 1 · No 1", "Yes 2 · If need be 2 · No 0"):
        assert line in text, text
    # The chair's tally card was kept up to date in place.
    assert "Yes 2 · If need be 2 · No 0" in words(ms.current(tally))

    # At the deadline the best time is offered first: most Yes, then fewest No, then earliest.
    stale = button_of(ms.one("Elm Rushworth", "poll", meeting_id), "vote.1.yes")
    ms.at(DEADLINE.astimezone(UTC) + timedelta(minutes=1))
    assert (await ms.sweep())["polls_closed"] == 1
    await ms.deliver()
    pick = ms.one(CHAIR, "pick", meeting_id)
    books = [b for b in meeting_buttons(pick) if b.startswith("book.")]
    assert len(books) == 3
    first = _buttons({"blocks": pick.blocks})[0]
    assert "Wed 21 Apr 2027, 16:00" in first["text"]["text"]  # type: ignore[index]
    assert first.get("style") == "primary"
    # The poll cards now say voting has closed, without buttons; an old button changes nothing.
    closed = ms.one("Elm Rushworth", "poll", meeting_id)
    assert "Voting has closed" in words(closed) and meeting_buttons(closed) == []
    late = await ms.slack.post_click(
        action_body(
            ms.user("Elm Rushworth"),
            stale["action_id"],
            stale["value"],
            message=closed,
            response_url=ms.slack.hook("late"),
        )
    )
    assert "closed" in words(late.answer).lower()
    assert "Yes 2 · If need be 2 · No 0" in words(
        await ms.slash(CHAIR, f"meeting tally {ms.meeting(meeting_id).reference}")
    )


# --- booking, Graph and the invitations -------------------------------------------------------


async def test_booking_sends_one_invite_and_one_ics_each_and_books_the_chairs_calendar(
    ms: MeetingSlack,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    meeting_id, pick = await polled(ms)
    booked = await ms.press(
        CHAIR, pick, next(b for b in meeting_buttons(pick) if b.startswith("book."))
    )
    assert "Booked" in words(booked.answer)

    fake_graph.fail(429, times=1, retry_after=1, code="TooManyRequests", message="Slow down")
    calendars = graph_calendars(fake_graph)
    try:
        counts = await ms.publish(calendars)
    finally:
        await calendars.close()
    assert counts["calendar_created"] == 1
    posts = [c for c in fake_graph.graph_calls() if c.method == "POST"]
    assert len(posts) == 2  # the 429, retried after its Retry-After by msgraph-core
    sent = posts[-1].json
    example = json.loads((FIXTURES / "graph" / "createEvent.example1.request.json").read_text())
    assert {k: json_shape(sent[k]) for k in example} == json_shape(example)
    assert sent["isOnlineMeeting"] is True and sent["onlineMeetingProvider"] == "teamsForBusiness"
    assert sent["start"] == {"dateTime": "2027-04-21T16:00:00", "timeZone": "GMT Standard Time"}
    assert {a["emailAddress"]["name"] for a in sent["attendees"]} >= set(INVITED)

    await ms.deliver()
    for name in (*INVITED, CHAIR):
        invite = ms.one(name, "invite", meeting_id)
        assert JOIN_URL in words(invite)
        wanted = {"change", "cancel"} if name == CHAIR else {"rsvp.going", "rsvp.not_going"}
        assert wanted <= set(meeting_buttons(invite)), (name, meeting_buttons(invite))
        [calendar] = ics_of(ms, name)
        assert calendar["METHOD"] == "REQUEST"
        [event] = calendar.walk("VEVENT")
        assert event.decoded("DTSTART") == BEST_START
        assert event.decoded("DTSTART").astimezone(UTC).hour == 15  # BST, after the clock change
        assert str(event["DTSTART"].params["TZID"]) == "Europe/London"
        assert calendar.walk("VTIMEZONE")
        assert int(event["SEQUENCE"]) == 0
    assert ms.files("Bryn Tolliver") == []
    assert [m for m in ms.fake.posted("C0WEST") if "announce" in (m.key or "")]
    # Nothing twice: publishing again and another relay pass add nothing.
    assert (await ms.publish()).get("messages", 0) == 0
    assert (await ms.deliver()).posted == []


async def test_cancelling_sends_method_cancel_with_a_higher_sequence_to_everyone(
    ms: MeetingSlack,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    meeting_id, pick = await polled(ms)
    await ms.press(CHAIR, pick, next(b for b in meeting_buttons(pick) if b.startswith("book.")))
    calendars = graph_calendars(fake_graph)
    try:
        await ms.publish(calendars)
        await ms.deliver()

        reference = ms.meeting(meeting_id).reference
        assert await ms.slash(CHAIR, f"meeting cancel {reference}") == {}
        reason = "Half the quadrant is at the county conference."
        done = await ms.submit(CHAIR, {"reason": reason})
        assert done.get("response_action") == "update", done
        assert (await ms.publish(calendars))["calendar_cancelled"] == 1
    finally:
        await calendars.close()
    [cancel] = [c for c in fake_graph.graph_calls() if c.path.endswith("/cancel")]
    assert cancel.json == {"comment": reason}
    await ms.deliver()
    for name in (*INVITED, CHAIR):
        [cancellation] = ms.messages(name, "cancel", meeting_id)
        assert "county conference" in words(cancellation)
        first, last = ics_of(ms, name)
        assert last["METHOD"] == "CANCEL"
        [before], [after] = first.walk("VEVENT"), last.walk("VEVENT")
        assert str(after["UID"]) == str(before["UID"])
        assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
        assert str(after["STATUS"]) == "CANCELLED"


# --- reminders, minutes and actions -----------------------------------------------------------


async def test_reminders_fire_once_each_to_the_right_people_and_actions_until_done(
    ms: MeetingSlack,
) -> None:
    meeting_id, pick = await polled(ms)
    await ms.press(CHAIR, pick, next(b for b in meeting_buttons(pick) if b.startswith("book.")))
    await ms.publish()
    await ms.deliver()
    going = await ms.press("Wren Halloway", ms.one("Wren Halloway", "invite"), "rsvp.going")
    assert going.said and going.said[0]["replace_original"] is True
    await ms.press("ada Quickfern", ms.one("ada Quickfern", "invite"), "rsvp.not_going")

    expected = {"Wren Halloway", "Corin Ashdale", "Elm Rushworth", CHAIR}  # not ada: can't come
    for stage, before in ((1, timedelta(days=7)), (2, timedelta(days=1)), (3, timedelta(hours=1))):
        ms.at((BEST_START - before).astimezone(UTC))
        assert (await ms.sweep())["reminders"] == len(expected)
        assert (await ms.sweep())["reminders"] == 0  # once each
        await ms.deliver()
        for name in (*INVITED, CHAIR):
            got = [
                m
                for m in ms.messages(name, "remind", meeting_id)
                if f":remind:{stage}:" in (m.key or "")
            ]
            assert len(got) == (1 if name in expected else 0), (stage, name)

    # After the meeting the chair records the minutes with an action for Wren, due Fri 7 May.
    ms.at(datetime(2027, 4, 21, 17, 30, tzinfo=LONDON).astimezone(UTC))
    assert (await ms.sweep())["held"] == 1
    reference = ms.meeting(meeting_id).reference
    assert await ms.slash(CHAIR, f"meeting minutes {reference}") == {}
    wren = str(ms.county.person("Wren Halloway"))
    done = await ms.submit(
        CHAIR,
        {
            "notes": "Agreed a shared moderation day for writing.",
            "action_1_what": "Book the moderation venue",
            "action_1_owner": wren,
            "action_1_due": "2027-05-07",
        },
    )
    assert done.get("response_action") == "update", done
    await ms.deliver()
    assert "moderation day" in words(ms.one("Wren Halloway", "minutes", meeting_id))

    # Reminded once before the due date (from the school day two before it), not earlier.
    ms.at(datetime(2027, 5, 4, 12, 0, tzinfo=LONDON).astimezone(UTC))
    assert (await ms.sweep()).get("action_reminders", 0) == 0
    ms.at(datetime(2027, 5, 5, 9, 0, tzinfo=LONDON).astimezone(UTC))
    assert (await ms.sweep())["action_reminders"] == 1
    assert (await ms.sweep())["action_reminders"] == 0
    await ms.deliver()
    [reminder] = [
        m
        for m in ms.fake.posted(ms.dm("Wren Halloway"))
        if (m.key or "").endswith(":remind") and (m.key or "").startswith("meeting-action:")
    ]
    assert "Book the moderation venue" in words(await ms.slash("Wren Halloway", "actions"))
    marked = await ms.press("Wren Halloway", reminder, "done")
    assert "Done" in words(marked.answer)
    assert "You have no open actions." in words(await ms.slash("Wren Halloway", "actions"))
    assert "Book the moderation venue" in words(await ms.slash("Wren Halloway", "actions done"))
    # Done: no overdue reminder after the due date.
    ms.at(datetime(2027, 5, 10, 9, 0, tzinfo=LONDON).astimezone(UTC))
    counts = await ms.sweep()
    assert counts.get("action_reminders", 0) == 0 and counts.get("overdue_reminders", 0) == 0
