"""A small world for support-request tests: Essex with two quadrants, six alliances, and a
person in every part a request can give them.

Essex (LA 881), with the shipped sample calendar for 2026-27 (autumn Wed 2 Sep to Fri 18 Dec
2026, half term Mon 26 to Fri 30 Oct; British Summer Time ends on Sun 25 Oct, so before that
London is UTC+1). Schools: Harbour Primary School and Lighthouse Academy in North East, Reedbeds
Infant School in North East (its head chairs the quadrant), Fieldgate Primary School in West.
West has a chair but no LA officer of its own: the county's officer stands in for it.

Alliances, for an SEN review (tag `send`) from Harbour Primary:
- Estuary (North East, send, 30 days, two leads) — eligible;
- Marshland (North East, send, 30 days, one lead) — eligible;
- Saltings (North East, governance only) — no expertise;
- Westward (West, send) — another quadrant;
- Full House (North East, send, 5 days, all 5 used by an agreed request this term) — no days;
- Harbour Cove (North East, send, led from Harbour Primary) — a conflict of interest.
Estuary and Marshland also do pupil premium reviews.

Suffolk (LA 935) is built the same way, with the same names, to check that nothing crosses.
All people and places are fictional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.services.calendar import CalendarService, load_sample_calendar
from bot.services.identity import grants_for
from bot.services.support.catalogue import Catalogue, shipped_catalogue
from bot.services.support.requests import Ask, SupportService
from bot.types import Actor, ChatUser, Platform, Role, ScopeKind
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
from storage.outbox_tables import OutboxMessage
from storage.support_tables import SupportRequest
from tests.factories import SEEDED_AT
from tests.fakes.clock import FakeClock

NE, WEST = "North East", "West"
HARBOUR = "Harbour Primary School"  # the requesting school (North East)
LIGHTHOUSE = "Lighthouse Academy"  # another school in North East
REEDBEDS = "Reedbeds Infant School"  # North East; its head chairs the quadrant
FIELDGATE = "Fieldgate Primary School"  # West

ESTUARY = "Estuary Alliance"
MARSHLAND = "Marshland Alliance"
SALTINGS = "Saltings Alliance"
WESTWARD = "Westward Alliance"
FULL_HOUSE = "Full House Alliance"
HARBOUR_COVE = "Harbour Cove Alliance"
ELIGIBLE = (ESTUARY, MARSHLAND)  # for send or pupil premium from Harbour Primary

# People, by a short handle.
HEAD = "ada"  # head of Harbour Primary: the requester
STAFF = "ravi"  # staff at Harbour Primary
OTHER_HEAD = "ben"  # head of Lighthouse Academy
WEST_HEAD = "fay"  # head of Fieldgate Primary (West)
NO_SCHOOL = "nell"  # a partnership lead with no school
CHAIR = "cara"  # chair of North East (and head of Reedbeds)
WEST_CHAIR = "iris"  # chair of West
OFFICER = "dan"  # LA officer for North East
COUNTY = "olu"  # LA officer for the whole county
BOARD = "gil"  # Project Board member
ESTUARY_LEADS = ("eve", "eli")
MARSHLAND_LEAD = "mo"
SALTINGS_LEAD = "sal"
WESTWARD_LEAD = "wes"
FULL_HOUSE_LEAD = "fu"
HARBOUR_COVE_LEAD = "hal"
INELIGIBLE_LEADS = (SALTINGS_LEAD, WESTWARD_LEAD, FULL_HOUSE_LEAD, HARBOUR_COVE_LEAD)

NAMES = {
    HEAD: "Ada Brightwater",
    STAFF: "Ravi Tidewell",
    OTHER_HEAD: "Ben Saltcote",
    WEST_HEAD: "Fay Fieldgate",
    NO_SCHOOL: "Nell Unplaced",
    CHAIR: "Cara Quaymore",
    WEST_CHAIR: "Iris Westholm",
    OFFICER: "Dan Creekside",
    COUNTY: "Olu Shirewide",
    BOARD: "Gil Boardman",
    "eve": "Eve Estuary",
    "eli": "Eli Estuary",
    MARSHLAND_LEAD: "Mo Marsh",
    SALTINGS_LEAD: "Sal Tings",
    WESTWARD_LEAD: "Wes Ward",
    FULL_HOUSE_LEAD: "Fu Llhouse",
    HARBOUR_COVE_LEAD: "Hal Cove",
}

# Thu 22 Oct 2026, 10:00 in London (BST): the day before the half-term week begins.
THU_22_OCT = datetime(2026, 10, 22, 9, 0, tzinfo=UTC)


def local_time(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A London wall time as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Europe/London")).astimezone(
        UTC
    )


@dataclass
class Place:
    """One tenant's ids, by name."""

    tenant_id: int
    la_code: int
    quadrants: dict[str, int] = field(default_factory=dict)
    schools: dict[str, int] = field(default_factory=dict)
    alliances: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)  # handle -> person id


@dataclass
class SupportWorld:
    """Essex and Suffolk, a clock, and the service under test."""

    db: Database
    clock: FakeClock
    essex: Place
    suffolk: Place
    calendars: CalendarService
    catalogue: Catalogue
    service: SupportService

    def actor(self, handle: str, place: Place | None = None) -> Actor:
        """The person `handle` of `place` (Essex by default), with their grants as stored now."""
        where = place or self.essex
        person_id = where.people[handle]
        with self.db.session() as s:
            person = s.get(Person, person_id)
            tenant = s.get(Tenant, where.tenant_id)
            assert person is not None and tenant is not None
            return Actor(
                ChatUser(Platform.SLACK, f"T{where.la_code}", f"U{person_id}"),
                where.tenant_id,
                tenant.name,
                person_id,
                person.name,
                grants_for(s, where.tenant_id, person_id),
            )

    def person(self, handle: str, place: Place | None = None) -> int:
        return (place or self.essex).people[handle]

    def ask(
        self,
        category: str = "sen_review",
        *,
        school: str = HARBOUR,
        place: Place | None = None,
        consent: bool = True,
        needed: str = "A review of our SEN provision before the spring term.",
        days: str | None = "2",
    ) -> Ask:
        where = place or self.essex
        return Ask(
            school_id=where.schools[school],
            category_id=category,
            needed=needed,
            why_now="A new SENCo starts in January.",
            urgency="normal",
            days_estimate=Decimal(days) if days is not None else None,
            consent=consent,
        )

    def submit(
        self,
        category: str = "sen_review",
        *,
        place: Place | None = None,
        consent: bool = True,
        by: str = HEAD,
        school: str = HARBOUR,
    ) -> int:
        """A request from Ada at Harbour Primary (of Essex, or `place`), or from `by` at
        `school`; its id."""
        ask = self.ask(category, place=place, consent=consent, school=school)
        return self.service.submit(self.actor(by, place), ask).facts.id

    def add_alliance(
        self,
        name: str,
        *,
        place: Place | None = None,
        quadrants: Sequence[str] = (NE,),
        tags: Sequence[str] = ("send", "pupil_premium"),
        capacity: int = 30,
        lead_school: str | None = None,
        leads: Sequence[str] = (),
    ) -> int:
        """An alliance with its quadrants, expertise and leads (handles, added to people)."""
        where = place or self.essex
        with self.db.session() as s:
            return _alliance(s, where, name, quadrants, tags, capacity, lead_school, leads)

    def outbox(self, request_id: int | None = None) -> list[OutboxMessage]:
        """The outbox rows of a request (every support row when None), oldest first."""
        prefix = "support:" if request_id is None else f"support:{request_id}:"
        with self.db.session() as s:
            return list(
                s.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.key).startswith(prefix))
                    .order_by(col(OutboxMessage.id))
                ).all()
            )

    def request(self, request_id: int) -> SupportRequest:
        with self.db.session() as s:
            found = s.get(SupportRequest, request_id)
            assert found is not None
            return found


def build_support_world(db: Database, start: datetime = THU_22_OCT) -> SupportWorld:
    """Essex and Suffolk as the module docstring says, the clock at `start`."""
    essex = _build_place(db, la_code=881, name="Essex")
    suffolk = _build_place(db, la_code=935, name="Suffolk")
    clock = FakeClock(start)
    calendars = CalendarService(db, clock=clock, ttl=None)
    catalogue = shipped_catalogue()
    service = SupportService(db, clock, calendars.for_tenant, lambda _tenant: catalogue)
    return SupportWorld(db, clock, essex, suffolk, calendars, catalogue, service)


def _build_place(db: Database, *, la_code: int, name: str) -> Place:
    with db.session() as s:
        tenant = Tenant(name=name, la_code=la_code, created_at=SEEDED_AT)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        place = Place(tenant.id, la_code)
        for qname in (NE, WEST):
            quadrant = Quadrant(tenant_id=tenant.id, name=qname)
            s.add(quadrant)
            s.flush()
            assert quadrant.id is not None
            place.quadrants[qname] = quadrant.id
        for n, (sname, q) in enumerate(
            ((HARBOUR, NE), (LIGHTHOUSE, NE), (REEDBEDS, NE), (FIELDGATE, WEST)), start=1
        ):
            school = School(
                tenant_id=tenant.id,
                urn=la_code * 1000 + n,
                name=sname,
                quadrant_id=place.quadrants[q],
                updated_at=SEEDED_AT,
            )
            s.add(school)
            s.flush()
            assert school.id is not None
            place.schools[sname] = school.id
        q_ne, q_west = place.quadrants[NE], place.quadrants[WEST]
        roles: dict[str, list[tuple[Role, ScopeKind, int]]] = {
            HEAD: [(Role.HEAD, ScopeKind.SCHOOL, place.schools[HARBOUR])],
            STAFF: [(Role.STAFF, ScopeKind.SCHOOL, place.schools[HARBOUR])],
            OTHER_HEAD: [(Role.HEAD, ScopeKind.SCHOOL, place.schools[LIGHTHOUSE])],
            WEST_HEAD: [(Role.HEAD, ScopeKind.SCHOOL, place.schools[FIELDGATE])],
            NO_SCHOOL: [],
            CHAIR: [
                (Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, q_ne),
                (Role.HEAD, ScopeKind.SCHOOL, place.schools[REEDBEDS]),
            ],
            WEST_CHAIR: [(Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, q_west)],
            OFFICER: [(Role.LA_OFFICER, ScopeKind.QUADRANT, q_ne)],
            COUNTY: [(Role.LA_OFFICER, ScopeKind.COUNTY, 0)],
            BOARD: [(Role.BOARD_MEMBER, ScopeKind.COUNTY, 0)],
        }
        for handle, grants in roles.items():
            person_id = _person(s, place, handle)
            for role, kind, scope_id in grants:
                s.add(
                    RoleAssignment(
                        tenant_id=tenant.id,
                        person_id=person_id,
                        role=role.value,
                        scope_kind=kind.value,
                        scope_id=scope_id,
                    )
                )
        _alliance(s, place, ESTUARY, (NE,), ("send", "pupil_premium"), 30, None, ESTUARY_LEADS)
        _alliance(s, place, MARSHLAND, (NE,), ("send", "pupil_premium"), 30, None, ("mo",))
        _alliance(s, place, SALTINGS, (NE,), ("governance",), 30, None, (SALTINGS_LEAD,))
        _alliance(s, place, WESTWARD, (WEST,), ("send",), 30, None, (WESTWARD_LEAD,))
        _alliance(s, place, FULL_HOUSE, (NE,), ("send",), 5, None, (FULL_HOUSE_LEAD,))
        _alliance(s, place, HARBOUR_COVE, (NE,), ("send",), 30, HARBOUR, (HARBOUR_COVE_LEAD,))
        # Full House has used all its five days this term: an agreed SEN review at Lighthouse.
        s.add(
            SupportRequest(
                tenant_id=tenant.id,
                reference="SR-2025-0001",
                school_id=place.schools[LIGHTHOUSE],
                requested_by=place.people[OTHER_HEAD],
                category_id="sen_review",
                needed="A review of SEN provision.",
                state="agreed",
                consent_to_share=True,
                claimed_by_alliance_id=place.alliances[FULL_HOUSE],
                claimed_by_person_id=place.people[FULL_HOUSE_LEAD],
                proposal_days=Decimal(5),
                proposal_starts_on=date(2026, 11, 9),
                proposal_ends_on=date(2026, 11, 13),
                proposal_cost_pence=225000,
                created_at=datetime(2026, 9, 14, 9, tzinfo=UTC),
                updated_at=datetime(2026, 9, 14, 9, tzinfo=UTC),
            )
        )
    load_sample_calendar(db, la_code=la_code)
    return place


def _person(s: Session, place: Place, handle: str) -> int:
    person = Person(
        tenant_id=place.tenant_id,
        name=NAMES.get(handle, handle.title()),
        email=f"{handle}@t{place.la_code}.example.org",
    )
    s.add(person)
    s.flush()
    assert person.id is not None
    place.people[handle] = person.id
    return person.id


def _alliance(
    s: Session,
    place: Place,
    name: str,
    quadrants: Sequence[str],
    tags: Sequence[str],
    capacity: int,
    lead_school: str | None,
    leads: Sequence[str],
) -> int:
    alliance = Alliance(
        tenant_id=place.tenant_id,
        name=name,
        capacity_days_per_term=capacity,
        lead_school_id=place.schools[lead_school] if lead_school else None,
    )
    s.add(alliance)
    s.flush()
    assert alliance.id is not None
    place.alliances[name] = alliance.id
    for q in quadrants:
        s.add(
            AllianceQuadrant(
                tenant_id=place.tenant_id, alliance_id=alliance.id, quadrant_id=place.quadrants[q]
            )
        )
    for tag in tags:
        s.add(AllianceExpertise(tenant_id=place.tenant_id, alliance_id=alliance.id, tag=tag))
    for handle in leads:
        person_id = _person(s, place, handle)
        s.add(
            RoleAssignment(
                tenant_id=place.tenant_id,
                person_id=person_id,
                role=Role.ALLIANCE_LEAD.value,
                scope_kind=ScopeKind.ALLIANCE.value,
                scope_id=alliance.id,
            )
        )
    return alliance.id
