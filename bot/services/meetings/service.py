"""Quadrant meetings as the core sees them: the slices, whose buttons and forms they own, and one
sweep over the timed steps.

- proposing: `/slis meeting new`, the two-page form that sends the poll;
- voting: votes on the poll, the chair's live tally, the nudge and the close at the deadline;
- booking: booking a slot, RSVPs, changing and cancelling; publication sends what changed
  (calendar event, invitations with .ics, announcements) from the scheduler;
- agenda: items from invitees, ordered and published by the chair;
- reminding: a week, a day and an hour before; held meetings and the minutes prompt;
- minutes: the minutes and actions form, marking actions done and reminding their owners;
- listing: `/slis meeting list|show` and `/slis actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.errors import UserError
from bot.form_flow import FormFlow, ShowPage
from bot.ports import Clock
from bot.services.calendar import TenantCalendar
from bot.services.meetings.agenda import Agenda
from bot.services.meetings.booking import Booking, CancelFlow, ChangeFlow
from bot.services.meetings.listing import Listing
from bot.services.meetings.minutes import Minutes
from bot.services.meetings.proposing import Proposing
from bot.services.meetings.publication import Publication
from bot.services.meetings.reminding import Reminding
from bot.services.meetings.voting import Voting
from bot.types import Actor, Reply
from storage.engine import Database


class ButtonOwner(Protocol):
    """A slice that answers some of the meeting buttons."""

    ACTIONS: tuple[str, ...]
    IN_PLACE: tuple[str, ...]

    def press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply: ...


class Meetings:
    """Every part of quadrant meetings, built over one database, clock and calendar source."""

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.clock = clock
        self.proposing = Proposing(db, clock, calendars)
        self.voting = Voting(db, clock, calendars)
        self.booking = Booking(db, clock, calendars)
        self.publication = Publication(db, clock, calendars)
        self.agenda = Agenda(db, clock, calendars)
        self.reminding = Reminding(db, clock, calendars)
        self.minutes = Minutes(db, clock, calendars)
        self.listing = Listing(db, clock, calendars)
        owners: tuple[ButtonOwner, ...] = (self.voting, self.booking, self.agenda, self.minutes)
        self._owners = {name: owner for owner in owners for name in owner.ACTIONS}
        self.flows: tuple[FormFlow, ...] = (
            self.proposing,
            ChangeFlow(self.booking),
            CancelFlow(self.booking),
            *self.agenda.flows,
            *self.minutes.flows,
        )

    def press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """A meeting button (`action` is its action_id after `slis.meeting.`)."""
        owner = self._owners.get(action.partition(".")[0])
        if owner is None:
            raise UserError("That button is out of date: run `/slis meeting list`.")
        return owner.press(actor, action, value)

    def in_place(self, action: str) -> bool:
        """Whether the button's answer replaces the message it was on (a vote, an RSVP)."""
        owner = self._owners.get(action.partition(".")[0])
        return owner is not None and action.partition(".")[0] in owner.IN_PLACE

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """The timed steps that are due, across all local authorities: counts by step."""
        now = now or self.clock.now()
        counts: dict[str, int] = {}
        for step in (self.voting.sweep, self.reminding.sweep, self.minutes.sweep):
            for name, n in step(now).items():
                counts[name] = counts.get(name, 0) + n
        return counts
