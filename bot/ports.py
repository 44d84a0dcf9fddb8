"""What the core needs from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from bot.types import ConversationRef, Reply


class Clock(Protocol):
    """The only source of 'now' in the core, so tests can stand on any day."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class Messenger(Protocol):
    """Sends a reply into a conversation on one platform; returns the platform's message id."""

    async def send(self, to: ConversationRef, reply: Reply) -> str: ...


class ChatProfiles(Protocol):
    """Reads what a platform knows about a user, to link them to the directory."""

    async def email_of(self, workspace_id: str, user_id: str) -> str | None:
        """The profile e-mail, None if there is none; ProfileUnavailable if it can't say now."""
        ...
