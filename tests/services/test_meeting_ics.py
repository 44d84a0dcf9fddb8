"""The .ics invitation and cancellation for a booked meeting, read back with icalendar."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event

from bot.services.meetings.ics import (
    ICS_MEDIA_TYPE,
    Invite,
    cancel_ics,
    ics_filename,
    invite_ics,
)

LONDON = ZoneInfo("Europe/London")
JOIN = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%7d"
ATTENDEES = (
    ("Priya Shah", "priya.shah@oakfield.sch.uk"),
    ("Tom O'Neill", "t.oneill@riverside-tsa.org.uk"),
    ("Siân Jones, EPHA", "sian.jones@epha.org.uk"),
)


def make_invite(**changes: Any) -> Invite:
    invite = Invite(
        uid="meeting-42@northshire.slis",
        sequence=0,
        title="West quadrant meeting",
        description="Purpose: locality improvement needs.\nAgenda to follow.",
        # Monday 29 March 2027, the day after the clocks go forward: 10:00 BST.
        starts=datetime(2027, 3, 29, 10, 0, tzinfo=LONDON),
        ends=datetime(2027, 3, 29, 11, 30, tzinfo=LONDON),
        zone="Europe/London",
        location="Oakfield Primary School, Hall",
        url=None,
        organiser_name="Helen Carter",
        organiser_email="h.carter@westbrook.sch.uk",
        attendees=ATTENDEES,
        stamp=datetime(2027, 3, 10, 16, 5, 0, tzinfo=UTC),
    )
    return dataclasses.replace(invite, **changes)


def parse(ics: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(ics)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def text(event: Event, name: str) -> str:
    return str(event[name])


# --- The invitation ---------------------------------------------------------------------------


def test_invite_is_a_request_with_the_meeting_identity() -> None:
    calendar, event = parse(invite_ics(make_invite()))

    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == "-//SLIS Bot//Quadrant meetings//EN"
    assert text(event, "UID") == "meeting-42@northshire.slis"
    assert event["SEQUENCE"] == 0
    assert text(event, "SUMMARY") == "West quadrant meeting"
    assert text(event, "DESCRIPTION") == make_invite().description
    assert text(event, "STATUS") == "CONFIRMED"
    assert event["DTSTAMP"].dt == datetime(2027, 3, 10, 16, 5, 0, tzinfo=UTC)
    assert ICS_MEDIA_TYPE == "text/calendar"


def test_start_and_end_are_local_wall_time_with_the_london_tzid() -> None:
    raw = invite_ics(make_invite())
    _, event = parse(raw)

    for name in ("DTSTART", "DTEND"):
        assert event[name].params["TZID"] == "Europe/London"
    assert b"DTSTART;TZID=Europe/London:20270329T100000\r\n" in raw
    assert b"DTEND;TZID=Europe/London:20270329T113000\r\n" in raw
    assert event.start == datetime(2027, 3, 29, 10, 0, tzinfo=LONDON)
    assert event.end == datetime(2027, 3, 29, 11, 30, tzinfo=LONDON)


def test_the_vtimezone_has_standard_and_daylight_parts_with_the_right_offsets() -> None:
    calendar, _ = parse(invite_ics(make_invite()))

    timezones = calendar.walk("VTIMEZONE")
    assert [str(tz["TZID"]) for tz in timezones] == ["Europe/London"]
    standard = timezones[0].walk("STANDARD")
    daylight = timezones[0].walk("DAYLIGHT")
    assert standard
    assert daylight
    assert {part["TZOFFSETTO"].to_ical() for part in standard} == {"+0000"}
    assert {part["TZOFFSETTO"].to_ical() for part in daylight} == {"+0100"}
    assert {part["TZOFFSETFROM"].to_ical() for part in daylight} == {"+0000"}
    # The clocks go forward at 01:00 UTC on Sunday 28 March 2027 (02:00 local wall time).
    assert any(part["DTSTART"].dt == datetime(2027, 3, 28, 2, 0) for part in daylight)


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        # Friday before the change: GMT, so 10:00 local is 10:00 UTC.
        (datetime(2027, 3, 26, 10, 0), datetime(2027, 3, 26, 10, 0, tzinfo=UTC)),
        # Monday after the change: BST, so 10:00 local is 09:00 UTC.
        (datetime(2027, 3, 29, 10, 0), datetime(2027, 3, 29, 9, 0, tzinfo=UTC)),
        # Monday after the clocks go back on 31 October: GMT again.
        (datetime(2027, 11, 1, 10, 0), datetime(2027, 11, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_the_instant_survives_the_clock_change(local: datetime, utc: datetime) -> None:
    starts = local.replace(tzinfo=LONDON)
    invite = make_invite(starts=starts, ends=starts + timedelta(hours=1))

    for ics in (invite_ics(invite), cancel_ics(dataclasses.replace(invite, sequence=1))):
        _, event = parse(ics)
        assert event.start.astimezone(UTC) == utc
        assert event.end.astimezone(UTC) == utc + timedelta(hours=1)


def test_instants_given_in_utc_are_written_in_london_wall_time() -> None:
    invite = make_invite(
        starts=datetime(2027, 3, 29, 9, 0, tzinfo=UTC),
        ends=datetime(2027, 3, 29, 10, 30, tzinfo=UTC),
    )
    raw = invite_ics(invite)
    _, event = parse(raw)

    assert b"DTSTART;TZID=Europe/London:20270329T100000\r\n" in raw
    assert event.start == invite.starts
    assert event.end == invite.ends


def test_organiser_and_attendees() -> None:
    _, event = parse(invite_ics(make_invite()))

    organiser = event["ORGANIZER"]
    assert str(organiser) == "mailto:h.carter@westbrook.sch.uk"
    assert organiser.params["CN"] == "Helen Carter"

    attendees = event["ATTENDEE"]
    assert len(attendees) == len(ATTENDEES)
    for attendee, (name, email) in zip(attendees, ATTENDEES, strict=True):
        assert str(attendee) == f"mailto:{email}"
        assert attendee.params["CN"] == name
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendee.params["RSVP"] == "TRUE"


def test_a_single_attendee_is_still_one_attendee() -> None:
    _, event = parse(invite_ics(make_invite(attendees=ATTENDEES[:1])))

    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert [str(a) for a in attendees] == ["mailto:priya.shah@oakfield.sch.uk"]


def test_the_request_carries_a_display_alarm_an_hour_before() -> None:
    _, event = parse(invite_ics(make_invite()))

    alarms = event.walk("VALARM")
    assert len(alarms) == 1
    assert str(alarms[0]["ACTION"]) == "DISPLAY"
    assert alarms[0]["TRIGGER"].dt == timedelta(hours=-1)
    assert text(alarms[0], "DESCRIPTION") == "West quadrant meeting"


# --- Location and online link -----------------------------------------------------------------


def test_in_person_has_a_location_and_no_url() -> None:
    raw = invite_ics(make_invite())
    _, event = parse(raw)

    assert text(event, "LOCATION") == "Oakfield Primary School, Hall"
    assert "URL" not in event


def test_online_puts_the_join_link_in_url_and_location() -> None:
    _, event = parse(invite_ics(make_invite(location=None, url=JOIN)))

    assert str(event["URL"]) == JOIN
    assert text(event, "LOCATION") == JOIN


def test_a_venue_with_a_link_keeps_the_venue_as_location() -> None:
    _, event = parse(invite_ics(make_invite(url=JOIN)))

    assert text(event, "LOCATION") == "Oakfield Primary School, Hall"
    assert str(event["URL"]) == JOIN


def test_neither_venue_nor_link_leaves_both_out() -> None:
    _, event = parse(invite_ics(make_invite(location=None, url=None)))

    assert "LOCATION" not in event
    assert "URL" not in event


# --- The cancellation -------------------------------------------------------------------------


def test_cancel_has_the_same_uid_a_higher_sequence_and_no_alarm() -> None:
    booked = make_invite()
    calendar, event = parse(cancel_ics(dataclasses.replace(booked, sequence=booked.sequence + 1)))

    assert str(calendar["METHOD"]) == "CANCEL"
    assert text(event, "STATUS") == "CANCELLED"
    assert text(event, "UID") == booked.uid
    assert event["SEQUENCE"] == 1
    assert event.start == booked.starts
    assert len(event["ATTENDEE"]) == len(ATTENDEES)
    assert event.walk("VALARM") == []
    assert calendar.walk("VTIMEZONE")


# --- Text, escaping and the bytes -------------------------------------------------------------


def test_commas_semicolons_newlines_and_non_ascii_are_escaped_and_round_trip() -> None:
    title = "Café, ‘quoted’; line\nbreak"
    description = "Items: SEND; attendance, EAL\\support\nNext: Siân — 10 £ 😀"
    raw = invite_ics(make_invite(title=title, description=description))
    _, event = parse(raw)

    assert text(event, "SUMMARY") == title
    assert text(event, "DESCRIPTION") == description
    assert "SUMMARY:Café\\, ‘quoted’\\; line\\nbreak\r\n".encode() in raw


def test_bytes_are_utf8_with_crlf_and_folded_at_75_octets() -> None:
    long = "Agenda: " + "; ".join(f"item {n}, Siân’s école report" for n in range(30))
    raw = invite_ics(make_invite(description=long, location=None, url=JOIN))

    raw.decode("utf-8")
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines)
    assert b"\r" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # something was folded
    _, event = parse(raw)
    assert text(event, "DESCRIPTION") == long


def test_only_the_people_passed_appear() -> None:
    raw = invite_ics(make_invite())

    addresses = set(re.findall(rb"mailto:([^\r\n;:]+)", raw.replace(b"\r\n ", b"")))
    assert addresses == {b"h.carter@westbrook.sch.uk"} | {e.encode() for _, e in ATTENDEES}


def test_the_output_depends_only_on_the_invite() -> None:
    assert invite_ics(make_invite()) == invite_ics(make_invite())
    assert cancel_ics(make_invite(sequence=1)) == cancel_ics(make_invite(sequence=1))


printable = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")), st.sampled_from(',;:\\\n"')
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(title=printable, description=printable)
def test_any_printable_text_round_trips(title: str, description: str) -> None:
    raw = invite_ics(make_invite(title=title, description=description))
    _, event = parse(raw)

    assert text(event, "SUMMARY") == title
    assert text(event, "DESCRIPTION") == description
    assert max(len(line) for line in raw.split(b"\r\n")) <= 75


# --- Checks on the input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"starts": datetime(2027, 3, 29, 10, 0)},
        {"stamp": datetime(2027, 3, 10, 16, 5)},
        {"ends": datetime(2027, 3, 29, 9, 0, tzinfo=LONDON)},
        {"sequence": -1},
    ],
)
def test_a_naive_time_or_a_backwards_meeting_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_invite(**changes)


# --- The file name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("West quadrant meeting", "west-quadrant-meeting-2027-03-29.ics"),
        ("Café, ‘quoted’; line\nbreak", "cafe-quoted-line-break-2027-03-29.ics"),
        ("../../etc/passwd", "etc-passwd-2027-03-29.ics"),
        ("会议", "meeting-2027-03-29.ics"),
        ("", "meeting-2027-03-29.ics"),
    ],
)
def test_the_filename_is_safe_ascii(title: str, expected: str) -> None:
    assert ics_filename(title, date(2027, 3, 29)) == expected


@given(title=st.text(max_size=300))
def test_any_title_gives_a_short_safe_filename(title: str) -> None:
    name = ics_filename(title, date(2027, 3, 29))

    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*-2027-03-29\.ics", name)
    assert len(name) <= 80
