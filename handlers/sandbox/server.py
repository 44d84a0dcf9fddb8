"""The sandbox inside the bot's server: the page, its API, and the Slack the bot talks to, all
under /sandbox and all behind the loopback guard."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from bot.config import SANDBOX_PATH, SandboxPlan, SlackCredentials
from bot.core import Core
from bot.ports import MovableClock
from handlers.sandbox.controls import TimeControl
from handlers.sandbox.events import BotRequests, Refused
from handlers.sandbox.guard import GuardedRoute, page_action
from handlers.sandbox.requests import BadBody, json_object
from handlers.sandbox.state import clock_json, state_json
from handlers.sandbox.web_api import SlackWebApi
from handlers.sandbox.workspace import JSON, Workspace

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PAGE = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
LONG_POLL = 20.0
JUMPS = ("next_school_morning", "day", "hour")

Endpoint = Callable[[Request], Awaitable[Response]]


class Sandbox:
    """A Slack of its own inside the bot's server, and the page to use it from a browser."""

    def __init__(
        self,
        core: Core,
        plan: SandboxPlan,
        creds: SlackCredentials,
        clock: MovableClock,
        time: TimeControl,
    ) -> None:
        self.core = core
        self.plan = plan
        self.creds = creds
        self.clock = clock
        self.time = time
        self.workspace = Workspace(clock)
        self.web_api = SlackWebApi(self.workspace, plan, creds)
        self.bot = BotRequests(self.workspace, plan, creds)
        self.long_poll = LONG_POLL
        self._ready = False
        self._loaded = False
        self._resetting = asyncio.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, once started

    def mount(self, app: FastAPI) -> None:
        """Add every /sandbox route to the app (and keep a reference on `app.state`)."""
        app.include_router(self.router())
        app.state.sandbox = self

    async def start(self) -> None:
        """Ready to serve: the HTTP client for the bot's /slack/events, the workspace loaded."""
        self.loop = asyncio.get_running_loop()
        await self.bot.start()
        self._ready = True
        await self._ensure_loaded()

    async def close(self) -> None:
        """Wake every long poll and stop sending to the bot."""
        self._ready = False
        self.workspace.close()
        await self.bot.close()

    def stopping(self) -> None:
        """The server is about to stop (callable from any thread): answer the long polls now,
        since uvicorn waits for open requests before it runs the lifespan's shutdown."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.workspace.close)

    async def _load(self) -> None:
        service = self.core.sandbox
        info = await asyncio.to_thread(service.workspace)
        people = await asyncio.to_thread(service.people, info)
        channels = await asyncio.to_thread(service.channels, info)
        self.workspace.load(info, people, channels)
        self._loaded = True

    async def _ensure_loaded(self) -> bool:
        """Load the workspace if it is not yet; False while the database can't be read (the
        server still starts, to say so on /readyz)."""
        if self._loaded:
            return True
        try:
            await self._load()
        except Exception as exc:  # whatever the database driver raises; the core hides which
            log.warning("the sandbox cannot read the directory yet: %s", type(exc).__name__)
            return False
        return True

    # --- routes ----------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(prefix=SANDBOX_PATH, route_class=GuardedRoute)
        page = self._page_endpoint
        for path, endpoint, methods in (
            ("", page, ["GET"]),
            ("/", page, ["GET"]),
            ("/static/{name}", self._static, ["GET"]),
            ("/api/state", self._api(self._state), ["GET"]),
            ("/api/updates", self._api(self._updates), ["GET"]),
            ("/api/say", self._api(self._say), ["POST"]),
            ("/api/action", self._api(self._action), ["POST"]),
            ("/api/submit", self._api(self._submit), ["POST"]),
            ("/api/close", self._api(self._close), ["POST"]),
            ("/api/home", self._api(self._home), ["POST"]),
            ("/api/clock", self._api(self._clock), ["POST"]),
            ("/api/reset", self._api(self._reset), ["POST"]),
            ("/files/{file_id}/{name}", self._file, ["GET"]),
            ("/slack/api/{method}", self._slack(self.web_api.endpoint), ["GET", "POST"]),
            ("/slack/respond/{token}", self._slack(self.web_api.respond), ["POST"]),
            ("/slack/upload/{file_id}", self._slack(self.web_api.upload), ["POST"]),
        ):
            router.add_api_route(
                path, endpoint, methods=methods, include_in_schema=False, response_model=None
            )
        return router

    def _api(self, handler: Callable[[Request], Awaitable[Response]]) -> Endpoint:
        """A page API endpoint: bad requests answered with what is wrong, never a 500."""

        async def endpoint(request: Request) -> Response:
            if request.method == "POST" and not page_action(request):
                return JSONResponse(
                    {"ok": False, "error": "only the sandbox page may do that (send JSON)"}, 403
                )
            if not self._ready:
                return JSONResponse({"ok": False, "error": "the sandbox is not running"}, 503)
            if not await self._ensure_loaded():
                return JSONResponse(
                    {"ok": False, "error": "the sandbox cannot read the bot's database"}, 503
                )
            try:
                return await handler(request)
            except BadBody as exc:
                return JSONResponse({"ok": False, "error": str(exc)}, 400)
            except Refused as exc:
                return JSONResponse({"ok": False, "error": exc.message}, exc.status)

        return endpoint

    def _slack(self, handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if not self._ready:
                return JSONResponse({"ok": False, "error": "service_unavailable"}, 503)
            return await handler(request)

        return endpoint

    async def _page_endpoint(self, _request: Request) -> Response:
        return self._static_file(PAGE)

    async def _static(self, request: Request) -> Response:
        return self._static_file(str(request.path_params["name"]))

    @staticmethod
    def _static_file(name: str) -> Response:
        """A regular file directly inside the static folder, nothing else."""
        missing = JSONResponse({"error": f"no static file {name!r}"}, 404)
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            return missing
        folder = STATIC_DIR.resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file() or path.is_symlink():
            return missing
        kind = CONTENT_TYPES.get(path.suffix.lower()) or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        return FileResponse(
            path,
            media_type=kind,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    async def _file(self, request: Request) -> Response:
        return self.web_api.file(request.path_params["file_id"], request.path_params["name"])

    # --- the page's API --------------------------------------------------------------------

    async def _state(self, request: Request) -> Response:
        user = request.query_params.get("user")
        return JSONResponse(
            state_json(self.workspace, self.clock, user, may_reset=self.plan.may_reset)
        )

    async def _updates(self, request: Request) -> Response:
        raw = request.query_params.get("since", "0")
        try:
            since = int(raw)
        except ValueError:
            raise Refused(400, f"since must be a version number, not {raw!r}") from None
        version = await self.workspace.wait_for_change(since, self.long_poll)
        return JSONResponse({"version": version})

    async def _say(self, request: Request) -> Response:
        body = await json_object(request)
        user = self._user(body)
        channel = _string(body, "channel")
        if not self.workspace.members_see(channel, user):
            raise Refused(404, f"{user} has no conversation {channel}")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise Refused(400, "text is missing")
        await self.bot.say(user, channel, text.strip())
        return _ok()

    async def _action(self, request: Request) -> Response:
        body = await json_object(request)
        user = self._user(body)
        container = body.get("container")
        action = body.get("action")
        state = body.get("state")
        if not isinstance(container, dict):
            raise Refused(400, "container is missing")
        if not isinstance(action, dict):
            raise Refused(400, "action is missing")
        if state is not None and not isinstance(state, dict):
            raise Refused(400, "state must be an object")
        await self.bot.block_action(user, container, action, state)
        return _ok()

    async def _submit(self, request: Request) -> Response:
        body = await json_object(request)
        user = self._user(body)
        values = body.get("values", {})
        if not isinstance(values, dict):
            raise Refused(400, "values must be an object")
        errors = await self.bot.submit(user, _string(body, "view_id"), values)
        return JSONResponse({"ok": True, **({"errors": errors} if errors else {})})

    async def _close(self, request: Request) -> Response:
        body = await json_object(request)
        user = self._user(body)
        everything = body.get("all", False) is True
        await self.bot.close_view(user, _string(body, "view_id"), everything=everything)
        return _ok()

    async def _home(self, request: Request) -> Response:
        user = self._user(await json_object(request))
        await self.bot.home_opened(user)
        return _ok()

    async def _clock(self, request: Request) -> Response:
        jump = (await json_object(request)).get("jump")
        now = self.clock.now()
        if jump == "next_school_morning":
            to = await asyncio.to_thread(
                self.core.sandbox.next_school_morning, self.workspace.info, now
            )
        elif jump == "day":
            to = now + timedelta(days=1)
        elif jump == "hour":
            to = now + timedelta(hours=1)
        else:
            raise Refused(400, f"jump must be one of {', '.join(JUMPS)}")
        await self._jump(to)
        return JSONResponse({"ok": True, "clock": clock_json(self.workspace, self.clock)})

    async def _jump(self, to: datetime) -> None:
        # The clock runs on while the jump is worked out; never ask it to go back.
        await self.time.jump(max(to, self.clock.now() + timedelta(microseconds=1)))
        self.workspace.changed()

    async def _reset(self, _request: Request) -> Response:
        if not self.plan.may_reset:
            return JSONResponse(
                {
                    "ok": False,
                    "error": "Reset is off: this server has real chat credentials, and Reset"
                    " would wipe its database",
                },
                403,
            )
        async with self._resetting:
            await asyncio.to_thread(self.core.sandbox.reset)
            self.core.forget_actors()
            self.clock.reset()
            self.workspace.clear()
            await self._load()
        return _ok()

    def _user(self, body: dict[str, Any]) -> str:
        user = body.get("user")
        if not isinstance(user, str) or not user:
            raise Refused(400, "user is missing")
        if self.workspace.person(user) is None:
            raise Refused(404, f"no person {user} in the sandbox's directory")
        return user


def _string(body: JSON, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(400, f"{name} is missing")
    return value


def _ok() -> Response:
    return JSONResponse({"ok": True})
