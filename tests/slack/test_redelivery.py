"""A request Slack delivers more than once (retries, duplicates) has one effect."""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlmodel import select

from handlers.slack.dedupe import delivery_key
from storage.inbound_tables import SeenRequest
from tests.slack.harness import SlackHarness, event_body, settle, slash_body
from tests.slack.signing import JSON, signed_headers


def mention() -> dict[str, str]:
    return {
        "type": "app_mention",
        "user": "U0HEAD",
        "text": "<@UBOTSLIS> hello",
        "ts": "1700000000.000200",
        "channel": "C0GENERAL",
        "event_ts": "1700000000.000200",
    }


async def test_an_event_delivered_three_times_has_one_effect(slack: SlackHarness) -> None:
    body = event_body(mention())
    for retry in (None, "1", "2"):
        headers = signed_headers(body, content_type=JSON)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        response = await slack.post(body, JSON, headers=headers)
        assert response.status_code == 200
        await settle()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    with slack.db.session() as session:
        assert session.exec(select(func.count()).select_from(SeenRequest)).one() == 1


async def test_the_same_command_delivery_twice_is_answered_once(slack: SlackHarness) -> None:
    body = slash_body("whoami")
    first = await slack.post(body)
    again = await slack.post(body)
    assert "roles" in first.text.lower()
    assert again.status_code == 200 and again.text == ""


async def test_distinct_requests_are_all_answered(slack: SlackHarness) -> None:
    for _ in range(3):
        response = await slack.command("help")
        assert response.status_code == 200 and response.json()["blocks"]


def test_delivery_keys() -> None:
    event = json.loads(event_body(mention()))
    assert delivery_key(event) == f"slack:event:{event['event_id']}"
    assert delivery_key({"type": "block_actions", "trigger_id": "1.2"}) == "slack:trigger:1.2"
    assert delivery_key({"type": "url_verification", "challenge": "x"}) is None
