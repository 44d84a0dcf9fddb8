"""The support job source: one interval job on the leader's scheduler that runs the sweep."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.core import Core
from bot.services.support.requests import SweepCounts
from scheduler.support import SWEEP_INTERVAL, SWEEP_JOB_ID, SupportJobs, sweep_requests
from storage.engine import Database
from tests.fakes.clock import FakeClock

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class CountingSweeps:
    """Stands in for `support.sweep`, counting runs so tests wait for runs, not time."""

    def __init__(self, core: Core, counts: SweepCounts | None = None) -> None:
        self.runs = 0
        self._counts = counts or SweepCounts()
        self._lock = threading.Lock()
        core.support.sweep = self  # type: ignore[method-assign]

    def __call__(self) -> SweepCounts:
        with self._lock:
            self.runs += 1
        return self._counts


@pytest.fixture
def core(db: Database) -> Core:
    return Core(db, clock=FakeClock(START))


@pytest.fixture
async def schedulers() -> AsyncIterator[list[AsyncIOScheduler]]:
    made: list[AsyncIOScheduler] = []
    yield made
    for s in made:
        if s.running:
            s.shutdown(wait=False)
    await asyncio.sleep(0.05)


async def test_install_adds_one_interval_job_that_runs_at_once(
    core: Core, schedulers: list[AsyncIOScheduler]
) -> None:
    sweeps = CountingSweeps(core)
    scheduler = AsyncIOScheduler(timezone=UTC)
    schedulers.append(scheduler)
    SupportJobs(core).install(scheduler)
    scheduler.start(paused=True)
    SupportJobs(core).install(scheduler)  # a new leader term installs again: still one job
    jobs = scheduler.get_jobs()
    assert [j.id for j in jobs] == [SWEEP_JOB_ID]
    assert isinstance(jobs[0].trigger, IntervalTrigger)
    assert jobs[0].trigger.interval == SWEEP_INTERVAL
    assert jobs[0].max_instances == 1 and jobs[0].coalesce
    scheduler.resume()
    for _ in range(200):
        if sweeps.runs:
            break
        await asyncio.sleep(0.01)
    assert sweeps.runs >= 1  # the first run catches up at once, not after a minute


def test_the_job_runs_the_sweep_and_logs_what_it_did(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    sweeps = CountingSweeps(core, SweepCounts(escalated=2, close_nudges=1))
    source = SupportJobs(core)
    with caplog.at_level(logging.INFO, logger="scheduler.support"):
        sweep_requests(source.key)
    assert sweeps.runs == 1
    assert "escalated 2, start nudges 0, close nudges 1" in caplog.text


def test_a_quiet_sweep_logs_nothing(core: Core, caplog: pytest.LogCaptureFixture) -> None:
    CountingSweeps(core)
    source = SupportJobs(core)
    with caplog.at_level(logging.INFO, logger="scheduler.support"):
        sweep_requests(source.key)
    assert caplog.text == ""


def test_a_job_for_a_source_not_in_this_process_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.support"):
        sweep_requests("support-not-here")
    assert "no support job source" in caplog.text
