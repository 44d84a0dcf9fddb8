"""The support ledger (days and traded value per alliance and term) and the support stats.

The ledger:
- A request counts in the row of the alliance that holds it (`claimed_by_alliance_id`) and of
  the term containing its proposal's start date (`proposal_starts_on`) in the tenant calendar.
  A start date in a holiday between terms counts in the next term (holidays before the first
  term of a school year with term dates included); a date the calendar has no term dates for,
  or none after, counts under "No term dates" (school year "").
- Days and values are those of the request's current proposal (once accepted, the agreed
  figures). Days offered: requests in *proposed* (a proposal on the table, not yet agreed).
  Days agreed: requests in *agreed*, *in delivery*, *delivered* or *closed*. Days delivered:
  requests in *delivered* or *closed*. Values are the proposal's cost, priced at the tenant's
  day rate when it was made (a proposal stored without a cost is priced at today's day rate).
- Withdrawn requests, escalated ones, and requests without a proposal count nothing, and
  `requests` is the number of requests that count in the row.
- Rows are sorted by alliance name, then term start date ("No term dates" last). The CSV adds a
  TOTAL row.

The stats:
- Time to claim: from when a request was made to when it was claimed (or assigned), for the
  requests that were. Time to close: from when it was made to when it was closed. Both count
  school days in the tenant calendar between the two local dates: the school days after the
  first date, up to and including the second (claimed the same day: 0; made on Friday and
  claimed on Monday: 1). Median and mean to 1 decimal place; None when nothing was measured.
- Unclaimed and open: requests *submitted*, *offered* or *escalated* now.
- Impact: the 1-5 ratings given when requests were closed, by category and by the requesting
  school's quadrant; groups sorted by label, only those with a rating.

`quadrant_id` limits both to requests from schools in that quadrant. Every query is scoped to
the tenant, and each function runs a fixed number of them however many requests there are.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_
from sqlmodel import Session, col, select

from bot.services.calendar import TenantCalendar, Term
from bot.services.support.catalogue import shipped_catalogue
from bot.services.support.lifecycle import State
from storage.models import Alliance, Quadrant, School, Tenant, aware
from storage.support_tables import SupportRequest

__all__ = [
    "NO_ALLIANCE",
    "NO_QUADRANT",
    "NO_TERM_DATES",
    "Duration",
    "ImpactGroup",
    "LedgerRow",
    "SupportStats",
    "ledger",
    "ledger_csv",
    "ledger_term",
    "school_days_between",
    "stats",
]

NO_TERM_DATES = "No term dates"
NO_ALLIANCE = "No alliance"  # a proposal on a request no alliance holds (should not happen)
NO_QUADRANT = "No quadrant"

OFFERED_STATES = frozenset({State.PROPOSED})
DELIVERED_STATES = frozenset({State.DELIVERED, State.CLOSED})
AGREED_STATES = frozenset({State.AGREED, State.IN_DELIVERY}) | DELIVERED_STATES
LEDGER_STATES = OFFERED_STATES | AGREED_STATES
UNCLAIMED_STATES = frozenset({State.SUBMITTED, State.OFFERED, State.ESCALATED})
# How the stats list states: the lifecycle's order (draft is never stored).
STATE_ORDER = tuple(s.value for s in State if s is not State.DRAFT)

CSV_COLUMNS = (
    "Alliance",
    "School year",
    "Term",
    "Requests",
    "Days offered",
    "Days agreed",
    "Days delivered",
    "Value offered (£)",
    "Value agreed (£)",
    "Value delivered (£)",
)

ZERO_DAYS = Decimal("0.0")
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class LedgerRow:
    """One alliance's days and traded value in one term."""

    alliance: str
    school_year: str  # "2026-27"; "" when the term is unknown
    term: str  # the term's name, or NO_TERM_DATES
    requests: int
    days_offered: Decimal
    days_agreed: Decimal
    days_delivered: Decimal
    value_agreed_pence: int
    value_delivered_pence: int
    value_offered_pence: int = 0
    term_starts: date | None = None  # None for NO_TERM_DATES


@dataclass(frozen=True)
class Duration:
    """How long something took, in school days, over the requests it was measured on."""

    count: int
    median: Decimal | None  # 1 decimal place; None when count is 0
    mean: Decimal | None


@dataclass(frozen=True)
class ImpactGroup:
    """The impact ratings of one category or quadrant."""

    label: str
    rated: int
    mean: Decimal | None  # 1 decimal place
    distribution: tuple[int, int, int, int, int]  # how many 1s, 2s, ... 5s


@dataclass(frozen=True)
class SupportStats:
    """`/slis support stats`: how requests fare in a scope (the county or a quadrant)."""

    scope_label: str
    requests: int
    by_state: tuple[tuple[str, int], ...]  # every state, in lifecycle order
    time_to_claim: Duration
    time_to_close: Duration
    unclaimed_open: int
    impact_by_category: tuple[ImpactGroup, ...]
    impact_by_quadrant: tuple[ImpactGroup, ...]


# --- the ledger --------------------------------------------------------------------------------


def ledger_term(calendar: TenantCalendar, d: date) -> Term | None:
    """The term a proposal starting on `d` counts in: the term containing `d`, else the next
    one when `d` is in a holiday between terms; None when the calendar has no term dates for it.
    """
    term = calendar.term_of(d)
    if term is not None:
        return term
    later = next((t for t in calendar.terms if t.starts > d), None)
    if later is None:
        return None
    earlier = any(t.ends < d for t in calendar.terms)
    return later if earlier or calendar.has_terms_for(d) else None


def ledger(
    session: Session, *, tenant_id: int, calendar: TenantCalendar, quadrant_id: int | None = None
) -> list[LedgerRow]:
    """The ledger rows of a tenant (or of one quadrant's schools): see the module docstring."""
    query = (
        select(SupportRequest, Alliance.name)
        .outerjoin(
            Alliance,
            and_(
                col(Alliance.id) == col(SupportRequest.claimed_by_alliance_id),
                col(Alliance.tenant_id) == tenant_id,
            ),
        )
        .where(
            col(SupportRequest.tenant_id) == tenant_id,
            col(SupportRequest.state).in_([s.value for s in LEDGER_STATES]),
            col(SupportRequest.proposal_days).is_not(None),
        )
    )
    if quadrant_id is not None:
        query = query.join(
            School,
            and_(
                col(School.id) == col(SupportRequest.school_id),
                col(School.tenant_id) == tenant_id,
            ),
        ).where(col(School.quadrant_id) == quadrant_id)
    found = session.exec(query).all()
    day_rate: int | None = None
    if any(request.proposal_cost_pence is None for request, _ in found):
        day_rate = session.exec(
            select(Tenant.day_rate_pence).where(col(Tenant.id) == tenant_id)
        ).one()

    totals: dict[tuple[int | None, str, Term | None], _Tally] = {}
    for request, alliance_name in found:
        assert request.proposal_days is not None
        days = Decimal(request.proposal_days).quantize(TENTH)
        cost = request.proposal_cost_pence
        if cost is None:
            assert day_rate is not None
            cost = int((days * day_rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        starts_on = request.proposal_starts_on
        term = ledger_term(calendar, starts_on) if starts_on is not None else None
        alliance_id = request.claimed_by_alliance_id
        name = alliance_name if alliance_id is not None and alliance_name else NO_ALLIANCE
        tally = totals.setdefault((alliance_id, name, term), _Tally())
        tally.add(State(request.state), days, cost)

    rows = [tally.row(name, term) for (_, name, term), tally in totals.items()]
    rows.sort(key=_row_order)
    return rows


def ledger_csv(rows: Sequence[LedgerRow]) -> bytes:
    """The ledger as CSV for Excel: UTF-8 with a BOM, a header row, days to 1 decimal place,
    money in pounds ("1125.00"), and a TOTAL row last."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _text_cell(row.alliance),
                row.school_year,
                _text_cell(row.term),
                *_figures(row),
            ]
        )
    total = LedgerRow(
        alliance="TOTAL",
        school_year="",
        term="",
        requests=sum(r.requests for r in rows),
        days_offered=sum((r.days_offered for r in rows), ZERO_DAYS),
        days_agreed=sum((r.days_agreed for r in rows), ZERO_DAYS),
        days_delivered=sum((r.days_delivered for r in rows), ZERO_DAYS),
        value_agreed_pence=sum(r.value_agreed_pence for r in rows),
        value_delivered_pence=sum(r.value_delivered_pence for r in rows),
        value_offered_pence=sum(r.value_offered_pence for r in rows),
    )
    writer.writerow(["TOTAL", "", "", *_figures(total)])
    return buffer.getvalue().encode("utf-8-sig")


class _Tally:
    """The running totals of one ledger row."""

    def __init__(self) -> None:
        self.requests = 0
        self.days = {"offered": ZERO_DAYS, "agreed": ZERO_DAYS, "delivered": ZERO_DAYS}
        self.pence = {"offered": 0, "agreed": 0, "delivered": 0}

    def add(self, state: State, days: Decimal, cost: int) -> None:
        self.requests += 1
        for column, states in (
            ("offered", OFFERED_STATES),
            ("agreed", AGREED_STATES),
            ("delivered", DELIVERED_STATES),
        ):
            if state in states:
                self.days[column] += days
                self.pence[column] += cost

    def row(self, alliance: str, term: Term | None) -> LedgerRow:
        return LedgerRow(
            alliance=alliance,
            school_year=term.school_year if term is not None else "",
            term=term.name if term is not None else NO_TERM_DATES,
            requests=self.requests,
            days_offered=self.days["offered"],
            days_agreed=self.days["agreed"],
            days_delivered=self.days["delivered"],
            value_agreed_pence=self.pence["agreed"],
            value_delivered_pence=self.pence["delivered"],
            value_offered_pence=self.pence["offered"],
            term_starts=term.starts if term is not None else None,
        )


def _row_order(row: LedgerRow) -> tuple[bool, str, str, bool, date]:
    return (
        row.alliance == NO_ALLIANCE,
        row.alliance.casefold(),
        row.alliance,
        row.term_starts is None,
        row.term_starts or date.min,
    )


def _figures(row: LedgerRow) -> list[str]:
    return [
        str(row.requests),
        _days(row.days_offered),
        _days(row.days_agreed),
        _days(row.days_delivered),
        _pounds(row.value_offered_pence),
        _pounds(row.value_agreed_pence),
        _pounds(row.value_delivered_pence),
    ]


def _days(days: Decimal) -> str:
    return format(days.quantize(TENTH), "f")


def _pounds(pence: int) -> str:
    return format(Decimal(pence).scaleb(-2).quantize(Decimal("0.01")), "f")


def _text_cell(value: str) -> str:
    # A name starting like a formula would be run by Excel as one; a leading quote keeps it text.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# --- the stats ---------------------------------------------------------------------------------


def school_days_between(calendar: TenantCalendar, start: datetime, end: datetime) -> int:
    """The school days after `start`'s local date, up to and including `end`'s (0 if none)."""
    first = calendar.local(aware(start)).date()
    last = calendar.local(aware(end)).date()
    count = 0
    d = first + timedelta(days=1)
    while d <= last:
        count += calendar.is_school_day(d)
        d += timedelta(days=1)
    return count


def stats(
    session: Session,
    *,
    tenant_id: int,
    calendar: TenantCalendar,
    quadrant_id: int | None = None,
    scope_label: str,
) -> SupportStats:
    """Counts, times to claim and close, and impact, for a tenant or one quadrant's schools."""
    query = (
        select(SupportRequest, Quadrant.name)
        .outerjoin(
            School,
            and_(
                col(School.id) == col(SupportRequest.school_id),
                col(School.tenant_id) == tenant_id,
            ),
        )
        .outerjoin(
            Quadrant,
            and_(
                col(Quadrant.id) == col(School.quadrant_id),
                col(Quadrant.tenant_id) == tenant_id,
            ),
        )
        .where(col(SupportRequest.tenant_id) == tenant_id)
    )
    if quadrant_id is not None:
        query = query.where(col(School.quadrant_id) == quadrant_id)
    found = session.exec(query).all()

    counts = dict.fromkeys(STATE_ORDER, 0)
    to_claim: list[int] = []
    to_close: list[int] = []
    by_category: dict[str, list[int]] = {}
    by_quadrant: dict[str, list[int]] = {}
    catalogue = shipped_catalogue()
    for request, quadrant in found:
        counts[request.state] = counts.get(request.state, 0) + 1
        made = request.created_at
        if request.claimed_at is not None:
            to_claim.append(school_days_between(calendar, made, request.claimed_at))
        if request.state == State.CLOSED and request.closed_at is not None:
            to_close.append(school_days_between(calendar, made, request.closed_at))
        rating = request.impact_rating
        if rating is not None:
            try:
                label = catalogue.category(request.category_id).label
            except KeyError:
                label = request.category_id
            by_category.setdefault(label, []).append(rating)
            by_quadrant.setdefault(quadrant or NO_QUADRANT, []).append(rating)

    known = [(s, counts.pop(s)) for s in STATE_ORDER]
    return SupportStats(
        scope_label=scope_label,
        requests=len(found),
        by_state=(*known, *sorted(counts.items())),
        time_to_claim=_duration(to_claim),
        time_to_close=_duration(to_close),
        unclaimed_open=sum(n for s, n in known if s in UNCLAIMED_STATES),
        impact_by_category=_impact_groups(by_category),
        impact_by_quadrant=_impact_groups(by_quadrant),
    )


def _duration(school_days: list[int]) -> Duration:
    if not school_days:
        return Duration(count=0, median=None, mean=None)
    return Duration(
        count=len(school_days),
        median=_one_place(Decimal(str(statistics.median(school_days)))),
        mean=_one_place(Decimal(sum(school_days)) / len(school_days)),
    )


def _impact_groups(ratings: dict[str, list[int]]) -> tuple[ImpactGroup, ...]:
    return tuple(
        ImpactGroup(
            label=label,
            rated=len(given),
            mean=_one_place(Decimal(sum(given)) / len(given)),
            distribution=_distribution(given),
        )
        for label, given in sorted(ratings.items(), key=lambda item: (item[0].casefold(), item[0]))
    )


def _distribution(ratings: Iterable[int]) -> tuple[int, int, int, int, int]:
    counts = [0, 0, 0, 0, 0]
    for rating in ratings:
        counts[rating - 1] += 1
    return (counts[0], counts[1], counts[2], counts[3], counts[4])


def _one_place(value: Decimal) -> Decimal:
    return value.quantize(TENTH, rounding=ROUND_HALF_UP)
