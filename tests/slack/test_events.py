"""Events API end to end: App Home, mentions, uninstalls, and the global error handler."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import create_app
from bot.types import Reply
from handlers.slack.app import SlackHandlers
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import ESSEX_TEAM, HEAD, UNA, UNA_EMAIL, UNMAPPED_TEAM
from tests.slack.harness import BOT_TOKEN, SlackHarness, all_text, slack_settings, slash_body
from tests.slack.signing import FORM


def home_opened(user: str, tab: str = "home") -> dict[str, object]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME",
        "tab": tab,
        "event_ts": "1700000000.000100",
    }


async def test_app_home_opened_publishes_the_home_view(slack: SlackHarness) -> None:
    response = await slack.event(home_opened(HEAD))
    assert response.status_code == 200
    [publish] = await slack.fake.wait_for("views.publish")
    assert publish.params["user_id"] == HEAD
    assert publish.token == BOT_TOKEN
    view = publish.params["view"]
    assert view["type"] == "home"
    text = all_text(view)
    assert "Essex school-led improvement system" in text
    assert "Great Oakley Primary School" in text
    assert "*Colne Valley Partnership* (SLIS cluster) — 3 schools, lead Pat Lee" in text
    assert "*North East quadrant* — chair Chris Chalk" in text


async def test_app_home_links_an_unlinked_user_by_email(slack: SlackHarness) -> None:
    slack.fake.emails[UNA] = UNA_EMAIL
    await slack.event(home_opened(UNA))
    [publish] = await slack.fake.wait_for("views.publish")
    assert "Oakwood Infant School" in all_text(publish.params["view"])


async def test_app_home_in_an_unmapped_workspace_says_so(slack: SlackHarness) -> None:
    await slack.event(home_opened("U0ANY"), team=UNMAPPED_TEAM)
    [publish] = await slack.fake.wait_for("views.publish")
    assert "not linked to a local authority" in all_text(publish.params["view"])


async def test_messages_tab_publishes_nothing(slack: SlackHarness) -> None:
    response = await slack.event(home_opened(HEAD, tab="messages"))
    assert response.status_code == 200
    assert slack.fake.calls_to("views.publish") == []


async def test_mention_gets_a_pointer_to_help_in_the_thread(slack: SlackHarness) -> None:
    mention = {
        "type": "app_mention",
        "user": HEAD,
        "text": "<@UBOTSLIS> what is the secret plan?",
        "ts": "1700000000.000200",
        "channel": "C0GENERAL",
        "event_ts": "1700000000.000200",
    }
    response = await slack.event(mention)
    assert response.status_code == 200
    [post] = await slack.fake.wait_for("chat.postMessage")
    assert post.params["channel"] == "C0GENERAL"
    assert post.params["thread_ts"] == "1700000000.000200"
    assert "/slis help" in post.params["text"]
    assert "secret plan" not in json.dumps(post.params)


@pytest.mark.parametrize(
    ("event", "said"),
    [
        ({"type": "app_uninstalled"}, "uninstalled the app"),
        ({"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]}}, "revoked the app's tokens"),
    ],
)
async def test_uninstall_and_revocation_are_logged(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture, event: dict[str, object], said: str
) -> None:
    with caplog.at_level(logging.INFO, logger="handlers.slack"):
        response = await slack.event(event)
    assert response.status_code == 200
    assert f"workspace {ESSEX_TEAM} {said}" in caplog.messages


async def test_events_no_feature_handles_yet_are_acknowledged(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="handlers.slack"):
        response = await slack.event({"type": "member_joined_channel", "user": HEAD})
    assert response.status_code == 200
    assert "no feature handles event member_joined_channel yet" in caplog.messages


class BrokenCore:
    """A core whose every answer fails, to exercise the global error handler."""

    def __init__(self, db: object) -> None:
        self.db = db

    async def first_delivery(self, key: str) -> bool:
        return True

    async def identify(self, chat: object, profiles: object = None) -> object:
        raise RuntimeError("database on fire")

    async def command(self, actor: object, text: str) -> Reply:
        raise AssertionError("not reached")

    async def home(self, actor: object) -> Reply:
        raise AssertionError("not reached")


@pytest.fixture
async def broken(slack: SlackHarness, database_url: str) -> AsyncIterator[SlackHarness]:
    """The harness, but with an app whose core fails."""
    app = create_app(
        slack_settings(database_url, slack.fake.url),
        core=BrokenCore(slack.db),  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
        yield SlackHarness(http, slack.fake, slack.db)


async def test_a_fault_in_a_command_tells_the_user_only_a_reference(
    broken: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        message = await broken.reply("whoami")
    text = message["text"]
    assert message["response_type"] == "ephemeral"
    ref = re.search(r"reference ([0-9a-f]{8})", text)
    assert ref is not None
    assert "database on fire" not in json.dumps(message)
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert ref.group(1) in record.getMessage()
    assert record.exc_info is not None
    assert BOT_TOKEN not in caplog.text


async def test_a_fault_in_an_event_is_logged_with_a_reference(
    broken: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """An event has no response URL: the fault is only logged, under its reference."""
    with caplog.at_level(logging.INFO):
        response = await broken.event(home_opened(HEAD))
    assert response.status_code == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert re.search(r"event app_home_opened failed \(ref [0-9a-f]{8}\)", errors[0].getMessage())
    assert broken.fake.calls_to("views.publish") == []
    assert BOT_TOKEN not in caplog.text


async def test_a_fault_after_the_ack_is_reported_through_the_response_url(
    fake_slack: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    handlers = SlackHandlers(BrokenCore(None), profiles=None)  # type: ignore[arg-type]
    body = slash_body("whoami", response_url=fake_slack.hooks_url + "commands/T0ESSEX/1/abc")
    request = AsyncBoltRequest(body=body, headers={"content-type": [FORM]})
    with caplog.at_level(logging.ERROR):
        returned = await handlers.on_error(RuntimeError("boom"), request.body, request, None)
    assert returned is None
    [hook] = await fake_slack.wait_for("response_url")
    assert hook.params["response_type"] == "ephemeral"
    assert hook.params["replace_original"] is False
    ref = re.search(r"reference ([0-9a-f]{8})", hook.params["text"])
    assert ref is not None and f"ref {ref.group(1)}" in caplog.text
    assert "boom" not in json.dumps(hook.params)
