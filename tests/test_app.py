"""The composition root: health and readiness, and how Slack settings decide what is served."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.app import build_core, create_app
from bot.config import ConfigError, Settings
from bot.core import Core
from bot.types import ChatUser, Platform
from storage.engine import Database
from storage.models import Tenant
from tests.factories import SEEDED_AT


def settings(database_url: str, **values: Any) -> Settings:
    """Settings from these values only (no environment, no .env file)."""
    base: dict[str, Any] = {
        "database_url": database_url,
        "slack_bot_token": None,
        "slack_signing_secret": None,
        "slack_app_token": None,
        "slis_default_la_code": None,
    }
    return Settings(_env_file=None, **(base | values))  # type: ignore[call-arg]


@asynccontextmanager
async def serving(
    app: FastAPI, base_url: str = "http://slis.test"
) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield http


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_without_slack_and_the_sandbox_serves_health_only(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        app = create_app(settings(database_url, slis_sandbox="off"))
    slack = (
        "Slack is not configured (no SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET);"
        " serving health endpoints only"
    )
    pepper = (
        "SLIS_ANONYMITY_PEPPER is not set: anonymous healthcheck rounds can't be launched"
        " or answered on this server"
    )
    # An embedded SQLite database gets a local secret beside it; a server database needs one set.
    embedded = database_url.startswith("sqlite")
    assert caplog.messages == ([slack] if embedded else [pepper, slack])
    async with serving(app) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "database": "ok",
            "slack": "not configured",
            "teams": "not configured",
        }
        about = await http.get("/")
        assert about.json() == {
            "service": "SLIS Bot",
            "slack": "not configured",
            "teams": "not configured",
            "sandbox": "off",
        }
        events = await http.post("/slack/events", content=b"token=x&command=%2Fslis")
        assert events.status_code == 404
        assert "Slack is not configured" in events.json()["error"]
        assert (await http.get("/sandbox")).status_code == 404


async def test_with_no_chat_credentials_the_sandbox_stands_in_for_slack(
    database_url: str,
) -> None:
    app = create_app(settings(database_url, port=3999))
    async with serving(app, "http://127.0.0.1:3999") as http:
        assert (await http.get("/readyz")).json()["slack"] == "sandbox"
        about = (await http.get("/")).json()
        assert about["slack"] == "sandbox" and about["teams"] == "not configured"
        assert about["sandbox"] == "http://127.0.0.1:3999/sandbox"
        page = await http.get("/sandbox")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        # The bot's Slack endpoint is there, and checks signatures as for a real workspace.
        unsigned = await http.post("/slack/events", content=b"command=%2Fslis")
        assert unsigned.status_code == 401


async def test_http_mode_reports_slack_ready(database_url: str) -> None:
    app = create_app(
        settings(database_url, slack_bot_token="xoxb-1", slack_signing_secret="s3cret")
    )
    async with serving(app) as http:
        assert (await http.get("/readyz")).json()["slack"] == "http"
        assert (await http.get("/")).json()["slack"] == "http"
        unsigned = await http.post("/slack/events", content=b"command=%2Fslis")
        assert unsigned.status_code == 401


def test_partial_slack_config_fails_at_start_naming_the_missing_setting(
    database_url: str,
) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(settings(database_url, slack_bot_token="xoxb-1"))
    assert "SLACK_SIGNING_SECRET" in str(raised.value)
    assert "xoxb-1" not in str(raised.value)


def test_every_problem_is_named_at_once(database_url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(settings(database_url, slack_signing_secret="s3cret"))
    assert "SLACK_BOT_TOKEN" in str(raised.value)


async def test_readyz_is_503_when_the_sqlite_folder_is_missing(tmp_path: Path) -> None:
    app = create_app(settings(f"sqlite:///{tmp_path}/no/such/folder/slis.db"))
    async with serving(app) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable"}


async def test_readyz_is_503_when_postgres_refuses() -> None:
    app = create_app(settings(f"postgresql://slis@127.0.0.1:{closed_port()}/slis"))
    async with serving(app) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"


async def test_a_given_core_is_used_and_its_database_disposed_at_shutdown(
    database_url: str,
) -> None:
    core = build_core(settings(database_url))
    disposed: list[bool] = []
    real_dispose = core.db.dispose

    def dispose() -> None:
        disposed.append(True)
        real_dispose()

    core.db.dispose = dispose  # type: ignore[method-assign]
    app = create_app(settings(database_url), core=core)
    async with serving(app) as http:
        assert (await http.get("/readyz")).status_code == 200
        assert disposed == []
    assert disposed == [True]
    assert isinstance(core, Core)


async def test_build_core_maps_unknown_workspaces_to_the_default_local_authority(
    database_url: str, db: Database
) -> None:
    with db.session() as session:
        session.add(Tenant(name="Essex", la_code=881, created_at=SEEDED_AT))
    core = build_core(settings(database_url, slis_default_la_code=881))
    actor = await core.identify(ChatUser(Platform.SLACK, "T0ANYWHERE", "U1"))
    assert (actor.tenant_name, actor.linked) == ("Essex", False)
    core.db.dispose()
