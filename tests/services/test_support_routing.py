"""Support routing: which alliances a request goes to, best first, and why not the others.

The calendar: autumn 2 Sep to 18 Dec 2026, spring 4 Jan to 26 Mar 2027, summer 12 Apr to
21 Jul 2027. Most tests stand on Mon 19 Oct 2026, in the autumn term, the first term loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, col, select

from bot.errors import NotFound
from bot.services.calendar import TenantCalendar, Term
from bot.services.support.catalogue import Category
from bot.services.support.lifecycle import State
from bot.services.support.routing import (
    Candidate,
    Excluded,
    Routing,
    current_period,
    days_committed,
    route,
)
from bot.types import Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    Person,
    Quadrant,
    RoleAssignment,
    School,
    Tenant,
)
from storage.support_tables import SupportRequest
from tests.factories import SEEDED_AT

AUTUMN = Term("2026-27", "autumn", date(2026, 9, 2), date(2026, 12, 18))
SPRING = Term("2026-27", "spring", date(2027, 1, 4), date(2027, 3, 26))
SUMMER = Term("2026-27", "summer", date(2027, 4, 12), date(2027, 7, 21))
CALENDAR = TenantCalendar([AUTUMN, SPRING, SUMMER])
TODAY = date(2026, 10, 19)

SEND = Category(id="sen_review", label="SEN review", tags=("send", "leadership"))
OTHER = Category(id="other", label="Other")
CONCERN = Category(id="concern", label="Safeguarding concern", route="la")

REQUESTER = "Harbour Primary"  # in North East; most requests come from it


def at(d: date) -> datetime:
    return datetime.combine(d, time(10), UTC)


@dataclass
class Place:
    """One tenant's ids, by name, and what its helpers need to add rows."""

    db: Database
    tenant_id: int
    quadrants: dict[str, int] = field(default_factory=dict)
    schools: dict[str, int] = field(default_factory=dict)
    alliances: dict[str, int] = field(default_factory=dict)
    requester_id: int = 0
    n: int = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def person(self, s: Session, name: str) -> int:
        person = Person(
            tenant_id=self.tenant_id, name=name, email=f"p{self._next()}@t{self.tenant_id}.example"
        )
        s.add(person)
        s.flush()
        assert person.id is not None
        return person.id

    def alliance(
        self,
        name: str,
        *,
        quadrants: Sequence[str] = ("North East",),
        tags: Sequence[str] = ("send",),
        capacity: int = 30,
        lead_school: str | None = None,
        leads: int = 1,
    ) -> int:
        """An alliance serving `quadrants` with expertise `tags` and `leads` alliance leads."""
        with self.db.session() as s:
            alliance = Alliance(
                tenant_id=self.tenant_id,
                name=name,
                capacity_days_per_term=capacity,
                lead_school_id=self.schools[lead_school] if lead_school else None,
            )
            s.add(alliance)
            s.flush()
            assert alliance.id is not None
            for q in quadrants:
                s.add(
                    AllianceQuadrant(
                        tenant_id=self.tenant_id,
                        alliance_id=alliance.id,
                        quadrant_id=self.quadrants[q],
                    )
                )
            for tag in tags:
                s.add(AllianceExpertise(tenant_id=self.tenant_id, alliance_id=alliance.id, tag=tag))
            for i in range(leads):
                person_id = self.person(s, f"{name} lead {i}")
                s.add(
                    RoleAssignment(
                        tenant_id=self.tenant_id,
                        person_id=person_id,
                        role=Role.ALLIANCE_LEAD.value,
                        scope_kind=ScopeKind.ALLIANCE.value,
                        scope_id=alliance.id,
                    )
                )
            self.alliances[name] = alliance.id
            return alliance.id

    def request(
        self,
        alliance: str | None,
        state: State,
        *,
        created: date = TODAY,
        starts_on: date | None = None,
        proposal_days: str | None = None,
        estimate: float | None = None,
        impact: int | None = None,
    ) -> None:
        """A request from Harbour Primary, held by `alliance`."""
        n = self._next()
        with self.db.session() as s:
            s.add(
                SupportRequest(
                    tenant_id=self.tenant_id,
                    reference=f"SR-2026-{n:04d}",
                    school_id=self.schools[REQUESTER],
                    requested_by=self.requester_id,
                    category_id="sen_review",
                    needed="help",
                    state=state.value,
                    claimed_by_alliance_id=self.alliances[alliance] if alliance else None,
                    days_estimate=estimate,
                    proposal_days=Decimal(proposal_days) if proposal_days else None,
                    proposal_starts_on=starts_on,
                    impact_rating=impact,
                    created_at=at(created),
                    updated_at=at(created),
                )
            )


def make_place(db: Database, *, la_code: int = 881, name: str = "Essex") -> Place:
    """A tenant with quadrants North East and West, and schools in each and in none."""
    with db.session() as s:
        tenant = Tenant(name=name, la_code=la_code, created_at=SEEDED_AT)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        place = Place(db, tenant.id)
        for qname in ("North East", "West"):
            quadrant = Quadrant(tenant_id=tenant.id, name=qname)
            s.add(quadrant)
            s.flush()
            assert quadrant.id is not None
            place.quadrants[qname] = quadrant.id
        schools: tuple[tuple[int, str, str | None], ...] = (
            (1, REQUESTER, "North East"),
            (2, "Lighthouse Academy", "North East"),
            (3, "Fields Primary", "West"),
            (4, "Unplaced School", None),
        )
        for urn, sname, q in schools:
            school = School(
                tenant_id=tenant.id,
                urn=la_code * 1000 + urn,
                name=sname,
                quadrant_id=place.quadrants[q] if q else None,
                updated_at=SEEDED_AT,
            )
            s.add(school)
            s.flush()
            assert school.id is not None
            place.schools[sname] = school.id
        place.requester_id = place.person(s, "Hana Head")
    return place


def do_route(
    place: Place,
    *,
    school: str = REQUESTER,
    category: Category = SEND,
    calendar: TenantCalendar = CALENDAR,
    today: date = TODAY,
) -> Routing:
    with place.db.session() as s:
        return route(
            s,
            tenant_id=place.tenant_id,
            school_id=place.schools[school],
            category=category,
            calendar=calendar,
            today=today,
        )


def committed(
    place: Place, alliance: str, *, calendar: TenantCalendar = CALENDAR, today: date = TODAY
) -> Decimal:
    with place.db.session() as s:
        return days_committed(
            s,
            tenant_id=place.tenant_id,
            alliance_id=place.alliances[alliance],
            calendar=calendar,
            today=today,
        )


def names(routing: Routing) -> list[str]:
    return [c.name for c in routing.eligible]


def reasons(routing: Routing) -> dict[str, str]:
    return {e.name: e.reason for e in routing.excluded}


# --- who is eligible, and why not -----------------------------------------------------------


def test_each_exclusion_names_the_first_rule_broken(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA", tags=("leadership", "send", "maths"), leads=3)
    place.alliance("Western TSA", quadrants=("West",))
    place.alliance("Maths Hub", tags=("maths",))
    place.alliance("Full TSA", capacity=5)
    place.alliance("Empty TSA", capacity=0)
    place.alliance("Harbour TSA", lead_school=REQUESTER)
    place.alliance("Lighthouse TSA", lead_school="Lighthouse Academy")
    place.alliance("Leaderless TSA", leads=0)
    # Broken twice: out of quadrant and without the expertise. The quadrant is said.
    place.alliance("Far Maths TSA", quadrants=("West",), tags=("maths",))
    # Out of days, led from the requester and leaderless: the days are said.
    place.alliance("Busy Harbour TSA", capacity=2, lead_school=REQUESTER, leads=0)
    place.request("Full TSA", State.AGREED, starts_on=date(2026, 11, 2), proposal_days="5")
    place.request("Busy Harbour TSA", State.CLAIMED, estimate=2.5)

    routing = do_route(place)

    assert names(routing) == ["Estuary TSA", "Lighthouse TSA"]
    assert routing.excluded == tuple(
        Excluded(place.alliances[name], name, reason)
        for name, reason in (
            (
                "Busy Harbour TSA",
                "has no days left this term (2.5 of 2 committed)",
            ),
            ("Empty TSA", "has no days left this term (0 of 0 committed)"),
            ("Far Maths TSA", "does not serve North East"),
            ("Full TSA", "has no days left this term (5 of 5 committed)"),
            ("Harbour TSA", "its lead school is the requesting school"),
            ("Leaderless TSA", "has no alliance lead in the directory"),
            ("Maths Hub", "has no expertise in send or leadership"),
            ("Western TSA", "does not serve North East"),
        )
    )
    with db.session() as s:
        lead_ids = sorted(
            s.exec(
                select(RoleAssignment.person_id).where(
                    col(RoleAssignment.role) == Role.ALLIANCE_LEAD.value,
                    col(RoleAssignment.scope_id) == place.alliances["Estuary TSA"],
                )
            ).all()
        )
    assert routing.eligible[0] == Candidate(
        alliance_id=place.alliances["Estuary TSA"],
        name="Estuary TSA",
        lead_person_ids=tuple(lead_ids),
        matched_tags=("send", "leadership"),  # the category's order, not the alliance's
        days_left=Decimal(30),
        capacity=30,
        mean_impact=None,
        ratings=0,
    )
    assert len(lead_ids) == 3


def test_a_school_in_no_quadrant_is_served_by_no_alliance(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA")
    place.alliance("Western TSA", quadrants=("West",))

    routing = do_route(place, school="Unplaced School")

    assert routing.eligible == ()
    assert reasons(routing) == {
        "Estuary TSA": "does not serve the requesting school's quadrant: the school is in none",
        "Western TSA": "does not serve the requesting school's quadrant: the school is in none",
    }


def test_a_category_without_tags_needs_no_expertise(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA", tags=())
    place.alliance("Maths Hub", tags=("maths",))
    place.alliance("Western TSA", quadrants=("West",), tags=())

    routing = do_route(place, category=OTHER)

    assert names(routing) == ["Estuary TSA", "Maths Hub"]
    assert [c.matched_tags for c in routing.eligible] == [(), ()]
    assert reasons(routing) == {"Western TSA": "does not serve North East"}


def test_a_category_for_the_la_is_not_routed_to_alliances(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA", tags=("safeguarding",))
    with pytest.raises(ValueError, match="sent to the LA"):
        do_route(place, category=CONCERN)


# --- ranking --------------------------------------------------------------------------------


def test_ranking_tags_then_impact_with_unrated_as_neutral_then_days_then_name(
    db: Database,
) -> None:
    place = make_place(db)
    place.alliance("Zephyr TSA", tags=("send", "leadership"), capacity=1)  # both tags: first
    place.alliance("Rated Four", capacity=5)
    place.alliance("Unrated Roomy", capacity=40)
    place.alliance("Rated Three", capacity=50)
    place.alliance("Rated Low", capacity=90)
    place.alliance("Beta TSA", capacity=10)
    place.alliance("Alpha TSA", capacity=10)
    # Ratings from closed requests of the last school year: they use none of this term's days.
    last_year = date(2026, 6, 1)
    for alliance, ratings in (
        ("Rated Four", (4, 5, 5)),  # 4.67 -> 4.7
        ("Rated Three", (3, 3)),  # 3.0: level with the unrated, so days decide
        ("Rated Low", (2, 3)),  # 2.5: below the unrated, however many days it has
    ):
        for rating in ratings:
            place.request(
                alliance,
                State.CLOSED,
                created=last_year,
                starts_on=last_year,
                proposal_days="1",
                impact=rating,
            )
    # Closed without a rating, and rated but not closed (never happens; ignored if it did).
    place.request("Rated Four", State.CLOSED, created=last_year, starts_on=last_year)
    place.request("Rated Low", State.DELIVERED, created=last_year, starts_on=last_year, impact=5)

    routing = do_route(place)

    assert names(routing) == [
        "Zephyr TSA",
        "Rated Four",
        "Rated Three",  # 3.0 with 50 days left
        "Unrated Roomy",  # neutral 3.0 with 40 days left
        "Alpha TSA",  # neutral 3.0 with 10 days left, and A before B
        "Beta TSA",
        "Rated Low",
    ]
    by_name = {c.name: c for c in routing.eligible}
    assert (by_name["Rated Four"].mean_impact, by_name["Rated Four"].ratings) == (
        Decimal("4.7"),
        3,
    )
    assert (by_name["Rated Three"].mean_impact, by_name["Rated Three"].ratings) == (
        Decimal("3.0"),
        2,
    )
    assert (by_name["Rated Low"].mean_impact, by_name["Rated Low"].ratings) == (Decimal("2.5"), 2)
    assert (by_name["Alpha TSA"].mean_impact, by_name["Alpha TSA"].ratings) == (None, 0)
    assert [c.days_left for c in routing.eligible] == [1, 5, 50, 40, 10, 10, 90]


def test_ranking_by_days_left_counts_what_is_committed(db: Database) -> None:
    place = make_place(db)
    place.alliance("Alpha TSA", capacity=30)
    place.alliance("Beta TSA", capacity=20)
    place.request("Alpha TSA", State.PROPOSED, starts_on=date(2026, 11, 9), proposal_days="15")

    routing = do_route(place)

    assert names(routing) == ["Beta TSA", "Alpha TSA"]
    assert [c.days_left for c in routing.eligible] == [Decimal(20), Decimal(15)]


# --- days committed -------------------------------------------------------------------------


def test_days_committed_this_term(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA", capacity=30)
    place.alliance("Lighthouse TSA", lead_school="Lighthouse Academy")
    # Counted this term:
    place.request("Estuary TSA", State.CLAIMED, estimate=2.0)  # no proposal: the estimate
    # The proposal beats the estimate.
    place.request(
        "Estuary TSA", State.AGREED, starts_on=date(2026, 11, 2), proposal_days="3.5", estimate=10
    )
    # Dated by its start, not by when it was asked for (last school year).
    place.request(
        "Estuary TSA",
        State.IN_DELIVERY,
        created=date(2026, 7, 1),
        starts_on=date(2026, 10, 28),  # half term, still in the autumn term
        proposal_days="1",
    )
    place.request("Estuary TSA", State.DELIVERED, starts_on=date(2026, 9, 2), proposal_days="0.5")
    place.request("Estuary TSA", State.CLOSED, starts_on=date(2026, 12, 18), proposal_days="1")
    # Not counted this term:
    place.request("Estuary TSA", State.AGREED, starts_on=date(2027, 1, 4), proposal_days="4")
    place.request("Estuary TSA", State.WITHDRAWN, starts_on=date(2026, 11, 2), proposal_days="6")
    place.request("Estuary TSA", State.CLAIMED)  # neither proposal nor estimate: nothing
    place.request("Estuary TSA", State.CLAIMED, created=date(2026, 7, 20), estimate=3)
    place.request(None, State.OFFERED, estimate=5)  # nobody holds it
    place.request("Lighthouse TSA", State.CLAIMED, estimate=7)  # another alliance's

    assert committed(place, "Estuary TSA") == Decimal("8.0")
    assert committed(place, "Lighthouse TSA") == Decimal(7)
    days_left = {c.name: c.days_left for c in do_route(place).eligible}
    assert days_left == {"Estuary TSA": Decimal(22), "Lighthouse TSA": Decimal(23)}
    # In the spring term the request starting on 4 Jan is what counts.
    assert committed(place, "Estuary TSA", today=date(2027, 2, 1)) == Decimal(4)


def test_a_request_is_dated_by_its_utc_creation_without_a_start(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA")
    with db.session() as s:
        for created_at in (
            datetime(2026, 12, 18, 23, 59, tzinfo=UTC),  # last day of autumn
            datetime(2026, 12, 19, 0, 0, tzinfo=UTC),  # the holiday: counts with spring
        ):
            s.add(
                SupportRequest(
                    tenant_id=place.tenant_id,
                    reference=f"SR-{created_at:%d%H}",
                    school_id=place.schools[REQUESTER],
                    requested_by=place.requester_id,
                    category_id="sen_review",
                    needed="help",
                    state=State.CLAIMED.value,
                    claimed_by_alliance_id=place.alliances["Estuary TSA"],
                    days_estimate=1 if created_at.day == 18 else 2,
                    created_at=created_at,
                    updated_at=created_at,
                )
            )
    assert committed(place, "Estuary TSA", today=date(2026, 12, 1)) == Decimal(1)
    assert committed(place, "Estuary TSA", today=date(2027, 1, 5)) == Decimal(2)


def test_between_terms_this_term_is_the_next_one(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA", capacity=10)
    christmas = date(2026, 12, 28)
    place.request("Estuary TSA", State.AGREED, starts_on=date(2027, 2, 1), proposal_days="3")
    place.request("Estuary TSA", State.CLAIMED, created=date(2026, 12, 21), estimate=1.5)
    place.request("Estuary TSA", State.DELIVERED, starts_on=date(2026, 12, 1), proposal_days="4")
    place.request("Estuary TSA", State.AGREED, starts_on=date(2027, 4, 12), proposal_days="2")

    routing = do_route(place, today=christmas)

    assert routing.period.term == SPRING
    assert routing.period.phrase == "this term"
    assert committed(place, "Estuary TSA", today=christmas) == Decimal("4.5")
    assert [c.days_left for c in routing.eligible] == [Decimal("5.5")]


def test_the_period_takes_in_the_holiday_before_its_term() -> None:
    assert current_period(CALENDAR, TODAY).term == AUTUMN
    # Nothing says when the holiday before the first term began.
    assert current_period(CALENDAR, TODAY).counts_from == AUTUMN.starts
    assert current_period(CALENDAR, date(2026, 8, 20)).counts_from == date(2026, 8, 20)
    spring = current_period(CALENDAR, date(2027, 3, 26))
    assert (spring.term, spring.counts_from, spring.ends) == (
        SPRING,
        date(2026, 12, 19),
        date(2027, 3, 26),
    )
    easter = current_period(CALENDAR, date(2027, 3, 27))
    assert (easter.term, easter.counts_from) == (SUMMER, date(2027, 3, 27))


@pytest.mark.parametrize(
    "calendar",
    [
        TenantCalendar(),
        # Only last school year's terms: none covers today or later.
        TenantCalendar([Term("2025-26", "summer", date(2026, 4, 13), date(2026, 7, 22))]),
    ],
    ids=["no terms", "only past terms"],
)
def test_without_terms_ahead_the_period_is_the_next_120_days(
    db: Database, calendar: TenantCalendar
) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA", capacity=5)
    # 120 days from Mon 19 Oct 2026, today included, run to Mon 15 Feb 2027.
    place.request("Estuary TSA", State.CLAIMED, estimate=1)  # created today
    place.request("Estuary TSA", State.AGREED, starts_on=date(2027, 2, 15), proposal_days="4")
    place.request("Estuary TSA", State.AGREED, starts_on=date(2027, 2, 16), proposal_days="8")
    place.request("Estuary TSA", State.CLAIMED, created=date(2026, 10, 18), estimate=9)

    period = current_period(calendar, TODAY)
    assert (period.term, period.counts_from, period.ends) == (
        None,
        TODAY,
        date(2027, 2, 15),
    )
    assert committed(place, "Estuary TSA", calendar=calendar) == Decimal(5)
    routing = do_route(place, calendar=calendar)
    assert reasons(routing) == {
        "Estuary TSA": "has no days left in the 120 days to Mon 15 Feb 2027 (5 of 5 committed)"
    }


# --- tenants --------------------------------------------------------------------------------


def test_another_tenants_alliances_and_rows_are_never_read(db: Database) -> None:
    place = make_place(db)
    place.alliance("Estuary TSA")
    place.alliance("Leaderless TSA", leads=0)
    place.alliance("Maths Hub", tags=("maths",))
    place.alliance("Western TSA", quadrants=("West",))
    other = make_place(db, la_code=882, name="Suffolk")
    other.alliance("Suffolk TSA", tags=("send", "leadership"))  # its own "North East"
    # Rows of the other tenant that point at this tenant's alliances count for nothing.
    with db.session() as s:
        person_id = other.person(s, "Stray Lead")
        s.add(
            RoleAssignment(
                tenant_id=other.tenant_id,
                person_id=person_id,
                role=Role.ALLIANCE_LEAD.value,
                scope_kind=ScopeKind.ALLIANCE.value,
                scope_id=place.alliances["Leaderless TSA"],
            )
        )
        s.add(
            AllianceExpertise(
                tenant_id=other.tenant_id, alliance_id=place.alliances["Maths Hub"], tag="send"
            )
        )
        s.add(
            AllianceQuadrant(
                tenant_id=other.tenant_id,
                alliance_id=place.alliances["Western TSA"],
                quadrant_id=place.quadrants["North East"],
            )
        )
    other.alliances["Estuary TSA"] = place.alliances["Estuary TSA"]
    other.request("Estuary TSA", State.AGREED, starts_on=date(2026, 11, 2), proposal_days="9")

    routing = do_route(place)

    assert names(routing) == ["Estuary TSA"]
    assert routing.eligible[0].days_left == Decimal(30)
    assert reasons(routing) == {
        "Leaderless TSA": "has no alliance lead in the directory",
        "Maths Hub": "has no expertise in send or leadership",
        "Western TSA": "does not serve North East",
    }
    # And the other tenant's own routing sees only its own alliance.
    assert names(do_route(other)) == ["Suffolk TSA"]
    assert do_route(other).excluded == ()
    # A school of another tenant is not found.
    with db.session() as s, pytest.raises(NotFound):
        route(
            s,
            tenant_id=place.tenant_id,
            school_id=other.schools[REQUESTER],
            category=SEND,
            calendar=CALENDAR,
            today=TODAY,
        )


# --- cost -----------------------------------------------------------------------------------


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


def test_routing_makes_the_same_few_queries_however_many_alliances(db: Database) -> None:
    place = make_place(db)
    for n in range(2):
        place.alliance(f"TSA {n}")
        place.request(f"TSA {n}", State.CLOSED, starts_on=TODAY, proposal_days="1", impact=4)
    with counting(db) as few:
        assert len(do_route(place).eligible) == 2
    for n in range(2, 14):
        place.alliance(f"TSA {n}", quadrants=("North East", "West"), tags=("send", "maths"))
        place.request(f"TSA {n}", State.CLOSED, starts_on=TODAY, proposal_days="1", impact=4)
    with counting(db) as many:
        assert len(do_route(place).eligible) == 14
    assert len(many) == len(few) <= 7
