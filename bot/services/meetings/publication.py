"""Sending out a booked, changed or cancelled meeting: the chair's calendar event (Microsoft Graph,
where configured) and everyone's invitation with its .ics file.

A booked or cancelled meeting whose `sent_sequence` is behind its `ics_sequence` has news to
send. The scheduler asks for `due` meetings; for each it puts the event in the chair's calendar
(if the tenant has a calendar integration) and then calls `published`, which in one transaction
records the sequence as sent and writes every message into the outbox: an invitation (or a
cancellation) and a separate .ics row for each person with a chat account, and one
announcement in the quadrant's channel. The outbox keys carry the sequence, so a repeat adds
nothing. When the calendar fails, `failed` defers the next try (honouring Retry-After, with
backoff); when it fails for good, or too often, the bot gives up on the calendar, sends its
own invitations anyway and tells the chair why, once. Nothing is ever dropped.

`publish_due` is that loop, for the scheduler (no platform imports; database work in threads).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_
from sqlmodel import Session, col, select

from bot.ports import CalendarEntry, CalendarUnavailable, Clock, MeetingCalendar
from bot.replies import meetings_booking as present
from bot.services.calendar import TenantCalendar
from bot.services.meetings import ics
from bot.services.meetings.common import (
    Rsvp,
    State,
    at_text,
    day_text,
    guarded_update,
    ics_key,
    invite_key,
    time_text,
    when_text,
)
from bot.services.outbox import Message, Recipient, enqueue, enqueue_many
from bot.types import Attachment, ConversationRef, Platform
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee
from storage.models import ChatIdentity, ChatWorkspace, Person, Quadrant, aware

log = logging.getLogger(__name__)

Kind = Literal["create", "update", "cancel"]
# Calendar failures before the bot gives up on the calendar and sends its own invitations.
MAX_ATTEMPTS = 5
BACKOFF_CAP = timedelta(minutes=30)
PROBLEM_LIMIT = 500
DUE_BATCH = 100
_RACES = 3


def backoff(attempts: int) -> timedelta:
    """How long to wait after `attempts` failed tries: 1, 2, 4, … minutes, at most 30."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def cancel_key(meeting_id: int, sequence: int, person_id: int) -> str:
    """The cancellation message of a meeting (or of its poll) to one person."""
    return f"meeting:{meeting_id}:cancel:{sequence}:{person_id}"


def announce_key(meeting_id: int, sequence: int) -> str:
    """The quadrant channel's announcement of one sequence (booked, changed, cancelled)."""
    return f"meeting:{meeting_id}:announce:{sequence}"


def calendar_problem_key(meeting_id: int, sequence: int) -> str:
    """The chair's one message saying why the meeting is not in their calendar."""
    return f"meeting:{meeting_id}:calendar-problem:{sequence}"


def uid_of(meeting: Meeting) -> str:
    """The iCalendar UID: the same for every sequence of a meeting. References repeat across
    local authorities, so the tenant is in it too."""
    return f"{meeting.reference}-{meeting.tenant_id}@slis-bot"


@dataclass(frozen=True)
class Pending:
    """A meeting whose latest change has not gone out, as the calendar needs it."""

    tenant_id: int
    meeting_id: int
    reference: str
    sequence: int
    kind: Kind
    organiser_email: str
    graph_event_id: str | None
    entry: CalendarEntry
    comment: str  # for a cancellation: the chair's reason


@dataclass(frozen=True)
class Reached:
    """Someone a publication reaches: name, e-mail, and whether they have a chat account."""

    id: int
    name: str
    email: str
    has_chat: bool


def people_of(session: Session, tenant_id: int, person_ids: list[int]) -> dict[int, Reached]:
    """The people named, with whether each has a chat account (two queries)."""
    if not person_ids:
        return {}
    rows = session.exec(
        select(Person.id, Person.name, Person.email).where(
            col(Person.tenant_id) == tenant_id, col(Person.id).in_(person_ids)
        )
    ).all()
    chat = set(
        session.exec(
            select(ChatIdentity.person_id).where(
                col(ChatIdentity.tenant_id) == tenant_id,
                col(ChatIdentity.person_id).in_(person_ids),
            )
        ).all()
    )
    return {
        pid: Reached(pid, name, email, pid in chat) for pid, name, email in rows if pid is not None
    }


def answers_of(session: Session, meeting_id: int) -> dict[int, Rsvp | None]:
    """Each invitee's RSVP (None: no answer), by person id, in person order."""
    rows = session.exec(
        select(MeetingInvitee.person_id, MeetingInvitee.rsvp)
        .where(MeetingInvitee.meeting_id == meeting_id)
        .order_by(col(MeetingInvitee.person_id))
    ).all()
    return {pid: Rsvp(rsvp) if rsvp else None for pid, rsvp in rows}


def meeting_view(
    session: Session, meeting: Meeting, calendar: TenantCalendar, now: datetime
) -> present.MeetingView:
    """The meeting as people read it, in the tenant's local time."""
    assert meeting.id is not None and meeting.starts_at is not None and meeting.ends_at is not None
    starts, ends = aware(meeting.starts_at), aware(meeting.ends_at)
    chair = session.get(Person, meeting.chair_person_id)
    quadrant = session.get(Quadrant, meeting.quadrant_id)
    deadline = starts - timedelta(days=meeting.agenda_deadline_days)
    agenda_until = (
        f"{day_text(calendar, deadline)}, {time_text(calendar, deadline)}"
        if deadline > now and meeting.state == State.BOOKED
        else None
    )
    return present.MeetingView(
        meeting_id=meeting.id,
        reference=meeting.reference,
        title=meeting.title,
        purpose=meeting.purpose,
        quadrant=quadrant.name if quadrant else "",
        when=when_text(calendar, starts, ends),
        chair=chair.name if chair else "the chair",
        venue=meeting.venue,
        link=meeting.online_url,
        agenda_until=agenda_until,
    )


def moment_text(calendar: TenantCalendar, at: datetime, now: datetime) -> str:
    """When a message will go: "now", or e.g. "on Tue 2 Mar 2027 at 07:30"."""
    if at <= now:
        return "now"
    return f"on {at_text(calendar, at)}"


class Publication:
    """What the publication job reads and records: meetings due, and how each went."""

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    # --- what is due -----------------------------------------------------------------------

    def due(self, now: datetime) -> list[Pending]:
        """Meetings (every tenant) whose latest change has not gone out and whose next try
        has come, oldest first, at most DUE_BATCH."""
        with self.db.session() as s:
            meetings = s.exec(
                select(Meeting)
                .where(
                    col(Meeting.state).in_([State.BOOKED.value, State.CANCELLED.value]),
                    col(Meeting.sent_sequence) < col(Meeting.ics_sequence),
                    col(Meeting.starts_at).is_not(None),
                    or_(col(Meeting.publish_after).is_(None), col(Meeting.publish_after) <= now),
                )
                .order_by(col(Meeting.id))
                .limit(DUE_BATCH)
            ).all()
            return [self._pending(s, m, now) for m in meetings]

    def _pending(self, session: Session, m: Meeting, now: datetime) -> Pending:
        assert m.id is not None and m.starts_at is not None and m.ends_at is not None
        calendar = self.calendars(m.tenant_id)
        invitees = list(answers_of(session, m.id))
        people = people_of(session, m.tenant_id, [*invitees, m.chair_person_id])
        chair = people.get(m.chair_person_id)
        view = meeting_view(session, m, calendar, now)
        kind: Kind
        if m.state == State.CANCELLED:
            kind = "cancel"
        else:
            kind = "create" if m.sent_sequence < 0 else "update"
        return Pending(
            tenant_id=m.tenant_id,
            meeting_id=m.id,
            reference=m.reference,
            sequence=m.ics_sequence,
            kind=kind,
            organiser_email=chair.email if chair else "",
            graph_event_id=m.graph_event_id,
            entry=CalendarEntry(
                subject=m.title,
                body_html=_body_html(view),
                starts=aware(m.starts_at),
                ends=aware(m.ends_at),
                zone=str(calendar.tz),
                location=m.venue,
                attendees=tuple((people[p].name, people[p].email) for p in invitees if p in people),
                online=m.mode == "online",
                transaction_id=f"slis-{m.tenant_id}-{m.id}",
            ),
            comment=m.cancel_reason or "",
        )

    # --- how it went -----------------------------------------------------------------------

    def published(
        self, meeting_id: int, sequence: int, *, event_id: str | None, join_url: str | None
    ) -> int:
        """Record `sequence` as sent (with the calendar event's id and join link, when given)
        and, in the same transaction, queue every message it needs; returns the rows added.
        A sequence already sent adds nothing; one overtaken by a later change only records
        the event (the later sequence is sent on the next run)."""
        calendar_values: dict[str, object] = {}
        if event_id is not None:
            calendar_values["graph_event_id"] = event_id
            calendar_values["publish_problem"] = None
        if join_url is not None:
            calendar_values["online_url"] = join_url
        for _ in range(_RACES):
            with self.db.session() as s:
                m = s.get(Meeting, meeting_id)
                if m is None or m.sent_sequence >= sequence:
                    return 0
                read_version, first = m.version, m.sent_sequence < 0
                overtaken = m.ics_sequence != sequence or m.state not in (
                    State.BOOKED,
                    State.CANCELLED,
                )
            now = self.clock.now()
            with self.db.session() as s:
                if overtaken:
                    if not calendar_values:
                        return 0
                    if guarded_update(s, meeting_id, read_version, now, **calendar_values):
                        return 0
                    continue
                if not guarded_update(
                    s,
                    meeting_id,
                    read_version,
                    now,
                    sent_sequence=sequence,
                    publish_attempts=0,
                    publish_after=None,
                    **calendar_values,
                ):
                    continue
                fresh = s.get(Meeting, meeting_id)
                assert fresh is not None
                s.refresh(fresh)
                return self._send(s, fresh, first=first, now=now)
        log.warning("meeting %s changed %d times while publishing; next run", meeting_id, _RACES)
        return 0

    def failed(
        self,
        meeting_id: int,
        sequence: int,
        problem: str,
        *,
        retry_after: float | None,
        permanent: bool,
    ) -> bool:
        """The calendar refused `sequence`: try again later (after `retry_after` seconds at
        least, and the backoff), or give up on the calendar when `permanent` or after
        MAX_ATTEMPTS tries, send the bot's own invitations and tell the chair why, once.
        Returns True if it gave up."""
        reason = " ".join(problem.split())[:PROBLEM_LIMIT] or "no reason given"
        for _ in range(_RACES):
            with self.db.session() as s:
                m = s.get(Meeting, meeting_id)
                if m is None or m.sent_sequence >= sequence or m.ics_sequence != sequence:
                    # Sent already, or overtaken: the next run tries the latest change afresh.
                    return False
                read_version = m.version
                attempts = m.publish_attempts + 1
                chair_id, tenant_id = m.chair_person_id, m.tenant_id
                reference, title = m.reference, m.title
            give_up = permanent or attempts >= MAX_ATTEMPTS
            now = self.clock.now()
            wait = max(timedelta(seconds=max(retry_after or 0.0, 0.0)), backoff(attempts))
            with self.db.session() as s:
                if not guarded_update(
                    s,
                    meeting_id,
                    read_version,
                    now,
                    publish_attempts=attempts,
                    publish_problem=reason,
                    publish_after=None if give_up else now + wait,
                ):
                    continue
                if give_up and people_of(s, tenant_id, [chair_id])[chair_id].has_chat:
                    enqueue(
                        s,
                        tenant_id=tenant_id,
                        key=calendar_problem_key(meeting_id, sequence),
                        to=Recipient(person_id=chair_id),
                        reply=present.calendar_problem(reference, title, reason),
                        not_before=self.calendars(tenant_id).next_slot(now),
                        now=now,
                    )
            if give_up:
                log.warning(
                    "meeting %s: giving up on the calendar after %d attempt(s): %s",
                    meeting_id,
                    attempts,
                    reason,
                )
                self.published(meeting_id, sequence, event_id=None, join_url=None)
            return give_up
        return False

    # --- the messages ----------------------------------------------------------------------

    def _send(self, s: Session, m: Meeting, *, first: bool, now: datetime) -> int:
        assert m.id is not None and m.starts_at is not None and m.ends_at is not None
        calendar = self.calendars(m.tenant_id)
        view = meeting_view(s, m, calendar, now)
        answers = answers_of(s, m.id)
        order = [*answers, *([] if m.chair_person_id in answers else [m.chair_person_id])]
        people = people_of(s, m.tenant_id, order)
        chair = people[m.chair_person_id]
        invite = ics.Invite(
            uid=uid_of(m),
            sequence=m.ics_sequence,
            title=m.title,
            description=_description(view),
            starts=aware(m.starts_at),
            ends=aware(m.ends_at),
            zone=str(calendar.tz),
            location=m.venue,
            url=m.online_url,
            organiser_name=chair.name,
            organiser_email=chair.email,
            attendees=tuple((people[p].name, people[p].email) for p in answers if p in people),
            stamp=now,
        )
        cancelled = m.state == State.CANCELLED
        filename = ics.ics_filename(m.title, calendar.local(aware(m.starts_at)).date())
        file_bytes = ics.cancel_ics(invite) if cancelled else ics.invite_ics(invite)
        attachment = Attachment(filename, m.title, file_bytes, ics.ICS_MEDIA_TYPE)
        messages: list[Message] = []
        for pid in order:
            person = people.get(pid)
            if person is None or not person.has_chat:
                continue
            to = Recipient(person_id=pid)
            if cancelled:
                messages.append(
                    Message(
                        cancel_key(m.id, m.ics_sequence, pid),
                        to,
                        present.cancellation(view, m.cancel_reason or ""),
                    )
                )
                if first:
                    continue  # no invitation went out, so there is no event to take away
            else:
                reply = present.invitation(
                    view,
                    answer=answers.get(pid),
                    invitee=pid in answers,
                    manager=pid == m.chair_person_id,
                    updated=not first,
                )
                messages.append(Message(invite_key(m.id, m.ics_sequence, pid), to, reply))
            messages.append(
                Message(
                    ics_key(m.id, m.ics_sequence, pid),
                    to,
                    present.calendar_file(
                        view, attachment, cancelled=cancelled, sequence=m.ics_sequence
                    ),
                )
            )
        channel = self._channel(s, m)
        if channel is not None:
            what: present.Announced = "cancelled" if cancelled else "booked" if first else "changed"
            messages.append(
                Message(
                    announce_key(m.id, m.ics_sequence),
                    Recipient(conversation=channel),
                    present.announcement(view, what, m.cancel_reason),
                )
            )
        return enqueue_many(
            s, tenant_id=m.tenant_id, messages=messages, not_before=calendar.next_slot(now), now=now
        )

    def _channel(self, s: Session, m: Meeting) -> ConversationRef | None:
        """The quadrant's announcement channel, if it has one in a workspace of the tenant."""
        quadrant = s.get(Quadrant, m.quadrant_id)
        if quadrant is None or not quadrant.channel_platform or not quadrant.channel_id:
            return None
        workspace = s.exec(
            select(ChatWorkspace.workspace_id)
            .where(
                ChatWorkspace.tenant_id == m.tenant_id,
                ChatWorkspace.platform == quadrant.channel_platform,
            )
            .order_by(col(ChatWorkspace.id))
        ).first()
        if workspace is None:
            log.warning(
                "quadrant %s has channel %s but tenant %s has no %s workspace: not announced",
                quadrant.id,
                quadrant.channel_id,
                m.tenant_id,
                quadrant.channel_platform,
            )
            return None
        return ConversationRef(Platform(quadrant.channel_platform), workspace, quadrant.channel_id)


def _description(view: present.MeetingView) -> str:
    """The .ics DESCRIPTION: the purpose, the reference and where to answer."""
    parts = [view.purpose.strip()] if view.purpose.strip() else []
    if view.link:
        parts.append(f"Join online: {view.link}")
    parts.append(
        f"Quadrant meeting {view.reference}, chaired by {view.chair}."
        " Say whether you are going with the buttons on the invitation from SLIS Bot."
    )
    return "\n\n".join(parts)


def _body_html(view: present.MeetingView) -> str:
    """The calendar event's body: the purpose and the reference, escaped."""
    parts = [f"<p>{html.escape(line)}</p>" for line in view.purpose.splitlines() if line.strip()]
    parts.append(
        f"<p>Quadrant meeting {html.escape(view.reference)}, booked with SLIS Bot."
        " Invitees answer and add agenda items in chat.</p>"
    )
    return "".join(parts)


async def publish_due(
    publication: Publication, calendar: MeetingCalendar | None, now: datetime
) -> dict[str, int]:
    """Send every meeting that is due: through the chair's calendar first where the tenant has
    one, then the invitations. Returns counts by what was done."""
    counts: dict[str, int] = {}

    def count(what: str, n: int = 1) -> None:
        counts[what] = counts.get(what, 0) + n

    for item in await asyncio.to_thread(publication.due, now):
        event_id: str | None = None
        join_url: str | None = None
        # `configured` may read the database (a tenant's LA code), so not on the event loop.
        if calendar is not None and await asyncio.to_thread(calendar.configured, item.tenant_id):
            try:
                done, event_id, join_url = await _to_calendar(calendar, item)
            except Exception as exc:
                failure = exc if isinstance(exc, CalendarUnavailable) else None
                if failure is None:
                    # An adapter fault must not hold up the other meetings: a failure to retry.
                    log.exception("meeting %s: calendar call failed", item.meeting_id)
                    failure = CalendarUnavailable(
                        f"unexpected calendar error ({type(exc).__name__})"
                    )
                gave_up = await asyncio.to_thread(
                    publication.failed,
                    item.meeting_id,
                    item.sequence,
                    failure.reason,
                    retry_after=failure.retry_after,
                    permanent=failure.permanent,
                )
                count("calendar_gave_up" if gave_up else "calendar_deferred")
                continue
            if done is not None:
                count(f"calendar_{done}")
        rows = await asyncio.to_thread(
            publication.published,
            item.meeting_id,
            item.sequence,
            event_id=event_id,
            join_url=join_url,
        )
        count("published")
        count("messages", rows)
    return counts


async def _to_calendar(
    calendar: MeetingCalendar, item: Pending
) -> tuple[str | None, str | None, str | None]:
    """Create, update or cancel the event: what was done (None: nothing to do), and the new
    event's id and join link when it made one. An update of a meeting that has no event yet
    (the calendar was given up on, or configured since) creates it."""
    if item.kind == "cancel":
        if item.graph_event_id is None:
            return None, None, None
        await calendar.cancel(
            item.tenant_id, item.organiser_email, item.graph_event_id, item.comment
        )
        return "cancelled", None, None
    if item.graph_event_id is None:
        created = await calendar.create(item.tenant_id, item.organiser_email, item.entry)
        return "created", created.event_id, created.join_url
    await calendar.update(item.tenant_id, item.organiser_email, item.graph_event_id, item.entry)
    return "updated", None, None


__all__ = [
    "MAX_ATTEMPTS",
    "Pending",
    "Publication",
    "announce_key",
    "backoff",
    "calendar_problem_key",
    "cancel_key",
    "meeting_view",
    "publish_due",
]
