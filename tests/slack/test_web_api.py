"""SlackProfiles and SlackMessenger against the fake Slack Web API."""

from __future__ import annotations

import logging

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ProfileUnavailable
from bot.types import ConversationRef, Heading, Paragraph, Platform, Reply
from handlers.slack import render
from handlers.slack.messenger import SlackMessenger
from handlers.slack.profiles import SlackProfiles
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.harness import BOT_TOKEN

TO = ConversationRef(Platform.SLACK, "T0ESSEX", "C0HEADS")


@pytest.fixture
def client(fake_slack: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url)


async def test_profile_email(fake_slack: FakeSlackApi, client: AsyncWebClient) -> None:
    fake_slack.emails["U1"] = " head@school.essex.sch.uk "
    assert await SlackProfiles(client).email_of("T0ESSEX", "U1") == "head@school.essex.sch.uk"
    [call] = fake_slack.calls_to("users.info")
    assert call.params == {"user": "U1"} and call.http_method == "GET"
    assert call.token == BOT_TOKEN


async def test_profile_without_email_is_none(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.emails["U1"] = None
    assert await SlackProfiles(client).email_of("T0ESSEX", "U1") is None


async def test_unknown_user_is_none(client: AsyncWebClient) -> None:
    assert await SlackProfiles(client).email_of("T0ESSEX", "U0GHOST") is None


async def test_a_refusal_is_none_and_never_logs_the_token(
    fake_slack: FakeSlackApi, client: AsyncWebClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.emails["U1"] = "head@school.essex.sch.uk"
    fake_slack.fail("users.info", error="missing_scope")
    with caplog.at_level(logging.DEBUG):
        assert await SlackProfiles(client).email_of("T0ESSEX", "U1") is None
    assert BOT_TOKEN not in caplog.text


@pytest.mark.parametrize("failure", [{"status": 429, "retry_after": 20}, {"status": 500}])
async def test_rate_limits_and_outages_mean_ask_again_later(
    fake_slack: FakeSlackApi,
    client: AsyncWebClient,
    caplog: pytest.LogCaptureFixture,
    failure: dict[str, int],
) -> None:
    fake_slack.emails["U1"] = "head@school.essex.sch.uk"
    fake_slack.fail("users.info", **failure)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG), pytest.raises(ProfileUnavailable):
        await SlackProfiles(client).email_of("T0ESSEX", "U1")
    assert BOT_TOKEN not in caplog.text


async def test_messenger_posts_text_and_blocks(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    reply = Reply("Survey open", (Heading("Healthcheck"), Paragraph("Due *Friday* & after")))
    ts = await SlackMessenger(client).send(TO, reply)
    [post] = fake_slack.calls_to("chat.postMessage")
    assert ts and post.params["channel"] == "C0HEADS"
    assert post.params["text"] == "Survey open"
    assert post.params["blocks"] == render.blocks(reply)


async def test_messenger_rate_limit_surfaces_with_retry_after(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        await SlackMessenger(client).send(TO, Reply("hi"))
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    # The failure was for one call only.
    assert await SlackMessenger(client).send(TO, Reply("hi"))


async def test_messenger_api_error_surfaces(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found", times=None)
    for _ in range(2):
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await SlackMessenger(client).send(TO, Reply("hi"))


async def test_messenger_refuses_other_platforms(client: AsyncWebClient) -> None:
    with pytest.raises(ValueError, match="teams"):
        await SlackMessenger(client).send(ConversationRef(Platform.TEAMS, "t", "c"), Reply("x"))
