"""The Slack adapter: a Bolt app whose listeners come from one registration table."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response

from bot.commands import COMMAND, fault_reply
from bot.config import ConfigError, SlackCredentials, SlackMode
from bot.core import Core
from bot.ports import ChatProfiles
from bot.replies.reminders import CANCEL_ACTION as CANCEL_REMINDER
from bot.replies.support import ACTION_PREFIX as SUPPORT_PREFIX
from bot.services.healthcheck.prompts import START_ACTION as START_HEALTHCHECK
from bot.services.meetings.common import ACTION_PREFIX as MEETING_PREFIX
from bot.types import ChatUser, Context, Paragraph, Platform, Reply
from handlers.slack import render
from handlers.slack.dedupe import dedupe_middleware
from handlers.slack.files import FilesUndelivered, SlackFileDelivery, pointer, undelivered_reply
from handlers.slack.forms import BACK_ACTION
from handlers.slack.modals import ModalHandlers
from handlers.slack.profiles import SlackProfiles, error_code
from handlers.slack.shape import UNREADABLE, readable_request, shape_middleware

log = logging.getLogger(__name__)

ANYTHING = re.compile(".*")
# The core's forms all have callback ids under "slis." (see bot.core.Core.forms).
FORM_CALLBACKS = re.compile(r"^slis\.")
# A support card's buttons: `slis.support.<action>` (see bot.replies.support.LABELS).
SUPPORT_ACTIONS = re.compile(rf"^{re.escape(SUPPORT_PREFIX)}")
# A meeting message's buttons: `slis.meeting.<action>[.<suffix>]` (see bot.services.meetings).
MEETING_ACTIONS = re.compile(rf"^{re.escape(MEETING_PREFIX)}")
# Not `/slis` itself: when a `/slis` answer misses Bolt's 3-second wait for the ack, Bolt
# tries the next matching listener, which must not then answer "I only answer /slis".
OTHER_COMMANDS = re.compile(rf"^(?!{re.escape(COMMAND)}$)")

# Slack waits three seconds for the acknowledgement; leave room for the network.
ACK_BUDGET = 2.5
WORKING = Reply("Working on it…", (Context("Working on it…"),), private=True)
ONLY_SLIS = Reply(
    f"I only answer {COMMAND} — try {COMMAND} help",
    (Paragraph(f"I only answer `{COMMAND}` — try `{COMMAND} help`."),),
    private=True,
)
MENTION_POINTER = Reply(
    f"Hello! Type {COMMAND} help to see what I can do for you.",
    (
        Paragraph(f"Hello! Type `{COMMAND} help` to see what I can do for you."),
        Context("Answers to slash commands are shown only to you."),
    ),
    private=False,
)

# Slack always says who typed a command; a request that does not cannot be answered for them.
NO_USER = Reply(
    "I can't tell who sent that command, so I can't answer it. Please try again.",
    is_error=True,
)

REFUSED_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "not_allowed_token_type"}
)

Kind = Literal["command", "event", "action", "view", "shortcut", "options"]
Listener = Callable[..., Awaitable[None]]
Body = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One Bolt registration: the kind of request, which ones, and the handler that answers."""

    kind: Kind
    matcher: str | re.Pattern[str]
    handler: Listener


def unescape(text: str) -> str:
    """Command text as typed: Slack encodes &, < and > as entities; mentions keep real <...>."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _workspace(body: Body, context: AsyncBoltContext | None = None) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    if not team and context is not None:
        team = context.team_id
    return str(team or body.get("enterprise_id") or "unknown")


def describe(body: Body) -> str:
    """A one-line description of a request for logs: its kind and names, never its content."""
    if "command" in body:
        return f"slash command {body['command']}"
    kind = str(body.get("type") or "request")
    if kind == "event_callback":
        return f"event {(body.get('event') or {}).get('type', '?')}"
    if kind == "block_actions":
        ids = ",".join(str(a.get("action_id")) for a in body.get("actions") or [])
        return f"block_actions {ids}"
    if kind in ("view_submission", "view_closed"):
        return f"{kind} {(body.get('view') or {}).get('callback_id', '?')}"
    if "callback_id" in body:
        return f"{kind} {body['callback_id']}"
    return kind


class SlackHandlers:
    """Each handler acknowledges, parses the payload, identifies the asker, asks the core,
    and renders the answer."""

    def __init__(
        self, core: Core, profiles: ChatProfiles, *, ack_budget: float = ACK_BUDGET
    ) -> None:
        self.core = core
        self.profiles = profiles
        self.ack_budget = ack_budget
        self.modals = ModalHandlers(core, profiles)

    async def slis(
        self,
        ack: AsyncAck,
        command: Body,
        respond: AsyncRespond | None,
        client: AsyncWebClient,
    ) -> None:
        """Answer in the acknowledgement; if the answer is slow, acknowledge at once and send
        the answer to the command's response URL. A reply with files goes to the asker's
        direct messages after the acknowledgement, which says where to find it."""
        user_id = str(command.get("user_id") or "")
        # Slack's ids never hold NUL (which PostgreSQL refuses in a query's text).
        if not user_id or "\x00" in user_id + _workspace(command):
            await ack(**render.message(NO_USER))
            return
        chat = ChatUser(Platform.SLACK, _workspace(command), user_id)
        text = unescape(str(command.get("text") or ""))
        if self.core.router.opens_form(text):
            await self._open_form(ack, command, chat, text, client)
            return
        answer = asyncio.ensure_future(self._answer(chat, text))
        try:
            reply = await asyncio.wait_for(asyncio.shield(answer), self.ack_budget)
        except TimeoutError:
            await ack(**render.message(WORKING))
            reply = await answer
            if respond is None:
                log.warning("a slow %s answer had no response URL to go to", COMMAND)
            else:
                await respond(**render.message(pointer(reply) if reply.files else reply))
        else:
            await ack(**render.message(pointer(reply) if reply.files else reply))
        if reply.files:
            await self._deliver_files(chat.user_id, reply, respond, client)

    async def _open_form(
        self, ack: AsyncAck, command: Body, chat: ChatUser, text: str, client: AsyncWebClient
    ) -> None:
        """A subcommand that opens a form: open it as a modal (Slack wants that within three
        seconds of the command), then acknowledge; say why if it can't be opened."""
        actor = await self.core.identify(chat, self.profiles)
        step = await self.core.open_form(actor, text)
        if isinstance(step, Reply):
            await ack(**render.message(step))
            return
        problem = await self.modals.open(client, str(command.get("trigger_id") or ""), step)
        if problem is None:
            await ack()
        else:
            await ack(**render.message(problem))

    async def _answer(self, chat: ChatUser, text: str) -> Reply:
        actor = await self.core.identify(chat, self.profiles)
        return await self.core.command(actor, text)

    async def _deliver_files(
        self, user_id: str, reply: Reply, respond: AsyncRespond | None, client: AsyncWebClient
    ) -> None:
        """Post a reply with files to the asker's DM; if Slack won't take it, tell them."""
        try:
            await SlackFileDelivery.over(client).deliver(user_id, reply)
            return
        except FilesUndelivered as exc:
            ref = secrets.token_hex(4)
            log.warning("%s files not delivered to %s (ref %s): %s", COMMAND, user_id, ref, exc)
        if respond is None:
            log.warning("no response URL to tell %s about ref %s", user_id, ref)
            return
        await respond(**render.message(undelivered_reply(reply, ref)))

    async def other_command(self, ack: AsyncAck, command: Body) -> None:
        log.info("ignored slash command %s", command.get("command"))
        await ack(**render.message(ONLY_SLIS))

    async def home_opened(
        self, event: Body, body: Body, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("tab") != "home":
            log.debug("app_home_opened on the %s tab: nothing to publish", event.get("tab"))
            return
        user_id = str(event["user"])
        chat = ChatUser(Platform.SLACK, _workspace(body, context), user_id)
        actor = await self.core.identify(chat, self.profiles)
        reply = await self.core.home(actor)
        await client.views_publish(user_id=user_id, view=render.home_view(reply))

    async def mentioned(self, event: Body, client: AsyncWebClient) -> None:
        await client.chat_postMessage(
            channel=str(event["channel"]),
            thread_ts=str(event.get("thread_ts") or event["ts"]),
            text=render.message(MENTION_POINTER)["text"],
            blocks=render.blocks(MENTION_POINTER),
        )

    async def uninstalled(self, body: Body, context: AsyncBoltContext) -> None:
        """The workspace uninstalled the app (Slack has revoked its tokens): stop delivering
        there. Bolt asks no auth.test for this event, whose token is already dead."""
        workspace = _workspace(body, context)
        log.info("workspace %s uninstalled the app", workspace)
        await self.core.workspace_uninstalled(Platform.SLACK, workspace, "app_uninstalled")

    async def tokens_revoked(self, event: Body, body: Body, context: AsyncBoltContext) -> None:
        """Revoked bot tokens count as an uninstall; the bot has no user tokens to forget."""
        workspace = _workspace(body, context)
        tokens = event.get("tokens") or {}
        if not (isinstance(tokens, dict) and tokens.get("bot")):
            log.info("workspace %s revoked user tokens only: the bot holds none", workspace)
            return
        log.info("workspace %s revoked the app's tokens", workspace)
        await self.core.workspace_uninstalled(Platform.SLACK, workspace, "tokens_revoked")

    async def cancel_reminder(
        self, ack: AsyncAck, body: Body, action: Body, respond: AsyncRespond
    ) -> None:
        """A reminder's Cancel button: the same as `/slis remind cancel <id>`; on success the
        message with the button is replaced by the confirmation."""
        await ack()
        value = str(action.get("value") or "").strip()
        if not value.isdigit():
            log.warning("a %s action without a reminder id", CANCEL_REMINDER)
            return
        user = str((body.get("user") or {}).get("id") or "")
        actor = await self.core.identify(
            ChatUser(Platform.SLACK, _workspace(body), user), self.profiles
        )
        reply = await self.core.command(actor, f"remind cancel {value}")
        await respond(replace_original=not reply.is_error, **render.message(reply))

    async def not_yet_handled(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        log.debug("no feature handles %s yet", describe(body))

    async def on_error(
        self,
        error: Exception,
        body: Body,
        request: AsyncBoltRequest,
        response: BoltResponse | None,
    ) -> BoltResponse | None:
        """Log the fault under a short reference and tell the user only that reference."""
        ref = secrets.token_hex(4)
        log.error("Slack %s failed (ref %s)", describe(body or {}), ref, exc_info=error)
        reply = fault_reply(ref)
        if response is not None and "command" in (body or {}):
            return BoltResponse(
                status=200,
                body=json.dumps(render.message(reply)),
                headers={"content-type": "application/json;charset=utf-8"},
            )
        respond = request.context.respond
        if respond is not None:
            try:
                await respond(
                    text=render.message(reply)["text"],
                    blocks=render.blocks(reply),
                    response_type="ephemeral",
                    replace_original=False,
                )
            except Exception as exc:
                log.warning("could not tell the user about ref %s: %s", ref, type(exc).__name__)
        return None


def routes(handlers: SlackHandlers) -> list[Route]:
    """Every Slack request the bot answers, in the order Bolt tries them (first match wins)."""
    return [
        Route("command", COMMAND, handlers.slis),
        Route("command", OTHER_COMMANDS, handlers.other_command),
        Route("event", "app_home_opened", handlers.home_opened),
        Route("event", "app_mention", handlers.mentioned),
        Route("event", "app_uninstalled", handlers.uninstalled),
        Route("event", "tokens_revoked", handlers.tokens_revoked),
        Route("event", ANYTHING, handlers.not_yet_handled),
        Route("action", CANCEL_REMINDER, handlers.cancel_reminder),
        Route("action", START_HEALTHCHECK, handlers.modals.card_action),
        Route("action", BACK_ACTION, handlers.modals.back),
        Route("action", SUPPORT_ACTIONS, handlers.modals.card_action),
        Route("action", MEETING_ACTIONS, handlers.modals.card_action),
        Route("view", FORM_CALLBACKS, handlers.modals.submitted),
        Route("action", ANYTHING, handlers.not_yet_handled),
        Route("view", ANYTHING, handlers.not_yet_handled),
        Route("shortcut", ANYTHING, handlers.not_yet_handled),
        Route("options", ANYTHING, handlers.not_yet_handled),
    ]


def register(app: AsyncApp, table: list[Route]) -> None:
    """Hand each route to Bolt."""
    registrars: dict[Kind, Callable[[Any], Callable[[Listener], Any]]] = {
        "command": app.command,
        "event": app.event,
        "action": app.action,
        "view": app.view,
        "shortcut": app.shortcut,
        "options": app.options,
    }
    for route in table:
        registrars[route.kind](route.matcher)(route.handler)


def build_slack_app(
    core: Core, creds: SlackCredentials, *, ack_budget: float = ACK_BUDGET
) -> AsyncApp:
    """The Bolt app; its Web API client talks to `creds.api_url`.

    Signatures are checked on every HTTP request (Bolt rejects timestamps older than five
    minutes); Socket Mode requests arrive over an authenticated websocket instead.
    """
    # Bolt builds the client from the token (passing our own client makes Bolt warn whenever
    # SLACK_BOT_TOKEN is in the environment); only its endpoint is ours to set.
    app = AsyncApp(
        name="slis",
        token=creds.bot_token,
        signing_secret=creds.signing_secret or "",
        request_verification_enabled=True,
        logger=logging.getLogger("slack_bolt"),
    )
    app.client.base_url = creds.api_url
    handlers = SlackHandlers(core, SlackProfiles(app.client), ack_budget=ack_budget)
    register(app, routes(handlers))
    app.use(shape_middleware)
    app.use(dedupe_middleware(core))
    app.error(handlers.on_error)
    return app


async def confirm_installation(client: AsyncWebClient, core: Core) -> None:
    """At start-up, where a Slack workspace is marked uninstalled: if the configured token
    works for it again (`auth.test`), the app was reinstalled, and the mark is cleared. Asks
    Slack nothing when no workspace is marked; a failure leaves the marks as they are and
    never stops the start (a database that is down is for /readyz to report)."""
    try:
        marked = await asyncio.to_thread(core.workspaces.uninstalled_ids, Platform.SLACK)
    except Exception as exc:
        log.warning(
            "could not read which Slack workspaces uninstalled the app: %s", type(exc).__name__
        )
        return
    if not marked:
        return
    try:
        answer = await client.auth_test()
    except SlackApiError as exc:
        log.warning(
            "Slack workspace(s) %s uninstalled the app and the configured token is refused (%s):"
            " nothing is sent there",
            ", ".join(marked),
            error_code(exc),
        )
        return
    except Exception as exc:
        log.warning(
            "could not ask Slack whether the app is installed again: %s", type(exc).__name__
        )
        return
    team = str(answer.get("team_id") or "")
    if team in marked:
        await asyncio.to_thread(core.workspaces.installed, Platform.SLACK, team)


def http_endpoint(app: AsyncApp) -> Callable[[Request], Awaitable[Response]]:
    """The `POST /slack/events` endpoint for an HTTP-mode app."""
    handler = AsyncSlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        try:
            response = await handler.handle(request)
        except Exception:
            # Bolt reads the body before its signature check; a body it cannot parse (no
            # JSON where JSON is due, parts of the wrong type) was never Slack's.
            log.info("refused a Slack request body that could not be parsed")
            return Response(UNREADABLE, status_code=400)
        if response.status_code >= 500 and not readable_request(
            (await request.body()).decode(errors="replace"), request.headers.get("content-type")
        ):
            log.info("refused a signed Slack request of an unreadable shape")
            return Response(UNREADABLE, status_code=400)
        return response

    return slack_events


async def start_socket_mode(app: AsyncApp, creds: SlackCredentials) -> AsyncSocketModeHandler:
    """Open the Socket Mode websocket (`apps.connections.open`); stop it with stop_socket_mode."""
    if creds.mode is not SlackMode.SOCKET or not creds.app_token:
        raise ValueError("Socket Mode needs an app-level token (SLACK_APP_TOKEN)")
    await _check_app_token(app.client, creds.app_token)
    handler = AsyncSocketModeHandler(app, app_token=creds.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    return handler


async def _check_app_token(client: AsyncWebClient, app_token: str) -> None:
    """Fail the start on a refused app token: the Socket Mode client would retry it for ever."""
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = error_code(exc)
        if error in REFUSED_TOKEN:
            raise ConfigError(f"Slack refused SLACK_APP_TOKEN ({error})") from None
        log.warning("apps.connections.open failed (%s); the Socket Mode client will retry", error)


async def stop_socket_mode(handler: AsyncSocketModeHandler) -> None:
    """Close the Socket Mode websocket and its session."""
    await handler.close_async()  # type: ignore[no-untyped-call]
