"""Quadrant meeting jobs on the scheduler leader: the timed steps, and sending what changed.

Two interval jobs:
- the sweep (`Meetings.sweep`, every minute): nudge non-voters a school day before a poll's
  deadline, close polls at their deadline and offer the chair the best slot, remind invitees a
  week, a day and an hour before, mark meetings held and ask for minutes, remind action owners;
- publication (every 30 seconds): a booked, changed or cancelled meeting goes into the chair's
  Outlook calendar where Microsoft Graph is configured, then its invitations (.ics included),
  updates or cancellations are written to the outbox.
Each step is a guarded update plus outbox rows keyed by meeting and step, so a job run twice (a
restart, a new leader) sends nothing twice; the first run, at once after install, catches up.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.core import Core
from bot.ports import MeetingCalendar
from bot.services.meetings.publication import publish_due

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "meetings:sweep"
PUBLISH_JOB_ID = "meetings:publish"
SWEEP_INTERVAL = timedelta(seconds=60)
PUBLISH_INTERVAL = timedelta(seconds=30)

_sources: dict[str, MeetingJobs] = {}
_lock = threading.Lock()


def _source(key: str) -> MeetingJobs | None:
    with _lock:
        found = _sources.get(key)
    if found is None:
        log.warning("no meeting job source %s in this process; job ignored", key)
    return found


def sweep_meetings(key: str) -> None:
    """The sweep job: the timed steps of polls, meetings and actions that are due."""
    source = _source(key)
    if source is None:
        return
    counts = source.core.meetings.sweep()
    done = {name: n for name, n in counts.items() if n}
    if done:
        log.info("meetings: %s", ", ".join(f"{name} {n}" for name, n in sorted(done.items())))


async def publish_meetings(key: str) -> None:
    """The publication job: calendars and invitations for meetings booked, moved or cancelled."""
    source = _source(key)
    if source is None:
        return
    counts = await publish_due(
        source.core.meetings.publication, source.calendar, source.core.clock.now()
    )
    done = {name: n for name, n in counts.items() if n}
    if done:
        log.info("meeting publication: %s", ", ".join(f"{k} {n}" for k, n in sorted(done.items())))


class MeetingJobs:
    """A job source for the runtime: the meetings' sweep and their publication."""

    def __init__(
        self,
        core: Core,
        calendar: MeetingCalendar | None = None,
        *,
        sweep_every: timedelta = SWEEP_INTERVAL,
        publish_every: timedelta = PUBLISH_INTERVAL,
    ) -> None:
        self.key = f"meetings-{uuid.uuid4().hex[:12]}"
        self.core = core
        self.calendar = calendar
        self.sweep_every = sweep_every
        self.publish_every = publish_every
        with _lock:
            _sources[self.key] = self

    def install(self, scheduler: Any) -> None:
        now = datetime.now(UTC)
        scheduler.add_job(
            sweep_meetings,
            IntervalTrigger(seconds=self.sweep_every.total_seconds()),
            args=[self.key],
            id=SWEEP_JOB_ID,
            name="meeting polls, reminders and actions",
            replace_existing=True,
            next_run_time=now,
            coalesce=True,
            max_instances=1,
        )
        scheduler.add_job(
            publish_meetings,
            IntervalTrigger(seconds=self.publish_every.total_seconds()),
            args=[self.key],
            id=PUBLISH_JOB_ID,
            name="meeting calendars and invitations",
            replace_existing=True,
            next_run_time=now,
            coalesce=True,
            max_instances=1,
        )
