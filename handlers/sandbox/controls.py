"""What the sandbox page controls outside the chat: the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class TimeControl(Protocol):
    """Moves the bot's clock forward, running on the way what falls due (the scheduler's
    sandbox timeline)."""

    async def jump(self, to: datetime) -> None:
        """Stand at `to` (later than now), having run everything due by then, in order."""
        ...
