"""The scheduler runtime: leadership (lock file, advisory lock), a fresh scheduler per term
with the relay and the job sources, stepping down, and its place in the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.app import create_app
from bot.core import Core
from bot.services.outbox import SENT
from scheduler.leader import (
    AdvisoryLockLeadership,
    Leadership,
    LockFileLeadership,
    SoleLeadership,
)
from scheduler.relay import run_relay
from scheduler.runtime import RELAY_JOB_ID, Runtime
from storage.engine import Database
from tests.conftest import PG_URL
from tests.conftest import _truncate_pg as truncate_pg
from tests.fakes.slack_api import FakeSlackApi, fake_slack
from tests.scheduler.outbox_world import enqueue_many, statuses, world_with_administrator
from tests.scheduler.test_outbox_relay import until
from tests.slack.harness import slack_settings

__all__ = ["fake_slack"]


class RecordingSource:
    """A job source that adds one job and remembers each scheduler it was given."""

    def __init__(self) -> None:
        self.schedulers: list[Any] = []

    def install(self, scheduler: Any) -> None:
        self.schedulers.append(scheduler)
        scheduler.add_job(noop, "interval", hours=1, args=[7], id="test:job", replace_existing=True)


async def noop(thing_id: int) -> None:
    return None


async def test_the_leader_runs_a_fresh_scheduler_with_the_relay_and_each_source(
    db: Database,
) -> None:
    source = RecordingSource()
    runtime = Runtime(Core(db), {}, job_sources=[source], leadership=SoleLeadership())
    assert not runtime.is_leader
    await runtime.start()
    try:
        assert runtime.is_leader and runtime.scheduler is not None
        relay = runtime.scheduler.get_job(RELAY_JOB_ID)
        assert relay.func is run_relay and all(isinstance(a, str) for a in relay.args)
        assert relay.misfire_grace_time == 3600 and relay.coalesce
        job = runtime.scheduler.get_job("test:job")
        assert job.misfire_grace_time == 3600 and job.coalesce and job.args == (7,)
        assert source.schedulers == [runtime.scheduler]
        scheduler = runtime.scheduler
    finally:
        await runtime.stop()
    assert not runtime.is_leader and runtime.scheduler is None
    await asyncio.sleep(0)  # the scheduler shuts down on the loop's next turn
    assert not scheduler.running


async def test_one_process_per_sqlite_file_leads_the_other_waits_its_turn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, db: Database
) -> None:
    lock = tmp_path / "slis.db.scheduler-lock"
    first_source, second_source = RecordingSource(), RecordingSource()
    first = Runtime(
        Core(db),
        {},
        job_sources=[first_source],
        leadership=LockFileLeadership(lock, retry_seconds=0.05),
    )
    second = Runtime(
        Core(db),
        {},
        job_sources=[second_source],
        leadership=LockFileLeadership(lock, retry_seconds=0.05),
    )
    with caplog.at_level(logging.WARNING):
        await first.start()
        await second.start()
    try:
        assert first.is_leader and not second.is_leader
        assert "another process on this SQLite database runs the scheduler" in caplog.text
        assert lock.read_text().strip().isdigit()  # the holder's pid, for whoever looks
        await first.stop()
        await until(lambda: second.is_leader, seconds=2)
        assert len(second_source.schedulers) == 1 and len(first_source.schedulers) == 1
    finally:
        await first.stop()
        await second.stop()


def test_the_leadership_follows_the_database(tmp_path: Path) -> None:
    sqlite = Database.from_url(f"sqlite:///{tmp_path}/slis.db")
    lock = Leadership.for_database(sqlite)
    assert isinstance(lock, LockFileLeadership) and lock.path == tmp_path / "slis.db.scheduler-lock"
    assert lock.sole_process and lock.retry_seconds == 10
    assert isinstance(Leadership.for_database(Database.from_url("sqlite://")), SoleLeadership)
    pg = Database.from_url("postgresql://nobody@127.0.0.1:1/none")
    advisory = Leadership.for_database(pg, retry_seconds=3)
    assert isinstance(advisory, AdvisoryLockLeadership) and not advisory.sole_process
    assert advisory.retry_seconds == 3 and advisory.check_seconds == 5
    for database in (sqlite, pg):
        database.dispose()


class FlakyLeadership(Leadership):
    """Leads, loses the lead once at the first check, then leads again."""

    check_seconds = 0.05

    def __init__(self) -> None:
        super().__init__(retry_seconds=0.05)
        self.checks = 0

    @property
    def sole_process(self) -> bool:
        return False

    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        self.checks += 1
        return self.checks != 1


async def test_losing_the_lead_stops_the_scheduler_and_it_tries_again(db: Database) -> None:
    source = RecordingSource()
    runtime = Runtime(Core(db), {}, job_sources=[source], leadership=FlakyLeadership())
    await runtime.start()
    try:
        first = runtime.scheduler
        await until(lambda: runtime.terms == 2, seconds=2)
        assert first is not None and not first.running
        assert len(source.schedulers) == 2 and source.schedulers[1] is not first
    finally:
        await runtime.stop()


async def test_the_app_runs_the_relay_in_its_lifespan(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    world, _ = world_with_administrator(db)
    keys = enqueue_many(db, world.tenant_id, 3, channels=["C1", "C2", "C3"])
    app = create_app(slack_settings(database_url, fake_slack.url))
    async with app.router.lifespan_context(app):
        await until(lambda: statuses(db) == {SENT: 3}, seconds=5)
    assert fake_slack.posted_keys() == dict.fromkeys(keys, 1)


# --- PostgreSQL: the advisory lock --------------------------------------------------------


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The run's PostgreSQL database, emptied; skips without SLIS_TEST_DATABASE_URL."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set SLIS_TEST_DATABASE_URL (advisory locks)")
    url = request.getfixturevalue("pg_migrated")
    truncate_pg(url)
    database = Database.from_url(url)
    yield database
    database.dispose()


async def test_exactly_one_holds_the_advisory_lock_and_another_takes_over(pg: Database) -> None:
    a = AdvisoryLockLeadership(pg, retry_seconds=0.1, check_seconds=0.1)
    b = AdvisoryLockLeadership(pg, retry_seconds=0.1, check_seconds=0.1)
    try:
        assert await a.try_acquire()
        assert not await b.try_acquire()
        assert await a.still_held()
        # The leader's session ends (as when its process is killed): the server frees the lock.
        assert a._conn is not None
        pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with pg.engine.connect() as conn:
            ended = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).all()
        assert ended == [(True,)]
        assert not await a.still_held()
        assert await b.try_acquire()
        assert not await a.try_acquire()
    finally:
        await a.release()
        await b.release()


async def test_the_lock_connection_is_kept_alive_and_hung_leaders_are_cut_off(
    pg: Database,
) -> None:
    a = AdvisoryLockLeadership(pg)
    try:
        assert await a.try_acquire()
        assert a._conn is not None
        settings = {
            name: a._conn.execute(text(f"SHOW {name}")).scalar()
            for name in ("tcp_keepalives_idle", "idle_session_timeout")
        }
        assert settings["tcp_keepalives_idle"] == "10"
        assert settings["idle_session_timeout"] in ("1min", "60s")
    finally:
        await a.release()
    # Released: somebody else can take it at once.
    b = AdvisoryLockLeadership(pg)
    try:
        assert await b.try_acquire()
    finally:
        await b.release()
