"""Small directories built straight into the tables, for tests that need a known world."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.types import ChatUser, Platform, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    ChatIdentity,
    ChatWorkspace,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    RoleAssignment,
    School,
    Tenant,
)

# When rows built straight into the tables say they were made or changed: a fixed instant
# before any test's clock, so that no test depends on the day it runs.
SEEDED_AT = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)


@dataclass
class World:
    """Ids of what `build_world` made, by name."""

    tenant_id: int
    workspace: str
    quadrants: dict[str, int] = field(default_factory=dict)
    schools: dict[int, int] = field(default_factory=dict)  # URN -> id
    partnerships: dict[str, int] = field(default_factory=dict)
    alliances: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)  # e-mail -> id
    users: dict[str, ChatUser] = field(default_factory=dict)  # e-mail -> chat user


def build_world(
    db: Database, *, la_code: int = 881, name: str = "Essex", workspace: str = "T0TEST"
) -> World:
    """Two quadrants, four schools, two partnerships, one alliance and people in every role."""
    with db.session() as s:
        tenant = Tenant(name=name, la_code=la_code, created_at=SEEDED_AT)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        w = World(tenant.id, workspace)
        s.add(ChatWorkspace(tenant_id=tenant.id, platform="slack", workspace_id=workspace))
        for q in ("West", "North East"):
            quadrant = Quadrant(tenant_id=tenant.id, name=q)
            s.add(quadrant)
            s.flush()
            assert quadrant.id is not None
            w.quadrants[q] = quadrant.id
        schools = [
            (115141, "All Saints Primary School, Great Oakley", "North East", "Open"),
            (115142, "Great Oakley Infant School", "North East", "Open"),
            (115200, "Harlow Fields Primary School", "West", "Open"),
            (115300, "Old Mill Junior School", "West", "Closed"),
        ]
        for urn, sname, q, status in schools:
            school = School(
                tenant_id=tenant.id,
                urn=urn,
                name=sname,
                phase="Primary",
                establishment_type="Community school",
                status=status,
                quadrant_id=w.quadrants[q],
                updated_at=SEEDED_AT,
            )
            s.add(school)
            s.flush()
            assert school.id is not None
            w.schools[urn] = school.id
        for pname, kind, q, urns in (
            ("Tendring Coast Partnership", "slis_cluster", "North East", [115141, 115142]),
            ("Harlow Learning Trust", "mat", "West", [115200, 115300, 115141]),
        ):
            p = Partnership(tenant_id=tenant.id, name=pname, kind=kind, quadrant_id=w.quadrants[q])
            s.add(p)
            s.flush()
            assert p.id is not None
            w.partnerships[pname] = p.id
            for urn in urns:
                s.add(
                    PartnershipMembership(
                        tenant_id=tenant.id, partnership_id=p.id, school_id=w.schools[urn]
                    )
                )
        alliance = Alliance(
            tenant_id=tenant.id,
            name="Estuary Teaching School Alliance",
            lead_school_id=w.schools[115142],
            capacity_days_per_term=30,
        )
        s.add(alliance)
        s.flush()
        assert alliance.id is not None
        w.alliances[alliance.name] = alliance.id
        s.add(
            AllianceQuadrant(
                tenant_id=tenant.id, alliance_id=alliance.id, quadrant_id=w.quadrants["North East"]
            )
        )
        for tag in ("safeguarding", "send"):
            s.add(AllianceExpertise(tenant_id=tenant.id, alliance_id=alliance.id, tag=tag))
        people = [
            (
                "Ada Fictional",
                "ada.head@schools.example.org",
                [(Role.HEAD, ScopeKind.SCHOOL, w.schools[115141])],
            ),
            (
                "Ben Imaginary",
                "ben.lead@schools.example.org",
                [
                    (
                        Role.PARTNERSHIP_LEAD,
                        ScopeKind.PARTNERSHIP,
                        w.partnerships["Tendring Coast Partnership"],
                    ),
                    (Role.HEAD, ScopeKind.SCHOOL, w.schools[115142]),
                ],
            ),
            (
                "Cara Madeup",
                "cara.chair@schools.example.org",
                [(Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, w.quadrants["North East"])],
            ),
            ("Dan Notreal", "dan.officer@la.example.org", [(Role.LA_OFFICER, ScopeKind.COUNTY, 0)]),
            (
                "Eve Pretend",
                "eve.alliance@schools.example.org",
                [(Role.ALLIANCE_LEAD, ScopeKind.ALLIANCE, alliance.id)],
            ),
            (
                "Fay Unlinked",
                "fay@schools.example.org",
                [(Role.HEAD, ScopeKind.SCHOOL, w.schools[115200])],
            ),
        ]
        for i, (pname, email, roles) in enumerate(people, start=1):
            person = Person(tenant_id=tenant.id, name=pname, email=email)
            s.add(person)
            s.flush()
            assert person.id is not None
            w.people[email] = person.id
            for role, kind, scope_id in roles:
                s.add(
                    RoleAssignment(
                        tenant_id=tenant.id,
                        person_id=person.id,
                        role=role.value,
                        scope_kind=kind.value,
                        scope_id=scope_id,
                    )
                )
            user = ChatUser(Platform.SLACK, workspace, f"U{la_code}{i:03d}")
            w.users[email] = user
            if not email.startswith("fay"):
                s.add(
                    ChatIdentity(
                        tenant_id=tenant.id,
                        person_id=person.id,
                        platform="slack",
                        workspace_id=workspace,
                        user_id=user.user_id,
                        linked_at=SEEDED_AT,
                    )
                )
    return w
