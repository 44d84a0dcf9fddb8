"""A fake Microsoft Graph API and Entra ID token endpoint on 127.0.0.1 that records every call.

It runs an aiohttp server in its own thread and event loop, on two sockets: `url` (plain HTTP)
serves Graph under `/v1.0` (`api_url`), and `authority_url` (HTTPS with a self-signed
certificate for 127.0.0.1, whose PEM is at `ca_file`) serves what msal needs: the tenant's
OpenID configuration and the token endpoint. msal accepts only https authorities, hence TLS
there; point requests at the certificate with REQUESTS_CA_BUNDLE (the `graph_env` fixture).

Graph answers createEvent (201, the documented example response, with a Teams join URL added;
the same `transactionId` gives the same event back, as Graph does), PATCH of an event (200) and
cancel (202). `fail(status, times=n, retry_after=...)` makes the next n Graph calls fail (token
calls are never failed). Only the last issued bearer token is accepted (401 otherwise).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import json
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

FIXTURES = Path(__file__).parent.parent / "fixtures" / "graph"
TENANT = "00000000-0000-0000-0000-00000000e55e"
JOIN_URL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_fake%40thread.v2/0"


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    """How the next `times` Graph calls fail."""

    status: int
    times: int
    retry_after: float | None = None
    code: str = "ErrorAccessDenied"
    message: str = "Access is denied."


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
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


def _bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class FakeGraphApi:
    """The fake server; `api_url` and `authority_url` are what GraphCalendar is given."""

    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[Failure] = []
        self._events: dict[str, dict[str, Any]] = {}  # id -> event
        self._by_transaction: dict[str, str] = {}  # transactionId -> id
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self.token: str | None = None  # the last access token issued
        self._dir = tempfile.TemporaryDirectory(prefix="fake-graph-")
        self.ca_file, self._key_file = _certificate(Path(self._dir.name))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.tls_port = 0

    # --- control ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def authority_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        code: str = "ErrorAccessDenied",
        message: str = "Access is denied.",
    ) -> None:
        """Answer the next `times` Graph calls with `status` (and Retry-After if given)."""
        with self._lock:
            self._failures.append(Failure(status, times, retry_after, code, message))

    def graph_calls(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.startswith("/v1.0/")]

    def token_calls(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.endswith("/oauth2/v2.0/token")]

    def events(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._events)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeGraphApi:
        plain, tls = _bound(), _bound()
        self.port, self.tls_port = plain.getsockname()[1], tls.getsockname()[1]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, self._key_file)
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application()
            app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
            app.router.add_post("/{tenant}/oauth2/v2.0/token", self._issue_token)
            app.router.add_route("*", "/v1.0/{path:.*}", self._graph)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, plain).start()
            await web.SockSite(self._runner, tls, ssl_context=context).start()
            ready.set()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-graph-api", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the fake Graph API did not start")
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is not None and runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            assert self._thread is not None
            self._thread.join(10)
            loop.close()
            self._loop = None
        self._dir.cleanup()

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the server ---------------------------------------------------------------------

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        self._record(Call(request.method, request.path, dict(request.headers)))
        base = f"{self.authority_url}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "response_types_supported": ["code", "id_token", "token"],
            }
        )

    async def _issue_token(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        self._record(Call(request.method, request.path, dict(request.headers), form=form))
        if form.get("grant_type") != "client_credentials" or not form.get("client_secret"):
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"fake-graph-token-{next(self._tokens)}"
        with self._lock:
            self.token = token
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        )

    async def _graph(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self._record(Call(request.method, request.path, dict(request.headers), json=body))
        failure = self._next_failure()
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            error = {"error": {"code": failure.code, "message": failure.message}}
            return web.json_response(error, status=failure.status, headers=headers)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            error = {"code": "InvalidAuthenticationToken", "message": "Access token is invalid."}
            return web.json_response({"error": error}, status=401)
        parts = request.match_info["path"].split("/")
        match request.method, parts:
            case "POST", ["users", _user, "events"]:
                return self._create(body or {})
            case "PATCH", ["users", _user, "events", event_id] if event_id in self._events:
                with self._lock:
                    self._events[event_id].update(body or {})
                    return web.json_response(self._events[event_id])
            case "POST", ["users", _user, "events", event_id, "cancel"] if event_id in self._events:
                with self._lock:
                    self._events[event_id]["isCancelled"] = True
                return web.Response(status=202)
        error = {"code": "ErrorItemNotFound", "message": "The specified object was not found."}
        return web.json_response({"error": error}, status=404)

    def _create(self, body: dict[str, Any]) -> web.Response:
        with self._lock:
            existing = self._by_transaction.get(str(body.get("transactionId")))
            if existing is not None:
                return web.json_response(self._events[existing], status=201)
            event = json.loads((FIXTURES / "createEvent.example1.response.json").read_text())
            event.update(body)
            event["id"] = f"AAMkAGI1AAAt9AHj{next(self._ids):04d}="
            if body.get("isOnlineMeeting"):
                event["onlineMeeting"] = {"joinUrl": JOIN_URL}
            self._events[event["id"]] = event
            if body.get("transactionId"):
                self._by_transaction[str(body["transactionId"])] = event["id"]
            return web.json_response(event, status=201)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _next_failure(self) -> Failure | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return failure


@pytest.fixture
def fake_graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraphApi]:
    """A running fake Graph; msal (through requests) trusts its certificate for the test."""
    with FakeGraphApi() as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_file))
        yield fake
