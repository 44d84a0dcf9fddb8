"""iCalendar (RFC 5545) files for a booked quadrant meeting: the invitation and the cancellation.

Pure functions: the caller passes everything, DTSTAMP included (from its clock). The event is
written in local wall time with a TZID and a VTIMEZONE generated from zoneinfo, so calendar
programs place it correctly on either side of a clock change. Folding, escaping and line endings
are icalendar's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress

ICS_MEDIA_TYPE = "text/calendar"
PRODID = "-//SLIS Bot//Quadrant meetings//EN"
REMINDER_BEFORE = timedelta(hours=1)
_FILENAME_STEM_MAX = 60


@dataclass(frozen=True)
class Invite:
    """One meeting as it goes into an .ics file; `sequence` rises with each change and on cancel."""

    uid: str
    sequence: int
    title: str
    description: str
    starts: datetime
    ends: datetime
    zone: str
    location: str | None
    url: str | None
    organiser_name: str
    organiser_email: str
    attendees: tuple[tuple[str, str], ...]
    stamp: datetime

    def __post_init__(self) -> None:
        for name in ("starts", "ends", "stamp"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        if self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        if self.sequence < 0:
            raise ValueError("sequence must not be negative")
        ZoneInfo(self.zone)  # an unknown zone fails here, not halfway through a file


def invite_ics(invite: Invite) -> bytes:
    """The invitation (METHOD:REQUEST), sent at booking and again, re-sequenced, on each change."""
    return _calendar(invite, "REQUEST")


def cancel_ics(invite: Invite) -> bytes:
    """The cancellation (METHOD:CANCEL); the caller passes the next, higher SEQUENCE."""
    return _calendar(invite, "CANCEL")


def ics_filename(title: str, starts: date) -> str:
    """A safe ASCII attachment name such as "west-quadrant-meeting-2027-03-29.ics"."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    stem = stem[:_FILENAME_STEM_MAX].rstrip("-") or "meeting"
    return f"{stem}-{starts.isoformat()}.ics"


def _calendar(invite: Invite, method: Literal["REQUEST", "CANCEL"]) -> bytes:
    zone = ZoneInfo(invite.zone)
    starts = invite.starts.astimezone(zone)
    ends = invite.ends.astimezone(zone)
    # Outlook shows LOCATION, not URL, so an online meeting without a venue shows its link there.
    location = invite.location or invite.url
    event = Event.new(
        uid=invite.uid,
        sequence=invite.sequence,
        stamp=invite.stamp,
        start=starts,
        end=ends,
        summary=invite.title,
        description=invite.description or None,
        location=location,
        url=invite.url,
        organizer=vCalAddress.new(invite.organiser_email, cn=invite.organiser_name),
        attendees=[
            vCalAddress.new(
                email,
                cn=name,
                role="REQ-PARTICIPANT",
                partstat="NEEDS-ACTION",
                rsvp=True,
            )
            for name, email in invite.attendees
        ],
    )
    event.add("status", "CONFIRMED" if method == "REQUEST" else "CANCELLED")
    if method == "REQUEST":
        alarm = Alarm.new(description=invite.title)
        alarm.add("action", "DISPLAY")
        alarm.TRIGGER = -REMINDER_BEFORE
        event.add_component(alarm)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(event)
    # The VTIMEZONE only needs to cover the event; the whole years around it give both the
    # STANDARD and the DAYLIGHT part, and keep the file small (the default spans 1970-2038).
    calendar.add_missing_timezones(
        first_date=date(starts.year, 1, 1), last_date=date(ends.year + 1, 1, 1)
    )
    ics: bytes = calendar.to_ical()  # unannotated in icalendar 7.3
    return ics
