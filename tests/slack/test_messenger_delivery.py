"""The Slack Messenger as the outbox relay uses it: keys in message metadata, finding them
again, what each failure means, and pacing."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackCredentials, SlackMode
from bot.ports import DeliveryFailed
from bot.types import ConversationRef, Platform, Reply
from handlers.slack.messenger import EVENT_TYPE, SlackMessenger
from handlers.slack.pacing import Pacer, Paused, Rate
from tests.fakes.clock import Ticker
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.harness import BOT_TOKEN

TEAM = "T0ESSEX"
HEADS = ConversationRef(Platform.SLACK, TEAM, "C0HEADS")
ADA = ConversationRef(Platform.SLACK, TEAM, "U0ADA")


def creds(url: str) -> SlackCredentials:
    return SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, url)


@pytest.fixture
async def messenger(fake_slack: FakeSlackApi) -> AsyncIterator[SlackMessenger]:
    messenger = SlackMessenger.for_credentials(creds(fake_slack.url))
    yield messenger
    await messenger.close()


def since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=5)


async def test_the_key_travels_as_metadata_and_is_found_again(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ts = await messenger.send(HEADS, Reply("Survey open"), key="survey:12:invite:channel")
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.params["metadata"] == {
        "event_type": EVENT_TYPE,
        "event_payload": {"key": "survey:12:invite:channel"},
    }
    assert await messenger.already_delivered(HEADS, "survey:12:invite:channel", since=since()) == ts
    assert (
        await messenger.already_delivered(HEADS, "survey:13:invite:channel", since=since()) is None
    )
    [history, _] = fake_slack.calls_to("conversations.history")
    assert history.params["channel"] == "C0HEADS" and history.params["include_all_metadata"]
    # Messages older than `since` are not searched.
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await messenger.already_delivered(HEADS, "survey:12:invite:channel", since=later) is None


async def test_history_is_searched_page_by_page(fake_slack: FakeSlackApi) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    messenger = SlackMessenger(client, pacer=Pacer(channel_interval=0, method_limits={}))
    await messenger.send(HEADS, Reply("first"), key="wanted")
    for n in range(210):
        await messenger.send(HEADS, Reply(f"chatter {n}"))
    assert await messenger.already_delivered(HEADS, "wanted", since=since())
    assert len(fake_slack.calls_to("conversations.history")) == 2


async def test_a_person_is_reached_in_their_direct_message(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ts = await messenger.send(ADA, Reply("hi"), key="k")
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "U0ADA"
    # A fresh messenger (after a restart) has to open the DM to read it.
    restarted = SlackMessenger.for_credentials(creds(fake_slack.url))
    try:
        assert await restarted.already_delivered(ADA, "k", since=since()) == ts
    finally:
        await restarted.close()
    [opened] = fake_slack.calls_to("conversations.open")
    assert opened.params["users"] == "U0ADA"
    assert fake_slack.calls_to("conversations.history")[0].params["channel"] == "DU0ADA"


async def test_rate_limit_pauses_the_method_without_calling_slack_again(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=2)
    with pytest.raises(DeliveryFailed) as raised:
        await messenger.send(HEADS, Reply("hi"), key="a")
    assert raised.value.retry_after == 2 and not raised.value.permanent
    assert isinstance(raised.value, SlackApiError)  # still what slack_sdk callers catch
    with pytest.raises(DeliveryFailed) as again:
        await messenger.send(ConversationRef(Platform.SLACK, TEAM, "C0OTHER"), Reply("hi"))
    assert again.value.retry_after is not None and 1 < again.value.retry_after <= 2
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    ("failure", "permanent", "maybe_delivered"),
    [
        ({"status": 500}, False, True),
        ({"status": 503}, False, True),
        ({"error": "channel_not_found"}, True, False),
        ({"error": "is_archived"}, True, False),
        ({"error": "not_in_channel"}, True, False),
        ({"error": "invalid_auth"}, True, False),
        ({"error": "fatal_error"}, False, True),
        ({"error": "something_new"}, False, False),
    ],
)
async def test_what_each_failure_means(
    fake_slack: FakeSlackApi,
    messenger: SlackMessenger,
    failure: dict[str, object],
    permanent: bool,
    maybe_delivered: bool,
) -> None:
    fake_slack.fail("chat.postMessage", **failure)  # type: ignore[arg-type]
    with pytest.raises(DeliveryFailed) as raised:
        await messenger.send(HEADS, Reply("hi"), key="k")
    assert raised.value.permanent is permanent
    assert raised.value.maybe_delivered is maybe_delivered
    assert raised.value.retry_after is None


async def test_no_connection_means_not_delivered_and_slack_sdk_does_not_retry() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    messenger = SlackMessenger.for_credentials(creds(f"http://127.0.0.1:{port}/api/"))
    try:
        with pytest.raises(DeliveryFailed) as raised:
            await messenger.send(HEADS, Reply("hi"), key="k")
    finally:
        await messenger.close()
    assert "cannot connect" in raised.value.reason and not raised.value.maybe_delivered
    assert messenger._client.retry_handlers == []


async def test_a_history_lookup_that_slack_refuses_cannot_tell(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.fail("conversations.history", error="missing_scope")
    with pytest.raises(DeliveryFailed) as raised:
        await messenger.already_delivered(HEADS, "k", since=since())
    assert raised.value.permanent


# --- pacing ---------------------------------------------------------------------------------


async def test_one_message_per_second_per_channel() -> None:
    tick = Ticker()
    pacer = Pacer(now=tick.now, sleep=tick.sleep)
    for _ in range(3):
        await pacer.wait("chat.postMessage", "C1")
    await pacer.wait("chat.postMessage", "C2")  # another channel is not held up
    assert tick.slept == [1.0, 1.0]


async def test_method_rate_with_burst() -> None:
    tick = Ticker()
    pacer = Pacer(
        method_limits={"conversations.history": Rate(0.5, burst=3)}, now=tick.now, sleep=tick.sleep
    )
    for _ in range(5):
        await pacer.wait("conversations.history")
    assert tick.slept == [2.0, 2.0]  # three at once, then one every two seconds


async def test_a_pause_is_reported_not_slept_through() -> None:
    tick = Ticker()
    pacer = Pacer(now=tick.now, sleep=tick.sleep)
    pacer.pause("chat.postMessage", 30)
    with pytest.raises(Paused) as raised:
        await pacer.wait("chat.postMessage", "C1")
    assert raised.value.retry_after == 30
    await pacer.wait("conversations.open")  # other methods are not paused
    tick.t += 30
    await pacer.wait("chat.postMessage", "C1")
