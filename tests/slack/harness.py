"""Driving the real ASGI app with signed Slack requests, against the fake Slack Web API."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.app import create_app
from bot.config import Settings, SlackCredentials, SlackMode
from bot.core import Core
from bot.services.outbox import OutboxService
from bot.types import Platform
from handlers.slack.messenger import SlackMessenger
from handlers.slack.pacing import Pacer
from scheduler.leader import Leadership
from scheduler.relay import Relay
from storage.engine import Database
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import ESSEX_TEAM, HEAD
from tests.slack.signing import FORM, JSON, SECRET, signed_headers

BOT_TOKEN = "xoxb-test-not-a-real-token"
_event_ids = itertools.count(1)
_trigger_ids = itertools.count(1000)


def slack_settings(database_url: str, api_url: str, **overrides: Any) -> Settings:
    """Settings for an HTTP-mode bot talking to the fake; nothing read from the environment."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SECRET,
        "slack_app_token": None,
        "slack_api_url": api_url,
        "slis_default_la_code": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def serving_core(
    database_url: str, db: Database, fake: FakeSlackApi, core: Core
) -> AsyncIterator[tuple[SlackHarness, Relay]]:
    """The real app over `core`, and a relay into the fake Slack that the test runs itself.

    The test holds the scheduler lock, so the app's runtime never leads: no background ticks,
    sweeps or relay passes happen unless the test asks for them.
    """
    lock = Leadership.for_database(db, retry_seconds=3600)
    assert await lock.try_acquire()
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, fake.url)
    messenger = SlackMessenger.for_credentials(
        creds, pacer=Pacer(method_limits={}, channel_interval=0)
    )
    relay = Relay(OutboxService(db, core.clock), {Platform.SLACK: messenger})
    app = create_app(slack_settings(database_url, fake.url), core=core)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
                yield SlackHarness(http, fake, db), relay
    finally:
        await messenger.close()
        await lock.release()


def slash_body(
    text: str,
    *,
    user: str = HEAD,
    team: str = ESSEX_TEAM,
    command: str = "/slis",
    response_url: str = "http://127.0.0.1:9/hooks/none",
) -> str:
    """A slash-command request body as Slack sends it."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "essex-schools",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0SLIS",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(_trigger_ids)}.5678.abcdef",
        }
    )


def event_body(event: dict[str, Any], *, team: str = ESSEX_TEAM) -> str:
    """An Events API `event_callback` body wrapping `event`."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "api_app_id": "A0SLIS",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(_event_ids):08d}",
            "event_time": int(time.time()),
        }
    )


async def settle(seconds: float = 5.0) -> None:
    """Wait for the work Bolt runs after acknowledging (event listeners) to finish."""
    deadline = time.monotonic() + seconds
    current = asyncio.current_task()
    while time.monotonic() < deadline:
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"background work did not finish: {pending}")


@dataclass
class SlackHarness:
    """The app under test, an HTTP client for it, the fake Slack and the database."""

    http: httpx.AsyncClient
    fake: FakeSlackApi
    db: Database

    async def post(
        self, body: str, content_type: str = FORM, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = headers if headers is not None else signed_headers(body, content_type=content_type)
        return await self.http.post("/slack/events", content=body.encode(), headers=sent)

    async def command(self, text: str, **kwargs: Any) -> httpx.Response:
        return await self.post(slash_body(text, **kwargs))

    async def reply(self, text: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON acknowledgement of `/slis <text>`."""
        response = await self.command(text, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def event(self, event: dict[str, Any], *, team: str = ESSEX_TEAM) -> httpx.Response:
        response = await self.post(event_body(event, team=team), JSON)
        await settle()
        return response


def all_text(message: dict[str, Any]) -> str:
    """Every piece of text in a rendered message or view, one per line, for assertions."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks", []))
    return "\n".join(out)
