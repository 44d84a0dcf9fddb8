"""Fixtures for the Slack tests: the fake Slack Web API and the app wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import create_app
from storage.engine import Database
from tests.fakes.slack_api import FakeSlackApi, fake_slack
from tests.slack.directory import build_directory
from tests.slack.harness import SlackHarness, slack_settings

__all__ = ["fake_slack"]


@pytest.fixture
async def slack(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> AsyncIterator[SlackHarness]:
    """The real ASGI app in HTTP mode over a small directory, driven in-process."""
    build_directory(db)
    app = create_app(slack_settings(database_url, fake_slack.url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
            yield SlackHarness(http, fake_slack, db)
