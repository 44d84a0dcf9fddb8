"""Keeping within Teams' rate limits before the Bot Connector has to say so, and pausing when
it does.

Teams' documented limits ("Optimize your bot with rate limiting in Teams",
https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit, the "per bot
per thread limit" table) apply per bot, per conversation ("thread": a 1:1 chat, a group chat or
a channel), per kind of operation:

- Send to conversation (we count posts and edits) and Create conversation: 7 in 1 s, 8 in 2 s,
  60 in 30 s, 1800 in 3600 s.
- Get conversation members: 14 in 1 s, 16 in 2 s, 120 in 30 s, 3600 in 3600 s.

On top of these is a global limit per app per tenant: the page has said 50 requests per second
and now says 30; the lower figure is used. Microsoft calls the values "for estimation only" and
subject to change, and asks bots to back off on 429 (and to retry 412, 502 and 504): a 429 or
412 pauses the operation app-wide for its Retry-After.

Each window is a token bucket whose burst plus its steady rate over the window stays within
the window's figure (`Rate.within`), so a conversation never goes over any of them: four
posts at once, then up to two a second for a while, and one every two seconds or so over an
hour.
These are constants, not settings: they are Microsoft's. Tests pass their own to `Pacer`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from handlers.rates import Bucket, Rate

SEND = "send to conversation"
CREATE = "create conversation"
MEMBERS = "get conversation members"

_PER_THREAD_SEND = (
    Rate.within(7, 1, burst=4),
    Rate.within(8, 2, burst=4),
    Rate.within(60, 30, burst=8),
    Rate.within(1800, 3600, burst=60),
)
THREAD_LIMITS: Mapping[str, tuple[Rate, ...]] = {
    SEND: _PER_THREAD_SEND,
    CREATE: _PER_THREAD_SEND,
    MEMBERS: (
        Rate.within(14, 1, burst=8),
        Rate.within(16, 2, burst=8),
        Rate.within(120, 30, burst=16),
        Rate.within(3600, 3600, burst=120),
    ),
}
APP_LIMIT = Rate.within(30, 1, burst=10)  # per app, per tenant, every operation

# The Bot Connector sends Retry-After with a 429 as a rule; if it is missing, wait this long.
DEFAULT_RETRY_AFTER = 5.0
_PRUNE_AT = 10_000  # conversations remembered before forgetting those long idle


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds a 429 or 412 asks for: its Retry-After (seconds or an HTTP date), else the
    default. `headers` looks names up without regard to case, as httpx's do."""
    value = headers.get("Retry-After")
    if value is None:
        return DEFAULT_RETRY_AFTER
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        return DEFAULT_RETRY_AFTER
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Paused(Exception):
    """The operation is paused after a 429 or 412; try again in `retry_after` seconds."""

    def __init__(self, operation: str, retry_after: float) -> None:
        super().__init__(f"{operation} is rate limited for {retry_after:.1f}s more")
        self.operation = operation
        self.retry_after = retry_after


@dataclass
class _Thread:
    """One operation's buckets in one conversation; callers take turns."""

    buckets: tuple[Bucket, ...]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def idle(self, at: float) -> bool:
        return not self.lock.locked() and all(b.idle(at) for b in self.buckets)


class Pacer:
    """Per-conversation and per-tenant pacing for one Teams bot.

    `wait` returns when a call may go, or raises Paused while the operation is paused after a
    429 or 412; a waiting caller never holds a slot through a pause, so callers can give their
    work back.
    """

    def __init__(
        self,
        *,
        thread_limits: Mapping[str, tuple[Rate, ...]] | None = None,
        app_limit: Rate | None = APP_LIMIT,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limits = THREAD_LIMITS if thread_limits is None else thread_limits
        self._app_limit = app_limit
        self._threads: dict[tuple[str, str], _Thread] = {}
        self._tenants: dict[str, Bucket] = {}
        self._paused_until: dict[str, float] = {}
        self._now = now
        self._sleep = sleep

    def paused_for(self, operation: str) -> float:
        """Seconds until the operation may be called again (0 when it is not paused)."""
        return max(0.0, self._paused_until.get(operation, 0.0) - self._now())

    def pause(self, operation: str, seconds: float) -> None:
        """The Bot Connector said 429 or 412: no such call for `seconds`."""
        until = self._now() + max(0.0, seconds)
        self._paused_until[operation] = max(self._paused_until.get(operation, 0.0), until)

    async def wait(self, operation: str, conversation: str, *, tenant: str) -> None:
        """Wait for a slot for `operation` in `conversation` (a thread in a channel counts as
        its channel) and in the tenant; Paused if the operation is paused."""
        self._check(operation)
        thread = self._thread(operation, conversation.split(";", 1)[0])
        async with thread.lock:
            self._check(operation)
            now = self._now()
            go = max((b.earliest(now) for b in thread.buckets), default=now)
            if go > now:
                await self._sleep(go - now)
                self._check(operation)
            await self._tenant_slot(operation, tenant)
            # Taken when the call really goes, so a wait for the tenant's slot cannot crowd
            # this conversation's calls closer together than its limits allow.
            now = self._now()
            for bucket in thread.buckets:
                bucket.reserve(now)

    async def _tenant_slot(self, operation: str, tenant: str) -> None:
        if self._app_limit is None:
            return
        bucket = self._tenants.get(tenant)
        if bucket is None:
            bucket = self._tenants[tenant] = Bucket(self._app_limit)
        async with bucket.lock:
            self._check(operation)
            now = self._now()
            go = bucket.reserve(now)
            if go > now:
                await self._sleep(go - now)
            bucket.went(go, self._now())
            self._check(operation)  # a 429 may have come in while this caller waited

    def _thread(self, operation: str, conversation: str) -> _Thread:
        key = (operation, conversation)
        thread = self._threads.get(key)
        if thread is None:
            if len(self._threads) >= _PRUNE_AT:
                now = self._now()
                self._threads = {k: t for k, t in self._threads.items() if not t.idle(now)}
            rates = self._limits.get(operation, ())
            thread = self._threads[key] = _Thread(tuple(Bucket(rate) for rate in rates))
        return thread

    def _check(self, operation: str) -> None:
        remaining = self.paused_for(operation)
        if remaining > 0:
            raise Paused(operation, remaining)
