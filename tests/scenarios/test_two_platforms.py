"""One deployment serving Slack and Teams: a person with an account on each is one person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.config import Settings
from bot.types import Platform
from handlers.slack.messenger import SlackMessenger
from handlers.slack.pacing import Pacer
from tests.fakes.slack_api import FakeSlackApi
from tests.scenarios.chat import last
from tests.scenarios.slack_chat import SlackChat
from tests.scenarios.teams_chat import TeamsChat, serving, teams_fakes
from tests.scenarios.test_scenarios import REF, SUPPORT, showing
from tests.scenarios.world import ALLIANCE_NAME, LEAD_NAME, World
from tests.slack.harness import SlackHarness, slack_settings


@asynccontextmanager
async def both(world: World) -> AsyncIterator[tuple[SlackChat, TeamsChat]]:
    """One app with Slack and Teams configured, over the world's core, and a relay that
    delivers to both."""
    slack_team = world.workspace(Platform.SLACK)
    with (
        FakeSlackApi(team_id=slack_team) as slack_fake,
        teams_fakes(world.workspace(Platform.TEAMS)) as fakes,
    ):
        slack_values: dict[str, Any] = slack_settings(
            world.database_url, slack_fake.url
        ).model_dump()
        settings = Settings(_env_file=None, **{**slack_values, **fakes.settings()})  # type: ignore[call-arg]
        assert settings.slack() is not None and settings.teams() is not None
        slack_messenger = SlackMessenger.for_credentials(
            settings.slack(), pacer=Pacer(method_limits={}, channel_interval=0)
        )
        teams_messenger = fakes.messenger()
        messengers = {Platform.SLACK: slack_messenger, Platform.TEAMS: teams_messenger}
        try:
            async with serving(world, settings, messengers) as (http, relay):
                yield (
                    SlackChat(world, SlackHarness(http, slack_fake, world.db), relay),
                    TeamsChat(world, http, fakes.auth, fakes.connector, relay),
                )
        finally:
            await slack_messenger.close()
            await teams_messenger.close()


async def test_a_request_made_in_slack_is_claimed_from_teams(world: World) -> None:
    async with both(world) as (slack, teams):
        await slack.join(world.head)
        await slack.join(world.lead)
        await teams.join(world.lead)

        form = last(await slack.say(world.head, "support"))
        asked = last(await slack.fill(world.head, form, SUPPORT))
        assert f"Your request {REF}" in asked.text

        # The lead finds it from Teams and claims it there.
        shown = showing(await teams.say(world.lead, f"support show {REF}"), REF)
        claimed = last(await teams.press(world.lead, shown, "Claim"))
        assert f"You have claimed {REF} for {ALLIANCE_NAME}" in claimed.text
        [request] = world.support_requests()
        assert (request.state, request.claimed_by_person_id) == ("claimed", world.lead)

        # The head hears of it in Slack, by the lead's one name.
        await slack.deliver()
        told = showing(slack.inbox(world.head), "has claimed your request")
        assert f"{ALLIANCE_NAME} ({LEAD_NAME}) has claimed your request" in told.text
