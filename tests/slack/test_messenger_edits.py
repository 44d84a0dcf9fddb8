"""The Slack Messenger editing what it sent (`chat.update`) and replying in threads
(`thread_ts`): the channel ids Slack needs, the key that stays, and what each failure means."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackCredentials, SlackMode
from bot.ports import DeliveryFailed
from bot.types import ConversationRef, Paragraph, Platform, Reply
from handlers.slack import render
from handlers.slack.messenger import SlackMessenger
from handlers.slack.pacing import Pacer
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.harness import BOT_TOKEN

TEAM = "T0ESSEX"
OFFERS = ConversationRef(Platform.SLACK, TEAM, "C0OFFERS")
ADA = ConversationRef(Platform.SLACK, TEAM, "U0ADA")
OFFER = Reply("Can you help?", (Paragraph("Can you *help*?"),), private=False)
CLAIMED = Reply("Claimed by Harlow TSA", (Paragraph("Claimed by *Harlow TSA*"),), private=False)


def make(fake: FakeSlackApi) -> SlackMessenger:
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, fake.url)
    return SlackMessenger.for_credentials(creds, pacer=Pacer(method_limits={}, channel_interval=0))


@pytest.fixture
async def messenger(fake_slack: FakeSlackApi) -> AsyncIterator[SlackMessenger]:
    made = make(fake_slack)
    yield made
    await made.close()


def since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=5)


async def test_update_replaces_the_blocks_and_keeps_the_key(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ts = await messenger.send(OFFERS, OFFER, key="offer:1")
    await messenger.update(OFFERS, ts, CLAIMED)
    [call] = fake_slack.calls_to("chat.update")
    assert call.params == {
        "channel": "C0OFFERS",
        "ts": ts,
        "text": "Claimed by Harlow TSA",
        "blocks": render.blocks(CLAIMED),
    }
    message = fake_slack.message("C0OFFERS", ts)
    assert message is not None and message.blocks == render.blocks(CLAIMED)
    # Slack keeps the metadata of an updated message: the key is still found.
    assert await messenger.already_delivered(OFFERS, "offer:1", since=since()) == ts


async def test_a_direct_message_is_updated_in_its_dm_channel(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ts = await messenger.send(ADA, OFFER, key="nudge")
    await messenger.update(ADA, ts, CLAIMED)
    # The channel came back with the post: no need to open the DM.
    assert fake_slack.calls_to("conversations.open") == []
    assert fake_slack.calls_to("chat.update")[0].params["channel"] == "DU0ADA"
    # After a restart the DM is opened to find it.
    restarted = make(fake_slack)
    try:
        await restarted.update(ADA, ts, OFFER)
    finally:
        await restarted.close()
    [opened] = fake_slack.calls_to("conversations.open")
    assert opened.params["users"] == "U0ADA"
    assert [u.channel for u in fake_slack.updated()] == ["DU0ADA", "DU0ADA"]


async def test_the_fake_refuses_an_update_by_user_id(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ts = await messenger.send(ADA, OFFER)
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    # chat.update names a channel; the user id the DM was posted to is not one.
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="U0ADA", ts=ts, text="x")
    assert raised.value.response["error"] == "channel_not_found"


@pytest.mark.parametrize(
    ("failure", "permanent", "retry_after"),
    [
        ({"error": "message_not_found"}, True, None),
        ({"error": "cant_update_message"}, True, None),
        ({"error": "edit_window_closed"}, True, None),
        ({"error": "channel_not_found"}, True, None),
        ({"status": 500}, False, None),
        ({"error": "internal_error"}, False, None),
        ({"status": 429, "retry_after": 3}, False, 3),
    ],
)
async def test_what_each_update_failure_means(
    fake_slack: FakeSlackApi,
    messenger: SlackMessenger,
    failure: dict[str, object],
    permanent: bool,
    retry_after: float | None,
) -> None:
    ts = await messenger.send(OFFERS, OFFER)
    fake_slack.fail("chat.update", **failure)  # type: ignore[arg-type]
    with pytest.raises(DeliveryFailed) as raised:
        await messenger.update(OFFERS, ts, CLAIMED)
    assert raised.value.permanent is permanent
    assert raised.value.retry_after == retry_after
    # Repeating an update does no harm: it never needs a look at the history first.
    assert raised.value.maybe_delivered is False


async def test_a_rate_limited_update_pauses_updates_not_posts(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ts = await messenger.send(OFFERS, OFFER)
    fake_slack.fail("chat.update", status=429, retry_after=2)
    with pytest.raises(DeliveryFailed):
        await messenger.update(OFFERS, ts, CLAIMED)
    with pytest.raises(DeliveryFailed) as again:
        await messenger.update(OFFERS, ts, CLAIMED)
    assert again.value.retry_after is not None and 1 < again.value.retry_after <= 2
    assert len(fake_slack.calls_to("chat.update")) == 1  # the pause kept Slack out of it
    await messenger.send(OFFERS, OFFER)  # posting goes on


async def test_an_unknown_message_is_message_not_found(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    await messenger.send(OFFERS, OFFER)
    with pytest.raises(DeliveryFailed) as raised:
        await messenger.update(OFFERS, "1.000000", CLAIMED)
    assert raised.value.reason == "chat.update: message_not_found" and raised.value.permanent


# --- threads --------------------------------------------------------------------------------


async def test_a_reply_is_posted_in_the_thread_and_found_there(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    parent = await messenger.send(OFFERS, OFFER, key="request:1")
    reply = await messenger.send(OFFERS, CLAIMED, key="request:1:question", thread=parent)
    post = fake_slack.calls_to("chat.postMessage")[1]
    assert post.params["thread_ts"] == parent and post.params["channel"] == "C0OFFERS"
    stored = fake_slack.message("C0OFFERS", reply)
    assert stored is not None and stored.thread_ts == parent
    # Replies are not in the channel's history, only in the thread.
    found = await messenger.already_delivered(OFFERS, "request:1:question", since=since())
    assert found is None
    in_thread = await messenger.already_delivered(
        OFFERS, "request:1:question", since=since(), thread=parent
    )
    assert in_thread == reply
    [replies] = fake_slack.calls_to("conversations.replies")
    assert replies.params["ts"] == parent and replies.params["include_all_metadata"]


async def test_a_reply_to_a_person_goes_to_the_thread_in_their_dm_channel(
    fake_slack: FakeSlackApi,
) -> None:
    first = make(fake_slack)
    try:
        parent = await first.send(ADA, OFFER, key="request:2")
    finally:
        await first.close()
    restarted = make(fake_slack)
    try:
        reply = await restarted.send(ADA, CLAIMED, key="request:2:update", thread=parent)
    finally:
        await restarted.close()
    [opened] = fake_slack.calls_to("conversations.open")
    assert opened.params["users"] == "U0ADA"
    post = fake_slack.calls_to("chat.postMessage")[1]
    assert (post.params["channel"], post.params["thread_ts"]) == ("DU0ADA", parent)
    assert [(m.ts, m.thread_ts) for m in fake_slack.posted("DU0ADA")] == [
        (parent, None),
        (reply, parent),
    ]
