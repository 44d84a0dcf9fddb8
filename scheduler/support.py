"""Support request sweeps on the scheduler leader: escalate what nobody claimed, nudge what stalled.

One interval job runs `SupportService.sweep`: requests carry the time each wait ends
(`escalate_at`, `start_nudge_at`, `close_nudge_at`), so a sweep is a few indexed reads. Each
escalation and nudge is a guarded update plus outbox rows keyed by request and event, so a
sweep run twice (a restart, a new leader) sends nothing twice; the first run, at once after
install, catches up on whatever came due while no process led.
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

SWEEP_JOB_ID = "support:sweep"
SWEEP_INTERVAL = timedelta(seconds=60)

_cores: dict[str, Core] = {}
_lock = threading.Lock()


def sweep_requests(key: str) -> None:
    """The job function: escalate and nudge the support requests that are due."""
    with _lock:
        core = _cores.get(key)
    if core is None:
        log.warning("no support job source %s in this process; job ignored", key)
        return
    counts = core.support.sweep()
    if counts.escalated or counts.start_nudges or counts.close_nudges or counts.problems:
        log.info(
            "support: escalated %d, start nudges %d, close nudges %d, problems %s",
            counts.escalated,
            counts.start_nudges,
            counts.close_nudges,
            counts.problems or "none",
        )


class SupportJobs:
    """A job source for the runtime: the support requests' sweep."""

    def __init__(self, core: Core, *, interval: timedelta = SWEEP_INTERVAL) -> None:
        self.key = f"support-{uuid.uuid4().hex[:12]}"
        self.interval = interval
        with _lock:
            _cores[self.key] = core

    def install(self, scheduler: Any) -> None:
        scheduler.add_job(
            sweep_requests,
            IntervalTrigger(seconds=self.interval.total_seconds()),
            args=[self.key],
            id=SWEEP_JOB_ID,
            name="escalate unclaimed support requests and nudge stalled ones",
            replace_existing=True,
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
        )
