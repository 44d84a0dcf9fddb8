"""The in-memory workspace and how Slack's acknowledgements are taken, with no server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import SandboxPlan
from bot.ports import MovableClock
from bot.services.sandbox import SandboxChannel, SandboxPerson, SandboxWorkspace
from handlers.sandbox.events import Ack, BotRequests
from handlers.sandbox.state import state_json
from handlers.sandbox.workspace import BOT_USER_ID, SlackError, Workspace
from tests.fakes.clock import FakeClock

ADA = "U0SAMPLE01"
TESS = "U0SAMPLE02"
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Form"}, "blocks": []}


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def ws(ticks: Ticks) -> Workspace:
    clock = MovableClock(FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC)))
    workspace = Workspace(clock, monotonic=ticks)
    workspace.load(
        SandboxWorkspace("T0SAMPLE1", "Essex SLIS (sample)", 1, 881, ZoneInfo("Europe/London")),
        [
            SandboxPerson(ADA, "Ada Applethwaite", "ada@schools.example.org", "Head", ()),
            SandboxPerson(TESS, "Tess Dapplegate", "tess@schools.example.org", "Head", ()),
        ],
        [SandboxChannel("C0WESTQ", "west-quadrant")],
    )
    return workspace


def requests(ws: Workspace) -> BotRequests:
    plan = SandboxPlan(port=3999, replaces_slack=False, may_reset=True)
    return BotRequests(ws, plan, plan.slack_credentials())


def ack(body: object) -> Ack:
    return Ack(200, b"" if body is None else json.dumps(body).encode(), "application/json")


def test_message_ts_come_from_the_sandbox_clock_and_always_increase(ws: Workspace) -> None:
    stamps = [ws.post("C0WESTQ", BOT_USER_ID, str(n)).ts for n in range(3)]
    assert stamps[0] == "1795510800.000000"
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_the_state_clock_reads_in_the_workspace_zone(ws: Workspace) -> None:
    clock = ws.clock
    assert isinstance(clock, MovableClock)
    clock.move_to(clock.now() + timedelta(days=2, hours=3))
    shown = state_json(ws, clock, ADA, may_reset=True)["clock"]
    assert shown["display"] == "Thursday 26 November 2026, 12:00 GMT"
    assert shown["iso"] == "2026-11-26T12:00:00+00:00"
    assert shown["ahead"] == "2 days, 3 hours ahead of real time"


def test_triggers_are_for_one_person_one_use_three_seconds(ws: Workspace, ticks: Ticks) -> None:
    first = ws.issue_trigger(ADA)
    assert ws.use_trigger(first) == ADA
    with pytest.raises(SlackError, match="exchanged_trigger_id"):
        ws.use_trigger(first)
    late = ws.issue_trigger(TESS)
    ticks.now += 3.1
    with pytest.raises(SlackError, match="expired_trigger_id"):
        ws.use_trigger(late)
    with pytest.raises(SlackError, match="invalid_trigger_id"):
        ws.use_trigger("nonsense")


def test_response_urls_last_thirty_minutes_and_five_uses(ws: Workspace, ticks: Ticks) -> None:
    token = ws.issue_response_url(ADA, "C0WESTQ", None)
    for _ in range(5):
        assert ws.use_response_url(token).user == ADA
    with pytest.raises(SlackError, match="used_url"):
        ws.use_response_url(token)
    other = ws.issue_response_url(ADA, "C0WESTQ", None)
    ticks.now += 30 * 60 + 1
    with pytest.raises(SlackError, match="expired_url"):
        ws.use_response_url(other)


def test_an_ephemeral_command_answer_is_for_the_asker_alone(ws: Workspace) -> None:
    requests(ws).show_command_answer(ADA, "C0WESTQ", "/slis help", ack({"text": "Help"}))
    [shown] = ws.in_channel("C0WESTQ")
    assert shown.ephemeral_for == ADA and shown.text == "Help"


def test_an_in_channel_answer_follows_the_command_as_typed(ws: Workspace) -> None:
    answer = {"response_type": "in_channel", "text": "For all", "blocks": [{"type": "divider"}]}
    requests(ws).show_command_answer(ADA, "C0WESTQ", "/slis a<b", ack(answer))
    typed, said = ws.in_channel("C0WESTQ")
    assert (typed.user, typed.text, typed.ephemeral_for) == (ADA, "/slis a&lt;b", None)
    assert (said.user, said.blocks, said.ephemeral_for) == (
        BOT_USER_ID,
        [{"type": "divider"}],
        None,
    )


def test_an_empty_command_answer_shows_nothing(ws: Workspace) -> None:
    requests(ws).show_command_answer(ADA, "C0WESTQ", "/slis support", ack(None))
    requests(ws).show_command_answer(ADA, "C0WESTQ", "/slis x", Ack(200, b"plain words"))
    [plain] = ws.in_channel("C0WESTQ")
    assert plain.text == "plain words" and plain.ephemeral_for == ADA


def test_submission_acknowledgements(ws: Workspace) -> None:
    bot = requests(ws)
    root = ws.open_modal(ADA, MODAL)
    errors = bot.apply_submission_ack(
        ADA, root, ack({"response_action": "errors", "errors": {"name": "Say a name"}})
    )
    assert errors == {"name": "Say a name"} and root.errors == errors

    old_hash = root.hash
    page_two = {**MODAL, "callback_id": "page.two"}
    updated = bot.apply_submission_ack(
        ADA, root, ack({"response_action": "update", "view": page_two})
    )
    assert updated == {}
    assert ws.top_modal(ADA) is root
    assert root.body == page_two and root.hash != old_hash and root.errors == {}

    bot.apply_submission_ack(ADA, root, ack({"response_action": "push", "view": MODAL}))
    assert len(ws.stack(ADA)) == 2
    top = ws.top_modal(ADA)
    assert top is not None and top.previous_view_id == root.id

    bot.apply_submission_ack(ADA, top, ack(None))
    assert ws.stack(ADA) == [root]

    ws.push_modal(ADA, MODAL)
    bot.apply_submission_ack(ADA, root, ack({"response_action": "clear"}))
    assert ws.top_modal(ADA) is None


def test_a_fourth_view_is_refused(ws: Workspace) -> None:
    ws.open_modal(ADA, MODAL)
    ws.push_modal(ADA, MODAL)
    ws.push_modal(ADA, MODAL)
    with pytest.raises(SlackError, match="push_limit_reached"):
        ws.push_modal(ADA, MODAL)
    bot = requests(ws)
    top = ws.top_modal(ADA)
    assert top is not None
    bot.apply_submission_ack(ADA, top, ack({"response_action": "push", "view": MODAL}))
    assert len(ws.stack(ADA)) == 3 and ws.notices[ADA]


async def test_long_polls_wake_on_change_and_on_close(ws: Workspace) -> None:
    since = ws.version
    waiting = asyncio.ensure_future(ws.wait_for_change(since, 10))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    ws.notify(ADA, "hello")
    assert await asyncio.wait_for(waiting, 1) == since + 1

    assert await ws.wait_for_change(ws.version, 0.01) == ws.version
    waiting = asyncio.ensure_future(ws.wait_for_change(ws.version, 10))
    await asyncio.sleep(0.01)
    ws.close()
    assert await asyncio.wait_for(waiting, 1) == ws.version


def test_clear_forgets_everything_but_the_people(ws: Workspace) -> None:
    ws.post("C0WESTQ", BOT_USER_ID, "x")
    ws.open_modal(ADA, MODAL)
    ws.publish_home(ADA, {"type": "home", "blocks": []})
    ws.notify(ADA, "n")
    ws.clear()
    assert ws.in_channel("C0WESTQ") == [] and ws.top_modal(ADA) is None
    assert ws.homes == {} and ws.notices == {} and set(ws.people) == {ADA, TESS}
