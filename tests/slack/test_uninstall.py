"""A workspace that uninstalls the app, end to end: signed `app_uninstalled` and `tokens_revoked`
events to the real app, the outbox relay against the fake Slack, the messenger's token, and a
reinstall found at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from bot.app import create_app
from bot.config import SlackCredentials, SlackMode
from bot.core import Core
from bot.ports import DeliveryFailed
from bot.services.audit import AuditFilter, AuditLog
from bot.services.outbox import (
    FAILED,
    IN_FLIGHT,
    PENDING,
    SENT,
    OutboxService,
    Recipient,
    enqueue,
)
from bot.services.workspaces import UNINSTALLED_ERROR, WorkspaceService
from bot.types import ConversationRef, Paragraph, Platform, Reply
from handlers.slack.messenger import UNINSTALLED_REFUSAL, SlackMessenger
from handlers.slack.pacing import Pacer
from scheduler.relay import Relay
from storage.engine import Database
from storage.models import ChatIdentity
from storage.outbox_tables import OutboxMessage
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import ESSEX_TEAM, HEAD, Directory, build_directory
from tests.slack.harness import (
    BOT_TOKEN,
    SlackHarness,
    event_body,
    serving_core,
    settle,
    slack_settings,
)
from tests.slack.signing import JSON, signed_headers

UNINSTALLED = {"type": "app_uninstalled"}
BOT_REVOKED = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0SLISBOT"]}}
USER_REVOKED = {"type": "tokens_revoked", "tokens": {"oauth": ["U0HEAD"]}}


def note(n: str) -> Reply:
    return Reply(f"Note {n}", (Paragraph(f"Note {n}"),), private=False)


def waiting(db: Database, tenant_id: int, *recipients: tuple[str, Recipient]) -> None:
    """Outbox rows due now, as a feature would have left them before the uninstall."""
    now = datetime.now(UTC)
    with db.session() as s:
        for key, to in recipients:
            assert enqueue(
                s, tenant_id=tenant_id, key=key, to=to, reply=note(key), not_before=now, now=now
            )


def outbox_rows(db: Database) -> dict[str, tuple[str, str | None]]:
    with db.session() as s:
        found = s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        return {r.key: (r.status, r.last_error) for r in found}


class _Now:
    """The real clock, for the services a test uses beside the app (which runs on it too)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def uninstall_audit(db: Database, tenant_id: int) -> list[dict[str, object]]:
    entries = AuditLog(db, _Now()).entries(tenant_id, AuditFilter(action="workspace."))
    return [{"action": e.action, "platform": e.platform, **e.detail} for e in entries]


@pytest.fixture
def directory(db: Database) -> Directory:
    return build_directory(db)


@pytest.fixture
async def served(
    database_url: str, db: Database, fake_slack: FakeSlackApi, directory: Directory
) -> AsyncIterator[tuple[SlackHarness, Relay, Core]]:
    core = Core(db)
    async with serving_core(database_url, db, fake_slack, core) as (slack, relay):
        yield slack, relay, core


async def test_an_uninstall_stops_deliveries_and_parks_what_was_waiting(
    served: tuple[SlackHarness, Relay, Core], directory: Directory, db: Database
) -> None:
    slack, relay, core = served
    essex = directory.essex_id
    west = ConversationRef(Platform.SLACK, ESSEX_TEAM, "C0WEST")
    waiting(
        db,
        essex,
        ("to-head", Recipient(person_id=directory.people["head"])),
        ("to-west", Recipient(conversation=west)),
    )

    response = await slack.event(UNINSTALLED)
    assert response.status_code == 200
    await relay.run_once()

    assert slack.fake.calls_to("chat.postMessage") == []
    assert outbox_rows(db) == {
        "to-head": (FAILED, UNINSTALLED_ERROR),
        "to-west": (FAILED, UNINSTALLED_ERROR),
    }
    assert core.workspaces.uninstalled_ids(Platform.SLACK) == [ESSEX_TEAM]
    assert uninstall_audit(db, essex) == [
        {
            "action": "workspace.uninstalled",
            "platform": "slack",
            "reason": "app_uninstalled",
            "conversations_removed": 0,
        }
    ]


async def test_repeats_and_the_revocation_that_follows_have_one_effect(
    served: tuple[SlackHarness, Relay, Core], directory: Directory, db: Database
) -> None:
    slack, relay, _core = served
    body = event_body(UNINSTALLED)
    for retry in (None, "1"):
        headers = signed_headers(body, content_type=JSON)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        assert (await slack.post(body, JSON, headers=headers)).status_code == 200
        await settle()
    # Slack follows an uninstall with tokens_revoked; a second uninstall event is no news.
    assert (await slack.event(BOT_REVOKED)).status_code == 200
    assert (await slack.event(UNINSTALLED)).status_code == 200

    assert len(uninstall_audit(db, directory.essex_id)) == 1
    waiting(db, directory.essex_id, ("later", Recipient(person_id=directory.people["head"])))
    await relay.run_once()
    assert slack.fake.calls_to("chat.postMessage") == []
    assert outbox_rows(db)["later"] == (FAILED, UNINSTALLED_ERROR)


async def test_a_revoked_bot_token_counts_as_an_uninstall(
    served: tuple[SlackHarness, Relay, Core], directory: Directory, db: Database
) -> None:
    slack, _relay, core = served
    assert (await slack.event(BOT_REVOKED)).status_code == 200
    assert core.workspaces.uninstalled_ids(Platform.SLACK) == [ESSEX_TEAM]
    [entry] = uninstall_audit(db, directory.essex_id)
    assert entry["reason"] == "tokens_revoked"


async def test_revoked_user_tokens_only_are_just_logged(
    served: tuple[SlackHarness, Relay, Core],
    directory: Directory,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack, relay, core = served
    waiting(db, directory.essex_id, ("to-head", Recipient(person_id=directory.people["head"])))
    with caplog.at_level("INFO", logger="handlers.slack"):
        assert (await slack.event(USER_REVOKED)).status_code == 200
    assert f"workspace {ESSEX_TEAM} revoked user tokens only: the bot holds none" in (
        caplog.messages
    )
    assert core.workspaces.uninstalled_ids(Platform.SLACK) == []
    await relay.run_once()
    assert outbox_rows(db)["to-head"][0] == SENT


async def test_another_workspace_keeps_receiving(
    served: tuple[SlackHarness, Relay, Core], directory: Directory, db: Database
) -> None:
    slack, relay, _core = served
    waiting(
        db,
        directory.suffolk_id,
        ("to-suffolk", Recipient(person_id=directory.people["suffolk"])),
    )
    await slack.event(UNINSTALLED, team=ESSEX_TEAM)
    await relay.run_once()
    assert outbox_rows(db)["to-suffolk"] == (SENT, None)
    [post] = slack.fake.calls_to("chat.postMessage")
    assert post.params["text"] == "Note to-suffolk"


async def test_after_a_reinstall_parked_rows_go_when_retried(
    served: tuple[SlackHarness, Relay, Core], directory: Directory, db: Database
) -> None:
    slack, relay, core = served
    waiting(db, directory.essex_id, ("to-head", Recipient(person_id=directory.people["head"])))
    await slack.event(UNINSTALLED)
    await relay.run_once()
    assert outbox_rows(db)["to-head"] == (FAILED, UNINSTALLED_ERROR)

    assert core.workspaces.installed(Platform.SLACK, ESSEX_TEAM)
    with db.session() as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.key == "to-head")).one()
    assert row.id is not None
    OutboxService(db, core.clock).requeue(row.id)
    await relay.run_once()

    assert outbox_rows(db)["to-head"] == (SENT, None)
    [post] = slack.fake.calls_to("chat.postMessage")
    assert post.params["channel"] == HEAD


async def test_the_served_apps_messenger_drops_its_token(slack: SlackHarness, db: Database) -> None:
    """The app's own relay (it leads here) sends with a messenger that forgets the token on an
    uninstall: even with the mark cleared behind its back, it sends nothing more."""
    assert (await slack.event(UNINSTALLED)).status_code == 200
    # Cleared as another process would after a reinstall; this one still has the old token.
    assert WorkspaceService(db, _Now()).installed(Platform.SLACK, ESSEX_TEAM)
    with db.session() as s:
        head = s.exec(select(ChatIdentity).where(ChatIdentity.user_id == HEAD)).one()
    waiting(db, head.tenant_id, ("after", Recipient(person_id=head.person_id)))

    for _ in range(100):
        status, error = outbox_rows(db)["after"]
        if status not in (PENDING, IN_FLIGHT):
            break
        await asyncio.sleep(0.05)
    assert status == FAILED and error is not None and UNINSTALLED_REFUSAL in error
    assert slack.fake.calls_to("chat.postMessage") == []


async def test_a_reinstall_is_found_at_start_up(
    database_url: str, db: Database, fake_slack: FakeSlackApi, directory: Directory
) -> None:
    marks = WorkspaceService(db, _Now())
    marks.uninstalled(Platform.SLACK, ESSEX_TEAM, "app_uninstalled")
    fake_slack.team_id = ESSEX_TEAM  # the configured token works for Essex again

    app = create_app(slack_settings(database_url, fake_slack.url))
    async with app.router.lifespan_context(app):
        assert marks.uninstalled_ids(Platform.SLACK) == []
    [check] = fake_slack.calls_to("auth.test")
    assert check.token == BOT_TOKEN
    actions = [e["action"] for e in uninstall_audit(db, directory.essex_id)]
    assert actions == ["workspace.reinstalled", "workspace.uninstalled"]


async def test_a_refused_token_at_start_up_keeps_the_mark(
    database_url: str,
    db: Database,
    fake_slack: FakeSlackApi,
    directory: Directory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    marks = WorkspaceService(db, _Now())
    marks.uninstalled(Platform.SLACK, ESSEX_TEAM, "app_uninstalled")
    fake_slack.fail("auth.test", error="token_revoked", times=None)

    app = create_app(slack_settings(database_url, fake_slack.url))
    with caplog.at_level("WARNING", logger="handlers.slack"):
        async with app.router.lifespan_context(app):
            pass
    assert marks.uninstalled_ids(Platform.SLACK) == [ESSEX_TEAM]
    assert any("token_revoked" in m and ESSEX_TEAM in m for m in caplog.messages)


async def test_no_marks_means_no_question_at_start_up(
    database_url: str, db: Database, fake_slack: FakeSlackApi, directory: Directory
) -> None:
    app = create_app(slack_settings(database_url, fake_slack.url))
    async with app.router.lifespan_context(app):
        pass
    assert fake_slack.calls_to("auth.test") == []


# --- the messenger on its own ---------------------------------------------------------------


@pytest.fixture
async def messenger(fake_slack: FakeSlackApi) -> AsyncIterator[SlackMessenger]:
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, fake_slack.url)
    made = SlackMessenger.for_credentials(creds, pacer=Pacer(method_limits={}, channel_interval=0))
    yield made
    await made.close()


HEAD_DM = ConversationRef(Platform.SLACK, ESSEX_TEAM, HEAD)


async def test_an_uninstall_notice_drops_the_token_and_refuses_sends(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    messenger.workspace_uninstalled(Platform.TEAMS, "tid-other")
    assert not messenger.token_dropped  # not its platform
    messenger.workspace_uninstalled(Platform.SLACK, ESSEX_TEAM)

    with pytest.raises(DeliveryFailed) as raised:
        await messenger.send(HEAD_DM, note("x"), key="k")
    assert raised.value.permanent and UNINSTALLED_REFUSAL in raised.value.reason
    with pytest.raises(DeliveryFailed):
        await messenger.already_delivered(HEAD_DM, "k", since=datetime.now(UTC))
    assert messenger.token_dropped and messenger._client.token is None
    assert fake_slack.calls == []


async def test_slack_saying_the_token_is_revoked_drops_it(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.fail("chat.postMessage", error="token_revoked")
    with pytest.raises(DeliveryFailed) as first:
        await messenger.send(HEAD_DM, note("a"), key="a")
    assert first.value.permanent and "token_revoked" in first.value.reason
    with pytest.raises(DeliveryFailed) as second:
        await messenger.send(HEAD_DM, note("b"), key="b")
    assert UNINSTALLED_REFUSAL in second.value.reason
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_other_refusals_keep_the_token(
    fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(DeliveryFailed):
        await messenger.send(HEAD_DM, note("a"), key="a")
    await messenger.send(HEAD_DM, note("b"), key="b")
    assert not messenger.token_dropped
