"""The outbox relay: sends due outbox rows through the platforms' Messengers.

One pass (`Relay.run_once`, run by the scheduler every second or so) claims due rows, a few at
a time and never two for one destination, sends them concurrently, and records each outcome:
sent; retried later (rate limited: after Retry-After, not counted as a failed attempt; 5xx or
network: exponential backoff with full jitter); or parked and the administrators told
(permanent errors, or attempts used up). The pass ends when nothing more can go now.

A row found in flight after its lease (its process died mid-send) goes back to pending with
`needs_check`: before it is sent again the Messenger is asked whether the platform already has
it (the outbox key travels with the message), so a crash neither loses nor repeats a message.
A reply with files (an .ics invitation, for one person) cannot carry its key; the Messenger is
given its file names and text to recognise it by instead.

An edit of a sent message is an update on the platform (`Messenger.update`, retried like a
send; repeating one is harmless, so it is never checked first); an edit of an unsent message
was folded into it when claimed, and there is nothing to do. A reply in a thread is a send
with the parent's message id.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.ports import DeliveryFailed, Messenger
from bot.services.outbox import Claim, OutboxService
from bot.types import Platform

log = logging.getLogger(__name__)

CONCURRENCY = 8  # rows being sent at once (each to a different destination)
# With nothing to send but a platform paused for less than this, wait in the pass.
PAUSE_WAIT_LIMIT = 5.0
# People are reached on the first of these platforms they have an account on.
PLATFORM_PREFERENCE = (Platform.SLACK, Platform.TEAMS)


@dataclass
class RelayCounts:
    """What this relay has done since it was made (for logs, tests and the benchmark)."""

    sent: int = 0
    found_sent: int = 0  # rows in doubt that the platform turned out to have
    edited: int = 0  # sent messages updated on the platform
    folded: int = 0  # edits folded into their unsent original (nothing to send)
    retried: int = 0
    rate_limited: int = 0
    parked: int = 0
    recovered: int = 0


class Relay:
    """Moves due outbox rows to the platforms; one per process, run only by the leader."""

    def __init__(
        self,
        outbox: OutboxService,
        messengers: Mapping[Platform, Messenger],
        *,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.outbox = outbox
        self.counts = RelayCounts()
        self._messengers = dict(messengers)
        self._platforms = [p for p in PLATFORM_PREFERENCE if p in self._messengers] + [
            p for p in self._messengers if p not in PLATFORM_PREFERENCE
        ]
        self._concurrency = max(1, concurrency)
        self._active: dict[int, asyncio.Task[None]] = {}
        self._paused_until: dict[Platform, float] = {}  # event-loop time
        self._running = False
        self._stopping = False
        self._recover_all = False
        self._next_recovery = -math.inf
        self._idle = asyncio.Event()
        self._idle.set()
        self._said_no_messengers = False
        self._looked = False

    def resume(self, *, previous_leader_gone: bool = False) -> None:
        """Let passes run again (after `stop`). `previous_leader_gone`: no other process can
        still be sending, so rows in flight are stale at once rather than after the lease."""
        self._stopping = False
        self._recover_all = previous_leader_gone
        self._next_recovery = -math.inf

    async def stop(self, grace: float) -> bool:
        """Claim nothing more and wait up to `grace` seconds for sends under way to be
        recorded. True if the relay is idle."""
        self._stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning("the relay did not finish its sends in %.0fs", grace)
            return False
        return True

    async def run_once(self) -> None:
        """Send what can go now; returns when nothing more can. A pass already running makes
        this one return at once."""
        if self._running or self._stopping:
            return
        if not self._messengers:
            if not self._said_no_messengers:
                log.warning("no chat platform is configured: outbox rows stay pending")
                self._said_no_messengers = True
            return
        self._running = True
        self._idle.clear()
        try:
            await self._first_look()
            await self._drain()
        except asyncio.CancelledError:
            for task in self._active.values():
                task.cancel()
            raise
        except Exception:
            # The database, most likely: rows already claimed are settled below; the next
            # pass (a second or so later) tries again.
            log.exception("the outbox relay pass failed; the next one will try again")
        finally:
            if self._active and not self._cancelling():
                await asyncio.wait(list(self._active.values()))
            self._running = False
            self._idle.set()

    @staticmethod
    def _cancelling() -> bool:
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0

    async def _first_look(self) -> None:
        if self._looked:
            return
        waiting = await asyncio.to_thread(self.outbox.waiting_without_messenger, self._platforms)
        self._looked = True
        if waiting:
            names = ", ".join(p.value for p in self._platforms)
            log.warning(
                "%d outbox row(s) are for platforms this server cannot send to (it has %s);"
                " they stay pending",
                waiting,
                names,
            )

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await self._recover_if_due(loop.time())
            now = loop.time()
            ready = [p for p in self._platforms if self._paused_until.get(p, 0.0) <= now]
            free = self._concurrency - len(self._active)
            if free > 0 and ready:
                claims = await asyncio.to_thread(
                    self.outbox.claim_due, free, ready, people_on=self._platforms
                )
                for claim in claims:
                    self._active[claim.id] = asyncio.create_task(self._deliver(claim))
            if not self._active:
                pauses = [t - now for t in self._paused_until.values() if t > now]
                if pauses and min(pauses) <= PAUSE_WAIT_LIMIT:
                    await asyncio.sleep(min(pauses))
                    continue
                return
            await asyncio.wait(list(self._active.values()), return_when=asyncio.FIRST_COMPLETED)

    async def _recover_if_due(self, now: float) -> None:
        if now < self._next_recovery:
            return
        lease = self.outbox.policy.lease
        self._next_recovery = now + max(1.0, lease.total_seconds() / 6)
        older_than = timedelta(0) if self._recover_all else None
        recovered = await asyncio.to_thread(
            self.outbox.recover_stale, older_than=older_than, exclude=list(self._active)
        )
        self._recover_all = False
        self.counts.recovered += recovered

    async def _deliver(self, claim: Claim) -> None:
        try:
            await self._settle(claim)
        except Exception:
            # Recording the outcome failed (the database?): the row stays in flight and is
            # checked on the platform when its lease runs out.
            log.exception("outbox row %s: could not record what happened", claim.id)
        finally:
            self._active.pop(claim.id, None)

    async def _settle(self, claim: Claim) -> None:
        if claim.folded:
            self.counts.folded += 1
            return
        if claim.to is None or claim.reply is None:
            await self._park(claim, claim.problem or "nothing to send")
            return
        platform = claim.to.platform
        messenger = self._messengers.get(platform)
        if messenger is None:
            # Only for an edit or reply whose original went out on a platform this server
            # has no Messenger for now.
            await self._park(claim, f"this server cannot send to {platform.value}")
            return
        paused = self._paused_until.get(platform, 0.0) - asyncio.get_running_loop().time()
        if paused > 0:
            # A person reached on a platform that is rate limiting just now: wait with it.
            await self._defer(claim, DeliveryFailed("platform paused", retry_after=paused))
            return
        if claim.needs_check and claim.edit_of is None:
            files = [f.filename for f in claim.reply.files]
            try:
                found = await messenger.already_delivered(
                    claim.to,
                    claim.key,
                    since=claim.check_since,
                    thread=claim.thread,
                    files=files,
                    comment=claim.reply.text if files else None,
                )
            except DeliveryFailed as failure:
                if failure.retry_after is not None:
                    # The lookup method is paused, not posting: only this row waits.
                    await self._defer(claim, failure)
                    return
                if not failure.permanent:
                    await self._failed(claim, failure)
                    return
                log.warning(
                    "cannot tell whether outbox row %s (%s) already arrived (%s); sending it again",
                    claim.id,
                    claim.key,
                    failure.reason,
                )
                found = None
            if found is not None:
                log.info("outbox row %s (%s) had already arrived", claim.id, claim.key)
                if claim.edited and not await self._update(messenger, claim, found):
                    return
                await asyncio.to_thread(self.outbox.mark_sent, claim, found)
                self.counts.found_sent += 1
                return
        if claim.attempts > self.outbox.policy.max_attempts:
            # Only after crashes mid-send: each claim counts an attempt.
            await self._park(claim, f"gave up after {claim.attempts - 1} attempts")
            return
        if claim.edit_of is not None:
            if await self._update(messenger, claim, claim.edit_of):
                await asyncio.to_thread(self.outbox.mark_sent, claim, claim.edit_of)
                self.counts.edited += 1
            return
        try:
            message_id = await messenger.send(
                claim.to, claim.reply, key=claim.key, thread=claim.thread
            )
        except DeliveryFailed as failure:
            await self._failed(claim, failure)
            return
        except Exception as exc:
            log.exception("outbox row %s: unexpected error sending", claim.id)
            await self._failed(claim, DeliveryFailed(type(exc).__name__, maybe_delivered=True))
            return
        await asyncio.to_thread(self.outbox.mark_sent, claim, message_id)
        self.counts.sent += 1

    async def _update(self, messenger: Messenger, claim: Claim, message_id: str) -> bool:
        """Give the platform's message the claim's content; False (the outcome recorded) if
        it did not take it."""
        assert claim.to is not None and claim.reply is not None
        try:
            await messenger.update(claim.to, message_id, claim.reply)
        except DeliveryFailed as failure:
            await self._failed(claim, failure)
            return False
        except Exception as exc:
            log.exception("outbox row %s: unexpected error updating", claim.id)
            await self._failed(claim, DeliveryFailed(type(exc).__name__))
            return False
        return True

    async def _failed(self, claim: Claim, failure: DeliveryFailed) -> None:
        assert claim.to is not None
        if failure.retry_after is not None:
            # The whole platform waits, not just this row.
            loop = asyncio.get_running_loop()
            until = loop.time() + failure.retry_after
            platform = claim.to.platform
            self._paused_until[platform] = max(self._paused_until.get(platform, 0.0), until)
            await self._defer(claim, failure)
            return
        if failure.permanent:
            await self._park(claim, failure.reason)
            return
        if self.outbox.exhausted(claim):
            await self._park(claim, f"{failure.reason} (after {claim.attempts} attempts)")
            return
        retry_at = self.outbox.retry_at(claim.attempts)
        log.info(
            "outbox row %s failed (%s); attempt %d of %d, next at %s",
            claim.id,
            failure.reason,
            claim.attempts,
            self.outbox.policy.max_attempts,
            retry_at.isoformat(timespec="seconds"),
        )
        await asyncio.to_thread(
            self.outbox.mark_retry,
            claim,
            failure.reason,
            retry_at,
            needs_check=failure.maybe_delivered,
        )
        self.counts.retried += 1

    async def _defer(self, claim: Claim, failure: DeliveryFailed) -> None:
        """Back to the queue until the rate limit ends; waiting is not a failed attempt."""
        assert failure.retry_after is not None
        retry_at = self.outbox.clock.now() + timedelta(seconds=failure.retry_after)
        await asyncio.to_thread(
            self.outbox.mark_retry,
            claim,
            failure.reason,
            retry_at,
            counted=False,
            needs_check=failure.maybe_delivered,
        )
        self.counts.rate_limited += 1

    async def _park(self, claim: Claim, error: str) -> None:
        await asyncio.to_thread(self.outbox.park, claim, error)
        self.counts.parked += 1


# --- the scheduler job: ids only ---------------------------------------------------------

_relays: dict[str, Relay] = {}


def register(relay: Relay) -> str:
    """File the relay under a key for `run_relay` (scheduler jobs carry ids, not objects)."""
    key = f"relay-{uuid.uuid4().hex[:12]}"
    _relays[key] = relay
    return key


def unregister(key: str) -> None:
    _relays.pop(key, None)


async def run_relay(relay_key: str) -> None:
    """The relay's scheduler job: one pass of the relay filed under `relay_key`."""
    relay = _relays.get(relay_key)
    if relay is None:
        log.debug("relay %s is gone; nothing to do", relay_key)
        return
    await relay.run_once()
