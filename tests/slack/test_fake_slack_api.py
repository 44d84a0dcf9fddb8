"""The fake Slack Web API answers slack_sdk the way Slack does, records calls, fails on demand."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import BOT_USER_ID, FakeSlackApi

TOKEN = "xoxb-fake-test"


@pytest.fixture
def client(fake_slack: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake_slack.url)


async def test_answers_every_method_the_bot_uses(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.emails["U1"] = "u1@school.sch.uk"
    assert (await client.auth_test())["user_id"] == BOT_USER_ID
    assert (await client.users_info(user="U1"))["user"]["profile"]["email"] == "u1@school.sch.uk"
    posted = await client.chat_postMessage(channel="C1", text="hi")
    assert posted["channel"] == "C1" and posted["ts"]
    assert (await client.chat_postEphemeral(channel="C1", user="U1", text="psst"))["message_ts"]
    home = await client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert home["view"]["type"] == "home" and home["view"]["id"].startswith("V")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    assert (await client.views_open(trigger_id="1.2.3", view=modal))["view"]["type"] == "modal"
    assert (await client.conversations_open(users="U1"))["channel"]["id"] == "DU1"
    opened = await client.apps_connections_open(app_token="xapp-1-test")
    assert opened["url"] == f"ws://127.0.0.1:{fake_slack.port}/socket"

    assert fake_slack.methods() == [
        "auth.test",
        "users.info",
        "chat.postMessage",
        "chat.postEphemeral",
        "views.publish",
        "views.open",
        "conversations.open",
        "apps.connections.open",
    ]
    assert {c.token for c in fake_slack.calls[:-1]} == {TOKEN}
    assert fake_slack.calls[-1].token == "xapp-1-test"
    assert fake_slack.calls_to("chat.postEphemeral")[0].params["text"] == "psst"


async def test_unknown_user(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="user_not_found"):
        await client.users_info(user="U0NOBODY")


async def test_rate_limit_with_retry_after(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C1", text="hi")
        assert raised.value.response.status_code == 429
        assert raised.value.response["error"] == "ratelimited"
        assert raised.value.response.headers["Retry-After"] == "3"
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


async def test_server_error(fake_slack: FakeSlackApi, client: AsyncWebClient) -> None:
    fake_slack.fail("views.publish", status=503)
    with pytest.raises(SlackApiError) as raised:
        await client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert raised.value.response.status_code == 503


async def test_error_answer_until_told_otherwise(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail("auth.test", error="invalid_auth", times=None)
    for _ in range(3):
        with pytest.raises(SlackApiError, match="invalid_auth"):
            await client.auth_test()
