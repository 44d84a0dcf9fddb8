"""Healthcheck round jobs on the scheduler leader: one job that moves every round on.

Rounds are few and their steps (open, each nudge, close, the next round of a recurring one)
are minutes apart at the least, so one interval job reads the rounds table and does what is due
(`RoundService.tick`) rather than keeping a job per step in step with the table. Each step's
messages are keyed in the outbox by round, step and invitation, so a step run twice (a restart,
a new leader) sends nothing twice; the job's first run, at once after install, catches up on
whatever came due while no process led.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.core import Core

log = logging.getLogger(__name__)

TICK_JOB_ID = "surveys:tick"
TICK_INTERVAL = timedelta(seconds=20)

_cores: dict[str, Core] = {}
_lock = threading.Lock()


def tick_rounds(key: str) -> None:
    """The job function: open, nudge, close and renew the rounds that are due."""
    with _lock:
        core = _cores.get(key)
    if core is None:
        log.warning("no survey job source %s in this process; job ignored", key)
        return
    outcome = core.rounds.tick()
    if outcome.opened or outcome.closed or outcome.nudges or outcome.recurred:
        log.info(
            "rounds: opened %s (%d prompts), %d nudges, closed %s, next rounds %s",
            outcome.opened,
            outcome.prompts,
            outcome.nudges,
            outcome.closed,
            outcome.recurred,
        )


class SurveyJobs:
    """A job source for the runtime: the healthcheck rounds' tick."""

    def __init__(self, core: Core, *, interval: timedelta = TICK_INTERVAL) -> None:
        self.key = f"surveys-{uuid.uuid4().hex[:12]}"
        self.interval = interval
        with _lock:
            _cores[self.key] = core

    def install(self, scheduler: Any) -> None:
        scheduler.add_job(
            tick_rounds,
            IntervalTrigger(seconds=self.interval.total_seconds()),
            args=[self.key],
            id=TICK_JOB_ID,
            name="open, nudge and close healthcheck rounds",
            replace_existing=True,
            next_run_time=datetime.now(UTC),  # catch up at once on what came due meanwhile
            coalesce=True,
            max_instances=1,
        )
