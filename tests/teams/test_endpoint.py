"""POST /api/messages over HTTP: what is refused (and with which status) before any activity
handler runs, and that correctly signed activities get through. The endpoint's own checks run
on an app of their own (a spy records what reaches the handlers); the recorded activities run
through the whole bot (bot.app.create_app) against the fake authority and Bot Connector."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from microsoft_teams.api import InvokeResponse
from microsoft_teams.apps import App
from sqlalchemy import func, select
from sqlmodel import SQLModel

from bot.app import create_app
from bot.config import ConfigError, Settings, TeamsCredentials
from handlers.teams.endpoint import DEFAULT_SERVICE_URL, build_teams_app, start_teams
from scheduler.leader import Leadership
from storage.engine import Database
from tests.fakes.bot_connector import FakeBotConnector, bot_connector
from tests.fakes.botframework_auth import FakeBotFrameworkAuth, SigningKey, botframework_auth
from tests.fakes.entra import FakeEntra, entra

__all__ = ["bot_connector", "botframework_auth", "entra"]

RECORDINGS = Path(__file__).parent.parent / "fixtures" / "teams" / "recordings"
# Fictional: the bot's app registration and the local authority's Entra tenant.
APP_ID = "5c1b0a7e-0000-4000-8000-00000000b07e"
TENANT = "0b5e55e0-0000-4000-8000-00000000e55e"
SERVICE_URL = "http://127.0.0.1:9/teams/"  # never called: no handler here sends
# What the recordings were made with (Microsoft's own test tenant and bots).
RECORDED_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
RECORDED_KID = "KpIWRUlgfiNld1DTxZAhe4iNmkA"


def recording(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDINGS / name).read_text())
    return loaded


RECORDING_NAMES = sorted(p.name for p in RECORDINGS.glob("*.request.json"))
# Recorded activities the SDK's models reject (an invoke with no name; message-extension
# invokes with an empty commandContext): once their token is checked, answered 200 and
# ignored, where the SDK alone would fail with 500.
SDK_CANNOT_READ = {
    "invoke-cardAction-noName.request.json",
    "invoke-composeExtension-fetchTask.request.json",
    "invoke-composeExtension-submitAction.request.json",
}


def recorded_app_id(request: dict[str, Any]) -> str:
    """The bot a recording was sent to (its token's audience; read, never logged)."""
    token = request["headers"]["authorization"].removeprefix("Bearer ")
    audience: str = jwt.decode(token, options={"verify_signature": False})["aud"]
    return audience


def activity(**changes: Any) -> dict[str, Any]:
    """A personal message from a fictional head teacher in the served tenant."""
    base: dict[str, Any] = {
        "type": "message",
        "id": "1700000000001",
        "timestamp": "2026-11-24T09:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": SERVICE_URL,
        "from": {
            "id": "29:1fictional-head-member-id",
            "name": "Alex Example",
            "aadObjectId": "a1e0e0e0-0000-4000-8000-0000000000a1",
        },
        "conversation": {
            "conversationType": "personal",
            "tenantId": TENANT,
            "id": "a:1fictional-personal-conversation",
        },
        "recipient": {"id": f"28:{APP_ID}", "name": "SLIS Bot"},
        "channelData": {"tenant": {"id": TENANT}},
        "text": "help",
        "textFormat": "plain",
        "locale": "en-GB",
    }
    return base | changes


def teams_settings(
    database_url: str, fake: FakeBotFrameworkAuth, *, app_id: str = APP_ID, tenant: str = TENANT
) -> Settings:
    """Settings for a Teams bot checking tokens against the fake; nothing from the
    environment or a .env file."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "slack_bot_token": None,
        "slack_signing_secret": None,
        "slack_app_token": None,
        "teams_app_id": app_id,
        "teams_tenant_id": tenant,
        "teams_app_password": "not-a-real-client-secret",
        "teams_openid_metadata_url": fake.openid_metadata_url,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def no_tokens(scope: str | list[str], tenant_id: str | None) -> str:
    """The bot's outbound token provider: inbound checks must never need one."""
    raise AssertionError("an inbound request asked for an outbound token")


@dataclass
class Endpoint:
    """The endpoint under test, an HTTP client for it, and the activities the SDK handed on
    to the bot's handlers."""

    http: httpx.AsyncClient
    fake: FakeBotFrameworkAuth
    creds: TeamsCredentials
    handled: list[dict[str, Any]]

    async def post(
        self, body: Any, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
        return await self.http.post("/api/messages", content=content, headers=sent)

    async def signed(self, body: dict[str, Any], **sign: Any) -> httpx.Response:
        return await self.post(body, token=self.fake.sign(body, app_id=self.creds.app_id, **sign))


@asynccontextmanager
async def serving(
    settings: Settings,
    fake: FakeBotFrameworkAuth,
    register: Callable[[App], None] | None = None,
) -> AsyncIterator[Endpoint]:
    """The endpoint on a FastAPI app of its own; `register` adds activity handlers."""
    creds = settings.teams()
    assert creds is not None
    web = FastAPI()
    app = build_teams_app(web, creds, no_tokens)
    handled: list[dict[str, Any]] = []

    async def spy(ctx: Any) -> None:
        handled.append(ctx.activity.model_dump(by_alias=True, exclude_none=True))
        await ctx.next()

    app.use(spy)
    if register is not None:
        register(app)
    await start_teams(app)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
        yield Endpoint(http, fake, creds, handled)


@pytest.fixture
async def endpoint(
    database_url: str, botframework_auth: FakeBotFrameworkAuth
) -> AsyncIterator[Endpoint]:
    async with serving(teams_settings(database_url, botframework_auth), botframework_auth) as e:
        yield e


# --- getting through ---------------------------------------------------------------------


async def test_a_correctly_signed_activity_reaches_the_handlers(endpoint: Endpoint) -> None:
    response = await endpoint.signed(activity())
    assert response.status_code == 200, response.text
    assert [a["text"] for a in endpoint.handled] == ["help"]


async def test_the_tenant_may_come_in_channel_data_only(endpoint: Endpoint) -> None:
    response = await endpoint.signed(activity(conversation={"id": "a:1x", "tenantId": None}))
    assert response.status_code == 200, response.text
    assert len(endpoint.handled) == 1


async def test_the_signing_keys_are_fetched_once_not_per_request(endpoint: Endpoint) -> None:
    for _ in range(3):
        assert (await endpoint.signed(activity())).status_code == 200
    # Once for our endorsement check, once for the SDK's signature check; then cached.
    assert endpoint.fake.keys_calls() == 2


async def test_invoke_responses_pass_through_unchanged(
    database_url: str, botframework_auth: FakeBotFrameworkAuth
) -> None:
    answer = {"task": {"type": "message", "value": "Not offered here."}}

    async def on_invoke(_ctx: Any) -> InvokeResponse[Any]:
        return InvokeResponse(status=202, body=answer)

    settings = teams_settings(database_url, botframework_auth)
    async with serving(settings, botframework_auth, lambda app: app.on_invoke(on_invoke)) as e:
        response = await e.signed(activity(type="invoke", name="task/fetch", value={}))
    assert (response.status_code, response.json()) == (202, answer)


async def test_a_failing_handler_is_a_500_without_details(
    database_url: str, botframework_auth: FakeBotFrameworkAuth
) -> None:
    async def broken(_ctx: Any) -> None:
        raise RuntimeError("internal detail: row 42 of chat_identity")

    settings = teams_settings(database_url, botframework_auth)
    async with serving(settings, botframework_auth, lambda app: app.on_message(broken)) as e:
        response = await e.signed(activity())
    assert response.status_code == 500
    assert "row 42" not in response.text


# --- refused before any handler ------------------------------------------------------------


async def assert_refused(endpoint: Endpoint, response: httpx.Response, status: int) -> None:
    """The request was refused with `status` and no handler ran."""
    assert response.status_code == status, response.text
    assert endpoint.handled == []


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda f: f.sign(activity(), app_id=APP_ID, audience="another-app"), id="aud"),
        pytest.param(
            lambda f: f.sign(activity(), app_id=APP_ID, issuer="https://sts.example.test/"),
            id="iss",
        ),
        pytest.param(lambda f: f.sign(activity(), app_id=APP_ID, key=f.untrusted), id="signature"),
        pytest.param(lambda f: f.sign(activity(), app_id=APP_ID, expires_in=-3600), id="expired"),
        pytest.param(
            lambda f: f.sign(activity(), app_id=APP_ID, service_url=None), id="no-serviceurl"
        ),
        pytest.param(
            lambda f: f.sign(activity(), app_id=APP_ID, service_url="https://elsewhere.test/"),
            id="other-serviceurl",
        ),
        pytest.param(
            lambda f: f.sign(activity(), app_id=APP_ID, key=f.unendorsed), id="not-endorsed"
        ),
        pytest.param(lambda f: f.sign(activity(), app_id=APP_ID, kid="no-such-kid"), id="kid"),
        pytest.param(lambda f: "not.a.jwt", id="garbage"),
    ],
)
async def test_bad_tokens_are_401(
    endpoint: Endpoint, make_token: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token(endpoint.fake)
    with caplog.at_level(logging.DEBUG):
        response = await endpoint.post(activity(), token=token)
    await assert_refused(endpoint, response, 401)
    assert token not in caplog.text
    assert "fictional-personal-conversation" not in caplog.text


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic YWxleDpwYXNzd29yZA=="}, {"Authorization": "Bearer"}],
    ids=["none", "basic", "empty-bearer"],
)
async def test_no_bearer_token_is_401(endpoint: Endpoint, headers: dict[str, str]) -> None:
    await assert_refused(endpoint, await endpoint.post(activity(), headers=headers), 401)


async def test_a_token_for_another_activitys_service_url_is_401(endpoint: Endpoint) -> None:
    other = endpoint.fake.sign(activity(serviceUrl="http://127.0.0.1:9/other/"), app_id=APP_ID)
    await assert_refused(endpoint, await endpoint.post(activity(), token=other), 401)


async def test_a_channel_the_key_is_not_endorsed_for_is_401(endpoint: Endpoint) -> None:
    # The trusted key is endorsed for msteams and webchat, not for skype.
    response = await endpoint.signed(activity(channelId="skype"))
    await assert_refused(endpoint, response, 401)


@pytest.mark.parametrize(
    "tenant",
    [
        {"conversation": {"id": "a:1", "tenantId": RECORDED_TENANT}},
        {"conversation": {"id": "a:1"}, "channelData": {"tenant": {"id": RECORDED_TENANT}}},
        {"conversation": {"id": "a:1"}, "channelData": {}},
    ],
    ids=["conversation", "channel-data", "none"],
)
async def test_another_tenant_is_403_even_correctly_signed(
    endpoint: Endpoint, tenant: dict[str, Any]
) -> None:
    response = await endpoint.signed(activity(**tenant))
    await assert_refused(endpoint, response, 403)
    assert response.json() == {"error": "tenant not served here"}


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"",
        b"[1, 2]",
        b'"message"',
        json.dumps({k: v for k, v in activity().items() if k != "type"}).encode(),
        json.dumps(activity(type=["message"])).encode(),
    ],
    ids=["broken", "empty", "list", "string", "no-type", "type-not-string"],
)
async def test_malformed_bodies_are_400(endpoint: Endpoint, body: bytes) -> None:
    token = endpoint.fake.sign(activity(), app_id=APP_ID)
    await assert_refused(endpoint, await endpoint.post(body, token=token), 400)


async def test_an_authentic_activity_the_sdk_cannot_read_is_ignored_and_not_logged(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    unnamed = activity(type="invoke", value={"secret": "Pat's answers"})
    with caplog.at_level(logging.DEBUG):
        response = await endpoint.signed(unnamed)
    assert (response.status_code, response.content) == (200, b"")
    assert "Pat's answers" not in caplog.text
    assert "an activity the Teams SDK cannot read" in caplog.text


async def test_an_unreadable_activity_still_needs_a_valid_token(
    endpoint: Endpoint, botframework_auth: FakeBotFrameworkAuth
) -> None:
    unnamed = activity(type="invoke", value={})
    expired = botframework_auth.sign(unnamed, app_id=APP_ID, expires_in=-600)
    await assert_refused(
        endpoint, await endpoint.post(json.dumps(unnamed).encode(), token=expired), 401
    )
    wrong_audience = botframework_auth.sign(unnamed, app_id=APP_ID, audience="someone-else")
    response = await endpoint.post(json.dumps(unnamed).encode(), token=wrong_audience)
    await assert_refused(endpoint, response, 401)


async def test_a_huge_body_is_413(endpoint: Endpoint) -> None:
    padded = activity(text="x" * (2 * 1024 * 1024))
    await assert_refused(endpoint, await endpoint.signed(padded), 413)


async def test_unavailable_signing_keys_are_503(endpoint: Endpoint) -> None:
    endpoint.fake.fail(times=2)
    await assert_refused(endpoint, await endpoint.signed(activity()), 503)


# --- the recordings, through the whole bot ----------------------------------------------------

# Where an activity handled (or wrongly let through) would leave a trace.
TRACES = ("chat_conversation", "chat_identity", "seen_request", "outbox_message")


def traces(db: Database) -> dict[str, int]:
    tables = SQLModel.metadata.tables
    with db.engine.connect() as conn:
        return {
            t: conn.execute(select(func.count()).select_from(tables[t])).scalar_one()
            for t in TRACES
        }


def bot_settings(
    database_url: str,
    fake: FakeBotFrameworkAuth,
    entra: FakeEntra,
    request: dict[str, Any],
    *,
    tenant: str = RECORDED_TENANT,
) -> Settings:
    """The bot registered as the recording's bot, its tokens out from the fake authority."""
    entra.tenant = tenant  # the authority of the bot's own tenant
    settings = teams_settings(database_url, fake, app_id=recorded_app_id(request), tenant=tenant)
    return settings.model_copy(update={"teams_authority_url": entra.authority_url})


@asynccontextmanager
async def serving_bot(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The whole bot (bot.app.create_app) over HTTP. The test holds the scheduler lock, so the
    app's runtime never leads: nothing is sent unless an activity causes it."""
    lock = Leadership.for_database(db, retry_seconds=3600)
    assert await lock.try_acquire()
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
                yield http
    finally:
        await lock.release()


async def post_recorded(
    http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await http.post("/api/messages", content=json.dumps(body).encode(), headers=headers)


@pytest.mark.parametrize("name", RECORDING_NAMES)
async def test_recordings_as_recorded_are_401(
    name: str,
    database_url: str,
    db: Database,
    botframework_auth: FakeBotFrameworkAuth,
    entra: FakeEntra,
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = recording(name)
    settings = bot_settings(database_url, botframework_auth, entra, request)
    before = traces(db)
    with caplog.at_level(logging.INFO):
        async with serving_bot(settings, db) as http:
            response = await post_recorded(http, request["body"], request["headers"])
            assert response.status_code == 401, response.text
            # With a key of the recorded kid published (ours), the endorsement check passes
            # and the SDK's own checks refuse the tokens: signed by another key, expired.
            botframework_auth.publish(SigningKey.make(RECORDED_KID, "msteams", name="recorded-kid"))
        caplog.clear()
        async with serving_bot(settings, db) as http:
            response = await post_recorded(http, request["body"], request["headers"])
    assert response.status_code == 401, response.text
    if name not in SDK_CANNOT_READ:
        ours = [r for r in caplog.records if r.name == "handlers.teams.endpoint"]
        assert ours == [], "refused before the SDK's token check"
    assert traces(db) == before
    assert entra.token_calls() == []
    token = request["headers"]["authorization"].removeprefix("Bearer ")
    assert token not in caplog.text


@pytest.mark.parametrize("name", RECORDING_NAMES)
async def test_recordings_from_another_tenant_are_403(
    name: str,
    database_url: str,
    db: Database,
    botframework_auth: FakeBotFrameworkAuth,
    entra: FakeEntra,
) -> None:
    request = recording(name)
    settings = bot_settings(database_url, botframework_auth, entra, request, tenant=TENANT)
    before = traces(db)
    async with serving_bot(settings, db) as http:
        response = await post_recorded(http, request["body"], request["headers"])
        assert (response.status_code, response.json()) == (403, {"error": "tenant not served here"})
        # Correctly signed makes no difference.
        token = botframework_auth.sign(request["body"], app_id=recorded_app_id(request))
        resigned = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        response = await post_recorded(http, request["body"], resigned)
        assert response.status_code == 403
    assert traces(db) == before
    assert entra.token_calls() == []


@pytest.mark.parametrize("name", RECORDING_NAMES)
async def test_recordings_signed_with_the_test_key_get_through(
    name: str,
    database_url: str,
    db: Database,
    botframework_auth: FakeBotFrameworkAuth,
    entra: FakeEntra,
    bot_connector: FakeBotConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = recording(name)
    body = request["body"] | {"serviceUrl": bot_connector.service_url}
    settings = bot_settings(database_url, botframework_auth, entra, request)
    token = botframework_auth.sign(body, app_id=recorded_app_id(request))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    before = traces(db)
    with caplog.at_level(logging.INFO):
        async with serving_bot(settings, db) as http:
            caplog.clear()
            response = await post_recorded(http, body, headers)
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], "handled without error"
    assert response.status_code == 200, response.text
    if name in SDK_CANNOT_READ:
        assert traces(db) == before
        return
    if body["type"] == "message":
        # Handled: the delivery is remembered (a retry of it does nothing twice), and the
        # bot answered in the conversation.
        assert traces(db)["seen_request"] == before["seen_request"] + 1
        assert bot_connector.calls_to("POST", "/activities")


# --- settings the SDK would otherwise take from the environment -----------------------------


def test_the_unauthenticated_switch_stops_the_start(
    database_url: str, botframework_auth: FakeBotFrameworkAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "true")
    with pytest.raises(ConfigError, match="DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS"):
        teams_settings(database_url, botframework_auth).teams()


async def test_the_sdk_ignores_its_environment_variables(
    database_url: str, botframework_auth: FakeBotFrameworkAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = teams_settings(database_url, botframework_auth).teams()
    assert creds is not None
    monkeypatch.setenv("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "true")
    monkeypatch.setenv("CLIENT_ID", "an-app-from-the-environment")
    monkeypatch.setenv("TENANT_ID", "a-tenant-from-the-environment")
    monkeypatch.setenv("CLOUD", "USGov")
    monkeypatch.setenv("SERVICE_URL", "https://collector.example.test/")
    monkeypatch.setenv("OAUTH_URL", "https://collector.example.test/oauth")
    web = FastAPI()
    app = build_teams_app(web, creds, no_tokens)
    assert app.id == APP_ID
    assert app.credentials is not None and app.credentials.tenant_id == TENANT
    assert app.cloud.openid_metadata_url == botframework_auth.openid_metadata_url
    assert app.cloud.token_issuer == "https://api.botframework.com"
    assert app.api.service_url == DEFAULT_SERVICE_URL
    assert app.options.dangerously_allow_unauthenticated_requests is False
    await start_teams(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://slis.test"
    ) as http:
        unsigned = await http.post("/api/messages", json=activity())
    assert unsigned.status_code == 401


def test_a_client_secret_in_the_environment_is_refused(
    database_url: str, botframework_auth: FakeBotFrameworkAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = teams_settings(database_url, botframework_auth).teams()
    assert creds is not None
    monkeypatch.setenv("CLIENT_SECRET", "a-secret-from-the-environment")
    with pytest.raises(ConfigError, match="CLIENT_SECRET") as caught:
        build_teams_app(FastAPI(), creds, no_tokens)
    assert "a-secret-from-the-environment" not in str(caught.value)
