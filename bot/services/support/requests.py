"""Support requests from asking to closing, for every platform: the service the core holds.

It is put together from four parts, each in its own module: the machinery every move shares
(moves.py: finding a request for someone, the guarded update, the event, the messages), asking
(asking.py), the moves people make (acting.py) and the scheduler's sweeps (sweeps.py).
"""

from __future__ import annotations

from bot.services.support.acting import DECLINE_REASONS, Acting
from bot.services.support.asking import Ask, Asking, Submitted
from bot.services.support.moves import (
    CLOSE_NUDGE_AFTER,
    ESCALATE_AFTER,
    NEEDED_LIMIT,
    NOTE_LIMIT,
    URGENCIES,
    WHY_LIMIT,
    Acted,
    FieldProblem,
    destination,
)
from bot.services.support.sweeps import SweepCounts, Sweeps


class SupportService(Asking, Acting, Sweeps):
    """Asking, every move of the lifecycle, and the sweeps, over one database and clock."""


__all__ = [
    "CLOSE_NUDGE_AFTER",
    "DECLINE_REASONS",
    "ESCALATE_AFTER",
    "NEEDED_LIMIT",
    "NOTE_LIMIT",
    "URGENCIES",
    "WHY_LIMIT",
    "Acted",
    "Ask",
    "FieldProblem",
    "Submitted",
    "SupportService",
    "SweepCounts",
    "destination",
]
