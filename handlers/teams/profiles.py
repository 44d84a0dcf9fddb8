"""What Teams knows of a user who wrote to the bot: their e-mail, to link them to the directory."""

from __future__ import annotations

import logging

import httpx
from microsoft_teams.api.clients.conversation import ConversationClient
from microsoft_teams.common import Client, ClientOptions

from bot.errors import ProfileUnavailable
from handlers.teams.pacing import MEMBERS, Pacer, Paused, retry_after
from handlers.teams.tokens import BotTokens, TokenUnavailable

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0  # the person is waiting for an answer
RATE_LIMITED = frozenset({429, 412})


class TeamsProfiles:
    """ChatProfiles for the sender of one inbound activity: the member `member_id` ("29:...")
    of `conversation_id`, read from the Bot Connector at `service_url`.

    Without an `http` client it makes one for each lookup and closes it after.
    """

    def __init__(
        self,
        service_url: str,
        conversation_id: str,
        member_id: str,
        *,
        tokens: BotTokens,
        pacer: Pacer | None = None,
        http: Client | None = None,
    ) -> None:
        self._service_url = service_url
        self._conversation_id = conversation_id
        self._member_id = member_id
        self._tokens = tokens
        self._pacer = pacer or Pacer()
        self._http = http

    async def email_of(self, workspace_id: str, user_id: str) -> str | None:
        """The member's e-mail, else their user principal name, lower-cased; None when Teams
        has neither or does not know them here. `user_id` is their Entra object id: a member
        who turns out to be someone else gives None. ProfileUnavailable when Teams cannot be
        asked now."""
        try:
            await self._pacer.wait(MEMBERS, self._conversation_id, tenant=workspace_id)
        except Paused as paused:
            raise ProfileUnavailable(str(paused)) from None
        own: Client | None = None
        base = self._http
        if base is None:
            base = own = Client(ClientOptions(timeout=REQUEST_TIMEOUT))
        http = base.clone(ClientOptions(token=self._tokens.token), share_http=True)
        client = ConversationClient(self._service_url, http)
        try:
            member = await client.get_member_by_id(self._conversation_id, self._member_id)
        except TokenUnavailable as exc:
            raise ProfileUnavailable(f"no token: {exc.reason}") from None
        except httpx.HTTPStatusError as exc:
            await self._refused(exc.response)
            return None
        except httpx.TransportError as exc:
            raise ProfileUnavailable(f"{MEMBERS}: {type(exc).__name__}") from None
        finally:
            if own is not None:
                await own.http.aclose()
        if member.aad_object_id and member.aad_object_id != user_id:
            log.warning("Teams member %s is not the user who wrote; no e-mail", self._member_id)
            return None
        address = (member.email or member.user_principal_name or "").strip()
        return address.lower() or None

    async def _refused(self, response: httpx.Response) -> None:
        """Returns when asking again cannot help; else raises ProfileUnavailable."""
        status = response.status_code
        if status in RATE_LIMITED:
            self._pacer.pause(MEMBERS, retry_after(response.headers))
        elif status == 401:
            # Refused the token msal still holds: the next lookup gets a fresh one.
            await self._tokens.forget()
        elif status < 500:
            # 403, 404: not a member here, or the bot no longer is.
            log.info("Teams does not know member %s here (HTTP %s)", self._member_id, status)
            return
        raise ProfileUnavailable(f"{MEMBERS}: HTTP {status}")
