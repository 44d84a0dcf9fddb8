"""Housekeeping on the scheduler leader: the nightly retention purge.

It removes every record past its retention period (bot/services/retention.py), seen-request
keys included: a key is remembered for the seen-request period, which outlives every platform's
retries, so the purge takes the place of the hourly clean-up of expired keys.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from bot.core import Core
from bot.services.retention import RetentionService
from scheduler.reminders import LocalTimeCronTrigger

log = logging.getLogger(__name__)

PURGE_JOB_ID = "housekeeping:retention"
# At night, when little else runs; outside the hour the clocks repeat or skip in Europe/London.
PURGE_AT = (2, 30)
# A run held up (a busy event loop, a slow leader hand-over) still runs; a night missed
# altogether is made up by the next purge, which takes everything past its cut-off.
PURGE_GRACE_SECONDS = 6 * 3600

_cores: dict[str, Core] = {}
_lock = threading.Lock()


def purge_past_retention(key: str) -> None:
    """The job function: purge what is past its retention period (ids only, like every job)."""
    with _lock:
        core = _cores.get(key)
    if core is None:
        log.warning("no housekeeping source %s in this process; job ignored", key)
        return
    report = RetentionService(core.db, core.clock).purge(core.clock.now())
    for tenant in report.tenants:
        if tenant.total:
            counts = ", ".join(f"{k.kind.value} {k.count}" for k in tenant.kinds if k.count)
            log.info("retention purge for %s: %s", tenant.la_code or "the deployment", counts)


class Housekeeping:
    """A job source for the runtime: clean-ups that any one replica may do."""

    def __init__(self, core: Core, *, zone: str = "Europe/London") -> None:
        self.key = uuid.uuid4().hex
        self.zone = zone
        with _lock:
            _cores[self.key] = core

    def install(self, scheduler: Any) -> None:
        hour, minute = PURGE_AT
        scheduler.add_job(
            purge_past_retention,
            LocalTimeCronTrigger(hour=hour, minute=minute, timezone=self.zone),
            args=[self.key],
            id=PURGE_JOB_ID,
            name="purge records past their retention period",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=PURGE_GRACE_SECONDS,
        )
