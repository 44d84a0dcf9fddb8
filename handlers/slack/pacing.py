"""Keeping within Slack's rate limits before Slack has to say so, and pausing when it does.

Slack's documented limits (https://docs.slack.dev/apis/web-api/rate-limits and each method's
reference page), applied per method, per workspace, per app:

- chat.postMessage is in the "special" tier: it "generally allows posting one message per
  second per channel, while also maintaining a workspace-wide limit"; short bursts over 1/s
  "are allowed" but not guaranteed. The workspace-wide figure is not published, so it is not
  guessed here: the relay posts at one message per second per channel and learns the
  workspace limit from 429 answers, pausing the method for the Retry-After Slack gives.
- conversations.history and conversations.open are Tier 3: "50+ per minute", sporadic bursts
  welcome. (Since 29 May 2025, commercially distributed apps not in the Marketplace get 1 per
  minute for conversations.history; SLIS Bot is installed as an internal app, which keeps
  Tier 3.)
- users.info is Tier 4: "100+ per minute".

These are constants, not settings: they are Slack's, not the administrator's. Tests and the
benchmark pass their own limits to `Pacer`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from handlers.rates import Bucket
from handlers.rates import Rate as Rate  # callers build their Pacers from it

TIER_3 = Rate(50 / 60, burst=10)
TIER_4 = Rate(100 / 60, burst=20)

CHANNEL_INTERVAL = 1.0  # seconds between two messages to one channel (chat.postMessage)
METHOD_LIMITS: Mapping[str, Rate] = {
    "conversations.history": TIER_3,
    "conversations.open": TIER_3,
    "users.info": TIER_4,
}

# Slack always sends Retry-After with a 429; if it is missing, wait this long.
DEFAULT_RETRY_AFTER = 5.0
_PRUNE_AT = 10_000  # channels remembered before forgetting those long idle


class Paused(Exception):
    """The method is paused after a 429; try again in `retry_after` seconds."""

    def __init__(self, method: str, retry_after: float) -> None:
        super().__init__(f"{method} is rate limited for {retry_after:.1f}s more")
        self.method = method
        self.retry_after = retry_after


class Pacer:
    """Per-channel and per-method pacing for one Slack workspace (one bot token).

    `wait` returns when a call may go, or raises Paused while the method is paused after a 429;
    a waiting caller never holds a slot through a pause, so callers can give their work back.
    """

    def __init__(
        self,
        *,
        method_limits: Mapping[str, Rate] | None = None,
        channel_interval: float = CHANNEL_INTERVAL,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        limits = METHOD_LIMITS if method_limits is None else method_limits
        self._buckets = {method: Bucket(rate) for method, rate in limits.items()}
        self._channel_interval = channel_interval
        self._channel_next: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._now = now
        self._sleep = sleep

    def paused_for(self, method: str) -> float:
        """Seconds until the method may be called again (0 when it is not paused)."""
        return max(0.0, self._paused_until.get(method, 0.0) - self._now())

    def pause(self, method: str, seconds: float) -> None:
        """Slack said 429: no call to `method` for `seconds`."""
        until = self._now() + max(0.0, seconds)
        self._paused_until[method] = max(self._paused_until.get(method, 0.0), until)

    async def wait(self, method: str, channel: str | None = None) -> None:
        """Wait for a slot for `method` (and for `channel`, for posting); Paused if paused."""
        self._check(method)
        pace_channel = channel is not None and self._channel_interval > 0
        if channel is not None and pace_channel:
            ready = self._channel_next.get(channel, 0.0) - self._now()
            if ready > 0:
                await self._sleep(ready)
                self._check(method)
        bucket = self._buckets.get(method)
        if bucket is not None:
            async with bucket.lock:
                self._check(method)
                now = self._now()
                go = bucket.reserve(now)
                if go > now:
                    await self._sleep(go - now)
                bucket.went(go, self._now())
                self._check(method)  # a 429 may have come in while this caller waited
        if channel is not None and pace_channel:
            now = self._now()
            self._channel_next[channel] = now + self._channel_interval
            if len(self._channel_next) > _PRUNE_AT:
                self._forget_idle(now)

    def _check(self, method: str) -> None:
        remaining = self.paused_for(method)
        if remaining > 0:
            raise Paused(method, remaining)

    def _forget_idle(self, now: float) -> None:
        self._channel_next = {c: t for c, t in self._channel_next.items() if t > now}
