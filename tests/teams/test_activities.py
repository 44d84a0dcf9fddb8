"""The Teams activity handlers through the real app: commands typed to the bot, card actions,
installs and removals, who is asking — with signed activities and the fake Bot Connector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select

from bot.services.outbox import Recipient, enqueue
from bot.types import Paragraph, Platform, Reply
from handlers.teams.app import command_text
from storage.conversation_tables import ChatConversation
from storage.engine import Database
from storage.models import ChatIdentity, Person
from storage.outbox_tables import OutboxMessage
from tests.scenarios.chat import last
from tests.scenarios.teams_chat import (
    BOT_ACCOUNT,
    TeamsChat,
    input_values,
    make_teams_chat,
    next_data,
)
from tests.scenarios.test_scenarios import SUPPORT
from tests.scenarios.world import build_world

CHANNEL = "19:0b5e55ed0000c0ffee@thread.tacv2"


@pytest.fixture
async def teams(database_url: str, db: Database) -> AsyncIterator[TeamsChat]:
    async with make_teams_chat(build_world(database_url, db)) as chat:
        yield chat


def in_channel(chat: TeamsChat, person_id: int, kind: str, **extra: Any) -> dict[str, Any]:
    """An activity from the person in a team's channel, where the bot is installed."""
    activity = chat.activity(chat.person(person_id), kind, **extra)
    activity["conversation"] = {
        "conversationType": "channel",
        "tenantId": chat.tenant,
        "id": CHANNEL,
        "isGroup": True,
    }
    activity["channelData"] = {
        "tenant": {"id": chat.tenant},
        "team": {"id": "19:team@thread.tacv2", "name": "North East heads"},
        "channel": {"id": CHANNEL},
    }
    return activity


def conversations(db: Database) -> list[ChatConversation]:
    with db.session() as s:
        return list(s.exec(select(ChatConversation).order_by(ChatConversation.id)).all())


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("help", "help"),
        ("/slis support list", "support list"),
        ("slis  meeting list", "meeting list"),
        ("<at>SLIS Bot</at> support", "support"),
        ("<at>SLIS Bot</at>&nbsp;remind me at 15:00 ring", "remind me at 15:00 ring"),
        ("  ", ""),
        (None, ""),
    ],
)
def test_what_was_typed_is_read_as_slis_would(typed: str | None, command: str) -> None:
    assert command_text(typed) == command


async def test_install_in_a_personal_chat_is_remembered_and_greeted(teams: TeamsChat) -> None:
    world = teams.world
    await teams.join(world.head)
    [conversation] = conversations(world.db)
    person = teams.person(world.head)
    assert (conversation.kind, conversation.conversation_id) == ("personal", person.conversation)
    assert conversation.service_url == teams.connector.service_url
    assert (conversation.user_id, conversation.member_id) == (person.aad, person.member)
    assert conversation.installed
    [hello] = teams.inbox(world.head)
    assert "Type help to see what I can do for you." in hello.text


async def test_help_and_a_wrong_command(teams: TeamsChat) -> None:
    world = teams.world
    await teams.join(world.head)
    helped = last(await teams.say(world.head, "help"))
    assert "/slis support" in helped.text
    wrong = last(await teams.say(world.head, "suport"))
    assert "I don't know" in wrong.text and "Did you mean" in wrong.text


async def test_a_retried_activity_has_one_effect(teams: TeamsChat) -> None:
    world = teams.world
    await teams.join(world.head)
    activity = teams.activity(teams.person(world.head), "message", text="remind me at 15:00 ring")
    for _ in range(3):
        assert (await teams.post(activity)).status_code == 200
    assert len(world.reminders()) == 1
    assert len(teams.inbox(world.head)) == 2  # the hello and one answer


async def test_a_person_is_linked_by_their_entra_upn(teams: TeamsChat) -> None:
    """No chat identity in the directory: the member's UPN (their school e-mail) links them."""
    world = teams.world
    await teams.join(world.head)
    with world.db.session() as s:
        for identity in s.exec(select(ChatIdentity)).all():
            s.delete(identity)
    world.core.forget_actors()
    person = teams.person(world.head)
    with world.db.session() as s:
        head = s.get(Person, world.head)
        assert head is not None
        email = head.email
    teams.connector.add_member(person.member, person.aad, "Alice Hart", upn=email.upper())
    answer = last(await teams.say(world.head, "remind me at 15:00 ring the office"))
    assert "I'll remind you" in answer.text
    with world.db.session() as s:
        [identity] = s.exec(select(ChatIdentity)).all()
    assert (identity.platform, identity.user_id, identity.source) == ("teams", person.aad, "email")
    assert identity.person_id == world.head


async def test_private_answers_asked_in_a_channel_go_to_the_personal_chat(
    teams: TeamsChat,
) -> None:
    world = teams.world
    await teams.join(world.head)
    before = len(teams.inbox(world.head))
    response = await teams.post(
        in_channel(teams, world.head, "message", text="<at>SLIS Bot</at> reminders")
    )
    assert response.status_code == 200
    [note] = teams.connector.messages(CHANNEL)
    assert "one-to-one chat" in str(note)
    [answer] = teams.inbox(world.head)[before:]
    assert "reminder" in answer.text.lower()
    # A form asked for in a channel opens in the one-to-one chat; the channel sees a pointer.
    await teams.post(in_channel(teams, world.head, "message", text="<at>SLIS Bot</at> support"))
    form = teams.inbox(world.head)[-1]
    assert form.form is not None and form.form.callback_id == "slis.support.ask"
    assert "opened the form in our one-to-one chat" in str(teams.connector.messages(CHANNEL)[-1])
    assert all("slis_form" not in str(m) for m in teams.connector.messages(CHANNEL))


async def test_a_form_asked_for_in_a_channel_without_a_personal_chat(teams: TeamsChat) -> None:
    world = teams.world
    await teams.join(world.head)
    removed = teams.activity(teams.person(world.head), "installationUpdate", action="remove")
    assert (await teams.post(removed)).status_code == 200
    await teams.post(in_channel(teams, world.head, "message", text="<at>SLIS Bot</at> support"))
    await teams.post(in_channel(teams, world.head, "message", text="<at>SLIS Bot</at> reminders"))
    said = [str(m) for m in teams.connector.messages(CHANNEL)]
    assert "Forms open in your one-to-one chat" in said[0]
    assert "This answer is for you alone" in said[1]
    assert all("slis_form" not in m and "reminder" not in m.lower() for m in said)


async def test_channel_install_and_removal(teams: TeamsChat) -> None:
    world = teams.world
    await teams.join(world.head)
    added = in_channel(teams, world.head, "conversationUpdate", membersAdded=[BOT_ACCOUNT])
    assert (await teams.post(added)).status_code == 200
    channel = next(c for c in conversations(world.db) if c.conversation_id == CHANNEL)
    assert (channel.kind, channel.name, channel.installed) == ("channel", "North East heads", True)
    removed = in_channel(teams, world.head, "conversationUpdate", membersRemoved=[BOT_ACCOUNT])
    assert (await teams.post(removed)).status_code == 200
    channel = next(c for c in conversations(world.db) if c.conversation_id == CHANNEL)
    assert not channel.installed and channel.removed_at is not None


async def test_an_uninstall_stops_deliveries_and_keeps_the_rows(teams: TeamsChat) -> None:
    world = teams.world
    await teams.join(world.head)
    person = teams.person(world.head)
    removed = teams.activity(person, "installationUpdate", action="remove")
    assert (await teams.post(removed)).status_code == 200
    note = Reply("Your report is ready", (Paragraph("Your report is ready"),))
    with world.db.session() as s:
        enqueue(
            s,
            tenant_id=world.tenant_id,
            key="test:after-uninstall",
            to=Recipient(person_id=world.head),
            reply=note,
            not_before=world.clock.now(),
            now=world.clock.now(),
        )
    await teams.deliver()
    assert len(teams.inbox(world.head)) == 1  # only the hello from before
    with world.db.session() as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.key == "test:after-uninstall")).one()
        identity = s.exec(select(ChatIdentity).where(ChatIdentity.person_id == world.head)).one()
    assert row.status == "failed" and "no chat account on teams" in (row.last_error or "")
    assert identity.platform == Platform.TEAMS.value
    [conversation] = conversations(world.db)
    assert not conversation.installed
    # Installed again, the person is reached again.
    again = teams.activity(person, "installationUpdate", action="add")
    assert (await teams.post(again)).status_code == 200
    assert conversations(world.db)[0].installed


async def test_a_button_the_bot_does_not_have(teams: TeamsChat) -> None:
    world = teams.world
    await teams.join(world.head)
    [hello] = teams.inbox(world.head)
    data = {"slis": {"action": "slis.nothing.here", "value": "1"}}
    [shown, *_] = await teams._execute(world.head, hello, "slis.nothing.here", data)
    assert shown.text == "That button is no longer in use."


async def test_an_action_submit_from_an_older_client_redraws_the_card(teams: TeamsChat) -> None:
    """Clients without Universal Actions send Action.Submit as a message with `value`; the
    card it came from is updated (PUT) with what Action.Execute would have shown."""
    world = teams.world
    await teams.join(world.head)
    form = last(await teams.say(world.head, "support"))
    assert form.form is not None
    card = teams._card(form)
    value = {**input_values(card, SUPPORT), **(next_data(card) or {})}
    submit = teams.activity(teams.person(world.head), "message", value=value, replyToId=form.id)
    assert (await teams.post(submit)).status_code == 200
    [put] = teams.connector.calls_to("PUT", f"/activities/{form.id}")
    assert put.json["attachments"][0]["content"]["type"] == "AdaptiveCard"
    shown = next(m for m in teams.inbox(world.head) if m.id == form.id)
    assert "Your request SR-2026-0001" in shown.text
