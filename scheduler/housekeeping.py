"""Housekeeping on the scheduler leader: forgetting inbound request keys once they expire."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.core import Core

log = logging.getLogger(__name__)

PURGE_JOB_ID = "housekeeping:inbound-keys"
PURGE_EVERY_HOURS = 1

_cores: dict[str, Core] = {}
_lock = threading.Lock()


def purge_inbound_keys(key: str) -> None:
    """The job function: delete expired seen-request keys (ids only, like every job)."""
    with _lock:
        core = _cores.get(key)
    if core is None:
        log.warning("no housekeeping source %s in this process; job ignored", key)
        return
    purged = core.inbound.purge_expired()
    if purged:
        log.info("forgot %d expired inbound request key(s)", purged)


class Housekeeping:
    """A job source for the runtime: periodic clean-ups that any one replica may do."""

    def __init__(self, core: Core) -> None:
        self.key = uuid.uuid4().hex
        with _lock:
            _cores[self.key] = core

    def install(self, scheduler: Any) -> None:
        scheduler.add_job(
            purge_inbound_keys,
            IntervalTrigger(hours=PURGE_EVERY_HOURS),
            args=[self.key],
            id=PURGE_JOB_ID,
            name="forget expired inbound request keys",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
