"""A fake Bot Framework OpenID issuer on 127.0.0.1, and Bot Framework tokens signed for it.

It serves what a bot reads to check the tokens Teams sends it: the OpenID metadata at
`/v1/.well-known/openidconfiguration` (point TEAMS_OPENID_METADATA_URL at `openid_metadata_url`)
and the key set at `/v1/.well-known/keys`. The key set holds `trusted` (endorsed for msteams)
and `unendorsed` (endorsed for another channel only); `publish` adds more. `untrusted` is a key
that is not published but carries the trusted key's kid, for bad-signature tests. `sign(...)`
makes an RS256 token as the Bot Framework does (iss, aud, serviceurl, nbf, exp, iat).

It records every request in `calls` and can fail the next key-set requests on demand (`fail`).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.loopback import Call, LoopbackServer

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
METADATA_PATH = "/v1/.well-known/openidconfiguration"
KEYS_PATH = "/v1/.well-known/keys"
TEAMS_CHANNEL = "msteams"


class _FromActivity:
    """The `serviceurl` claim comes from the activity's serviceUrl."""


FROM_ACTIVITY = _FromActivity()


@functools.cache
def _rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One key per name for the whole test run (making RSA keys is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair with the kid and endorsements it is (or would be) published with."""

    kid: str
    endorsements: tuple[str, ...]
    private: rsa.RSAPrivateKey

    @classmethod
    def make(cls, kid: str, *endorsements: str, name: str | None = None) -> SigningKey:
        """A key for `kid` (the same key pair for the same `name`, by default the kid)."""
        return cls(kid, endorsements, _rsa_key(name or kid))

    def jwk(self) -> dict[str, Any]:
        """The public key as the Bot Framework publishes it."""
        public = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return public | {"kid": self.kid, "use": "sig", "endorsements": list(self.endorsements)}


class FakeBotFrameworkAuth:
    """The fake issuer; start it with `with FakeBotFrameworkAuth() as fake:`."""

    def __init__(self) -> None:
        self.trusted = SigningKey.make("slis-test-trusted", TEAMS_CHANNEL, "webchat")
        self.unendorsed = SigningKey.make("slis-test-unendorsed", "skype")
        # Not published, and wearing the trusted key's kid: its signatures must not verify.
        self.untrusted = SigningKey.make(
            self.trusted.kid, *self.trusted.endorsements, name="untrusted"
        )
        self.published = [self.trusted, self.unendorsed]
        self.calls: list[Call] = []
        self.port = 0
        self._failures = 0
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openid_metadata_url(self) -> str:
        return self.url + METADATA_PATH

    @property
    def jwks_uri(self) -> str:
        return self.url + KEYS_PATH

    def keys_calls(self) -> int:
        with self._lock:
            return sum(1 for call in self.calls if call.path == KEYS_PATH)

    def publish(self, key: SigningKey) -> None:
        """Add `key` to the key set (clients see it when they next fetch the set)."""
        with self._lock:
            self.published.append(key)

    def fail(self, times: int = 1) -> None:
        """Answer the next `times` key-set requests with 503."""
        with self._lock:
            self._failures += times

    def sign(
        self,
        activity_or_claims: Mapping[str, Any],
        *,
        app_id: str,
        service_url: str | _FromActivity | None = FROM_ACTIVITY,
        key: SigningKey | None = None,
        issuer: str = BOT_FRAMEWORK_ISSUER,
        audience: str | None = None,
        expires_in: int = 3600,
        kid: str | None = None,
    ) -> str:
        """A Bot Framework token for an activity (its serviceUrl becomes the serviceurl claim),
        or for these extra claims (a mapping without a `type`). `service_url=None` leaves the
        serviceurl claim out; a negative `expires_in` gives a token that expired that long ago.
        """
        is_activity = "type" in activity_or_claims
        if isinstance(service_url, _FromActivity):
            service_url = activity_or_claims.get("serviceUrl") if is_activity else None
        now = int(time.time())
        issued = now - 60 if expires_in > 0 else now + expires_in - 3600
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience if audience is not None else app_id,
            "nbf": issued,
            "iat": issued,
            "exp": now + expires_in,
        }
        if service_url is not None:
            claims["serviceurl"] = service_url
        if not is_activity:
            claims.update(activity_or_claims)
        signer = key or self.trusted
        headers = {"kid": kid if kid is not None else signer.kid, "typ": "JWT"}
        return jwt.encode(claims, signer.private, algorithm="RS256", headers=headers)

    def start(self) -> FakeBotFrameworkAuth:
        app = web.Application()
        app.router.add_get(METADATA_PATH, self._metadata)
        app.router.add_get(KEYS_PATH, self._keys)
        self._server = LoopbackServer("fake-botframework-auth", app)
        (self.port,) = self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeBotFrameworkAuth:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    async def _metadata(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.json_response(
            {
                "issuer": BOT_FRAMEWORK_ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": self.jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self._record(request)
        with self._lock:
            failing = self._failures > 0
            self._failures -= int(failing)
            published = list(self.published)
        if failing:
            return web.json_response({"error": "temporarily unavailable"}, status=503)
        return web.json_response({"keys": [key.jwk() for key in published]})

    def _record(self, request: web.Request) -> None:
        with self._lock:
            self.calls.append(Call(request.method, request.path, dict(request.headers)))


@pytest.fixture
def botframework_auth() -> Iterator[FakeBotFrameworkAuth]:
    """A running fake Bot Framework issuer; see `.sign(...)`, `.calls`, `.fail()`."""
    with FakeBotFrameworkAuth() as fake:
        yield fake
