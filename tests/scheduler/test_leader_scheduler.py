"""The leader's scheduler takes a batch of jobs from a worker thread with few loop wake-ups."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from scheduler.runtime import LeaderScheduler


def noop() -> None:
    """A job that does nothing."""


async def test_adding_many_coalesces_wakeups(monkeypatch: pytest.MonkeyPatch) -> None:
    woken: list[int] = []
    real = AsyncIOScheduler.wakeup
    monkeypatch.setattr(AsyncIOScheduler, "wakeup", lambda self: (woken.append(1), real(self))[1])
    scheduler = LeaderScheduler(timezone=UTC)
    scheduler.start()
    woken.clear()
    later = datetime.now(UTC) + timedelta(days=1)

    def add(count: int) -> None:
        with scheduler.adding_many():
            for i in range(count):
                scheduler.add_job(noop, DateTrigger(run_date=later), id=f"job-{i}")

    try:
        await asyncio.to_thread(add, 1200)
        assert len(scheduler.get_jobs()) == 1200
        assert len(woken) == 1200 // LeaderScheduler.WAKE_EVERY + 1
        woken.clear()
        scheduler.add_job(noop, DateTrigger(run_date=later), id="one-more")
        assert len(woken) == 1  # outside a batch, every addition wakes the loop as usual
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


async def test_a_job_due_during_a_batch_still_runs() -> None:
    ran = asyncio.Event()
    loop = asyncio.get_running_loop()
    scheduler = LeaderScheduler(timezone=UTC)
    scheduler.start()

    def add() -> None:
        with scheduler.adding_many():
            scheduler.add_job(loop.call_soon_threadsafe, args=[ran.set], id="due-now")

    try:
        await asyncio.to_thread(add)
        await asyncio.wait_for(ran.wait(), timeout=5)
        assert ran.is_set()
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
