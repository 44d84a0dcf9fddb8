"""`/slis remind`, `/slis reminders` and the Cancel button, end to end over signed requests."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from bot.app import create_app
from bot.services.identity import IdentityService
from bot.services.reminders import ReminderService
from bot.types import ChatUser, Platform
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from storage.reminder_tables import Reminder
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import CHAIR, ESSEX_TEAM, HEAD, build_directory, row_counts
from tests.slack.harness import SlackHarness, all_text, slack_settings
from tests.slack.signing import FORM

_clicks = itertools.count(1)
USAGE = "Usage: `/slis remind me|@person|#channel|&lt;role&gt; &lt;when&gt; &lt;text&gt;"


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def reminders(slack: SlackHarness) -> list[Reminder]:
    with slack.db.session() as s:
        return list(s.exec(select(Reminder).order_by(Reminder.id)).all())  # type: ignore[arg-type]


def click_body(value: str, *, user: str, response_url: str, action_id: str) -> str:
    """A block_actions request as Slack sends it: form-encoded `payload=<json>`."""
    n = next(_clicks)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": ESSEX_TEAM},
        "api_app_id": "A0SLIS",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": f"1700000000.{n:06d}",
            "channel_id": "C0GENERAL",
            "is_ephemeral": True,
        },
        "trigger_id": f"{n}.9999.click",
        "team": {"id": ESSEX_TEAM, "domain": "essex-schools"},
        "channel": {"id": "C0GENERAL", "name": "general"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"b{n}",
                "text": {"type": "plain_text", "text": "Cancel", "emoji": True},
                "value": value,
                "style": "danger",
                "type": "button",
                "action_ts": f"1700000000.{n:06d}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


async def click(
    slack: SlackHarness, value: str, *, user: str = HEAD, action_id: str = "reminder:cancel"
) -> dict[str, Any]:
    """Press a Cancel button; the answer Slack gets at the response URL."""
    before = len(slack.fake.calls_to("response_url"))
    hook = slack.fake.hooks_url + f"actions/{ESSEX_TEAM}/{next(_clicks)}/cancel"
    response = await slack.post(
        click_body(value, user=user, response_url=hook, action_id=action_id), FORM
    )
    assert response.status_code == 200, response.text
    calls = await slack.fake.wait_for("response_url", before + 1)
    return dict(calls[-1].params)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("remind", "Whom should I remind, when, and of what?"),
        ("remind me", "When should I remind them?"),
        ("remind me whenever suits send the return", "I couldn't read a time at “whenever suits"),
        ("remind me tomorrow 9am", "What should the reminder say?"),
        ("remind me tomorrow 25:00 send it", "“25:00” isn't a time of day."),
        ("remind me on 1 Jan 2020 send it", "has already passed"),
        ("remind me on 31 Feb send it", "There is no 31 February."),
        ("remind everyone tomorrow 9am send it", "Whom should I remind? I don't know “everyone”"),
        ("remind #general tomorrow 9am send it", "which channel #general is"),
        ("remind cancel", "Which reminder?"),
    ],
)
async def test_bad_remind_input_gets_a_clear_usage_message_and_creates_nothing(
    slack: SlackHarness, text: str, says: str
) -> None:
    before = row_counts(slack.db)
    message = await slack.reply(text)
    assert message["response_type"] == "ephemeral"
    shown = all_text(message)
    assert says in shown
    assert USAGE in shown
    assert row_counts(slack.db)["reminder"] == before["reminder"] == 0


async def test_an_unreadable_time_shows_the_times_it_understands(slack: SlackHarness) -> None:
    shown = all_text(await slack.reply("remind me soonish send it"))
    for example in ("`tomorrow 9am`", "`in 3 days`", "`every school day at 8:15`"):
        assert example in shown


async def test_a_head_may_not_remind_a_role_and_is_told_who_may(slack: SlackHarness) -> None:
    shown = all_text(await slack.reply("remind heads tomorrow 9am send the return"))
    assert "Only LA officers and administrators or quadrant chairs for the quadrant" in shown
    assert "/slis remind me tomorrow 9am" in shown
    assert reminders(slack) == []


async def test_setting_a_reminder_echoes_it_with_a_cancel_button(slack: SlackHarness) -> None:
    message = await slack.reply("remind me tomorrow 9am send the attendance return")
    assert message["response_type"] == "ephemeral"
    assert message["text"].startswith("I'll remind you on ")
    assert message["text"].endswith(" at 09:00: send the attendance return")
    [reminder] = reminders(slack)
    assert reminder.text == "send the attendance return"
    assert buttons(message) == [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": f"Cancel #{reminder.id}", "emoji": True},
            "action_id": "reminder:cancel",
            "value": str(reminder.id),
            "style": "danger",
        }
    ]


async def test_a_chairs_role_reminder_is_for_her_quadrant(slack: SlackHarness) -> None:
    message = await slack.reply("remind heads every Monday at 8:00 healthcheck closes", user=CHAIR)
    shown = all_text(message)
    assert "I'll remind heads in North East every Monday at 08:00 (next: Mon " in shown
    assert "waits for the next school-day slot" in shown
    [reminder] = reminders(slack)
    assert (reminder.target_kind, reminder.target_role, reminder.target_scope_kind) == (
        "role",
        "head",
        "quadrant",
    )


async def test_reminders_lists_mine_with_cancel_buttons(slack: SlackHarness) -> None:
    await slack.reply("remind me tomorrow 9am first")
    await slack.reply("remind me every weekday at 8:15 second")
    await slack.reply("remind me tomorrow 10am not hers", user=CHAIR)
    message = await slack.reply("reminders")
    shown = all_text(message)
    assert "Your reminders" in shown
    assert "first" in shown and "every weekday at 08:15 → you: second" in shown
    assert "not hers" not in shown
    ids = [r.id for r in reminders(slack) if r.text != "not hers"]
    assert sorted(int(b["value"]) for b in buttons(message)) == sorted(ids)
    assert {b["action_id"] for b in buttons(message)} == {"reminder:cancel"}


async def test_cancel_by_command(slack: SlackHarness) -> None:
    await slack.reply("remind me tomorrow 9am send it")
    [reminder] = reminders(slack)
    message = await slack.reply(f"remind cancel {reminder.id}")
    assert message["text"].startswith(f"Cancelled reminder #{reminder.id} (on ")
    assert reminders(slack)[0].status == "cancelled"
    unknown = all_text(await slack.reply("remind cancel 4242"))
    assert "There is no reminder #4242." in unknown


async def test_cancel_by_button_replaces_the_message_with_the_confirmation(
    slack: SlackHarness,
) -> None:
    await slack.reply("remind me tomorrow 9am send it")
    [reminder] = reminders(slack)
    answer = await click(slack, str(reminder.id))
    assert answer["replace_original"] is True
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f"Cancelled reminder #{reminder.id} (on ")
    assert reminders(slack)[0].status == "cancelled"


async def test_someone_elses_cancel_button_changes_nothing(slack: SlackHarness) -> None:
    await slack.reply("remind me tomorrow 9am send it")
    [reminder] = reminders(slack)
    answer = await click(slack, str(reminder.id), user=CHAIR)
    assert answer["replace_original"] is False  # the original list stays; the error is new
    assert "Only its owner or LA officers and administrators" in answer["text"]
    assert f"may cancel this reminder (#{reminder.id})" in answer["text"]
    assert reminders(slack)[0].status == "active"


async def test_a_reminder_due_while_the_app_was_down_reaches_slack_once_after_restarts(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    """The whole path: the table, the leader's reminder jobs, the outbox, the relay, Slack."""
    build_directory(db)
    now = datetime.now(UTC)
    head = IdentityService(db, FakeClock()).actor_for(ChatUser(Platform.SLACK, ESSEX_TEAM, HEAD))
    # Set two hours ago for 90 minutes later: due half an hour ago, while no server ran.
    earlier = ReminderService(db, FakeClock(now - timedelta(hours=2)))
    view = earlier.create(head, "me in 90 minutes ring the Colne Valley office")
    for _restart in range(2):
        app = create_app(slack_settings(database_url, fake_slack.url))
        async with app.router.lifespan_context(app):
            posts = await fake_slack.wait_for("chat.postMessage", 1, seconds=10)
            await asyncio.sleep(0.5)
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert "ring the Colne Valley office" in str(posts[0].params.get("text"))
    with db.session() as s:
        row = s.get(Reminder, view.id)
        assert row is not None and row.status == "done"
        [sent] = s.exec(select(OutboxMessage)).all()
        assert sent.key.startswith(f"reminder:{view.id}:") and sent.status == "sent"
