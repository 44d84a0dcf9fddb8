"""Sending bot-initiated messages into Slack, and editing them, for the outbox relay.

Retries belong to the relay, not to slack_sdk: the messenger's client has no retry handlers
(slack_sdk's default retries connection errors once, which could post a message twice when a
connection drops after Slack took the request), and every failure comes back as a
DeliveryFailed that says whether to retry, when, and whether the message may have arrived.

A reply with files (a meeting's .ics invitation) is uploaded into the person's DM the way
slack_sdk's `files_upload_v2` does it, one step at a time so that each step is paced and its
failure told apart: `files.getUploadURLExternal` per file, a POST of the bytes to the upload
URL, then one `files.completeUploadExternal` that shares them all with the reply's text as the
comment. Only a failure once that last call may have reached Slack leaves the files possibly
delivered. Needs the `files:write` scope.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackCredentials
from bot.ports import DeliveryFailed
from bot.types import Attachment, ConversationRef, Platform, Reply
from handlers.slack import render
from handlers.slack.pacing import (
    DEFAULT_RETRY_AFTER,
    METHOD_LIMITS,
    TIER_3,
    TIER_4,
    Pacer,
    Paused,
)
from handlers.slack.profiles import error_code

log = logging.getLogger(__name__)

# The message metadata event that carries the outbox key (chat.postMessage `metadata`).
EVENT_TYPE = "slis_outbox"
POST = "chat.postMessage"
UPDATE = "chat.update"
HISTORY = "conversations.history"
REPLIES = "conversations.replies"
OPEN = "conversations.open"
UPLOAD_URL = "files.getUploadURLExternal"
UPLOAD = "upload"  # the POST of a file's bytes to the URL files.getUploadURLExternal gave
COMPLETE = "files.completeUploadExternal"
# Slack's tiers for the methods pacing.METHOD_LIMITS does not list.
LIMITS = {**METHOD_LIMITS, UPDATE: TIER_3, REPLIES: TIER_3, UPLOAD_URL: TIER_4, COMPLETE: TIER_4}
# What a message id stored for a file share looks like when Slack's answer has no ts for it.
FILE_MESSAGE_PREFIX = "file:"
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
        "file_uploads_disabled",
        "file_uploads_except_images_disabled",
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
# Slack's answers for a token that will never work again: the messenger drops it.
TOKEN_GONE = frozenset({"token_revoked", "account_inactive"})
# Why a messenger whose token was dropped refuses to call Slack.
UNINSTALLED_REFUSAL = "the workspace uninstalled the app: its bot token is no longer used"
# Slack's own words for these: part of the operation may have succeeded.
MAYBE_DONE = frozenset({"fatal_error", "internal_error", "request_timeout", "service_unavailable"})
# Answers of the upload host that no retry can fix (the file is too large). Others (an upload
# URL that expired, say) may pass on a retry, which asks for a new URL.
UPLOAD_PERMANENT = frozenset({413})

T = TypeVar("T")


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

    A reply with files is shared into the DM channel with its text as the comment. A file
    share carries no metadata, so its outbox key cannot travel with it: `already_delivered`
    recognises it instead as a message since `since`, not from the person, whose files have
    exactly the reply's file names and whose text is the reply's text. Two shares that alike in
    the same window would be taken for one another, so the replies that carry files should say
    in their text what they are for (which meeting, which time). Files Slack hides from history
    (a workspace over its plan's limits) show no name: the check finds nothing and the files
    are sent again, at least once rather than not at all.

    The bot is installed in one workspace, whose bot token this messenger holds. Once that
    workspace uninstalls the app (`workspace_uninstalled`, or Slack answering that the token is
    revoked) the token is dropped from the client and every call fails, permanently, with
    UNINSTALLED_REFUSAL; a new token (a reinstall) comes with a new configuration and a restart.
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
        self._dropped = False

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

    @property
    def token_dropped(self) -> bool:
        return self._dropped

    def workspace_uninstalled(self, platform: Platform, workspace_id: str) -> None:
        """A workspace uninstalled the app (the core's `on_uninstall` listener): a Slack one
        can only be the workspace of this messenger's token, which is dropped."""
        if platform is Platform.SLACK:
            self.drop_token()

    def drop_token(self) -> None:
        """Forget the bot token: nothing more is sent with it in this process."""
        if not self._dropped:
            log.warning("Slack bot token dropped: %s", UNINSTALLED_REFUSAL)
        self._dropped = True
        self._client.token = None

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
        message's `ts`. A reply with files is a file share instead (see `_share`). Raises
        DeliveryFailed."""
        if to.platform is not Platform.SLACK:
            raise ValueError(f"SlackMessenger cannot send to {to.platform.value}")
        if reply.files:
            return await self._share(to, reply, thread)
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
        if reply.files:
            # The outbox never asks for it (`enqueue` refuses an edit with files): a bug.
            raise DeliveryFailed(
                "chat.update cannot carry files: a reply with files is sent as a new message",
                permanent=True,
            )
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
        self,
        to: ConversationRef,
        key: str,
        *,
        since: datetime,
        thread: str | None = None,
        files: Sequence[str] = (),
        comment: str | None = None,
    ) -> str | None:
        """The `ts` of a message carrying `key` in `to` (in the thread of `thread`, if given)
        since `since`, None if there is none.

        With `files` (the reply's file names) it looks instead for a file share from the bot
        with exactly those files and, if `comment` is given, that text (see the class).
        Raises DeliveryFailed when Slack cannot be asked now, or (permanent) cannot say.
        """
        if files:
            matches = partial(_is_share, person=to.conversation_id, files=files, comment=comment)
        else:
            matches = partial(_carries_key, key=key)
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
                if isinstance(message, Mapping) and matches(message):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None
        raise DeliveryFailed(
            f"more than {HISTORY_PAGES} pages of history to search", permanent=True
        )

    async def _share(self, to: ConversationRef, reply: Reply, thread: str | None) -> str:
        """Upload the reply's files and share them into `to` (its DM channel for a person),
        with the reply's text as the comment; returns the share's `ts` when Slack's answer
        gives it, else FILE_MESSAGE_PREFIX and the first file's id."""
        channel = await self._readable_channel(to)
        uploaded: list[dict[str, str | None]] = []
        for attachment in reply.files:
            file_id = await self._upload(attachment)
            uploaded.append({"id": file_id, "title": attachment.title})
        extra: dict[str, Any] = {}
        if thread is not None:
            extra["thread_ts"] = thread
        response = await self._call(
            COMPLETE,
            lambda: self._client.files_completeUploadExternal(
                files=uploaded, channel_id=channel, initial_comment=reply.text, **extra
            ),
            channel=to.conversation_id,
            posting=True,
        )
        shared = [f for f in response.get("files") or [] if isinstance(f, Mapping)]
        ts = _share_ts(shared[0] if shared else {}, channel)
        if ts is not None:
            return ts
        return FILE_MESSAGE_PREFIX + str((shared or uploaded)[0].get("id"))

    async def _upload(self, attachment: Attachment) -> str:
        """Put one file on Slack, not yet shared anywhere; returns its id."""
        content = attachment.content
        issued = await self._call(
            UPLOAD_URL,
            lambda: self._client.files_getUploadURLExternal(
                filename=attachment.filename, length=len(content)
            ),
        )
        file_id = str(issued.get("file_id") or "")
        url = str(issued.get("upload_url") or "")
        if not file_id or not url:
            raise DeliveryFailed(f"{UPLOAD_URL} returned no upload URL")
        await self._call(UPLOAD, partial(self._post_bytes, url, content))
        return file_id

    async def _post_bytes(self, url: str, content: bytes) -> None:
        """POST a file's bytes to its upload URL (pre-signed: no token goes with them)."""
        ssl = True if self._client.ssl is None else self._client.ssl  # None: verify as usual
        async with (
            self._session() as session,
            session.post(url, data=content, proxy=self._client.proxy, ssl=ssl) as response,
        ):
            if response.status == 200:
                return
            status = response.status
            headers = response.headers
        if status == 429:
            retry_after = _retry_after(headers)
            self._pacer.pause(UPLOAD, retry_after)
            raise DeliveryFailed(f"{UPLOAD}: rate limited (HTTP 429)", retry_after=retry_after)
        raise DeliveryFailed(f"{UPLOAD}: HTTP {status}", permanent=status in UPLOAD_PERMANENT)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The messenger's own session, or one just for this request."""
        session = self._client.session
        if session is not None and not session.closed:
            yield session
            return
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as fresh:
            yield fresh

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
        request: Callable[[], Awaitable[T]],
        *,
        channel: str | None = None,
        posting: bool = False,
    ) -> T:
        """Pace, call, and turn every failure into a DeliveryFailed."""
        if self._dropped:
            raise DeliveryFailed(f"{method}: {UNINSTALLED_REFUSAL}", permanent=True)
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
        if code in TOKEN_GONE:
            self.drop_token()
        if code in PERMANENT:
            return SlackDeliveryFailed(f"{method}: {code}", exc.response, permanent=True)
        return SlackDeliveryFailed(
            f"{method}: {code}", exc.response, maybe_delivered=posting and code in MAYBE_DONE
        )


def _carries_key(message: Mapping[str, Any], *, key: str) -> bool:
    """Whether the message's metadata carries the outbox key."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == EVENT_TYPE and payload.get("key") == key)


def _is_share(
    message: Mapping[str, Any], *, person: str, files: Sequence[str], comment: str | None
) -> bool:
    """Whether the message is the bot's share of exactly these files with this comment."""
    if not message.get("bot_id") and message.get("user") == person:
        return False  # the person sent it: in a DM, anyone else is the bot
    shared = [f.get("name") for f in message.get("files") or [] if isinstance(f, Mapping)]
    names = [name for name in shared if isinstance(name, str)]
    if len(names) != len(shared) or sorted(names) != sorted(files):
        return False
    if comment is None:
        return True
    # Slack escapes &, < and > in a message's text.
    return html.unescape(str(message.get("text") or "")).strip() == comment.strip()


def _share_ts(file: Mapping[str, Any], channel: str) -> str | None:
    """The ts of the file's share into `channel`, if the file object says."""
    shares = file.get("shares") or {}
    for kind in ("private", "public"):
        found = (shares.get(kind) or {}).get(channel) or []
        if found and isinstance(found[0], Mapping) and found[0].get("ts"):
            return str(found[0]["ts"])
    return None


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
