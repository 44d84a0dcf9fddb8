"""Create, update and cancel Outlook events with Teams meetings through Microsoft Graph.

Tokens come from msal (client credentials, msal's own cache); requests go through msgraph-core's
middleware pipeline, whose RetryHandler retries 429/503/504 honouring `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import msal  # type: ignore[import-untyped]
from kiota_abstractions.request_option import RequestOption
from kiota_http.middleware.options import RetryHandlerOption
from msgraph_core import GraphClientFactory  # type: ignore[import-untyped]

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# msgraph-core's transport runs its middleware only for requests carrying this extension.
REQUEST_OPTIONS_KEY = "kiota_request_options"
MAX_RETRIES = 3
# Graph documents Windows zone names; it also accepts IANA names, which we pass through.
WINDOWS_ZONES = {"Europe/London": "GMT Standard Time", "UTC": "UTC"}


class GraphUnavailable(Exception):
    """Graph (or its token endpoint) refused or failed; `permanent` means do not retry."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class GraphEvent:
    """An event to book. `starts`/`ends` are aware; `transaction_id` makes creation idempotent."""

    subject: str
    body_html: str
    starts: datetime
    ends: datetime
    zone: str  # IANA, e.g. "Europe/London"
    location: str | None
    attendees: tuple[tuple[str, str], ...]  # (name, email)
    online: bool
    transaction_id: str


@dataclass(frozen=True)
class CreatedEvent:
    """What Graph returned for a created event."""

    event_id: str
    join_url: str | None
    web_link: str | None


def _when(moment: datetime, zone: str) -> dict[str, str]:
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    local = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return {
        "dateTime": local.isoformat(timespec="seconds"),
        "timeZone": WINDOWS_ZONES.get(zone, zone),
    }


def event_body(event: GraphEvent, *, create: bool) -> dict[str, Any]:
    """The JSON body of createEvent (or, without `transactionId`, of an update)."""
    body: dict[str, Any] = {
        "subject": event.subject,
        "body": {"contentType": "HTML", "content": event.body_html},
        "start": _when(event.starts, event.zone),
        "end": _when(event.ends, event.zone),
        "location": {"displayName": event.location or ""},
        "attendees": [
            {"emailAddress": {"address": email, "name": name}, "type": "required"}
            for name, email in event.attendees
        ],
        "isOnlineMeeting": event.online,
        "allowNewTimeProposals": False,
    }
    if event.online:
        body["onlineMeetingProvider"] = "teamsForBusiness"
    if create:
        body["transactionId"] = event.transaction_id
    return body


class GraphCalendar:
    """An organiser's Outlook calendar, reached with an app registration's credentials.

    A given `http` client gets msgraph-core's middleware installed on its transport and is left
    open by `close()`; request URLs are absolute, so its base URL does not matter.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        api_url: str,
        authority_url: str,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._authority = f"{authority_url.rstrip('/')}/{tenant_id}"
        self._client_id = client_id
        self._client_secret = client_secret
        self._app: Any = None
        self._app_lock = asyncio.Lock()
        self._owns_http = http is None
        self._http = GraphClientFactory.create_with_default_middleware(
            client=http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        )

    async def create(self, organiser_email: str, event: GraphEvent) -> CreatedEvent:
        """Create the event (with a Teams meeting if `online`) in the organiser's calendar."""
        data = await self._send(
            "POST",
            f"/users/{quote(organiser_email, safe='')}/events",
            event_body(event, create=True),
        )
        meeting = data.get("onlineMeeting") or {}
        return CreatedEvent(
            event_id=str(data["id"]),
            join_url=meeting.get("joinUrl"),
            web_link=data.get("webLink"),
        )

    async def update(self, organiser_email: str, event_id: str, event: GraphEvent) -> None:
        """Replace the event's details; Graph sends the attendees an update."""
        await self._send(
            "PATCH", self._event_path(organiser_email, event_id), event_body(event, create=False)
        )

    async def cancel(self, organiser_email: str, event_id: str, comment: str) -> None:
        """Cancel the event; Graph sends the attendees the cancellation with `comment`."""
        await self._send(
            "POST", f"{self._event_path(organiser_email, event_id)}/cancel", {"comment": comment}
        )

    async def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            await self._http.aclose()

    @staticmethod
    def _event_path(organiser_email: str, event_id: str) -> str:
        return f"/users/{quote(organiser_email, safe='')}/events/{quote(event_id, safe='')}"

    async def _token(self) -> str:
        async with self._app_lock:
            if self._app is None:
                # The constructor fetches the tenant's OpenID configuration (blocking I/O).
                self._app = await asyncio.to_thread(self._make_app)
        try:
            # msal answers from its cache until the token is close to expiry.
            result = await asyncio.to_thread(
                self._app.acquire_token_for_client, scopes=[GRAPH_SCOPE]
            )
        except Exception as exc:  # requests' connection errors
            raise GraphUnavailable(
                f"token endpoint unreachable: {type(exc).__name__}", permanent=False
            ) from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            error = result.get("error", "unknown") if isinstance(result, dict) else "unknown"
            raise GraphUnavailable(f"token refused: {error}", permanent=True)
        return str(token)

    def _make_app(self) -> Any:
        try:
            return msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._client_secret,
                authority=self._authority,
                # The authority is configured explicitly: no instance discovery round trip.
                instance_discovery=False,
                token_cache=msal.TokenCache(),
            )
        except Exception as exc:
            raise GraphUnavailable(
                f"authority unavailable: {type(exc).__name__}", permanent=False
            ) from exc

    async def _send(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = await self._token()
        options: dict[str, RequestOption] = {
            RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=MAX_RETRIES),
        }
        request = self._http.build_request(
            method,
            f"{self._api_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            extensions={REQUEST_OPTIONS_KEY: options},
        )
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise GraphUnavailable(
                f"Graph unreachable: {type(exc).__name__}", permanent=False
            ) from exc
        if response.is_success:
            if not response.content:
                return {}
            data = response.json()
            return data if isinstance(data, dict) else {}
        raise _failure(response)


def _failure(response: httpx.Response) -> GraphUnavailable:
    code, message = "unknown", response.reason_phrase
    try:
        error = response.json().get("error") or {}
        code, message = str(error.get("code", code)), str(error.get("message", message))
    except (ValueError, AttributeError):
        pass
    status = response.status_code
    text = f"Graph {status} {code}: {message}"
    if status == 429 or status >= 500:
        retry_after: float | None = None
        with contextlib.suppress(KeyError, ValueError):
            retry_after = float(response.headers["Retry-After"])
        return GraphUnavailable(text, permanent=False, retry_after=retry_after)
    return GraphUnavailable(text, permanent=True)
