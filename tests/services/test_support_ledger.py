"""The support ledger and stats against a hand-computed fixture (support_ledger_fixture.py).

Every expected figure below is worked out by hand from the requests listed in the fixture; the
comment by each says from which. Days and values come from the stored proposal; school days
from the fixture's calendar (half terms 26-30 Oct 2026 and 15-19 Feb 2027).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from bot.services.support.ledger import (
    Duration,
    ImpactGroup,
    LedgerRow,
    SupportStats,
    ledger,
    ledger_csv,
    ledger_term,
    school_days_between,
    stats,
)
from storage.engine import Database
from storage.models import Tenant
from tests.factories import build_world
from tests.services.support_ledger_fixture import (
    COLNE,
    ESTUARY,
    NE1,
    LedgerWorld,
    Req,
    add_requests,
    build_ledger_world,
    calendar_2026_27,
    utc,
)

CAL = calendar_2026_27()
AUTUMN = ("2026-27", "Autumn", date(2026, 9, 2))
SPRING = ("2026-27", "Spring", date(2027, 1, 4))
NO_TERM = None


def row(
    alliance: str,
    term: tuple[str, str, date] | None,
    requests: int,
    days: tuple[str, str, str],
    pence: tuple[int, int, int],
) -> LedgerRow:
    """A ledger row: `days` and `pence` are (offered, agreed, delivered)."""
    return LedgerRow(
        alliance=alliance,
        school_year=term[0] if term else "",
        term=term[1] if term else "No term dates",
        requests=requests,
        days_offered=Decimal(days[0]),
        days_agreed=Decimal(days[1]),
        days_delivered=Decimal(days[2]),
        value_agreed_pence=pence[1],
        value_delivered_pence=pence[2],
        value_offered_pence=pence[0],
        term_starts=term[2] if term else None,
    )


def no_impact() -> tuple[ImpactGroup, ...]:
    return ()


def all_states(**counts: int) -> tuple[tuple[str, int], ...]:
    order = (
        "submitted",
        "offered",
        "claimed",
        "proposed",
        "agreed",
        "in_delivery",
        "delivered",
        "closed",
        "withdrawn",
        "escalated",
    )
    return tuple((state, counts.get(state, 0)) for state in order)


@pytest.fixture
def lw(db: Database) -> LedgerWorld:
    return build_ledger_world(db)


def run_ledger(db: Database, tenant_id: int, quadrant_id: int | None = None) -> list[LedgerRow]:
    with db.session() as s:
        return ledger(s, tenant_id=tenant_id, calendar=CAL, quadrant_id=quadrant_id)


def run_stats(
    db: Database, tenant_id: int, quadrant_id: int | None = None, label: str = "Essex"
) -> SupportStats:
    with db.session() as s:
        return stats(
            s, tenant_id=tenant_id, calendar=CAL, quadrant_id=quadrant_id, scope_label=label
        )


# The county ledger. Colne Valley: autumn 0004 (agreed); spring 0005 (proposed) and 0012
# (closed); no term dates 0007 (closed); 0011 has no proposal. Estuary: autumn 0001 (closed) and
# 0006 (proposed), 0008 withdrawn; spring 0002 (delivered), 0003 (in delivery; starts in the
# Christmas holiday) and 0014 (closed).
ESSEX_LEDGER = [
    row(COLNE, AUTUMN, 1, ("0.0", "2.0", "0.0"), (0, 80000, 0)),
    row(COLNE, SPRING, 2, ("1.5", "1.0", "1.0"), (67500, 45000, 45000)),
    row(COLNE, NO_TERM, 1, ("0.0", "4.0", "4.0"), (0, 160000, 160000)),
    row(ESTUARY, AUTUMN, 2, ("0.5", "2.5", "2.5"), (22500, 112500, 112500)),
    # agreed 1.0 + 3.0 + 2.0; delivered 1.0 + 2.0
    row(ESTUARY, SPRING, 3, ("0.0", "6.0", "3.0"), (0, 270000, 135000)),
]

ESSEX_CSV = (
    "\ufeff"
    "Alliance,School year,Term,Requests,Days offered,Days agreed,Days delivered,"
    "Value offered (£),Value agreed (£),Value delivered (£)\r\n"
    "Colne Valley Teaching School Alliance,2026-27,Autumn,1,0.0,2.0,0.0,0.00,800.00,0.00\r\n"
    "Colne Valley Teaching School Alliance,2026-27,Spring,2,1.5,1.0,1.0,675.00,450.00,450.00\r\n"
    "Colne Valley Teaching School Alliance,,No term dates,1,0.0,4.0,4.0,0.00,1600.00,1600.00\r\n"
    "Estuary Teaching School Alliance,2026-27,Autumn,2,0.5,2.5,2.5,225.00,1125.00,1125.00\r\n"
    "Estuary Teaching School Alliance,2026-27,Spring,3,0.0,6.0,3.0,0.00,2700.00,1350.00\r\n"
    # 1+2+1+2+3 requests; offered 1.5+0.5; agreed 2+1+4+2.5+6; delivered 1+4+2.5+3
    "TOTAL,,,9,2.0,15.5,10.5,900.00,6675.00,4525.00\r\n"
)


def test_ledger_matches_the_hand_computed_rows(db: Database, lw: LedgerWorld) -> None:
    assert run_ledger(db, lw.essex.tenant_id) == ESSEX_LEDGER


def test_ledger_csv_is_exactly_the_expected_text(db: Database, lw: LedgerWorld) -> None:
    data = ledger_csv(run_ledger(db, lw.essex.tenant_id))
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert data.decode("utf-8") == ESSEX_CSV


def test_ledger_for_one_quadrant(db: Database, lw: LedgerWorld) -> None:
    north_east = run_ledger(db, lw.essex.tenant_id, lw.essex.quadrants["North East"])
    assert north_east == [
        row(COLNE, SPRING, 1, ("1.5", "0.0", "0.0"), (67500, 0, 0)),  # 0005
        row(COLNE, NO_TERM, 1, ("0.0", "4.0", "4.0"), (0, 160000, 160000)),  # 0007
        row(ESTUARY, AUTUMN, 2, ("0.5", "2.5", "2.5"), (22500, 112500, 112500)),  # 0001, 0006
        row(ESTUARY, SPRING, 1, ("0.0", "1.0", "1.0"), (0, 45000, 45000)),  # 0002
    ]
    west = run_ledger(db, lw.essex.tenant_id, lw.essex.quadrants["West"])
    assert west == [
        row(COLNE, AUTUMN, 1, ("0.0", "2.0", "0.0"), (0, 80000, 0)),  # 0004
        row(COLNE, SPRING, 1, ("0.0", "1.0", "1.0"), (0, 45000, 45000)),  # 0012
        row(ESTUARY, SPRING, 2, ("0.0", "5.0", "2.0"), (0, 225000, 90000)),  # 0003, 0014
    ]


def test_another_tenants_requests_are_never_counted(db: Database, lw: LedgerWorld) -> None:
    # Suffolk's own: 0001 closed in autumn, 0002 proposed for spring.
    assert run_ledger(db, lw.suffolk.tenant_id) == [
        row(ESTUARY, AUTUMN, 1, ("0.0", "9.0", "9.0"), (0, 405000, 405000)),
        row(ESTUARY, SPRING, 1, ("7.5", "0.0", "0.0"), (337500, 0, 0)),
    ]
    # Essex asked about a Suffolk quadrant: none of Essex's schools are in it.
    assert run_ledger(db, lw.essex.tenant_id, lw.suffolk.quadrants["North East"]) == []
    empty = run_stats(db, lw.essex.tenant_id, lw.suffolk.quadrants["North East"])
    assert empty.requests == 0
    # Suffolk: claims after 1 and 0 school days; closed Mon 14 -> Wed 30 Sep: 4 + 5 + 3 = 12.
    assert run_stats(db, lw.suffolk.tenant_id, label="Suffolk") == SupportStats(
        scope_label="Suffolk",
        requests=3,
        by_state=all_states(submitted=1, proposed=1, closed=1),
        time_to_claim=Duration(count=2, median=Decimal("0.5"), mean=Decimal("0.5")),
        time_to_close=Duration(count=1, median=Decimal("12.0"), mean=Decimal("12.0")),
        unclaimed_open=1,
        impact_by_category=(
            ImpactGroup("Review of governance", 1, Decimal("1.0"), (1, 0, 0, 0, 0)),
        ),
        impact_by_quadrant=(ImpactGroup("North East", 1, Decimal("1.0"), (1, 0, 0, 0, 0)),),
    )


def test_a_request_withdrawn_after_its_proposal_counts_nothing(db: Database) -> None:
    world = build_world(db)
    estuary = {"E": world.alliances[ESTUARY]}
    withdrawn = Req(
        "SR-2026-0001", NE1, "governance_review", "withdrawn", utc(2026, 10, 5, 9), "E",
        utc(2026, 10, 6, 9), "2.0", date(2026, 11, 16), 90000,
    )  # fmt: skip
    add_requests(db, world, estuary, (withdrawn,))
    assert run_ledger(db, world.tenant_id) == []
    got = run_stats(db, world.tenant_id)
    assert got.by_state == all_states(withdrawn=1)
    assert got.time_to_claim == Duration(1, Decimal("1.0"), Decimal("1.0"))  # Mon 5 -> Tue 6 Oct


def test_a_proposal_stored_without_a_cost_is_priced_at_the_day_rate(db: Database) -> None:
    world = build_world(db)
    with db.session() as s:
        tenant = s.get(Tenant, world.tenant_id)
        assert tenant is not None
        tenant.day_rate_pence = 50000
    proposal = Req(
        "SR-2026-0001", NE1, "governance_review", "proposed", utc(2026, 10, 5, 9), "E",
        utc(2026, 10, 6, 9), "1.5", date(2026, 11, 16), None,
    )  # fmt: skip
    add_requests(db, world, {"E": world.alliances[ESTUARY]}, (proposal,))
    # 1.5 days at £500
    assert run_ledger(db, world.tenant_id) == [
        row(ESTUARY, AUTUMN, 1, ("1.5", "0.0", "0.0"), (75000, 0, 0))
    ]


def test_the_term_a_proposal_counts_in() -> None:
    assert ledger_term(CAL, date(2026, 11, 9)) == CAL.terms[0]
    assert ledger_term(CAL, date(2026, 10, 27)) == CAL.terms[0]  # half term is inside autumn
    assert ledger_term(CAL, date(2026, 12, 21)) == CAL.terms[1]  # Christmas holiday: spring
    assert ledger_term(CAL, date(2026, 9, 1)) == CAL.terms[0]  # 2026-27, before autumn starts
    assert ledger_term(CAL, date(2025, 6, 2)) is None  # 2024-25 has no term dates
    assert ledger_term(CAL, date(2027, 4, 12)) is None  # no term after spring is loaded


def test_school_days_between() -> None:
    # Fri 23 Oct to Mon 2 Nov 2026 across the half-term week: only Mon 2 Nov.
    assert school_days_between(CAL, utc(2026, 10, 23, 13), utc(2026, 11, 2, 9)) == 1
    # 23:30 UTC on Thu 22 Oct is Friday in London (BST): the same local day, so 0.
    assert school_days_between(CAL, utc(2026, 10, 22, 23, 30), utc(2026, 10, 23, 10)) == 0
    # Fri 18 Dec 2026 to Mon 4 Jan 2027, across Christmas: only Mon 4 Jan.
    assert school_days_between(CAL, utc(2026, 12, 18, 9), utc(2027, 1, 4, 9)) == 1
    assert school_days_between(CAL, utc(2026, 11, 5, 9), utc(2026, 11, 2, 9)) == 0


def test_stats_match_the_hand_computed_figures(db: Database, lw: LedgerWorld) -> None:
    assert run_stats(db, lw.essex.tenant_id) == SupportStats(
        scope_label="Essex",
        requests=14,
        by_state=all_states(
            submitted=1,  # 0009
            offered=1,  # 0013
            claimed=1,  # 0011
            proposed=2,  # 0005, 0006
            agreed=1,  # 0004
            in_delivery=1,  # 0003
            delivered=1,  # 0002
            closed=4,  # 0001, 0007, 0012, 0014
            withdrawn=1,  # 0008
            escalated=1,  # 0010
        ),
        # Claimed: 0001 2, 0002 1, 0003 0, 0004 3, 0005 10, 0006 5, 0007 1, 0008 1, 0011 2,
        # 0012 0, 0014 2: sorted 0 0 1 1 1 [2] 2 2 3 5 10; 27 / 11 = 2.45.
        time_to_claim=Duration(count=11, median=Decimal("2.0"), mean=Decimal("2.5")),
        # Closed: 0001 44, 0007 33, 0012 19, 0014 25: median (25 + 33) / 2; 121 / 4 = 30.25,
        # rounded half up.
        time_to_close=Duration(count=4, median=Decimal("29.0"), mean=Decimal("30.3")),
        unclaimed_open=3,  # submitted, offered, escalated
        impact_by_category=(
            ImpactGroup("leadership_coaching", 1, Decimal("2.0"), (0, 1, 0, 0, 0)),  # 0007
            ImpactGroup("Review of governance", 2, Decimal("4.5"), (0, 0, 0, 1, 1)),  # 0001, 0012
            ImpactGroup("Safeguarding audit", 1, Decimal("3.0"), (0, 0, 1, 0, 0)),  # 0014
        ),
        impact_by_quadrant=(
            ImpactGroup("North East", 2, Decimal("3.0"), (0, 1, 0, 1, 0)),  # 0001 4, 0007 2
            ImpactGroup("West", 2, Decimal("4.0"), (0, 0, 1, 0, 1)),  # 0012 5, 0014 3
        ),
    )


def test_stats_for_one_quadrant(db: Database, lw: LedgerWorld) -> None:
    # North East: 0001, 0002, 0005, 0006, 0007, 0008, 0009, 0013.
    got = run_stats(db, lw.essex.tenant_id, lw.essex.quadrants["North East"], "North East")
    assert got == SupportStats(
        scope_label="North East",
        requests=8,
        by_state=all_states(submitted=1, offered=1, proposed=2, delivered=1, closed=2, withdrawn=1),
        # 0001 2, 0002 1, 0005 10, 0006 5, 0007 1, 0008 1: 1 1 [1 2] 5 10; 20 / 6 = 3.33.
        time_to_claim=Duration(count=6, median=Decimal("1.5"), mean=Decimal("3.3")),
        time_to_close=Duration(count=2, median=Decimal("38.5"), mean=Decimal("38.5")),  # 44, 33
        unclaimed_open=2,
        impact_by_category=(
            ImpactGroup("leadership_coaching", 1, Decimal("2.0"), (0, 1, 0, 0, 0)),
            ImpactGroup("Review of governance", 1, Decimal("4.0"), (0, 0, 0, 1, 0)),
        ),
        impact_by_quadrant=(ImpactGroup("North East", 2, Decimal("3.0"), (0, 1, 0, 1, 0)),),
    )


def test_an_empty_tenant(db: Database, lw: LedgerWorld) -> None:
    empty = build_world(db, la_code=999, name="Nowhere", workspace="T0EMPTY")
    rows = run_ledger(db, empty.tenant_id)
    assert rows == []
    assert ledger_csv(rows).decode("utf-8") == (
        "\ufeff"
        "Alliance,School year,Term,Requests,Days offered,Days agreed,Days delivered,"
        "Value offered (£),Value agreed (£),Value delivered (£)\r\n"
        "TOTAL,,,0,0.0,0.0,0.0,0.00,0.00,0.00\r\n"
    )
    assert run_stats(db, empty.tenant_id, label="Nowhere") == SupportStats(
        scope_label="Nowhere",
        requests=0,
        by_state=all_states(),
        time_to_claim=Duration(count=0, median=None, mean=None),
        time_to_close=Duration(count=0, median=None, mean=None),
        unclaimed_open=0,
        impact_by_category=no_impact(),
        impact_by_quadrant=no_impact(),
    )


@contextmanager
def counting_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_one_query_each_however_many_requests(db: Database, lw: LedgerWorld) -> None:
    with counting_queries(db) as statements:
        run_ledger(db, lw.essex.tenant_id)
        run_ledger(db, lw.essex.tenant_id, lw.essex.quadrants["West"])
        run_stats(db, lw.essex.tenant_id)
        run_stats(db, lw.essex.tenant_id, lw.essex.quadrants["West"])
    assert len(statements) == 4
    assert all("tenant_id" in sql for sql in statements)
