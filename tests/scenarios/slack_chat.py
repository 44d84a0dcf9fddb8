"""The scenarios' `Chat` on Slack: signed Slack requests into the real app, read back from the
fake Slack Web API.

The app is served in process over the world's core, with the test holding the scheduler lock
(tests.slack.harness.serving_core), so the outbox moves only when a scenario says `deliver`.
Everything a person does is built from what they were shown: a slash command typed in their
DM with the app, a button of a message the fake Slack holds (its channel and ts) or of a reply
they were shown, a page of the modal Slack has open for them.

A reply sent to a response URL with `replace_original` redraws the message it answers, as Slack
does; the fake Slack keeps only what chat.postMessage and chat.update did, so this driver keeps
those redraws and shows each message as the latest of the two.
"""

from __future__ import annotations

import html
import itertools
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

from bot.types import Platform
from scheduler.relay import Relay
from storage.models import ChatIdentity
from tests.factories import SEEDED_AT
from tests.fakes.slack_api import BOT_USER_ID, Call, FakeSlackApi, Posted
from tests.scenarios.chat import Answers, Button, FormPage, Message
from tests.scenarios.world import World
from tests.slack.directory import ESSEX_TEAM
from tests.slack.harness import SlackHarness, serving_core, settle, slash_body
from tests.slack.healthcheck_world import (
    block_answers,
    buttons,
    slack_would_show,
    texts,
    view_of,
    view_submission_body,
)
from tests.slack.signing import FORM
from tests.slack.support_world import action_body
from tests.slack.test_forms import check_view, state_for

JSON = dict[str, Any]
MODAL = ""  # the conversation of a modal: it is in none

_n = itertools.count(1)


def visible(node: Any) -> str:
    """The text Slack shows for blocks: every text, one per line, without mrkdwn's emphasis
    and code marks and with its escapes undone."""
    return html.unescape(texts(node)).replace("*", "").replace("`", "")


def message_of(raw: JSON | Posted, *, id: str, conversation: str) -> Message:
    """A Slack message (a chat.postMessage, a command's answer) as the person sees it."""
    if isinstance(raw, Posted):
        blocks, text = list(raw.blocks or []), raw.text or ""
        files = [f["title"] for f in raw.files]
    else:
        blocks, text, files = list(raw.get("blocks") or []), str(raw.get("text") or ""), []
    shown = visible(blocks) if blocks else html.unescape(text)
    return Message(
        id=id,
        conversation=conversation,
        text="\n".join([shown, *files]) if files else shown,
        buttons=_buttons(blocks),
    )


def _buttons(blocks: list[JSON]) -> tuple[Button, ...]:
    return tuple(
        Button(b["text"]["text"], b["action_id"], str(b.get("value") or ""))
        for b in buttons(blocks)
    )


def _field_ids(view: JSON) -> list[str]:
    """The form's fields on a page: one input block each, but for a ranking's items after the
    first (`<field id>.<item>`)."""
    found: list[str] = []
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        block_id = block["block_id"]
        owner = block_id.rpartition(".")[0]
        if owner not in found:
            found.append(block_id)
    return found


def _field_of(block_id: str, fields: list[str]) -> str:
    owner = block_id.rpartition(".")[0]
    return owner if owner in fields else block_id


@dataclass
class Modal:
    """A modal as Slack holds it for one person: the view with its id and hash."""

    view: JSON
    user: str

    @property
    def id(self) -> str:
        return str(self.view["id"])

    def message(self, errors: Mapping[str, str] | None = None) -> Message:
        view = self.view
        form = None
        if "callback_id" in view:
            meta = json.loads(view.get("private_metadata") or "{}")
            fields = _field_ids(view)
            form = FormPage(
                callback_id=view["callback_id"],
                page=int(meta.get("page", 0)),
                field_ids=tuple(fields),
                errors={_field_of(k, fields): v for k, v in (errors or {}).items()},
            )
        title = view["title"]["text"]
        return Message(
            id=self.id,
            conversation=MODAL,
            text="\n".join([title, visible(view["blocks"])]),
            buttons=_buttons(view["blocks"]),
            form=form,
        )


@dataclass
class Redraw:
    """A message redrawn in place through a response URL, and when (wall clock)."""

    content: JSON
    at: float


@dataclass
class SlackChat:
    """`tests.scenarios.chat.Chat` on Slack, over the real app and the fake Slack."""

    world: World
    slack: SlackHarness
    relay: Relay
    platform: Platform = Platform.SLACK
    users: dict[int, str] = field(default_factory=dict)  # person id -> Slack user id
    modals: dict[str, Modal] = field(default_factory=dict)  # by view id
    # What was shown outside any conversation the fake keeps (a command's answer), by id.
    replies: dict[str, tuple[str, JSON]] = field(default_factory=dict)
    redrawn: dict[tuple[str, str], Redraw] = field(default_factory=dict)  # (channel, ts)
    hooks: dict[str, tuple[str, str] | None] = field(default_factory=dict)  # hook -> message

    @property
    def fake(self) -> FakeSlackApi:
        return self.slack.fake

    async def join(self, person_id: int) -> None:
        user = f"U0P{person_id:05d}"
        with self.world.db.session() as s:
            s.add(
                ChatIdentity(
                    tenant_id=self.world.tenant_id,
                    person_id=person_id,
                    platform=Platform.SLACK.value,
                    workspace_id=self.world.workspace(Platform.SLACK),
                    user_id=user,
                    source="directory",
                    linked_at=SEEDED_AT,
                )
            )
        self.users[person_id] = user
        self.world.core.forget_actors()

    def user(self, person_id: int) -> str:
        assert person_id in self.users, f"person {person_id} has not joined Slack"
        return self.users[person_id]

    # --- what people do ---------------------------------------------------------------------

    async def say(self, person_id: int, text: str) -> list[Message]:
        """`/slis <text>` typed in the person's DM with the app."""
        user = self.user(person_id)
        channel = f"D{user}"
        hook, url = self._hook(None)
        fields = dict(parse_qsl(slash_body(text, user=user, response_url=url)))
        fields.update(channel_id=channel, channel_name="directmessage")
        body = urlencode(fields)
        seen = self._marks()
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        await settle()
        shown: list[Message] = []
        if response.content and (ack := response.json()):
            shown.append(self._reply(ack, channel))
        shown += self._answers(hook, seen, fields["trigger_id"], user)
        return shown

    async def press(self, person_id: int, message: Message, label: str) -> list[Message]:
        """Press a button of a message in a conversation (a DM, or beside the command)."""
        assert message.form is None and message.conversation != MODAL, (
            "SlackChat presses buttons on messages, not in modals"
        )
        button = message.button(label)
        user = self.user(person_id)
        hook, url = self._hook((message.conversation, message.id))
        body = action_body(
            user, button.action, button.value, message=self._posted(message), response_url=url
        )
        trigger = json.loads(parse_qs(body)["payload"][0])["trigger_id"]
        seen = self._marks()
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        await settle()
        return self._answers(hook, seen, trigger, user)

    async def fill(self, person_id: int, form: Message, answers: Answers) -> list[Message]:
        """Send the modal's page with `answers` (the rest as shown)."""
        modal = self.modals[form.id]
        user = self.user(person_id)
        assert modal.user == user, "that modal is open for someone else"
        state = state_for(modal.view, block_answers(modal.view, answers))
        body = view_submission_body(modal.view, state, user=user)
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        ack: JSON = response.json() if response.content else {}
        match ack.get("response_action"):
            case "update":
                slack_would_show(ack["view"])
                # Slack keeps the view's id and gives it a new hash.
                modal.view = {**ack["view"], "id": modal.id, "hash": f"{next(_n)}.hash"}
                return [modal.message()]
            case "errors":
                return [modal.message(ack["errors"])]
        assert not ack, ack
        return []

    # --- the outbox and the DM --------------------------------------------------------------

    async def deliver(self) -> None:
        await self.world.deliver(self.relay)

    def inbox(self, person_id: int) -> list[Message]:
        channel = f"D{self.user(person_id)}"
        return [
            message_of(self._current(m), id=m.ts, conversation=channel)
            for m in self.fake.conversation(channel)
            if m.user == BOT_USER_ID
        ]

    # --- inside -----------------------------------------------------------------------------

    def _hook(self, message: tuple[str, str] | None) -> tuple[str, str]:
        """A response URL on the fake Slack for one request (and the message it answers)."""
        hook = str(next(_n))
        self.hooks[hook] = message
        return hook, f"{self.fake.hooks_url}scenario/{ESSEX_TEAM}?hook={hook}"

    def _marks(self) -> dict[str, int]:
        """How many calls of each kind the fake has had, to find the ones a request makes."""
        return {m: len(self.fake.calls_to(m)) for m in ("response_url", "views.open")}

    def _answers(self, hook: str, seen: dict[str, int], trigger: str, user: str) -> list[Message]:
        """What one request showed the person: answers at its response URL (a redraw of the
        message it came from, or a new reply) and the modal opened on its trigger."""
        shown: list[Message] = []
        for call in self.fake.calls_to("response_url")[seen["response_url"] :]:
            if call.params.get("hook") == hook:
                shown.append(self._said(call, hook))
        for call in self.fake.calls_to("views.open")[seen["views.open"] :]:
            if call.params["trigger_id"] == trigger:
                view = check_view(view_of(call))
                modal = Modal({**view, "id": f"V{next(_n):08d}", "hash": f"{next(_n)}.hash"}, user)
                self.modals[modal.id] = modal
                shown.append(modal.message())
        return shown

    def _said(self, call: Call, hook: str) -> Message:
        content: JSON = {k: v for k, v in call.params.items() if k != "hook"}
        where = self.hooks[hook]
        if content.get("replace_original") and where is not None:
            channel, ts = where
            if ts in self.replies:
                self.replies[ts] = (channel, content)
            else:
                self.redrawn[where] = Redraw(content, call.at)
            return message_of(content, id=ts, conversation=channel)
        channel = where[0] if where is not None else "?"
        return self._reply(content, channel)

    def _reply(self, content: JSON, channel: str) -> Message:
        """A message shown beside the conversation (a command's answer): kept by this driver,
        as Slack keeps ephemeral messages only on the person's screen."""
        reply_id = f"R{next(_n):08d}"
        self.replies[reply_id] = (channel, content)
        return message_of(content, id=reply_id, conversation=channel)

    def _posted(self, message: Message) -> Posted:
        """The message as Slack would send it back with a click on it."""
        if message.id in self.replies:
            channel, content = self.replies[message.id]
            return Posted(
                channel,
                message.id,
                str(content.get("text") or ""),
                None,
                time.time(),
                blocks=list(content.get("blocks") or []),
            )
        found = self.fake.message(message.conversation, message.id)
        assert found is not None, f"Slack has no message {message.id} in {message.conversation}"
        return self._current(found)

    def _current(self, posted: Posted) -> Posted:
        """A message as it stands: after the later of its last chat.update and its last
        redraw through a response URL."""
        redraw = self.redrawn.get((posted.channel, posted.ts))
        if redraw is None:
            return posted
        edits = [u.at for u in self.fake.updated(posted.channel) if u.ts == posted.ts]
        if redraw.at < max(edits, default=posted.at):
            return posted
        return replace(
            posted,
            text=str(redraw.content.get("text") or ""),
            blocks=list(redraw.content.get("blocks") or []),
        )


@asynccontextmanager
async def make_slack_chat(world: World) -> AsyncIterator[SlackChat]:
    """The app served over the world's core, talking to a fake Slack on 127.0.0.1."""
    assert world.workspace(Platform.SLACK) == ESSEX_TEAM, "the Slack payloads sign for T0ESSEX"
    with FakeSlackApi(team_id=ESSEX_TEAM) as fake:
        async with serving_core(world.database_url, world.db, fake, world.core) as (harness, relay):
            yield SlackChat(world, harness, relay)
