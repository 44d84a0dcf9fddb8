"""The Bot Framework endpoint: the Teams SDK's App, its messaging route mounted at
POST /api/messages on the bot's own FastAPI app, behind the checks the SDK leaves out.

Every request passes, in order: a body of sane size (else 413) that is a well-formed activity
(else 400), from the tenant this bot serves (else 403), with a token signed by a published key
endorsed for the activity's channel (else 401); then the SDK validates the token (signature,
issuer, audience, expiry, serviceurl claim; else 401) and runs the activity handlers. An
authentic activity the SDK's models cannot read (the SDK itself would fail with a 500) is
answered 200 and otherwise ignored, its token checked by the SDK's validator first. Anything
that goes wrong after that is a 500 without details. The SDK's own uvicorn server (which binds
0.0.0.0) is never started.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jwt
from fastapi import FastAPI
from microsoft_teams.api import ActivityTypeAdapter, ApiClientSettings
from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
from microsoft_teams.api.auth.credentials import TokenCredentials, TokenProvider
from microsoft_teams.apps import App
from microsoft_teams.apps.auth import TokenValidator
from microsoft_teams.apps.http.adapter import (
    HttpMethod,
    HttpRequest,
    HttpRouteHandler,
)
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.config import ConfigError, TeamsCredentials
from handlers.teams.auth import (
    Refused,
    SigningKeys,
    bearer_token,
    check_endorsement,
    check_tenant,
    jwks_uri,
    parse_activity,
)

log = logging.getLogger(__name__)

MESSAGING_ENDPOINT = "/api/messages"
# The SDK's default Bot Connector address, given explicitly so that SERVICE_URL in the
# environment cannot send the bot's tokens elsewhere.
DEFAULT_SERVICE_URL = "https://smba.trafficmanager.net/teams"
# Teams caps a message at about 100 KB; an activity far larger is not from Teams.
BODY_LIMIT = 1024 * 1024
_ANSWERS = {
    400: "malformed activity",
    401: "Unauthorized",
    403: "tenant not served here",
    413: "activity too large",
    503: "temporarily unavailable",
}


class Ignored(Exception):
    """An authentic activity the SDK's models cannot read (e.g. an invoke with no name, or a
    message-extension invoke from an old client): nothing the bot offers, answered 200."""


class InboundGate:
    """The checks a request passes before the SDK sees it (see the module docstring)."""

    def __init__(self, tenant_id: str, keys: SigningKeys, validator: TokenValidator) -> None:
        self.tenant_id = tenant_id
        self.keys = keys
        self.validator = validator

    async def admit(self, raw: bytes, headers: dict[str, str]) -> HttpRequest:
        """The request as the SDK takes it; raises Refused, or Ignored."""
        if len(raw) > BODY_LIMIT:
            raise Refused(413, f"a body of {len(raw)} bytes")
        activity = parse_activity(raw)
        check_tenant(activity, self.tenant_id)
        token = bearer_token(headers)
        # The key set is fetched with blocking I/O (PyJWT) when not cached.
        await asyncio.to_thread(check_endorsement, self.keys, token, activity["channelId"])
        try:
            check_readable(activity)
        except Refused as unreadable:
            # The SDK would check the token only after reading the activity; it is checked
            # here the same way (the SDK's own validator) before anything is said.
            try:
                await self.validator.validate_token(token, activity["serviceUrl"])
            except jwt.InvalidTokenError:
                raise Refused(401, "token refused") from None
            raise Ignored(unreadable.reason) from None
        return HttpRequest(body=activity, headers=headers)


def check_readable(activity: dict[str, Any]) -> None:
    """Refused(400) for an activity the SDK's models cannot read: the SDK would answer it with
    a 500 after logging parts of it. Says where it does not fit, never the values."""
    try:
        ActivityTypeAdapter.validate_python(activity)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])[:120]
        raise Refused(400, f"an activity the Teams SDK cannot read (at {where!r})") from None


class GuardedEndpoint:
    """The SDK's HttpServerAdapter over our FastAPI app: the SDK registers its messaging
    handler here, and we put the InboundGate in front of it."""

    def __init__(self, web: FastAPI, gate: InboundGate) -> None:
        self._web = web
        self._gate = gate

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        if method != "POST":
            raise ValueError(f"the Teams endpoint takes POST only, not {method}")
        gate = self._gate

        async def endpoint(request: Request) -> Response:
            try:
                admitted = await gate.admit(await request.body(), dict(request.headers))
                result = await handler(admitted)
            except Ignored as ignored:
                log.info("Teams activity ignored: %s", ignored)
                return Response(status_code=200)
            except Refused as refused:
                level = logging.WARNING if refused.status >= 500 else logging.INFO
                log.log(level, "Teams request refused (%d): %s", refused.status, refused.reason)
                return JSONResponse({"error": _ANSWERS[refused.status]}, refused.status)
            except Exception:
                log.exception("Teams request failed")
                return JSONResponse({"error": "internal error"}, 500)
            body = result.get("body")
            if body is None:
                return Response(status_code=result["status"])
            return JSONResponse(body, result["status"])

        self._web.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False)

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError("the bot serves no static files for Teams")

    async def start(self, port: int) -> None:
        raise NotImplementedError("the Teams endpoint is served by the bot's own app")

    async def stop(self) -> None:
        """Nothing to stop: the bot's own server stops the endpoint with it."""


def build_teams_app(web: FastAPI, creds: TeamsCredentials, token: TokenProvider) -> App:
    """The Teams SDK App for this bot, its endpoint to be mounted on `web` by start_teams.

    `token` gives the app-only Bot Connector tokens the SDK sends with. Raises ConfigError
    when the environment would make the SDK authenticate some other way.
    """
    cloud = with_overrides(
        PUBLIC,
        openid_metadata_url=creds.openid_metadata_url,
        login_endpoint=creds.authority_url,
    )
    gate = InboundGate(
        creds.tenant_id,
        SigningKeys(jwks_uri(cloud.openid_metadata_url)),
        TokenValidator.for_service(creds.app_id, cloud=cloud),
    )
    # Everything the SDK would otherwise read from the environment is given here:
    # CLIENT_ID, TENANT_ID, CLOUD, SERVICE_URL, OAUTH_URL and the unauthenticated switch.
    app = App(
        client_id=creds.app_id,
        tenant_id=creds.tenant_id,
        token=token,
        dangerously_allow_unauthenticated_requests=False,
        cloud=cloud,
        service_url=DEFAULT_SERVICE_URL,
        api_client_settings=ApiClientSettings(oauth_url=cloud.token_service_url),
        http_server_adapter=GuardedEndpoint(web, gate),
        messaging_endpoint=MESSAGING_ENDPOINT,
    )
    # CLIENT_SECRET in the environment wins over `token` in the SDK.
    if not isinstance(app.credentials, TokenCredentials):
        raise ConfigError(
            "CLIENT_SECRET is set in the environment: the Teams SDK would use it instead of"
            " TEAMS_APP_PASSWORD / TEAMS_CERTIFICATE_FILE; unset it"
        )
    return app


async def start_teams(app: App) -> None:
    """Initialise the SDK App, which registers POST /api/messages on the FastAPI app it was
    built with; call it from that app's lifespan, before it serves requests (until then the
    route does not exist). The SDK offers no public way to register it without initialising."""
    await app.initialize()
