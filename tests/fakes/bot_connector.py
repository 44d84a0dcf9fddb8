"""A fake Bot Connector (the Bot Framework REST API Teams gives a bot at the activity's
serviceUrl) on 127.0.0.1 that records every call.

It accepts only bearer tokens the fake Entra ID authority (tests/fakes/entra.py) issued for the
Bot Framework (401 otherwise) and answers:

- POST /v3/conversations: a 1:1 chat with the one member given, `{"id": "a:..."}`, the same id
  for the same member every time, as Teams does;
- POST /v3/conversations/{id}/activities: 201 `{"id": "<n>"}`, keeping the activity under the
  conversation id as given, so a reply in a channel thread (`<channel id>;messageid=<m>`) is
  kept with that thread;
- PUT /v3/conversations/{id}/activities/{activity id}: replaces a kept activity (200, its id),
  404 for one it does not know; `updated` lists the updates;
- GET /v3/conversations/{id}/members/{member id}: the member as a TeamsChannelAccount, for
  members `add_member` registered, 404 otherwise.

`fail(status, times=n, retry_after=...)` makes the next n calls (tokens aside) fail with the
Bot Connector's error body, and with Retry-After when `retry_after` is given; with `after=True`
the call is carried out first and the failure answered after (Teams kept the message, the
answer was lost). `service_url` is what activities in tests carry as their serviceUrl.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.entra import FakeEntra, entra
from tests.fakes.loopback import Call, LoopbackServer

__all__ = ["BOT_FRAMEWORK", "FakeBotConnector", "Member", "bot_connector", "entra"]

BOT_FRAMEWORK = "https://api.botframework.com"  # the audience of the bot's tokens
ERROR_CODES = {
    400: "BadArgument",
    401: "Unauthorized",
    403: "BotNotInConversationRoster",
    404: "ConversationNotFound",
    412: "PreconditionFailed",
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass(frozen=True)
class Member:
    """A Teams user the fake knows, as GET .../members/{id} describes them."""

    member_id: str  # "29:..."
    aad_object_id: str
    name: str
    email: str | None
    user_principal_name: str | None

    def account(self) -> dict[str, Any]:
        """The TeamsChannelAccount JSON."""
        account: dict[str, Any] = {
            "id": self.member_id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "userRole": "user",
        }
        if self.email is not None:
            account["email"] = self.email
        if self.user_principal_name is not None:
            account["userPrincipalName"] = self.user_principal_name
        return account


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: float | None
    after: bool


_FAILURE_AFTER = web.RequestKey("failure after the work", _Failure)


@dataclass
class _Message:
    activity_id: str
    activity: dict[str, Any]


class FakeBotConnector:
    """The fake server, trusting tokens from `entra`."""

    def __init__(self, entra: FakeEntra) -> None:
        self.entra = entra
        self.calls: list[Call] = []
        self.updated: list[tuple[str, str, dict[str, Any]]] = []  # conversation, id, activity
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._members: dict[str, Member] = {}
        self._personal: dict[str, str] = {}  # member id -> 1:1 conversation id
        self._conversations: dict[str, list[_Message]] = {}
        self._activity_ids = itertools.count(1)
        self._conversation_ids = itertools.count(1)
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._put)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        self._server = LoopbackServer("fake-bot-connector", app)
        self.port = 0

    # --- control ------------------------------------------------------------------------

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def add_member(
        self,
        member_id: str,
        aad_object_id: str,
        name: str,
        email: str | None = None,
        upn: str | None = None,
    ) -> Member:
        member = Member(member_id, aad_object_id, name, email, upn)
        with self._lock:
            self._members[member_id] = member
        return member

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        after: bool = False,
    ) -> None:
        """Answer the next `times` calls with `status` (after doing the work, with `after`)."""
        with self._lock:
            self._failures.append(_Failure(status, times, retry_after, after))

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """The latest content of each activity posted to `conversation_id`, in order."""
        with self._lock:
            return [m.activity for m in self._conversations.get(conversation_id, [])]

    def activity_ids(self, conversation_id: str) -> list[str]:
        with self._lock:
            return [m.activity_id for m in self._conversations.get(conversation_id, [])]

    def calls_to(self, method: str, suffix: str = "") -> list[Call]:
        """The calls with this HTTP method whose path ends with `suffix`."""
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeBotConnector:
        [self.port] = self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeBotConnector:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the server ---------------------------------------------------------------------

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = await self._begin(request)
        if isinstance(body, web.Response):
            return body
        members = body.get("members") or []
        if len(members) != 1 or not isinstance(members[0], dict) or not members[0].get("id"):
            return self._error(400, "a personal conversation needs exactly one member")
        member_id = str(members[0]["id"])
        with self._lock:
            conversation = self._personal.get(member_id)
            if conversation is None:
                conversation = f"a:1fake{next(self._conversation_ids):04d}"
                self._personal[member_id] = conversation
                self._conversations.setdefault(conversation, [])
        return self._answer(request, {"id": conversation}, 201)

    async def _post(self, request: web.Request) -> web.Response:
        body = await self._begin(request)
        if isinstance(body, web.Response):
            return body
        conversation = request.match_info["conversation"]
        activity_id = str(next(self._activity_ids))
        with self._lock:
            self._conversations.setdefault(conversation, []).append(_Message(activity_id, body))
        return self._answer(request, {"id": activity_id}, 201)

    async def _put(self, request: web.Request) -> web.Response:
        body = await self._begin(request)
        if isinstance(body, web.Response):
            return body
        conversation = request.match_info["conversation"]
        activity_id = request.match_info["activity"]
        with self._lock:
            kept = [
                m for m in self._conversations.get(conversation, []) if m.activity_id == activity_id
            ]
            if kept:
                kept[0].activity = body
                self.updated.append((conversation, activity_id, body))
        if not kept:
            return self._error(404, "The activity was not found", code="ActivityNotFound")
        return self._answer(request, {"id": activity_id}, 200)

    async def _member(self, request: web.Request) -> web.Response:
        answer = await self._begin(request)
        if isinstance(answer, web.Response):
            return answer
        with self._lock:
            member = self._members.get(request.match_info["member"])
        if member is None:
            return self._error(404, "The member was not found", code="MemberNotFound")
        return self._answer(request, member.account(), 200)

    async def _begin(self, request: web.Request) -> dict[str, Any] | web.Response:
        """Record the call; its JSON body, or the answer when it is refused before any work."""
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        with self._lock:
            self.calls.append(Call(request.method, request.path, dict(request.headers), body))
        auth = request.headers.get("Authorization", "")
        if self.entra.claims(auth.removeprefix("Bearer "), BOT_FRAMEWORK) is None:
            return self._error(401, "Authorization has been denied for this request.")
        failure = self._next_failure()
        if failure is not None and not failure.after:
            return self._failure(failure)
        if failure is not None:
            request[_FAILURE_AFTER] = failure
        return body if isinstance(body, dict) else {}

    def _answer(self, request: web.Request, body: dict[str, Any], status: int) -> web.Response:
        """The answer to work done, unless the test asked for a failure after it."""
        failure = request.get(_FAILURE_AFTER)
        if failure is not None:
            return self._failure(failure)
        return web.json_response(body, status=status)

    def _failure(self, failure: _Failure) -> web.Response:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
        return self._error(failure.status, "Failing as the test asked", headers=headers)

    @staticmethod
    def _error(
        status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        error = {"code": code or ERROR_CODES.get(status, "ServiceError"), "message": message}
        return web.json_response({"error": error}, status=status, headers=headers)

    def _next_failure(self) -> _Failure | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return failure


@pytest.fixture
def bot_connector(entra: FakeEntra) -> Iterator[FakeBotConnector]:
    """A running fake Bot Connector trusting the `entra` fixture's tokens."""
    with FakeBotConnector(entra) as fake:
        yield fake
