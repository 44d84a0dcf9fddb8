"""What the core needs from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.types import ConversationRef, Reply


class Clock(Protocol):
    """The only source of 'now' in the core, so tests can stand on any day."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class MovableClock:
    """The real clock moved forward by hand: the sandbox's clock control. Time passes as usual
    between jumps; a jump moves it on, never back (Reset returns it to the real time)."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._base.now() + self._offset

    @property
    def offset(self) -> timedelta:
        """How far ahead of the real time this clock is."""
        with self._lock:
            return self._offset

    def move_to(self, when: datetime) -> None:
        """Stand at `when` (timezone-aware), which must not be in this clock's past."""
        if when.tzinfo is None:
            raise ValueError("the clock moves to timezone-aware times only")
        with self._lock:
            now = self._base.now() + self._offset
            if when < now:
                raise ValueError(f"the clock moves forward only ({when.isoformat()} is past)")
            self._offset += when - now

    def reset(self) -> None:
        """Back to the real time."""
        with self._lock:
            self._offset = timedelta(0)


class DeliveryFailed(Exception):
    """A platform did not take a message (or could not answer a question about one).

    `retry_after`: the platform is rate limiting; nothing on this platform should be tried
    again for that many seconds. `permanent`: trying again cannot help (unknown channel,
    revoked token...). `maybe_delivered`: the request may have reached the platform (timeout,
    5xx), so ask `already_delivered` before sending again.
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        self.maybe_delivered = maybe_delivered


class Messenger(Protocol):
    """Starts conversations on one platform: what the outbox relay sends through."""

    async def send(
        self,
        to: ConversationRef,
        reply: Reply,
        *,
        key: str | None = None,
        thread: str | None = None,
    ) -> str:
        """Post the reply; returns the platform's message id.

        With a `key` (the outbox idempotency key) the message carries it where
        `already_delivered` can find it. With a `thread` (a message id in `to`) it is posted as
        a reply in that message's thread. A reply with `files` is delivered as those files with
        the reply's text beside them; such a message may have no room for the key, and
        `already_delivered` then recognises it by its files (see there). Raises DeliveryFailed.
        """
        ...

    async def update(self, to: ConversationRef, message_id: str, reply: Reply) -> None:
        """Replace the content of the message `message_id` in `to` (sent by `send`) with the
        reply; it keeps its key. Raises DeliveryFailed (`permanent` when the message is gone
        or can no longer be edited, or when the reply has files, which an edit cannot
        carry)."""
        ...

    async def already_delivered(
        self,
        to: ConversationRef,
        key: str,
        *,
        since: datetime,
        thread: str | None = None,
        files: Sequence[str] = (),
        comment: str | None = None,
    ) -> str | None:
        """The id of a message carrying `key` posted to `to` (in the thread of `thread`, if
        given) since `since`, None if none.

        For a reply with files pass their names as `files` and the reply's text as `comment`:
        where a message with files cannot carry the key, the platform looks for the bot's
        message since `since` with exactly those files and that text instead.
        Raises DeliveryFailed when it cannot tell now (`permanent`: it never can).
        """
        ...


class ChatProfiles(Protocol):
    """Reads what a platform knows about a user, to link them to the directory."""

    async def email_of(self, workspace_id: str, user_id: str) -> str | None:
        """The profile e-mail, None if there is none; ProfileUnavailable if it can't say now."""
        ...


# --- Meeting calendars (Microsoft Graph): what the meetings core asks of a calendar service ----


@dataclass(frozen=True)
class CalendarEntry:
    """A booked meeting as an event in the organiser's calendar, on no platform in particular.

    `starts`/`ends` are aware; `zone` is the IANA zone the event is shown in; `online` asks for
    a Teams meeting (its join link comes back in CreatedEntry); `transaction_id` is stable for
    the meeting, so a creation repeated after a lost answer makes one event, not two.
    """

    subject: str
    body_html: str
    starts: datetime
    ends: datetime
    zone: str
    location: str | None
    attendees: tuple[tuple[str, str], ...]  # (name, e-mail)
    online: bool
    transaction_id: str


@dataclass(frozen=True)
class CreatedEntry:
    """What the calendar service made: the event's id, and the online meeting's join link."""

    event_id: str
    join_url: str | None


class CalendarUnavailable(Exception):
    """The calendar service refused or failed. `permanent`: trying again cannot help (no such
    mailbox, consent withdrawn); `retry_after`: seconds it asked us to wait. `reason` is for
    people to read and never carries a secret."""

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class MeetingCalendar(Protocol):
    """Creates, updates and cancels meetings in the chair's own calendar (Microsoft Graph)."""

    def configured(self, tenant_id: int) -> bool:
        """Whether the local authority has a calendar integration set up."""
        ...

    async def create(
        self, tenant_id: int, organiser_email: str, entry: CalendarEntry
    ) -> CreatedEntry:
        """Create the event in the organiser's calendar; raises CalendarUnavailable."""
        ...

    async def update(
        self, tenant_id: int, organiser_email: str, event_id: str, entry: CalendarEntry
    ) -> None:
        """Replace the event's details (the service tells its attendees)."""
        ...

    async def cancel(
        self, tenant_id: int, organiser_email: str, event_id: str, comment: str
    ) -> None:
        """Cancel the event, with `comment` to its attendees."""
        ...
