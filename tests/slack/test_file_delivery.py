"""Replies with files (charts, exports): acknowledged privately, delivered to the asker's DM.

End to end over signed `/slis` requests, with a test-only `/slis report` command whose reply
carries a PNG and a CSV, and SlackFileDelivery on its own against the fake Slack Web API.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import create_app
from bot.authorisation import TABLE, Allow, Entry, Kind, Relation
from bot.commands import Command, CommandRouter
from bot.config import SlackCredentials, SlackMode
from bot.core import Core
from bot.types import Actor, Attachment, Heading, Paragraph, Reply
from handlers.slack import files as slack_files
from handlers.slack import render
from handlers.slack.app import WORKING, build_slack_app, http_endpoint
from handlers.slack.files import MAX_RETRIES, FilesUndelivered, SlackFileDelivery
from storage.engine import Database
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import HEAD, build_directory
from tests.slack.harness import BOT_TOKEN, SlackHarness, all_text, settle, slack_settings
from tests.slack.signing import SECRET

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))  # binary, not UTF-8
CSV = b"school,score\r\nAll Saints Primary School, Great Oakley,3\r\n"
REPORT = Reply(
    "Kingfisher Cluster healthcheck report",
    (Heading("Kingfisher Cluster healthcheck"), Paragraph("Three schools answered.")),
    files=(
        Attachment("healthcheck.png", "Healthcheck chart", PNG, "image/png"),
        Attachment("healthcheck.csv", "Healthcheck answers", CSV, "text/csv"),
    ),
)
DM = "D" + HEAD  # the DM channel the fake's conversations.open gives for HEAD
FILE_METHODS = (
    "conversations.open",
    "chat.postMessage",
    "files.getUploadURLExternal",
    "upload",
    "files.completeUploadExternal",
)


class ReportCore(Core):
    """The real core with one more command, `report`, whose reply carries files.

    `delay` makes it miss the acknowledgement budget.
    """

    delay = 0.0

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        report = Command(
            "report",
            "a test report with a chart and an export",
            "report",
            ("report",),
            self._report,
        )
        others = [c for c in self.router.commands if c.name != "help"]
        entry = Entry(Kind.COMMAND, "report", "see a report", (Allow(relation=Relation.LINKED),))
        self.router = CommandRouter([*others, report], {**TABLE, (Kind.COMMAND, "report"): entry})

    def _report(self, _actor: Actor, _args: str) -> Reply:
        time.sleep(self.delay)  # runs off the event loop (the command reads the database)
        return REPORT


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """5xx retries without slack_sdk's half-second-and-up backoff."""
    monkeypatch.setattr(slack_files, "RETRY_INTERVAL", FixedValueRetryIntervalCalculator(0.0))


@pytest.fixture
def core(db: Database) -> ReportCore:
    build_directory(db)
    return ReportCore(db)


@pytest.fixture
async def slack(
    database_url: str, core: ReportCore, fake_slack: FakeSlackApi
) -> AsyncIterator[SlackHarness]:
    """The real ASGI app in HTTP mode over the report core."""
    app = create_app(slack_settings(database_url, fake_slack.url), core=core)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
            yield SlackHarness(http, fake_slack, core.db)


def hook(fake: FakeSlackApi) -> str:
    return fake.hooks_url + "commands/T0ESSEX/1/report"


def file_calls(fake: FakeSlackApi) -> list[str]:
    return [m for m in fake.methods() if m in FILE_METHODS]


def assert_delivered_once(fake: FakeSlackApi) -> None:
    [message] = fake.posted(DM)
    assert message.text == REPORT.text
    chart, answers = fake.uploaded_files()
    assert (chart.filename, chart.title, chart.channel_id, chart.content) == (
        "healthcheck.png",
        "Healthcheck chart",
        DM,
        PNG,
    )
    assert (answers.filename, answers.title, answers.channel_id, answers.content) == (
        "healthcheck.csv",
        "Healthcheck answers",
        DM,
        CSV,
    )
    assert [m.channel for m in fake.posted()] == [DM], "nothing goes into a channel"


# --- through the app ------------------------------------------------------------------------


async def test_the_ack_is_private_and_points_to_the_dm_where_reply_and_files_arrive(
    slack: SlackHarness,
) -> None:
    ack = await slack.reply("report", response_url=hook(slack.fake))
    assert ack["response_type"] == "ephemeral"
    shown = all_text(ack)
    assert "Kingfisher Cluster healthcheck report" in shown
    assert "direct messages with me" in shown and "healthcheck.png, healthcheck.csv" in shown
    assert "Three schools answered." not in shown, "the report itself is only in the DM"

    await slack.fake.wait_for("files.completeUploadExternal")
    await settle()
    assert file_calls(slack.fake) == [
        "conversations.open",
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.getUploadURLExternal",
        "upload",
        "upload",
        "files.completeUploadExternal",
    ]
    [opened] = slack.fake.calls_to("conversations.open")
    assert opened.params["users"] == HEAD
    [post] = slack.fake.calls_to("chat.postMessage")
    assert post.params["channel"] == DM
    assert post.params["blocks"] == render.blocks(REPORT)
    [complete] = slack.fake.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == DM
    assert complete.token == BOT_TOKEN
    assert all(u.token is None for u in slack.fake.calls_to("upload"))
    assert_delivered_once(slack.fake)
    assert slack.fake.calls_to("response_url") == []


async def test_a_429_on_complete_upload_is_retried_and_delivers_exactly_once(
    slack: SlackHarness,
) -> None:
    slack.fake.fail("files.completeUploadExternal", status=429, retry_after=0)
    await slack.reply("report", response_url=hook(slack.fake))
    await slack.fake.wait_for("files.completeUploadExternal", 2)
    await settle()
    assert len(slack.fake.calls_to("files.completeUploadExternal")) == 2
    assert len(slack.fake.calls_to("upload")) == 2
    assert_delivered_once(slack.fake)
    assert slack.fake.calls_to("response_url") == []


async def test_a_server_error_on_the_upload_url_is_retried(slack: SlackHarness) -> None:
    slack.fake.fail("upload", status=503)
    await slack.reply("report", response_url=hook(slack.fake))
    await slack.fake.wait_for("files.completeUploadExternal")
    await settle()
    assert len(slack.fake.calls_to("upload")) == 3  # one refused, then both files
    assert_delivered_once(slack.fake)


async def test_a_persistent_failure_tells_the_user_with_a_reference(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack.fake.fail("files.completeUploadExternal", status=429, retry_after=0, times=None)
    ack = await slack.reply("report", response_url=hook(slack.fake))
    assert "direct messages with me" in all_text(ack)

    [told] = await slack.fake.wait_for("response_url")
    await settle()
    assert len(slack.fake.calls_to("files.completeUploadExternal")) == 1 + MAX_RETRIES
    assert slack.fake.uploaded_files() == []
    assert told.params["response_type"] == "ephemeral"
    text = told.params["text"]
    assert "couldn't deliver the files" in text and "try again" in text
    ref = re.search(r"reference ([0-9a-f]{8})", text)
    assert ref is not None
    logged = caplog.text
    assert "Sending a request" in logged, "slack_sdk's own debug log is captured too"
    assert ref.group(1) in logged and "files.completeUploadExternal: ratelimited" in logged
    assert BOT_TOKEN not in logged
    assert "Great Oakley,3" not in logged and repr(PNG[:12])[2:-1] not in logged


async def test_replies_without_files_are_answered_in_the_ack_as_before(
    slack: SlackHarness,
) -> None:
    ack = await slack.reply("whoami", response_url=hook(slack.fake))
    await settle()
    assert "You are *Alice Hart* in the Essex directory." in all_text(ack)
    assert file_calls(slack.fake) == []
    assert slack.fake.calls_to("response_url") == []


async def test_a_slow_reply_with_files_points_to_the_dm_through_the_response_url(
    core: ReportCore, fake_slack: FakeSlackApi
) -> None:
    core.delay = 0.2
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, SECRET, None, fake_slack.url)
    app = FastAPI()
    bolt = build_slack_app(core, creds, ack_budget=0.05)
    app.add_api_route("/slack/events", http_endpoint(bolt), methods=["POST"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
        harness = SlackHarness(http, fake_slack, core.db)
        assert await harness.reply("report", response_url=hook(fake_slack)) == render.message(
            WORKING
        )
        [pointed] = await fake_slack.wait_for("response_url")
        await fake_slack.wait_for("files.completeUploadExternal")
        await settle()
    assert pointed.params["response_type"] == "ephemeral"
    assert "direct messages with me" in all_text(pointed.params)
    assert_delivered_once(fake_slack)


# --- SlackFileDelivery on its own -----------------------------------------------------------


@pytest.fixture
def delivery(fake_slack: FakeSlackApi) -> SlackFileDelivery:
    return SlackFileDelivery.over(AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url))


async def test_delivery_opens_the_dm_posts_then_uploads(
    fake_slack: FakeSlackApi, delivery: SlackFileDelivery
) -> None:
    delivered = await delivery.deliver(HEAD, REPORT)
    assert delivered.channel_id == DM and delivered.ts == fake_slack.posted(DM)[0].ts
    assert delivered.file_ids == tuple(f.file_id for f in fake_slack.uploaded_files(DM))
    assert_delivered_once(fake_slack)
    png, csv = fake_slack.calls_to("files.getUploadURLExternal")
    # Charts get alternative text for screen readers; exports need none.
    assert png.params["alt_txt"] == "Healthcheck chart" and "alt_txt" not in csv.params
    assert png.params["length"] == str(len(PNG))


async def test_a_reply_without_files_is_just_posted_to_the_dm(
    fake_slack: FakeSlackApi, delivery: SlackFileDelivery
) -> None:
    delivered = await delivery.deliver(HEAD, Reply("Just text"))
    assert delivered.file_ids == ()
    assert fake_slack.methods() == ["conversations.open", "chat.postMessage"]


async def test_a_refused_dm_is_reported_before_anything_is_posted(
    fake_slack: FakeSlackApi, delivery: SlackFileDelivery
) -> None:
    fake_slack.fail("conversations.open", error="user_not_found")
    with pytest.raises(FilesUndelivered) as raised:
        await delivery.deliver(HEAD, REPORT)
    assert raised.value.reason == "conversations.open: user_not_found"
    assert not raised.value.message_posted
    assert fake_slack.posted() == [] and fake_slack.uploaded_files() == []


async def test_server_errors_are_retried_a_bounded_number_of_times(
    fake_slack: FakeSlackApi, delivery: SlackFileDelivery
) -> None:
    fake_slack.fail("files.completeUploadExternal", status=500, times=None)
    with pytest.raises(FilesUndelivered) as raised:
        await delivery.deliver(HEAD, REPORT)
    assert raised.value.reason == "files.completeUploadExternal: HTTP 500"
    assert raised.value.message_posted
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1 + MAX_RETRIES
    assert len(fake_slack.posted(DM)) == 1 and fake_slack.uploaded_files() == []


async def test_a_failing_upload_url_is_reported_without_its_answer(
    fake_slack: FakeSlackApi, delivery: SlackFileDelivery
) -> None:
    fake_slack.fail("upload", status=503, times=None)
    with pytest.raises(FilesUndelivered) as raised:
        await delivery.deliver(HEAD, REPORT)
    assert raised.value.reason.startswith("files_upload_v2: ")
    assert "upstream trouble" not in raised.value.reason and "healthcheck" not in str(raised.value)
    assert len(fake_slack.calls_to("upload")) == 1 + MAX_RETRIES
    assert fake_slack.calls_to("files.completeUploadExternal") == []


async def test_a_long_retry_after_is_not_waited_for(
    fake_slack: FakeSlackApi, delivery: SlackFileDelivery
) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=120)
    started = time.monotonic()
    with pytest.raises(FilesUndelivered, match=r"chat\.postMessage: ratelimited"):
        await delivery.deliver(HEAD, REPORT)
    assert time.monotonic() - started < 5
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_a_short_retry_after_is_honoured(
    fake_slack: FakeSlackApi, delivery: SlackFileDelivery
) -> None:
    fake_slack.rate_limit(1, methods=["files.getUploadURLExternal"], retry_after=1)
    started = time.monotonic()
    await delivery.deliver(HEAD, REPORT)
    assert time.monotonic() - started >= 1.0
    assert len(fake_slack.limited_at) == 1
    assert_delivered_once(fake_slack)


def test_the_retrying_client_keeps_the_token_and_endpoint(fake_slack: FakeSlackApi) -> None:
    bolts = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url, team_id="T0ESSEX")
    client = slack_files.retrying_client(bolts)
    assert (client.token, client.base_url) == (BOT_TOKEN, fake_slack.url)
    assert client.default_params.get("team_id") == "T0ESSEX"
    kinds = {type(h).__name__ for h in client.retry_handlers}
    assert kinds == {
        "AsyncConnectionErrorRetryHandler",
        "BoundedRateLimitRetry",
        "AsyncServerErrorRetryHandler",
    }
    assert client is not bolts and bolts.retry_handlers != client.retry_handlers
