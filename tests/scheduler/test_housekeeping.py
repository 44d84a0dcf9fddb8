"""The leader forgets expired inbound request keys on a schedule."""

from __future__ import annotations

import asyncio

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func
from sqlmodel import select

from bot.core import Core
from bot.services.inbound import SEEN_FOR
from scheduler.housekeeping import PURGE_JOB_ID, Housekeeping, purge_inbound_keys
from storage.engine import Database
from storage.inbound_tables import SeenRequest
from tests.fakes.clock import FakeClock


async def test_the_purge_job_is_installed_and_forgets_expired_keys(db: Database) -> None:
    clock = FakeClock()
    core = Core(db, clock=clock)
    core.inbound.first_delivery("slack:event:old")
    clock.advance(seconds=SEEN_FOR.total_seconds() + 1)
    core.inbound.first_delivery("slack:event:new")
    source = Housekeeping(core)
    scheduler = AsyncIOScheduler()
    source.install(scheduler)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(PURGE_JOB_ID)
        assert job is not None and job.args == (source.key,)
        await asyncio.to_thread(purge_inbound_keys, *job.args)
    finally:
        scheduler.shutdown(wait=False)
    with db.session() as session:
        assert session.exec(select(SeenRequest.key)).all() == ["slack:event:new"]
        assert session.exec(select(func.count()).select_from(SeenRequest)).one() == 1
