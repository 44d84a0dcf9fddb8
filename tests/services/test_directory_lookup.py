"""Directory questions answered by the core, scoped to the asker's local authority."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.core import Core
from bot.errors import NotFound, ProfileUnavailable, UserError
from bot.services.directory import SchoolMatches, SchoolView
from bot.types import Actor, ChatUser, Platform, Role
from storage.engine import Database
from storage.models import ChatIdentity, aware
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db)


def actor(core: Core, world: World, email: str) -> Actor:
    return core.identity.actor_for(world.users[email])


def test_linked_user_gets_their_roles_with_scope_names(db: Database, world: World) -> None:
    core = Core(db)
    ben = actor(core, world, "ben.lead@schools.example.org")
    assert ben.linked and ben.name == "Ben Imaginary" and ben.tenant_name == "Essex"
    assert [g.describe() for g in ben.grants] == [
        "Headteacher, Great Oakley Infant School",
        "Partnership lead, Tendring Coast Partnership",
    ]
    assert ben.roles() == {Role.HEAD, Role.PARTNERSHIP_LEAD}


def test_school_by_urn_shows_head_partnerships_quadrant_chair_and_alliances(
    db: Database, world: World
) -> None:
    core = Core(db)
    view = core.directory.school(actor(core, world, "ada.head@schools.example.org"), "115141")
    assert isinstance(view, SchoolView)
    assert view.name == "All Saints Primary School, Great Oakley"
    assert view.heads == ("Ada Fictional",)
    assert view.partnerships == ("Harlow Learning Trust", "Tendring Coast Partnership")
    assert view.quadrant == "North East" and view.chair == "Cara Madeup"
    assert [a.name for a in view.alliances] == ["Estuary Teaching School Alliance"]
    assert view.alliances[0].expertise == ("safeguarding", "send")
    assert view.alliances[0].lead_school == "Great Oakley Infant School"


def test_school_by_name_one_match_several_matches_and_none(db: Database, world: World) -> None:
    core = Core(db)
    ada = actor(core, world, "ada.head@schools.example.org")
    one = core.directory.school(ada, "harlow fields")
    assert isinstance(one, SchoolView) and one.urn == 115200
    several = core.directory.school(ada, "Great Oakley")
    assert isinstance(several, SchoolMatches)
    assert {s.urn for s in several.schools} == {115141, 115142} and several.total == 2
    words = core.directory.school(ada, "oakley infant")
    assert isinstance(words, SchoolView) and words.urn == 115142
    with pytest.raises(NotFound) as missing:
        core.directory.school(ada, "Harlow Feilds Primary School")
    assert missing.value.hint is not None and "Harlow Fields Primary School" in missing.value.hint
    with pytest.raises(NotFound):
        core.directory.school(ada, "999999")


def test_like_wildcards_in_a_query_are_literal(db: Database, world: World) -> None:
    core = Core(db)
    with pytest.raises(NotFound):
        core.directory.school(actor(core, world, "ada.head@schools.example.org"), "%")


def test_partnership_and_quadrant(db: Database, world: World) -> None:
    core = Core(db)
    ada = actor(core, world, "ada.head@schools.example.org")
    p = core.directory.partnership(ada, "tendring coast")
    assert p.kind == "SLIS cluster" and p.leads == ("Ben Imaginary",)
    assert [s.urn for s in p.schools] == [115141, 115142]
    q = core.directory.quadrant(ada, "north east")
    assert q.chair == "Cara Madeup" and q.school_count == 2
    assert [(s.name, s.school_count, s.leads) for s in q.partnerships] == [
        ("Tendring Coast Partnership", 2, ("Ben Imaginary",))
    ]
    with pytest.raises(NotFound) as missing:
        core.directory.quadrant(ada, "Wets")
    assert missing.value.hint == "Did you mean “West”?"
    with pytest.raises(UserError, match="Which partnership"):
        core.directory.partnership(ada, "")


def test_home_collects_the_actors_world(db: Database, world: World) -> None:
    core = Core(db)
    home = core.directory.home(actor(core, world, "ada.head@schools.example.org"))
    assert [s.urn for s in home.schools] == [115141]
    assert [p.name for p in home.partnerships] == [
        "Harlow Learning Trust",
        "Tendring Coast Partnership",
    ]
    assert [q.name for q in home.quadrants] == ["North East", "West"]


def test_queries_never_cross_local_authorities(db: Database, world: World) -> None:
    other = build_world(db, la_code=882, name="Elsewhere", workspace="T0OTHER")
    core = Core(db)
    outsider = core.identity.actor_for(other.users["ada.head@schools.example.org"])
    assert outsider.tenant_name == "Elsewhere"
    view = core.directory.school(outsider, "115141")
    assert isinstance(view, SchoolView)
    # Same URN in both tenants: each sees only its own people.
    assert view.heads == ("Ada Fictional",)
    assert outsider.person_id == other.people["ada.head@schools.example.org"]
    assert outsider.person_id != world.people["ada.head@schools.example.org"]


class Profiles:
    """A fake platform that knows users' e-mails and counts how often it is asked."""

    def __init__(self, emails: dict[str, str]) -> None:
        self.emails = emails
        self.asked = 0

    async def email_of(self, workspace_id: str, user_id: str) -> str | None:
        self.asked += 1
        return self.emails.get(user_id)


async def test_unlinked_user_is_linked_by_profile_email_once(db: Database, world: World) -> None:
    core = Core(db)
    fay = world.users["fay@schools.example.org"]
    profiles = Profiles({fay.user_id: "FAY@Schools.Example.org"})
    first = await core.identify(fay, profiles)
    assert first.linked and first.name == "Fay Unlinked"
    again = await core.identify(fay, profiles)
    assert again.person_id == first.person_id and profiles.asked == 1


def test_a_link_by_email_is_stamped_with_the_cores_clock(db: Database, world: World) -> None:
    clock = FakeClock(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    fay = world.users["fay@schools.example.org"]
    assert Core(db, clock=clock).identity.link_by_email(fay, "fay@schools.example.org").linked
    with db.session() as s:
        link = s.exec(select(ChatIdentity).where(ChatIdentity.user_id == fay.user_id)).one()
    assert (link.source, aware(link.linked_at)) == ("email", clock.now())


def test_linking_the_same_user_twice_at_once_keeps_one_link(db: Database, world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fay = world.users["fay@schools.example.org"]
    services = [Core(db).identity for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        actors = list(pool.map(lambda s: s.link_by_email(fay, "fay@schools.example.org"), services))
    assert {a.person_id for a in actors} == {world.people["fay@schools.example.org"]}


async def test_unmatched_user_is_not_asked_about_on_every_request(
    db: Database, world: World
) -> None:
    core = Core(db)
    stranger = ChatUser(Platform.SLACK, world.workspace, "U0STRANGER")
    profiles = Profiles({"U0STRANGER": "nobody@example.org"})
    assert not (await core.identify(stranger, profiles)).linked
    assert not (await core.identify(stranger, profiles)).linked
    assert profiles.asked == 1


class FlakyProfiles(Profiles):
    """A platform that is rate limiting on the first call."""

    async def email_of(self, workspace_id: str, user_id: str) -> str | None:
        self.asked += 1
        if self.asked == 1:
            raise ProfileUnavailable("ratelimited")
        return self.emails.get(user_id)


async def test_a_passing_platform_failure_is_not_remembered(db: Database, world: World) -> None:
    core = Core(db)
    fay = world.users["fay@schools.example.org"]
    profiles = FlakyProfiles({fay.user_id: "fay@schools.example.org"})
    assert not (await core.identify(fay, profiles)).linked
    assert (await core.identify(fay, profiles)).linked


async def test_workspace_mapping_and_default_tenant(db: Database, world: World) -> None:
    unknown = ChatUser(Platform.SLACK, "T0UNKNOWN", "U1")
    assert (await Core(db).identify(unknown)).tenant_id is None
    fallback = await Core(db, default_la_code=881).identify(unknown)
    assert fallback.tenant_id == world.tenant_id and not fallback.linked
