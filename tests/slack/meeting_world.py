"""Quadrant meetings end to end in Slack: the meeting county (tests.services.meeting_world) in the
Essex Slack team, the real app over the fake Slack, a FakeClock, and the signed requests people
send, built from what the fake Slack was shown.

The test holds the scheduler lock, so it says when the meeting sweep runs (`sweep`), when
bookings are published (`publish`, optionally through a Graph calendar) and when the outbox is
sent (`deliver`: one pass of the real relay and Slack Messenger into the fake Slack).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.core import Core
from bot.ports import MeetingCalendar
from bot.services.meetings.common import ACTION_PREFIX
from bot.services.meetings.publication import publish_due
from storage.engine import Database
from storage.meeting_tables import Meeting
from storage.outbox_tables import OutboxMessage
from tests.fakes.slack_api import FakeSlackApi, Posted, UploadedFile
from tests.services.meeting_world import MeetingWorld, meeting_world
from tests.slack.directory import ESSEX_TEAM
from tests.slack.harness import serving_core
from tests.slack.healthcheck_world import buttons
from tests.slack.support_world import (
    Delivery,
    Pressed,
    SupportDirectory,
    SupportWorld,
    action_body,
    words,
)

JSON = dict[str, Any]


def button_of(message: Posted, action_id: str) -> JSON:
    """The button of `message` whose action_id is `slis.meeting.<action_id>`."""
    found = [
        b
        for b in buttons(list(message.blocks or []))
        if b["action_id"] == ACTION_PREFIX + action_id
    ]
    assert len(found) == 1, f"{len(found)} buttons {action_id!r} in {words(message)!r}"
    return found[0]


def meeting_buttons(message: Posted | JSON) -> list[str]:
    """The meeting actions a message offers, in order (without the prefix)."""
    blocks = message.blocks if isinstance(message, Posted) else message.get("blocks")
    return [
        b["action_id"].removeprefix(ACTION_PREFIX)
        for b in buttons(list(blocks or []))
        if b["action_id"].startswith(ACTION_PREFIX)
    ]


@dataclass
class MeetingSlack:
    """The app in Slack over the meeting county; people by name."""

    county: MeetingWorld
    slack: SupportWorld  # the Slack mechanics: slash commands, modals, clicks, the relay

    @property
    def core(self) -> Core:
        return self.slack.core

    @property
    def fake(self) -> FakeSlackApi:
        return self.slack.fake

    @property
    def db(self) -> Database:
        return self.county.db

    def user(self, name: str) -> str:
        return f"U{self.county.person(name):06d}"

    def dm(self, name: str) -> str:
        return f"D{self.user(name)}"

    def at(self, when: datetime) -> None:
        self.slack.at(when)

    # --- a person in Slack ---------------------------------------------------------------

    async def slash(self, name: str, text: str) -> JSON:
        """`/slis <text>` as `name`: the acknowledgement (a modal it opened is kept)."""
        return await self.slack.slash(self.user(name), text)

    def modal(self, name: str) -> JSON:
        """The modal `name` has open."""
        return self.slack.modals[self.user(name)].view

    async def submit(self, name: str, values: Mapping[str, object] | None = None) -> JSON:
        """Send the modal `name` has open with `values` (by block id)."""
        return await self.slack.submit_modal(self.user(name), values)

    async def press(self, name: str, message: Posted, action_id: str) -> Pressed:
        """Press the `slis.meeting.<action_id>` button of `message` in `name`'s DM."""
        button = button_of(message, action_id)
        body = action_body(
            self.user(name),
            button["action_id"],
            button["value"],
            message=message,
            response_url=self.slack.hook("m"),
        )
        return await self.slack.post_click(body)

    # --- the jobs and the relay ----------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        return await asyncio.to_thread(self.core.meetings.sweep)

    async def publish(self, calendar: MeetingCalendar | None = None) -> dict[str, int]:
        return await publish_due(self.core.meetings.publication, calendar, self.core.clock.now())

    async def deliver(self) -> Delivery:
        """Relay passes until nothing due is left to send (the relay keeps a person's messages
        a moment apart, so one pass may leave the next for a second later): what was sent."""
        posted, updated = len(self.fake.posted()), len(self.fake.updated())
        for _ in range(50):
            await self.slack.relay.run_once()
            if not self._due():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the outbox still has messages due after 50 relay passes")
        return Delivery(self.fake.posted()[posted:], self.fake.updated()[updated:])

    def _due(self) -> int:
        now = self.core.clock.now()
        with self.db.session() as s:
            return len(
                s.exec(
                    select(OutboxMessage.id).where(
                        OutboxMessage.status == "pending", col(OutboxMessage.not_before) <= now
                    )
                ).all()
            )

    # --- what people hold ----------------------------------------------------------------

    def messages(self, name: str, kind: str, meeting_id: int | None = None) -> list[Posted]:
        """`name`'s DM messages whose outbox key is `meeting:<id>:<kind>:…` (any meeting)."""
        middle = f":{kind}" if meeting_id is None else f"{meeting_id}:{kind}"
        return [
            m
            for m in self.fake.posted(self.dm(name))
            if (m.key or "").startswith("meeting:") and middle in (m.key or "")
        ]

    def one(self, name: str, kind: str, meeting_id: int | None = None) -> Posted:
        found = self.messages(name, kind, meeting_id)
        assert len(found) == 1, f"{name} holds {len(found)} {kind} messages"
        return self.current(found[0])

    def current(self, message: Posted) -> Posted:
        """The message as it is now in Slack (after any chat.update)."""
        now = self.fake.message(message.channel, message.ts)
        assert now is not None
        return now

    def files(self, name: str) -> list[UploadedFile]:
        return self.fake.uploaded_files(self.dm(name))

    def meeting(self, meeting_id: int | None = None) -> Meeting:
        with self.db.session() as s:
            query = select(Meeting)
            query = (
                query.where(Meeting.id == meeting_id)
                if meeting_id is not None
                else query.order_by(col(Meeting.id).desc())
            )
            found = s.exec(query).first()
            assert found is not None
            return found


@asynccontextmanager
async def meeting_slack(
    database_url: str, db: Database, fake: FakeSlackApi, start: datetime | None = None
) -> AsyncIterator[MeetingSlack]:
    """The real app over the meeting county in the Essex Slack team."""
    county = meeting_world(db, start, workspace=ESSEX_TEAM)
    core = Core(db, clock=county.clock)
    people = {f"U{pid:06d}": pid for pid in county.place.people.values()}
    directory = SupportDirectory(
        essex_id=county.tenant_id,
        people=people,
        alliances=dict(county.place.alliances),
        schools={},
        north_east=county.quadrant("South"),
        west=county.quadrant("West"),
    )
    async with serving_core(database_url, db, fake, core) as (harness, relay):
        yield MeetingSlack(county, SupportWorld(harness, core, county.clock, relay, directory))
