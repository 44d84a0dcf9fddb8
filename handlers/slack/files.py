"""Delivering a reply with files (charts, exports) to the asker's direct message with the bot.

Files hold data only the asker may see, so they never go into the channel a command was typed
in: the DM is opened with `conversations.open`, the reply is posted there with
`chat.postMessage`, and the files follow with slack_sdk's `files_upload_v2`
(`files.getUploadURLExternal`, a POST of the bytes to the upload URL, then
`files.completeUploadExternal` into the DM). Needs the `im:write`, `chat:write` and
`files:write` scopes.

Unlike the outbox relay's messenger, this client retries by itself (slack_sdk's retry
handlers, at most MAX_RETRIES times per call): the asker is waiting for the answer and no
relay will try again later. A 429 is always safe to retry; after a 5xx a retried post may,
rarely, show twice, which beats an answer that never comes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.types import Context, Paragraph, Reply
from handlers.slack import render
from handlers.slack.profiles import error_code

log = logging.getLogger(__name__)

OPEN = "conversations.open"
POST = "chat.postMessage"
UPLOAD = "files_upload_v2"
MAX_RETRIES = 3
# Slack may ask for a long pause; the asker is waiting, so beyond this we give up and say so.
MAX_RATE_LIMIT_WAIT = 30.0
DEFAULT_RATE_LIMIT_WAIT = 1.0
REQUEST_TIMEOUT = 30
# What a failed call raises once the retries are spent; anything else is a bug, not Slack.
FAILURES = (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError)
RETRY_INTERVAL: RetryIntervalCalculator = BackoffRetryIntervalCalculator(backoff_factor=0.5)


class FilesUndelivered(Exception):
    """The reply or its files did not reach the asker's DM, even after retries.

    `reason` names the Slack method and its error, never the content; `message_posted` says
    whether the reply's text reached the DM before the files failed.
    """

    def __init__(self, reason: str, *, message_posted: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message_posted = message_posted


@dataclass(frozen=True)
class Delivered:
    """Where a reply with files landed: the DM channel, the message's ts and the file ids."""

    channel_id: str
    ts: str
    file_ids: tuple[str, ...]


class BoundedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 retry, but waiting exactly Retry-After, and not at all when Slack asks
    for longer than `max_wait` seconds."""

    def __init__(
        self, max_retry_count: int = MAX_RETRIES, *, max_wait: float = MAX_RATE_LIMIT_WAIT
    ) -> None:
        super().__init__(max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response) <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = _retry_after(response) if response is not None else DEFAULT_RATE_LIMIT_WAIT
        log.info("Slack rate limits a file delivery call: retrying in %.0fs", wait)
        await asyncio.sleep(wait)
        state.increment_current_attempt()


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) and values else values
            try:
                return max(0.0, float(str(value)))
            except (TypeError, ValueError):
                break
    return DEFAULT_RATE_LIMIT_WAIT


def retry_handlers(
    *, retries: int = MAX_RETRIES, interval: RetryIntervalCalculator | None = None
) -> list[AsyncRetryHandler]:
    """Retries for connection drops, 429s (after Retry-After) and 500/503s (with backoff)."""
    backoff = interval or RETRY_INTERVAL
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        BoundedRateLimitRetry(retries),
        AsyncServerErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
    ]


def retrying_client(
    client: AsyncWebClient, handlers: list[AsyncRetryHandler] | None = None
) -> AsyncWebClient:
    """A client with `client`'s token and endpoint that retries with `handlers`."""
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=REQUEST_TIMEOUT,
        ssl=client.ssl,
        proxy=client.proxy,
        trust_env_in_session=client.trust_env_in_session,
        headers=dict(client.headers),
        team_id=client.default_params.get("team_id"),
        logger=logging.getLogger("slack_sdk.web.files"),
        retry_handlers=handlers if handlers is not None else retry_handlers(),
    )


class SlackFileDelivery:
    """Posts a reply and uploads its files into a person's DM with the bot."""

    def __init__(self, client: AsyncWebClient) -> None:
        # Give it a client with retry handlers (see `over`); it does not retry by itself.
        self._client = client

    @classmethod
    def over(cls, client: AsyncWebClient) -> SlackFileDelivery:
        """A delivery through a retrying copy of `client` (e.g. the one Bolt gives a listener)."""
        return cls(retrying_client(client))

    async def deliver(self, user_id: str, reply: Reply) -> Delivered:
        """Open the DM with `user_id`, post the reply there, then upload its files.

        Raises FilesUndelivered when Slack refuses or cannot be reached after the retries.
        """
        channel = await self._open(user_id)
        ts = await self._post(channel, reply)
        file_ids = await self._upload(channel, reply) if reply.files else ()
        log.info("delivered a reply with %d file(s) to %s", len(file_ids), channel)
        return Delivered(channel, ts, file_ids)

    async def _open(self, user_id: str) -> str:
        try:
            response = await self._client.conversations_open(users=user_id)
        except FAILURES as exc:
            raise _undelivered(OPEN, exc) from None
        channel = (response.get("channel") or {}).get("id")
        if not isinstance(channel, str) or not channel:
            raise FilesUndelivered(f"{OPEN}: no channel in the answer")
        return channel

    async def _post(self, channel: str, reply: Reply) -> str:
        try:
            response = await self._client.chat_postMessage(
                channel=channel, text=render.message(reply)["text"], blocks=render.blocks(reply)
            )
        except FAILURES as exc:
            raise _undelivered(POST, exc) from None
        return str(response.get("ts") or "")

    async def _upload(self, channel: str, reply: Reply) -> tuple[str, ...]:
        uploads: list[dict[str, Any]] = []
        for attachment in reply.files:
            upload: dict[str, Any] = {
                "content": attachment.content,
                "filename": attachment.filename,
                "title": attachment.title,
            }
            if attachment.media_type.startswith("image/"):
                # What a screen reader says for a chart.
                upload["alt_txt"] = attachment.title
            uploads.append(upload)
        try:
            response = await self._client.files_upload_v2(file_uploads=uploads, channel=channel)
        except FAILURES as exc:
            raise _undelivered(UPLOAD, exc, message_posted=True) from None
        files = response.get("files") or []
        return tuple(str(f.get("id")) for f in files if isinstance(f, dict))


def _undelivered(step: str, exc: Exception, *, message_posted: bool = False) -> FilesUndelivered:
    """A FilesUndelivered naming the failed method and Slack's error, never the content."""
    if isinstance(exc, SlackApiError):
        # files_upload_v2 makes several calls; the response says which one failed.
        method = str(getattr(exc.response, "api_url", "") or step).rstrip("/").rsplit("/", 1)[-1]
        reason = f"{method}: {error_code(exc)}"
    elif isinstance(exc, SlackRequestError):
        # slack_sdk's message quotes the upload host's answer and the file's name; leave both.
        reason = f"{step}: a file was too large or the upload URL did not take it"
    else:
        reason = f"{step}: {type(exc).__name__}"
    return FilesUndelivered(reason, message_posted=message_posted)


def pointer(reply: Reply) -> Reply:
    """The private acknowledgement of a reply with files: where to find it."""
    names = ", ".join(a.filename for a in reply.files)
    text = f"{reply.text}: on its way to your direct messages with me."
    return Reply(
        text,
        (
            Paragraph(f"{reply.text}: on its way to your direct messages with me, with {names}."),
            Context("Reports with files go only to you, never into a channel."),
        ),
        private=True,
    )


def undelivered_reply(reply: Reply, ref: str) -> Reply:
    """The private message when the files could not be delivered."""
    message = (
        f"I couldn't deliver the files for {reply.text} to your direct messages with me;"
        f" please try again. If it keeps failing, quote reference {ref} to your LA"
        " administrator."
    )
    return Reply(message, (Paragraph(message),), private=True, is_error=True)
