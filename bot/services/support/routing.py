"""Which Teaching School Alliances a support request goes to, best first, and why not the rest.

An alliance is eligible for a request of `category` from a school when it
1. serves the school's quadrant (a school in no quadrant is served by no alliance),
2. has at least one of the category's expertise tags (a category with no tags, like "other",
   needs none),
3. has days left in the period: its capacity per term minus the days it has committed,
4. is not led from the requesting school (a conflict of interest), and
5. has somebody holding alliance_lead for it (otherwise nobody could see the offer).
Every other alliance of the tenant is excluded with the first of these it fails, in that order.

Ranking, best first (chairs will ask why an alliance came first):
1. more of the category's tags matched;
2. higher mean impact rating of its closed requests; an alliance with no ratings yet counts as
   3.0, the middle of the 1-5 scale, so that newcomers are neither buried nor promoted;
3. more days left in the period;
4. name (A before Z), so equal alliances always come in the same order.

The period ("this term") is the term containing `today`, or between terms the next term; a
request counts in it when its date falls in the term or in the holiday just before it (work
asked for in a holiday is done in the term after it, and would otherwise count against no term
at all). Nothing says when the holiday before the first term loaded began, so for that term
only the part of it from today counts. When the calendar has no term covering today or later,
the period is the 120 days from today (today included), and only dates in it count.

A request's date is its proposal's start date if it has one, else the UTC date it was created.
Days committed are the requests the alliance holds (`HELD_STATES`: claimed through closed; a
withdrawn or escalated request counts nothing) at their proposal's days if set, else the
requester's estimate, else nothing.

`route` makes at most seven queries, however many alliances the tenant has.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from bot.errors import NotFound
from bot.services.calendar import TenantCalendar, Term
from bot.services.calendar_file import fmt
from bot.services.support.catalogue import Category
from bot.services.support.lifecycle import State
from bot.types import Role, ScopeKind
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    Quadrant,
    RoleAssignment,
    School,
)
from storage.support_tables import SupportRequest

__all__ = [
    "FALLBACK_DAYS",
    "HELD_STATES",
    "NEUTRAL_IMPACT",
    "Candidate",
    "Excluded",
    "Period",
    "Routing",
    "current_period",
    "days_committed",
    "route",
]

#: The states in which a request uses its alliance's days.
HELD_STATES: tuple[State, ...] = (
    State.CLAIMED,
    State.PROPOSED,
    State.AGREED,
    State.IN_DELIVERY,
    State.DELIVERED,
    State.CLOSED,
)
#: How an alliance with no impact ratings yet ranks: the middle of the 1-5 scale.
NEUTRAL_IMPACT = Decimal("3.0")
#: The period counted when the calendar has no term covering today or later.
FALLBACK_DAYS = 120

_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Period:
    """The dates whose requests use an alliance's days for "this term"."""

    counts_from: date  # the first date that counts: the holiday before the term included
    ends: date  # the last date that counts (inclusive)
    term: Term | None  # None: no term covers today or later, so the 120 days from today

    @property
    def phrase(self) -> str:
        """How the period reads after "days left": "this term", "in the 120 days to …"."""
        if self.term is not None:
            return "this term"
        return f"in the {FALLBACK_DAYS} days to {fmt(self.ends)}"

    def contains(self, d: date) -> bool:
        return self.counts_from <= d <= self.ends


@dataclass(frozen=True)
class Candidate:
    """An alliance the request can be offered to, with what its place in the ranking rests on."""

    alliance_id: int
    name: str
    lead_person_ids: tuple[int, ...]  # people holding alliance_lead for it, sorted by id
    matched_tags: tuple[str, ...]  # category tags the alliance has, in category order
    days_left: Decimal  # capacity this term minus days committed this term
    capacity: int  # capacity_days_per_term
    mean_impact: Decimal | None  # mean impact_rating of its closed requests, 1 decimal
    ratings: int  # how many rated requests that mean is over

    @property
    def rank_key(self) -> tuple[int, Decimal, Decimal, str, int]:
        """Sorts best first: see the module docstring."""
        impact = NEUTRAL_IMPACT if self.mean_impact is None else self.mean_impact
        return (
            -len(self.matched_tags),
            -impact,
            -self.days_left,
            self.name.casefold(),
            self.alliance_id,
        )


@dataclass(frozen=True)
class Excluded:
    """An alliance the request is not offered to, and the first reason why, for a chair."""

    alliance_id: int
    name: str
    reason: str  # e.g. "does not serve North East"


@dataclass(frozen=True)
class Routing:
    """Where a request goes: the eligible alliances best first, and every other one with why."""

    eligible: tuple[Candidate, ...]  # ranked, best first
    excluded: tuple[Excluded, ...]  # every other alliance of the tenant, by name
    period: Period  # what "this term" meant for days left


def current_period(calendar: TenantCalendar, today: date) -> Period:
    """The term containing `today` (between terms, the next one), with the holiday before it;
    the 120 days from today when no term covers today or later."""
    terms = calendar.terms
    term = calendar.term_of(today) or next((t for t in terms if t.starts > today), None)
    if term is None:
        return Period(today, today + timedelta(days=FALLBACK_DAYS - 1), None)
    before = [t for t in terms if t.ends < term.starts]
    if before:
        counts_from = max(t.ends for t in before) + timedelta(days=1)
    else:
        counts_from = min(today, term.starts)
    return Period(counts_from, term.ends, term)


def days_committed(
    session: Session, *, tenant_id: int, alliance_id: int, calendar: TenantCalendar, today: date
) -> Decimal:
    """The days alliance `alliance_id` has committed in the period containing `today`."""
    period = current_period(calendar, today)
    committed = _committed(session, tenant_id, period, [alliance_id])
    return committed.get(alliance_id, Decimal(0))


def route(
    session: Session,
    *,
    tenant_id: int,
    school_id: int,
    category: Category,
    calendar: TenantCalendar,
    today: date,
) -> Routing:
    """The alliances a request of `category` from school `school_id` goes to, best first, and
    every other alliance of the tenant with the first reason it does not.

    NotFound if the school is not the tenant's; ValueError for a category routed to the LA.
    """
    if not category.traded:
        raise ValueError(f"{category.label} is sent to the LA, not offered to alliances")
    found = session.exec(
        select(School, Quadrant)
        .join(
            Quadrant,
            and_(
                col(Quadrant.id) == col(School.quadrant_id),
                col(Quadrant.tenant_id) == tenant_id,
            ),
            isouter=True,
        )
        .where(col(School.id) == school_id, col(School.tenant_id) == tenant_id)
    ).first()
    if found is None:
        raise NotFound(f"no school with id {school_id} in this local authority")
    _, quadrant = found

    alliances = session.exec(select(Alliance).where(col(Alliance.tenant_id) == tenant_id)).all()
    period = current_period(calendar, today)
    serving = _serving(session, tenant_id, quadrant)
    tags = _tags(session, tenant_id, category.tags)
    leads = _leads(session, tenant_id)
    ids = [a.id for a in alliances if a.id is not None]
    committed = _committed(session, tenant_id, period, ids)
    impact = _impact(session, tenant_id)

    eligible: list[Candidate] = []
    excluded: list[Excluded] = []
    for alliance in alliances:
        assert alliance.id is not None
        has = tags.get(alliance.id, frozenset())
        matched = tuple(t for t in category.tags if t in has)
        used = committed.get(alliance.id, Decimal(0))
        days_left = alliance.capacity_days_per_term - used
        reason = _reason(
            alliance,
            school_id=school_id,
            quadrant=quadrant,
            serves=alliance.id in serving,
            category=category,
            matched=matched,
            used=used,
            days_left=days_left,
            has_lead=bool(leads.get(alliance.id)),
            period=period,
        )
        if reason is not None:
            excluded.append(Excluded(alliance.id, alliance.name, reason))
            continue
        mean, ratings = impact.get(alliance.id, (None, 0))
        eligible.append(
            Candidate(
                alliance_id=alliance.id,
                name=alliance.name,
                lead_person_ids=tuple(sorted(leads[alliance.id])),
                matched_tags=matched,
                days_left=days_left,
                capacity=alliance.capacity_days_per_term,
                mean_impact=mean,
                ratings=ratings,
            )
        )
    eligible.sort(key=lambda c: c.rank_key)
    excluded.sort(key=lambda e: (e.name.casefold(), e.alliance_id))
    return Routing(tuple(eligible), tuple(excluded), period)


def _reason(
    alliance: Alliance,
    *,
    school_id: int,
    quadrant: Quadrant | None,
    serves: bool,
    category: Category,
    matched: tuple[str, ...],
    used: Decimal,
    days_left: Decimal,
    has_lead: bool,
    period: Period,
) -> str | None:
    """The first rule `alliance` fails, as a sentence about it; None if it is eligible."""
    if quadrant is None:
        return "does not serve the requesting school's quadrant: the school is in none"
    if not serves:
        return f"does not serve {quadrant.name}"
    if category.tags and not matched:
        return f"has no expertise in {_or(t.replace('_', ' ') for t in category.tags)}"
    if days_left <= 0:
        return (
            f"has no days left {period.phrase} "
            f"({_days(used)} of {alliance.capacity_days_per_term} committed)"
        )
    if alliance.lead_school_id == school_id:
        return "its lead school is the requesting school"
    if not has_lead:
        return "has no alliance lead in the directory"
    return None


def _serving(session: Session, tenant_id: int, quadrant: Quadrant | None) -> set[int]:
    """The alliances serving `quadrant`."""
    if quadrant is None:
        return set()
    rows = session.exec(
        select(AllianceQuadrant.alliance_id).where(
            col(AllianceQuadrant.tenant_id) == tenant_id,
            col(AllianceQuadrant.quadrant_id) == quadrant.id,
        )
    ).all()
    return set(rows)


def _tags(session: Session, tenant_id: int, wanted: Collection[str]) -> dict[int, frozenset[str]]:
    """The tags among `wanted` that each alliance has."""
    if not wanted:
        return {}
    found: defaultdict[int, set[str]] = defaultdict(set)
    for alliance_id, tag in session.exec(
        select(AllianceExpertise.alliance_id, AllianceExpertise.tag).where(
            col(AllianceExpertise.tenant_id) == tenant_id,
            col(AllianceExpertise.tag).in_(list(wanted)),
        )
    ).all():
        found[alliance_id].add(tag)
    return {k: frozenset(v) for k, v in found.items()}


def _leads(session: Session, tenant_id: int) -> dict[int, set[int]]:
    """The people holding alliance_lead, by alliance."""
    found: defaultdict[int, set[int]] = defaultdict(set)
    for alliance_id, person_id in session.exec(
        select(RoleAssignment.scope_id, RoleAssignment.person_id).where(
            col(RoleAssignment.tenant_id) == tenant_id,
            col(RoleAssignment.role) == Role.ALLIANCE_LEAD.value,
            col(RoleAssignment.scope_kind) == ScopeKind.ALLIANCE.value,
        )
    ).all():
        found[alliance_id].add(person_id)
    return found


def _committed(
    session: Session, tenant_id: int, period: Period, alliance_ids: Iterable[int]
) -> dict[int, Decimal]:
    """Days committed in `period`, by alliance (alliances with none are left out)."""
    ids = list(alliance_ids)
    if not ids:
        return {}
    # created_at is compared as an instant: the period's dates as UTC midnights.
    since = datetime.combine(period.counts_from, time(0), UTC)
    until = datetime.combine(period.ends + timedelta(days=1), time(0), UTC)
    starts_on = col(SupportRequest.proposal_starts_on)
    rows = session.exec(
        select(
            col(SupportRequest.claimed_by_alliance_id),
            col(SupportRequest.proposal_days),
            col(SupportRequest.days_estimate),
        ).where(
            col(SupportRequest.tenant_id) == tenant_id,
            col(SupportRequest.claimed_by_alliance_id).in_(ids),
            col(SupportRequest.state).in_([s.value for s in HELD_STATES]),
            or_(
                and_(starts_on.is_not(None), starts_on.between(period.counts_from, period.ends)),
                and_(
                    starts_on.is_(None),
                    col(SupportRequest.created_at) >= since,
                    col(SupportRequest.created_at) < until,
                ),
            ),
        )
    ).all()
    totals: defaultdict[int, Decimal] = defaultdict(Decimal)
    for alliance_id, proposal_days, estimate in rows:
        assert alliance_id is not None
        totals[alliance_id] += _request_days(proposal_days, estimate)
    return dict(totals)


def _request_days(proposal_days: Decimal | None, estimate: float | None) -> Decimal:
    if proposal_days is not None:
        return Decimal(proposal_days)
    if estimate is not None:
        # Through str, so that an estimate of 1.1 is 1.1 days and not its binary neighbour.
        return Decimal(str(estimate))
    return Decimal(0)


def _impact(session: Session, tenant_id: int) -> Mapping[int, tuple[Decimal, int]]:
    """Each alliance's mean impact rating over its closed, rated requests, and how many."""
    rows = session.exec(
        select(
            col(SupportRequest.claimed_by_alliance_id),
            func.count(col(SupportRequest.impact_rating)),
            func.sum(col(SupportRequest.impact_rating)),
        )
        .where(
            col(SupportRequest.tenant_id) == tenant_id,
            col(SupportRequest.state) == State.CLOSED.value,
            col(SupportRequest.claimed_by_alliance_id).is_not(None),
            col(SupportRequest.impact_rating).is_not(None),
        )
        .group_by(col(SupportRequest.claimed_by_alliance_id))
    ).all()
    out: dict[int, tuple[Decimal, int]] = {}
    for alliance_id, count, total in rows:
        if alliance_id is None or not count or total is None:
            continue
        mean = (Decimal(int(total)) / count).quantize(_TENTH, rounding=ROUND_HALF_UP)
        out[alliance_id] = (mean, int(count))
    return out


def _days(value: Decimal) -> str:
    """Days as people write them: 30, 2.5."""
    return format(value.normalize(), "f")


def _or(words: Iterable[str]) -> str:
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"
