"""A small expiring cache of who chat users are, so each request need not re-read the directory."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from bot.types import Actor, ChatUser


class ActorCache:
    """Actors by chat user, each until its own expiry; the least recently used go first."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._entries: OrderedDict[ChatUser, tuple[Actor, datetime]] = OrderedDict()
        self._max = max_entries

    def get(self, chat: ChatUser, now: datetime) -> Actor | None:
        entry = self._entries.get(chat)
        if entry is None:
            return None
        actor, expires = entry
        if now >= expires:
            del self._entries[chat]
            return None
        self._entries.move_to_end(chat)
        return actor

    def put(self, chat: ChatUser, actor: Actor, expires: datetime) -> None:
        self._entries[chat] = (actor, expires)
        self._entries.move_to_end(chat)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
