"""Inbound requests: signature checks before anything is parsed, and every real Slack payload
(bolt-python's test fixtures) replayed against the app."""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from tests.slack.directory import UNA, UNA_EMAIL, row_counts
from tests.slack.harness import BOT_TOKEN, SlackHarness, settle, slash_body
from tests.slack.signing import FORM, JSON, signed_headers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
PAYLOADS = FIXTURES / "payloads"
INTERACTIVE = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}


# --- the signing helper -----------------------------------------------------------------------


class FrozenClock(Clock):
    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


def test_signing_helper_matches_slacks_known_answer_vector() -> None:
    vector = json.loads((FIXTURES / "slack_signature_vector.json").read_text())
    secret, ts, body = vector["signing_secret"], vector["x_slack_request_timestamp"], vector["body"]
    headers = signed_headers(body, secret=secret, timestamp=int(ts))
    assert headers["X-Slack-Signature"] == vector["expected_x_slack_signature"]
    assert headers["X-Slack-Request-Timestamp"] == ts
    frozen = SignatureVerifier(secret, clock=FrozenClock(int(ts)))
    assert frozen.is_valid(body, ts, vector["expected_x_slack_signature"])
    # With the real clock the vector is years old, so it must be refused as stale.
    assert not SignatureVerifier(secret).is_valid(body, ts, vector["expected_x_slack_signature"])


# --- verification before anything happens --------------------------------------------------


@pytest.fixture
def una_would_be_linked(slack: SlackHarness) -> str:
    """A request body that, if accepted, would link Una and so add a chat_identity row."""
    slack.fake.emails[UNA] = UNA_EMAIL
    return slash_body("whoami", user=UNA)


async def assert_refused_without_effect(
    slack: SlackHarness, body: str, headers: dict[str, str]
) -> None:
    before = row_counts(slack.db)
    response = await slack.post(body, headers=headers)
    await settle()
    assert response.status_code == 401
    assert "Una" not in response.text
    assert row_counts(slack.db) == before
    assert slack.fake.calls == []  # not even auth.test


async def test_bad_signature_is_refused_and_changes_nothing(
    slack: SlackHarness, una_would_be_linked: str
) -> None:
    headers = signed_headers(una_would_be_linked, secret="not-the-signing-secret")
    await assert_refused_without_effect(slack, una_would_be_linked, headers)


async def test_signature_of_another_body_is_refused(
    slack: SlackHarness, una_would_be_linked: str
) -> None:
    headers = signed_headers(slash_body("help", user=UNA))
    await assert_refused_without_effect(slack, una_would_be_linked, headers)


async def test_missing_signature_is_refused(slack: SlackHarness, una_would_be_linked: str) -> None:
    await assert_refused_without_effect(slack, una_would_be_linked, {"Content-Type": FORM})


# A few seconds past the 300 s window: int(time.time()) truncates and the request takes time,
# so +301 could land at 299.9 s by the time Bolt checks it.
@pytest.mark.parametrize("skew", [-305, -3600, 305])
async def test_timestamp_outside_five_minutes_is_refused(
    slack: SlackHarness, una_would_be_linked: str, skew: int
) -> None:
    headers = signed_headers(una_would_be_linked, timestamp=int(time.time()) + skew)
    await assert_refused_without_effect(slack, una_would_be_linked, headers)


async def test_timestamp_four_minutes_old_is_accepted(
    slack: SlackHarness, una_would_be_linked: str
) -> None:
    headers = signed_headers(una_would_be_linked, timestamp=int(time.time()) - 240)
    response = await slack.post(una_would_be_linked, headers=headers)
    assert response.status_code == 200
    assert "Una Linked" in response.text
    assert row_counts(slack.db)["chat_identity"] == 4


# --- replaying real payloads ----------------------------------------------------------------


def _index() -> list[str]:
    lines = [
        line
        for line in (PAYLOADS / "_index.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return [row["file"] for row in csv.DictReader(lines, delimiter="\t")]


def test_every_payload_file_is_indexed() -> None:
    on_disk = {p.name for p in PAYLOADS.iterdir() if p.name != "_index.tsv"}
    assert on_disk == set(_index())


def wire_form(name: str) -> tuple[str, str]:
    """The body and content type Slack would send for a payload file."""
    raw = (PAYLOADS / name).read_text()
    if name.endswith(".form.txt"):
        return raw.strip(), FORM
    if json.loads(raw).get("type") in INTERACTIVE:
        # Interactive payloads travel as `payload=<JSON>` forms; use the recorded wire body.
        recorded = PAYLOADS / name.replace(".json", ".form.txt")
        if recorded.exists():
            return recorded.read_text().strip(), FORM
        return urlencode({"payload": json.dumps(json.loads(raw))}), FORM
    return raw, JSON


@pytest.mark.parametrize("name", _index())
async def test_real_payload_is_acknowledged(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    body, content_type = wire_form(name)
    with caplog.at_level(logging.DEBUG):
        response = await slack.post(body, content_type)
        await settle()
    assert 200 <= response.status_code < 300, response.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert BOT_TOKEN not in caplog.text  # not even at DEBUG

    if name == "url_verification.json":
        assert response.json() == {"challenge": json.loads(body)["challenge"]}
    if name == "slash_command.form.txt":
        assert parse_qs(body)["command"] == ["/hello-world"]
        assert response.json()["response_type"] == "ephemeral"
        assert "I only answer `/slis`" in response.text
    if name == "event_callback_app_mention.json":
        [post] = await slack.fake.wait_for("chat.postMessage")
        assert (post.params["channel"], post.params["thread_ts"]) == ("C111", "1595926230.009600")
