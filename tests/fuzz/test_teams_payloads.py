"""Fuzzing what Teams sends the bot: Bot Framework activities, signed with the test key, posted
to the real app's /api/messages with random kinds, texts, values, invoke names and card data,
parts missing or of the wrong type, and huge strings. Never a 5xx; never the fault reply or a
traceback said to anyone; nothing written by an activity that is refused or acts on nothing.

Tables an activity that does nothing may still write: `seen_request`, the ledger of activity
ids that makes a redelivered activity have one effect, and `chat_conversation`, where the bot
keeps the conversations it is written in (and whether it is still installed there) so it can
answer there later.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from bot.form_flow import ShowPage
from handlers.teams import card_forms, pacing
from handlers.teams.card_forms import FORM_BACK, FORM_DATA_KEY, FORM_NEXT
from handlers.teams.cards import BUTTON_DATA_KEY
from storage.engine import Database
from tests.fakes.entra import BOT_APP_ID
from tests.fuzz.test_command_parser import ACTION_IDS, BUTTON_VALUES, OPENERS, open_form
from tests.fuzz.test_slack_payloads import json_values
from tests.fuzz.world import (
    FAULT,
    HTTP_FUZZ,
    FuzzWorld,
    WriteLog,
    command_texts,
    seed,
    sqlite_copy,
    texts,
)
from tests.scenarios.teams_chat import BOT_ACCOUNT, TeamsChat, make_teams_chat
from tests.scenarios.world import build_world

EXEMPT = ("seen_request", "chat_conversation")
# Commands that change something when they succeed; every other one only reads.
WRITERS = ("remind", "meeting")
ROLES = ("head", "lead", "chair", "officer")
JSON = dict[str, Any]

KINDS = (
    "message", "message", "invoke", "invoke", "invoke", "invoke", "installationUpdate",
    "conversationUpdate", "event", "messageReaction", "typing", "endOfConversation",
)  # fmt: skip
INVOKES = (
    "adaptiveCard/action", "adaptiveCard/action", "adaptiveCard/action", "task/fetch",
    "task/submit", "composeExtension/query", "composeExtension/submitAction",
    "signin/verifyState", "fileConsent/invoke", "actionableMessage/executeAction",
)  # fmt: skip
# Parts of an activity taken out or given a value of another type.
PARTS = (
    "from", "conversation", "recipient", "channelData", "id", "text", "value", "name",
    "timestamp", "locale", "replyToId", "channelId", "serviceUrl", "action",
)  # fmt: skip
NESTED = (
    ("from", "id"), ("from", "aadObjectId"), ("from", "name"), ("conversation", "id"),
    ("conversation", "conversationType"), ("conversation", "tenantId"),
    ("channelData", "tenant"), ("recipient", "id"),
)  # fmt: skip
huge = st.integers(5_000, 30_000).map(lambda n: "x" * n)  # Teams caps a message at ~100 KB
NOTHING: st.SearchStrategy[Any] = st.just([])


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: what is fuzzed here is how Teams' activities are read, which does not
    depend on the database (test_command_parser runs the core on both), and the CI budget
    has no room for these examples twice."""
    return sqlite_copy(tmp_path, sqlite_template)


@pytest.fixture
async def teams(
    database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FuzzWorld, TeamsChat]]:
    # Unpaced: hundreds of examples in four chats would wait out Teams' per-conversation
    # rate for seconds; pacing has its own tests (tests/teams/test_pacing.py).
    monkeypatch.setattr(pacing, "THREAD_LIMITS", {})
    fuzz = await seed(build_world(database_url, db))
    async with make_teams_chat(fuzz.world) as chat:
        for role in ROLES:
            await chat.join(getattr(fuzz.world, role))
        yield fuzz, chat


@pytest.fixture
async def form_pages(teams: tuple[FuzzWorld, TeamsChat]) -> list[JSON]:
    """The Next data of every page of every form, with its inputs as the card shows them
    (opened before the examples, so what is drawn does not depend on earlier examples)."""
    fuzz, _chat = teams
    found: list[JSON] = []
    for who, how, what in OPENERS:
        step = await open_form(fuzz, who, how, what)
        if isinstance(step, ShowPage):
            for page in range(step.form.page_count):
                card = card_forms.form_card(step.form, page, {}, {})
                found.append(_form_data(card))
    return found


def _form_data(card: JSON) -> JSON:
    """A form card's Next data, and an empty answer for each of its inputs."""
    data: JSON = {}
    stack: list[Any] = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if str(node.get("type") or "").startswith("Input."):
                data[str(node["id"])] = ""
            if node.get("type") == "Action.Execute" and node.get("verb") == FORM_NEXT:
                data.update(node["data"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    assert FORM_DATA_KEY in data, card
    return data


def sometimes(odd: st.SearchStrategy[Any], usual: st.SearchStrategy[Any] = NOTHING) -> Any:
    """`odd` one time in four, else `usual`: most activities are nearly right, so that what
    is wrong with them reaches the handlers rather than stopping at the gate."""
    return st.integers(0, 3).flatmap(lambda n: usual if n else odd)


@st.composite
def card_data(draw: st.DrawFn, pages: list[JSON]) -> Any:
    """What a card's button sends: one of our buttons with any action and value, a form page
    with any answers (and its form, page or metadata changed at times), or anything at all."""
    kind = draw(st.sampled_from(("button", "button", "form", "form", "form", "other")))
    if kind == "button":
        ours: Any = {"action": draw(ACTION_IDS), "value": draw(BUTTON_VALUES)}
        if draw(st.integers(0, 4)) == 0:
            ours = draw(json_values)
        return {BUTTON_DATA_KEY: ours}
    if kind == "other":
        return draw(json_values)
    data = dict(draw(st.sampled_from(pages)))
    ours = dict(data[FORM_DATA_KEY])
    for key in draw(st.lists(st.sampled_from(("callback_id", "page", "metadata", "back")))):
        ours[key] = draw(json_values | texts | st.integers(-3, 2**40))
    data[FORM_DATA_KEY] = ours
    for input_id in [k for k in data if k != FORM_DATA_KEY]:
        data[input_id] = draw(
            st.one_of(texts, st.sampled_from(("1", "2026-11-30", "09:00", "yes", ""))) | huge
            if draw(st.integers(0, 3))
            else json_values
        )
    return data


@st.composite
def activities(draw: st.DrawFn, chat: TeamsChat, pages: list[JSON]) -> JSON:
    person = draw(st.sampled_from(sorted(chat.people.values(), key=lambda p: p.member)))
    kind = draw(sometimes(texts, st.sampled_from(KINDS)), label="type")
    activity = chat.activity(person, kind)
    if kind == "message" or draw(st.integers(0, 4)) == 0:
        activity["text"] = draw(command_texts | huge, label="text")
    if kind == "message" and draw(st.integers(0, 3)) == 0:
        activity["value"] = draw(card_data(pages), label="submit")
        activity["replyToId"] = draw(texts, label="replyToId")
    if kind == "invoke":
        activity["name"] = draw(sometimes(texts, st.sampled_from(INVOKES)), label="name")
        action = {
            "type": draw(st.sampled_from(("Action.Execute", "Action.Submit")) | texts),
            "verb": draw(st.sampled_from((FORM_NEXT, FORM_BACK, "slis.x")) | texts),
            "data": draw(card_data(pages), label="data"),
        }
        activity["value"] = draw(
            sometimes(json_values, st.just({"action": action, "trigger": "manual"})),
            label="value",
        )
    if kind == "installationUpdate":
        activity["action"] = draw(st.sampled_from(("add", "remove", "add-upgrade")) | texts)
    if kind == "conversationUpdate":
        members = st.lists(
            st.sampled_from(({"id": BOT_ACCOUNT["id"]}, {"id": person.member})) | json_values,
            max_size=3,
        )
        activity["membersAdded"] = draw(members, label="membersAdded")
        activity["membersRemoved"] = draw(members, label="membersRemoved")
    for part in draw(sometimes(st.lists(st.sampled_from(PARTS), max_size=2)), label="damaged"):
        if draw(st.booleans()):
            activity.pop(part, None)
        elif part != "serviceUrl":  # a serviceUrl elsewhere would send the bot off this host
            activity[part] = draw(json_values)
    nested = st.lists(st.sampled_from(NESTED), max_size=2)
    for outer, inner in draw(sometimes(nested), label="nested"):
        holder = activity.get(outer)
        if isinstance(holder, dict):
            holder = activity[outer] = dict(holder)
            if draw(st.booleans()):
                holder.pop(inner, None)
            else:
                holder[inner] = draw(json_values | huge)
    return activity


@st.composite
def card_actions(draw: st.DrawFn, chat: TeamsChat, pages: list[JSON]) -> JSON:
    """A card's button pressed, well formed but for what it carries: an Action.Execute
    (invoke `adaptiveCard/action`) with any verb and data, or an Action.Submit (a message
    whose value is the data)."""
    person = draw(st.sampled_from(sorted(chat.people.values(), key=lambda p: p.member)))
    data = draw(card_data(pages), label="data")
    reply_to = draw(st.sampled_from(("1", "f:1")) | texts, label="replyToId")
    if draw(st.integers(0, 3)) == 0:
        return chat.activity(person, "message", value=data, replyToId=reply_to)
    verb = draw(st.sampled_from((FORM_NEXT, FORM_NEXT, FORM_BACK, "slis.x")) | texts)
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
    return chat.activity(
        person, "invoke", name="adaptiveCard/action", value=value, replyToId=reply_to
    )


def may_write(activity: JSON) -> bool:
    """Whether the activity could be a valid request that changes something: a command that
    writes, or a card's button or form page."""
    if not isinstance(activity.get("from"), dict):
        return False
    if activity.get("type") == "invoke":
        return activity.get("name") == "adaptiveCard/action"
    if activity.get("type") != "message":
        return False
    if activity.get("value") is not None:
        return True
    text = activity.get("text")
    words = text.lower().split() if isinstance(text, str) else []
    return bool(set(words) & set(WRITERS))


@given(data=st.data())
@HTTP_FUZZ
async def test_activities_of_any_shape(
    teams: tuple[FuzzWorld, TeamsChat],
    form_pages: list[JSON],
    writes: WriteLog,
    data: st.DataObject,
) -> None:
    _fuzz, chat = teams
    await check_activity(chat, writes, data.draw(activities(chat, form_pages), label="activity"))


@given(data=st.data())
@HTTP_FUZZ
async def test_card_actions_with_any_data(
    teams: tuple[FuzzWorld, TeamsChat],
    form_pages: list[JSON],
    writes: WriteLog,
    data: st.DataObject,
) -> None:
    _fuzz, chat = teams
    await check_activity(chat, writes, data.draw(card_actions(chat, form_pages), label="action"))


async def check_activity(chat: TeamsChat, writes: WriteLog, activity: JSON) -> None:
    """Never a 5xx; nothing said to anyone is a traceback or the fault reply; nothing written
    by an activity that is refused or could not be one that acts."""
    calls = len(chat.connector.calls)
    writes.reset()
    response = await chat.post(activity)
    event(f"{activity.get('type')!s:.20} {activity.get('name')!s:.20}: {response.status_code}")
    assert response.status_code < 500, (response.status_code, response.text)
    assert "Traceback" not in response.text and FAULT not in response.text, response.text
    for call in chat.connector.calls[calls:]:
        said = json.dumps(call.json, default=str)
        assert FAULT not in said and "Traceback" not in said, (call.path, said)
    if response.status_code >= 400 or not may_write(activity):
        assert writes.written(EXEMPT if response.status_code < 400 else ()) == set(), activity


@given(data=st.data())
@HTTP_FUZZ
async def test_bodies_that_are_not_activities(
    teams: tuple[FuzzWorld, TeamsChat], writes: WriteLog, data: st.DataObject
) -> None:
    """Signed bodies that are not JSON objects, or not activities: a 4xx, nothing written."""
    _fuzz, chat = teams
    person = next(iter(chat.people.values()))
    body = data.draw(
        st.one_of(
            texts.map(str.encode),
            json_values.map(lambda v: json.dumps(v).encode()),
            st.just(json.dumps(chat.activity(person, "message", text="help")).encode()[:-1]),
            st.binary(max_size=64),
            st.just(b"x" * (1024 * 1024 + 1)),
        ),
        label="body",
    )
    content_type = data.draw(
        st.sampled_from(("application/json", "text/plain", "", "application/x-www-form-urlencoded"))
    )
    token = chat.auth.sign({"serviceurl": chat.connector.service_url}, app_id=BOT_APP_ID)
    writes.reset()
    response = await chat.http.post(
        "/api/messages",
        content=body,
        headers={"authorization": f"Bearer {token}", "content-type": content_type},
    )
    event(f"status {response.status_code}")
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.text
    assert "Traceback" not in response.text, response.text
    assert writes.written(EXEMPT if response.status_code == 200 else ()) == set(), body[:200]
