"""The fake Slack Web API answers slack_sdk the way Slack does, records calls, fails on demand."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import BOT_USER_ID, FakeSlackApi

TOKEN = "xoxb-fake-test"


@pytest.fixture
def client(fake_slack: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake_slack.url)


async def test_answers_every_method_the_bot_uses(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.emails["U1"] = "u1@school.sch.uk"
    assert (await client.auth_test())["user_id"] == BOT_USER_ID
    assert (await client.users_info(user="U1"))["user"]["profile"]["email"] == "u1@school.sch.uk"
    posted = await client.chat_postMessage(channel="C1", text="hi")
    assert posted["channel"] == "C1" and posted["ts"]
    assert (await client.chat_postEphemeral(channel="C1", user="U1", text="psst"))["message_ts"]
    home = await client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert home["view"]["type"] == "home" and home["view"]["id"].startswith("V")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    assert (await client.views_open(trigger_id="1.2.3", view=modal))["view"]["type"] == "modal"
    assert (await client.conversations_open(users="U1"))["channel"]["id"] == "DU1"
    opened = await client.apps_connections_open(app_token="xapp-1-test")
    assert opened["url"] == f"ws://127.0.0.1:{fake_slack.port}/socket"

    assert fake_slack.methods() == [
        "auth.test",
        "users.info",
        "chat.postMessage",
        "chat.postEphemeral",
        "views.publish",
        "views.open",
        "conversations.open",
        "apps.connections.open",
    ]
    assert {c.token for c in fake_slack.calls[:-1]} == {TOKEN}
    assert fake_slack.calls[-1].token == "xapp-1-test"
    assert fake_slack.calls_to("chat.postEphemeral")[0].params["text"] == "psst"


async def test_unknown_user(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="user_not_found"):
        await client.users_info(user="U0NOBODY")


async def test_rate_limit_with_retry_after(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C1", text="hi")
        assert raised.value.response.status_code == 429
        assert raised.value.response["error"] == "ratelimited"
        assert raised.value.response.headers["Retry-After"] == "3"
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


async def test_server_error(fake_slack: FakeSlackApi, client: AsyncWebClient) -> None:
    fake_slack.fail("views.publish", status=503)
    with pytest.raises(SlackApiError) as raised:
        await client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert raised.value.response.status_code == 503


async def test_error_answer_until_told_otherwise(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail("auth.test", error="invalid_auth", times=None)
    for _ in range(3):
        with pytest.raises(SlackApiError, match="invalid_auth"):
            await client.auth_test()


# --- files: getUploadURLExternal, the upload URL, completeUploadExternal --------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # not UTF-8: bytes must survive untouched
CSV = b"school,score\nGreat Oakley,3\n"


async def test_files_upload_v2_goes_through_the_fake(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    done = await client.files_upload_v2(
        file_uploads=[
            {"content": PNG, "filename": "chart.png", "title": "Chart", "alt_txt": "A chart"},
            {"content": CSV, "filename": "scores.csv", "title": "Scores"},
        ],
        channel="D1",
        initial_comment="Here you are",
    )
    assert [f["title"] for f in done["files"]] == ["Chart", "Scores"]
    assert fake_slack.methods() == [
        "files.getUploadURLExternal",
        "files.getUploadURLExternal",
        "upload",
        "upload",
        "files.completeUploadExternal",
    ]
    first, second = fake_slack.calls_to("files.getUploadURLExternal")
    assert first.params["filename"] == "chart.png" and first.params["length"] == str(len(PNG))
    assert first.params["alt_txt"] == "A chart" and "alt_txt" not in second.params
    uploads = fake_slack.calls_to("upload")
    # The bytes are POSTed raw (not multipart), to this fake, without the bot token.
    assert {u.headers["Content-Type"] for u in uploads} == {"application/octet-stream"}
    assert {u.headers["Host"] for u in uploads} == {f"127.0.0.1:{fake_slack.port}"}
    assert all(u.token is None for u in uploads)
    [complete] = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "D1" and complete.token == TOKEN

    chart, scores = fake_slack.uploaded_files()
    assert (chart.filename, chart.title, chart.channel_id, chart.content) == (
        "chart.png",
        "Chart",
        "D1",
        PNG,
    )
    assert (scores.filename, scores.title, scores.content) == ("scores.csv", "Scores", CSV)
    assert chart.initial_comment == "Here you are"
    assert [f["id"] for f in done["files"]] == [chart.file_id, scores.file_id]
    assert fake_slack.uploaded_files("D1") == [chart, scores]
    assert fake_slack.uploaded_files("C1") == []


async def test_the_upload_url_takes_a_multipart_body_too(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    issued = await client.files_getUploadURLExternal(filename="scores.csv", length=len(CSV))
    assert issued["upload_url"].startswith(f"http://127.0.0.1:{fake_slack.port}/upload/")
    form = aiohttp.FormData()
    form.add_field("file", CSV, filename="scores.csv", content_type="text/csv")
    async with (
        aiohttp.ClientSession() as session,
        session.post(issued["upload_url"], data=form) as response,
    ):
        assert response.status == 200
        assert await response.text() == f"OK - {len(CSV)}"
    files = [{"id": issued["file_id"], "title": "Scores"}]
    await client.files_completeUploadExternal(files=files, channel_id="D1")
    [uploaded] = fake_slack.uploaded_files("D1")
    assert uploaded.content == CSV and uploaded.initial_comment is None


async def test_completing_what_was_not_uploaded_or_into_a_missing_channel_fails(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    issued = await client.files_getUploadURLExternal(filename="scores.csv", length=len(CSV))
    files = [{"id": issued["file_id"], "title": "Scores"}]
    with pytest.raises(SlackApiError, match="file_not_found"):
        await client.files_completeUploadExternal(files=files, channel_id="D1")
    fake_slack.missing_channels.add("C0GONE")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await client.files_upload_v2(content=CSV, filename="scores.csv", channel="C0GONE")
    assert fake_slack.uploaded_files() == []


async def test_file_methods_fail_on_demand(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail("files.getUploadURLExternal", error="invalid_auth")
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await client.files_upload_v2(content=CSV, filename="scores.csv", channel="D1")

    fake_slack.fail("upload", status=503)
    with pytest.raises(SlackRequestError, match="status: 503"):
        await client.files_upload_v2(content=CSV, filename="scores.csv", channel="D1")

    fake_slack.fail("files.completeUploadExternal", status=429, retry_after=0)
    with pytest.raises(SlackApiError) as raised:
        await client.files_upload_v2(content=CSV, filename="scores.csv", channel="D1")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "0"
    assert fake_slack.uploaded_files() == []

    await client.files_upload_v2(content=CSV, filename="scores.csv", channel="D1")
    [uploaded] = fake_slack.uploaded_files("D1")
    assert uploaded.content == CSV


async def test_file_methods_are_rate_limited_like_the_others(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.rate_limit(1, methods=["files.completeUploadExternal"], retry_after=7)
    await client.files_upload_v2(content=CSV, filename="a.csv", channel="D1")
    with pytest.raises(SlackApiError) as raised:
        await client.files_upload_v2(content=CSV, filename="b.csv", channel="D1")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert [f.filename for f in fake_slack.uploaded_files()] == ["a.csv"]
