"""The default invitees of a quadrant meeting: partnership leads, alliance leads serving the
quadrant, association reps; one entry a person, sorted by name, scoped to the tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event

from bot.errors import NotFound
from bot.services.meetings.invitees import Invitee, default_invitees
from bot.types import Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceQuadrant,
    ChatIdentity,
    Partnership,
    Person,
    Quadrant,
    RoleAssignment,
    Tenant,
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
                    workspace_id=f"T{self.tenant_id:04d}",
                    user_id=f"U{person_id:06d}",
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
        tenant = Tenant(name=name, la_code=la_code)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        tenant_id = tenant.id
    return Place(db, tenant_id)


def make_county(db: Database) -> Place:
    """Two quadrants, West and South, with leads, alliances and reps in and out of West."""
    p = make_place(db)
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
    return p


def test_the_default_invitees_of_a_quadrant(db: Database) -> None:
    p = make_county(db)
    ids = p.people
    assert p.invitees("West") == (
        Invitee(
            ids["ada Quickfern"],
            "ada Quickfern",
            "association_rep",
            True,
            "association rep for West",
        ),
        Invitee(
            ids["Bryn Tolliver"],
            "Bryn Tolliver",
            "partnership_lead",
            False,
            "lead of Avon Learning Trust; lead of Harbour Triad; "
            "lead of Meadow Teaching School Alliance",
        ),
        Invitee(
            ids["Corin Ashdale"],
            "Corin Ashdale",
            "alliance_lead",
            True,
            "lead of Meadow Teaching School Alliance",
        ),
        Invitee(
            ids["Elm Rushworth"],
            "Elm Rushworth",
            "association_rep",
            True,
            "association rep for the county; association rep for West",
        ),
        Invitee(
            ids["Wren Halloway"],
            "Wren Halloway",
            "partnership_lead",
            True,
            "lead of Colne Valley Partnership; association rep for the county",
        ),
    )


def test_a_lead_and_rep_appears_once_under_the_first_source(db: Database) -> None:
    p = make_county(db)
    wren = [i for i in p.invitees("West") if i.name == "Wren Halloway"]
    assert len(wren) == 1
    assert wren[0].source == "partnership_lead"


def test_another_quadrant_gets_its_own(db: Database) -> None:
    p = make_county(db)
    assert [(i.name, i.source) for i in p.invitees("South")] == [
        ("Bryn Tolliver", "alliance_lead"),
        ("Corin Ashdale", "alliance_lead"),
        ("Elm Rushworth", "association_rep"),
        ("Fenn Saltley", "partnership_lead"),
        ("Gale Ridgeway", "alliance_lead"),
        ("Hollis Marsh", "association_rep"),
        ("Wren Halloway", "association_rep"),
    ]


def test_a_quadrant_with_nobody_in_it(db: Database) -> None:
    p = make_place(db)
    p.quadrant("Mid")
    assert p.invitees("Mid") == ()


def test_another_tenants_directory_never_shows(db: Database) -> None:
    p = make_county(db)
    expected = p.invitees("West")
    other = make_place(db, la_code=999, name="Other County")
    other.quadrant("West")
    other.partnership("Colne Valley Partnership", "West")
    other.alliance("Meadow Teaching School Alliance", ("West",))
    other.person("Nell Elsewhere", other.leads("Colne Valley Partnership"))
    other.person("Oren Elsewhere", other.alliance_lead("Meadow Teaching School Alliance"))
    other.person("Pip Elsewhere", other.rep())
    # Rows of the other tenant pointing at this tenant's partnership and alliance (bad data)
    # still do not bring anyone in.
    other.person(
        "Quin Crossed",
        (Role.PARTNERSHIP_LEAD, ScopeKind.PARTNERSHIP, p.partnerships["Harbour Triad"]),
        (Role.ALLIANCE_LEAD, ScopeKind.ALLIANCE, p.alliances["Meadow Teaching School Alliance"]),
        (Role.ASSOCIATION_REP, ScopeKind.QUADRANT, p.quadrants["West"]),
    )
    assert p.invitees("West") == expected
    assert [i.name for i in other.invitees("West")] == [
        "Nell Elsewhere",
        "Oren Elsewhere",
        "Pip Elsewhere",
    ]
    with db.session() as s, pytest.raises(NotFound):
        default_invitees(s, tenant_id=other.tenant_id, quadrant_id=p.quadrants["West"])


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_the_same_few_queries_however_many_invitees(db: Database) -> None:
    p = make_county(db)
    with counting(db) as few:
        assert len(p.invitees("West")) == 5
    for n in range(12):
        p.partnership(f"West Partnership {n}", "West")
        p.alliance(f"West Alliance {n}", ("West",))
        p.person(f"Lead {n:02d}", p.leads(f"West Partnership {n}"), p.rep("West"))
        p.person(f"Alliance Lead {n:02d}", p.alliance_lead(f"West Alliance {n}"), chat=False)
    with counting(db) as many:
        assert len(p.invitees("West")) == 5 + 24
    assert len(many) == len(few) <= 5
