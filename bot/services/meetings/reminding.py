"""The timed work after booking: reminders a week, a day and an hour before a meeting, and
marking a meeting held once it is over (with a prompt to record the minutes).

Reminder stages are `Meeting.reminders_sent`: 1 a week before, 2 a day before, 3 an hour
before. A stage is sent while it is fresh: the week-before one until five days before, the
day-before one until twelve hours before, the hour-before one until the start. So a meeting
booked (or moved) two days ahead gets the day-before reminder only, never a stale week-before
one; the stage sent is recorded with a guarded update in the transaction that writes the
messages, so each goes once. Reminders go to the
invitees who are going or have not answered (not those who can't come) and to the chair,
with the published agenda; those who have not answered get the RSVP buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from bot.ports import Clock
from bot.replies import meetings_follow as present
from bot.services.calendar import TenantCalendar
from bot.services.meetings.agenda import agenda
from bot.services.meetings.common import State, guarded_update
from bot.services.outbox import Recipient, enqueue
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee
from storage.models import ChatIdentity, aware

# Stage -> how long before the start it is due, and until how long before it is still worth
# sending (after that it is stale: the invitation, or the next stage, says as much).
STAGES: dict[int, timedelta] = {
    1: timedelta(days=7),
    2: timedelta(days=1),
    3: timedelta(hours=1),
}
FRESH_UNTIL: dict[int, timedelta] = {
    1: timedelta(days=5),
    2: timedelta(hours=12),
    3: timedelta(0),
}
LAST_STAGE = max(STAGES)
SWEEP_BATCH = 200


def remind_key(meeting_id: int, stage: int, sequence: int, person_id: int) -> str:
    """One reminder stage of one version of the meeting to one person."""
    return f"meeting:{meeting_id}:remind:{stage}:{sequence}:{person_id}"


def minutes_prompt_key(meeting_id: int, person_id: int) -> str:
    """The "record the minutes" prompt to the chair or the note-taker."""
    return f"meeting:{meeting_id}:minutes-prompt:{person_id}"


def due_stage(starts_at: datetime, now: datetime) -> int:
    """The reminder stage due (and still fresh) at `now`; 0: none."""
    due = [
        stage
        for stage, before in STAGES.items()
        if starts_at - before <= now < starts_at - FRESH_UNTIL[stage]
    ]
    return max(due, default=0)


def reachable(session: Session, person_ids: list[int]) -> set[int]:
    """Those of `person_ids` with a chat account the bot can message."""
    if not person_ids:
        return set()
    rows = session.exec(
        select(ChatIdentity.person_id).where(col(ChatIdentity.person_id).in_(person_ids))
    ).all()
    return set(rows)


class Reminding:
    """The leader's sweep for booked meetings: reminders, then held and the minutes prompt."""

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    def sweep(self, now: datetime) -> dict[str, int]:
        """Send the reminders that are due and mark finished meetings held; counts by what
        was done. Idempotent: a second sweep at the same moment does nothing."""
        counts = {"reminded": 0, "reminders": 0, "held": 0, "minutes_prompts": 0}
        for meeting in self._due_reminders(now):
            sent = self._remind(meeting, now)
            if sent is not None:
                counts["reminded"] += 1
                counts["reminders"] += sent
        for meeting in self._over(now):
            prompts = self._hold(meeting, now)
            if prompts is not None:
                counts["held"] += 1
                counts["minutes_prompts"] += prompts
        return counts

    # --- reminders -------------------------------------------------------------------------

    def _due_reminders(self, now: datetime) -> list[Meeting]:
        """Booked meetings with a fresh stage not yet sent (one indexed range per stage)."""
        starts = col(Meeting.starts_at)
        windows = [
            and_(
                starts > now + FRESH_UNTIL[stage],
                starts <= now + before,
                col(Meeting.reminders_sent) < stage,
            )
            for stage, before in STAGES.items()
        ]
        with self.db.session() as s:
            rows = s.exec(
                select(Meeting)
                .where(
                    col(Meeting.state) == State.BOOKED.value,
                    col(Meeting.sent_sequence) >= 0,
                    or_(*windows),
                )
                .order_by(starts)
                .limit(SWEEP_BATCH)
            ).all()
            return [
                m
                for m in rows
                if m.starts_at is not None and due_stage(aware(m.starts_at), now) > m.reminders_sent
            ]

    def _remind(self, read: Meeting, now: datetime) -> int | None:
        """Send the due stage to everyone who should have it; None if the meeting changed
        meanwhile (the next sweep looks again)."""
        assert read.id is not None and read.starts_at is not None
        starts = aware(read.starts_at)
        stage = due_stage(starts, now)
        calendar = self.calendars(read.tenant_id)
        with self.db.session() as s:
            if not guarded_update(s, read.id, read.version, now, reminders_sent=stage):
                return None
            meeting = s.get(Meeting, read.id)
            assert meeting is not None
            s.refresh(meeting)
            answers = dict(
                s.exec(
                    select(MeetingInvitee.person_id, MeetingInvitee.rsvp).where(
                        MeetingInvitee.meeting_id == read.id
                    )
                ).all()
            )
            wanted = [p for p, rsvp in answers.items() if rsvp != "not_going"]
            if meeting.chair_person_id not in wanted:
                wanted.append(meeting.chair_person_id)
            people = reachable(s, wanted)
            shown = agenda(s, meeting) if meeting.agenda_published_at is not None else None
            facts = present.facts_of(meeting, calendar)
            when = now if stage == LAST_STAGE else calendar.next_slot(now)
            if when >= starts:
                when = now
            sent = 0
            for person_id in sorted(people):
                ask = person_id in answers and answers[person_id] is None
                sent += enqueue(
                    s,
                    tenant_id=meeting.tenant_id,
                    key=remind_key(read.id, stage, meeting.ics_sequence, person_id),
                    to=Recipient(person_id=person_id),
                    reply=present.reminder(facts, stage, shown, ask=ask),
                    not_before=when,
                    now=now,
                )
            return sent

    # --- held -------------------------------------------------------------------------------

    def _over(self, now: datetime) -> list[Meeting]:
        with self.db.session() as s:
            return list(
                s.exec(
                    select(Meeting)
                    .where(
                        Meeting.state == State.BOOKED.value,
                        col(Meeting.starts_at) <= now,
                        col(Meeting.ends_at) <= now,
                    )
                    .order_by(col(Meeting.starts_at))
                    .limit(SWEEP_BATCH)
                ).all()
            )

    def _hold(self, read: Meeting, now: datetime) -> int | None:
        """Mark the meeting held and prompt the chair (and note-taker) for the minutes."""
        assert read.id is not None
        calendar = self.calendars(read.tenant_id)
        with self.db.session() as s:
            if not guarded_update(s, read.id, read.version, now, state=State.HELD.value):
                return None
            meeting = s.get(Meeting, read.id)
            assert meeting is not None
            s.refresh(meeting)
            wanted = [meeting.chair_person_id]
            if meeting.note_taker_person_id is not None:
                wanted.append(meeting.note_taker_person_id)
            facts = present.facts_of(meeting, calendar)
            sent = 0
            for person_id in sorted(reachable(s, wanted)):
                sent += enqueue(
                    s,
                    tenant_id=meeting.tenant_id,
                    key=minutes_prompt_key(read.id, person_id),
                    to=Recipient(person_id=person_id),
                    reply=present.minutes_prompt(facts),
                    not_before=calendar.next_slot(now),
                    now=now,
                )
            return sent
