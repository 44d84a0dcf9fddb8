"""A directory with an administrator, outbox rows in bulk, and a look at the outbox table."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlmodel import col, select

from bot.services.outbox import Recipient, enqueue
from bot.types import ConversationRef, Paragraph, Platform, Reply, Role, ScopeKind
from storage.engine import Database
from storage.models import ChatIdentity, Person, RoleAssignment
from storage.outbox_tables import OutboxMessage
from tests.factories import SEEDED_AT, World, build_world

ADMIN_USER = "U0ADMIN"
WORKSPACE = "T0TEST"


def world_with_administrator(db: Database, *, admin_user: str = ADMIN_USER) -> tuple[World, int]:
    """`build_world` plus an administrator linked to Slack as `admin_user`; returns its id."""
    world = build_world(db, workspace=WORKSPACE)
    with db.session() as s:
        admin = Person(tenant_id=world.tenant_id, name="Ola Admin", email="ola@la.example.org")
        s.add(admin)
        s.flush()
        assert admin.id is not None
        s.add(
            RoleAssignment(
                tenant_id=world.tenant_id,
                person_id=admin.id,
                role=Role.ADMINISTRATOR.value,
                scope_kind=ScopeKind.COUNTY.value,
                scope_id=0,
            )
        )
        s.add(
            ChatIdentity(
                tenant_id=world.tenant_id,
                person_id=admin.id,
                platform="slack",
                workspace_id=WORKSPACE,
                user_id=admin_user,
                linked_at=SEEDED_AT,
            )
        )
        return world, admin.id


def channel(name: str) -> ConversationRef:
    return ConversationRef(Platform.SLACK, WORKSPACE, name)


def message(n: int | str) -> Reply:
    return Reply(f"Message {n}", (Paragraph(f"Message *{n}*"),), private=False)


def enqueue_many(
    db: Database,
    tenant_id: int,
    count: int,
    *,
    channels: Sequence[str],
    prefix: str = "test",
    not_before: datetime | Sequence[datetime] | None = None,
) -> list[str]:
    """`count` messages, round-robin over `channels`, keyed `<prefix>:<n>`; returns the keys."""
    keys = []
    with db.session() as s:
        for n in range(count):
            when = not_before if not_before is not None else datetime.now(UTC)
            at = when[n] if isinstance(when, Sequence) else when
            key = f"{prefix}:{n}"
            to = Recipient(conversation=channel(channels[n % len(channels)]))
            assert enqueue(
                s, tenant_id=tenant_id, key=key, to=to, reply=message(n), not_before=at, now=at
            )
            keys.append(key)
    return keys


def statuses(db: Database) -> collections.Counter[str]:
    with db.session() as s:
        return collections.Counter(s.exec(select(OutboxMessage.status)).all())


def rows(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())
