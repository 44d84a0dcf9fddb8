"""The page's API: the state it draws, the guard, long polls, the clock, Reset, static files
and bad requests."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from handlers.sandbox import server
from handlers.sandbox.guard import REFUSAL, host_name
from handlers.sandbox.state import ahead_words
from tests.sandbox.serving import RunningSandbox, running_sandbox
from tests.sandbox.world import ADA, ADA_DM, TESS, WEST, on_server, sb, web_client

__all__ = ["sb"]

STATE_KEYS = {
    "version",
    "workspace",
    "clock",
    "may_reset",
    "people",
    "me",
    "conversations",
    "messages",
    "home",
    "modal",
    "notices",
}


def test_the_state_has_the_contracts_shape(sb: RunningSandbox) -> None:
    state = sb.state(ADA)
    assert set(state) == STATE_KEYS
    assert state["workspace"] == {
        "team_id": "T0SAMPLE1",
        "name": "Essex SLIS (sample)",
        "bot_user_id": "U0SLISBOT",
        "bot_name": "SLIS Bot",
    }
    assert len(state["people"]) == 63
    assert set(state["people"][0]) == {"user_id", "name", "email", "job_title", "roles"}
    me = state["me"]
    assert me["name"] == "Ada Applethwaite" and me["job_title"] == "Headteacher"
    assert "Quadrant chair, West" in me["roles"]
    assert state["conversations"][0] == {"id": ADA_DM, "kind": "dm", "name": "SLIS Bot"}
    channels = state["conversations"][1:]
    assert [c["name"] for c in channels] == sorted(c["name"] for c in channels)
    assert {c["id"] for c in channels} == {"C0WESTQ", "C0SOUTHQ", "C0MIDQ", "C0NORTHEASTQ"}
    assert set(state["messages"]) == {c["id"] for c in state["conversations"]}
    assert state["home"] is None and state["modal"] is None and state["notices"] == []
    assert state["may_reset"] is True
    clock = state["clock"]
    assert clock["zone"] == "Europe/London" and clock["ahead"] == ""
    at = datetime.fromisoformat(clock["iso"])
    assert clock["display"].startswith(f"{at:%A} {at.day} {at:%B %Y, %H:%M}")


def test_a_page_message_has_the_contracts_fields(sb: RunningSandbox) -> None:
    web_client(sb).chat_postMessage(channel=ADA, text="Hello")
    [message] = sb.state(ADA)["messages"][ADA_DM]
    assert set(message) == {
        "ts",
        "channel",
        "user",
        "author",
        "is_bot",
        "text",
        "blocks",
        "thread_ts",
        "ephemeral",
        "edited",
        "time",
        "date",
        "files",
    }
    at = datetime.fromtimestamp(float(message["ts"])).astimezone(sb.sandbox.workspace.info.zone)
    assert message["time"] == f"{at:%H:%M}" and message["date"] == f"{at:%a} {at.day} {at:%b}"


def test_no_one_picked_or_someone_unknown_is_no_me(sb: RunningSandbox) -> None:
    for state in (sb.get("/sandbox/api/state").json(), sb.state("U0NOBODY")):
        assert state["me"] is None and state["conversations"] == [] and state["messages"] == {}
        assert len(state["people"]) == 63


def test_the_guard_wants_loopback_and_a_local_host_name(sb: RunningSandbox) -> None:
    refused = sb.client.get("/sandbox/api/state", headers={"Host": "evil.example:3000"})
    assert refused.status_code == 403 and refused.json() == {"error": REFUSAL}
    for path in ("/sandbox", "/sandbox/slack/api/auth.test", "/sandbox/api/updates"):
        assert sb.client.get(path, headers={"Host": "rebound.example"}).status_code == 403
    port = sb.base_url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", "localhost", f"127.0.0.1:{port}"):
        assert sb.client.get("/sandbox/api/state", headers={"Host": host}).status_code == 200
    # The bot's own endpoints are not the sandbox's to guard.
    assert sb.client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200

    async def from_elsewhere() -> int:
        transport = httpx.ASGITransport(app=sb.app, client=("192.0.2.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return (await http.get("/sandbox/api/state")).status_code

    assert asyncio.run(from_elsewhere()) == 403


def test_host_names() -> None:
    assert host_name("LOCALHOST:3000") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("[::1]:3000") == "[::1]"
    assert host_name("127.0.0.1.evil.example") == "127.0.0.1.evil.example"


def test_a_long_poll_wakes_on_a_change(sb: RunningSandbox) -> None:
    version = sb.state(ADA)["version"]
    answers: list[dict[str, Any]] = []
    started = time.monotonic()
    poll = threading.Thread(
        target=lambda: answers.append(sb.get("/sandbox/api/updates", since=version).json())
    )
    poll.start()
    time.sleep(0.3)
    assert answers == []
    web_client(sb).chat_postMessage(channel=WEST, text="news")
    poll.join(10)
    assert answers and answers[0]["version"] > version
    assert time.monotonic() - started < 5


def test_a_long_poll_with_nothing_new_answers_the_same_version(sb: RunningSandbox) -> None:
    sb.sandbox.long_poll = 0.2
    version = sb.state(ADA)["version"]
    assert sb.get("/sandbox/api/updates", since=version).json() == {"version": version}
    assert sb.get("/sandbox/api/updates", since=version - 1).json() == {"version": version}
    assert sb.get("/sandbox/api/updates", since="soon").status_code == 400


def test_clock_jumps(sb: RunningSandbox) -> None:
    before = datetime.fromisoformat(sb.state(ADA)["clock"]["iso"])
    answer = sb.post("/sandbox/api/clock", {"jump": "hour"}).json()
    assert answer["ok"] is True
    moved = datetime.fromisoformat(answer["clock"]["iso"])
    assert timedelta(hours=1) <= moved - before < timedelta(hours=1, minutes=1)
    assert answer["clock"]["ahead"] == "1 hour ahead of real time"
    assert datetime.fromisoformat(sb.state(ADA)["clock"]["iso"]) >= moved

    day = sb.post("/sandbox/api/clock", {"jump": "day"}).json()["clock"]
    assert day["ahead"] == "1 day, 1 hour ahead of real time"

    morning = sb.post("/sandbox/api/clock", {"jump": "next_school_morning"}).json()["clock"]
    at = datetime.fromisoformat(morning["iso"])
    assert (at.hour, at.minute) == (8, 0) and at.weekday() < 5
    assert at > datetime.fromisoformat(day["iso"])

    assert sb.post("/sandbox/api/clock", {"jump": "year"}).status_code == 400


def test_ahead_words() -> None:
    assert ahead_words(timedelta(0)) == ""
    assert ahead_words(timedelta(seconds=29)) == ""
    assert ahead_words(timedelta(hours=1) - timedelta(milliseconds=5)) == (
        "1 hour ahead of real time"
    )
    assert ahead_words(timedelta(days=2, hours=3)) == "2 days, 3 hours ahead of real time"
    assert ahead_words(timedelta(minutes=61)) == "1 hour, 1 minute ahead of real time"


def test_reset_restores_the_sample_and_the_real_time(sb: RunningSandbox) -> None:
    web_client(sb).chat_postMessage(channel=WEST, text="before the reset")
    sb.post("/sandbox/api/clock", {"jump": "day"})
    sb.post("/sandbox/api/say", {"user": ADA, "channel": ADA_DM, "text": "/nope"})
    assert sb.post("/sandbox/api/reset", {}).json() == {"ok": True}
    state = sb.state(ADA)
    assert all(messages == [] for messages in state["messages"].values())
    assert state["notices"] == [] and state["clock"]["ahead"] == ""
    assert len(state["people"]) == 63
    assert sb.clock.offset == timedelta(0)


def test_reset_is_refused_where_real_slack_credentials_are_set(database_url: str) -> None:
    real = {
        "slis_sandbox": "on",
        "slack_bot_token": "xoxb-1-real-workspace",
        "slack_signing_secret": "a-real-signing-secret",
    }
    with running_sandbox(database_url, **real) as sb:
        assert sb.state(ADA)["may_reset"] is False
        refused = sb.post("/sandbox/api/reset", {})
        assert refused.status_code == 403 and refused.json()["ok"] is False
        assert "error" in refused.json()
        assert len(sb.state(ADA)["people"]) == 63


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/sandbox/api/say", {"channel": ADA_DM, "text": "hi"}, 400, "user is missing"),
        (
            "/sandbox/api/say",
            {"user": "U0NOBODY", "channel": ADA_DM, "text": "hi"},
            404,
            "U0NOBODY",
        ),
        ("/sandbox/api/say", {"user": TESS, "channel": ADA_DM, "text": "hi"}, 404, ADA_DM),
        ("/sandbox/api/say", {"user": ADA, "channel": ADA_DM, "text": " "}, 400, "text"),
        ("/sandbox/api/submit", {"user": ADA, "view_id": "V0NOWHERE"}, 404, "V0NOWHERE"),
        ("/sandbox/api/close", {"user": ADA, "view_id": "V0NOWHERE"}, 404, "V0NOWHERE"),
        ("/sandbox/api/action", {"user": ADA, "action": {}}, 400, "container"),
        (
            "/sandbox/api/action",
            {"user": ADA, "container": {"type": "view", "view_id": "V0X"}, "action": {}},
            400,
            "action_id",
        ),
        (
            "/sandbox/api/action",
            {
                "user": ADA,
                "container": {"type": "view", "view_id": "V0X"},
                "action": {"action_id": "a"},
            },
            404,
            "V0X",
        ),
        ("/sandbox/api/home", {}, 400, "user"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    sb: RunningSandbox, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    answer = sb.post(path, body)
    assert answer.status_code == status
    assert answer.json()["ok"] is False and words in answer.json()["error"]


def test_a_body_that_is_not_a_json_object_is_a_400(sb: RunningSandbox) -> None:
    for content in (b"not json", b"[1, 2]"):
        answer = sb.client.post(
            "/sandbox/api/say", content=content, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400 and answer.json()["error"]


def test_static_files_come_only_from_the_static_folder(
    sb: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>SLIS sandbox</title>")
    (static / "sandbox.js").write_text("export const x = 1;")
    (static / "sandbox.css").write_text("body {}")
    (tmp_path / "secret.txt").write_text("not for you")
    (static / "link.txt").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(server, "STATIC_DIR", static)

    for path in ("/sandbox", "/sandbox/", "/sandbox/static/index.html"):
        page = sb.get(path)
        assert page.status_code == 200 and "SLIS sandbox" in page.text
        assert page.headers["content-type"].startswith("text/html")
    assert (
        sb.get("/sandbox/static/sandbox.js").headers["content-type"].startswith("text/javascript")
    )
    assert sb.get("/sandbox/static/sandbox.css").headers["content-type"].startswith("text/css")
    for name in ("..%2Fsecret.txt", "link.txt", "missing.js", ".hidden", "%2E%2E"):
        assert sb.get(f"/sandbox/static/{name}").status_code == 404, name


def test_the_slack_side_shows_in_the_state_at_once(sb: RunningSandbox) -> None:
    """The workspace is the page's: what the Web API keeps is what the state shows."""
    ws = sb.sandbox.workspace
    version = sb.state(ADA)["version"]
    on_server(sb, lambda: ws.notify(ADA, "a notice", "info"))
    state = sb.state(ADA)
    assert state["version"] > version
    assert [(n["level"], n["text"]) for n in state["notices"]] == [("info", "a notice")]
    for n in range(6):
        on_server(sb, lambda n=n: ws.notify(ADA, f"notice {n}"))
    assert [n["text"] for n in sb.state(ADA)["notices"]] == [f"notice {n}" for n in range(1, 6)]


def test_only_the_page_itself_may_act_a_cross_site_request_may_not(sb: RunningSandbox) -> None:
    port = sb.base_url.rsplit(":", 1)[1]
    say = {"user": ADA, "channel": ADA_DM, "text": "/slis help"}
    # What another site's page can send without a CORS preflight: a "simple" request.
    plain = sb.client.post(
        "/sandbox/api/reset", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 403 and "only the sandbox page" in plain.json()["error"]
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1.evil.example:{port}"},
        {"Origin": "http://127.0.0.1:1"},  # another service on this machine
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        refused = sb.client.post("/sandbox/api/say", json=say, headers=headers)
        assert refused.status_code == 403, headers
    said = sb.state(ADA)["messages"]
    assert not any(said.values()), "nothing was said"
    same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    assert sb.client.post("/sandbox/api/say", json=say, headers=same).json() == {"ok": True}
