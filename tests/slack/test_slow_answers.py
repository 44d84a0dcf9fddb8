"""A `/slis` answer that misses Slack's three seconds: acknowledged at once, answered later
through the command's response URL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from bot.config import SlackCredentials, SlackMode
from bot.core import Core
from bot.types import Actor, Reply
from handlers.slack import render
from handlers.slack.app import WORKING, build_slack_app, http_endpoint
from storage.engine import Database
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import build_directory
from tests.slack.harness import BOT_TOKEN, SlackHarness, all_text, settle
from tests.slack.signing import SECRET

BUDGET = 0.05


class SlowCore(Core):
    """The real core, but every command takes longer than the acknowledgement budget."""

    fail = False

    async def command(self, actor: Actor, text: str) -> Reply:
        await asyncio.sleep(BUDGET * 4)
        if self.fail:
            raise RuntimeError("gave up")
        return await super().command(actor, text)


@pytest.fixture
def slow_core(db: Database) -> SlowCore:
    build_directory(db)
    return SlowCore(db)


@pytest.fixture
async def slow(slow_core: SlowCore, fake_slack: FakeSlackApi) -> AsyncIterator[SlackHarness]:
    """The Slack endpoint alone, over the slow core, with a tiny acknowledgement budget."""
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, SECRET, None, fake_slack.url)
    app = FastAPI()
    bolt = build_slack_app(slow_core, creds, ack_budget=BUDGET)
    app.add_api_route("/slack/events", http_endpoint(bolt), methods=["POST"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
        yield SlackHarness(http, fake_slack, slow_core.db)


async def test_slow_answer_is_acknowledged_then_sent_to_the_response_url(
    slow: SlackHarness,
) -> None:
    hook = slow.fake.hooks_url + "commands/T0ESSEX/1/slow"
    assert await slow.reply("whoami", response_url=hook) == render.message(WORKING)
    [answer] = await slow.fake.wait_for("response_url")
    await settle()
    assert answer.params["response_type"] == "ephemeral"
    assert "You are *Alice Hart* in the Essex directory." in all_text(answer.params)


async def test_slow_failure_tells_the_user_only_a_reference(
    slow: SlackHarness, slow_core: SlowCore
) -> None:
    slow_core.fail = True
    hook = slow.fake.hooks_url + "commands/T0ESSEX/1/slow"
    assert await slow.reply("whoami", response_url=hook) == render.message(WORKING)
    [answer] = await slow.fake.wait_for("response_url")
    await settle()
    assert re.search(r"reference [0-9a-f]{8}", answer.params["text"])
    assert "gave up" not in str(answer.params)
