"""What the page shows one person: the state JSON of the sandbox's page contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.ports import MovableClock
from bot.services.sandbox import SandboxPerson
from handlers.sandbox.shapes import file_url, view_json
from handlers.sandbox.workspace import BOT_NAME, BOT_USER_ID, JSON, Message, Workspace


def clock_json(ws: Workspace, clock: MovableClock) -> JSON:
    """The sandbox's time in the workspace's zone, and how far ahead of real time it is."""
    local = clock.now().astimezone(ws.info.zone)
    return {
        "iso": local.isoformat(timespec="seconds"),
        "display": f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()}",
        "zone": ws.info.zone.key,
        "ahead": ahead_words(clock.offset),
    }


def ahead_words(offset: timedelta) -> str:
    """ "2 days, 3 hours ahead of real time"; "" when the clock has not been moved."""
    # To the nearest minute: a jump lands a few milliseconds short of what was asked.
    minutes = round(offset.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if n
    ]
    return ", ".join(parts) + " ahead of real time" if parts else ""


def person_json(person: SandboxPerson) -> JSON:
    return {
        "user_id": person.user_id,
        "name": person.name,
        "email": person.email,
        "job_title": person.job_title,
        "roles": list(person.roles),
    }


def page_message(ws: Workspace, message: Message) -> JSON:
    """A message as the page draws it (times in the workspace's zone)."""
    at = datetime.fromtimestamp(float(message.ts), UTC).astimezone(ws.info.zone)
    files = [ws.files[f] for f in message.files if f in ws.files]
    return {
        "ts": message.ts,
        "channel": message.channel,
        "user": message.user,
        "author": ws.name_of(message.user),
        "is_bot": message.is_bot,
        "text": message.text,
        "blocks": message.blocks or [],
        "thread_ts": message.thread_ts,
        "ephemeral": message.ephemeral_for is not None,
        "edited": message.edited,
        "time": f"{at:%H:%M}",
        "date": f"{at:%a} {at.day} {at:%b}",
        "files": [
            {
                "id": f.id,
                "name": f.name,
                "title": f.title,
                "mimetype": f.mimetype,
                "url": file_url(f),
                "is_image": f.is_image,
                "size": len(f.content),
            }
            for f in files
        ],
    }


def state_json(ws: Workspace, clock: MovableClock, user: str | None, *, may_reset: bool) -> JSON:
    """Everything the page shows `user` (None: no one picked yet)."""
    people = sorted(ws.people.values(), key=lambda p: p.name)
    me = ws.person(user) if user else None
    conversations: list[JSON] = []
    messages: dict[str, list[JSON]] = {}
    home: JSON | None = None
    modal: JSON | None = None
    notices: list[JSON] = []
    if me is not None:
        dm = ws.dm_of(me.user_id)
        conversations.append({"id": dm, "kind": "dm", "name": BOT_NAME})
        channels = sorted(ws.channels.values(), key=lambda c: c.name)
        conversations.extend(
            {"id": c.channel_id, "kind": "channel", "name": c.name} for c in channels
        )
        for conversation in conversations:
            shown = [
                page_message(ws, m)
                for m in ws.in_channel(conversation["id"])
                if m.visible_to(me.user_id)
            ]
            messages[conversation["id"]] = shown
        published = ws.homes.get(me.user_id)
        home = view_json(ws, published) if published is not None else None
        top = ws.top_modal(me.user_id)
        if top is not None:
            modal = {
                "id": top.id,
                "view": view_json(ws, top),
                "errors": dict(top.errors),
                "depth": len(ws.stack(me.user_id)),
            }
        notices = [
            {"id": n.id, "level": n.level, "text": n.text} for n in ws.notices.get(me.user_id, [])
        ]
    workspace: dict[str, Any] = {
        "team_id": ws.info.team_id,
        "name": ws.info.name,
        "bot_user_id": BOT_USER_ID,
        "bot_name": BOT_NAME,
    }
    return {
        "version": ws.version,
        "workspace": workspace,
        "clock": clock_json(ws, clock),
        "may_reset": may_reset,
        "people": [person_json(p) for p in people],
        "me": person_json(me) if me is not None else None,
        "conversations": conversations,
        "messages": messages,
        "home": home,
        "modal": modal,
        "notices": notices,
    }
