"""Workspaces that uninstall the app: the mark, the conversations, the audit entry, what the
outbox does with rows for them, and a reinstall."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.services.audit import AuditFilter, AuditLog
from bot.services.outbox import (
    FAILED,
    IN_FLIGHT,
    SENT,
    OutboxService,
    Recipient,
    enqueue,
)
from bot.services.workspaces import (
    UNINSTALLED_ERROR,
    Uninstall,
    WorkspaceService,
)
from bot.types import ConversationRef, Platform
from storage.conversation_tables import ChatConversation
from storage.engine import Database
from storage.models import ChatIdentity, ChatWorkspace
from storage.outbox_tables import OutboxMessage
from tests.factories import SEEDED_AT, World
from tests.fakes.clock import FakeClock
from tests.scheduler.outbox_world import (
    WORKSPACE,
    channel,
    message,
    rows,
    world_with_administrator,
)

ADA = "ada.head@schools.example.org"
BEN = "ben.lead@schools.example.org"
TEAMS_TENANT = "tid-essex"
SLACK_ONLY = [Platform.SLACK]
BOTH = [Platform.SLACK, Platform.TEAMS]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))


@pytest.fixture
def world(db: Database) -> World:
    built, _admin = world_with_administrator(db)
    return built


@pytest.fixture
def workspaces(db: Database, clock: FakeClock) -> WorkspaceService:
    return WorkspaceService(db, clock)


@pytest.fixture
def outbox(db: Database, clock: FakeClock) -> OutboxService:
    return OutboxService(db, clock, rng=random.Random(3))


def conversation(
    db: Database, world: World, conversation_id: str, *, installed: bool = True
) -> None:
    with db.session() as s:
        s.add(
            ChatConversation(
                tenant_id=world.tenant_id,
                platform="slack",
                workspace_id=WORKSPACE,
                conversation_id=conversation_id,
                kind="channel",
                installed=installed,
                updated_at=SEEDED_AT,
                removed_at=None if installed else SEEDED_AT,
            )
        )


def installed_conversations(db: Database) -> dict[str, bool]:
    with db.session() as s:
        found = s.exec(select(ChatConversation).order_by(col(ChatConversation.id))).all()
        return {c.conversation_id: c.installed for c in found}


def add(db: Database, world: World, key: str, to: Recipient, at: datetime) -> None:
    with db.session() as s:
        assert enqueue(
            s, tenant_id=world.tenant_id, key=key, to=to, reply=message(key), not_before=at, now=at
        )


def audit(db: Database, clock: FakeClock, world: World, action: str) -> list[str]:
    entries = AuditLog(db, clock).entries(world.tenant_id, AuditFilter(action=action))
    return [f"{e.platform} {e.actor} {e.subject} {dict(e.detail)}" for e in entries]


def test_an_uninstall_marks_the_workspace_and_its_conversations_and_is_audited(
    db: Database, world: World, workspaces: WorkspaceService, clock: FakeClock
) -> None:
    conversation(db, world, "C0WEST")
    conversation(db, world, "C0LEFT", installed=False)

    outcome = workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")

    assert outcome.result is Uninstall.DONE
    assert outcome.tenant_id == world.tenant_id and outcome.conversations == 1
    assert workspaces.uninstalled_at(Platform.SLACK, WORKSPACE) == clock.now()
    assert workspaces.uninstalled_ids(Platform.SLACK) == [WORKSPACE]
    assert installed_conversations(db) == {"C0WEST": False, "C0LEFT": False}
    assert audit(db, clock, world, "workspace.uninstalled") == [
        f"slack slack slack workspace {WORKSPACE}"
        " {'reason': 'app_uninstalled', 'conversations_removed': 1}"
    ]


def test_a_repeated_or_second_notice_has_no_second_effect(
    db: Database, world: World, workspaces: WorkspaceService, clock: FakeClock
) -> None:
    first = workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")
    marked_at = clock.now()
    clock.advance(seconds=2)
    again = workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")
    revoked = workspaces.uninstalled(Platform.SLACK, WORKSPACE, "tokens_revoked")

    assert first.result is Uninstall.DONE
    assert again.result is Uninstall.ALREADY and revoked.result is Uninstall.ALREADY
    assert workspaces.uninstalled_at(Platform.SLACK, WORKSPACE) == marked_at
    assert len(audit(db, clock, world, "workspace.uninstalled")) == 1


def test_an_unknown_workspace_changes_nothing(
    db: Database, world: World, workspaces: WorkspaceService
) -> None:
    outcome = workspaces.uninstalled(Platform.SLACK, "T0ELSEWHERE", "app_uninstalled")

    assert outcome.result is Uninstall.UNKNOWN
    with db.session() as s:
        assert s.exec(select(ChatWorkspace.workspace_id)).all() == [WORKSPACE]


def test_a_workspace_the_default_authority_serves_gets_its_mark(
    db: Database, world: World, clock: FakeClock
) -> None:
    served = WorkspaceService(db, clock, default_la_code=881)

    outcome = served.uninstalled(Platform.SLACK, "T0UNMAPPED", "app_uninstalled")

    assert outcome.result is Uninstall.DONE and outcome.tenant_id == world.tenant_id
    assert served.uninstalled_at(Platform.SLACK, "T0UNMAPPED") == clock.now()


def test_rows_for_the_workspace_are_parked_with_the_reason_and_no_alerts(
    db: Database, world: World, workspaces: WorkspaceService, outbox: OutboxService
) -> None:
    now = outbox.clock.now()
    add(db, world, "to-ada", Recipient(person_id=world.people[ADA]), now)
    add(db, world, "to-west", Recipient(conversation=channel("C0WEST")), now)
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")

    claims = outbox.claim_due(10, SLACK_ONLY)

    assert {c.key for c in claims} == {"to-ada", "to-west"}
    for claim in claims:
        assert claim.to is None and claim.problem == UNINSTALLED_ERROR and claim.workspace_gone
        assert outbox.park(claim, claim.problem) == []  # no alert per row
    assert {(r.key, r.status, r.last_error) for r in rows(db)} == {
        ("to-ada", FAILED, UNINSTALLED_ERROR),
        ("to-west", FAILED, UNINSTALLED_ERROR),
    }


def test_rows_due_later_wait_and_go_if_the_app_is_back_by_then(
    db: Database,
    world: World,
    workspaces: WorkspaceService,
    outbox: OutboxService,
    clock: FakeClock,
) -> None:
    later = clock.now() + timedelta(days=2)
    add(db, world, "next-week", Recipient(person_id=world.people[ADA]), later)
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")
    assert outbox.claim_due(10, SLACK_ONLY) == []  # not due: nothing decided yet

    assert workspaces.installed(Platform.SLACK, WORKSPACE)
    clock.advance(days=3)
    [claim] = outbox.claim_due(10, SLACK_ONLY)
    assert claim.problem is None and claim.to is not None
    assert claim.to.workspace_id == WORKSPACE


def test_a_person_with_another_platform_is_reached_there(
    db: Database, world: World, workspaces: WorkspaceService, outbox: OutboxService
) -> None:
    with db.session() as s:
        s.add(ChatWorkspace(tenant_id=world.tenant_id, platform="teams", workspace_id=TEAMS_TENANT))
        s.add(
            ChatIdentity(
                tenant_id=world.tenant_id,
                person_id=world.people[ADA],
                platform="teams",
                workspace_id=TEAMS_TENANT,
                user_id="aad-ada",
                linked_at=SEEDED_AT,
            )
        )
        s.add(
            ChatConversation(
                tenant_id=world.tenant_id,
                platform="teams",
                workspace_id=TEAMS_TENANT,
                conversation_id="a:ada-personal",
                kind="personal",
                user_id="aad-ada",
                service_url="https://smba.example.test/",
                updated_at=SEEDED_AT,
            )
        )
    add(db, world, "to-ada", Recipient(person_id=world.people[ADA]), outbox.clock.now())
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")

    [claim] = outbox.claim_due(10, BOTH)

    assert claim.problem is None and not claim.workspace_gone
    assert claim.to == ConversationRef(
        Platform.TEAMS, TEAMS_TENANT, "a:ada-personal", "https://smba.example.test/"
    )


def test_an_edit_of_a_message_in_the_workspace_is_parked(
    db: Database, world: World, workspaces: WorkspaceService, outbox: OutboxService
) -> None:
    now = outbox.clock.now()
    add(db, world, "card", Recipient(person_id=world.people[BEN]), now)
    [sent] = outbox.claim_due(1, SLACK_ONLY)
    outbox.mark_sent(sent, "1700000000.000100")
    with db.session() as s:
        assert enqueue(
            s,
            tenant_id=world.tenant_id,
            key="card:claimed",
            to=Recipient(person_id=world.people[BEN]),
            reply=message("claimed"),
            not_before=now,
            now=now,
            edits="card",
        )
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "tokens_revoked")

    [edit] = outbox.claim_due(1, SLACK_ONLY)

    assert edit.key == "card:claimed"
    assert edit.to is None and edit.edit_of is None and edit.problem == UNINSTALLED_ERROR


def test_a_reinstall_clears_the_mark_and_puts_back_what_the_uninstall_removed(
    db: Database,
    world: World,
    workspaces: WorkspaceService,
    outbox: OutboxService,
    clock: FakeClock,
) -> None:
    conversation(db, world, "C0WEST")
    conversation(db, world, "C0LEFT", installed=False)
    add(db, world, "to-west", Recipient(conversation=channel("C0WEST")), clock.now())
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")
    [claim] = outbox.claim_due(1, SLACK_ONLY)
    outbox.park(claim, UNINSTALLED_ERROR)
    clock.advance(days=1)

    assert workspaces.installed(Platform.SLACK, WORKSPACE) is True
    assert workspaces.installed(Platform.SLACK, WORKSPACE) is False  # once

    assert workspaces.uninstalled_ids(Platform.SLACK) == []
    assert installed_conversations(db) == {"C0WEST": True, "C0LEFT": False}
    assert audit(db, clock, world, "workspace.reinstalled") == [
        f"slack slack slack workspace {WORKSPACE} {{}}"
    ]
    # What was parked goes again when the administrator asks for it.
    [parked] = [r for r in rows(db) if r.key == "to-west"]
    assert parked.id is not None
    outbox.requeue(parked.id)
    [again] = outbox.claim_due(1, SLACK_ONLY)
    assert again.key == "to-west" and again.to == channel("C0WEST") and again.problem is None
    outbox.mark_sent(again, "1700000000.000200")
    with db.session() as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.key == "to-west")).one()
        assert (row.status, row.last_error) == (SENT, None)


def test_listeners_hear_each_new_uninstall_once(
    db: Database, world: World, workspaces: WorkspaceService
) -> None:
    heard: list[tuple[Platform, str]] = []

    def broken(platform: Platform, workspace_id: str) -> None:
        raise RuntimeError("listener on fire")

    workspaces.on_uninstall(broken)
    stop = workspaces.on_uninstall(lambda p, w: heard.append((p, w)))

    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "tokens_revoked")
    assert heard == [(Platform.SLACK, WORKSPACE)]

    stop()
    stop()  # twice is harmless
    workspaces.installed(Platform.SLACK, WORKSPACE)
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")
    assert heard == [(Platform.SLACK, WORKSPACE)]


def test_rows_of_other_workspaces_still_go(
    db: Database, world: World, workspaces: WorkspaceService, outbox: OutboxService
) -> None:
    with db.session() as s:
        s.add(ChatWorkspace(tenant_id=world.tenant_id, platform="slack", workspace_id="T0OTHER"))
    other = ConversationRef(Platform.SLACK, "T0OTHER", "C0OTHER")
    add(db, world, "elsewhere", Recipient(conversation=other), outbox.clock.now())
    workspaces.uninstalled(Platform.SLACK, WORKSPACE, "app_uninstalled")

    [claim] = outbox.claim_due(1, SLACK_ONLY)

    assert claim.to == other and claim.problem is None
    assert [r.status for r in rows(db)] == [IN_FLIGHT]
