"""A fake Microsoft Graph API and Entra ID token endpoint on 127.0.0.1 that records every call.

It runs an aiohttp server in its own thread and event loop: `url` (plain HTTP) serves Graph
under `/v1.0` (`api_url`), and a fake Entra ID authority (tests/fakes/entra.py) at
`authority_url` issues the tokens; msal must trust its certificate, `ca_file`, through
REQUESTS_CA_BUNDLE (the `fake_graph` fixture sets it).

Graph answers createEvent (201, the documented example response, with a Teams join URL added;
the same `transactionId` gives the same event back, as Graph does), PATCH of an event (200) and
cancel (202). `fail(status, times=n, retry_after=...)` makes the next n Graph calls fail (token
calls are failed through `entra.fail`). Only the last issued bearer token is accepted (401
otherwise).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.entra import TENANT, FakeEntra
from tests.fakes.loopback import Call, LoopbackServer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "graph"
JOIN_URL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_fake%40thread.v2/0"
__all__ = ["JOIN_URL", "TENANT", "Call", "FakeGraphApi", "fake_graph"]


@dataclass
class Failure:
    """How the next `times` Graph calls fail."""

    status: int
    times: int
    retry_after: float | None = None
    code: str = "ErrorAccessDenied"
    message: str = "Access is denied."


class FakeGraphApi:
    """The fake server; `api_url` and `authority_url` are what GraphCalendar is given. Give it
    an `entra` to share one authority with other fakes; otherwise it runs its own."""

    def __init__(self, entra: FakeEntra | None = None) -> None:
        self._lock = threading.Lock()
        self._graph_calls: list[Call] = []
        self._failures: list[Failure] = []
        self._events: dict[str, dict[str, Any]] = {}  # id -> event
        self._by_transaction: dict[str, str] = {}  # transactionId -> id
        self._ids = itertools.count(1)
        self._own_entra = entra is None
        self.entra = entra or FakeEntra()
        app = web.Application()
        app.router.add_route("*", "/v1.0/{path:.*}", self._graph)
        self._server = LoopbackServer("fake-graph-api", app)
        self.port = 0

    # --- control ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def authority_url(self) -> str:
        return self.entra.authority_url

    @property
    def ca_file(self) -> Path:
        return self.entra.ca_file

    @property
    def token(self) -> str | None:
        """The last access token the authority issued (the only one Graph accepts)."""
        return self.entra.token

    @property
    def calls(self) -> list[Call]:
        """Every call to Graph and to the authority, in order."""
        with self._lock:
            graph = list(self._graph_calls)
        return sorted([*self.entra.calls, *graph], key=lambda c: c.at)

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
            return list(self._graph_calls)

    def token_calls(self) -> list[Call]:
        return self.entra.token_calls()

    def events(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._events)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeGraphApi:
        if self._own_entra:
            self.entra.start()
        [self.port] = self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._own_entra:
            self.entra.stop()

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the server ---------------------------------------------------------------------

    async def _graph(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        with self._lock:
            self._graph_calls.append(
                Call(request.method, request.path, dict(request.headers), json=body)
            )
        failure = self._next_failure()
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            error = {"error": {"code": failure.code, "message": failure.message}}
            return web.json_response(error, status=failure.status, headers=headers)
        if request.headers.get("Authorization") != f"Bearer {self.entra.token}":
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
