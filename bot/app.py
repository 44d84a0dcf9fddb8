"""The composition root: settings in, the ASGI app (health endpoints and Slack) out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.config import Settings, SlackMode
from bot.core import Core
from bot.ports import Messenger
from bot.types import Platform
from handlers.slack.app import (
    build_slack_app,
    http_endpoint,
    start_socket_mode,
    stop_socket_mode,
)
from handlers.slack.messenger import SlackMessenger
from scheduler.housekeeping import Housekeeping
from scheduler.reminders import ReminderJobs
from scheduler.runtime import Runtime
from storage.engine import Database

log = logging.getLogger(__name__)

SERVICE = "SLIS Bot"
NOT_CONFIGURED = "not configured"


def build_core(settings: Settings) -> Core:
    """The core over the configured database."""
    db = Database.from_url(settings.database_url)
    return Core(db, default_la_code=settings.slis_default_la_code)


def create_app(settings: Settings, *, core: Core | None = None) -> FastAPI:
    """The ASGI app. A partial Slack configuration raises ConfigError before anything starts."""
    creds = settings.slack()
    core = core or build_core(settings)
    slack = build_slack_app(core, creds) if creds is not None else None
    slack_status = creds.mode.value if creds is not None else NOT_CONFIGURED
    if creds is None:
        log.warning(
            "Slack is not configured (no SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET);"
            " serving health endpoints only"
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        socket = None
        # The scheduler and the outbox relay; they run in whichever process leads.
        slack_messenger = SlackMessenger.for_credentials(creds) if creds is not None else None
        messengers: dict[Platform, Messenger] = {}
        if slack_messenger is not None:
            messengers[Platform.SLACK] = slack_messenger
        runtime = Runtime(core, messengers, job_sources=(ReminderJobs(core), Housekeeping(core)))
        try:
            if slack is not None and creds is not None and creds.mode is SlackMode.SOCKET:
                socket = await start_socket_mode(slack, creds)
            await runtime.start()
            yield
        finally:
            await runtime.stop()
            if slack_messenger is not None:
                await slack_messenger.close()
            if socket is not None:
                await stop_socket_mode(socket)
            core.db.dispose()

    app = FastAPI(title=SERVICE, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/")
    async def about() -> dict[str, str]:
        return {"service": SERVICE, "slack": slack_status}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if not await asyncio.to_thread(core.db.ping):
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ready", "database": "ok", "slack": slack_status})

    if slack is not None and creds is not None and creds.mode is SlackMode.HTTP:
        app.add_api_route("/slack/events", http_endpoint(slack), methods=["POST"])
    else:
        message = (
            "Slack uses Socket Mode on this server; there is no HTTP endpoint"
            if slack is not None
            else "Slack is not configured on this server (set SLACK_BOT_TOKEN and"
            " SLACK_SIGNING_SECRET)"
        )

        @app.post("/slack/events")
        async def slack_unavailable(_request: Request) -> Response:
            return JSONResponse({"error": message}, 404)

    return app
