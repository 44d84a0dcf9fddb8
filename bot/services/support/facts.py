"""A support request as the cards and views show it: names instead of ids, and its proposal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.services.support.catalogue import Catalogue
from bot.services.support.lifecycle import State
from storage.models import Alliance, Person, Quadrant, School, Tenant, aware
from storage.support_tables import SupportOffer, SupportRequest

URGENCY_LABELS = {
    "low": "Low: within the term is fine",
    "normal": "Normal: in the next few weeks",
    "high": "High: as soon as possible",
    "urgent": "Urgent: this week",
}


@dataclass(frozen=True)
class Proposal:
    """What the provider proposes (and, once accepted, what was agreed)."""

    days: Decimal
    starts_on: date
    ends_on: date
    cost_pence: int
    note: str | None = None


@dataclass(frozen=True)
class OfferFacts:
    alliance_id: int
    alliance: str
    status: str  # offered | declined | claimed | lapsed
    decline_reason: str | None


@dataclass(frozen=True)
class Facts:
    """Everything about one request that a card, a list or a report may show."""

    id: int
    tenant_id: int
    reference: str
    state: State
    route: str
    school_id: int
    school: str
    quadrant_id: int | None
    quadrant: str | None
    category_id: str
    category: str
    needed: str
    why_now: str
    urgency: str
    window_from: date | None
    window_to: date | None
    days_estimate: Decimal | None
    consent: bool
    requested_by_id: int
    requested_by: str
    created_at: datetime
    updated_at: datetime
    holder_id: int | None
    holder: str | None  # the alliance that holds it
    holder_person_id: int | None
    holder_person: str | None
    proposal: Proposal | None
    impact_rating: int | None
    impact_evidence: str | None
    offers: tuple[OfferFacts, ...]
    zone: ZoneInfo
    day_rate_pence: int
    version: int

    @property
    def urgency_label(self) -> str:
        return URGENCY_LABELS.get(self.urgency, self.urgency)

    def open_offers(self) -> tuple[int, ...]:
        return tuple(o.alliance_id for o in self.offers if o.status == "offered")

    def ever_offered(self) -> tuple[int, ...]:
        return tuple(o.alliance_id for o in self.offers)


def load_facts(
    session: Session, requests: Sequence[SupportRequest], catalogue: Catalogue
) -> list[Facts]:
    """The facts of `requests` (all of one tenant), in their order, in a fixed number of queries."""
    if not requests:
        return []
    tenant_id = requests[0].tenant_id
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    zone = ZoneInfo(tenant.timezone)
    ids = [r.id for r in requests if r.id is not None]
    schools = _by_id(session, School, tenant_id, (r.school_id for r in requests))
    quadrants = _by_id(
        session, Quadrant, tenant_id, (s.quadrant_id for s in schools.values() if s.quadrant_id)
    )
    offers = session.exec(
        select(SupportOffer)
        .where(SupportOffer.tenant_id == tenant_id, col(SupportOffer.request_id).in_(ids))
        .order_by(col(SupportOffer.id))
    ).all()
    alliance_ids = {o.alliance_id for o in offers} | {
        r.claimed_by_alliance_id for r in requests if r.claimed_by_alliance_id
    }
    alliances = _by_id(session, Alliance, tenant_id, alliance_ids)
    people = _by_id(
        session,
        Person,
        tenant_id,
        [r.requested_by for r in requests]
        + [r.claimed_by_person_id for r in requests if r.claimed_by_person_id],
    )
    by_request: dict[int, list[OfferFacts]] = {}
    for o in offers:
        name = alliances[o.alliance_id].name if o.alliance_id in alliances else "?"
        by_request.setdefault(o.request_id, []).append(
            OfferFacts(o.alliance_id, name, o.status, o.decline_reason)
        )
    found: list[Facts] = []
    for r in requests:
        assert r.id is not None
        school = schools.get(r.school_id)
        quadrant = quadrants.get(school.quadrant_id) if school and school.quadrant_id else None
        holder = alliances.get(r.claimed_by_alliance_id) if r.claimed_by_alliance_id else None
        holder_person = people.get(r.claimed_by_person_id) if r.claimed_by_person_id else None
        requester = people.get(r.requested_by)
        found.append(
            Facts(
                id=r.id,
                tenant_id=r.tenant_id,
                reference=r.reference,
                state=State(r.state),
                route=r.route,
                school_id=r.school_id,
                school=school.name if school else "?",
                quadrant_id=quadrant.id if quadrant else None,
                quadrant=quadrant.name if quadrant else None,
                category_id=r.category_id,
                category=_label(catalogue, r.category_id),
                needed=r.needed,
                why_now=r.why_now,
                urgency=r.urgency,
                window_from=r.window_from,
                window_to=r.window_to,
                days_estimate=None
                if r.days_estimate is None
                else Decimal(str(r.days_estimate)).quantize(Decimal("0.1")),
                consent=r.consent_to_share,
                requested_by_id=r.requested_by,
                requested_by=requester.name if requester else "former staff member",
                created_at=aware(r.created_at),
                updated_at=aware(r.updated_at),
                holder_id=r.claimed_by_alliance_id,
                holder=holder.name if holder else None,
                holder_person_id=r.claimed_by_person_id,
                holder_person=holder_person.name if holder_person else None,
                proposal=_proposal(r),
                impact_rating=r.impact_rating,
                impact_evidence=r.impact_evidence,
                offers=tuple(by_request.get(r.id, ())),
                zone=zone,
                day_rate_pence=tenant.day_rate_pence,
                version=r.version,
            )
        )
    return found


def _proposal(r: SupportRequest) -> Proposal | None:
    if (
        r.proposal_days is None
        or r.proposal_starts_on is None
        or r.proposal_ends_on is None
        or r.proposal_cost_pence is None
    ):
        return None
    return Proposal(
        Decimal(r.proposal_days).quantize(Decimal("0.1")),
        r.proposal_starts_on,
        r.proposal_ends_on,
        r.proposal_cost_pence,
        r.proposal_note,
    )


def _label(catalogue: Catalogue, category_id: str) -> str:
    try:
        return catalogue.category(category_id).label
    except KeyError:
        return category_id  # a category since taken out of the catalogue


T = TypeVar("T", School, Quadrant, Alliance, Person)


def _by_id(
    session: Session, table: type[T], tenant_id: int, ids: Iterable[int | None]
) -> dict[int, T]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.exec(
        select(table).where(col(table.tenant_id) == tenant_id, col(table.id).in_(wanted))
    ).all()
    return {row.id: row for row in rows if row.id is not None}
