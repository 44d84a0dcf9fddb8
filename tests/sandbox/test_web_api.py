"""The sandbox's Slack Web API, called with slack_sdk as the bot calls it: every method, its
errors, and the token check."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from handlers.sandbox.workspace import BOT_ID, BOT_USER_ID
from tests.sandbox.serving import RunningSandbox
from tests.sandbox.world import ADA, ADA_DM, TESS, WEST, on_server, sb, web_client

__all__ = ["sb"]

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Hello *there*"}}
MODAL = {
    "type": "modal",
    "callback_id": "sandbox.test",
    "title": {"type": "plain_text", "text": "A form"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "name",
            "label": {"type": "plain_text", "text": "Name"},
            "element": {"type": "plain_text_input", "action_id": "name"},
        }
    ],
}
HOME = {"type": "home", "blocks": [SECTION]}


def error_of(call: Any, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)
    return str(raised.value.response["error"])


def api(sb: RunningSandbox, method: str, **kwargs: Any) -> dict[str, Any]:
    """A raw call (JSON body) with the bot's token."""
    headers = {"Authorization": f"Bearer {sb.sandbox.creds.bot_token}"}
    response = httpx.post(
        sb.sandbox.plan.slack_api_url + method, json=kwargs, headers=headers, timeout=10
    )
    found: dict[str, Any] = response.json()
    return found


def trigger(sb: RunningSandbox, user: str = ADA) -> str:
    ws = sb.sandbox.workspace
    issued: str = on_server(sb, lambda: ws.issue_trigger(user))
    return issued


def test_the_token_is_checked_and_auth_test_names_the_bot(sb: RunningSandbox) -> None:
    answer = web_client(sb).auth_test()
    assert answer["user_id"] == BOT_USER_ID and answer["bot_id"] == BOT_ID
    assert answer["team_id"] == "T0SAMPLE1"
    assert error_of(web_client(sb, "xoxb-someone-else").auth_test) == "invalid_auth"
    bare = httpx.post(sb.sandbox.plan.slack_api_url + "auth.test", timeout=10).json()
    assert bare == {"ok": False, "error": "not_authed"}
    assert api(sb, "pins.add") == {"ok": False, "error": "unknown_method"}


def test_post_message_to_a_user_lands_in_their_dm(sb: RunningSandbox) -> None:
    client = web_client(sb)
    metadata = {"event_type": "slis_outbox", "event_payload": {"key": "k1"}}
    posted = client.chat_postMessage(
        channel=ADA, text="Hello there", blocks=[SECTION], metadata=metadata
    )
    assert posted["channel"] == ADA_DM and posted["message"]["bot_id"] == BOT_ID
    [shown] = sb.state(ADA)["messages"][ADA_DM]
    assert shown["ts"] == posted["ts"] and shown["blocks"] == [SECTION]
    assert shown["author"] == "SLIS Bot" and not shown["ephemeral"]
    assert ADA_DM not in sb.state(TESS)["messages"]

    reply = client.chat_postMessage(channel=ADA_DM, text="in a thread", thread_ts=posted["ts"])
    assert float(reply["ts"]) > float(posted["ts"])
    assert sb.state(ADA)["messages"][ADA_DM][-1]["thread_ts"] == posted["ts"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_errors(sb: RunningSandbox) -> None:
    post = web_client(sb).chat_postMessage
    assert error_of(post, channel=ADA) == "no_text"
    assert error_of(post, channel=ADA, text="", blocks=[]) == "no_text"
    assert error_of(post, channel="C0NOWHERE", text="hi") == "channel_not_found"
    assert error_of(post, channel=ADA, blocks=[SECTION] * 51) == "invalid_blocks"
    assert error_of(post, channel=ADA, blocks=[{"text": "no type"}]) == "invalid_blocks"
    assert api(sb, "chat.postMessage", channel=ADA, blocks=["text"])["error"] == "invalid_blocks"


def test_form_encoded_calls_carry_json_fields(sb: RunningSandbox) -> None:
    token = sb.sandbox.creds.bot_token
    form = {"token": token, "channel": WEST, "text": "hi", "blocks": json.dumps([SECTION])}
    answer = httpx.post(sb.sandbox.plan.slack_api_url + "chat.postMessage", data=form, timeout=10)
    assert answer.json()["ok"] is True
    assert sb.state(TESS)["messages"][WEST][0]["blocks"] == [SECTION]


def test_update_changes_a_message_in_place(sb: RunningSandbox) -> None:
    client = web_client(sb)
    metadata = {"event_type": "slis_outbox", "event_payload": {"key": "k2"}}
    posted = client.chat_postMessage(channel=WEST, text="before", metadata=metadata)
    updated = client.chat_update(channel=WEST, ts=posted["ts"], text="after", blocks=[SECTION])
    assert updated["ts"] == posted["ts"] and updated["text"] == "after"
    [shown] = sb.state(ADA)["messages"][WEST]
    assert shown["text"] == "after" and shown["edited"] and shown["blocks"] == [SECTION]
    history = client.conversations_history(channel=WEST, include_all_metadata=True)
    assert history["messages"][0]["metadata"] == metadata

    update = client.chat_update
    assert error_of(update, channel=WEST, ts="1.000001", text="x") == "message_not_found"
    assert error_of(update, channel=ADA, ts=posted["ts"], text="x") == "channel_not_found"


def test_ephemeral_messages_and_deletes(sb: RunningSandbox) -> None:
    client = web_client(sb)
    shown = client.chat_postEphemeral(channel=WEST, user=TESS, text="just Tess")
    assert shown["message_ts"]
    assert [m["text"] for m in sb.state(TESS)["messages"][WEST]] == ["just Tess"]
    assert sb.state(ADA)["messages"][WEST] == []
    assert client.conversations_history(channel=WEST)["messages"] == []
    post = client.chat_postEphemeral
    assert error_of(post, channel=WEST, user="U0NOBODY", text="x") == "user_not_found"
    assert error_of(post, channel=ADA_DM, user=TESS, text="x") == "user_not_in_channel"

    posted = client.chat_postMessage(channel=WEST, text="soon gone")
    assert client.chat_delete(channel=WEST, ts=posted["ts"])["ts"] == posted["ts"]
    assert [m["text"] for m in sb.state(ADA)["messages"][WEST]] == []
    assert error_of(client.chat_delete, channel=WEST, ts=posted["ts"]) == "message_not_found"


def test_conversations_open_and_history_paging(sb: RunningSandbox) -> None:
    client = web_client(sb)
    assert client.conversations_open(users=ADA)["channel"]["id"] == ADA_DM
    assert error_of(client.conversations_open, users="U0NOBODY") == "user_not_found"

    first = client.chat_postMessage(channel=ADA_DM, text="one")
    client.chat_postMessage(channel=ADA_DM, text="a reply", thread_ts=first["ts"])
    second = client.chat_postMessage(channel=ADA_DM, text="two")
    client.chat_postMessage(channel=ADA_DM, text="three")

    page = client.conversations_history(channel=ADA_DM, limit=2)
    assert [m["text"] for m in page["messages"]] == ["three", "two"]
    assert page["has_more"] is True
    cursor = page["response_metadata"]["next_cursor"]
    rest = client.conversations_history(channel=ADA_DM, limit=2, cursor=cursor)
    assert [m["text"] for m in rest["messages"]] == ["one"]
    assert rest["messages"][0]["reply_count"] == 1
    assert rest["has_more"] is False

    newer = client.conversations_history(channel=ADA_DM, oldest=second["ts"])
    assert [m["text"] for m in newer["messages"]] == ["three"]
    inclusive = client.conversations_history(channel=ADA_DM, oldest=second["ts"], inclusive=True)
    assert [m["text"] for m in inclusive["messages"]] == ["three", "two"]
    assert "metadata" not in page["messages"][0]

    thread = client.conversations_replies(channel=ADA_DM, ts=first["ts"])
    assert [m["text"] for m in thread["messages"]] == ["one", "a reply"]
    missing = client.conversations_replies
    assert error_of(missing, channel=ADA_DM, ts="1.000002") == "thread_not_found"
    assert error_of(client.conversations_history, channel="D0U0NOBODY") == "channel_not_found"


def test_users_info_and_lookup_by_email(sb: RunningSandbox) -> None:
    client = web_client(sb)
    user = client.users_info(user=ADA)["user"]
    assert user["id"] == ADA and user["team_id"] == "T0SAMPLE1" and user["is_bot"] is False
    assert user["tz"] == "Europe/London"
    assert user["profile"]["email"] == "ada.applethwaite@schools.example.org"
    assert user["profile"]["real_name"] == user["real_name"] == "Ada Applethwaite"
    assert client.users_info(user=BOT_USER_ID)["user"]["is_bot"] is True
    assert error_of(client.users_info, user="U0NOBODY") == "user_not_found"

    found = client.users_lookupByEmail(email="ADA.applethwaite@schools.example.org")
    assert found["user"]["id"] == ADA
    lookup = client.users_lookupByEmail
    assert error_of(lookup, email="nobody@example.org") == "users_not_found"


def test_views_open_push_update_and_triggers(sb: RunningSandbox) -> None:
    client = web_client(sb)
    assert error_of(client.views_open, trigger_id="1.2.nonsense", view=MODAL) == (
        "invalid_trigger_id"
    )
    issued = trigger(sb)
    opened = client.views_open(trigger_id=issued, view=MODAL)["view"]
    assert opened["id"].startswith("V") and opened["hash"]
    assert opened["state"] == {"values": {}} and opened["root_view_id"] == opened["id"]
    assert opened["team_id"] == "T0SAMPLE1" and opened["callback_id"] == "sandbox.test"
    assert error_of(client.views_open, trigger_id=issued, view=MODAL) == "exchanged_trigger_id"
    modal = sb.state(ADA)["modal"]
    assert modal["id"] == opened["id"] and modal["depth"] == 1 and modal["errors"] == {}
    assert sb.state(TESS)["modal"] is None

    client.views_push(trigger_id=trigger(sb), view=MODAL)
    third = client.views_push(trigger_id=trigger(sb), view=MODAL)["view"]
    assert third["root_view_id"] == opened["id"]
    assert sb.state(ADA)["modal"]["depth"] == 3
    push = client.views_push
    assert error_of(push, trigger_id=trigger(sb), view=MODAL) == "push_limit_reached"

    changed = {**MODAL, "title": {"type": "plain_text", "text": "Changed"}}
    update = client.views_update
    assert error_of(update, view_id=opened["id"], hash="stale", view=changed) == "hash_conflict"
    assert error_of(update, view_id="V0NOWHERE", view=changed) == "not_found"
    updated = update(view_id=opened["id"], hash=opened["hash"], view=changed)["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert updated["title"]["text"] == "Changed"

    external = client.views_open(trigger_id=trigger(sb, TESS), view={**MODAL, "external_id": "e1"})
    by_external = update(external_id="e1", view={**changed, "external_id": "e1"})["view"]
    assert by_external["id"] == external["view"]["id"]
    assert error_of(client.views_open, trigger_id=trigger(sb), view=HOME) == "invalid_arguments"


def test_an_expired_trigger_is_refused(sb: RunningSandbox) -> None:
    ws = sb.sandbox.workspace
    ws.trigger_ttl = -1.0
    assert error_of(web_client(sb).views_open, trigger_id=trigger(sb), view=MODAL) == (
        "expired_trigger_id"
    )


def test_views_publish_sets_the_home_tab(sb: RunningSandbox) -> None:
    client = web_client(sb)
    published = client.views_publish(user_id=ADA, view=HOME)["view"]
    assert published["type"] == "home"
    assert sb.state(ADA)["home"]["blocks"] == [SECTION]
    assert sb.state(TESS)["home"] is None
    again = client.views_publish(user_id=ADA, view=HOME, hash=published["hash"])["view"]
    assert again["id"] == published["id"] and again["hash"] != published["hash"]
    publish = client.views_publish
    assert error_of(publish, user_id=ADA, view=HOME, hash="stale") == "hash_conflict"
    assert error_of(publish, user_id="U0NOBODY", view=HOME) == "user_not_found"
    assert error_of(publish, user_id=ADA, view=MODAL) == "invalid_arguments"


def test_files_upload_v2_shares_into_the_dm(sb: RunningSandbox) -> None:
    client = web_client(sb)
    png = b"\x89PNG\r\n\x1a\n" + b"chart" * 20
    done = client.files_upload_v2(
        channel=ADA_DM, content=png, filename="chart.png", title="The chart", initial_comment="Hi"
    )
    [file] = done["files"]
    assert file["name"] == "chart.png" and file["title"] == "The chart"
    assert file["shares"]["private"][ADA_DM][0]["ts"]
    [message] = sb.state(ADA)["messages"][ADA_DM]
    assert message["text"] == "Hi" and message["is_bot"]
    [shown] = message["files"]
    assert shown["is_image"] and shown["mimetype"] == "image/png" and shown["size"] == len(png)
    fetched = sb.get(shown["url"])
    assert fetched.content == png and fetched.headers["content-type"] == "image/png"
    assert client.files_info(file=file["id"])["file"]["title"] == "The chart"
    assert error_of(client.files_info, file="F0NOTHING") == "file_not_found"
    assert sb.get(f"/sandbox/files/{file['id']}/other.png").status_code == 404


def test_upload_urls_take_multipart_and_unknown_files_are_refused(sb: RunningSandbox) -> None:
    client = web_client(sb)
    issued = client.files_getUploadURLExternal(filename="report.csv", length=5)
    assert issued["upload_url"] == sb.page_url + "/slack/upload/" + issued["file_id"]
    sent = httpx.post(issued["upload_url"], files={"file": ("report.csv", b"a,b\n1")}, timeout=10)
    assert sent.status_code == 200
    done = client.files_completeUploadExternal(
        files=[{"id": issued["file_id"], "title": "Report"}], channel_id=WEST
    )
    assert done["files"][0]["shares"]["public"][WEST][0]["ts"]
    [message] = sb.state(TESS)["messages"][WEST]
    fetched = sb.get(message["files"][0]["url"])
    assert fetched.content == b"a,b\n1" and "attachment" in fetched.headers["content-disposition"]

    complete = client.files_completeUploadExternal
    assert error_of(complete, files=[{"id": "F0NEVER"}], channel_id=WEST) == "file_not_found"
    getter = client.files_getUploadURLExternal
    assert error_of(getter, filename="x.txt", length="many") == "invalid_arguments"
    assert httpx.post(sb.page_url + "/slack/upload/F0NEVER", content=b"x").status_code == 404
