"""The exact inputs the fuzzers found faults with, as plain tests.

On SQLite only: each is about how a request or an id is read, before any database is asked
(the fuzzers of the core run on both databases), and the CI budget has no room for twice.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.form_flow import OUT_OF_DATE, ShowPage
from bot.ids import MAX_ID, parse_id
from bot.replies.reminders import CANCEL_ACTION
from bot.replies.support import ACTION_PREFIX as SUPPORT_PREFIX
from bot.services.healthcheck import survey_form
from bot.services.healthcheck.prompts import START_ACTION
from bot.services.meetings.booking import CANCEL_CALLBACK, CHANGE_CALLBACK
from bot.services.meetings.common import ACTION_PREFIX as MEETING_PREFIX
from bot.types import Reply
from handlers.slack.modals import page_view
from handlers.teams.card_forms import FORM_DATA_KEY, FORM_NEXT
from storage.engine import Database
from tests.fuzz.world import (
    FAULT,
    FuzzWorld,
    WriteLog,
    changed,
    seed,
    snapshot,
    sqlite_copy,
)
from tests.scenarios.slack_chat import SlackChat, make_slack_chat
from tests.scenarios.teams_chat import TeamsChat, make_teams_chat
from tests.scenarios.world import build_world
from tests.slack.directory import ESSEX_TEAM
from tests.slack.harness import slash_body
from tests.slack.signing import FORM


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    return sqlite_copy(tmp_path, sqlite_template)


@pytest.fixture
async def fuzz(database_url: str, db: Database) -> FuzzWorld:
    return await seed(build_world(database_url, db))


@pytest.fixture
async def slack(fuzz: FuzzWorld) -> AsyncIterator[SlackChat]:
    async with make_slack_chat(fuzz.world) as chat:
        await chat.join(fuzz.world.head)
        yield chat


async def test_a_launch_page_sent_without_its_answers_shows_what_is_missing(
    fuzz: FuzzWorld,
) -> None:
    officer = fuzz.actors["officer"]
    step = await fuzz.core.open_form(officer, "healthcheck launch")
    form = step.form  # type: ignore[union-attr]
    before = snapshot(fuzz.db)
    sent = await fuzz.core.form_submit(officer, form.callback_id, form.private_metadata, 0, {})
    assert "template" in sent.errors  # type: ignore[union-attr]
    assert changed(before, snapshot(fuzz.db)) == {}


async def test_a_page_the_form_does_not_have_is_out_of_date(fuzz: FuzzWorld) -> None:
    head = fuzz.actors["head"]
    step = await fuzz.core.open_form(head, "support")
    form = step.form  # type: ignore[union-attr]
    sent = await fuzz.core.form_submit(head, form.callback_id, form.private_metadata, 7, {})
    assert "out of date" in sent.reply.text  # type: ignore[union-attr]


async def test_a_slash_command_without_its_team_is_answered(slack: SlackChat) -> None:
    fields = dict(parse_qsl(slash_body("", user=next(iter(slack.users.values())))))
    del fields["team_id"]
    response = await slack.slack.post(urlencode(fields), FORM)
    assert response.status_code == 200 and FAULT not in response.text


async def test_a_slash_command_without_its_user_is_refused_clearly(slack: SlackChat) -> None:
    fields = dict(parse_qsl(slash_body("help")))
    del fields["user_id"]
    response = await slack.slack.post(urlencode(fields), FORM)
    assert response.status_code == 200 and "can't tell who sent" in response.text


async def test_signed_interactions_slack_never_sends_are_400(slack: SlackChat) -> None:
    before = snapshot(slack.world.db, ("seen_request",))
    for payload in [
        '{"type": "block_actions", "user": {"id": "U1"}, "actions": null}',
        '{"type": "block_actions", "user": {"id": "U1"}, "actions": []}',
        '{"type": "block_actions", "user": {"id": "U1"}, "actions": {"action_id": "x"}}',
        '{"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": []}]}',
        "null",
        "00",
    ]:
        response = await slack.slack.post(urlencode({"payload": payload}), FORM)
        assert response.status_code == 400, (payload, response.text)
    assert changed(before, snapshot(slack.world.db, ("seen_request",))) == {}


async def test_a_url_verification_without_its_challenge_is_400(slack: SlackChat) -> None:
    body = json.dumps({"type": "url_verification", "event": None})
    response = await slack.slack.post(body, "application/json")
    assert response.status_code == 400


# --- ids a client sent back ------------------------------------------------------------------

TOO_LARGE = "9223372036854775808"  # one past PostgreSQL's BIGINT; MAX_ID + 1 is past INTEGER
BAD_IDS = (TOO_LARGE, str(MAX_ID + 1), "²", "١٢", "0", "-1", "+1", "1_000", "", " ", "1.0")


@pytest.mark.parametrize("text", BAD_IDS)
def test_an_id_out_of_range_or_not_in_ascii_digits_is_none(text: str) -> None:
    assert parse_id(text) is None


@pytest.mark.parametrize(
    ("given", "expected"), [("1", 1), (" 42 ", 42), (str(MAX_ID), MAX_ID), (7, 7), (True, None)]
)
def test_an_id_in_range_is_read(given: object, expected: int | None) -> None:
    assert parse_id(given) == expected


async def test_a_button_with_an_id_no_row_can_have_is_out_of_date(
    fuzz: FuzzWorld, writes: WriteLog
) -> None:
    writes.reset()
    for (who, action), value in itertools.product(
        [
            ("head", START_ACTION),
            ("head", CANCEL_ACTION),
            ("lead", SUPPORT_PREFIX + "decline"),
            ("chair", MEETING_PREFIX + "close"),
        ],
        BAD_IDS,
    ):
        pressed = await fuzz.core.button(fuzz.actors[who], action, value)
        assert pressed is not None and isinstance(pressed.step, Reply)
        said = pressed.step.text
        assert pressed.step.is_error and "out of date" in said, (value, said)
    assert writes.written() == set()


async def test_a_command_with_an_id_no_row_can_have_is_refused_clearly(fuzz: FuzzWorld) -> None:
    for who, command in [
        ("head", f"remind cancel {TOO_LARGE}"),
        ("head", "remind cancel ²"),
        ("officer", f"healthcheck status {TOO_LARGE}"),
        ("head", f"support show {TOO_LARGE}"),
        ("head", "support show ²"),
        ("chair", f"meeting show {TOO_LARGE}"),
        ("chair", f"meeting minutes {TOO_LARGE}"),
    ]:
        reply = await fuzz.core.command(fuzz.actors[who], command)
        assert reply.is_error and FAULT not in reply.text, (command, reply.text)


async def test_a_form_whose_metadata_names_no_row_is_refused_cleanly(
    fuzz: FuzzWorld, writes: WriteLog
) -> None:
    writes.reset()
    for callback_id, metadata in [
        (survey_form.CALLBACK_ID, TOO_LARGE),
        (survey_form.CALLBACK_ID, "²"),
        (CHANGE_CALLBACK, "²"),
        (CHANGE_CALLBACK, TOO_LARGE),
        (CANCEL_CALLBACK, "x"),
        (MEETING_PREFIX + "new", '{"q": []}'),
        (MEETING_PREFIX + "new", '{"q": "x"}'),
        (MEETING_PREFIX + "new", f'{{"q": {TOO_LARGE}}}'),
    ]:
        assert callback_id in fuzz.core.forms, callback_id
        actor = fuzz.actors["head" if callback_id == survey_form.CALLBACK_ID else "chair"]
        step: Any = await fuzz.core.form_of(actor, callback_id, metadata)
        if not isinstance(step, Reply):
            step = (await fuzz.core.form_submit(actor, callback_id, metadata, 0, {})).reply
        assert step.is_error and FAULT not in step.text, (callback_id, metadata, step.text)
    assert writes.written() == set()


# --- a Slack modal that does not fit its form --------------------------------------------------


async def test_a_slack_view_that_does_not_fit_its_form_is_out_of_date(
    fuzz: FuzzWorld, slack: SlackChat
) -> None:
    step = await fuzz.core.open_form(fuzz.actors["head"], "support")
    assert isinstance(step, ShowPage)
    view = page_view(step)
    metadata = json.loads(view["private_metadata"])
    view["private_metadata"] = json.dumps({**metadata, "page": 7})
    user = slack.users[fuzz.world.head]
    payload = {
        "type": "view_submission",
        "user": {"id": user, "team_id": ESSEX_TEAM},
        "team": {"id": ESSEX_TEAM},
        "view": {"id": "V1", "hash": "h", **view, "state": {"values": {}}},
    }
    response = await slack.slack.post(urlencode({"payload": json.dumps(payload)}), FORM)
    assert response.status_code == 200 and FAULT not in response.text, response.text
    assert OUT_OF_DATE in response.text, response.text


# --- Teams --------------------------------------------------------------------------------------


@pytest.fixture
async def teams(fuzz: FuzzWorld) -> AsyncIterator[TeamsChat]:
    async with make_teams_chat(fuzz.world) as chat:
        await chat.join(fuzz.world.head)
        yield chat


async def test_an_action_submit_from_a_card_teams_does_not_have_is_answered_anew(
    fuzz: FuzzWorld, teams: TeamsChat
) -> None:
    """Action.Submit (older clients) names the card to redraw; one the Bot Connector does not
    have, or an id that is not an activity id, gets the redrawn card as a new message."""
    [shown] = await teams.say(fuzz.world.head, "support")
    assert shown.form is not None
    person = teams.person(fuzz.world.head)
    ours = {"callback_id": shown.form.callback_id, "page": 0, "metadata": ""}
    for reply_to in ("404", "\x7f", "../../x", ".."):
        activity = teams.activity(
            person, "message", value={FORM_DATA_KEY: ours}, replyToId=reply_to
        )
        before = len(teams.connector.messages(person.conversation))
        response = await teams.post(activity)
        assert response.status_code == 200, response.text
        cards = teams.connector.messages(person.conversation)
        said = json.dumps(cards[-1])
        assert len(cards) == before + 1 and FAULT not in said and "Choose" in said, reply_to


async def test_a_teams_form_page_that_does_not_fit_its_form_is_out_of_date(
    fuzz: FuzzWorld, teams: TeamsChat
) -> None:
    [shown] = await teams.say(fuzz.world.head, "support")
    assert shown.form is not None
    person = teams.person(fuzz.world.head)
    for callback_id, answers in (
        (shown.form.callback_id + ".x", {}),
        (shown.form.callback_id, {"answer.needed": {"not": "text"}}),
    ):
        ours = {"callback_id": callback_id, "page": 0, "metadata": ""}
        data = {FORM_DATA_KEY: ours, **answers}
        value = {"action": {"type": "Action.Execute", "verb": FORM_NEXT, "data": data}}
        activity = teams.activity(
            person, "invoke", name="adaptiveCard/action", value=value, replyToId=shown.id
        )
        response = await teams.post(activity)
        assert response.status_code == 200 and FAULT not in response.text, response.text
        assert OUT_OF_DATE in response.text, response.text
