"""Tokens and signing secrets never appear in logs, in what people are shown, or in the outbox.

A full scenario runs on Slack and on Teams with every logger at DEBUG (the bot's and the
libraries': slack_sdk, slack_bolt, msal, httpx, urllib3, the Teams SDK...), then the error
paths: a request with a wrong signature or a forged token, a command that faults, an adapter
that faults, answers of 401, 403, 429 and 500 from the fakes, and a delivery that fails for
good. Every captured log record (its message, its arguments and its traceback), every message
and reply the bot sent to people, every answer the app gave, and every outbox `last_error` is
then searched for each secret and for its distinctive parts (a token without its prefix, each
signed part of a JWT).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.config import Settings
from bot.services.outbox import Recipient, enqueue
from bot.types import ConversationRef, Paragraph, Platform, Reply
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.fakes.botframework_auth import SigningKey
from tests.fakes.entra import BOT_APP_ID, BOT_SECRET
from tests.scenarios import test_scenarios as scenarios
from tests.scenarios.slack_chat import SlackChat, make_slack_chat
from tests.scenarios.teams_chat import TeamsChat, make_teams_chat
from tests.scenarios.world import World, build_world
from tests.slack.harness import BOT_TOKEN, slash_body
from tests.slack.signing import JSON, signed_headers
from tests.slack.signing import SECRET as SIGNING_SECRET

# Loggers named outright: some are made only when first used, and must be at DEBUG by then.
LIBRARIES = (
    "slack_sdk",
    "slack_bolt",
    "msal",
    "httpx",
    "httpcore",
    "urllib3",
    "aiohttp",
    "microsoft_teams",
    "uvicorn",
    "apscheduler",
    "jwt",
    "sqlalchemy",
)
PEPPER = "scenario-pepper-" + "s" * 40  # the scenario world's (tests.scenarios.world.KEYS)


class Everything(logging.Handler):
    """Keeps every record, with its traceback formatted (`exc_text`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # fills record.exc_text from exc_info
        self.records.append(record)

    def texts(self) -> Iterator[tuple[str, str]]:
        for r in self.records:
            where = f"log {r.name}:{r.levelname}"
            yield where, r.getMessage()
            yield where, repr(r.msg)
            yield where, repr(r.args)
            yield where, r.exc_text or ""
            yield where, r.stack_info or ""


@pytest.fixture
def logged() -> Iterator[Everything]:
    """Every logger at DEBUG, enabled, and read by one handler; put back after."""
    handler = Everything()
    root = logging.getLogger()
    names = sorted({*logging.Logger.manager.loggerDict, *LIBRARIES})
    saved_root = root.level
    saved: dict[str, tuple[int, bool, bool]] = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.disabled, logger.propagate)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate:
            logger.addHandler(handler)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, (level, disabled, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.disabled = disabled
            logger.propagate = propagate
            logger.removeHandler(handler)


@dataclass
class Secrets:
    """What must never be shown, by name, with the parts of each that give it away."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str | None) -> None:
        if value:
            self.values[name] = value

    def fragments(self) -> Iterator[tuple[str, str]]:
        for name, value in self.values.items():
            yield name, value
            for prefix in ("xoxb-", "xapp-", "Bearer "):
                if value.startswith(prefix):
                    yield f"{name} without {prefix.strip()}", value.removeprefix(prefix)
            parts = value.split(".")
            if len(parts) == 3:  # a JWT: its claims and its signature give it away
                yield f"{name} (claims)", parts[1]
                yield f"{name} (signature)", parts[2]


def leaks(secrets: Secrets, places: Iterable[tuple[str, str]]) -> list[str]:
    found = []
    for where, text in places:
        for name, fragment in secrets.fragments():
            if fragment and fragment in text:
                found.append(f"{name} in {where}: {text[:300]!r}")
    return found


@dataclass
class Answers:
    """Every answer the app gave over HTTP."""

    bodies: list[str] = field(default_factory=list)

    async def keep(self, response: httpx.Response) -> None:
        await response.aread()
        self.bodies.append(response.text)


def common_secrets(world: World) -> Secrets:
    secrets = Secrets()
    secrets.add("anonymity pepper", PEPPER)
    secrets.add("database password", make_url(world.database_url).password)
    return secrets


def last_errors(world: World) -> list[tuple[str, str]]:
    with world.db.session() as s:
        rows = s.exec(select(OutboxMessage.key, OutboxMessage.last_error)).all()
    return [(f"outbox {key}", error or "") for key, error in rows]


def waiting(world: World, to: ConversationRef, key: str) -> None:
    """A message due now for a conversation of its own."""
    now = world.clock.now()
    with world.db.session() as s:
        assert enqueue(
            s,
            tenant_id=world.tenant_id,
            key=key,
            to=Recipient(conversation=to),
            reply=Reply(f"Note {key}", (Paragraph(f"Note {key}"),)),
            not_before=now,
            now=now,
        )


def broken(*_args: object, **_kwargs: object) -> Any:
    raise RuntimeError("the directory is on fire")


async def broken_async(*_args: object, **_kwargs: object) -> Any:
    raise RuntimeError("identity lookup is on fire")


@pytest.fixture
def world(database_url: str, db: Database) -> World:
    return build_world(database_url, db)


def test_the_search_finds_a_secret_wherever_it_is_logged() -> None:
    """The check itself: a token in a record's arguments, or in its traceback, is found."""
    handler = Everything()
    log = logging.getLogger("tests.leaky")
    log.addHandler(handler)
    try:
        log.warning("calling Slack with %s", {"token": BOT_TOKEN.removeprefix("xoxb-")})
        try:
            raise RuntimeError(f"refused {SIGNING_SECRET}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    secrets = Secrets()
    secrets.add("bot token", BOT_TOKEN)
    secrets.add("signing secret", SIGNING_SECRET)
    found = leaks(secrets, handler.texts())
    assert any(f.startswith("bot token without xoxb- in log") for f in found), found
    assert any(f.startswith("signing secret in log") for f in found), found


def test_settings_never_show_their_secrets() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url="postgresql://slis:db-password-unshown@db.example.test/slis",
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slis_anonymity_pepper=PEPPER,
        teams_app_id=BOT_APP_ID,
        teams_app_password=BOT_SECRET,
        teams_tenant_id="00000000-0000-0000-0000-00000000e55e",
    )
    shown = [repr(settings), str(settings), repr(settings.slack()), repr(settings.teams())]
    secrets = Secrets()
    for name, value in (
        ("bot token", BOT_TOKEN),
        ("signing secret", SIGNING_SECRET),
        ("pepper", PEPPER),
        ("Teams client secret", BOT_SECRET),
    ):
        secrets.add(name, value)
    assert leaks(secrets, [("settings", text) for text in shown]) == []


async def test_slack_scenario_and_its_errors_leak_nothing(
    world: World, logged: Everything, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = common_secrets(world)
    secrets.add("Slack bot token", BOT_TOKEN)
    secrets.add("Slack signing secret", SIGNING_SECRET)
    answers = Answers()

    async with make_slack_chat(world) as chat:
        assert isinstance(chat, SlackChat)
        chat.slack.http.event_hooks["response"].append(answers.keep)
        await scenarios.test_a_head_asks_for_support_and_an_alliance_lead_claims_it(world, chat)
        head = chat.users[world.head]
        fake = chat.slack.fake

        # A request signed with another secret: refused.
        body = slash_body("whoami", user=head)
        forged = signed_headers(body, secret="not-the-signing-secret")
        assert (await chat.slack.post(body, headers=forged)).status_code == 401
        stale = signed_headers(body, timestamp=1)
        assert (await chat.slack.post(body, headers=stale)).status_code == 401

        # A command that faults, and an adapter that faults.
        with monkeypatch.context() as m:
            m.setattr(world.core.directory, "school", broken)
            [faulted] = await chat.say(world.head, "school 115141")
            assert "something went wrong" in faulted.text
        with monkeypatch.context() as m:
            m.setattr(world.core, "identify", broken_async)
            answer = await chat.slack.reply("whoami", user=head)
            assert "something went wrong" in json.dumps(answer)
            home = {"type": "app_home_opened", "user": head, "channel": "D0HOME", "tab": "home"}
            event = json.dumps(
                {
                    "type": "event_callback",
                    "team_id": world.workspace(Platform.SLACK),
                    "event_id": "Ev0SECRETS",
                    "event": home,
                }
            )
            assert (await chat.slack.post(event, JSON)).status_code == 200

        # Slack answering 500, 401, 403 and 429 to deliveries, then revoking the token; each
        # to a channel of its own, so that no retry holds back the next.
        team = world.workspace(Platform.SLACK)
        for n, failure in enumerate(
            [
                {"status": 500},
                {"status": 401, "error": "invalid_auth"},
                {"status": 403, "error": "not_allowed_token_type"},
                {"status": 429, "retry_after": 1},
                {"error": "token_revoked"},
                None,  # refused here: the token was dropped
            ]
        ):
            if failure is not None:
                fake.fail("chat.postMessage", **failure)  # type: ignore[arg-type]
            waiting(world, ConversationRef(Platform.SLACK, team, f"C0SECRETS{n}"), f"secrets:{n}")
            await chat.relay.run_once()
            if failure is not None and failure.get("status") == 429:
                await asyncio.sleep(1.1)  # the relay pauses Slack for Retry-After

    replies = [(f"Slack {c.method}", json.dumps(c.params)) for c in fake.calls]
    said = [("app answer", text) for text in answers.bodies]
    errors = last_errors(world)
    assert any(error for _, error in errors), "a delivery failed for good"
    assert leaks(secrets, [*logged.texts(), *replies, *said, *errors]) == []
    assert any(r.name.startswith("slack_sdk") for r in logged.records), "DEBUG was on"


async def test_teams_scenario_and_its_errors_leak_nothing(
    world: World, logged: Everything, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = common_secrets(world)
    secrets.add("Teams client secret", BOT_SECRET)
    answers = Answers()
    signed: list[str] = []

    async with make_teams_chat(world) as chat:
        assert isinstance(chat, TeamsChat)
        chat.http.event_hooks["response"].append(answers.keep)
        sign = chat.auth.sign

        def keeping(*args: Any, **kwargs: Any) -> str:
            token = sign(*args, **kwargs)
            signed.append(token)
            return token

        monkeypatch.setattr(chat.auth, "sign", keeping)
        await scenarios.test_a_head_asks_for_support_and_an_alliance_lead_claims_it(world, chat)
        person = chat.person(world.head)

        # A token signed with a key the Bot Framework never published: refused.
        activity = chat.activity(person, "message", text="whoami")
        forged = chat.auth.sign(
            activity, app_id=BOT_APP_ID, key=SigningKey.make("rogue-kid", "msteams")
        )
        refused = await chat.http.post(
            "/api/messages",
            content=json.dumps(activity).encode(),
            headers={"authorization": f"Bearer {forged}", "content-type": "application/json"},
        )
        assert refused.status_code == 401

        # A command that faults, and an adapter that faults.
        with monkeypatch.context() as m:
            m.setattr(world.core.directory, "school", broken)
            faulted = await chat.say(world.head, "school 115141")
            assert any("something went wrong" in f.text for f in faulted)
        with monkeypatch.context() as m:
            m.setattr(world.core, "identify", broken_async)
            await chat.post(chat.activity(person, "message", text="whoami"))

        # The Bot Connector answering 500, 401, 403 and 429, each for a conversation of its own.
        for n, (status, retry_after) in enumerate(
            [(500, None), (401, None), (403, None), (429, 1.0)]
        ):
            chat.connector.fail(status, retry_after=retry_after)
            to = ConversationRef(
                Platform.TEAMS, chat.tenant, f"a:secrets-{n}", chat.connector.service_url
            )
            waiting(world, to, f"secrets:{n}")
            await chat.relay.run_once()

    for token in [*chat.connector.entra.issued, *signed]:
        secrets.add(f"token {token[-8:]}", token)
    replies = [(f"Teams {c.method} {c.path}", json.dumps(c.json)) for c in chat.connector.calls]
    said = [("app answer", text) for text in answers.bodies]
    errors = last_errors(world)
    assert any(error for _, error in errors), "a delivery failed for good"
    assert chat.connector.entra.issued, "the bot fetched an access token"
    assert leaks(secrets, [*logged.texts(), *replies, *said, *errors]) == []
