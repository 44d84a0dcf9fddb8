"""The survey job source: one interval job on the leader's scheduler that moves rounds on."""

from __future__ import annotations

import asyncio
import logging
import threading
import time as wall
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col, select

from bot.core import Core
from bot.services.healthcheck.audience import Scope
from bot.services.healthcheck.rounds import CLOSED, OPEN, LaunchRequest, NudgePlan, TickOutcome
from bot.types import Role, ScopeKind
from scheduler.leader import SoleLeadership
from scheduler.runtime import Runtime
from scheduler.surveys import TICK_INTERVAL, TICK_JOB_ID, SurveyJobs, tick_rounds
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from storage.survey_tables import SurveyRound
from tests.fakes.clock import FakeClock
from tests.services.healthcheck_rounds_world import (
    KEYS,
    OFFICER,
    WEST_HEAD,
    RoundsWorld,
    build_rounds_world,
)

# Tue 24 Nov 2026, 09:00 GMT. The database holds no term dates, so the core's calendar counts
# weekdays as school days; quiet hours are the default 07:30 to 18:00.
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OPENS = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
CLOSES = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
FAST = timedelta(milliseconds=50)


class CountingTicks:
    """Wraps a core's `rounds.tick` to count the job's runs, so tests wait for runs, not time."""

    def __init__(self, core: Core) -> None:
        self._tick = core.rounds.tick
        self._lock = threading.Lock()
        self.outcomes: list[TickOutcome] = []
        self.threads: set[str] = set()
        core.rounds.tick = self  # type: ignore[method-assign]

    def __call__(self) -> TickOutcome:
        outcome = self._tick()
        with self._lock:
            self.outcomes.append(outcome)
            self.threads.add(threading.current_thread().name)
        return outcome

    @property
    def runs(self) -> int:
        with self._lock:
            return len(self.outcomes)

    async def more(self, n: int = 2, seconds: float = 5.0) -> None:
        """Wait for `n` more complete runs (the first may have started before the change)."""
        target = self.runs + n
        deadline = wall.monotonic() + seconds
        while self.runs < target:
            if wall.monotonic() > deadline:
                raise AssertionError(f"the tick job ran {self.runs} times, wanted {target}")
            await asyncio.sleep(0.01)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def rw(db: Database) -> RoundsWorld:
    return build_rounds_world(db)


@pytest.fixture
def core(db: Database, clock: FakeClock) -> Core:
    return Core(db, clock=clock, response_keys=KEYS)


@pytest.fixture
async def schedulers() -> AsyncIterator[list[AsyncIOScheduler]]:
    """Schedulers a test starts, shut down while its event loop still runs."""
    made: list[AsyncIOScheduler] = []
    yield made
    for s in made:
        if s.running:
            s.shutdown(wait=False)
    await asyncio.sleep(0.05)


def launch(core: Core, rw: RoundsWorld) -> int:
    """The school check-in to every head (Ada, Ben, Fay, Ivy, Jon), named. Fay has no chat
    account, so four prompts go out: Ada's, Ben's, Ivy's and Jon's."""
    return core.rounds.launch(
        rw.actor(OFFICER),
        LaunchRequest(
            template_id="school_checkin",
            audience_role=Role.HEAD,
            scope=Scope(ScopeKind.COUNTY),
            opens_on=date(2026, 11, 24),
            opens_time=time(10, 0),
            closes_on=date(2026, 11, 27),
            closes_time=time(16, 0),
            anonymous=False,
            nudges=NudgePlan(),
        ),
    ).round_id


def prompt_keys(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.exec(select(OutboxMessage.key).order_by(col(OutboxMessage.key))).all())


def status(db: Database, round_id: int) -> str:
    with db.session() as s:
        row = s.get(SurveyRound, round_id)
        assert row is not None
        return row.status


async def test_install_adds_one_interval_job_that_catches_up_at_once(
    db: Database, core: Core, schedulers: list[AsyncIOScheduler]
) -> None:
    source = SurveyJobs(core)
    first = AsyncIOScheduler(timezone=UTC)
    schedulers.append(first)
    source.install(first)
    first.start(paused=True)
    [job] = first.get_jobs()
    assert job.id == TICK_JOB_ID
    assert job.func_ref == "scheduler.surveys:tick_rounds"
    assert job.args == (source.key,)  # ids only: nothing from the core goes into the store
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == TICK_INTERVAL == timedelta(seconds=20)
    assert job.next_run_time <= datetime.now(UTC)  # the first run catches up at once
    assert (job.coalesce, job.max_instances) == (True, 1)
    # A new leadership installs the same job on a fresh scheduler; twice replaces, not adds.
    again = AsyncIOScheduler(timezone=UTC)
    schedulers.append(again)
    source.install(again)
    source.install(again)
    again.start(paused=True)
    assert [j.id for j in again.get_jobs()] == [TICK_JOB_ID]


async def test_the_leaders_scheduler_opens_and_closes_a_round_through_the_job(
    db: Database, rw: RoundsWorld, core: Core, clock: FakeClock
) -> None:
    round_id = launch(core, rw)
    ticks = CountingTicks(core)
    source = SurveyJobs(core, interval=FAST)
    runtime = Runtime(core, {}, job_sources=[source], leadership=SoleLeadership())
    await runtime.start()
    try:
        assert runtime.is_leader
        await ticks.more(1)  # the run at install, before the open: nothing
        assert prompt_keys(db) == [] and status(db, round_id) == "scheduled"
        clock.current = OPENS
        await ticks.more()
        invitations = rw.invitations(round_id)
        linked = [i for i in invitations if i.person_id != rw.person(WEST_HEAD)]
        assert prompt_keys(db) == sorted(f"survey:{round_id}:prompt:{i.id}" for i in linked)
        assert len(invitations) == 5 and len(linked) == 4 and status(db, round_id) == OPEN
        # Many more runs at the same moment add nothing.
        await ticks.more(5)
        assert len(prompt_keys(db)) == 4
        assert sum(o.prompts for o in ticks.outcomes) == 4
        assert sum(len(o.opened) for o in ticks.outcomes) == 1
        clock.current = CLOSES
        await ticks.more()
        assert status(db, round_id) == CLOSED
        assert sum(len(o.closed) for o in ticks.outcomes) == 1
    finally:
        await runtime.stop()
    # The job ran off the event loop, in worker threads.
    assert threading.main_thread().name not in ticks.threads


async def test_a_failing_tick_is_logged_and_the_next_run_goes_ahead(
    db: Database,
    rw: RoundsWorld,
    core: Core,
    clock: FakeClock,
    schedulers: list[AsyncIOScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    round_id = launch(core, rw)
    clock.current = OPENS
    real = core.rounds.tick
    failures = [RuntimeError("database went away")]

    def flaky() -> TickOutcome:
        if failures:
            raise failures.pop()
        return real()

    core.rounds.tick = flaky  # type: ignore[method-assign]
    ticks = CountingTicks(core)
    scheduler = AsyncIOScheduler(timezone=UTC)
    schedulers.append(scheduler)
    with caplog.at_level(logging.ERROR):
        SurveyJobs(core, interval=FAST).install(scheduler)
        scheduler.start()
        await ticks.more(1)
    assert "database went away" in caplog.text
    assert len(prompt_keys(db)) == 4 and status(db, round_id) == OPEN  # not Fay's


def test_a_job_for_a_source_not_in_this_process_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.surveys"):
        tick_rounds("surveys-nosuchsource")
    assert "no survey job source surveys-nosuchsource in this process" in caplog.text
