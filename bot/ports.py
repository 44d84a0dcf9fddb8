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


class DeliveryFailed(Exception):
    """A platform did not take a message (or could not answer a question about one).

    `retry_after`: the platform is rate limiting; nothing on this platform should be tried
    again for that many seconds. `permanent`: trying again cannot help (unknown channel,
    revoked token...). `maybe_delivered`: the request may have reached the platform (timeout,
    5xx), so ask `already_delivered` before sending again.
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        self.maybe_delivered = maybe_delivered


class Messenger(Protocol):
    """Starts conversations on one platform: what the outbox relay sends through."""

    async def send(
        self,
        to: ConversationRef,
        reply: Reply,
        *,
        key: str | None = None,
        thread: str | None = None,
    ) -> str:
        """Post the reply; returns the platform's message id.

        With a `key` (the outbox idempotency key) the message carries it where
        `already_delivered` can find it. With a `thread` (a message id in `to`) it is posted as
        a reply in that message's thread. Raises DeliveryFailed.
        """
        ...

    async def update(self, to: ConversationRef, message_id: str, reply: Reply) -> None:
        """Replace the content of the message `message_id` in `to` (sent by `send`) with the
        reply; it keeps its key. Raises DeliveryFailed (`permanent` when the message is gone
        or can no longer be edited)."""
        ...

    async def already_delivered(
        self, to: ConversationRef, key: str, *, since: datetime, thread: str | None = None
    ) -> str | None:
        """The id of a message carrying `key` posted to `to` (in the thread of `thread`, if
        given) since `since`, None if none.

        Raises DeliveryFailed when it cannot tell now (`permanent`: it never can).
        """
        ...


class ChatProfiles(Protocol):
    """Reads what a platform knows about a user, to link them to the directory."""

    async def email_of(self, workspace_id: str, user_id: str) -> str | None:
        """The profile e-mail, None if there is none; ProfileUnavailable if it can't say now."""
        ...
