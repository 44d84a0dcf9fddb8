"""Publishing a booked, changed or cancelled meeting: the invitations, the .ics files read back
with icalendar, the channel announcement, and the chair's calendar through a fake MeetingCalendar
(a join link used, a Retry-After honoured, a permanent failure falling back to the bot's own
invitations)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from bot.ports import CalendarEntry, CalendarUnavailable, CreatedEntry
from bot.reply_codec import reply_from_json
from bot.services.meetings.booking import Booking
from bot.services.meetings.common import next_reference
from bot.services.meetings.ics import ICS_MEDIA_TYPE
from bot.services.meetings.publication import (
    MAX_ATTEMPTS,
    Publication,
    backoff,
    publish_due,
)
from bot.types import Actions, Reply
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee, MeetingSlot
from storage.models import ChatWorkspace
from storage.outbox_tables import OutboxMessage
from tests.factories import SEEDED_AT
from tests.services.meeting_world import WEST_CHANNEL, MeetingWorld, meeting_world

LONDON = ZoneInfo("Europe/London")
JOIN = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_fake%40thread.v2/0"
# Tue 23 Mar 2027 16:00 GMT (before the clocks change) and Tue 30 Mar 2027 16:00 BST (after).
BEFORE_CHANGE = datetime(2027, 3, 23, 16, 0, tzinfo=LONDON)
AFTER_CHANGE = datetime(2027, 3, 30, 16, 0, tzinfo=LONDON)
SLOTS = (BEFORE_CHANGE, AFTER_CHANGE, datetime(2027, 3, 24, 9, 30, tzinfo=LONDON))
# The West invitees with a chat account (Bryn Tolliver has none), and the chair.
REACHED = {"Wren Halloway", "Corin Ashdale", "ada Quickfern", "Elm Rushworth", "Juno Chairwell"}


# --- the world: a West meeting being voted on, made straight in the tables ------------------


def world(db: Database) -> MeetingWorld:
    """The meeting world, with the tenant's Slack workspace (announcements need it)."""
    w = meeting_world(db)
    with db.session() as s:
        s.add(ChatWorkspace(tenant_id=w.tenant_id, platform="slack", workspace_id="T0WEST"))
    return w


def polling_meeting(
    w: MeetingWorld,
    *,
    slots: Sequence[datetime] = SLOTS,
    minutes: int = 90,
    mode: str = "in_person",
    venue: str | None = "Harbour Room, Colne Valley Primary",
    chair: str = "Juno Chairwell",
) -> tuple[int, list[int]]:
    """A West meeting in its poll, with the default invitees; (meeting id, slot ids)."""
    invitees = w.place.invitees("West")
    with w.db.session() as s:
        m = Meeting(
            tenant_id=w.tenant_id,
            reference=next_reference(s, w.tenant_id, 2027),
            quadrant_id=w.quadrant("West"),
            title="West quadrant meeting",
            purpose="Locality school improvement needs for the summer term.",
            mode=mode,
            venue=venue,
            created_by=w.person(chair),
            chair_person_id=w.person(chair),
            state="polling",
            vote_deadline=datetime(2027, 3, 12, 16, 0, tzinfo=UTC),
            created_at=SEEDED_AT,
            updated_at=SEEDED_AT,
        )
        s.add(m)
        s.flush()
        assert m.id is not None
        slot_ids: list[int] = []
        for position, starts in enumerate(slots, start=1):
            slot = MeetingSlot(
                tenant_id=w.tenant_id,
                meeting_id=m.id,
                starts_at=starts.astimezone(UTC),
                ends_at=(starts + timedelta(minutes=minutes)).astimezone(UTC),
                position=position,
            )
            s.add(slot)
            s.flush()
            assert slot.id is not None
            slot_ids.append(slot.id)
        for i in invitees:
            s.add(
                MeetingInvitee(
                    tenant_id=w.tenant_id, meeting_id=m.id, person_id=i.person_id, source=i.source
                )
            )
        return m.id, slot_ids


def services(w: MeetingWorld) -> tuple[Booking, Publication]:
    return Booking(w.db, w.clock, w.calendars), Publication(w.db, w.clock, w.calendars)


def booked_meeting(w: MeetingWorld, slot: int = 0, **kwargs: Any) -> tuple[int, list[int]]:
    """A West meeting booked by its chair at SLOTS[slot], not yet published."""
    meeting_id, slot_ids = polling_meeting(w, **kwargs)
    booking, _ = services(w)
    booking.press(w.actor("Juno Chairwell"), "book.1", f"{meeting_id}:{slot_ids[slot]}")
    return meeting_id, slot_ids


def meeting(w: MeetingWorld, meeting_id: int) -> Meeting:
    with w.db.session() as s:
        m = s.get(Meeting, meeting_id)
        assert m is not None
        return m


def reply_of(row: OutboxMessage) -> Reply:
    return reply_from_json(row.payload)


def ics_of(row: OutboxMessage) -> tuple[Calendar, Event]:
    reply = reply_of(row)
    assert len(reply.files) == 1
    file = reply.files[0]
    assert file.media_type == ICS_MEDIA_TYPE
    assert file.filename.endswith(".ics")
    calendar = Calendar.from_ical(file.content)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def by_person(w: MeetingWorld, rows: list[OutboxMessage]) -> dict[str, OutboxMessage]:
    found = {w.names([r.person_id]).pop(): r for r in rows if r.person_id is not None}
    assert len(found) == len(rows)
    return found


def button_ids(reply: Reply) -> list[str]:
    return [
        b.action_id for block in reply.blocks if isinstance(block, Actions) for b in block.buttons
    ]


class FakeCalendar:
    """A MeetingCalendar that records its calls and fails as told."""

    def __init__(self, *, configured: bool = True) -> None:
        self.is_configured = configured
        self.calls: list[tuple[str, str, Any]] = []
        self.failures: list[CalendarUnavailable] = []
        self.made = 0

    def configured(self, tenant_id: int) -> bool:
        return self.is_configured

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def create(
        self, tenant_id: int, organiser_email: str, entry: CalendarEntry
    ) -> CreatedEntry:
        self.calls.append(("create", organiser_email, entry))
        self._maybe_fail()
        self.made += 1
        return CreatedEntry(event_id=f"AAMkEvent{self.made}", join_url=JOIN)

    async def update(
        self, tenant_id: int, organiser_email: str, event_id: str, entry: CalendarEntry
    ) -> None:
        self.calls.append(("update", organiser_email, (event_id, entry)))
        self._maybe_fail()

    async def cancel(
        self, tenant_id: int, organiser_email: str, event_id: str, comment: str
    ) -> None:
        self.calls.append(("cancel", organiser_email, (event_id, comment)))
        self._maybe_fail()


# --- the bot's own invitations ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("slot", "utc_hour"),
    [(0, 16), (1, 15)],
    ids=["GMT before the clock change", "BST after the clock change"],
)
def test_each_person_with_chat_gets_one_invitation_and_one_ics(
    db: Database, slot: int, utc_hour: int
) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w, slot)
    _, publication = services(w)

    [pending] = publication.due(w.clock.now())
    assert (pending.kind, pending.sequence) == ("create", 0)
    added = publication.published(meeting_id, 0, event_id=None, join_url=None)

    invites = w.outbox(f"meeting:{meeting_id}:invite:0:")
    files = w.outbox(f"meeting:{meeting_id}:ics:0:")
    assert added == len(invites) + len(files) + 1  # and the announcement
    assert w.names(r.person_id for r in invites) == REACHED
    assert w.names(r.person_id for r in files) == REACHED
    assert len(invites) == len(files) == len(REACHED)
    # Each person's .ics row comes right after their invitation, due when the bot may speak.
    ids = {r.person_id: r.id for r in invites}
    assert all(f.id == ids[f.person_id] + 1 for f in files)  # type: ignore[operator]
    assert {r.not_before.replace(tzinfo=UTC) for r in invites + files} == {
        w.calendar().next_slot(w.clock.now())
    }

    starts = SLOTS[slot]
    for row in files:
        calendar, event = ics_of(row)
        assert str(calendar["METHOD"]) == "REQUEST"
        assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/London"]
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        assert event["DTSTART"].dt == starts
        assert event["DTSTART"].dt.astimezone(UTC).hour == utc_hour
        assert event["DTEND"].dt == starts + timedelta(minutes=90)
        assert int(event["SEQUENCE"]) == 0
        assert str(event["UID"]) == f"M-2027-0001-{w.tenant_id}@slis-bot"
        assert str(event["LOCATION"]) == "Harbour Room, Colne Valley Primary"
        attendees = {str(a).lower() for a in event.get("ATTENDEE")}
        assert "mailto:bryn.tolliver@schools.example.org" in attendees  # e-mail, not chat
        assert "mailto:juno.chairwell@schools.example.org" in str(event["ORGANIZER"]).lower()

    m = meeting(w, meeting_id)
    assert (m.sent_sequence, m.ics_sequence) == (0, 0)
    assert publication.due(w.clock.now()) == []


def test_invitation_card_has_rsvp_buttons_and_the_chair_manages(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w, 1)
    _, publication = services(w)
    publication.published(meeting_id, 0, event_id=None, join_url=None)

    cards = by_person(w, w.outbox(f"meeting:{meeting_id}:invite:0:"))
    wren = reply_of(cards["Wren Halloway"])
    assert "Tue 30 Mar 2027, 16:00–17:30" in wren.text
    assert "Harbour Room" in wren.text
    assert button_ids(wren) == ["slis.meeting.rsvp.going", "slis.meeting.rsvp.not_going"]
    assert all(
        b.value == str(meeting_id)
        for block in wren.blocks
        if isinstance(block, Actions)
        for b in block.buttons
    )
    # The agenda closes 5 days (120 hours) before the start, shown in local time: across the
    # clock change that is 15:00 GMT.
    assert any("Thu 25 Mar 2027, 15:00" in str(b) for b in wren.blocks)
    chair = reply_of(cards["Juno Chairwell"])  # the organiser, not an invitee: no RSVP
    assert button_ids(chair) == ["slis.meeting.change", "slis.meeting.cancel"]


def test_the_quadrant_channel_gets_one_announcement(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    _, publication = services(w)
    publication.published(meeting_id, 0, event_id=None, join_url=None)
    publication.published(meeting_id, 0, event_id=None, join_url=None)

    [row] = w.outbox(f"meeting:{meeting_id}:announce:")
    assert row.key == f"meeting:{meeting_id}:announce:0"
    assert (row.platform, row.workspace_id, row.conversation_id) == (
        "slack",
        "T0WEST",
        WEST_CHANNEL,
    )
    assert row.person_id is None
    reply = reply_of(row)
    assert reply.files == ()
    assert button_ids(reply) == []
    assert "Meeting booked: West quadrant meeting" in reply.text


def test_no_announcement_without_a_workspace_for_the_channel(db: Database) -> None:
    w = meeting_world(db)  # no ChatWorkspace row
    meeting_id, _ = booked_meeting(w)
    _, publication = services(w)
    publication.published(meeting_id, 0, event_id=None, join_url=None)
    assert w.outbox(f"meeting:{meeting_id}:announce:") == []
    assert len(w.outbox(f"meeting:{meeting_id}:invite:")) == len(REACHED)


def test_publishing_twice_adds_nothing(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    _, publication = services(w)
    first = publication.published(meeting_id, 0, event_id=None, join_url=None)
    rows = len(w.outbox())
    assert first == 2 * len(REACHED) + 1
    assert publication.published(meeting_id, 0, event_id=None, join_url=None) == 0
    assert len(w.outbox()) == rows


async def test_publish_due_without_a_calendar_sends_the_bots_own_invitations(
    db: Database,
) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    _, publication = services(w)
    unconfigured = FakeCalendar(configured=False)

    done = await publish_due(publication, unconfigured, w.clock.now())

    assert done == {"published": 1, "messages": 2 * len(REACHED) + 1}
    assert unconfigured.calls == []
    assert await publish_due(publication, None, w.clock.now()) == {}
    assert meeting(w, meeting_id).graph_event_id is None


# --- the chair's calendar (a fake MeetingCalendar) ------------------------------------------


async def test_an_online_meeting_goes_into_the_chairs_calendar_and_its_join_link_is_used(
    db: Database,
) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w, 1, mode="online", venue=None)
    _, publication = services(w)
    calendar = FakeCalendar()

    done = await publish_due(publication, calendar, w.clock.now())

    assert done["calendar_created"] == 1
    [(call, organiser, entry)] = calendar.calls
    assert call == "create"
    assert organiser == "juno.chairwell@schools.example.org"
    assert isinstance(entry, CalendarEntry)
    assert entry.online is True
    assert entry.zone == "Europe/London"
    assert entry.starts == AFTER_CHANGE
    assert entry.transaction_id == f"slis-{w.tenant_id}-{meeting_id}"
    assert len(entry.transaction_id) <= 40
    assert {name for name, _ in entry.attendees} == REACHED - {"Juno Chairwell"} | {"Bryn Tolliver"}
    m = meeting(w, meeting_id)
    assert (m.graph_event_id, m.online_url, m.sent_sequence) == ("AAMkEvent1", JOIN, 0)
    for row in w.outbox(f"meeting:{meeting_id}:invite:0:"):
        assert JOIN in reply_of(row).text
    for row in w.outbox(f"meeting:{meeting_id}:ics:0:"):
        _, event = ics_of(row)
        assert str(event["URL"]) == JOIN


async def test_a_change_updates_the_event_and_a_cancel_cancels_it(db: Database) -> None:
    w = world(db)
    meeting_id, slot_ids = booked_meeting(w)
    booking, publication = services(w)
    calendar = FakeCalendar()
    await publish_due(publication, calendar, w.clock.now())

    booking.press(w.actor("Juno Chairwell"), "book.2", f"{meeting_id}:{slot_ids[1]}")
    done = await publish_due(publication, calendar, w.clock.now())
    assert done["calendar_updated"] == 1
    call, _, (event_id, entry) = calendar.calls[-1]
    assert (call, event_id, entry.starts) == ("update", "AAMkEvent1", AFTER_CHANGE)

    booking.cancel(w.actor("Juno Chairwell"), meeting_id, "The heads' conference moved.")
    done = await publish_due(publication, calendar, w.clock.now())
    assert done["calendar_cancelled"] == 1
    assert calendar.calls[-1] == (
        "cancel",
        "juno.chairwell@schools.example.org",
        ("AAMkEvent1", "The heads' conference moved."),
    )
    assert [c[0] for c in calendar.calls] == ["create", "update", "cancel"]
    assert meeting(w, meeting_id).sent_sequence == 2


async def test_a_retry_after_defers_the_meeting_and_the_next_try_succeeds(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    _, publication = services(w)
    calendar = FakeCalendar()
    calendar.failures.append(CalendarUnavailable("Graph answered 429", retry_after=300))
    now = w.clock.now()

    done = await publish_due(publication, calendar, now)

    assert done == {"calendar_deferred": 1}
    m = meeting(w, meeting_id)
    assert m.publish_attempts == 1
    assert m.publish_problem == "Graph answered 429"
    assert m.publish_after is not None
    assert m.publish_after.replace(tzinfo=UTC) == now + timedelta(seconds=300)
    assert w.outbox() == []
    assert publication.due(now + timedelta(seconds=299)) == []

    w.clock.advance(seconds=300)
    done = await publish_due(publication, calendar, w.clock.now())
    assert done["calendar_created"] == 1 and done["published"] == 1
    m = meeting(w, meeting_id)
    assert (m.graph_event_id, m.publish_attempts, m.publish_after) == ("AAMkEvent1", 0, None)
    assert m.publish_problem is None
    assert len(w.outbox(f"meeting:{meeting_id}:invite:0:")) == len(REACHED)


async def test_a_permanent_failure_falls_back_to_the_bots_invitations_and_tells_the_chair_once(
    db: Database,
) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w, mode="online", venue=None)
    _, publication = services(w)
    calendar = FakeCalendar()
    calendar.failures.append(
        CalendarUnavailable("the chair's mailbox was not found", permanent=True)
    )

    done = await publish_due(publication, calendar, w.clock.now())

    assert done == {"calendar_gave_up": 1}
    m = meeting(w, meeting_id)
    assert (m.sent_sequence, m.graph_event_id, m.online_url) == (0, None, None)
    assert m.publish_problem == "the chair's mailbox was not found"
    assert len(w.outbox(f"meeting:{meeting_id}:invite:0:")) == len(REACHED)
    for row in w.outbox(f"meeting:{meeting_id}:ics:0:"):
        calendar_file, _ = ics_of(row)
        assert str(calendar_file["METHOD"]) == "REQUEST"
    [told] = w.outbox(f"meeting:{meeting_id}:calendar-problem:")
    assert w.names([told.person_id]) == {"Juno Chairwell"}
    assert "mailbox was not found" in reply_of(told).text

    assert await publish_due(publication, calendar, w.clock.now()) == {}
    assert publication.failed(meeting_id, 0, "again", retry_after=None, permanent=True) is False
    assert len(w.outbox(f"meeting:{meeting_id}:calendar-problem:")) == 1


async def test_after_max_attempts_the_bot_gives_up_on_the_calendar(db: Database) -> None:
    w = world(db)
    meeting_id, _ = booked_meeting(w)
    _, publication = services(w)
    calendar = FakeCalendar()
    calendar.failures.extend(CalendarUnavailable("Graph answered 503") for _ in range(10))

    waits: list[timedelta] = []
    for _ in range(MAX_ATTEMPTS - 1):
        done = await publish_due(publication, calendar, w.clock.now())
        assert done == {"calendar_deferred": 1}
        after = meeting(w, meeting_id).publish_after
        assert after is not None
        waits.append(after.replace(tzinfo=UTC) - w.clock.now())
        w.clock.current = after.replace(tzinfo=UTC)
    assert waits == [timedelta(minutes=n) for n in (1, 2, 4, 8)]

    done = await publish_due(publication, calendar, w.clock.now())
    assert done == {"calendar_gave_up": 1}
    assert len(calendar.calls) == MAX_ATTEMPTS
    assert meeting(w, meeting_id).sent_sequence == 0
    assert len(w.outbox(f"meeting:{meeting_id}:calendar-problem:0")) == 1


def test_backoff_doubles_up_to_half_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3, 6, 7, 20)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 30, 30, 30)
    ]


def test_an_event_made_for_an_overtaken_sequence_is_kept_and_the_latest_goes_out(
    db: Database,
) -> None:
    w = world(db)
    meeting_id, slot_ids = booked_meeting(w)
    booking, publication = services(w)
    [pending] = publication.due(w.clock.now())
    # The chair moves the meeting while the calendar is creating the first booking's event.
    booking.press(w.actor("Juno Chairwell"), "book.2", f"{meeting_id}:{slot_ids[1]}")

    assert (
        publication.published(meeting_id, pending.sequence, event_id="AAMkOld", join_url=None) == 0
    )
    m = meeting(w, meeting_id)
    assert (m.graph_event_id, m.sent_sequence, m.ics_sequence) == ("AAMkOld", -1, 1)
    assert w.outbox(f"meeting:{meeting_id}:invite:") == []

    [latest] = publication.due(w.clock.now())
    assert (latest.sequence, latest.kind, latest.graph_event_id) == (1, "create", "AAMkOld")
    publication.published(meeting_id, 1, event_id=None, join_url=None)
    invites = w.outbox(f"meeting:{meeting_id}:invite:")
    assert {r.key.split(":")[3] for r in invites} == {"1"}
    # The first invitation anyone gets is not labelled as an update.
    assert not reply_of(invites[0]).text.startswith("Updated")
