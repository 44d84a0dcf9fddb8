"""The outbox relay end to end in one process: the real Runtime (scheduler, leadership), the
Slack Messenger and the fake Slack Web API. Rate limits, 5xx, permanent errors, crashes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackCredentials, SlackMode
from bot.core import Core
from bot.ports import SystemClock
from bot.services.outbox import FAILED, SENT, OutboxPolicy, OutboxService, Recipient, enqueue
from bot.types import Platform
from handlers.slack.messenger import EVENT_TYPE, SlackMessenger
from handlers.slack.pacing import Pacer
from scheduler.leader import Leadership, LockFileLeadership
from scheduler.relay import CONCURRENCY
from scheduler.runtime import Runtime
from storage.engine import Database
from tests.fakes.slack_api import FakeSlackApi, fake_slack
from tests.scheduler.outbox_world import (
    ADMIN_USER,
    channel,
    enqueue_many,
    message,
    rows,
    statuses,
    world_with_administrator,
)
from tests.slack.harness import BOT_TOKEN

__all__ = ["fake_slack"]

FAST = OutboxPolicy(
    lease=timedelta(seconds=60),
    max_attempts=8,
    backoff_base=timedelta(milliseconds=50),
    backoff_cap=timedelta(milliseconds=200),
)


def slack_messenger(fake: FakeSlackApi) -> SlackMessenger:
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, fake.url)
    # Slack's pacing, five times faster and without the Tier 3 pace for history lookups (50 a
    # minute): retries wait for their channel, and tests with many 5xx answers would be slow.
    # Pacing at Slack's own rates has tests of its own.
    return SlackMessenger.for_credentials(
        creds, pacer=Pacer(method_limits={}, channel_interval=0.2)
    )


@pytest.fixture
async def runtime_for() -> AsyncIterator[Callable[..., Runtime]]:
    """Makes Runtimes over the fake Slack; stops them and closes their messengers after."""
    made: list[tuple[Runtime, SlackMessenger | None]] = []

    def make(
        db: Database,
        fake: FakeSlackApi | None,
        *,
        policy: OutboxPolicy = FAST,
        leadership: Leadership | None = None,
    ) -> Runtime:
        messenger = slack_messenger(fake) if fake is not None else None
        messengers = {Platform.SLACK: messenger} if messenger is not None else {}
        runtime = Runtime(
            Core(db),
            messengers,
            leadership=leadership,
            relay_interval=0.05,
            outbox_policy=policy,
        )
        made.append((runtime, messenger))
        return runtime

    yield make
    for runtime, messenger in made:
        await runtime.stop()
        if messenger is not None:
            await messenger.close()


async def until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {seconds}s")
        await asyncio.sleep(0.02)


async def test_rate_limits_and_server_errors_delay_but_never_lose_or_repeat(
    runtime_for: Callable[..., Runtime], db: Database, fake_slack: FakeSlackApi
) -> None:
    world, _ = world_with_administrator(db)
    t0 = datetime.now(UTC)
    due = [t0] * 20 + [t0 + timedelta(seconds=2.2, milliseconds=20 * i) for i in range(20)]
    keys = enqueue_many(
        db, world.tenant_id, 40, channels=[f"C{i}" for i in range(20)], not_before=due
    )
    fake_slack.fail("chat.postMessage", status=429, retry_after=2)
    fake_slack.intermittent("chat.postMessage", status=500, every=4)

    runtime = runtime_for(db, fake_slack)
    await runtime.start()
    try:
        await until(lambda: statuses(db) == {SENT: 40})
    finally:
        await runtime.stop()

    assert fake_slack.posted_keys() == dict.fromkeys(keys, 1)  # all arrived, none twice
    arrived = {m.key: m.at for m in fake_slack.posted()}
    not_before = {r.key: r.not_before.replace(tzinfo=UTC).timestamp() for r in rows(db)}
    assert all(arrived[k] >= not_before[k] for k in keys)  # none early
    posts = fake_slack.calls_to("chat.postMessage")
    limited = posts[0].at  # the first post was answered 429, Retry-After: 2
    during_pause = [c.at - limited for c in posts[1:] if c.at < limited + 2.0]
    # Only posts already on their way when the 429 came back; none was started in the pause.
    # The count is the check: on a loaded machine the fake records even in-flight posts late
    # (1.4 s after the 429 was seen once), so when they arrive proves nothing.
    assert len(during_pause) < CONCURRENCY
    counts = runtime.relay.counts
    assert counts.rate_limited >= 1 and counts.retried >= 5
    # A 5xx may have posted the message: the relay looked before posting again.
    assert fake_slack.calls_to("conversations.history")


async def test_a_channel_that_does_not_exist_parks_the_row_and_alerts_the_administrator(
    runtime_for: Callable[..., Runtime], db: Database, fake_slack: FakeSlackApi
) -> None:
    world, admin = world_with_administrator(db)
    fake_slack.missing_channels.add("C0GONE")
    with db.session() as s:
        for key, name in (("reminder:42:2026-12-01", "C0GONE"), ("reminder:43:2026-12-01", "C1")):
            enqueue(
                s,
                tenant_id=world.tenant_id,
                key=key,
                to=Recipient(conversation=channel(name)),
                reply=message(key),
                not_before=datetime.now(UTC),
                now=datetime.now(UTC),
            )
    runtime = runtime_for(db, fake_slack)
    await runtime.start()
    try:
        await until(lambda: statuses(db) == {FAILED: 1, SENT: 2})
    finally:
        await runtime.stop()
    parked, sent, alert = rows(db)
    assert parked.status == FAILED and parked.attempts == 1  # parked at once, no retries
    assert parked.last_error == "chat.postMessage: channel_not_found"
    assert alert.key == f"outbox-alert:{parked.id}:person:{admin}" and alert.status == SENT
    [posted] = fake_slack.posted(f"D{ADMIN_USER}")
    assert posted.text and "could not be delivered" in posted.text and "C0GONE" in posted.text
    assert posted.key == alert.key
    assert [p.key for p in fake_slack.posted("C1")] == [sent.key]


async def test_an_alert_that_cannot_be_delivered_alerts_nobody(
    runtime_for: Callable[..., Runtime], db: Database, fake_slack: FakeSlackApi
) -> None:
    world, _ = world_with_administrator(db)
    fake_slack.missing_channels.update({"C0GONE", ADMIN_USER})
    enqueue_many(db, world.tenant_id, 1, channels=["C0GONE"])
    runtime = runtime_for(db, fake_slack)
    await runtime.start()
    try:
        await until(lambda: statuses(db) == {FAILED: 2})
        await asyncio.sleep(0.2)
    finally:
        await runtime.stop()
    assert len(rows(db)) == 2 and fake_slack.posted() == []


async def test_attempts_run_out_and_the_row_is_parked(
    runtime_for: Callable[..., Runtime], db: Database, fake_slack: FakeSlackApi
) -> None:
    world, _ = world_with_administrator(db)
    fake_slack.fail("chat.postMessage", status=502, times=None)
    enqueue_many(db, world.tenant_id, 1, channels=["C1"])
    policy = OutboxPolicy(
        max_attempts=3,
        backoff_base=timedelta(milliseconds=20),
        backoff_cap=timedelta(milliseconds=50),
    )
    runtime = runtime_for(db, fake_slack, policy=policy)
    await runtime.start()
    try:
        await until(lambda: statuses(db) == {FAILED: 2})  # the row, then its alert
    finally:
        await runtime.stop()
    row, alert = rows(db)
    assert row.attempts == 3 and row.last_error == "chat.postMessage: HTTP 502 (after 3 attempts)"
    assert alert.key.startswith("outbox-alert:") and alert.attempts == 3
    assert len(fake_slack.calls_to("chat.postMessage")) == 6


async def test_rows_a_dead_process_had_in_flight_are_checked_before_they_are_sent_again(
    runtime_for: Callable[..., Runtime], db: Database, fake_slack: FakeSlackApi, tmp_path: Path
) -> None:
    world, _ = world_with_administrator(db)
    keys = enqueue_many(db, world.tenant_id, 3, channels=["C1", "C2", "C3"])
    # A process claimed all three and died; it had got the first one to Slack.
    first, _, _ = OutboxService(db, SystemClock()).claim_due(3, [Platform.SLACK])
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    await client.chat_postMessage(
        channel="C1",
        text="Message 0",
        metadata={"event_type": EVENT_TYPE, "event_payload": {"key": first.key}},
    )
    # The lock file says no earlier leader is alive, so the rows need not wait out the lease.
    leadership = LockFileLeadership(tmp_path / "relay.lock")
    runtime = runtime_for(db, fake_slack, leadership=leadership)
    await runtime.start()
    try:
        await until(lambda: statuses(db) == {SENT: 3}, seconds=5)
    finally:
        await runtime.stop()
    assert fake_slack.posted_keys() == dict.fromkeys(keys, 1)
    assert runtime.relay.counts.recovered == 3 and runtime.relay.counts.found_sent == 1
    assert rows(db)[0].message_id == fake_slack.posted("C1")[0].ts


class SharedLeadership(Leadership):
    """Like PostgreSQL's: leading does not prove an earlier leader has stopped sending."""

    @property
    def sole_process(self) -> bool:
        return False

    async def try_acquire(self) -> bool:
        return True


async def test_when_an_earlier_leader_may_be_alive_rows_in_flight_wait_for_their_lease(
    runtime_for: Callable[..., Runtime], db: Database, fake_slack: FakeSlackApi
) -> None:
    world, _ = world_with_administrator(db)
    keys = enqueue_many(db, world.tenant_id, 2, channels=["C1", "C2"])
    OutboxService(db, SystemClock()).claim_due(2, [Platform.SLACK])
    lease = timedelta(seconds=1)
    runtime = runtime_for(
        db, fake_slack, leadership=SharedLeadership(), policy=OutboxPolicy(lease=lease)
    )
    started = time.monotonic()
    await runtime.start()
    try:
        await until(lambda: statuses(db) == {SENT: 2}, seconds=5)
    finally:
        await runtime.stop()
    assert time.monotonic() - started >= lease.total_seconds() * 0.9
    assert fake_slack.posted_keys() == dict.fromkeys(keys, 1)


async def test_without_a_messenger_rows_stay_pending_and_the_log_says_so_once(
    runtime_for: Callable[..., Runtime], db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    world, _ = world_with_administrator(db)
    enqueue_many(db, world.tenant_id, 2, channels=["C1"])
    runtime = runtime_for(db, None)
    with caplog.at_level(logging.WARNING):
        await runtime.start()
        await asyncio.sleep(0.3)
        await runtime.stop()
    assert statuses(db) == {"pending": 2}
    assert caplog.text.count("no chat platform is configured") == 1


async def test_a_person_goes_to_their_direct_message_or_is_parked_without_an_account(
    runtime_for: Callable[..., Runtime], db: Database, fake_slack: FakeSlackApi
) -> None:
    world, _ = world_with_administrator(db)
    with db.session() as s:
        for email in ("ada.head@schools.example.org", "fay@schools.example.org"):
            enqueue(
                s,
                tenant_id=world.tenant_id,
                key=f"nudge:{email}",
                to=Recipient(person_id=world.people[email]),
                reply=message(email),
                not_before=datetime.now(UTC),
                now=datetime.now(UTC),
            )
    runtime = runtime_for(db, fake_slack)
    await runtime.start()
    await until(lambda: statuses(db) == {SENT: 2, FAILED: 1})
    ada, fay, alert = rows(db)
    ada_user = world.users["ada.head@schools.example.org"].user_id
    assert [p.key for p in fake_slack.posted(f"D{ada_user}")] == [ada.key]
    assert (
        fay.status == FAILED
        and fay.last_error == f"person {fay.person_id} has no chat account on slack"
    )
    assert [p.key for p in fake_slack.posted(f"D{ADMIN_USER}")] == [alert.key]
