"""Sending bot-initiated messages into Slack, and editing them, for the outbox relay.

Retries belong to the relay, not to slack_sdk: the messenger's client has no retry handlers
(slack_sdk's default retries connection errors once, which could post a message twice when a
connection drops after Slack took the request), and every failure comes back as a
DeliveryFailed that says whether to retry, when, and whether the message may have arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.config import SlackCredentials
from bot.ports import DeliveryFailed
from bot.types import ConversationRef, Platform, Reply
from handlers.slack import render
from handlers.slack.pacing import DEFAULT_RETRY_AFTER, METHOD_LIMITS, TIER_3, Pacer, Paused
from handlers.slack.profiles import error_code

log = logging.getLogger(__name__)

# The message metadata event that carries the outbox key (chat.postMessage `metadata`).
EVENT_TYPE = "slis_outbox"
POST = "chat.postMessage"
UPDATE = "chat.update"
HISTORY = "conversations.history"
REPLIES = "conversations.replies"
OPEN = "conversations.open"
# Slack's tiers for the methods pacing.METHOD_LIMITS does not list (both Tier 3).
LIMITS = {**METHOD_LIMITS, UPDATE: TIER_3, REPLIES: TIER_3}
# Well inside the relay's lease (60 s), so a claimed row is settled long before it expires.
REQUEST_TIMEOUT = 15
HISTORY_PAGE = 200
HISTORY_PAGES = 10  # beyond 2,000 messages since the first attempt, give up looking

# Errors that no retry can fix: the row is parked and the administrators told.
PERMANENT = frozenset(
    {
        "account_inactive",
        "as_user_not_supported",
        "cannot_dm_bot",
        "cant_update_message",
        "channel_not_found",
        "edit_window_closed",
        "ekm_access_denied",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "is_archived",
        "message_not_found",
        "messages_tab_disabled",
        "metadata_must_be_sent_from_app",
        "metadata_too_large",
        "method_deprecated",
        "missing_scope",
        "msg_too_long",
        "no_permission",
        "no_text",
        "not_allowed_token_type",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "restricted_action_non_threadable_channel",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
        "too_many_attachments",
        "user_disabled",
        "user_not_found",
    }
)
# Slack's own words for these: part of the operation may have succeeded.
MAYBE_DONE = frozenset({"fatal_error", "internal_error", "request_timeout", "service_unavailable"})


class SlackDeliveryFailed(DeliveryFailed, SlackApiError):
    """A DeliveryFailed that is still the SlackApiError it came from, for callers that catch
    that (its `response` is Slack's)."""

    def __init__(
        self,
        reason: str,
        response: Any,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_delivered: bool = False,
    ) -> None:
        # Not super(): SlackApiError's constructor wants a message and a response of its own.
        Exception.__init__(self, reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        self.maybe_delivered = maybe_delivered
        self.response = response


class SlackMessenger:
    """Messenger over `chat.postMessage` and `chat.update`, paced per channel and per method.

    A message sent with an outbox key carries it as message metadata
    (`{"event_type": "slis_outbox", "event_payload": {"key": ...}}`), which `chat.update`
    leaves as it is; `already_delivered` looks for it in the conversation's history
    (`conversations.history` with `include_all_metadata`, or `conversations.replies` for a
    reply in a thread). A person is addressed by their user id, which posts to the app's
    direct message with them; their DM channel, which reading, editing and replying in a
    thread need, is found with `conversations.open`. Reading history needs the
    `channels:history`, `groups:history` and `im:history` scopes and `conversations.open`
    needs `im:write`; without them the check says it cannot tell, and the relay sends again
    (at least once rather than not at all).
    """

    def __init__(
        self, client: AsyncWebClient, *, pacer: Pacer | None = None, own_session: bool = False
    ) -> None:
        self._client = client
        self._pacer = pacer or Pacer(method_limits=LIMITS)
        self._dm_channels: dict[str, str] = {}
        # With its own aiohttp session the messenger keeps connections to Slack open, instead
        # of slack_sdk's new session (and TLS handshake) per call; `close` closes it.
        self._own_session = own_session

    @classmethod
    def for_credentials(
        cls, creds: SlackCredentials, *, pacer: Pacer | None = None
    ) -> SlackMessenger:
        """The relay's messenger: its own Web API client, without slack_sdk's retries."""
        client = AsyncWebClient(
            token=creds.bot_token,
            base_url=creds.api_url,
            timeout=REQUEST_TIMEOUT,
            retry_handlers=[],
            logger=logging.getLogger("slack_sdk.web.outbox"),
        )
        return cls(client, pacer=pacer, own_session=True)

    async def close(self) -> None:
        """Close the connections this messenger opened (call on shutdown)."""
        session = self._client.session
        if self._own_session and session is not None and not session.closed:
            await session.close()
        self._client.session = None

    async def send(
        self,
        to: ConversationRef,
        reply: Reply,
        *,
        key: str | None = None,
        thread: str | None = None,
    ) -> str:
        """Post the reply (in the thread of the message `thread`, if given); returns the
        message's `ts`. Raises DeliveryFailed."""
        if to.platform is not Platform.SLACK:
            raise ValueError(f"SlackMessenger cannot send to {to.platform.value}")
        extra: dict[str, Any] = {}
        if key is not None:
            extra["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {"key": key}}
        channel = to.conversation_id
        if thread is not None:
            # The thread's `ts` belongs to the DM channel, not to the user id.
            channel = await self._readable_channel(to)
            extra["thread_ts"] = thread
        response = await self._call(
            POST,
            lambda: self._client.chat_postMessage(
                channel=channel,
                text=render.message(reply)["text"],
                blocks=render.blocks(reply),
                **extra,
            ),
            channel=to.conversation_id,
            posting=True,
        )
        landed = response.get("channel")
        if _is_user(to.conversation_id) and isinstance(landed, str):
            self._dm_channels[to.conversation_id] = landed
        return str(response["ts"])

    async def update(self, to: ConversationRef, message_id: str, reply: Reply) -> None:
        """Replace the message `message_id` (its `ts`) in `to` with the reply (`chat.update`;
        its metadata, and so its outbox key, stays). Raises DeliveryFailed."""
        if to.platform is not Platform.SLACK:
            raise ValueError(f"SlackMessenger cannot update on {to.platform.value}")
        channel = await self._readable_channel(to)
        await self._call(
            UPDATE,
            lambda: self._client.chat_update(
                channel=channel,
                ts=message_id,
                text=render.message(reply)["text"],
                # Always given, even empty: without `blocks` Slack keeps the old ones.
                blocks=render.blocks(reply),
            ),
            channel=to.conversation_id,
        )

    async def already_delivered(
        self, to: ConversationRef, key: str, *, since: datetime, thread: str | None = None
    ) -> str | None:
        """The `ts` of a message carrying `key` in `to` (in the thread of `thread`, if given)
        since `since`, None if there is none.

        Raises DeliveryFailed when Slack cannot be asked now, or (permanent) cannot say.
        """
        channel = await self._readable_channel(to)
        oldest = f"{since.timestamp():.6f}"
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            if thread is None:
                method = HISTORY
                request = partial(
                    self._client.conversations_history,
                    channel=channel,
                    oldest=oldest,
                    limit=HISTORY_PAGE,
                    include_all_metadata=True,
                    cursor=cursor,
                )
            else:
                # Replies in a thread are not in the channel's history.
                method = REPLIES
                request = partial(
                    self._client.conversations_replies,
                    channel=channel,
                    ts=thread,
                    oldest=oldest,
                    limit=HISTORY_PAGE,
                    include_all_metadata=True,
                    cursor=cursor,
                )
            response = await self._call(method, request)
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == EVENT_TYPE and payload.get("key") == key:
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None
        raise DeliveryFailed(
            f"more than {HISTORY_PAGES} pages of history to search", permanent=True
        )

    async def _readable_channel(self, to: ConversationRef) -> str:
        if not _is_user(to.conversation_id):
            return to.conversation_id
        known = self._dm_channels.get(to.conversation_id)
        if known is not None:
            return known
        response = await self._call(
            OPEN, lambda: self._client.conversations_open(users=to.conversation_id)
        )
        channel = str((response.get("channel") or {}).get("id") or "")
        if not channel:
            raise DeliveryFailed("conversations.open returned no channel", permanent=True)
        self._dm_channels[to.conversation_id] = channel
        return channel

    async def _call(
        self,
        method: str,
        request: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        channel: str | None = None,
        posting: bool = False,
    ) -> AsyncSlackResponse:
        """Pace, call, and turn every failure into a DeliveryFailed."""
        if self._own_session and (self._client.session is None or self._client.session.closed):
            # Made here, on the event loop that uses it; the session's timeout is the call's.
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            self._client.session = aiohttp.ClientSession(timeout=timeout)
        try:
            await self._pacer.wait(method, channel)
        except Paused as paused:
            raise DeliveryFailed(str(paused), retry_after=paused.retry_after) from None
        try:
            return await request()
        except SlackApiError as exc:
            raise self._failure(method, exc, posting) from None
        except aiohttp.ClientConnectorError as exc:
            # Never connected: Slack cannot have the message.
            raise DeliveryFailed(f"{method}: cannot connect ({type(exc).__name__})") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(
                f"{method}: {type(exc).__name__}", maybe_delivered=posting
            ) from None

    def _failure(self, method: str, exc: SlackApiError, posting: bool) -> SlackDeliveryFailed:
        status = int(exc.response.status_code)
        code = error_code(exc)
        if status == 429 or code == "ratelimited":
            retry_after = _retry_after(exc.response.headers)
            self._pacer.pause(method, retry_after)
            log.warning("Slack rate limits %s: pausing it for %.0fs", method, retry_after)
            return SlackDeliveryFailed(
                f"{method}: rate limited ({code})", exc.response, retry_after=retry_after
            )
        if status >= 500:
            return SlackDeliveryFailed(f"{method}: {code}", exc.response, maybe_delivered=posting)
        if code in PERMANENT:
            return SlackDeliveryFailed(f"{method}: {code}", exc.response, permanent=True)
        return SlackDeliveryFailed(
            f"{method}: {code}", exc.response, maybe_delivered=posting and code in MAYBE_DONE
        )


def _is_user(conversation_id: str) -> bool:
    """User ids (U…, W… in Enterprise Grid) address the app's direct message with the user."""
    return conversation_id[:1] in ("U", "W")


def _retry_after(headers: Any) -> float:
    try:
        items = headers.items()
    except AttributeError:
        return DEFAULT_RETRY_AFTER
    for name, value in items:
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER
