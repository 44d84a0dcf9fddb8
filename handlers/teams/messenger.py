"""Sending bot-initiated messages into Teams, and editing them, for the outbox relay.

Calls go through the Teams SDK's conversation client (`ConversationClient`, what
`ApiClient.conversations` is, without the deprecated parts ApiClient still builds and warns
about) to the Bot Connector at the conversation's service URL, with BotTokens giving the token.
The SDK retries nothing on a send, which is what the relay wants: retries belong to the relay,
and every failure comes back as a DeliveryFailed that says whether to retry, when, and whether
the message may have arrived. The SDK raises httpx's HTTPStatusError with the response,
so Retry-After can be read.

Teams gives a bot no way to read a conversation back, so `already_delivered` can never tell
whether a message whose answer was lost (a timeout, a 5xx) arrived: it says so (permanent), and
the relay sends such a message again. A person may then see it twice; never not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
from microsoft_teams.api.activities import ActivityParams, SentActivity
from microsoft_teams.api.clients.conversation import ConversationClient
from microsoft_teams.common import Client, ClientOptions
from pydantic import TypeAdapter, ValidationError

from bot.config import TeamsCredentials
from bot.ports import DeliveryFailed
from bot.types import ConversationRef, Platform, Reply
from handlers.teams import cards
from handlers.teams.pacing import SEND, Pacer, Paused, retry_after
from handlers.teams.profiles import TeamsProfiles
from handlers.teams.tokens import BotTokens, TokenUnavailable

log = logging.getLogger(__name__)

# Well inside the relay's lease (60 s), so a claimed row is settled long before it expires.
REQUEST_TIMEOUT = 15.0
RATE_LIMITED = frozenset({429, 412})  # Microsoft asks bots to back off on both
THREAD_MARKER = ";messageid="  # a reply in a channel thread is posted to `<channel>;messageid=<id>`
_ACTIVITY: TypeAdapter[Any] = TypeAdapter(ActivityParams)

T = TypeVar("T")
JSON = dict[str, Any]


class TeamsMessenger:
    """The relay's Messenger for Teams (and the poster of raw cards for the Teams handlers).

    `send` returns the activity id the Bot Connector gives; `to.service_url` (the serviceUrl of
    the conversation's activities, kept in the conversation book) is required. Calls are paced
    per conversation and per tenant (pacing.py); a 429 or 412 pauses that operation. A given
    `http` client (the SDK's) is shared, and left open by `close`.
    """

    def __init__(
        self, tokens: BotTokens, *, pacer: Pacer | None = None, http: Client | None = None
    ) -> None:
        self._tokens = tokens
        self._pacer = pacer or Pacer()
        self._own_http = http is None
        # Every request asks BotTokens, which answers from msal's cache.
        self._http = (http or Client(ClientOptions(timeout=REQUEST_TIMEOUT))).clone(
            ClientOptions(token=tokens.token), share_http=True
        )
        self._clients: dict[str, ConversationClient] = {}

    @classmethod
    def for_credentials(
        cls, creds: TeamsCredentials, *, pacer: Pacer | None = None
    ) -> TeamsMessenger:
        """The relay's messenger: tokens from the bot's app registration, its own connections."""
        return cls(BotTokens(creds), pacer=pacer)

    @property
    def tokens(self) -> BotTokens:
        """The messenger's token provider (the Teams SDK's App can use the same one)."""
        return self._tokens

    async def close(self) -> None:
        """Close the connections this messenger opened (call on shutdown)."""
        if self._own_http:
            await self._http.http.aclose()

    def profiles(self, service_url: str, conversation_id: str, member_id: str) -> TeamsProfiles:
        """Profile lookups for one member, sharing this messenger's tokens, pacing and
        connections."""
        return TeamsProfiles(
            service_url,
            conversation_id,
            member_id,
            tokens=self._tokens,
            pacer=self._pacer,
            http=self._http,
        )

    async def send(
        self,
        to: ConversationRef,
        reply: Reply,
        *,
        key: str | None = None,
        thread: str | None = None,
    ) -> str:
        """Post the reply as a card (into the thread of the channel message `thread`, if
        given); returns the activity id. The key cannot travel with it (see the module).
        Raises DeliveryFailed."""
        return await self._post(to, cards.message_activity(reply), thread)

    async def update(self, to: ConversationRef, message_id: str, reply: Reply) -> None:
        """Replace the activity `message_id` in `to` with the reply's card. Raises
        DeliveryFailed (permanent when the message or conversation is gone)."""
        await self._put(to, message_id, cards.message_activity(reply))

    async def send_card(self, to: ConversationRef, card: JSON, summary: str) -> str:
        """Post a card as it is (a form); returns the activity id. Raises DeliveryFailed."""
        return await self._post(to, _card_activity(card, summary), None)

    async def update_card(
        self, to: ConversationRef, message_id: str, card: JSON, summary: str
    ) -> None:
        """Replace the activity `message_id` with this card. Raises DeliveryFailed."""
        await self._put(to, message_id, _card_activity(card, summary))

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
        """Never known on Teams: raises DeliveryFailed, permanent (see the module)."""
        raise DeliveryFailed(
            "Teams lets a bot read no conversation back: whether the message arrived cannot"
            " be told",
            permanent=True,
        )

    async def _post(self, to: ConversationRef, activity: JSON, thread: str | None) -> str:
        params = _params(activity)
        conversation = to.conversation_id
        if thread is not None and is_channel(conversation):
            conversation = f"{conversation.split(';', 1)[0]}{THREAD_MARKER}{thread}"

        def post(client: ConversationClient) -> Awaitable[SentActivity]:
            return client.create_activity(conversation, params)

        sent = await self._call(to, post, posting=True)
        return sent.id

    async def _put(self, to: ConversationRef, message_id: str, activity: JSON) -> None:
        params = _params(activity)

        def put(client: ConversationClient) -> Awaitable[SentActivity]:
            return client.update_activity(to.conversation_id, message_id, params)

        await self._call(to, put, posting=False)

    def _client(self, service_url: str) -> ConversationClient:
        client = self._clients.get(service_url)
        if client is None:
            # One client per service URL, all over the same connections.
            client = ConversationClient(service_url, self._http)
            self._clients[service_url] = client
        return client

    async def _call(
        self,
        to: ConversationRef,
        request: Callable[[ConversationClient], Awaitable[T]],
        *,
        posting: bool,
    ) -> T:
        """Pace, call, and turn every failure into a DeliveryFailed."""
        if to.platform is not Platform.TEAMS:
            raise ValueError(f"TeamsMessenger cannot send to {to.platform.value}")
        if not to.service_url:
            raise DeliveryFailed(
                "no service URL for the Teams conversation (it has sent the bot nothing yet)",
                permanent=True,
            )
        try:
            await self._pacer.wait(SEND, to.conversation_id, tenant=to.workspace_id)
        except Paused as paused:
            raise DeliveryFailed(str(paused), retry_after=paused.retry_after) from None
        try:
            return await request(self._client(to.service_url))
        except TokenUnavailable as exc:
            raise DeliveryFailed(f"no token: {exc.reason}", permanent=exc.permanent) from None
        except httpx.HTTPStatusError as exc:
            raise await self._failure(exc.response, posting) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Never connected: Teams cannot have the message.
            raise DeliveryFailed(f"{SEND}: cannot connect ({type(exc).__name__})") from None
        except httpx.TransportError as exc:  # timeouts and dropped connections
            raise DeliveryFailed(f"{SEND}: {type(exc).__name__}", maybe_delivered=posting) from None

    async def _failure(self, response: httpx.Response, posting: bool) -> DeliveryFailed:
        status = response.status_code
        code = error_code(response)
        reason = f"{SEND}: HTTP {status}" + (f" {code}" if code else "")
        if status in RATE_LIMITED:
            wait = retry_after(response.headers)
            self._pacer.pause(SEND, wait)
            log.warning("the Bot Connector rate limits sends (%s): pausing for %.0fs", status, wait)
            return DeliveryFailed(reason, retry_after=wait)
        if status == 401:
            # Refused the token msal still holds: the next attempt gets a fresh one.
            await self._tokens.forget()
            return DeliveryFailed(reason)
        if status >= 500:
            return DeliveryFailed(reason, maybe_delivered=posting)
        # 403 and 404: the bot was removed, the conversation is gone, or the person blocked
        # the bot. Other 4xx (a malformed or oversized card) cannot pass on a retry either.
        return DeliveryFailed(reason, permanent=True)


def is_channel(conversation_id: str) -> bool:
    """Whether a conversation is a team's channel, the only kind with threads: one-to-one and
    group chats are flat, so a reply "in the thread" of their message simply follows it."""
    base = conversation_id.split(";", 1)[0]
    return base.startswith("19:") and base.endswith(("@thread.tacv2", "@thread.skype"))


def error_code(response: httpx.Response) -> str | None:
    """The Bot Connector's error code (`{"error": {"code": ...}}`), if the answer has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return str(code) if code else None


def _card_activity(card: JSON, summary: str) -> JSON:
    return {"type": "message", "summary": summary, "attachments": [cards.attachment(card)]}


def _params(activity: JSON) -> Any:
    """The activity as the SDK's input model (it posts `model_dump(by_alias=True)` of it,
    which gives the same JSON back)."""
    try:
        return _ACTIVITY.validate_python(activity)
    except ValidationError as exc:
        # A renderer's bug: no retry will make the activity valid.
        raise DeliveryFailed(
            f"not a valid activity ({exc.error_count()} problems)", permanent=True
        ) from None
