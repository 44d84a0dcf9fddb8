"""The scenarios' fixtures: the world, and a `chat` for every platform in `PLATFORMS`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from storage.engine import Database
from tests.scenarios.chat import Chat
from tests.scenarios.slack_chat import make_slack_chat
from tests.scenarios.teams_chat import make_teams_chat
from tests.scenarios.world import World, build_world

# A platform's driver: the app served over the world's core, with that platform's fakes.
ChatFactory = Callable[[World], AbstractAsyncContextManager[Chat]]

PLATFORMS: dict[str, ChatFactory] = {
    "slack": make_slack_chat,
    "teams": make_teams_chat,
}


@pytest.fixture
def world(database_url: str, db: Database) -> World:
    return build_world(database_url, db)


@pytest.fixture(params=sorted(PLATFORMS))
async def chat(request: pytest.FixtureRequest, world: World) -> AsyncIterator[Chat]:
    async with PLATFORMS[request.param](world) as driver:
        yield driver
