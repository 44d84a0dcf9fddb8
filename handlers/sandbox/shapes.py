"""The JSON Slack uses for the workspace's things: messages, users, views and files, as the
Web API answers them and as interaction payloads carry them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.services.sandbox import SandboxPerson
from handlers.sandbox.workspace import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    JSON,
    Message,
    StoredFile,
    View,
    Workspace,
)

FILES_PATH = "/sandbox/files"


def file_url(file: StoredFile) -> str:
    """Where the page (and the bot) can fetch the file's bytes, relative to the server."""
    return f"{FILES_PATH}/{file.id}/{quote(file.name, safe='')}"


def file_json(file: StoredFile, base_url: str, shares: JSON | None = None) -> JSON:
    url = base_url + file_url(file)
    found: JSON = {
        "id": file.id,
        "name": file.name,
        "title": file.title,
        "mimetype": file.mimetype,
        "filetype": file.name.rsplit(".", 1)[-1].lower() if "." in file.name else "binary",
        "size": len(file.content),
        "user": BOT_USER_ID,
        "is_external": False,
        "url_private": url,
        "url_private_download": url,
    }
    if shares is not None:
        found["shares"] = shares
    return found


def message_json(
    ws: Workspace, message: Message, base_url: str, *, with_metadata: bool = True
) -> JSON:
    """A message as conversations.history and interaction payloads show it."""
    found: JSON = {"type": "message", "user": message.user, "text": message.text}
    if message.is_bot:
        found.update(bot_id=BOT_ID, app_id=APP_ID)
    if message.blocks is not None:
        found["blocks"] = message.blocks
    found["ts"] = message.ts
    if message.thread_ts is not None:
        found["thread_ts"] = message.thread_ts
    if message.thread_ts is None or message.thread_ts == message.ts:
        replies = [
            m
            for m in ws.in_channel(message.channel)
            if m.thread_ts == message.ts and m.ts != message.ts and m.ephemeral_for is None
        ]
        if replies:
            found.update(thread_ts=message.ts, reply_count=len(replies))
    if with_metadata and message.metadata is not None:
        found["metadata"] = message.metadata
    if message.files:
        found["files"] = [file_json(ws.files[f], base_url) for f in message.files if f in ws.files]
        found["upload"] = True
    if message.edited:
        found["edited"] = {"user": message.user, "ts": message.ts}
    return found


def user_json(ws: Workspace, user_id: str) -> JSON:
    """users.info's `user`: the bot, or a person with their e-mail on the profile."""
    team = ws.info.team_id
    zone = ws.info.zone.key
    if user_id == BOT_USER_ID:
        return {
            "id": BOT_USER_ID,
            "team_id": team,
            "name": "slis",
            "real_name": BOT_NAME,
            "is_bot": True,
            "tz": zone,
            "profile": {"real_name": BOT_NAME, "display_name": BOT_NAME, "bot_id": BOT_ID},
        }
    person = ws.people[user_id]
    return {
        "id": person.user_id,
        "team_id": team,
        "name": handle(person),
        "real_name": person.name,
        "is_bot": False,
        "deleted": False,
        "tz": zone,
        "profile": {
            "email": person.email,
            "real_name": person.name,
            "display_name": person.name,
            "title": person.job_title,
        },
    }


def handle(person: SandboxPerson) -> str:
    """A Slack username for the person: their e-mail's local part."""
    return person.email.split("@", 1)[0] or person.user_id.lower()


def view_json(ws: Workspace, view: View, state: JSON | None = None) -> JSON:
    """The full view object Slack answers with (and sends in payloads)."""
    body = view.body
    return {
        "id": view.id,
        "team_id": ws.info.team_id,
        "type": body.get("type", view.kind),
        "blocks": body.get("blocks") or [],
        "private_metadata": body.get("private_metadata") or "",
        "callback_id": body.get("callback_id") or "",
        "state": state if state is not None else {"values": {}},
        "hash": view.hash,
        "title": body.get("title"),
        "clear_on_close": bool(body.get("clear_on_close")),
        "notify_on_close": bool(body.get("notify_on_close")),
        "close": body.get("close"),
        "submit": body.get("submit"),
        "previous_view_id": view.previous_view_id,
        "root_view_id": view.root_view_id,
        "app_id": APP_ID,
        "external_id": body.get("external_id") or "",
        "app_installed_team_id": ws.info.team_id,
        "bot_id": BOT_ID,
    }


def team_domain(ws: Workspace) -> str:
    """The workspace's subdomain, as Slack would make it from the name."""
    words = "".join(c if c.isalnum() else " " for c in ws.info.name.lower()).split()
    return "-".join(words) or "sandbox"


def user_ref(ws: Workspace, user_id: str) -> JSON:
    """The `user` of an interaction payload."""
    person = ws.people.get(user_id)
    name = handle(person) if person is not None else user_id
    return {"id": user_id, "username": name, "name": name, "team_id": ws.info.team_id}


def team_ref(ws: Workspace) -> JSON:
    return {"id": ws.info.team_id, "domain": team_domain(ws)}


def as_json_object(value: Any) -> JSON | None:
    return value if isinstance(value, dict) else None
