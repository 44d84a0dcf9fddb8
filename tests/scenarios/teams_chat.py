"""The scenarios' `Chat` on Microsoft Teams: Bot Framework activities, signed with the test
key, posted to the real app's /api/messages; what the bot sends read back from the fake Bot
Connector.

The app is served in process over the world's core with Teams configured against fakes on
127.0.0.1: the Bot Framework's OpenID keys (tokens in), Entra ID (msal's tokens out) and the
Bot Connector. The test holds the scheduler lock, so the outbox moves only on `deliver`.

Everything a person does is built from what they were shown: a message typed in their
one-to-one chat with the bot, an Action.Execute of a card's button (invoke
`adaptiveCard/action`), a form card's Next with its inputs filled in. An invoke's answer that
is a card redraws the card in place for the presser, as Teams does; the fake Bot Connector
keeps only what was posted and PUT, so this driver keeps those redraws and shows each card as
the latest of the two.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Any

import httpx

from bot.app import create_app
from bot.config import Settings
from bot.ports import Messenger
from bot.services.outbox import OutboxService
from bot.types import Platform
from handlers.teams.card_forms import FORM_DATA_KEY, FORM_NEXT, encode_choice
from handlers.teams.cards import BUTTON_DATA_KEY
from handlers.teams.messenger import TeamsMessenger
from handlers.teams.pacing import Pacer
from scheduler.leader import Leadership
from scheduler.relay import Relay
from storage.models import ChatIdentity
from tests.factories import SEEDED_AT
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.botframework_auth import FakeBotFrameworkAuth
from tests.fakes.entra import BOT_APP_ID, BOT_SECRET, FakeEntra, bot_registration
from tests.scenarios.chat import Answers, Button, FormPage, Message
from tests.scenarios.world import World

JSON = dict[str, Any]
BOT_ACCOUNT = {"id": f"28:{BOT_APP_ID}", "name": "SLIS Bot"}
ANSWER = "answer."
_n = itertools.count(1)
_ESCAPED = re.compile(r"\\(.)")


def plain(markdown: str) -> str:
    """What Teams shows for a TextBlock's markdown: no bold marks, escapes undone."""
    return _ESCAPED.sub(r"\1", markdown.replace("**", ""))


def _walk(node: Any) -> list[JSON]:
    """Every element of a card (body, containers, columns, action sets), in order."""
    found: list[JSON] = []
    if isinstance(node, dict):
        found.append(node)
        for key in ("body", "items", "columns", "actions"):
            for child in node.get(key) or []:
                found.extend(_walk(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(_walk(child))
    return found


def card_of(activity: JSON) -> JSON:
    """The Adaptive Card an activity carries."""
    attachments = activity.get("attachments") or []
    assert attachments, f"an activity without a card: {sorted(activity)}"
    content: JSON = attachments[0]["content"]
    return content


def text_of(card: JSON) -> str:
    """Every piece of text the card shows, one per line."""
    lines: list[str] = []
    for element in _walk(card):
        kind = element.get("type")
        if kind == "TextBlock":
            lines.append(plain(str(element.get("text") or "")))
        elif kind == "FactSet":
            lines += [f"{plain(f['title'])} {plain(f['value'])}" for f in element["facts"]]
        elif kind and kind.startswith("Input."):
            if element.get("label"):
                lines.append(str(element["label"]))
            lines += [str(c["title"]) for c in element.get("choices") or []]
        elif kind in ("Action.Execute", "Action.Submit"):
            lines.append(str(element.get("title") or ""))
    return "\n".join(lines)


def buttons_of(card: JSON) -> tuple[Button, ...]:
    """The card's buttons that are the bot's own (not a form's Next and Back)."""
    shown: list[Button] = []
    for element in _walk(card):
        if element.get("type") != "Action.Execute":
            continue
        ours = (element.get("data") or {}).get(BUTTON_DATA_KEY)
        if isinstance(ours, dict):
            shown.append(Button(str(element["title"]), str(ours["action"]), str(ours["value"])))
    return tuple(shown)


def form_of(card: JSON) -> FormPage | None:
    """The form page a card shows, with the problems under its fields; None if none."""
    form_data = next_data(card)
    if form_data is None:
        return None
    fields: list[str] = []
    errors: dict[str, str] = {}
    current: str | None = None
    for element in _walk(card):
        kind = str(element.get("type") or "")
        if kind.startswith("Input."):
            current = str(element["id"]).removeprefix(ANSWER).split(".")[0]
            if current not in fields:
                fields.append(current)
        elif kind == "TextBlock" and element.get("color") == "Attention" and current:
            errors[current] = plain(str(element["text"]))
    ours = form_data[FORM_DATA_KEY]
    return FormPage(str(ours["callback_id"]), int(ours["page"]), tuple(fields), errors)


def next_data(card: JSON) -> JSON | None:
    """The data of a form card's Next (or submit) button."""
    for element in _walk(card):
        if element.get("type") == "Action.Execute" and element.get("verb") == FORM_NEXT:
            data: JSON = element["data"]
            return data
    return None


def message_of(card: JSON, *, id: str, conversation: str) -> Message:
    return Message(
        id=id,
        conversation=conversation,
        text=text_of(card),
        buttons=buttons_of(card),
        form=form_of(card),
    )


def input_values(card: JSON, answers: Answers) -> JSON:
    """What Teams sends for a form card's inputs: each as shown, or as answered (strings, a
    multi-select comma-joined, a ranking one input per item)."""
    sent: JSON = {}
    for element in _walk(card):
        if not str(element.get("type") or "").startswith("Input."):
            continue
        input_id = str(element["id"])
        if "value" in element:
            sent[input_id] = str(element["value"])
        field_id, _, item = input_id.removeprefix(ANSWER).partition(".")
        if field_id not in answers:
            continue
        answer = answers[field_id]
        if item:
            assert isinstance(answer, Mapping), f"{field_id} is a ranking"
            sent[input_id] = str(answer[item]) if item in answer else ""
        elif isinstance(answer, list | tuple):
            sent[input_id] = ",".join(encode_choice(str(v)) for v in answer)
        elif isinstance(answer, datetime | date):
            sent[input_id] = answer.isoformat()[:10]
        elif isinstance(answer, clock_time):
            sent[input_id] = answer.strftime("%H:%M")
        elif element.get("type") == "Input.ChoiceSet":
            sent[input_id] = encode_choice(str(answer))
        else:
            sent[input_id] = str(answer)
    return sent


@dataclass(frozen=True)
class Person:
    """A person's Teams account: Entra object id, member id, one-to-one conversation."""

    aad: str
    member: str
    conversation: str
    name: str


@dataclass
class TeamsChat:
    """`tests.scenarios.chat.Chat` on Teams, over the real app and the fake Bot Connector."""

    world: World
    http: httpx.AsyncClient
    auth: FakeBotFrameworkAuth
    connector: FakeBotConnector
    relay: Relay
    platform: Platform = Platform.TEAMS
    people: dict[int, Person] = field(default_factory=dict)
    # Cards redrawn by an invoke's answer, by (conversation, activity id): the card, when.
    redrawn: dict[tuple[str, str], tuple[JSON, float]] = field(default_factory=dict)

    @property
    def tenant(self) -> str:
        return self.world.workspace(Platform.TEAMS)

    async def join(self, person_id: int) -> None:
        """A Teams identity for the person (as the directory file gives it), and the app
        installed in their one-to-one chat (Teams sends installationUpdate)."""
        aad = f"00000000-0000-4000-8000-{person_id:012d}"
        person = Person(aad, f"29:member-{person_id}", f"a:personal-{person_id}", f"P{person_id}")
        with self.world.db.session() as s:
            s.add(
                ChatIdentity(
                    tenant_id=self.world.tenant_id,
                    person_id=person_id,
                    platform=Platform.TEAMS.value,
                    workspace_id=self.tenant,
                    user_id=aad,
                    source="directory",
                    linked_at=SEEDED_AT,
                )
            )
        self.people[person_id] = person
        self.connector.add_member(person.member, aad, person.name)
        self.world.core.forget_actors()
        response = await self.post(self.activity(person, "installationUpdate", action="add"))
        assert response.status_code == 200, response.text

    def person(self, person_id: int) -> Person:
        assert person_id in self.people, f"person {person_id} has not joined Teams"
        return self.people[person_id]

    # --- what people do ---------------------------------------------------------------------

    async def say(self, person_id: int, text: str) -> list[Message]:
        """`text` typed in the person's one-to-one chat with the bot."""
        person = self.person(person_id)
        before = len(self.connector.messages(person.conversation))
        response = await self.post(self.activity(person, "message", text=text))
        assert response.status_code == 200, response.text
        return self.inbox(person_id)[before:]

    async def press(self, person_id: int, message: Message, label: str) -> list[Message]:
        """An Action.Execute of the message's button: the card's redraw (or the note Teams
        shows the presser) and any message the bot sent meanwhile."""
        button = message.button(label)
        data = {BUTTON_DATA_KEY: {"action": button.action, "value": button.value}}
        return await self._execute(person_id, message, button.action, data)

    async def fill(self, person_id: int, form: Message, answers: Answers) -> list[Message]:
        """The form card's Next (or submit) with `answers` filled in (the rest as shown)."""
        card = self._card(form)
        data = next_data(card)
        assert data is not None, "that message is not a form"
        merged = {**input_values(card, answers), **data}
        return await self._execute(person_id, form, FORM_NEXT, merged)

    async def _execute(
        self, person_id: int, message: Message, verb: str, data: JSON
    ) -> list[Message]:
        person = self.person(person_id)
        assert message.conversation == person.conversation, "a card in someone else's chat"
        before = len(self.connector.messages(person.conversation))
        value = {
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual",
        }
        activity = self.activity(
            person, "invoke", name="adaptiveCard/action", value=value, replyToId=message.id
        )
        response = await self.post(activity)
        assert response.status_code == 200, response.text
        answer = response.json()
        shown: list[Message] = []
        if answer.get("type") == "application/vnd.microsoft.card.adaptive":
            self.redrawn[(person.conversation, message.id)] = (answer["value"], time.monotonic())
            shown.append(
                message_of(answer["value"], id=message.id, conversation=message.conversation)
            )
        else:
            assert answer.get("type") == "application/vnd.microsoft.activity.message", answer
            note = str(answer.get("value") or "")
            shown.append(
                Message(id=f"note-{next(_n)}", conversation=person.conversation, text=note)
            )
        return shown + self.inbox(person_id)[before:]

    # --- the outbox and the chat ------------------------------------------------------------

    async def deliver(self) -> None:
        await self.world.deliver(self.relay)

    def inbox(self, person_id: int) -> list[Message]:
        conversation = self.person(person_id).conversation
        ids = self.connector.activity_ids(conversation)
        activities = self.connector.messages(conversation)
        return [
            message_of(self._current(conversation, i, a), id=i, conversation=conversation)
            for i, a in zip(ids, activities, strict=True)
        ]

    # --- inside -----------------------------------------------------------------------------

    def activity(self, person: Person, kind: str, **extra: Any) -> JSON:
        """An activity from the person in their one-to-one chat, as Teams sends it."""
        return {
            "type": kind,
            "id": f"f:{next(_n)}",
            "timestamp": datetime.now(UTC).isoformat(),
            "channelId": "msteams",
            "serviceUrl": self.connector.service_url,
            "from": {"id": person.member, "name": person.name, "aadObjectId": person.aad},
            "conversation": {
                "conversationType": "personal",
                "tenantId": self.tenant,
                "id": person.conversation,
            },
            "recipient": BOT_ACCOUNT,
            "channelData": {"tenant": {"id": self.tenant}},
            "locale": "en-GB",
            **extra,
        }

    async def post(self, activity: JSON) -> httpx.Response:
        token = self.auth.sign(activity, app_id=BOT_APP_ID)
        return await self.http.post(
            "/api/messages",
            content=json.dumps(activity).encode(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )

    def _card(self, message: Message) -> JSON:
        ids = self.connector.activity_ids(message.conversation)
        activities = self.connector.messages(message.conversation)
        for i, activity in zip(ids, activities, strict=True):
            if i == message.id:
                return self._current(message.conversation, i, activity)
        raise AssertionError(f"no message {message.id} in {message.conversation}")

    def _current(self, conversation: str, activity_id: str, activity: JSON) -> JSON:
        """A card as it stands: the later of its last PUT and its last in-place redraw."""
        redraw = self.redrawn.get((conversation, activity_id))
        card = card_of(activity)
        if redraw is None:
            return card
        puts = [
            c.at
            for c in self.connector.calls_to("PUT", f"/activities/{activity_id}")
            if f"/conversations/{conversation}/" in c.path
        ]
        return card if redraw[1] < max(puts, default=0.0) else redraw[0]


@dataclass(frozen=True)
class TeamsFakes:
    """Teams' side of the world on 127.0.0.1: the keys that sign activities, Entra ID for the
    bot's tokens, and the Bot Connector."""

    auth: FakeBotFrameworkAuth
    entra: FakeEntra
    connector: FakeBotConnector

    def settings(self) -> dict[str, Any]:
        """The Teams settings of a bot that talks to these fakes."""
        return {
            "teams_app_id": BOT_APP_ID,
            "teams_app_password": BOT_SECRET,
            "teams_tenant_id": self.entra.tenant,
            "teams_openid_metadata_url": self.auth.openid_metadata_url,
            "teams_authority_url": self.entra.authority_url,
        }

    def messenger(self) -> TeamsMessenger:
        """A Teams Messenger for the test's own relay, unpaced."""
        return TeamsMessenger.for_credentials(
            bot_registration(self.entra), pacer=Pacer(thread_limits={}, app_limit=None)
        )


@contextmanager
def teams_fakes(tenant: str) -> Iterator[TeamsFakes]:
    """The fakes running, with msal trusting the fake Entra ID's certificate meanwhile."""
    with (
        FakeEntra(tenant=tenant) as entra,
        FakeBotFrameworkAuth() as auth,
        FakeBotConnector(entra) as connector,
    ):
        saved = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = str(entra.ca_file)
        try:
            yield TeamsFakes(auth, entra, connector)
        finally:
            if saved is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = saved


@asynccontextmanager
async def serving(
    world: World, settings: Settings, messengers: Mapping[Platform, Messenger]
) -> AsyncIterator[tuple[httpx.AsyncClient, Relay]]:
    """The real app over the world's core, and a relay through `messengers` that the test
    runs itself: the test holds the scheduler lock, so the app's runtime never leads."""
    lock = Leadership.for_database(world.db, retry_seconds=3600)
    assert await lock.try_acquire()
    relay = Relay(OutboxService(world.db, world.core.clock), dict(messengers))
    app = create_app(settings, core=world.core)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
                yield http, relay
    finally:
        await lock.release()


@asynccontextmanager
async def make_teams_chat(world: World) -> AsyncIterator[TeamsChat]:
    """The app served over the world's core with Teams configured, against fakes on 127.0.0.1."""
    with teams_fakes(world.workspace(Platform.TEAMS)) as fakes:
        messenger = fakes.messenger()
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=world.database_url,
            slis_default_la_code=None,
            **fakes.settings(),
        )
        try:
            async with serving(world, settings, {Platform.TEAMS: messenger}) as (http, relay):
                yield TeamsChat(world, http, fakes.auth, fakes.connector, relay)
        finally:
            await messenger.close()
