"""What Slack knows about a user, for linking them to the directory by e-mail."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ProfileUnavailable

log = logging.getLogger(__name__)


class SlackProfiles:
    """ChatProfiles over `users.info` (needs the users:read.email scope)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def email_of(self, workspace_id: str, user_id: str) -> str | None:
        """The e-mail on the user's Slack profile; None when hidden, absent or not found.

        Raises ProfileUnavailable when Slack is rate limiting or failing, so the caller asks
        again later instead of concluding the user is unknown.
        """
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            code = error_code(exc)
            log.warning("users.info for %s in %s failed: %s", user_id, workspace_id, code)
            if exc.response.status_code == 429 or exc.response.status_code >= 500:
                raise ProfileUnavailable(code) from None
            return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("users.info for %s unreachable: %s", user_id, type(exc).__name__)
            raise ProfileUnavailable(type(exc).__name__) from None
        user = response.get("user") or {}
        email = (user.get("profile") or {}).get("email")
        if not isinstance(email, str) or not email.strip():
            return None
        return email.strip()


def error_code(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the body was not Slack's JSON."""
    data = exc.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {exc.response.status_code}"
