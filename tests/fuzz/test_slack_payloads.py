"""Fuzzing what Slack sends the bot: correctly signed requests to the real app's /slack/events
with malformed, missing, extra and mistyped parts. Never a 5xx, never a traceback or the fault
reply shown to anyone, and nothing written by a request that is refused.

Tables a refused request may still write: `seen_request`, the ledger of trigger and event ids
that makes a retried request have one effect (it records every signed delivery, before the
payload is read), and `chat_conversation`, where the bot keeps the conversations it is written
in so it can answer there later.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.form_flow import ShowPage
from handlers.slack.modals import page_view
from storage.engine import Database
from tests.fuzz.test_command_parser import ACTION_IDS, BUTTON_VALUES, OPENERS
from tests.fuzz.world import (
    FAULT,
    HTTP_FUZZ,
    WORDS,
    FuzzWorld,
    WriteLog,
    command_texts,
    seed,
    sqlite_copy,
    texts,
)
from tests.scenarios.slack_chat import SlackChat, make_slack_chat
from tests.scenarios.world import build_world
from tests.slack.directory import ESSEX_TEAM
from tests.slack.harness import settle, slash_body
from tests.slack.signing import FORM, JSON

EXEMPT = ("seen_request", "chat_conversation")
# Commands that change something when they succeed; every other one only reads.
WRITERS = ("remind", "meeting")

JsonValue = Any
json_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: what is fuzzed here is how Slack's requests are read, which does not
    depend on the database (test_command_parser runs the core on both), and the CI budget
    has no room for these examples twice."""
    return sqlite_copy(tmp_path, sqlite_template)


@pytest.fixture
async def slack(database_url: str, db: Database) -> AsyncIterator[tuple[FuzzWorld, SlackChat]]:
    fuzz = await seed(build_world(database_url, db))
    async with make_slack_chat(fuzz.world) as chat:
        for role in ("head", "lead", "chair", "officer"):
            await chat.join(getattr(fuzz.world, role))
        yield fuzz, chat


def users(chat: SlackChat) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(sorted(chat.users.values())), texts)


async def post(chat: SlackChat, body: str, content_type: str) -> tuple[int, str]:
    response = await chat.slack.post(body, content_type)
    await settle()
    return response.status_code, response.text


def check_answer(chat: SlackChat, status: int, text: str, calls_before: int) -> None:
    """Never 5xx; nothing anyone is shown is a traceback or the fault reply."""
    assert status < 500, (status, text)
    assert "Traceback" not in text and FAULT not in text, text
    for call in chat.fake.calls[calls_before:]:
        said = json.dumps(call.params, default=str)
        assert FAULT not in said and "Traceback" not in said, (call.method, said)


# --- slash commands -------------------------------------------------------------------------

SLASH_KEYS = (
    "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
    "command", "text", "api_app_id", "is_enterprise_install", "response_url", "trigger_id",
)  # fmt: skip


@given(data=st.data())
@HTTP_FUZZ
async def test_slash_commands_with_any_fields(
    slack: tuple[FuzzWorld, SlackChat], writes: WriteLog, data: st.DataObject
) -> None:
    _fuzz, chat = slack
    text = data.draw(command_texts, label="text")
    fields = dict(parse_qsl(slash_body(text, user=data.draw(users(chat), label="user"))))
    fields["response_url"] = chat.fake.hooks_url + "slash"
    fields["command"] = data.draw(
        st.sampled_from(("/slis", "/slis", "/SLIS", "/other", "slis", "")), label="command"
    )
    for key in data.draw(st.lists(st.sampled_from(SLASH_KEYS), max_size=3), label="drop"):
        fields.pop(key, None)
    fields.update(
        data.draw(
            st.dictionaries(st.sampled_from(SLASH_KEYS) | texts, texts, max_size=3), label="set"
        )
    )
    calls = len(chat.fake.calls)
    writes.reset()
    status, answer = await post(chat, urlencode(fields), FORM)
    check_answer(chat, status, answer, calls)
    first = str(fields.get("text", "")).strip().partition(" ")[0].lower()
    if first not in WRITERS:
        assert writes.written(EXEMPT) == set(), fields


# --- interactions ---------------------------------------------------------------------------


def interaction(kind: str, user: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "user": {"id": user, "username": "x", "team_id": ESSEX_TEAM},
        "api_app_id": "A0SLIS",
        "token": "legacy-verification-token",
        "team": {"id": ESSEX_TEAM, "domain": "essex-schools"},
        **extra,
    }


@st.composite
def block_actions(draw: st.DrawFn, user: str, hook: str) -> dict[str, Any]:
    action = {
        "action_id": draw(ACTION_IDS),
        "block_id": draw(texts),
        "type": draw(st.sampled_from(("button", "static_select", "overflow", "x"))),
        "value": draw(BUTTON_VALUES),
        "action_ts": "1790000000.000001",
    }
    for key in draw(st.lists(st.sampled_from(sorted(action)), max_size=2)):
        action[key] = draw(json_values)
    extra: dict[str, Any] = {
        "actions": draw(st.sampled_from(([action], [], [action, action], action, None))),
        "trigger_id": draw(texts),
        "container": draw(
            st.sampled_from(({"type": "message"}, {"type": "view"}, {}, None, "message"))
        ),
        "response_url": hook,
    }
    if draw(st.booleans()):
        extra["view"] = draw(json_values)
    return interaction("block_actions", user, extra)


@pytest.fixture
async def views(slack: tuple[FuzzWorld, SlackChat]) -> list[dict[str, Any]]:
    """Every page of every form, as the modal Slack would hold (opened before the examples)."""
    fuzz, _chat = slack
    from tests.fuzz.test_command_parser import open_form

    found: list[dict[str, Any]] = []
    for who, how, what in OPENERS:
        step = await open_form(fuzz, who, how, what)
        if isinstance(step, ShowPage):
            for page in range(step.form.page_count):
                view = page_view(ShowPage(step.form, page))
                found.append({"id": f"V{len(found)}", "hash": "h", **view})
    return found


def element_states(view: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Random `state.values` for the view's input blocks: right element types, wrong ones,
    random values."""
    blocks = [b for b in view.get("blocks", []) if b.get("type") == "input"]
    state = st.one_of(
        st.fixed_dictionaries({"type": st.just("plain_text_input"), "value": texts | st.none()}),
        st.fixed_dictionaries({"type": st.just("static_select"), "selected_option": json_values}),
        st.fixed_dictionaries({"type": st.just("datepicker"), "selected_date": texts}),
        st.fixed_dictionaries({"type": st.just("timepicker"), "selected_time": texts}),
        st.fixed_dictionaries(
            {"type": st.just("checkboxes"), "selected_options": st.lists(json_values, max_size=3)}
        ),
        st.fixed_dictionaries({"type": st.just("number_input"), "value": texts}),
        json_values,
    )
    entries = {
        b["block_id"]: st.dictionaries(
            st.sampled_from((str(b.get("element", {}).get("action_id", "")), "x")),
            state,
            max_size=1,
        )
        for b in blocks
    }
    return st.fixed_dictionaries({}, optional=entries)


@st.composite
def view_payloads(draw: st.DrawFn, views: list[dict[str, Any]], user: str) -> dict[str, Any]:
    view = dict(draw(st.sampled_from(views)))
    view["state"] = {"values": draw(element_states(view))}
    if draw(st.booleans()):
        view["private_metadata"] = draw(
            st.one_of(
                texts,
                st.fixed_dictionaries(
                    {"form": st.sampled_from(("slis.support.ask", "x")), "page": json_values},
                    optional={"meta": json_values},
                ).map(json.dumps),
            )
        )
    for key in draw(
        st.lists(st.sampled_from(("callback_id", "blocks", "id", "state")), max_size=2)
    ):
        view[key] = draw(json_values)
    kind = draw(st.sampled_from(("view_submission", "view_submission", "view_closed")))
    return interaction(kind, user, {"view": view, "trigger_id": draw(texts)})


@given(data=st.data())
@HTTP_FUZZ
async def test_interactions_with_any_payload(
    slack: tuple[FuzzWorld, SlackChat],
    views: list[dict[str, Any]],
    writes: WriteLog,
    data: st.DataObject,
) -> None:
    _fuzz, chat = slack
    user = data.draw(users(chat), label="user")
    hook = chat.fake.hooks_url + "action"
    payload = data.draw(
        st.one_of(
            block_actions(user, hook),
            view_payloads(views, user),
            st.sampled_from(("shortcut", "message_action", "block_suggestion", "x")).map(
                lambda k: interaction(k, user, {"callback_id": "slis", "trigger_id": "t"})
            ),
            st.dictionaries(
                st.sampled_from(("type", "user", "view", "actions", "team")) | texts, json_values
            ),
            json_values,
        ),
        label="payload",
    )
    raw = data.draw(st.one_of(st.just(json.dumps(payload, default=str)), texts), label="raw")
    body = urlencode({"payload": raw})
    calls = len(chat.fake.calls)
    writes.reset()
    status, answer = await post(chat, body, FORM)
    check_answer(chat, status, answer, calls)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        # Only a button press may act (a vote, a claim); nothing else here is a valid request.
        assert writes.written(EXEMPT) == set(), payload


# --- events and bodies that are not Slack's --------------------------------------------------

EVENT_TYPES = ("app_home_opened", "app_mention", "message", "app_uninstalled", "tokens_revoked")


@given(data=st.data())
@HTTP_FUZZ
async def test_events_and_other_bodies(
    slack: tuple[FuzzWorld, SlackChat], writes: WriteLog, data: st.DataObject
) -> None:
    _fuzz, chat = slack
    event = data.draw(
        st.fixed_dictionaries(
            {"type": st.sampled_from(EVENT_TYPES) | texts},
            optional={
                "user": users(chat) | json_values,
                "channel": texts | json_values,
                "tab": st.sampled_from(("home", "messages")) | json_values,
                "ts": texts,
                "thread_ts": texts | json_values,
                "text": texts,
            },
        )
        | json_values,
        label="event",
    )
    envelope: dict[str, Any] = {
        "token": "legacy-verification-token",
        "team_id": data.draw(st.sampled_from((ESSEX_TEAM, "T0OTHER")) | json_values),
        "api_app_id": "A0SLIS",
        "event": event,
        "type": data.draw(st.sampled_from(("event_callback", "url_verification", "x"))),
        "event_id": data.draw(texts | json_values),
        "event_time": 1790000000,
    }
    if data.draw(st.booleans()):
        envelope["challenge"] = data.draw(json_values)
    body, content_type = data.draw(
        st.one_of(
            st.just((json.dumps(envelope, default=str), JSON)),
            st.tuples(
                texts, st.sampled_from((JSON, FORM, "text/plain", "", "multipart/form-data"))
            ),
            st.tuples(st.dictionaries(texts, texts).map(urlencode), st.sampled_from((FORM, JSON))),
            st.tuples(
                st.sampled_from(WORDS).map(lambda w: urlencode({"payload": w, "command": w})),
                st.just(FORM),
            ),
        ),
        label="body",
    )
    calls = len(chat.fake.calls)
    writes.reset()
    status, answer = await post(chat, body, content_type)
    check_answer(chat, status, answer, calls)
    assert writes.written(EXEMPT) == set(), body
