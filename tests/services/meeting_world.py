"""A small world for quadrant-meeting tests: one county (Essex, LA 881, with the shipped
2026-27 calendar) with West and South quadrants, their partnership leads, alliance leads and
association representatives, a chair for each quadrant, a county LA officer, a Board member
and a head who is invited to nothing; every person has a Slack identity unless said otherwise.

West (the quadrant the acceptance tests meet in) has the announcement channel C0WEST.
Default invitees of West: Wren Halloway, Bryn Tolliver (no chat account), Corin Ashdale,
ada Quickfern, Elm Rushworth. Not invited: Fenn Saltley, Gale Ridgeway, Hollis Marsh,
Ivo Drifting, the chairs, the officer, the Board member and the head.
All people and places are fictional.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from bot.services.calendar import CalendarService, TenantCalendar, load_sample_calendar
from bot.services.identity import grants_for
from bot.services.meetings.invitees import Invitee, default_invitees
from bot.types import Actor, ChatUser, Platform, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceQuadrant,
    ChatIdentity,
    ChatWorkspace,
    Partnership,
    Person,
    Quadrant,
    RoleAssignment,
    Tenant,
)
from storage.outbox_tables import OutboxMessage
from tests.factories import SEEDED_AT
from tests.fakes.clock import FakeClock

WEST_CHANNEL = "C0WEST"
WEST_INVITEES = (
    "Wren Halloway",
    "Bryn Tolliver",
    "Corin Ashdale",
    "ada Quickfern",
    "Elm Rushworth",
)


@dataclass
class Place:
    """One local authority's directory, built straight into the tables; ids by name."""

    db: Database
    tenant_id: int
    quadrants: dict[str, int] = field(default_factory=dict)
    partnerships: dict[str, int] = field(default_factory=dict)
    alliances: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    # The Slack team the chat identities are in (default: one made up from the tenant id).
    workspace: str | None = None

    def _add(self, row: Any) -> int:
        with self.db.session() as s:
            s.add(row)
            s.flush()
            assert row.id is not None
            return int(row.id)

    def quadrant(self, name: str) -> int:
        self.quadrants[name] = self._add(Quadrant(tenant_id=self.tenant_id, name=name))
        return self.quadrants[name]

    def partnership(self, name: str, quadrant: str | None) -> int:
        self.partnerships[name] = self._add(
            Partnership(
                tenant_id=self.tenant_id,
                name=name,
                kind="slis_cluster",
                quadrant_id=None if quadrant is None else self.quadrants[quadrant],
            )
        )
        return self.partnerships[name]

    def alliance(self, name: str, serves: tuple[str, ...]) -> int:
        alliance_id = self._add(Alliance(tenant_id=self.tenant_id, name=name))
        for q in serves:
            self._add(
                AllianceQuadrant(
                    tenant_id=self.tenant_id, alliance_id=alliance_id, quadrant_id=self.quadrants[q]
                )
            )
        self.alliances[name] = alliance_id
        return alliance_id

    def person(self, name: str, *roles: tuple[Role, ScopeKind, int], chat: bool = True) -> int:
        email = f"{name.lower().replace(' ', '.')}@schools.example.org"
        person_id = self._add(Person(tenant_id=self.tenant_id, name=name, email=email))
        for role, kind, scope_id in roles:
            self._add(
                RoleAssignment(
                    tenant_id=self.tenant_id,
                    person_id=person_id,
                    role=role.value,
                    scope_kind=kind.value,
                    scope_id=scope_id,
                )
            )
        if chat:
            self._add(
                ChatIdentity(
                    tenant_id=self.tenant_id,
                    person_id=person_id,
                    platform="slack",
                    workspace_id=self.workspace or f"T{self.tenant_id:04d}",
                    user_id=f"U{person_id:06d}",
                    linked_at=SEEDED_AT,
                )
            )
        self.people[name] = person_id
        return person_id

    # Roles, by the name of what they are over.
    def leads(self, partnership: str) -> tuple[Role, ScopeKind, int]:
        return (Role.PARTNERSHIP_LEAD, ScopeKind.PARTNERSHIP, self.partnerships[partnership])

    def alliance_lead(self, alliance: str) -> tuple[Role, ScopeKind, int]:
        return (Role.ALLIANCE_LEAD, ScopeKind.ALLIANCE, self.alliances[alliance])

    def rep(self, quadrant: str | None = None) -> tuple[Role, ScopeKind, int]:
        if quadrant is None:
            return (Role.ASSOCIATION_REP, ScopeKind.COUNTY, 0)
        return (Role.ASSOCIATION_REP, ScopeKind.QUADRANT, self.quadrants[quadrant])

    def invitees(self, quadrant: str) -> tuple[Invitee, ...]:
        with self.db.session() as s:
            return default_invitees(
                s, tenant_id=self.tenant_id, quadrant_id=self.quadrants[quadrant]
            )


def make_place(db: Database, *, la_code: int = 881, name: str = "Sample County") -> Place:
    with db.session() as s:
        tenant = Tenant(name=name, la_code=la_code, created_at=SEEDED_AT)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        tenant_id = tenant.id
    return Place(db, tenant_id)


def make_county(db: Database, *, workspace: str | None = None) -> Place:
    """Two quadrants, West and South, with leads, alliances and reps in and out of West."""
    p = make_place(db)
    p.workspace = workspace
    for q in ("West", "South"):
        p.quadrant(q)
    p.partnership("Colne Valley Partnership", "West")
    p.partnership("Harbour Triad", "West")
    p.partnership("Avon Learning Trust", "West")
    p.partnership("Saltmarsh Cluster", "South")
    p.partnership("Floating Federation", None)  # in no quadrant
    p.alliance("Meadow Teaching School Alliance", ("West", "South"))
    p.alliance("Ridge Teaching School Alliance", ("South",))

    # Both a partnership lead and an association rep: once, as a partnership lead.
    p.person("Wren Halloway", p.leads("Colne Valley Partnership"), p.rep())
    # Leads two West partnerships and an alliance serving West.
    p.person(
        "Bryn Tolliver",
        p.leads("Harbour Triad"),
        p.leads("Avon Learning Trust"),
        p.alliance_lead("Meadow Teaching School Alliance"),
        chat=False,
    )
    p.person("Corin Ashdale", p.alliance_lead("Meadow Teaching School Alliance"))
    p.person("ada Quickfern", p.rep("West"))  # a lower-case name sorts among the others
    p.person("Elm Rushworth", p.rep(), p.rep("West"))
    # Not invited to West: South's, a partnership in no quadrant, other roles.
    p.person("Fenn Saltley", p.leads("Saltmarsh Cluster"))
    p.person("Gale Ridgeway", p.alliance_lead("Ridge Teaching School Alliance"))
    p.person("Hollis Marsh", p.rep("South"))
    p.person("Ivo Drifting", p.leads("Floating Federation"))
    p.person(
        "Juno Chairwell",
        (Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, p.quadrants["West"]),
        (Role.HEAD, ScopeKind.SCHOOL, 1),
    )
    p.person("Kit Officer", (Role.LA_OFFICER, ScopeKind.COUNTY, 0))
    p.person("Sol Southgate", (Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, p.quadrants["South"]))
    p.person("Bea Boardman", (Role.BOARD_MEMBER, ScopeKind.COUNTY, 0))
    p.person("Hal Headley", (Role.HEAD, ScopeKind.SCHOOL, 2))
    return p


@dataclass
class MeetingWorld:
    """The county, its calendar and a clock; actors by name, and the outbox rows written."""

    place: Place
    clock: FakeClock
    calendars: Callable[[int], TenantCalendar]

    @property
    def db(self) -> Database:
        return self.place.db

    @property
    def tenant_id(self) -> int:
        return self.place.tenant_id

    def person(self, name: str) -> int:
        return self.place.people[name]

    def quadrant(self, name: str) -> int:
        return self.place.quadrants[name]

    def calendar(self) -> TenantCalendar:
        return self.calendars(self.tenant_id)

    def actor(self, name: str) -> Actor:
        person_id = self.person(name)
        with self.db.session() as s:
            grants = grants_for(s, self.tenant_id, person_id)
        team = self.place.workspace or f"T{self.tenant_id:04d}"
        chat = ChatUser(Platform.SLACK, team, f"U{person_id:06d}")
        return Actor(chat, self.tenant_id, "Sample County", person_id, name, grants)

    def at(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self.clock.current = when.astimezone(UTC)

    def outbox(self, prefix: str = "meeting:") -> list[OutboxMessage]:
        """Outbox rows whose key starts with `prefix`, in the order written."""
        with self.db.session() as s:
            return list(
                s.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.key).startswith(prefix))
                    .order_by(col(OutboxMessage.id))
                ).all()
            )

    def names(self, person_ids: Any) -> set[str]:
        by_id = {v: k for k, v in self.place.people.items()}
        return {by_id[p] for p in person_ids}


def meeting_world(
    db: Database, start: datetime | None = None, *, workspace: str | None = None
) -> MeetingWorld:
    """The world, standing on Mon 1 Mar 2027 09:00 London time (GMT) unless told otherwise;
    with `workspace`, everyone's Slack identity is in that team (and the team is the county's)."""
    place = make_county(db, workspace=workspace)
    if workspace is not None:
        with db.session() as s:
            tenant = place.tenant_id
            s.add(ChatWorkspace(tenant_id=tenant, platform="slack", workspace_id=workspace))
    with db.session() as s:
        west = s.get(Quadrant, place.quadrants["West"])
        assert west is not None
        west.channel_platform = "slack"
        west.channel_id = WEST_CHANNEL
        s.add(west)
    load_sample_calendar(db, 881)
    clock = FakeClock(start or datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    calendars = CalendarService(db, clock=clock)
    return MeetingWorld(place, clock, calendars.for_tenant)
