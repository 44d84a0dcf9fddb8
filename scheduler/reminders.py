"""Reminder jobs: the scheduler leader's copy of the reminders table, as APScheduler jobs.

`ReminderJobs` is a job source: each time this process becomes the scheduler leader it is
installed into a fresh scheduler, and it

- builds one job per active reminder from the table (in its first sync, at once, off the
  event loop), with the stable id `reminder:<id>`:
  a DateTrigger for a one-off and for "first school day of each term" (at the next_due the core
  computed with the school calendar), a CronTrigger in the reminder's own time zone for weekly
  and school-day recurrences (school days: Monday to Friday, and the core skips the days the
  calendar says are not school days), so local times hold across the BST/GMT changes;
- catches up an occurrence missed while no process was running the scheduler: if it is at most
  GRACE old it runs once, now (id `reminder:<id>`, or `reminder:<id>:catch-up` beside a
  recurrence's own job); if older it is skipped and logged (a one-off is then marked done);
- every SYNC_INTERVAL picks up what any process created, cancelled or fired since the last look,
  by the table's `updated_at`.

Jobs call module-level functions with ids only (the source's key, the reminder id, the due
time as text), never objects. Firing twice for the same occurrence has one effect: the outbox
keys the rows by reminder, due time and recipient.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_SUBMITTED  # type: ignore[import-untyped]
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.core import Core
from bot.ports import Clock
from bot.services.reminders import ReminderService, ScheduledReminder
from bot.services.when import WEEKDAY_CODES, EverySchoolDay, Once, TermStarts, Weekly

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)  # a reminder missed by at most this much still goes, once
SYNC_INTERVAL = timedelta(seconds=10)
SYNC_OVERLAP = timedelta(minutes=2)  # re-read recent changes: commits land out of order
SYNC_JOB_ID = "reminders:sync"
# How often to look for term reminders that were waiting for next year's term dates.
WAITING_CHECK = timedelta(minutes=15)

_sources: dict[str, ReminderJobs] = {}
_sources_lock = threading.Lock()


def job_id(reminder_id: int) -> str:
    return f"reminder:{reminder_id}"


def catch_up_id(reminder_id: int) -> str:
    return f"reminder:{reminder_id}:catch-up"


def reminder_of_job(job: str) -> int | None:
    """The reminder id of a regular reminder job's id (`reminder:<id>`), else None."""
    prefix, _, rest = job.partition(":")
    return int(rest) if prefix == "reminder" and rest.isdigit() else None


def run_reminder(source: str, reminder_id: int, due: str | None = None) -> None:
    """The job function: fire one reminder's occurrence (`due`: ISO time, else from the trigger)."""
    jobs = _source(source)
    if jobs is not None:
        jobs.run(reminder_id, datetime.fromisoformat(due) if due else None)


def sync_reminders(source: str) -> None:
    """The job function that applies the table's recent changes to the jobs."""
    jobs = _source(source)
    if jobs is not None:
        jobs.sync()


def _source(key: str) -> ReminderJobs | None:
    with _sources_lock:
        jobs = _sources.get(key)
    if jobs is None:
        log.warning("no reminder job source %s in this process; job ignored", key)
    return jobs


class LocalTimeCronTrigger(CronTrigger):  # type: ignore[misc]
    """A CronTrigger that fires once per local wall time and always moves forward.

    APScheduler 3.11 answers a time in the hour the clocks repeat in autumn twice (01:30 BST,
    then 01:30 GMT), and asked for the fire time after the second it returns that same time
    again, so a scheduler computing a job's run times never gets past it. Reminders fire at the
    first of the two, as the core's zoneinfo maths (and `local_instant`) do.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Step in UTC, never from `previous_fire_time` itself: the parent adds a microsecond to
        # it in wall time, which turns 01:30 GMT (fold 1) back into 01:30 BST.
        now = now.astimezone(UTC)
        previous = previous_fire_time.astimezone(UTC) if previous_fire_time else None
        start = now if previous is None else min(now, previous + timedelta(seconds=1))
        fire_time: datetime | None = super().get_next_fire_time(None, start)
        for _ in range(4):
            if fire_time is None or not self._repeats(fire_time.astimezone(UTC), previous, start):
                return fire_time
            # Single-time daily or weekly schedules fire next at least a day later.
            start = fire_time.astimezone(UTC) + timedelta(hours=1)
            fire_time = super().get_next_fire_time(None, start)
        return fire_time

    def _repeats(self, fire_time: datetime, previous: datetime | None, now: datetime) -> bool:
        if fire_time < now:
            return True
        if previous is None:
            return False
        wall = fire_time.astimezone(self.timezone).replace(tzinfo=None, fold=0)
        before = previous.astimezone(self.timezone).replace(tzinfo=None, fold=0)
        return fire_time <= previous or wall == before


@functools.lru_cache(maxsize=4096)
def _cron(day_of_week: str, hour: int, minute: int, zone: ZoneInfo) -> LocalTimeCronTrigger:
    """One trigger per distinct recurrence, shared by its jobs (a trigger holds no job state)."""
    return LocalTimeCronTrigger(day_of_week=day_of_week, hour=hour, minute=minute, timezone=zone)


def trigger_for(reminder: ScheduledReminder) -> Any:
    """The APScheduler trigger for a reminder's schedule (None: nothing left to run)."""
    schedule = reminder.schedule
    match schedule:
        case Once(at=at):
            return DateTrigger(run_date=at, timezone=UTC)
        case Weekly(weekdays=days, at=t):
            if not days:
                return None
            weekdays = ",".join(WEEKDAY_CODES[d] for d in sorted(days))
            return _cron(weekdays, t.hour, t.minute, reminder.zone)
        case EverySchoolDay(at=t):
            return _cron("mon-fri", t.hour, t.minute, reminder.zone)
        case TermStarts():
            if reminder.next_due is None:
                return None
            return DateTrigger(run_date=reminder.next_due, timezone=UTC)
    raise TypeError(schedule)


def is_cron(reminder: ScheduledReminder) -> bool:
    return isinstance(reminder.schedule, Weekly | EverySchoolDay)


def latest_fire_time(trigger: Any, now: datetime, lookback: timedelta) -> datetime | None:
    """The trigger's last fire time at or before `now`, looking back at most `lookback`."""
    last: datetime | None = None
    t = trigger.get_next_fire_time(None, now - lookback)
    while t is not None and t <= now and (last is None or t > last):
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return last.astimezone(UTC) if last is not None else None


@dataclass(frozen=True)
class _Installed:
    """What a reminder's job was built from, to rebuild it only when that changes."""

    schedule: object
    zone: str
    due: datetime | None  # date-triggered kinds only


class ReminderJobs:
    """The job source for reminders (see the module docstring)."""

    def __init__(
        self,
        reminders: ReminderService | Core,
        clock: Clock | None = None,
        *,
        grace: timedelta = GRACE,
        sync_interval: timedelta = SYNC_INTERVAL,
    ) -> None:
        if isinstance(reminders, Core):
            self.service = reminders.reminders
            self.clock: Clock = clock or reminders.clock
        else:
            self.service = reminders
            if clock is None:
                raise ValueError("ReminderJobs over a ReminderService needs its clock")
            self.clock = clock
        self.grace = grace
        self.sync_interval = sync_interval
        self.key = f"reminders-{uuid.uuid4().hex[:12]}"
        self._lock = threading.RLock()
        self._scheduler: Any = None
        self._installed: dict[int, _Installed] = {}
        self._specs: dict[int, ScheduledReminder] = {}
        self._handled: set[tuple[int, datetime]] = set()  # occurrences fired or queued here
        self._watermark: datetime | None = None
        self._waiting_checked: datetime | None = None

    # --- JobSource --------------------------------------------------------------------------

    def install(self, scheduler: Any) -> None:
        """Start keeping `scheduler` (fresh for each leadership) in step with the table.

        The jobs are built by the first sync, which runs at once in the scheduler's worker
        thread: reading many reminders and making their jobs stays off the event loop.
        """
        with _sources_lock:
            _sources[self.key] = self
        with self._lock:
            self._scheduler = scheduler
            self._installed.clear()
            self._specs.clear()
            self._handled.clear()
            self._watermark = None
        scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        scheduler.add_job(
            sync_reminders,
            IntervalTrigger(seconds=self.sync_interval.total_seconds()),
            args=[self.key],
            id=SYNC_JOB_ID,
            name="build and sync the reminder jobs",
            replace_existing=True,
            next_run_time=datetime.now(UTC),  # the first run builds every job
            coalesce=True,
            max_instances=1,
        )

    # --- job bodies -------------------------------------------------------------------------

    def sync(self) -> None:
        """Build every reminder's job (first call after install), then apply reminders
        created, cancelled or fired by any process since the last sync."""
        with self._lock:
            if self._scheduler is None:
                return
            if self._watermark is None:
                self._build()
                return
            since = self._watermark - SYNC_OVERLAP
        now = self.clock.now()
        if self._waiting_checked is None or now - self._waiting_checked >= WAITING_CHECK:
            self._waiting_checked = now
            self.service.resume_waiting()  # they then show up as changed, below
        rows = self.service.schedules(changed_since=since)
        with self._lock:
            # An occurrence older than the grace window is never caught up; forget it.
            self._handled = {h for h in self._handled if now - h[1] <= self.grace}
            for reminder in rows:
                self._apply(reminder, now)
            if rows:
                self._watermark = max(self._watermark, *(r.updated_at for r in rows))

    def _build(self) -> None:
        """Every active reminder's job, from the table. Called with the lock held."""
        now = self.clock.now()
        rows = self.service.schedules()
        # Many jobs at once: let a batching scheduler (the runtime's) coalesce its wake-ups.
        batch = getattr(self._scheduler, "adding_many", contextlib.nullcontext)
        with batch():
            for reminder in rows:
                self._apply(reminder, now)
        self._watermark = max((r.updated_at for r in rows), default=now)
        log.info("reminder jobs built: %d reminder(s)", len(self._installed))

    def run(self, reminder_id: int, due: datetime | None) -> None:
        """Fire one occurrence: `due` as scheduled, or the cron trigger's latest fire time."""
        if due is None:
            with self._lock:
                spec = self._specs.get(reminder_id)
            trigger = trigger_for(spec) if spec is not None else None
            if trigger is None:
                log.warning("reminder %s has no schedule here; not fired", reminder_id)
                return
            now = self.clock.now() + timedelta(seconds=1)
            due = latest_fire_time(trigger, now, self.grace + timedelta(minutes=1))
            if due is None:
                log.warning("reminder %s ran with no occurrence due; not fired", reminder_id)
                return
        with self._lock:
            self._handled.add((reminder_id, due))
        self.service.fire(reminder_id, due)

    def _submitted(self, event: Any) -> None:
        """Note an occurrence as handled the moment APScheduler hands it to a worker.

        `run` notes it too, but only once a worker thread takes it up; a sync in between would
        otherwise see the row still due and add a catch-up for the same occurrence.
        """
        rid = reminder_of_job(event.job_id)
        if rid is None:
            return
        with self._lock:
            for due in event.scheduled_run_times:
                self._handled.add((rid, due.astimezone(UTC)))

    # --- inside -------------------------------------------------------------------------------

    def _apply(self, reminder: ScheduledReminder, now: datetime) -> None:
        """Make the jobs match one reminder's row. Called with the lock held."""
        rid = reminder.id
        if not reminder.active:
            self._drop(rid)
            return
        due = reminder.next_due
        if due is not None and due <= now:
            if now - due <= self.grace:
                self._catch_up(reminder, due)
            else:
                nxt = self.service.skip_missed(rid, due)
                reminder = replace(reminder, next_due=nxt)
                if nxt is None or isinstance(reminder.schedule, Once):
                    self._drop(rid)
                    return
        self._specs[rid] = reminder
        if not is_cron(reminder) and (reminder.next_due is None or reminder.next_due <= now):
            return  # a date job runs only the catch-up (if any) until next_due moves on
        wanted = _Installed(
            reminder.schedule,
            reminder.zone.key,
            None if is_cron(reminder) else reminder.next_due,
        )
        if self._installed.get(rid) == wanted and self._scheduler.get_job(job_id(rid)):
            return
        trigger = trigger_for(reminder)
        if trigger is None:
            self._drop(rid)
            return
        due_arg = None if is_cron(reminder) else _iso(reminder.next_due)
        self._scheduler.add_job(
            run_reminder,
            trigger,
            args=[self.key, rid, due_arg],
            id=job_id(rid),
            name=f"reminder {rid}",
            replace_existing=True,
            misfire_grace_time=int(self.grace.total_seconds()),
            coalesce=True,
            max_instances=1,
        )
        self._installed[rid] = wanted

    def _catch_up(self, reminder: ScheduledReminder, due: datetime) -> None:
        if (reminder.id, due) in self._handled:
            return
        self._handled.add((reminder.id, due))
        log.info(
            "reminder %s: the occurrence due %s was missed; running it now",
            reminder.id,
            _iso(due),
        )
        self._scheduler.add_job(
            run_reminder,
            DateTrigger(run_date=datetime.now(UTC), timezone=UTC),  # APScheduler's own now
            args=[self.key, reminder.id, _iso(due)],
            id=catch_up_id(reminder.id) if is_cron(reminder) else job_id(reminder.id),
            name=f"reminder {reminder.id} (catching up)",
            replace_existing=True,
            misfire_grace_time=int(self.grace.total_seconds()),
            coalesce=True,
            max_instances=1,
        )
        if not is_cron(reminder):
            self._installed.pop(reminder.id, None)

    def _drop(self, reminder_id: int) -> None:
        self._specs.pop(reminder_id, None)
        self._installed.pop(reminder_id, None)
        for jid in (job_id(reminder_id), catch_up_id(reminder_id)):
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(jid)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
