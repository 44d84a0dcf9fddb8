"""The scheduler runtime: in every server process, waits to lead; while leading, runs an
APScheduler with the outbox relay and every job source's jobs.

Each leadership term gets a fresh AsyncIOScheduler with its own MemoryJobStore (a job store is
never shared between schedulers): job sources rebuild their jobs from the database each time
(stable ids, `replace_existing=True`), so nothing depends on what an earlier leader had in
memory. Jobs carry ids only. Missed runs within `misfire_grace_time` (an hour) run once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from apscheduler.executors.asyncio import AsyncIOExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.core import Core
from bot.ports import Clock, Messenger
from bot.services.outbox import OutboxPolicy, OutboxService
from bot.types import Platform
from scheduler import relay as relays
from scheduler.leader import Leadership
from scheduler.relay import CONCURRENCY, Relay

log = logging.getLogger(__name__)

RELAY_JOB_ID = "outbox:relay"
RELAY_JOB_NAME = "outbox relay"
# APScheduler's default grace is one second, which drops a run due during a restart.
JOB_DEFAULTS: dict[str, Any] = {"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1}
# On stepping down or stopping, how long sends under way get to finish and be recorded.
DRAIN_SECONDS = 20.0


class _QuietRelayRuns(logging.Filter):
    """Drops APScheduler's two INFO lines per run of the relay, which runs every second."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or RELAY_JOB_NAME not in record.getMessage()


logging.getLogger("apscheduler.executors.default").addFilter(_QuietRelayRuns())


class LeaderScheduler(AsyncIOScheduler):  # type: ignore[misc]
    """The leader's AsyncIOScheduler, which can take many jobs from a worker thread at once.

    Each job added from another thread queues a wake-up on the event loop, and asyncio runs all
    queued callbacks in one go: building 50,000 reminder jobs stalled the loop for seconds.
    Inside `adding_many()` wake-ups are coalesced, one per WAKE_EVERY jobs and one at the end,
    so a job due during the batch runs at most that many additions late.
    """

    WAKE_EVERY = 500

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._batch_lock = threading.Lock()
        self._batches = 0
        self._held = 0

    @contextmanager
    def adding_many(self) -> Iterator[None]:
        with self._batch_lock:
            self._batches += 1
        try:
            yield
        finally:
            with self._batch_lock:
                self._batches -= 1
                flush = self._batches == 0 and self._held > 0
                if flush:
                    self._held = 0
            if flush:
                super().wakeup()

    def wakeup(self) -> None:
        with self._batch_lock:
            if self._batches:
                self._held += 1
                if self._held < self.WAKE_EVERY:
                    return
                self._held = 0
        super().wakeup()


class JobSource(Protocol):
    """Something that schedules jobs (e.g. reminders)."""

    def install(self, scheduler: AsyncIOScheduler) -> None:
        """Add its jobs (stable ids, replace_existing=True). Called each time this process
        becomes the leader, on a fresh scheduler."""
        ...


class Runtime:
    """Leadership, the scheduler and the outbox relay of one server process."""

    def __init__(
        self,
        core: Core,
        messengers: Mapping[Platform, Messenger],
        *,
        clock: Clock | None = None,
        job_sources: Sequence[JobSource] = (),
        leadership: Leadership | None = None,
        relay_interval: float = 1.0,
        outbox_policy: OutboxPolicy | None = None,
        relay_concurrency: int = CONCURRENCY,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.clock = clock or core.clock
        self.outbox = OutboxService(core.db, self.clock, policy=outbox_policy)
        self.relay = Relay(self.outbox, messengers, concurrency=relay_concurrency)
        self.leadership = leadership or Leadership.for_database(core.db)
        self._job_sources = tuple(job_sources)
        self._relay_interval = relay_interval
        self._drain_seconds = drain_seconds
        self._relay_key = relays.register(self.relay)
        self._scheduler: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._work: asyncio.Task[None] | None = None
        self._stopped = False
        self._terms = 0

    @property
    def is_leader(self) -> bool:
        """True while this process runs the scheduler and the relay."""
        return self._scheduler is not None

    @property
    def scheduler(self) -> AsyncIOScheduler | None:
        """The running scheduler while this process leads, else None."""
        return self._scheduler

    @property
    def terms(self) -> int:
        """How many times this process has become the leader."""
        return self._terms

    async def start(self) -> None:
        """Try to lead now, and keep trying in the background; returns after the first try.

        Between tries and checks nothing waits on the event loop but a timer, so the app's
        own tasks are not mixed with long-lived ones of the runtime.
        """
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        await self._attempt()

    async def stop(self) -> None:
        """Step down (letting sends under way finish) and stop trying to lead."""
        if self._loop is None or self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        work = self._work
        if work is not None and not work.done():
            await asyncio.wait({work})
        try:
            if self.is_leader:
                await self._step_down()
        finally:
            await self.leadership.release()
            relays.unregister(self._relay_key)

    def _later(self, seconds: float, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        assert self._loop is not None
        if self._stopped:
            return

        def run() -> None:
            self._timer = None
            if not self._stopped:
                self._work = asyncio.ensure_future(step())

        self._timer = self._loop.call_later(max(0.0, seconds), run)

    async def _attempt(self) -> None:
        try:
            acquired = await self.leadership.try_acquire()
        except Exception:
            log.exception("could not try to become the scheduler leader")
            acquired = False
        if self._stopped:
            return
        if not acquired:
            self._later(self.leadership.retry_seconds, self._attempt)
            return
        self._become_leader()
        if self.leadership.check_seconds is not None:
            self._later(self.leadership.check_seconds, self._check)

    async def _check(self) -> None:
        held = await self.leadership.still_held()
        if self._stopped:
            return
        if held:
            assert self.leadership.check_seconds is not None
            self._later(self.leadership.check_seconds, self._check)
            return
        log.warning("this process is no longer the scheduler leader; will try again")
        await self._step_down()
        self._later(self.leadership.retry_seconds, self._attempt)

    def _become_leader(self) -> None:
        self.relay.resume(previous_leader_gone=self.leadership.sole_process)
        scheduler = LeaderScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults=JOB_DEFAULTS,
            timezone=UTC,
        )
        scheduler.add_job(
            relays.run_relay,
            IntervalTrigger(seconds=self._relay_interval, timezone=UTC),
            args=[self._relay_key],
            id=RELAY_JOB_ID,
            name=RELAY_JOB_NAME,
            replace_existing=True,
            next_run_time=datetime.now(UTC),
            # A pass may outlast the interval (a long queue); the next instance then sees the
            # relay busy and returns at once, instead of APScheduler warning every interval.
            max_instances=2,
        )
        for source in self._job_sources:
            try:
                source.install(scheduler)
            except Exception:
                log.exception("job source %r failed to install; its jobs will not run", source)
        scheduler.start()
        self._scheduler = scheduler
        self._terms += 1
        log.info(
            "this process now leads the scheduler and the outbox relay (%s)",
            self.leadership.describe(),
        )

    async def _step_down(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        await self.relay.stop(self._drain_seconds)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        log.info("scheduler and outbox relay stopped in this process")
