"""Reminders a week, a day and an hour before a booked meeting, once each, to those going or
not yet answered and the chair; a late booking gets only the stage still fresh; and a meeting
that is over becomes held, with a prompt to record the minutes.

Also the booked-meeting helper the other follow-up tests use (meetings are made straight in
the tables, as the booking slice would leave them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.reply_codec import reply_from_json
from bot.services.meetings.common import next_reference
from bot.services.meetings.reminding import Reminding
from bot.types import (
    Actions,
    Block,
    BulletList,
    Context,
    Fields,
    Heading,
    Paragraph,
    Reply,
    Role,
    ScopeKind,
)
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee
from storage.models import aware
from storage.outbox_tables import OutboxMessage
from tests.factories import SEEDED_AT
from tests.services.meeting_world import MeetingWorld, make_place, meeting_world

# Thu 18 Mar 2027, 16:00-17:30 (GMT: London time is UTC).
STARTS = datetime(2027, 3, 18, 16, 0, tzinfo=UTC)
RSVPS: dict[str, str | None] = {
    "Wren Halloway": "going",
    "Bryn Tolliver": None,  # no chat account
    "Corin Ashdale": "not_going",
    "ada Quickfern": None,
    "Elm Rushworth": "going",
}


def book(
    w: MeetingWorld,
    *,
    starts: datetime = STARTS,
    minutes: int = 90,
    rsvps: dict[str, str | None] | None = None,
    quadrant: str = "West",
    chair: str = "Juno Chairwell",
    note_taker: str | None = None,
    state: str = "booked",
    sent_sequence: int = 0,
    title: str = "West quadrant meeting",
) -> int:
    """A meeting as the booking slice leaves it (invitations sent); its id."""
    with w.db.session() as s:
        meeting = Meeting(
            tenant_id=w.tenant_id,
            reference=next_reference(s, w.tenant_id, 2027),
            quadrant_id=w.quadrant(quadrant),
            title=title,
            purpose="Locality improvement needs for the summer term",
            mode="in_person",
            venue="Colne Valley Library, Room 2",
            created_by=w.person(chair),
            chair_person_id=w.person(chair),
            note_taker_person_id=None if note_taker is None else w.person(note_taker),
            state=state,
            vote_deadline=starts - timedelta(days=10),
            starts_at=None if state in ("polling", "draft") else starts,
            ends_at=None if state in ("polling", "draft") else starts + timedelta(minutes=minutes),
            ics_sequence=0,
            sent_sequence=sent_sequence,
            created_at=SEEDED_AT,
            updated_at=SEEDED_AT,
        )
        s.add(meeting)
        s.flush()
        assert meeting.id is not None
        for name, rsvp in (RSVPS if rsvps is None else rsvps).items():
            s.add(
                MeetingInvitee(
                    tenant_id=w.tenant_id,
                    meeting_id=meeting.id,
                    person_id=w.person(name),
                    source="added",
                    rsvp=rsvp,
                )
            )
        return meeting.id


def meeting(w: MeetingWorld, meeting_id: int) -> Meeting:
    with w.db.session() as s:
        found = s.get(Meeting, meeting_id)
        assert found is not None
        return found


def words(reply: Reply) -> str:
    """Everything a reply says, as one text."""
    out: list[str] = [reply.text]

    def one(b: Block) -> None:
        match b:
            case Heading(text) | Paragraph(text) | Context(text):
                out.append(text)
            case Fields(pairs):
                out.extend(f"{k}: {v}" for k, v in pairs)
            case BulletList(items, title):
                out.extend([title or "", *items])
            case Actions(buttons):
                out.extend(x.label for x in buttons)

    for b in reply.blocks:
        one(b)
    return "\n".join(out)


def buttons(reply: Reply) -> list[tuple[str, str]]:
    return [
        (x.action_id, x.value) for b in reply.blocks if isinstance(b, Actions) for x in b.buttons
    ]


def rows(w: MeetingWorld, prefix: str) -> list[OutboxMessage]:
    return w.outbox(prefix)


def to(w: MeetingWorld, found: list[OutboxMessage]) -> set[str]:
    return w.names(r.person_id for r in found)


def test_reminders_go_a_week_a_day_and_an_hour_before_once_each(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    remind = Reminding(w.db, w.clock, w.calendars)
    assert remind.sweep(w.clock.now())["reminders"] == 0

    stages = (
        (1, STARTS - timedelta(days=7)),
        (2, STARTS - timedelta(days=1)),
        (3, STARTS - timedelta(hours=1)),
    )
    for stage, when in stages:
        w.at(when - timedelta(minutes=1))
        assert remind.sweep(w.clock.now())["reminders"] == 0
        w.at(when)
        counts = remind.sweep(w.clock.now())
        assert counts["reminded"] == 1 and counts["reminders"] == 4
        sent = rows(w, f"meeting:{m}:remind:{stage}:")
        # Going, not answered (with a chat account) and the chair; never those who can't come.
        assert to(w, sent) == {"Wren Halloway", "ada Quickfern", "Elm Rushworth", "Juno Chairwell"}
        assert {r.key for r in sent} == {
            f"meeting:{m}:remind:{stage}:0:{r.person_id}" for r in sent
        }
        assert all(aware(r.not_before) == when for r in sent)  # a school day, in hours
        assert meeting(w, m).reminders_sent == stage
        # Once each: the next sweep sends nothing.
        assert remind.sweep(w.clock.now())["reminders"] == 0
        assert len(rows(w, f"meeting:{m}:remind:")) == 4 * stage


def test_only_those_who_have_not_answered_get_the_rsvp_buttons(db: Database) -> None:
    w = meeting_world(db)
    m = book(w)
    w.at(STARTS - timedelta(days=1))
    Reminding(w.db, w.clock, w.calendars).sweep(w.clock.now())
    by_name = {
        n: reply_from_json(r.payload)
        for r in rows(w, f"meeting:{m}:remind:")
        for n in w.names([r.person_id])
    }
    ada = by_name["ada Quickfern"]
    assert buttons(ada) == [
        ("slis.meeting.rsvp.going", str(m)),
        ("slis.meeting.rsvp.not_going", str(m)),
    ]
    assert buttons(by_name["Wren Halloway"]) == []
    assert buttons(by_name["Juno Chairwell"]) == []
    text = words(ada)
    assert "West quadrant meeting" in text and "tomorrow" in text
    assert "Thu 18 Mar 2027, 16:00–17:30" in text
    assert "Colne Valley Library, Room 2" in text
    assert "has not published an agenda" in text


def test_a_reminder_waits_for_school_hours_but_never_past_the_start(db: Database) -> None:
    w = meeting_world(db)
    # Mon 15 Mar 09:00: the day-before reminder falls on a Sunday and waits for Monday 07:30.
    monday = book(w, starts=datetime(2027, 3, 15, 9, 0, tzinfo=UTC))
    # Sun 14 Mar 12:00 (a weekend event): the next school-day slot is after it, so at once.
    sunday = book(w, starts=datetime(2027, 3, 14, 12, 0, tzinfo=UTC))
    remind = Reminding(w.db, w.clock, w.calendars)
    w.at(datetime(2027, 3, 14, 9, 0, tzinfo=UTC))
    remind.sweep(w.clock.now())
    assert {aware(r.not_before) for r in rows(w, f"meeting:{monday}:remind:2:")} == {
        datetime(2027, 3, 15, 7, 30, tzinfo=UTC)
    }
    w.at(datetime(2027, 3, 13, 12, 0, tzinfo=UTC))
    remind.sweep(w.clock.now())
    assert {aware(r.not_before) for r in rows(w, f"meeting:{sunday}:remind:2:")} == {w.clock.now()}


def test_a_late_booking_gets_only_the_stage_still_fresh(db: Database) -> None:
    w = meeting_world(db)  # Mon 1 Mar 09:00
    two_days = book(w, starts=datetime(2027, 3, 3, 16, 0, tzinfo=UTC))
    twenty_hours = book(w, starts=datetime(2027, 3, 2, 5, 0, tzinfo=UTC))
    remind = Reminding(w.db, w.clock, w.calendars)
    remind.sweep(w.clock.now())
    assert rows(w, f"meeting:{two_days}:remind:") == []
    # Stages 1 and 2 have both passed their time: only the day-before one goes.
    assert {r.key.split(":")[3] for r in rows(w, f"meeting:{twenty_hours}:remind:")} == {"2"}

    w.at(datetime(2027, 3, 2, 16, 0, tzinfo=UTC))
    remind.sweep(w.clock.now())
    assert {r.key.split(":")[3] for r in rows(w, f"meeting:{two_days}:remind:")} == {"2"}
    w.at(datetime(2027, 3, 3, 15, 0, tzinfo=UTC))
    remind.sweep(w.clock.now())
    assert {r.key.split(":")[3] for r in rows(w, f"meeting:{two_days}:remind:")} == {"2", "3"}


def test_no_reminders_before_the_invitations_or_for_cancelled_meetings(db: Database) -> None:
    w = meeting_world(db)
    unsent = book(w, sent_sequence=-1)
    cancelled = book(w, state="cancelled")
    w.at(STARTS - timedelta(days=1))
    Reminding(w.db, w.clock, w.calendars).sweep(w.clock.now())
    assert rows(w, f"meeting:{unsent}:") == []
    assert rows(w, f"meeting:{cancelled}:") == []


def test_reminders_stay_in_their_own_local_authority(db: Database) -> None:
    w = meeting_world(db)
    west = book(w)
    other = make_place(db, la_code=882, name="Other County")
    other.quadrant("North")
    chair = other.person(
        "Olive Otherton", (Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, other.quadrants["North"])
    )
    lead = other.person("Pip Elsewhere")
    with db.session() as s:
        north = Meeting(
            tenant_id=other.tenant_id,
            reference=next_reference(s, other.tenant_id, 2027),
            quadrant_id=other.quadrants["North"],
            title="North quadrant meeting",
            created_by=chair,
            chair_person_id=chair,
            state="booked",
            vote_deadline=STARTS - timedelta(days=10),
            starts_at=STARTS,
            ends_at=STARTS + timedelta(hours=1),
            sent_sequence=0,
            created_at=SEEDED_AT,
            updated_at=SEEDED_AT,
        )
        s.add(north)
        s.flush()
        assert north.id is not None
        s.add(
            MeetingInvitee(
                tenant_id=other.tenant_id, meeting_id=north.id, person_id=lead, source="added"
            )
        )
        north_id = north.id
    w.at(STARTS - timedelta(days=1))
    counts = Reminding(w.db, w.clock, w.calendars).sweep(w.clock.now())
    assert counts["reminded"] == 2
    assert {r.person_id for r in rows(w, f"meeting:{north_id}:remind:")} == {chair, lead}
    west_rows = rows(w, f"meeting:{west}:remind:")
    assert {r.tenant_id for r in west_rows} == {w.tenant_id}
    assert not {chair, lead} & {r.person_id for r in west_rows}


def test_a_meeting_over_is_held_and_the_chair_and_note_taker_asked_for_minutes(
    db: Database,
) -> None:
    w = meeting_world(db)
    m = book(w, note_taker="Elm Rushworth")
    later = book(w, starts=STARTS + timedelta(days=1))
    remind = Reminding(w.db, w.clock, w.calendars)
    w.at(STARTS + timedelta(minutes=89))
    assert remind.sweep(w.clock.now())["held"] == 0
    w.at(STARTS + timedelta(minutes=90))
    counts = remind.sweep(w.clock.now())
    assert counts["held"] == 1 and counts["minutes_prompts"] == 2
    assert meeting(w, m).state == "held"
    assert meeting(w, later).state == "booked"
    prompts = rows(w, f"meeting:{m}:minutes-prompt")
    assert to(w, prompts) == {"Juno Chairwell", "Elm Rushworth"}
    assert {r.key for r in prompts} == {
        f"meeting:{m}:minutes-prompt:{r.person_id}" for r in prompts
    }
    assert buttons(reply_from_json(prompts[0].payload)) == [("slis.meeting.minutes", str(m))]
    assert remind.sweep(w.clock.now()) == {
        "reminded": 0,
        "reminders": 0,
        "held": 0,
        "minutes_prompts": 0,
    }
