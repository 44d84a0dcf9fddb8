"""The sandbox's Slack Web API: the methods the bot calls, answered in Slack's shapes from the
in-memory workspace, plus the response URLs and upload URLs Slack hands out."""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.config import SandboxPlan, SlackCredentials
from handlers.sandbox.requests import BadBody, first_part, slack_params
from handlers.sandbox.shapes import file_json, message_json, user_json, view_json
from handlers.sandbox.workspace import (
    BOT_ID,
    BOT_USER_ID,
    JSON,
    Message,
    SlackError,
    View,
    Workspace,
)

log = logging.getLogger(__name__)

# Slack's documented limits.
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
HISTORY_LIMIT = 999
DEFAULT_HISTORY_LIMIT = 100

Params = dict[str, Any]
Method = Callable[[Params], JSON]


class SlackWebApi:
    """`POST /sandbox/slack/api/{method}` and the URLs its answers hand out."""

    def __init__(self, workspace: Workspace, plan: SandboxPlan, creds: SlackCredentials) -> None:
        self.ws = workspace
        self.plan = plan
        self._token = creds.bot_token
        self.methods: dict[str, Method] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.delete": self.delete,
            "conversations.open": self.open_conversation,
            "conversations.history": self.history,
            "conversations.replies": self.replies,
            "users.info": self.users_info,
            "users.lookupByEmail": self.lookup_by_email,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.getUploadURLExternal": self.upload_url,
            "files.completeUploadExternal": self.complete_upload,
            "files.info": self.files_info,
        }

    @property
    def upload_base(self) -> str:
        return self.plan.page_url + "/slack/upload/"

    @property
    def respond_base(self) -> str:
        return self.plan.page_url + "/slack/respond/"

    # --- the endpoints ---------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        """One Web API call: check the token, run the method, answer as Slack does."""
        method = request.path_params["method"]
        try:
            params = await slack_params(request)
        except BadBody as exc:
            return _error(str(exc))
        token = _bearer(request) or str(params.pop("token", "") or "")
        if not token:
            return _error("not_authed")
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            return _error("invalid_auth")
        answer = self.methods.get(method)
        if answer is None:
            return _error("unknown_method")
        try:
            return JSONResponse({"ok": True, **answer(params)})
        except SlackError as exc:
            return _error(exc.code)

    async def upload(self, request: Request) -> Response:
        """An upload URL: keeps the raw bytes (or a multipart body's first part)."""
        file_id = request.path_params["file_id"]
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        content = first_part(kind, raw) if kind.startswith("multipart/") else raw
        if not self.ws.receive(file_id, content):
            return PlainTextResponse("unknown upload", 404)
        return PlainTextResponse(f"OK - {len(content)}")

    async def respond(self, request: Request) -> Response:
        """A response URL: a new message, or the message it came from replaced or deleted."""
        try:
            body = await slack_params(request)
            hook = self.ws.use_response_url(request.path_params["token"])
        except BadBody as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, 400)
        except SlackError as exc:
            return JSONResponse({"ok": False, "error": exc.code}, 404)
        try:
            blocks = _blocks(body.get("blocks"), MESSAGE_BLOCK_LIMIT)
        except SlackError as exc:
            return JSONResponse({"ok": False, "error": exc.code}, 400)
        text = _text(body.get("text"))
        original = (
            self.ws.find(hook.channel, hook.message_ts) if hook.message_ts is not None else None
        )
        if _flag(body.get("delete_original")):
            if original is not None:
                self.ws.delete(original)
            return JSONResponse({"ok": True})
        if _flag(body.get("replace_original")) and original is not None:
            original.text = text or ""
            original.blocks = blocks
            self.ws.changed()
            return JSONResponse({"ok": True})
        if text is None and blocks is None:
            return JSONResponse({"ok": False, "error": "no_text"}, 400)
        public = body.get("response_type") == "in_channel"
        self.ws.post(
            hook.channel,
            BOT_USER_ID,
            text or "",
            blocks=blocks,
            thread_ts=_text(body.get("thread_ts")),
            ephemeral_for=None if public else hook.user,
        )
        return JSONResponse({"ok": True})

    def file(self, file_id: str, name: str) -> Response:
        """A shared file's bytes; images inline, anything else as a download."""
        found = self.ws.files.get(file_id)
        if found is None or found.name != name:
            return JSONResponse({"error": "no such file"}, 404)
        disposition = "inline" if found.is_image else "attachment"
        name = quote(found.name, safe="")
        headers = {
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        return Response(found.content, media_type=found.mimetype, headers=headers)

    # --- methods ---------------------------------------------------------------------------

    def auth_test(self, _params: Params) -> JSON:
        return {
            "url": self.plan.page_url + "/",
            "team": self.ws.info.name,
            "user": "slis",
            "team_id": self.ws.info.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def post_message(self, params: Params) -> JSON:
        channel = self.ws.conversation(_required(params, "channel"), user_ids=True)
        text, blocks = _content(params)
        message = self.ws.post(
            channel,
            BOT_USER_ID,
            text,
            blocks=blocks,
            thread_ts=_text(params.get("thread_ts")),
            metadata=_metadata(params.get("metadata")),
        )
        return {
            "channel": channel,
            "ts": message.ts,
            "message": message_json(self.ws, message, self.plan.base_url),
        }

    def update(self, params: Params) -> JSON:
        channel = self.ws.conversation(_required(params, "channel"))
        message = self._message(channel, _required(params, "ts"))
        if not message.is_bot:
            raise SlackError("cant_update_message")
        text = _text(params.get("text"))
        blocks = _blocks(params.get("blocks"), MESSAGE_BLOCK_LIMIT)
        metadata = _metadata(params.get("metadata"))
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks or None
        if metadata is not None:
            message.metadata = metadata
        message.edited = True
        self.ws.changed()
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message_json(self.ws, message, self.plan.base_url),
        }

    def post_ephemeral(self, params: Params) -> JSON:
        channel = self.ws.conversation(_required(params, "channel"), user_ids=True)
        user = _required(params, "user")
        if user not in self.ws.people:
            raise SlackError("user_not_found")
        if not self.ws.members_see(channel, user):
            raise SlackError("user_not_in_channel")
        text, blocks = _content(params)
        message = self.ws.post(
            channel,
            BOT_USER_ID,
            text,
            blocks=blocks,
            thread_ts=_text(params.get("thread_ts")),
            ephemeral_for=user,
        )
        return {"message_ts": message.ts}

    def delete(self, params: Params) -> JSON:
        channel = self.ws.conversation(_required(params, "channel"))
        message = self._message(channel, _required(params, "ts"))
        if not message.is_bot:
            raise SlackError("cant_delete_message")
        self.ws.delete(message)
        return {"channel": channel, "ts": message.ts}

    def open_conversation(self, params: Params) -> JSON:
        channel = _text(params.get("channel"))
        if channel:
            return {"channel": {"id": self.ws.conversation(channel)}}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 1:
            raise SlackError("not_supported")  # group DMs: the bot never opens one
        if users[0] not in self.ws.people:
            raise SlackError("user_not_found")
        dm = self.ws.dm_of(users[0])
        return {"no_op": True, "already_open": True, "channel": {"id": dm}}

    def history(self, params: Params) -> JSON:
        channel = self.ws.conversation(_required(params, "channel"))
        found = [
            m
            for m in self.ws.in_channel(channel)
            if m.ephemeral_for is None and m.thread_ts in (None, m.ts) and _within(m, params)
        ]
        found.reverse()
        return self._page(found, params)

    def replies(self, params: Params) -> JSON:
        channel = self.ws.conversation(_required(params, "channel"))
        parent = self.ws.find(channel, _required(params, "ts"))
        if parent is None or parent.ephemeral_for is not None:
            raise SlackError("thread_not_found")
        thread = [
            m
            for m in self.ws.in_channel(channel)
            if m.ephemeral_for is None
            and m.ts != parent.ts
            and m.thread_ts == parent.ts
            and _within(m, params)
        ]
        return self._page([parent, *thread], params)

    def _page(self, found: list[Message], params: Params) -> JSON:
        limit = _int(params.get("limit"), DEFAULT_HISTORY_LIMIT)
        limit = min(max(limit, 1), HISTORY_LIMIT)
        offset = _cursor(params.get("cursor"))
        page = found[offset : offset + limit]
        with_metadata = _flag(params.get("include_all_metadata"))
        more = offset + limit < len(found)
        return {
            "messages": [
                message_json(self.ws, m, self.plan.base_url, with_metadata=with_metadata)
                for m in page
            ],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": _next_cursor(offset + limit) if more else ""},
        }

    def users_info(self, params: Params) -> JSON:
        user = _required(params, "user", "user_not_found")
        if not self.ws.is_user(user):
            raise SlackError("user_not_found")
        return {"user": user_json(self.ws, user)}

    def lookup_by_email(self, params: Params) -> JSON:
        person = self.ws.person_by_email(_required(params, "email", "users_not_found"))
        if person is None:
            raise SlackError("users_not_found")
        return {"user": user_json(self.ws, person.user_id)}

    def views_open(self, params: Params) -> JSON:
        body = _view(params, "modal")
        user = self.ws.use_trigger(_required(params, "trigger_id", "invalid_trigger_id"))
        return {"view": view_json(self.ws, self.ws.open_modal(user, body))}

    def views_push(self, params: Params) -> JSON:
        body = _view(params, "modal")
        user = self.ws.use_trigger(_required(params, "trigger_id", "invalid_trigger_id"))
        return {"view": view_json(self.ws, self.ws.push_modal(user, body))}

    def views_update(self, params: Params) -> JSON:
        view_id = _text(params.get("view_id"))
        external_id = _text(params.get("external_id"))
        found: View | None = None
        if view_id:
            found = self.ws.view(view_id)
        elif external_id:
            found = self.ws.view_by_external_id(external_id)
        else:
            raise SlackError("invalid_arguments")
        if found is None:
            raise SlackError("not_found")
        body = _view(params, found.kind)
        expected = _text(params.get("hash"))
        if expected and expected != found.hash:
            raise SlackError("hash_conflict")
        return {"view": view_json(self.ws, self.ws.replace_view(found, body))}

    def views_publish(self, params: Params) -> JSON:
        user = _required(params, "user_id", "invalid_arguments")
        if user not in self.ws.people:
            raise SlackError("user_not_found")
        body = _view(params, "home")
        expected = _text(params.get("hash"))
        current = self.ws.homes.get(user)
        if expected and current is not None and expected != current.hash:
            raise SlackError("hash_conflict")
        return {"view": view_json(self.ws, self.ws.publish_home(user, body))}

    def upload_url(self, params: Params) -> JSON:
        name = _text(params.get("filename"))
        length = str(params.get("length") or "")
        if not name or not length.isdigit():
            raise SlackError("invalid_arguments")
        upload = self.ws.issue_upload(name, int(length))
        return {"upload_url": self.upload_base + upload.id, "file_id": upload.id}

    def complete_upload(self, params: Params) -> JSON:
        wanted = params.get("files")
        if not isinstance(wanted, list) or not wanted:
            raise SlackError("invalid_arguments")
        channel_id = _text(params.get("channel_id")) or _text(params.get("channels"))
        channel = None
        if channel_id:
            channel = self.ws.conversation(channel_id.split(",")[0], user_ids=True)
        stored = []
        for item in wanted:
            if not isinstance(item, dict) or not item.get("id"):
                raise SlackError("invalid_arguments")
        for item in wanted:
            stored.append(self.ws.complete(str(item["id"]), _text(item.get("title"))))
        shares: JSON | None = None
        if channel is not None:
            message = self.ws.post(
                channel,
                BOT_USER_ID,
                _text(params.get("initial_comment")) or "",
                thread_ts=_text(params.get("thread_ts")),
                files=tuple(f.id for f in stored),
            )
            kind = "public" if channel in self.ws.channels else "private"
            share = {
                "ts": message.ts,
                "channel_name": self.ws.channel_name(channel),
                "team_id": self.ws.info.team_id,
            }
            shares = {kind: {channel: [share]}}
        return {"files": [file_json(f, self.plan.base_url, shares) for f in stored]}

    def files_info(self, params: Params) -> JSON:
        found = self.ws.files.get(_required(params, "file", "file_not_found"))
        if found is None:
            raise SlackError("file_not_found")
        return {"file": file_json(found, self.plan.base_url)}

    def _message(self, channel: str, ts: str) -> Message:
        found = self.ws.find(channel, ts)
        if found is None or found.ephemeral_for is not None:
            raise SlackError("message_not_found")
        return found


# --- arguments --------------------------------------------------------------------------------


def _error(code: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": code})


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _required(params: Params, name: str, error: str | None = None) -> str:
    value = params.get(name)
    if value is None or not str(value).strip():
        default = "channel_not_found" if name == "channel" else "invalid_arguments"
        raise SlackError(error or default)
    return str(value).strip()


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true")


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _cursor(value: Any) -> int:
    if not value:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(str(value).encode()).decode()
        return max(0, int(decoded.removeprefix("offset:")))
    except ValueError:
        raise SlackError("invalid_cursor") from None


def _next_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _within(message: Message, params: Params) -> bool:
    """Whether the message falls between `oldest` and `latest` (inclusive if asked)."""
    ts = float(message.ts)
    inclusive = _flag(params.get("inclusive"))
    try:
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or "inf")
    except (TypeError, ValueError):
        raise SlackError("invalid_ts_oldest") from None
    if ts < oldest or ts > latest:
        return False
    return inclusive or ts not in (oldest, latest)


def _blocks(value: Any, limit: int) -> list[JSON] | None:
    """Blocks as given (None when absent); raises SlackError(invalid_blocks)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > limit:
        raise SlackError("invalid_blocks")
    for block in value:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackError("invalid_blocks")
    return value


def _content(params: Params) -> tuple[str, list[JSON] | None]:
    """A new message's text and blocks; one of them is needed."""
    text = _text(params.get("text"))
    blocks = _blocks(params.get("blocks"), MESSAGE_BLOCK_LIMIT)
    if not (text or "").strip() and not blocks:
        raise SlackError("no_text")
    return text or "", blocks


def _metadata(value: Any) -> JSON | None:
    if value is None or value == "":
        return None
    if not isinstance(value, dict) or not isinstance(value.get("event_type"), str):
        raise SlackError("invalid_metadata_format")
    return value


def _view(params: Params, kind: str) -> JSON:
    """The `view` argument, which must be a view of `kind` with valid blocks."""
    view = params.get("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments")
    if view.get("type") != kind:
        raise SlackError("invalid_arguments")
    _blocks(view.get("blocks") or [], VIEW_BLOCK_LIMIT)
    return view
