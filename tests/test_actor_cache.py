"""Who a chat user is, cached briefly: role changes are seen within a minute, memory is bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.actor_cache import ActorCache
from bot.core import ACTOR_TTL, Core
from bot.types import Actor, ChatUser, Platform, Role
from storage.engine import Database
from storage.models import RoleAssignment
from tests.factories import build_world
from tests.fakes.clock import FakeClock


async def test_a_role_removed_by_an_import_is_seen_after_the_ttl(db: Database) -> None:
    world = build_world(db)
    clock = FakeClock()
    core = Core(db, clock=clock)
    ben = world.users["ben.lead@schools.example.org"]
    assert Role.PARTNERSHIP_LEAD in (await core.identify(ben)).roles()
    with db.session() as session:
        for row in session.exec(
            select(RoleAssignment).where(RoleAssignment.role == Role.PARTNERSHIP_LEAD.value)
        ):
            session.delete(row)
    assert Role.PARTNERSHIP_LEAD in (await core.identify(ben)).roles()  # still cached
    clock.advance(seconds=ACTOR_TTL.total_seconds())
    assert (await core.identify(ben)).roles() == {Role.HEAD}
    assert Role.HEAD in (await core.identify(ben)).roles()


async def test_forget_actors_rereads_at_once(db: Database) -> None:
    world = build_world(db)
    core = Core(db, clock=FakeClock())
    fay = world.users["fay@schools.example.org"]
    assert not (await core.identify(fay)).linked
    core.identity.link_by_email(fay, "fay@schools.example.org")
    assert not (await core.identify(fay)).linked
    core.forget_actors()
    assert (await core.identify(fay)).linked


def test_the_cache_keeps_the_most_recently_used_within_its_bound() -> None:
    cache = ActorCache(max_entries=2)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    later = now + timedelta(minutes=1)
    users = [ChatUser(Platform.SLACK, "T", f"U{i}") for i in range(3)]
    for user in users[:2]:
        cache.put(user, Actor(user, 1, "Essex", None, None), later)
    assert cache.get(users[0], now) is not None  # now the most recently used
    cache.put(users[2], Actor(users[2], 1, "Essex", None, None), later)
    assert cache.get(users[1], now) is None
    assert cache.get(users[0], now) is not None and cache.get(users[2], now) is not None
    assert cache.get(users[0], later) is None
