"""A known world of support requests for the ledger and stats tests, every figure set by hand.

Essex (from `build_world`: North East schools 115141 and 115142, West school 115200) with two
alliances, Estuary (E) and Colne Valley (C), and the requests in `REQUESTS`. Suffolk, a second
tenant built the same way, has requests of its own that Essex's figures must never include.

The calendar is school year 2026-27 only: autumn Wed 2 Sep to Fri 18 Dec 2026 with half term
Mon 26 to Fri 30 Oct; spring Mon 4 Jan to Thu 25 Mar 2027 with half term Mon 15 to Fri 19 Feb.
British Summer Time ends on Sun 25 Oct 2026, so before it London is UTC+1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from bot.services.calendar import Closure, ClosureKind, TenantCalendar, Term
from storage.engine import Database
from storage.models import Alliance
from storage.support_tables import SupportRequest
from tests.factories import World, build_world

ESTUARY = "Estuary Teaching School Alliance"  # made by build_world
COLNE = "Colne Valley Teaching School Alliance"
REQUESTER = "ada.head@schools.example.org"

NE1, NE2, WEST = 115141, 115142, 115200  # North East, North East, West


def calendar_2026_27() -> TenantCalendar:
    """Autumn and spring 2026-27, each with its half term as a closure."""
    return TenantCalendar(
        [
            Term("2026-27", "Autumn", date(2026, 9, 2), date(2026, 12, 18)),
            Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 3, 25)),
        ],
        [
            Closure(ClosureKind.HALF_TERM, date(2026, 10, 26), date(2026, 10, 30)),
            Closure(ClosureKind.HALF_TERM, date(2027, 2, 15), date(2027, 2, 19)),
        ],
        timezone="Europe/London",
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Req:
    """One request as the fixture stores it; `alliance` is "E", "C" or None."""

    ref: str
    urn: int
    category: str
    state: str
    created: datetime
    alliance: str | None = None
    claimed: datetime | None = None
    days: str | None = None
    starts: date | None = None
    cost: int | None = None
    closed: datetime | None = None
    rating: int | None = None


# Time to claim / close in school days, counted by hand, is in the comment after each request.
REQUESTS = (
    # Autumn. Claim Mon 14 -> Wed 16 Sep: 2. Close -> Fri 20 Nov: 12 in Sep (15-30), 17 in Oct
    # (1-23; 26-30 is half term), 15 in Nov (2-20): 44.
    Req("SR-2026-0001", NE1, "governance_review", "closed", utc(2026, 9, 14, 8), "E",
        utc(2026, 9, 16, 9), "2.5", date(2026, 11, 9), 112500, utc(2026, 11, 20, 14), 4),
    # Spring. Claim Fri 23 Oct -> Mon 2 Nov, across the half-term week: 1.
    Req("SR-2026-0002", NE2, "sen_review", "delivered", utc(2026, 10, 23, 13), "E",
        utc(2026, 11, 2, 9), "1.0", date(2027, 1, 12), 45000),
    # Starts in the Christmas holiday, so spring. Made 23:30 UTC on Thu 22 Oct, which is
    # 00:30 on Fri 23 Oct in London; claimed later that Friday: 0.
    Req("SR-2026-0003", WEST, "safeguarding_audit", "in_delivery", utc(2026, 10, 22, 23, 30),
        "E", utc(2026, 10, 23, 10), "3.0", date(2026, 12, 21), 135000),
    # Autumn; priced at £400 a day when proposed (the ledger takes the cost as stored).
    # Claim Mon 2 -> Thu 5 Nov: 3.
    Req("SR-2026-0004", WEST, "peer_review", "agreed", utc(2026, 11, 2, 9), "C",
        utc(2026, 11, 5, 9), "2.0", date(2026, 12, 2), 80000),
    # Spring. Claim Mon 1 -> Mon 22 Feb 2027: 4 + 5 + (15-19 half term) + 1 = 10.
    Req("SR-2026-0005", NE1, "governance_review", "proposed", utc(2027, 2, 1, 9), "C",
        utc(2027, 2, 22, 9), "1.5", date(2027, 3, 1), 67500),
    # Autumn. Claim Wed 2 -> Wed 9 Sep: 5.
    Req("SR-2026-0006", NE2, "sen_review", "proposed", utc(2026, 9, 2, 9), "E",
        utc(2026, 9, 9, 9), "0.5", date(2026, 10, 15), 22500),
    # Starts in 2024-25, which has no term dates: weekdays other than bank holidays count.
    # Its category is no longer in the catalogue. Claim Mon 12 -> Tue 13 May 2025: 1. Close ->
    # Fri 27 Jun 2025: May 13-16, 19-23, 27-30 (Mon 26 May is a bank holiday) 4 + 5 + 4, then
    # four whole weeks of June 5 + 5 + 5 + 5: 33.
    Req("SR-2025-0007", NE2, "leadership_coaching", "closed", utc(2025, 5, 12, 9), "C",
        utc(2025, 5, 13, 9), "4.0", date(2025, 6, 2), 160000, utc(2025, 6, 27, 9), 2),
    # Withdrawn after a proposal: counts nothing in the ledger. Claim Mon 5 -> Tue 6 Oct: 1.
    Req("SR-2026-0008", NE1, "governance_review", "withdrawn", utc(2026, 10, 5, 9), "E",
        utc(2026, 10, 6, 9), "2.0", date(2026, 11, 16), 90000),
    Req("SR-2026-0009", NE1, "peer_review", "submitted", utc(2026, 12, 7, 9)),
    Req("SR-2026-0010", WEST, "safeguarding_audit", "escalated", utc(2026, 11, 30, 9)),
    # Claimed, no proposal yet: nothing in the ledger. Claim Tue 1 -> Thu 3 Dec: 2.
    Req("SR-2026-0011", WEST, "sen_review", "claimed", utc(2026, 12, 1, 9), "C",
        utc(2026, 12, 3, 9)),
    # Spring. Claim the same day: 0. Close Mon 4 -> Fri 29 Jan 2027: 4 + 5 + 5 + 5 = 19.
    Req("SR-2027-0012", WEST, "governance_review", "closed", utc(2027, 1, 4, 9), "C",
        utc(2027, 1, 4, 15), "1.0", date(2027, 1, 20), 45000, utc(2027, 1, 29, 10), 5),
    Req("SR-2026-0013", NE2, "governance_review", "offered", utc(2026, 12, 8, 9)),
    # Spring. Claim Mon 11 -> Wed 13 Jan: 2. Close -> Mon 22 Feb: 4 + 5 + 5 + 5 + 5 + (half
    # term) + 1 = 25.
    Req("SR-2027-0014", WEST, "safeguarding_audit", "closed", utc(2027, 1, 11, 9), "E",
        utc(2027, 1, 13, 9), "2.0", date(2027, 2, 8), 90000, utc(2027, 2, 22, 9), 3),
)  # fmt: skip

# Suffolk's: had they leaked into Essex's figures, every total would move.
OTHER_REQUESTS = (
    Req("SR-2026-0001", NE1, "governance_review", "closed", utc(2026, 9, 14, 8), "E",
        utc(2026, 9, 15, 9), "9.0", date(2026, 11, 9), 405000, utc(2026, 9, 30, 9), 1),
    Req("SR-2026-0002", WEST, "peer_review", "proposed", utc(2026, 9, 14, 8), "E",
        utc(2026, 9, 14, 9), "7.5", date(2027, 1, 12), 337500),
    Req("SR-2026-0003", NE2, "sen_review", "submitted", utc(2026, 9, 14, 8)),
)  # fmt: skip


@dataclass
class LedgerWorld:
    """The ids of what `build_ledger_world` made."""

    essex: World
    suffolk: World
    alliances: dict[str, int]  # "E", "C" -> Essex's alliance ids


def add_requests(
    db: Database, world: World, alliances: dict[str, int], reqs: tuple[Req, ...]
) -> None:
    """Store `reqs` for `world`'s tenant, as if each had gone through the lifecycle."""
    with db.session() as s:
        for r in reqs:
            s.add(
                SupportRequest(
                    tenant_id=world.tenant_id,
                    reference=r.ref,
                    school_id=world.schools[r.urn],
                    requested_by=world.people[REQUESTER],
                    category_id=r.category,
                    needed="Help, please.",
                    state=r.state,
                    claimed_by_alliance_id=alliances[r.alliance] if r.alliance else None,
                    proposal_days=Decimal(r.days) if r.days is not None else None,
                    proposal_starts_on=r.starts,
                    proposal_ends_on=r.starts,
                    proposal_cost_pence=r.cost,
                    impact_rating=r.rating,
                    created_at=r.created,
                    updated_at=r.created,
                    claimed_at=r.claimed,
                    closed_at=r.closed,
                )
            )


def build_ledger_world(db: Database) -> LedgerWorld:
    """Essex with `REQUESTS`, Suffolk with `OTHER_REQUESTS`."""
    essex = build_world(db)
    suffolk = build_world(db, la_code=935, name="Suffolk", workspace="T0SUFFOLK")
    with db.session() as s:
        colne = Alliance(tenant_id=essex.tenant_id, name=COLNE, capacity_days_per_term=20)
        s.add(colne)
        s.flush()
        assert colne.id is not None
        essex.alliances[COLNE] = colne.id
    alliances = {"E": essex.alliances[ESTUARY], "C": essex.alliances[COLNE]}
    add_requests(db, essex, alliances, REQUESTS)
    add_requests(db, suffolk, {"E": suffolk.alliances[ESTUARY]}, OTHER_REQUESTS)
    return LedgerWorld(essex, suffolk, alliances)
