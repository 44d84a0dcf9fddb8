"""The sandbox's timeline: what falls due on the movable clock, run when it falls due.

Outside the sandbox, APScheduler fires reminders at their real times. The sandbox's clock can
jump ahead, which APScheduler (running on real time) would never see, so in sandbox mode this
job source stands in for the reminder jobs: every few seconds, and at each step of a jump, it
fires the reminders whose `next_due` has come (in order, each at its own due time) and wakes
the rounds, support and meeting sweeps at that moment. A jump walks the clock forward one step
(an hour at most) at a time, so a nudge due at 09:00 goes out at 09:00 of the simulated day,
before what is due at 10:00. Everything it wakes is keyed in the outbox, as in production, so a
step run twice sends nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.core import Core
from bot.ports import MeetingCalendar, MovableClock
from bot.services.meetings.publication import publish_due

log = logging.getLogger(__name__)

TIMELINE_JOB_ID = "sandbox:timeline"
CATCH_UP_EVERY = timedelta(seconds=5)
STEP = timedelta(hours=1)
# A reminder fired more often than this in one catch-up is a fault, not a schedule.
MAX_FIRINGS = 500

_sources: dict[str, Timeline] = {}
_lock = threading.Lock()


async def catch_up_timeline(key: str) -> None:
    """The job function: run what has fallen due on the sandbox's clock."""
    with _lock:
        timeline = _sources.get(key)
    if timeline is None:
        log.warning("no sandbox timeline %s in this process; job ignored", key)
        return
    await timeline.catch_up()


class Timeline:
    """The sandbox's clock control and the job source that keeps due work in step with it."""

    def __init__(
        self,
        core: Core,
        clock: MovableClock,
        calendar: MeetingCalendar | None = None,
        *,
        step: timedelta = STEP,
        every: timedelta = CATCH_UP_EVERY,
    ) -> None:
        self.core = core
        self.clock = clock
        self.calendar = calendar
        self.step = step
        self.every = every
        self.key = f"timeline-{uuid.uuid4().hex[:12]}"
        self._moving = asyncio.Lock()
        with _lock:
            _sources[self.key] = self

    def install(self, scheduler: Any) -> None:
        scheduler.add_job(
            catch_up_timeline,
            IntervalTrigger(seconds=self.every.total_seconds()),
            args=[self.key],
            id=TIMELINE_JOB_ID,
            name="sandbox: run what fell due on the sandbox's clock",
            replace_existing=True,
            next_run_time=datetime.now(UTC),  # APScheduler's own (real) time
            coalesce=True,
            max_instances=1,
        )

    async def jump(self, to: datetime) -> None:
        """Move the clock to `to`, step by step, running at each step what fell due by then."""
        async with self._moving:
            start = self.clock.now()
            if to <= start:
                raise ValueError("the sandbox's clock moves forward only")
            for moment in self._moments(start, to):
                # The clock runs on while a step works; never ask it to go back.
                self.clock.move_to(max(moment, self.clock.now()))
                await self._due_now()

    async def catch_up(self) -> None:
        """Run what has fallen due by now (time passes between jumps too)."""
        async with self._moving:
            await self._due_now()

    def _moments(self, start: datetime, end: datetime) -> list[datetime]:
        """The steps of a jump: every `step` from `start`, each reminder due on the way, `end`."""
        moments = set()
        at = start + self.step
        while at < end:
            moments.add(at)
            at += self.step
        moments.update(
            r.next_due
            for r in self.core.reminders.schedules()
            if r.active and r.next_due is not None and start < r.next_due < end
        )
        moments.add(end)
        return sorted(moments)

    async def _due_now(self) -> None:
        await asyncio.to_thread(self._sweep)
        counts = await publish_due(self.core.meetings.publication, self.calendar, self.clock.now())
        if any(counts.values()):
            log.info("sandbox: meeting publication %s", counts)

    def _sweep(self) -> None:
        """Fire the reminders that are due, then let rounds, support and meetings move on."""
        now = self.clock.now()
        service = self.core.reminders
        service.resume_waiting()
        fired = 0
        while fired < MAX_FIRINGS:
            due = sorted(
                (r.next_due, r.id)
                for r in service.schedules()
                if r.active and r.next_due is not None and r.next_due <= now
            )
            if not due:
                break
            for when, reminder_id in due:
                service.fire(reminder_id, when)
                fired += 1
        if fired >= MAX_FIRINGS:
            log.warning("sandbox: stopped after %d reminder firings in one step", fired)
        self.core.rounds.tick()
        self.core.support.sweep()
        self.core.meetings.sweep()
        if fired:
            log.info("sandbox: %d reminder occurrence(s) fired at %s", fired, now.isoformat())
