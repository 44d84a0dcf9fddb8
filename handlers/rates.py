"""Rates and the token bucket the platform pacers are built from (no platform's numbers here)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A steady rate with a burst allowance (a token bucket)."""

    per_second: float
    burst: int = 1

    @classmethod
    def within(cls, operations: int, seconds: float, *, burst: int) -> Rate:
        """The fastest rate with this burst that never lets more than `operations` through
        in any `seconds` (a bucket passes at most `burst + per_second * seconds` in a
        window that long)."""
        if not 0 < burst < operations:
            raise ValueError("the burst must leave room for a steady rate")
        return cls((operations - burst) / seconds, burst)


class Bucket:
    """The generic cell rate algorithm: each caller gets the next free slot."""

    def __init__(self, rate: Rate) -> None:
        self._interval = 1.0 / rate.per_second
        self._tolerance = (max(1, rate.burst) - 1) * self._interval
        self._tat = 0.0  # theoretical arrival time of the next request
        # One caller at a time takes a slot and waits for it, so calls leave in slot order
        # and a caller that wakes late pushes the next slot back (no bunching after a stall).
        self.lock = asyncio.Lock()

    def earliest(self, at: float) -> float:
        """When a caller arriving at `at` could go, without taking the slot."""
        return max(at, self._tat - self._tolerance)

    def reserve(self, at: float) -> float:
        """Take a slot no earlier than `at`; returns when the caller may go."""
        tat = max(self._tat, at)
        self._tat = tat + self._interval
        return max(at, tat - self._tolerance)

    def went(self, planned: float, actual: float) -> None:
        """The caller planned for `planned` went at `actual`. After a stall (late by more
        than half a slot) keep the spacing from then on; a timer's usual millisecond of
        lateness is not carried over, or it would add up to a slower pace."""
        if actual - planned > self._interval / 2:
            self._tat += actual - planned

    def idle(self, at: float) -> bool:
        """Whether the bucket is full again at `at` (a new bucket would behave the same)."""
        return self._tat <= at
