"""Page actions become signed Slack requests the real app's Bolt accepts, and the bot's answers
land where Slack would put them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bot.config import SlackCredentials, SlackMode
from handlers.sandbox.events import BotRequests, escape, not_a_command, typed_message
from handlers.sandbox.workspace import BOT_USER_ID, Workspace
from tests.sandbox.serving import RunningSandbox
from tests.sandbox.world import ADA, ADA_DM, TESS, WEST, eventually, on_server, sb, texts

__all__ = ["sb"]


def say(sb: RunningSandbox, text: str, *, user: str = ADA, channel: str = ADA_DM) -> Any:
    response = sb.post("/sandbox/api/say", {"user": user, "channel": channel, "text": text})
    assert response.status_code == 200, response.text
    return response.json()


def empty_values(view: dict[str, Any]) -> dict[str, Any]:
    """What the page sends for a modal nobody filled in."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        kind = element["type"]
        if kind in ("multi_static_select", "checkboxes"):
            value: dict[str, Any] = {"type": kind, "selected_options": []}
        elif kind in ("static_select", "radio_buttons"):
            value = {"type": kind, "selected_option": None}
        elif kind == "datepicker":
            value = {"type": kind, "selected_date": None}
        elif kind == "timepicker":
            value = {"type": kind, "selected_time": None}
        else:
            value = {"type": kind, "value": None}
        values[block["block_id"]] = {element["action_id"]: value}
    return values


def test_slack_escaping_of_what_is_typed() -> None:
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert typed_message("hi @SLIS Bot & <@U0SLISBOT>") == (
        f"hi <@{BOT_USER_ID}> &amp; <@{BOT_USER_ID}>"
    )


def test_signed_requests_are_accepted_and_a_wrong_secret_is_refused(sb: RunningSandbox) -> None:
    plan = sb.sandbox.plan
    good = sb.sandbox.creds
    wrong = SlackCredentials(SlackMode.HTTP, good.bot_token, "0" * 64, None, good.api_url)
    form = "command=%2Fslis&text=help&team_id=T0SAMPLE1&user_id=U0SAMPLE01&trigger_id=t.1"

    async def send(creds: SlackCredentials) -> int:
        requests = BotRequests(Workspace(sb.clock), plan, creds)
        await requests.start()
        try:
            ack = await requests.send(form, "application/x-www-form-urlencoded")
        finally:
            await requests.close()
        assert ack is not None
        return ack.status

    assert asyncio.run(send(wrong)) == 401
    assert asyncio.run(send(good)) == 200


def test_slis_help_answers_only_the_asker(sb: RunningSandbox) -> None:
    assert say(sb, "/slis help", channel=WEST) == {"ok": True}
    mine = sb.state(ADA)["messages"][WEST]
    assert [m["ephemeral"] for m in mine] == [True]
    assert mine[0]["is_bot"] and mine[0]["author"] == "SLIS Bot"
    assert "What you can ask me" in texts(mine)
    assert sb.state(TESS)["messages"][WEST] == []


def test_a_command_other_than_slis_is_a_notice_and_nothing_is_sent(sb: RunningSandbox) -> None:
    assert say(sb, "/giphy cats") == {"ok": True}
    state = sb.state(ADA)
    assert state["messages"][ADA_DM] == []
    assert [n["text"] for n in state["notices"]] == [not_a_command("/giphy")]
    assert state["notices"][0]["level"] == "error"


def test_a_slow_acknowledgement_is_an_operation_timeout(sb: RunningSandbox) -> None:
    sb.sandbox.bot.ack_wait = 0.0
    say(sb, "/slis help")
    notices = sb.state(ADA)["notices"]
    assert [n["text"] for n in notices] == ['/slis failed with the error "operation_timeout"']


def test_a_refused_request_is_a_notice(sb: RunningSandbox) -> None:
    sandbox = sb.sandbox
    good = sandbox.creds
    wrong = SlackCredentials(SlackMode.HTTP, good.bot_token, "1" * 64, None, good.api_url)
    requests = BotRequests(sandbox.workspace, sandbox.plan, wrong)

    async def command() -> None:
        await requests.start()
        try:
            await requests.slash_command(ADA, ADA_DM, "/slis", "help")
        finally:
            await requests.close()

    loop = sandbox.loop
    asyncio.run_coroutine_threadsafe(command(), loop).result(15)
    notices = sb.state(ADA)["notices"]
    assert [n["text"] for n in notices] == ['/slis failed with the error "dispatch_failed"']
    assert sb.state(ADA)["messages"][ADA_DM] == []


def test_a_form_command_opens_a_modal_and_the_bot_checks_it(sb: RunningSandbox) -> None:
    say(sb, "/slis support")
    modal = sb.state(ADA)["modal"]
    assert modal is not None and modal["depth"] == 1
    view = modal["view"]
    assert view["type"] == "modal" and view["callback_id"].startswith("slis.")
    assert sb.state(TESS)["modal"] is None

    answer = sb.post(
        "/sandbox/api/submit", {"user": ADA, "view_id": modal["id"], "values": empty_values(view)}
    )
    assert answer.status_code == 200
    errors = answer.json()["errors"]
    required = {
        b["block_id"] for b in view["blocks"] if b["type"] == "input" and not b.get("optional")
    }
    assert errors and set(errors) <= required
    after = sb.state(ADA)["modal"]
    assert after["id"] == modal["id"] and after["errors"] == errors

    closed = sb.post("/sandbox/api/close", {"user": ADA, "view_id": modal["id"], "all": False})
    assert closed.json() == {"ok": True}
    assert sb.state(ADA)["modal"] is None


def test_a_message_mentioning_the_bot_in_a_channel_is_answered_in_its_thread(
    sb: RunningSandbox,
) -> None:
    say(sb, "morning @SLIS Bot", channel=WEST)

    def answered() -> list[dict[str, Any]]:
        return [m for m in sb.state(TESS)["messages"][WEST] if m["is_bot"]]

    [reply] = eventually(answered)
    [asked] = [m for m in sb.state(TESS)["messages"][WEST] if not m["is_bot"]]
    assert asked["text"] == f"morning <@{BOT_USER_ID}>" and asked["author"] == "Ada Applethwaite"
    assert reply["thread_ts"] == asked["ts"]
    assert "/slis help" in texts([reply])


def test_opening_the_home_tab_gets_the_bot_to_publish_it(sb: RunningSandbox) -> None:
    assert sb.post("/sandbox/api/home", {"user": ADA}).json() == {"ok": True}
    home = eventually(lambda: sb.state(ADA)["home"])
    assert home["type"] == "home" and home["blocks"]
    assert sb.state(TESS)["home"] is None


def test_response_urls_follow_slacks_rules(sb: RunningSandbox) -> None:
    ws = sb.sandbox.workspace
    card = on_server(sb, lambda: ws.post(ADA_DM, BOT_USER_ID, "a card"))
    token = on_server(sb, lambda: ws.issue_response_url(ADA, ADA_DM, card.ts))
    url = f"/sandbox/slack/respond/{token}"

    def shown() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = sb.state(ADA)["messages"][ADA_DM]
        return found

    # By default a new message, only for the person.
    assert sb.post(url, {"text": "just for you"}).json() == {"ok": True}
    assert [(m["text"], m["ephemeral"]) for m in shown()] == [
        ("a card", False),
        ("just for you", True),
    ]
    # in_channel: for everyone in the conversation.
    sb.post(url, {"text": "for all", "response_type": "in_channel"})
    assert shown()[-1]["ephemeral"] is False
    # replace_original: the message the action came from, in place.
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*new*"}}]
    sb.post(url, {"text": "replaced", "blocks": blocks, "replace_original": True})
    assert shown()[0]["text"] == "replaced" and shown()[0]["blocks"] == blocks
    # delete_original: gone.
    sb.post(url, {"delete_original": True})
    assert "replaced" not in [m["text"] for m in shown()]
    # Five uses, as on Slack; then it is spent.
    sb.post(url, {"text": "fifth"})
    spent = sb.post(url, {"text": "sixth"})
    assert spent.status_code == 404 and spent.json()["error"] == "used_url"
    unknown = sb.post("/sandbox/slack/respond/nonsense", {"text": "x"})
    assert unknown.status_code == 404


def test_replacing_an_ephemeral_message_keeps_it_ephemeral(sb: RunningSandbox) -> None:
    ws = sb.sandbox.workspace
    shown = on_server(sb, lambda: ws.post(WEST, BOT_USER_ID, "only Ada", ephemeral_for=ADA))
    token = on_server(sb, lambda: ws.issue_response_url(ADA, WEST, shown.ts))
    sb.post(f"/sandbox/slack/respond/{token}", {"text": "still only Ada", "replace_original": True})
    [message] = sb.state(ADA)["messages"][WEST]
    assert message["text"] == "still only Ada" and message["ephemeral"]
    assert sb.state(TESS)["messages"][WEST] == []


def test_a_button_on_a_message_reaches_the_bot_with_slacks_payload(sb: RunningSandbox) -> None:
    """A button the bot does not know: Bolt acknowledges it, and nothing else happens."""
    ws = sb.sandbox.workspace
    button = {
        "type": "actions",
        "block_id": "b1",
        "elements": [
            {
                "type": "button",
                "action_id": "sandbox.test",
                "text": {"type": "plain_text", "text": "Press"},
                "value": "1",
            }
        ],
    }
    card = on_server(sb, lambda: ws.post(ADA_DM, BOT_USER_ID, "card", blocks=[button]))
    action = {"block_id": "b1", "action_id": "sandbox.test", "type": "button", "value": "1"}
    container = {"type": "message", "channel": ADA_DM, "ts": card.ts}
    answer = sb.post("/sandbox/api/action", {"user": ADA, "container": container, "action": action})
    assert answer.json() == {"ok": True}
    assert sb.state(ADA)["notices"] == []

    # Someone else's DM is not theirs to press in.
    refused = sb.post(
        "/sandbox/api/action", {"user": TESS, "container": container, "action": action}
    )
    assert refused.status_code == 404 and "error" in refused.json()


def test_the_sandbox_talks_to_the_bot_over_real_http(sb: RunningSandbox) -> None:
    """The events endpoint the sandbox posts to is the bot's own."""
    assert sb.sandbox.bot.events_url == sb.base_url + "/slack/events"
    refused = httpx.post(sb.base_url + "/slack/events", content=b"{}", timeout=10)
    assert refused.status_code == 401
