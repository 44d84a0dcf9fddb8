"""The default invitees of a quadrant meeting: partnership leads, alliance leads serving the
quadrant, association reps; one entry a person, sorted by name, scoped to the tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot.errors import NotFound
from bot.services.meetings.invitees import Invitee, default_invitees
from bot.types import Role, ScopeKind
from storage.engine import Database
from tests.services.meeting_world import make_county, make_place


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
