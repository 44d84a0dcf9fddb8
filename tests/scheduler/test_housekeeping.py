"""The leader purges what is past its retention period every night, seen-request keys included."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import select

from bot.core import Core
from bot.services.retention import PURGE_ACTION
from scheduler.housekeeping import (
    PURGE_GRACE_SECONDS,
    PURGE_JOB_ID,
    Housekeeping,
    purge_past_retention,
)
from storage.engine import Database
from storage.inbound_tables import SeenRequest
from storage.outbox_tables import OutboxMessage
from storage.privacy_tables import AuditEntry
from tests.factories import build_world
from tests.fakes.clock import FakeClock


def test_the_purge_runs_nightly_at_half_past_two_in_the_deployments_zone(db: Database) -> None:
    source = Housekeeping(Core(db, clock=FakeClock()), zone="Europe/London")
    scheduler = AsyncIOScheduler(timezone=UTC)
    source.install(scheduler)
    job = scheduler.get_job(PURGE_JOB_ID)
    assert job is not None and job.args == (source.key,)
    assert job.misfire_grace_time == PURGE_GRACE_SECONDS and job.coalesce
    summer = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, summer) == datetime(2027, 7, 2, 1, 30, tzinfo=UTC)
    winter = datetime(2027, 12, 1, 12, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, winter) == datetime(2027, 12, 2, 2, 30, tzinfo=UTC)
    # The nights the clocks change: once each, at 02:30 local time.
    autumn = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, autumn) == datetime(2027, 10, 31, 2, 30, tzinfo=UTC)
    spring = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, spring) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


async def test_the_job_purges_what_is_due_and_forgets_old_request_keys(db: Database) -> None:
    clock = FakeClock(datetime(2027, 1, 20, 2, 30, tzinfo=UTC))
    core = Core(db, clock=clock)
    world = build_world(db)
    core.inbound.first_delivery("slack:event:old")
    clock.advance(days=7)
    core.inbound.first_delivery("slack:event:new")
    with db.session() as s:
        for n, age in enumerate((91, 89)):
            at = clock.now() - timedelta(days=age)
            s.add(
                OutboxMessage(
                    tenant_id=world.tenant_id,
                    key=f"test:{n}",
                    destination="person:1",
                    payload={},
                    not_before=at,
                    next_attempt_at=at,
                    status="sent",
                    created_at=at,
                )
            )
    source = Housekeeping(core)
    scheduler = AsyncIOScheduler()
    source.install(scheduler)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(PURGE_JOB_ID)
        assert job is not None
        await asyncio.to_thread(purge_past_retention, *job.args)
    finally:
        scheduler.shutdown(wait=False)
    with db.session() as session:
        assert session.exec(select(SeenRequest.key)).all() == ["slack:event:new"]
        assert session.exec(select(OutboxMessage.key)).all() == ["test:1"]
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == PURGE_ACTION)).one()
    assert entry.platform == "system" and entry.detail == {"outbox_messages": {"count": 1}}


def test_a_job_for_a_source_not_in_this_process_does_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.housekeeping"):
        purge_past_retention("not-a-source")
    assert [r.getMessage() for r in caplog.records] == [
        "no housekeeping source not-a-source in this process; job ignored"
    ]
