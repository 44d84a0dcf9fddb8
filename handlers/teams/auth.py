"""Checks on inbound Bot Framework requests that the Teams SDK leaves out: that the activity is
well formed, that it comes from the tenant this bot serves, and that the key which signed its
token is endorsed for the activity's channel. The SDK then validates the token itself
(signature, issuer, audience, expiry, serviceurl claim)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

log = logging.getLogger(__name__)

BEARER = "Bearer "


class Refused(Exception):
    """An inbound request the bot will not process: the HTTP `status` to answer and the
    `reason` to log. Neither ever holds the token or the body."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_activity(raw: bytes) -> dict[str, Any]:
    """The activity in a request body; Refused(400) unless it is a JSON object with a string
    `type`, and the string `channelId` and `serviceUrl` the token checks need (without a
    serviceUrl the SDK would skip comparing it with the token's serviceurl claim)."""
    try:
        activity = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(activity, dict):
        raise Refused(400, "the body is not a JSON object")
    for field in ("type", "channelId", "serviceUrl"):
        if not isinstance(activity.get(field), str) or not activity[field]:
            raise Refused(400, f"the activity has no {field}")
    return activity


def activity_tenant(activity: Mapping[str, Any]) -> str | None:
    """The Entra tenant an activity comes from: conversation.tenantId, else
    channelData.tenant.id (Teams puts it in both; some activities carry only one)."""
    conversation = activity.get("conversation")
    if isinstance(conversation, dict):
        tenant = conversation.get("tenantId")
        if isinstance(tenant, str) and tenant:
            return tenant
    channel_data = activity.get("channelData")
    if isinstance(channel_data, dict):
        tenant_info = channel_data.get("tenant")
        if isinstance(tenant_info, dict):
            tenant = tenant_info.get("id")
            if isinstance(tenant, str) and tenant:
                return tenant
    return None


def check_tenant(activity: Mapping[str, Any], served: str) -> None:
    """Refused(403) unless the activity comes from the tenant this bot serves."""
    tenant = activity_tenant(activity)
    if tenant is None or tenant.lower() != served.lower():
        raise Refused(403, "tenant not served here")


def bearer_token(headers: Mapping[str, str]) -> str:
    """The bearer token of a request; Refused(401) when there is none."""
    authorization = headers.get("authorization", "")
    if not authorization.startswith(BEARER) or not authorization[len(BEARER) :].strip():
        raise Refused(401, "no bearer token")
    return authorization[len(BEARER) :].strip()


def key_id(token: str) -> str:
    """The `kid` in a token's header (unverified: it only picks the key to check with)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Refused(401, "the token is not a JWT") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Refused(401, "the token names no signing key")
    return kid


def endorsed(endorsements: Iterable[str], channel_id: str) -> bool:
    """Whether a signing key's endorsements cover `channel_id` (e.g. "msteams").

    The Bot Framework lets an activity that names no channel pass; this bot serves one
    channel, so an activity must name it.
    """
    return bool(channel_id) and channel_id in {e.strip() for e in endorsements}


def jwks_uri(openid_metadata_url: str) -> str:
    """The key set beside an OpenID metadata document, derived as the Teams SDK derives it
    (so both check against the same keys)."""
    return re.sub(r"/openidconfiguration$", "/keys", openid_metadata_url)


class SigningKeys(jwt.PyJWKClient):
    """The Bot Framework's published signing keys, with the endorsements PyJWT drops.

    PyJWT caches the key set (five minutes) and refetches it once for an unknown key id;
    each fetch also refreshes the endorsements kept here.
    """

    def __init__(self, uri: str) -> None:
        super().__init__(uri, cache_jwk_set=True, timeout=10)
        self._endorsements: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def fetch_data(self) -> Any:
        data = super().fetch_data()
        keys = data.get("keys") if isinstance(data, dict) else None
        found: dict[str, frozenset[str]] = {}
        for key in keys if isinstance(keys, list) else []:
            if isinstance(key, dict) and isinstance(key.get("kid"), str):
                listed = key.get("endorsements")
                found[key["kid"]] = frozenset(
                    e for e in (listed if isinstance(listed, list) else []) if isinstance(e, str)
                )
        self._endorsements = found
        return data

    def endorsements_of(self, kid: str) -> frozenset[str]:
        """The channels the key `kid` is endorsed for. Blocking (it may fetch the key set).

        Refused(401) for a key not in the set; Refused(503) when the set cannot be fetched.
        """
        with self._lock:
            try:
                self.get_signing_key(kid)
            except PyJWKClientConnectionError as exc:
                log.warning("Bot Framework signing keys unavailable from %s: %s", self.uri, exc)
                raise Refused(503, "signing keys unavailable") from None
            except (PyJWKClientError, PyJWKSetError):
                raise Refused(401, "signing key not in the published key set") from None
            return self._endorsements.get(kid, frozenset())


def check_endorsement(keys: SigningKeys, token: str, channel_id: str) -> None:
    """Refused(401) unless the key that signed `token` is published and endorsed for
    `channel_id`. Blocking (see SigningKeys.endorsements_of)."""
    if not endorsed(keys.endorsements_of(key_id(token)), channel_id):
        raise Refused(401, f"signing key not endorsed for channel {channel_id[:32]!r}")
