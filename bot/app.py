"""The composition root: settings in, the ASGI app (health endpoints, Slack, Teams) out."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import make_url
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.config import ConfigError, Settings, SlackMode
from bot.core import Core
from bot.errors import InvalidImport
from bot.ports import Clock, Messenger, MovableClock
from bot.services.healthcheck.responses import PEPPER_MIN_LENGTH, ResponseKeys
from bot.services.support.catalogue import Catalogues
from bot.types import Platform
from handlers.graph.calendars import GraphCalendars
from handlers.sandbox.server import Sandbox
from handlers.slack.app import (
    build_slack_app,
    confirm_installation,
    http_endpoint,
    start_socket_mode,
    stop_socket_mode,
)
from handlers.slack.messenger import SlackMessenger
from handlers.teams.app import TeamsHandlers
from handlers.teams.endpoint import MESSAGING_ENDPOINT, build_teams_app, start_teams
from handlers.teams.messenger import TeamsMessenger
from scheduler.housekeeping import Housekeeping
from scheduler.meetings import MeetingJobs
from scheduler.reminders import ReminderJobs
from scheduler.runtime import JobSource, Runtime
from scheduler.sandbox import Timeline
from scheduler.support import SupportJobs
from scheduler.surveys import SurveyJobs
from storage.engine import Database

log = logging.getLogger(__name__)

SERVICE = "SLIS Bot"
NOT_CONFIGURED = "not configured"


def local_pepper(database_url: str) -> str | None:
    """For an embedded SQLite database only: the anonymity secret in a file beside it
    (`<database>.pepper`, readable by its owner alone), made on first use, so the quick start
    runs anonymous rounds without set-up. A server database needs SLIS_ANONYMITY_PEPPER."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(f"{url.database}.pepper")
    try:
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
            log.info("made the anonymity secret for %s in %s", url.database, path)
        pepper = path.read_text().strip()
    except OSError as exc:
        log.warning("no anonymity secret beside %s: %s", url.database, exc.strerror)
        return None
    return pepper if len(pepper.encode()) >= PEPPER_MIN_LENGTH else None


def build_core(settings: Settings, *, clock: Clock | None = None) -> Core:
    """The core over the configured database, on `clock`; else on the real clock, which the
    sandbox (when on) can move."""
    db = Database.from_url(settings.database_url)
    if clock is None and settings.sandbox() is not None:
        clock = MovableClock()  # the sandbox's clock control moves it
    secret = settings.slis_anonymity_pepper
    pepper = (
        secret.get_secret_value() if secret is not None else local_pepper(settings.database_url)
    )
    if pepper is None:
        log.warning(
            "SLIS_ANONYMITY_PEPPER is not set: anonymous healthcheck rounds can't be launched"
            " or answered on this server"
        )
    catalogues = Catalogues(db, settings.slis_support_catalogues)
    try:
        catalogues.check()
    except InvalidImport as exc:
        raise ConfigError(f"{exc}: " + "; ".join(exc.problems)) from None
    return Core(
        db,
        default_la_code=settings.slis_default_la_code,
        clock=clock,
        response_keys=ResponseKeys(pepper) if pepper is not None else None,
        min_group=settings.slis_report_min_group,
        catalogues=catalogues,
        escalate_after=settings.slis_support_escalate_after,
    )


def create_app(settings: Settings, *, core: Core | None = None) -> FastAPI:
    """The ASGI app. A partial Slack, Teams or Graph configuration raises ConfigError before
    anything starts."""
    plan = settings.sandbox()
    teams = settings.teams()
    graph = settings.graph()
    core = core or build_core(settings)
    creds = settings.slack()
    timeline: Timeline | None = None
    sandbox: Sandbox | None = None
    if plan is not None:
        if not isinstance(core.clock, MovableClock):
            raise ValueError("the sandbox needs a core on a MovableClock")
        if plan.replaces_slack:
            log.warning("SLIS_SANDBOX=on: the Slack credentials set here are not used")
        # The bot's own Slack code runs unchanged, against the sandbox's Slack.
        creds = plan.slack_credentials()
        timeline = Timeline(core, core.clock)
        sandbox = Sandbox(core, plan, creds, core.clock, timeline)
    slack = build_slack_app(core, creds) if creds is not None else None
    slack_status = creds.mode.value if creds is not None else NOT_CONFIGURED
    if plan is not None:
        slack_status = "sandbox"
    if creds is None and teams is None:
        log.warning(
            "Slack is not configured (no SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET);"
            " serving health endpoints only"
        )
    elif creds is None:
        log.info("Slack is not configured; serving Microsoft Teams")

    teams_status = "on" if teams is not None else NOT_CONFIGURED
    # Teams: the SDK's App takes activities at /api/messages (its route is added when it
    # starts, in the lifespan); replies and deliveries go out through the Teams Messenger.
    teams_messenger = TeamsMessenger.for_credentials(teams) if teams is not None else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        socket = None
        # The scheduler and the outbox relay; they run in whichever process leads.
        slack_messenger = SlackMessenger.for_credentials(creds) if creds is not None else None
        messengers: dict[Platform, Messenger] = {}
        if slack_messenger is not None:
            messengers[Platform.SLACK] = slack_messenger
        if teams_messenger is not None:
            messengers[Platform.TEAMS] = teams_messenger
        # Booked meetings go into the chair's Outlook calendar where Graph is configured.
        calendars = GraphCalendars(graph, core.la_code_of) if graph is not None else None
        # In the sandbox the timeline fires reminders on the sandbox's clock, which APScheduler
        # (on real time) would not follow through a jump.
        reminders: JobSource = ReminderJobs(core)
        if timeline is not None:
            timeline.calendar = calendars
            reminders = timeline
        runtime = Runtime(
            core,
            messengers,
            job_sources=(
                reminders,
                SurveyJobs(core),
                SupportJobs(core),
                MeetingJobs(core, calendars),
                Housekeeping(core, zone=settings.slis_timezone),
            ),
        )
        # An uninstall handled here drops the token the relay sends with.
        unwatch = (
            core.workspaces.on_uninstall(slack_messenger.workspace_uninstalled)
            if slack_messenger is not None
            else None
        )
        try:
            if slack is not None:
                await confirm_installation(slack.client, core)
            if teams_app is not None:
                await start_teams(teams_app)
            if slack is not None and creds is not None and creds.mode is SlackMode.SOCKET:
                socket = await start_socket_mode(slack, creds)
            await runtime.start()
            if sandbox is not None:
                await sandbox.start()
                log.info("the sandbox is on: open %s", sandbox.plan.page_url)
            yield
        finally:
            if unwatch is not None:
                unwatch()
            if sandbox is not None:
                await sandbox.close()
            await runtime.stop()
            if slack_messenger is not None:
                await slack_messenger.close()
            if teams_messenger is not None:
                await teams_messenger.close()
            if calendars is not None:
                await calendars.close()
            if socket is not None:
                await stop_socket_mode(socket)
            core.db.dispose()

    app = FastAPI(title=SERVICE, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    teams_app = None
    if teams is not None and teams_messenger is not None:
        teams_app = build_teams_app(app, teams, teams_messenger.tokens)
        TeamsHandlers(core, teams_messenger, teams_messenger.profiles).register(teams_app)
    else:

        @app.post(MESSAGING_ENDPOINT)
        async def teams_unavailable(_request: Request) -> Response:
            return JSONResponse(
                {
                    "error": "Microsoft Teams is not configured on this server (set"
                    " TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID)"
                },
                404,
            )

    if sandbox is not None:
        sandbox.mount(app)

    @app.get("/")
    async def about() -> dict[str, str]:
        return {
            "service": SERVICE,
            "slack": slack_status,
            "teams": teams_status,
            "sandbox": plan.page_url if plan is not None else "off",
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if not await asyncio.to_thread(core.db.ping):
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse(
            {"status": "ready", "database": "ok", "slack": slack_status, "teams": teams_status}
        )

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
