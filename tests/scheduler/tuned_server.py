"""`slis serve` with short scheduler timings, for tests that kill servers and wait for another
to take over: followers retry the lock every SLIS_TEST_RETRY_SECONDS, the leader checks it
every SLIS_TEST_CHECK_SECONDS, and rows in flight are stale after SLIS_TEST_LEASE_SECONDS.

Run as `python tests/scheduler/tuned_server.py`; everything else is `slis serve` unchanged.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any


def main() -> None:
    from bot.services.outbox import OutboxPolicy
    from scheduler import leader, runtime

    leader.RETRY_SECONDS = float(os.environ.get("SLIS_TEST_RETRY_SECONDS", "1"))
    leader.CHECK_SECONDS = float(os.environ.get("SLIS_TEST_CHECK_SECONDS", "1"))
    lease = timedelta(seconds=float(os.environ.get("SLIS_TEST_LEASE_SECONDS", "2")))
    original = runtime.Runtime.__init__

    def tuned(self: runtime.Runtime, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("outbox_policy", OutboxPolicy(lease=lease))
        original(self, *args, **kwargs)

    runtime.Runtime.__init__ = tuned  # type: ignore[method-assign]

    from bot.cli import main as slis

    sys.argv = ["slis", "serve"]
    slis()


if __name__ == "__main__":
    main()
