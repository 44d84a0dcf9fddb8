"""What a person does on the page, sent to the bot as Slack would send it: slash commands,
events and interactions, signed with the signing secret and POSTed to the bot's own
`/slack/events`; the bot's answer is then taken as Slack takes it.

Slack waits three seconds for an acknowledgement. A late one is ignored (the request still
runs to its end, so what the bot later sends to a response URL or the Web API still lands).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.config import SandboxPlan, SlackCredentials
from handlers.sandbox.shapes import message_json, team_domain, team_ref, user_ref, view_json
from handlers.sandbox.workspace import (
    APP_ID,
    BOT_NAME,
    BOT_USER_ID,
    JSON,
    Message,
    SlackError,
    View,
    Workspace,
)

log = logging.getLogger(__name__)

ACK_WAIT = 3.0
# A request the bot is still answering after Slack gave up on it may run on this long.
REQUEST_TIMEOUT = 120.0
COMMAND = "/slis"
FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
# Slack's legacy verification token; Bolt checks signatures, not this.
VERIFICATION_TOKEN = "sandbox-verification-token"  # noqa: S105 (not a secret)
TROUBLE = "We had some trouble connecting. Try again?"
MENTION = f"<@{BOT_USER_ID}>"


def not_a_command(command: str) -> str:
    return (
        f"{command} is not a valid command. In Slack, all messages that start with the"
        ' "/" character are interpreted as commands.'
    )


def command_failed(command: str, error: str) -> str:
    return f'{command} failed with the error "{error}"'


def escape(text: str) -> str:
    """Text as Slack sends it: &, < and > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def typed_message(text: str) -> str:
    """A message as Slack stores what was typed: escaped, the bot's @-mention made a mention."""
    escaped = escape(text)
    escaped = escaped.replace(escape(MENTION), MENTION)
    return escaped.replace(f"@{BOT_NAME}", MENTION)


class Refused(Exception):
    """A page request that cannot be carried out: HTTP `status` and what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Ack:
    """The bot's answer to a request: HTTP status (0: no connection) and body."""

    status: int
    body: bytes
    content_type: str = ""

    def json(self) -> JSON | None:
        """The body as a JSON object, None when it is empty or not an object."""
        if not self.body.strip():
            return None
        try:
            found = json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return found if isinstance(found, dict) else None


class BotRequests:
    """Sends page actions to the bot as signed Slack requests and applies its answers."""

    def __init__(
        self,
        workspace: Workspace,
        plan: SandboxPlan,
        creds: SlackCredentials,
        *,
        ack_wait: float = ACK_WAIT,
    ) -> None:
        self.ws = workspace
        self.plan = plan
        self.ack_wait = ack_wait
        self.events_url = plan.base_url + "/slack/events"
        self._verifier = SignatureVerifier(creds.signing_secret or "")
        self._client: httpx.AsyncClient | None = None
        self._running: set[asyncio.Task[Ack]] = set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT, trust_env=False)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- sending ---------------------------------------------------------------------------

    async def send(self, body: str, content_type: str) -> Ack | None:
        """POST a signed request; the bot's answer, or None if it took longer than Slack waits."""
        task = asyncio.ensure_future(self._post(body, content_type))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.ack_wait)
        except TimeoutError:
            log.info("the bot did not answer within %.1fs", self.ack_wait)
            return None

    async def _post(self, body: str, content_type: str) -> Ack:
        if self._client is None:
            raise RuntimeError("the sandbox has not started")
        # Bolt checks the timestamp against real time, not the sandbox's clock.
        timestamp = str(int(time.time()))
        signature = self._verifier.generate_signature(timestamp=timestamp, body=body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        }
        try:
            response = await self._client.post(self.events_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("could not reach the bot at %s: %s", self.events_url, type(exc).__name__)
            return Ack(0, b"")
        return Ack(response.status_code, response.content, response.headers.get("content-type", ""))

    async def _interaction(self, payload: JSON) -> Ack | None:
        return await self.send(urlencode({"payload": json.dumps(payload)}), FORM)

    async def _event(self, user: str, event: JSON) -> Ack | None:
        team = self.ws.info.team_id
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": team,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev0SB" + secrets.token_hex(8).upper(),
            "event_time": int(self.ws.clock.now().timestamp()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_hex(16),
        }
        ack = await self.send(json.dumps(envelope), JSON_TYPE)
        if ack is not None and ack.status != 200:
            log.warning("the bot answered a %s event with HTTP %s", event["type"], ack.status)
            self.ws.notify(user, TROUBLE)
        return ack

    # --- what the page asks ----------------------------------------------------------------

    async def say(self, user: str, channel: str, text: str) -> None:
        """Something typed in the message box: a slash command, or a message."""
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            if command != COMMAND:
                self.ws.notify(user, not_a_command(command))
                return
            await self.slash_command(user, channel, command, rest.strip())
            return
        await self.message(user, channel, text)

    async def slash_command(self, user: str, channel: str, command: str, text: str) -> None:
        """A slash command, and its acknowledgement shown as Slack shows it."""
        token = self.ws.issue_response_url(user, channel, None)
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.ws.info.team_id,
            "team_domain": team_domain(self.ws),
            "channel_id": channel,
            "channel_name": self.ws.channel_name(channel),
            "user_id": user,
            "user_name": str(user_ref(self.ws, user)["name"]),
            "command": command,
            "text": escape(text),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.plan.page_url + "/slack/respond/" + token,
            "trigger_id": self.ws.issue_trigger(user),
        }
        ack = await self.send(urlencode(form), FORM)
        if ack is None:
            self.ws.notify(user, command_failed(command, "operation_timeout"))
            return
        if ack.status != 200:
            self.ws.notify(user, command_failed(command, "dispatch_failed"))
            return
        self.show_command_answer(user, channel, f"{command} {text}".strip(), ack)

    def show_command_answer(self, user: str, channel: str, typed: str, ack: Ack) -> None:
        """A slash command's acknowledgement as Slack shows it: a message only for the person,
        or (in_channel) for everyone, after the command as they typed it; nothing if empty."""
        answer = ack.json()
        if answer is None:
            plain = ack.body.decode("utf-8", "replace").strip()
            answer = {"text": plain} if plain else {}
        text = str(answer.get("text") or "")
        blocks = answer.get("blocks")
        blocks = blocks if isinstance(blocks, list) and blocks else None
        if not text and blocks is None:
            return
        if answer.get("response_type") == "in_channel":
            self.ws.post(channel, user, escape(typed))
            self.ws.post(channel, BOT_USER_ID, text, blocks=blocks)
        else:
            self.ws.post(channel, BOT_USER_ID, text, blocks=blocks, ephemeral_for=user)

    async def message(self, user: str, channel: str, text: str) -> Message:
        """A message from the person, kept and sent to the bot as a `message` event (and an
        `app_mention` when it names the bot in a channel)."""
        typed = typed_message(text)
        message = self.ws.post(channel, user, typed)
        is_channel = channel in self.ws.channels
        event: JSON = {
            "type": "message",
            "client_msg_id": str(uuid.uuid4()),
            "channel": channel,
            "user": user,
            "text": typed,
            "ts": message.ts,
            "event_ts": message.ts,
            "team": self.ws.info.team_id,
            "channel_type": "channel" if is_channel else "im",
            "blocks": [_rich_text(typed)],
        }
        await self._event(user, event)
        if is_channel and MENTION in typed:
            mention = {k: v for k, v in event.items() if k not in ("channel_type",)}
            await self._event(user, {**mention, "type": "app_mention"})
        return message

    async def home_opened(self, user: str) -> None:
        """The person opened the bot's Home tab."""
        event: JSON = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.ws.dm_of(user),
            "tab": "home",
            "event_ts": f"{self.ws.clock.now().timestamp():.6f}",
        }
        home = self.ws.homes.get(user)
        if home is not None:
            event["view"] = view_json(self.ws, home)
        await self._event(user, event)

    async def block_action(
        self, user: str, container: JSON, action: JSON, state: JSON | None
    ) -> None:
        """A button, menu or picker used on a message or in a view."""
        action_id = action.get("action_id")
        if not isinstance(action_id, str) or not action_id:
            raise Refused(400, "the action has no action_id")
        pressed: JSON = {
            **{k: v for k, v in action.items() if v is not None},
            "action_ts": f"{self.ws.clock.now().timestamp():.6f}",
        }
        pressed.setdefault("block_id", "")
        pressed.setdefault("type", "button")
        payload: JSON = {
            "type": "block_actions",
            "user": user_ref(self.ws, user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.ws.issue_trigger(user),
            "team": team_ref(self.ws),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [pressed],
        }
        kind = container.get("type")
        if kind == "message":
            fields, blocks = self._on_message(user, container)
            payload.update(fields)
        elif kind == "view":
            view = self._own_view(user, container.get("view_id"))
            values = (state or {}).get("values") if isinstance(state, dict) else None
            state_json = {"values": values if isinstance(values, dict) else {}}
            payload.update(
                container={"type": "view", "view_id": view.id},
                view=view_json(self.ws, view, state_json),
            )
            blocks = view.body.get("blocks") or []
        else:
            raise Refused(400, "container.type must be message or view")
        _fill_in(pressed, blocks)
        ack = await self._interaction(payload)
        if ack is None or ack.status != 200:
            self.ws.notify(user, TROUBLE)

    def _on_message(self, user: str, container: JSON) -> tuple[JSON, list[JSON]]:
        """The payload's fields for an action on a message, and the message's blocks."""
        channel = str(container.get("channel") or container.get("channel_id") or "")
        ts = str(container.get("ts") or container.get("message_ts") or "")
        message = self.ws.find(channel, ts)
        if message is None or not self.ws.members_see(channel, user):
            raise Refused(404, f"no message {ts} in {channel} for {user}")
        if not message.visible_to(user):
            raise Refused(404, f"no message {ts} in {channel} for {user}")
        token = self.ws.issue_response_url(user, channel, message.ts)
        ephemeral = message.ephemeral_for is not None
        found: JSON = {
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            },
            "channel": {"id": channel, "name": self.ws.channel_name(channel)},
            "state": {"values": {}},
            "response_url": self.plan.page_url + "/slack/respond/" + token,
        }
        if not ephemeral:
            found["message"] = message_json(self.ws, message, self.plan.base_url)
        return found, message.blocks or []

    def _own_view(self, user: str, view_id: Any) -> View:
        view = self.ws.view(str(view_id or ""))
        if view is None or view.user != user:
            raise Refused(404, f"no view {view_id} open for {user}")
        return view

    async def submit(self, user: str, view_id: str, values: JSON) -> dict[str, str]:
        """A modal's submit button; the errors the bot put against its fields, if any."""
        view = self._own_view(user, view_id)
        if view.kind != "modal" or self.ws.top_modal(user) is not view:
            raise Refused(409, f"view {view_id} is not the modal on top")
        payload: JSON = {
            "type": "view_submission",
            "team": team_ref(self.ws),
            "user": user_ref(self.ws, user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.ws.issue_trigger(user),
            "view": view_json(self.ws, view, {"values": values}),
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        ack = await self._interaction(payload)
        if ack is None or ack.status != 200:
            self.ws.notify(user, TROUBLE)
            return {}
        return self.apply_submission_ack(user, view, ack)

    def apply_submission_ack(self, user: str, view: View, ack: Ack) -> dict[str, str]:
        """A view_submission's acknowledgement as Slack takes it: errors kept against their
        blocks (and returned), the view updated, a view pushed, every view cleared, or (empty)
        the submitted view closed."""
        answer = ack.json()
        if answer is None:
            self.ws.close_view(view)
            return {}
        action = answer.get("response_action")
        new_view = answer.get("view")
        if action == "errors":
            errors = answer.get("errors")
            shown = {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}
            self.ws.set_errors(view, shown)
            return shown
        if action == "update" and isinstance(new_view, dict):
            self.ws.replace_view(view, new_view)
        elif action == "push" and isinstance(new_view, dict):
            try:
                self.ws.push_modal(user, new_view)
            except SlackError:  # the stack is full: Slack shows the same trouble
                self.ws.notify(user, TROUBLE)
        elif action == "clear":
            self.ws.close_all(user)
        else:
            self.ws.close_view(view)
        return {}

    async def close_view(self, user: str, view_id: str, *, everything: bool) -> None:
        """The modal's close button (or the whole stack closed); `view_closed` for the views
        that asked for it."""
        view = self._own_view(user, view_id)
        if view.kind != "modal":
            raise Refused(409, f"view {view_id} is not a modal")
        closed = self.ws.close_all(user) if everything else self.ws.close_view(view)
        for shut in closed:
            if not shut.notify_on_close:
                continue
            payload: JSON = {
                "type": "view_closed",
                "team": team_ref(self.ws),
                "user": user_ref(self.ws, user),
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "view": view_json(self.ws, shut),
                "is_cleared": everything,
                "enterprise": None,
                "is_enterprise_install": False,
            }
            await self._interaction(payload)


def _rich_text(text: str) -> JSON:
    return {
        "type": "rich_text",
        "block_id": secrets.token_hex(3),
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }


def _fill_in(pressed: JSON, blocks: Any) -> None:
    """Give the action what Slack takes from its element (a button's text), found in the
    blocks it was used in."""
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict) or block.get("block_id") != pressed.get("block_id"):
            continue
        elements = block.get("elements") or ([block["accessory"]] if "accessory" in block else [])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == pressed["action_id"]:
                if "text" in element:
                    pressed.setdefault("text", element["text"])
                return
