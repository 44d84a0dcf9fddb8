"""A fake Entra ID authority on https://127.0.0.1 that issues app-only tokens and records every
call.

It serves what msal needs for the client credentials grant: a tenant's OpenID configuration and
its token endpoint. msal accepts only https authorities, hence TLS, with a self-signed
certificate for 127.0.0.1 whose PEM is at `ca_file`: point requests at it with
REQUESTS_CA_BUNDLE (the `entra` fixture does).

A client proves itself with a client secret or with a client assertion (a JWT signed with its
certificate's key, the certificate named by its SHA-1 thumbprint in `x5t`), checked against
what `register` was told; while nothing is registered any non-empty secret is accepted. Tokens
are JWTs signed with the authority's own key, their audience the scope's resource, so the
services that accept them can check them with `claims`. `fail(...)` makes the next token
requests fail.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import itertools
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from bot.config import DEFAULT_TEAMS_OPENID_METADATA_URL, TeamsCredentials
from tests.fakes.loopback import Call, LoopbackServer

TENANT = "00000000-0000-0000-0000-00000000e55e"
BOT_APP_ID = "00000000-0000-0000-0000-0000000b0700"
BOT_SECRET = "fictional~bot~secret~value"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3599


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def tls_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for 127.0.0.1, as PEM files in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(_name("127.0.0.1"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def app_certificate(common_name: str = "SLIS Bot test") -> tuple[str, x509.Certificate]:
    """An app registration's certificate credential: the PEM file's text (certificate, then
    its RSA private key, as TEAMS_CERTIFICATE_FILE holds it) and the certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem.decode(), cert


def _x5t(cert: x509.Certificate) -> str:
    # The JWT `x5t` header is defined as the certificate's SHA-1 thumbprint.
    sha1 = cert.fingerprint(hashes.SHA1())  # noqa: S303
    return base64.urlsafe_b64encode(sha1).decode().rstrip("=")


@dataclass(frozen=True)
class _Client:
    secret: str | None
    certificate: x509.Certificate | None


@dataclass
class _Failure:
    status: int
    error: str
    times: int


class FakeEntra:
    """The fake authority; `authority_url` is what msal is given (with the tenant after it)."""

    def __init__(self, tenant: str = TENANT) -> None:
        self.tenant = tenant
        self.calls: list[Call] = []
        self.issued: list[str] = []
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._failures: list[_Failure] = []
        self._jti = itertools.count(1)
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._dir = tempfile.TemporaryDirectory(prefix="fake-entra-")
        self.ca_file, self._key_file = tls_certificate(Path(self._dir.name))
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._issue_token)
        self._server = LoopbackServer("fake-entra", app)
        self.port = 0

    # --- control ------------------------------------------------------------------------

    @property
    def authority_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority_url}/{self.tenant}/oauth2/v2.0/token"

    @property
    def token(self) -> str | None:
        """The last access token issued."""
        with self._lock:
            return self.issued[-1] if self.issued else None

    def register(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        """Accept `client_id` with this secret or this certificate (and no other)."""
        with self._lock:
            self._clients[client_id] = _Client(secret, certificate)

    def fail(self, status: int, *, error: str = "temporarily_unavailable", times: int = 1) -> None:
        """Answer the next `times` token requests with `status` and this OAuth error code."""
        with self._lock:
            self._failures.append(_Failure(status, error, times))

    def token_calls(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.endswith("/oauth2/v2.0/token")]

    def claims(self, token: str, audience: str) -> dict[str, Any] | None:
        """The claims of a token this authority issued for `audience` and that has not
        expired; None for any other token."""
        try:
            decoded: dict[str, Any] = jwt.decode(
                token,
                self._signing_key.public_key(),
                algorithms=["RS256"],
                audience=audience,
                issuer=self._issuer,
            )
        except jwt.InvalidTokenError:
            return None
        return decoded

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeEntra:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, self._key_file)
        [self.port] = self._server.start([context])
        return self

    def stop(self) -> None:
        self._server.stop()
        self._dir.cleanup()

    def __enter__(self) -> FakeEntra:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the server ---------------------------------------------------------------------

    @property
    def _issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant}/"

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        self._record(Call(request.method, request.path, dict(request.headers)))
        base = f"{self.authority_url}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                ],
                "response_types_supported": ["code", "id_token", "token"],
            }
        )

    async def _issue_token(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        self._record(Call(request.method, request.path, dict(request.headers), form=form))
        failure = self._next_failure()
        if failure is not None:
            return self._error(failure.status, failure.error)
        if request.match_info["tenant"] != self.tenant:
            return self._error(400, "invalid_request")
        if form.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported_grant_type")
        client_id = form.get("client_id", "")
        if not self._authenticated(client_id, form):
            return self._error(401, "invalid_client")
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return self._error(400, "invalid_scope")
        token = self._sign(client_id, scope.removesuffix("/.default"))
        return web.json_response(
            {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "access_token": token}
        )

    def _authenticated(self, client_id: str, form: dict[str, str]) -> bool:
        with self._lock:
            if not self._clients:
                return bool(client_id and form.get("client_secret"))
            client = self._clients.get(client_id)
        if client is None:
            return False
        if "client_secret" in form:
            return client.secret is not None and form["client_secret"] == client.secret
        if form.get("client_assertion_type") != ASSERTION_TYPE or client.certificate is None:
            return False
        assertion = form.get("client_assertion", "")
        try:
            # msal pads the base64url thumbprint; Entra ID takes it either way.
            x5t = str(jwt.get_unverified_header(assertion).get("x5t", "")).rstrip("=")
            if x5t != _x5t(client.certificate):
                return False
            claims = jwt.decode(
                assertion,
                client.certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=self.token_endpoint,
                issuer=client_id,
            )
        except jwt.InvalidTokenError:
            return False
        return bool(claims.get("sub") == client_id)

    def _sign(self, client_id: str, audience: str) -> str:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": self._issuer,
            "appid": client_id,
            "tid": self.tenant,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "jti": f"fake-{next(self._jti)}",
        }
        token = jwt.encode(claims, self._signing_key, algorithm="RS256")
        with self._lock:
            self.issued.append(token)
        return token

    @staticmethod
    def _error(status: int, error: str) -> web.Response:
        body = {"error": error, "error_description": f"AADSTS00000: {error} (fake authority)"}
        return web.json_response(body, status=status)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _next_failure(self) -> _Failure | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return failure


def bot_registration(entra: FakeEntra, *, certificate: bool = False) -> TeamsCredentials:
    """The bot's app registration, known to `entra`: with a client secret, or with a
    certificate (a new one, as TEAMS_CERTIFICATE_FILE would hold it)."""
    if certificate:
        pem, cert = app_certificate()
        entra.register(BOT_APP_ID, certificate=cert)
        return TeamsCredentials(
            BOT_APP_ID,
            entra.tenant,
            None,
            pem,
            DEFAULT_TEAMS_OPENID_METADATA_URL,
            entra.authority_url,
        )
    entra.register(BOT_APP_ID, secret=BOT_SECRET)
    return TeamsCredentials(
        BOT_APP_ID,
        entra.tenant,
        BOT_SECRET,
        None,
        DEFAULT_TEAMS_OPENID_METADATA_URL,
        entra.authority_url,
    )


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEntra]:
    """A running fake authority; msal (through requests) trusts its certificate for the test."""
    with FakeEntra() as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_file))
        yield fake
