"""Teams pacing on a clock that moves only when the pacer sleeps: the documented limits hold in
every window, conversations and tenants do not hold each other up, and a 429 pauses."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from handlers.rates import Rate
from handlers.teams.pacing import (
    DEFAULT_RETRY_AFTER,
    MEMBERS,
    SEND,
    Pacer,
    Paused,
    retry_after,
)
from tests.fakes.clock import Ticker

TENANT = "00000000-0000-0000-0000-00000000e55e"
CHANNEL = "19:c0ffee0000@thread.tacv2"
# Microsoft's "per bot per thread" table: (operations, seconds).
DOCUMENTED = {
    SEND: [(7, 1), (8, 2), (60, 30), (1800, 3600)],
    MEMBERS: [(14, 1), (16, 2), (120, 30), (3600, 3600)],
}
PER_APP_PER_TENANT = (30, 1)


def most_in_any_window(times: Sequence[float], seconds: float) -> int:
    """The most calls in any closed window `seconds` long."""
    ordered = sorted(times)
    return max(
        bisect.bisect_right(ordered, start + seconds + 1e-9) - i for i, start in enumerate(ordered)
    )


async def times_of(
    pacer: Pacer, tick: Ticker, calls: Sequence[tuple[str, str, str]]
) -> list[float]:
    out = []
    for operation, conversation, tenant in calls:
        await pacer.wait(operation, conversation, tenant=tenant)
        out.append(tick.now())
    return out


@pytest.mark.parametrize("operation", [SEND, MEMBERS])
async def test_one_conversation_stays_within_every_documented_window(operation: str) -> None:
    tick = Ticker()
    pacer = Pacer(now=tick.now, sleep=tick.sleep)
    count = 2 * DOCUMENTED[operation][-1][0]  # two hours' worth at the hourly limit
    times = await times_of(pacer, tick, [(operation, "a:1person", TENANT)] * count)
    for operations, seconds in DOCUMENTED[operation]:
        assert most_in_any_window(times, seconds) <= operations, (operations, seconds)
    # ...and uses most of them: the hourly allowance goes within the hour.
    hourly = DOCUMENTED[operation][-1][0]
    assert times[hourly - 1] - times[0] == pytest.approx(3600)


async def test_a_burst_then_a_pace() -> None:
    tick = Ticker()
    pacer = Pacer(now=tick.now, sleep=tick.sleep)
    for _ in range(6):
        await pacer.wait(SEND, "a:1person", tenant=TENANT)
    assert tick.slept[0] == 0.5  # four at once, the fifth half a second later
    assert len(tick.slept) == 2


async def test_conversations_and_tenants_do_not_hold_each_other_up() -> None:
    tick = Ticker()
    pacer = Pacer(now=tick.now, sleep=tick.sleep)
    for _ in range(4):
        await pacer.wait(SEND, "a:1ada", tenant=TENANT)
    await pacer.wait(SEND, "a:1bea", tenant=TENANT)
    await pacer.wait(MEMBERS, "a:1ada", tenant=TENANT)  # another operation has its own limits
    assert tick.slept == []


async def test_a_reply_in_a_thread_counts_against_its_channel() -> None:
    tick = Ticker()
    pacer = Pacer(app_limit=None, now=tick.now, sleep=tick.sleep)
    for n in range(4):
        await pacer.wait(SEND, f"{CHANNEL};messageid={n}", tenant=TENANT)
    await pacer.wait(SEND, CHANNEL, tenant=TENANT)
    assert tick.slept == [0.5]


async def test_the_tenant_limit_holds_across_conversations() -> None:
    tick = Ticker()
    pacer = Pacer(now=tick.now, sleep=tick.sleep)
    calls = [(SEND, f"a:1person{n}", TENANT) for n in range(300)]
    times = await times_of(pacer, tick, calls)
    operations, seconds = PER_APP_PER_TENANT
    assert most_in_any_window(times, seconds) <= operations
    assert times[-1] - times[0] <= 300 / 20  # ten at once, then twenty a second
    # Another tenant's calls do not wait behind this one's.
    before = tick.now()
    await pacer.wait(SEND, "a:1elsewhere", tenant="another-tenant")
    assert tick.now() == before


async def test_a_pause_is_reported_not_slept_through() -> None:
    tick = Ticker()
    pacer = Pacer(now=tick.now, sleep=tick.sleep)
    pacer.pause(SEND, 30)
    with pytest.raises(Paused) as raised:
        await pacer.wait(SEND, "a:1person", tenant=TENANT)
    assert raised.value.retry_after == 30
    await pacer.wait(MEMBERS, "a:1person", tenant=TENANT)  # other operations are not paused
    tick.t += 30
    await pacer.wait(SEND, "a:1person", tenant=TENANT)


async def test_a_pause_that_comes_while_waiting_is_reported() -> None:
    tick = Ticker()

    async def sleep(seconds: float) -> None:
        pacer.pause(SEND, 10)  # another caller's 429 arrives meanwhile
        await tick.sleep(seconds)

    pacer = Pacer(now=tick.now, sleep=sleep)
    for _ in range(4):
        await pacer.wait(SEND, "a:1person", tenant=TENANT)
    with pytest.raises(Paused):
        await pacer.wait(SEND, "a:1person", tenant=TENANT)


def test_a_rate_within_a_window_leaves_room_for_its_burst() -> None:
    assert Rate.within(60, 30, burst=8) == Rate(52 / 30, 8)
    with pytest.raises(ValueError):
        Rate.within(7, 1, burst=7)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({}) == DEFAULT_RETRY_AFTER
    assert retry_after({"Retry-After": "soon"}) == DEFAULT_RETRY_AFTER
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < retry_after({"Retry-After": later}) <= 120
