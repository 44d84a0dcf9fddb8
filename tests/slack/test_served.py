"""The app served for real: uvicorn on a loopback port (HTTP mode) and Socket Mode over a
websocket to the fake Slack."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn

from bot.app import create_app
from bot.config import ConfigError
from storage.engine import Database
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import HEAD, build_directory
from tests.slack.harness import all_text, event_body, slack_settings, slash_body
from tests.slack.signing import JSON, signed_headers

APP_TOKEN = "xapp-1-A0SLIS-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def served(database_url: str, db: Database, fake_slack: FakeSlackApi) -> AsyncIterator[str]:
    """The app under uvicorn in a thread; yields its base URL."""
    build_directory(db)
    app = create_app(slack_settings(database_url, fake_slack.url))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)


async def test_slash_command_and_home_over_real_http(served: str, fake_slack: FakeSlackApi) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.json() == {
            "status": "ready",
            "database": "ok",
            "slack": "http",
            "teams": "not configured",
        }

        body = slash_body("help")
        response = await http.post("/slack/events", content=body, headers=signed_headers(body))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        message = response.json()
        assert message["response_type"] == "ephemeral"
        assert "What you can ask me" in all_text(message)

        event = event_body({"type": "app_home_opened", "user": HEAD, "tab": "home"})
        response = await http.post(
            "/slack/events", content=event, headers=signed_headers(event, content_type=JSON)
        )
        assert response.status_code == 200
    [publish] = await fake_slack.wait_for("views.publish")
    assert publish.params["view"]["type"] == "home"


async def test_socket_mode_acknowledges_with_the_rendered_reply(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    build_directory(db)
    fake_slack.socket_envelopes.append(
        {
            "envelope_id": "1d3c7a5e-env",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": dict(parse_qsl(slash_body("whoami", user=HEAD))),
        }
    )
    settings = slack_settings(
        database_url, fake_slack.url, slack_signing_secret=None, slack_app_token=APP_TOKEN
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        [ack] = await fake_slack.wait_for_socket()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
            ready = (await http.get("/readyz")).json()
            refused = await http.post("/slack/events", content=b"{}")
    assert ack["envelope_id"] == "1d3c7a5e-env"
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "You are *Alice Hart* in the Essex directory." in all_text(ack["payload"])
    # One call checks the app token at start, one opens the socket.
    assert [c.token for c in fake_slack.calls_to("apps.connections.open")] == [APP_TOKEN] * 2
    assert ready["slack"] == "socket"
    assert refused.status_code == 404 and "Socket Mode" in refused.json()["error"]


async def test_socket_mode_with_a_refused_app_token_fails_the_start(
    database_url: str, fake_slack: FakeSlackApi
) -> None:
    fake_slack.fail("apps.connections.open", error="invalid_auth", times=None)
    settings = slack_settings(
        database_url, fake_slack.url, slack_signing_secret=None, slack_app_token=APP_TOKEN
    )
    app = create_app(settings)
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN") as raised:
        async with app.router.lifespan_context(app):
            pass
    assert APP_TOKEN not in str(raised.value)
    assert fake_slack.calls_to("socket") == []


async def test_socket_mode_start_tolerates_a_passing_failure(
    database_url: str, fake_slack: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.fail("apps.connections.open", status=503)
    settings = slack_settings(
        database_url, fake_slack.url, slack_signing_secret=None, slack_app_token=APP_TOKEN
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await fake_slack.wait_for("socket")
    assert len(fake_slack.calls_to("apps.connections.open")) == 2
    assert "apps.connections.open failed (HTTP 503)" in caplog.text
