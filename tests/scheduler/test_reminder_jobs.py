"""Reminder jobs: rebuilt from the table, caught up after downtime, right across clock changes."""

from __future__ import annotations

import asyncio
import logging
import time as wall
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select

from bot.services.calendar import TenantCalendar, Term
from bot.services.identity import IdentityService
from bot.services.reminders import ACTIVE, DONE, ReminderService, ScheduledReminder
from bot.services.when import EverySchoolDay, Once, Schedule, TermStarts, Weekly, occurrences
from bot.types import Actor
from scheduler.reminders import (
    SYNC_JOB_ID,
    ReminderJobs,
    catch_up_id,
    job_id,
    latest_fire_time,
    trigger_for,
)
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from storage.reminder_tables import Reminder
from tests.conftest import PG_URL
from tests.conftest import _truncate_pg as truncate_pg
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackApi, fake_slack
from tests.scheduler.outbox_world import world_with_administrator
from tests.scheduler.test_outbox_crash import LEADS, Server, servers, wait

__all__ = ["fake_slack", "servers"]

LONDON = ZoneInfo("Europe/London")
Schedulers = Callable[[], AsyncIOScheduler]
HEAD = "ada.head@schools.example.org"
LEAD = "ben.lead@schools.example.org"
OFFICER = "dan.officer@la.example.org"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar(_tenant_id: int) -> TenantCalendar:
    return TenantCalendar(
        [
            Term("2026-27", "Autumn 1", date(2026, 9, 2), date(2026, 10, 23)),
            Term("2026-27", "Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
            Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 3, 25)),
            Term("2026-27", "Summer", date(2027, 4, 12), date(2027, 7, 21)),
        ],
        timezone="Europe/London",
    )


def weekly_at_eight(reminder_id: int = 1) -> ScheduledReminder:
    return ScheduledReminder(
        reminder_id,
        1,
        Weekly((0,), time(8, 0)),
        LONDON,
        ACTIVE,
        None,
        utc(2026, 10, 1, 0, 0),
    )


# --- triggers and the clock change ------------------------------------------------------------


def test_a_weekly_reminder_keeps_its_local_time_across_the_october_clock_change() -> None:
    trigger = trigger_for(weekly_at_eight())
    assert isinstance(trigger, CronTrigger)
    before = trigger.get_next_fire_time(None, utc(2026, 10, 18, 12, 0))
    after = trigger.get_next_fire_time(before, before + timedelta(seconds=1))
    assert before == utc(2026, 10, 19, 7, 0)  # 08:00 BST
    assert after == utc(2026, 10, 26, 8, 0)  # 08:00 GMT: the clocks went back on 25 October
    assert before.astimezone(LONDON).hour == after.astimezone(LONDON).hour == 8


def test_the_scheduler_and_the_core_agree_on_every_occurrence_for_a_year() -> None:
    """The cron trigger (what fires) and the core's zoneinfo maths (what is listed)."""
    cases: list[tuple[Schedule, TenantCalendar | None]] = [
        (Weekly((0, 3), time(8, 0)), None),
        (Weekly(tuple(range(7)), time(1, 30)), None),  # through both changes, at night
        (EverySchoolDay(time(8, 15)), calendar(1)),
    ]
    start = utc(2026, 9, 1, 0, 0)
    for schedule, cal in cases:
        spec = ScheduledReminder(1, 1, schedule, LONDON, ACTIVE, None, start)
        trigger = trigger_for(spec)
        fired: list[datetime] = []
        t = trigger.get_next_fire_time(None, start)
        while t < start + timedelta(days=365):
            if cal is None or cal.is_school_day(t.astimezone(LONDON).date()):
                fired.append(t.astimezone(UTC))
            t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
        listed = occurrences(schedule, start, LONDON, cal, len(fired))
        assert fired == listed, schedule


def test_triggers_for_each_kind_of_schedule() -> None:
    once = ScheduledReminder(1, 1, Once(utc(2026, 12, 1, 9)), LONDON, ACTIVE, None, utc(2026, 1, 1))
    assert isinstance(trigger_for(once), DateTrigger)
    assert trigger_for(once).run_date == utc(2026, 12, 1, 9)
    school = ScheduledReminder(
        2, 1, EverySchoolDay(time(8, 15)), LONDON, ACTIVE, None, once.updated_at
    )
    cron = trigger_for(school)
    assert isinstance(cron, CronTrigger) and cron.timezone == LONDON
    assert str(cron.fields[4]) == "mon-fri"  # day_of_week
    term_due = utc(2027, 1, 4, 8, 30)
    terms = ScheduledReminder(
        3, 1, TermStarts(time(8, 30)), LONDON, ACTIVE, term_due, once.updated_at
    )
    assert trigger_for(terms).run_date == term_due
    assert (
        trigger_for(
            ScheduledReminder(4, 1, TermStarts(time(8)), LONDON, ACTIVE, None, once.updated_at)
        )
        is None
    )


def test_latest_fire_time_finds_the_occurrence_a_cron_job_runs_for() -> None:
    trigger = trigger_for(weekly_at_eight())
    monday = utc(2026, 11, 30, 8, 0)
    assert latest_fire_time(trigger, monday + timedelta(seconds=3), timedelta(hours=1)) == monday
    assert latest_fire_time(trigger, monday + timedelta(minutes=59), timedelta(hours=1)) == monday
    assert latest_fire_time(trigger, monday - timedelta(seconds=1), timedelta(hours=1)) is None


# --- the job source over a real scheduler ----------------------------------------------------


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock standing where the scheduler's own (wall) clock is."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def service(db: Database, clock: FakeClock) -> ReminderService:
    return ReminderService(db, clock, calendars=calendar)


@pytest.fixture
async def scheduler() -> AsyncIterator[Schedulers]:
    """A fresh scheduler as the runtime makes one for each leadership."""
    made: list[AsyncIOScheduler] = []

    def fresh() -> AsyncIOScheduler:
        s = AsyncIOScheduler(job_defaults={"misfire_grace_time": 3600, "coalesce": True})
        made.append(s)
        return s

    yield fresh
    for s in made:
        if s.running:
            s.shutdown(wait=False)
    await asyncio.sleep(0.05)


def person(db: Database, world: World, email: str) -> Actor:
    return IdentityService(db, FakeClock()).actor_for(world.users[email])


def outbox_keys(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.exec(select(OutboxMessage.key).order_by(col(OutboxMessage.key))).all())


def stored(db: Database, reminder_id: int) -> Reminder:
    with db.session() as s:
        found = s.get(Reminder, reminder_id)
        assert found is not None
        return found


async def wait_for_rows(db: Database, count: int, seconds: float = 5.0) -> list[str]:
    """The outbox keys once there are `count`, then a moment more to catch any duplicate."""
    deadline = wall.monotonic() + seconds
    while len(keys := outbox_keys(db)) < count:
        if wall.monotonic() > deadline:
            raise AssertionError(f"expected {count} outbox row(s), got {keys}")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    return outbox_keys(db)


def set_while_up(
    service: ReminderService, who: Actor, clock: FakeClock, ago: timedelta, args: str
) -> int:
    """Create a reminder as if `ago` before now (while the server was still up)."""
    now = clock.current
    clock.current = now - ago
    try:
        return service.create(who, args).id
    finally:
        clock.current = now


async def test_install_builds_jobs_with_stable_ids_from_the_table(
    db: Database, world: World, service: ReminderService, clock: FakeClock, scheduler: Schedulers
) -> None:
    head = person(db, world, HEAD)
    once = service.create(head, "me in 3 days at 10:00 one-off")
    weekly = service.create(head, "me every Monday at 8:00 weekly")
    school = service.create(head, "me every school day at 8:15 school days")
    terms = service.create(head, "me first school day of each term termly")
    gone = service.create(head, "me in 2 days gone")
    service.cancel(head, gone.id)
    s = scheduler()
    jobs = ReminderJobs(service, clock)
    jobs.install(s)
    s.start(paused=True)
    # The first sync builds the jobs; the scheduler runs it at once (off the event loop).
    [sync] = s.get_jobs()
    assert sync.id == SYNC_JOB_ID and sync.next_run_time <= datetime.now(UTC)
    jobs.sync()
    by_id = {j.id: j for j in s.get_jobs()}
    assert set(by_id) == {SYNC_JOB_ID, *(job_id(v.id) for v in (once, weekly, school, terms))}
    assert by_id[job_id(once.id)].next_run_time == once.next_due
    assert by_id[job_id(terms.id)].next_run_time == terms.next_due
    assert by_id[job_id(weekly.id)].next_run_time == weekly.next_due
    assert isinstance(by_id[job_id(weekly.id)].trigger, CronTrigger)
    for reminder in (once, weekly, school, terms):
        job = by_id[job_id(reminder.id)]
        # Importable function, ids only.
        assert job.func_ref == "scheduler.reminders:run_reminder"
        assert all(isinstance(a, str | int | None) for a in job.args)
        assert job.args[:2] == (jobs.key, reminder.id)
        assert job.misfire_grace_time == 3600
    assert by_id[job_id(once.id)].args[2] == once.next_due.isoformat()
    assert by_id[job_id(weekly.id)].args[2] is None  # a cron job's due comes from its trigger
    # Installing again (a new leadership, a fresh scheduler) builds the same jobs.
    again = scheduler()
    jobs.install(again)
    again.start(paused=True)
    jobs.sync()
    assert {j.id for j in again.get_jobs()} == set(by_id)


async def test_a_reminder_due_while_the_server_was_down_fires_once_after_restart(
    db: Database, world: World, service: ReminderService, clock: FakeClock, scheduler: Schedulers
) -> None:
    head = person(db, world, HEAD)
    # Set two hours ago for 90 minutes later: due 30 minutes ago, while nothing ran.
    rid = set_while_up(service, head, clock, timedelta(hours=2), "me in 90 minutes call Ben")
    due = stored(db, rid).at
    s = scheduler()
    ReminderJobs(service, clock).install(s)
    s.start()
    keys = await wait_for_rows(db, 1)
    assert keys == [f"reminder:{rid}:{due:%Y-%m-%dT%H:%M}:{world.people[HEAD]}"]
    assert stored(db, rid).status == DONE
    # Another restart (or a new leader): nothing more.
    s.shutdown(wait=False)
    second = scheduler()
    ReminderJobs(service, clock).install(second)
    second.start()
    await asyncio.sleep(0.3)
    assert outbox_keys(db) == keys


async def test_a_reminder_missed_by_more_than_the_grace_window_is_skipped_and_logged(
    db: Database,
    world: World,
    service: ReminderService,
    clock: FakeClock,
    scheduler: Schedulers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    head = person(db, world, HEAD)
    rid = set_while_up(service, head, clock, timedelta(hours=3), "me in 90 minutes too late")
    s = scheduler()
    with caplog.at_level(logging.WARNING, logger="bot.services.reminders"):
        ReminderJobs(service, clock).install(s)
        s.start()
        await asyncio.sleep(0.3)
    assert outbox_keys(db) == []
    assert stored(db, rid).status == DONE
    assert {j.id for j in s.get_jobs()} == {SYNC_JOB_ID}
    assert f"reminder {rid}: skipped the occurrence due" in caplog.text


async def test_a_recurrence_missed_inside_the_grace_window_catches_up_once(
    db: Database, world: World, service: ReminderService, clock: FakeClock, scheduler: Schedulers
) -> None:
    officer = person(db, world, OFFICER)
    rid = set_while_up(
        service, officer, clock, timedelta(days=8), "heads in North East every day at 8:00 hi"
    )
    # Make its last occurrence fall 20 minutes ago, as if the server was down at the time.
    missed = clock.current - timedelta(minutes=20)
    with db.session() as s:
        row = s.get(Reminder, rid)
        assert row is not None
        local = missed.astimezone(LONDON)
        row.local_time = time(local.hour, local.minute)
        row.weekdays = "mon,tue,wed,thu,fri,sat,sun"
        row.next_due = missed.replace(second=0)
        s.add(row)
    sched = scheduler()
    jobs = ReminderJobs(service, clock)
    jobs.install(sched)
    jobs.sync()
    assert {j.id for j in sched.get_jobs()} == {SYNC_JOB_ID, job_id(rid), catch_up_id(rid)}
    sched.start()
    keys = await wait_for_rows(db, 2)
    stamp = f"{missed:%Y-%m-%dT%H:%M}"
    assert keys == sorted(f"reminder:{rid}:{stamp}:{world.people[e]}" for e in (HEAD, LEAD))
    assert stored(db, rid).next_due is not None
    assert stored(db, rid).status == ACTIVE


async def test_two_schedulers_catching_up_the_same_reminder_send_it_once(
    db: Database, world: World, service: ReminderService, clock: FakeClock, scheduler: Schedulers
) -> None:
    """A leader change mid-flight: both the old and the new leader run the same occurrence."""
    officer = person(db, world, OFFICER)
    rid = set_while_up(
        service, officer, clock, timedelta(hours=2), "heads in North East in 90 minutes hi"
    )
    old, new = scheduler(), scheduler()
    ReminderJobs(service, clock).install(old)
    ReminderJobs(ReminderService(db, clock, calendars=calendar), clock).install(new)
    old.start()
    new.start()
    keys = await wait_for_rows(db, 2)
    assert len(keys) == 2 and all(k.startswith(f"reminder:{rid}:") for k in keys)


async def test_sync_picks_up_reminders_created_and_cancelled_elsewhere(
    db: Database, world: World, service: ReminderService, clock: FakeClock, scheduler: Schedulers
) -> None:
    s = scheduler()
    jobs = ReminderJobs(service, clock)
    jobs.install(s)
    s.start(paused=True)
    jobs.sync()
    head = person(db, world, HEAD)
    other_process = ReminderService(db, clock, calendars=calendar)
    clock.advance(seconds=1)
    view = other_process.create(head, "me tomorrow 9am from elsewhere")
    jobs.sync()
    assert s.get_job(job_id(view.id)) is not None
    assert s.get_job(job_id(view.id)).next_run_time == view.next_due
    clock.advance(seconds=5)
    other_process.cancel(head, view.id)
    jobs.sync()
    assert s.get_job(job_id(view.id)) is None


async def test_a_cron_job_fires_for_the_occurrence_it_runs_for(
    db: Database, world: World, service: ReminderService, clock: FakeClock, scheduler: Schedulers
) -> None:
    head = person(db, world, HEAD)
    view = service.create(head, "me every Monday at 8:00 plan the week")
    s = scheduler()
    jobs = ReminderJobs(service, clock)
    jobs.install(s)
    jobs.sync()
    assert view.next_due is not None
    # The scheduler wakes the job a moment after 08:00 on the Monday.
    clock.current = view.next_due + timedelta(seconds=2)
    jobs.run(view.id, None)
    assert outbox_keys(db) == [
        f"reminder:{view.id}:{view.next_due:%Y-%m-%dT%H:%M}:{world.people[HEAD]}"
    ]
    [following] = occurrences(view.schedule, view.next_due, LONDON, None, 1)
    next_due = stored(db, view.id).next_due
    assert next_due is not None and next_due.replace(tzinfo=UTC) == following


def test_a_time_in_the_repeated_autumn_hour_fires_once_and_the_trigger_moves_on() -> None:
    """APScheduler 3.11's own CronTrigger returns 01:30 GMT for ever after 01:30 GMT on the
    night the clocks go back; a scheduler working out run times would never get past it."""
    night = ScheduledReminder(
        1, 1, Weekly(tuple(range(7)), time(1, 30)), LONDON, ACTIVE, None, utc(2026, 10, 1)
    )
    trigger = trigger_for(night)
    now = utc(2026, 10, 27, 0, 0)
    t = trigger.get_next_fire_time(None, utc(2026, 10, 23, 12, 0))
    run_times = []
    while t is not None and t <= now:  # as APScheduler's Job._get_run_times does
        run_times.append(t.astimezone(UTC))
        t = trigger.get_next_fire_time(t, now)
        assert len(run_times) < 10
    assert run_times == [
        utc(2026, 10, 24, 0, 30),  # 01:30 BST
        utc(2026, 10, 25, 0, 30),  # 01:30 BST, the first of the two 01:30s that night
        utc(2026, 10, 26, 1, 30),  # 01:30 GMT
    ]


# --- two server processes on PostgreSQL ------------------------------------------------------


def test_a_killed_leaders_reminders_still_fire_exactly_once_from_the_other_replica(
    request: pytest.FixtureRequest,
    fake_slack: FakeSlackApi,
    servers: Callable[..., Server],
) -> None:
    """40 channel reminders fall due together; the leader is killed as soon as the first
    reaches Slack; the second server takes over and every reminder arrives exactly once."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set SLIS_TEST_DATABASE_URL (two replicas share it)")
    url = request.getfixturevalue("pg_migrated")
    truncate_pg(url)
    db = Database.from_url(url)
    world, _ = world_with_administrator(db)
    officer = IdentityService(db, FakeClock()).actor_for(world.users[OFFICER])
    setup = ReminderService(db, FakeClock(datetime.now(UTC)))
    ids = [
        setup.create(officer, f"<#C{i:03d}|team-{i}> tomorrow 9am reminder {i}").id
        for i in range(40)
    ]
    due = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    with db.session() as s:
        for row in s.exec(select(Reminder)).all():
            row.at = row.next_due = due
            row.respect_school_calendar = False  # keep to the second, whatever the day
            s.add(row)
    tuning = {"SLIS_TEST_RETRY_SECONDS": "0.5", "SLIS_TEST_CHECK_SECONDS": "0.5"}
    leader = servers(url, fake_slack.url, tuned=True, **tuning)
    wait(lambda: LEADS in leader.output(), 60, "the first server leads")
    follower = servers(url, fake_slack.url, tuned=True, **tuning)
    wait(follower.ready, 60, "the second server answers")
    assert LEADS not in follower.output()

    wait(lambda: len(fake_slack.posted_keys()) >= 1, 60, f"a reminder\n{leader.output()}")
    leader.kill()
    wait(lambda: LEADS in follower.output(), 10, "the second server takes over")
    stamp = f"{due:%Y-%m-%dT%H:%M}"
    expected = {f"reminder:{rid}:{stamp}:channel": 1 for rid in ids}
    wait(
        lambda: set(fake_slack.posted_keys()) == set(expected),
        60,
        f"every reminder\n{follower.output()}",
    )
    wall.sleep(1.0)  # anything repeated would arrive now
    follower.stop()
    assert dict(fake_slack.posted_keys()) == expected
    with db.session() as s:
        assert {r.status for r in s.exec(select(Reminder)).all()} == {DONE}
    db.dispose()
    assert "Traceback" not in follower.output()


async def test_a_due_job_handed_to_a_worker_is_not_caught_up_again_by_a_sync(
    db: Database, world: World, service: ReminderService, clock: FakeClock, scheduler: Schedulers
) -> None:
    """Between APScheduler submitting a one-off and a worker starting it, the row still looks
    due; a sync then must not add a catch-up for the same occurrence."""
    head = person(db, world, HEAD)
    reminder = service.create(head, "me in 3 days at 10:00 call Ben")
    s = scheduler()
    jobs = ReminderJobs(service, clock)
    jobs.install(s)
    s.start(paused=True)
    jobs.sync()
    assert s.get_job(job_id(reminder.id)) is not None
    # APScheduler submits the job at its due time (and, a one-off, drops it from the store)...
    clock.current = reminder.next_due + timedelta(seconds=1)
    s.remove_job(job_id(reminder.id))
    jobs._submitted(
        JobSubmissionEvent(EVENT_JOB_SUBMITTED, job_id(reminder.id), "default", [reminder.next_due])
    )
    # ...and before the worker has fired it, a sync reads the row, still active and due.
    jobs._watermark = None  # force a full rebuild, which re-applies every active row
    jobs.sync()
    assert s.get_job(job_id(reminder.id)) is None
    assert s.get_job(catch_up_id(reminder.id)) is None
