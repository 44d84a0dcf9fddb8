"""Reading support requests in bulk: lists, the App Home section, stats and the ledger.

Every list applies the same who-sees-what rules as a single request (access.visible_clause),
inside the actor's local authority.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, func, select

from bot import authorisation
from bot.errors import Forbidden, UserError
from bot.ports import Clock
from bot.services.calendar import TenantCalendar
from bot.services.support import ledger as ledgers
from bot.services.support.access import reach, visible_clause
from bot.services.support.catalogue import Catalogue
from bot.services.support.facts import Facts, load_facts
from bot.services.support.lifecycle import TERMINAL, State
from bot.services.support.moves import tenant_of
from bot.types import Actor
from storage.engine import Database
from storage.models import Quadrant, School
from storage.support_tables import SupportOffer, SupportRequest

LIST_SCOPES = ("mine", "open", "quadrant", "all")
LIST_LIMIT = 25
HOME_LIMIT = 10
OPEN_STATES = tuple(s.value for s in State if s not in TERMINAL and s is not State.DRAFT)


@dataclass(frozen=True)
class Listing:
    """Requests for `/slis support list`, newest first, with how many there are in all."""

    which: str
    title: str
    items: tuple[Facts, ...]
    total: int
    empty: str  # what to say when there are none


@dataclass(frozen=True)
class HomeSupport:
    """The App Home's support section: my school's open requests, my alliance's queue
    (open offers and held requests), and what waits for me as a chair."""

    can_ask: bool
    asking: tuple[Facts, ...]
    queue: tuple[Facts, ...]
    escalated: tuple[Facts, ...]


@dataclass(frozen=True)
class LedgerExport:
    label: str
    rows: tuple[ledgers.LedgerRow, ...]
    csv: bytes
    filename: str


class SupportViews:
    """Lists, home, stats and ledger for support requests."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendars: Callable[[int], TenantCalendar],
        catalogues: Callable[[int], Catalogue],
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars
        self.catalogues = catalogues

    def listing(self, actor: Actor, which: str) -> Listing:
        """`mine` (default), `open`, `quadrant` or `all`."""
        tenant_id = tenant_of(actor)
        word = (which.strip().split() or ["mine"])[0].lower()
        if word not in LIST_SCOPES:
            close = difflib.get_close_matches(word, LIST_SCOPES, n=1)
            raise UserError(
                f"I can list `{'`, `'.join(LIST_SCOPES)}` requests, not `{word}`.",
                hint=f"Did you mean `/slis support list {close[0]}`?" if close else None,
            )
        r = reach(actor.grants)
        where: list[ColumnElement[bool]] = [visible_clause(actor)]
        if word == "mine":
            where.append(self._mine(actor))
            title, empty = (
                "Your support requests",
                (
                    "You have no open support requests. `/slis support` asks for some."
                    if r.schools
                    else "Nothing is waiting for you."
                ),
            )
            where.append(col(SupportRequest.state).in_(OPEN_STATES))
        elif word == "open":
            where.append(col(SupportRequest.state).in_(OPEN_STATES))
            title, empty = "Open support requests you can see", "No open requests."
        elif word == "quadrant":
            quadrants = r.chair_quadrants | r.officer_quadrants
            if not (quadrants or r.chair_everywhere):
                raise authorisation.refusal(
                    authorisation.command("support list quadrant"),
                    hint="`/slis support list mine` shows yours.",
                )
            if r.chair_everywhere:
                # An LA officer for the whole local authority serves every quadrant.
                title, empty = "Every quadrant's support requests", "No requests yet."
            else:
                in_quadrant = select(col(School.id)).where(
                    School.tenant_id == tenant_id, col(School.quadrant_id).in_(quadrants)
                )
                where.append(col(SupportRequest.school_id).in_(in_quadrant))
                title = "Your quadrant's support requests"
                empty = "No requests in your quadrant."
        else:
            if not r.see_everything:
                raise authorisation.refusal(
                    authorisation.command("support list all"),
                    hint="`/slis support list open` shows the open ones you can see.",
                )
            title, empty = "All support requests", "No requests yet."
        with self.db.session() as s:
            condition = and_(*where)
            total = s.exec(select(func.count()).select_from(SupportRequest).where(condition)).one()
            rows = s.exec(
                select(SupportRequest)
                .where(condition)
                .order_by(col(SupportRequest.created_at).desc(), col(SupportRequest.id).desc())
                .limit(LIST_LIMIT)
            ).all()
            items = load_facts(s, list(rows), self.catalogues(tenant_id))
        return Listing(word, title, tuple(items), int(total), empty)

    def _mine(self, actor: Actor) -> ColumnElement[bool]:
        """My school's requests, my alliance's open offers and held requests, and (as chair)
        the escalated ones in my quadrants."""
        r = reach(actor.grants)
        clauses: list[ColumnElement[bool]] = []
        if r.schools:
            clauses.append(col(SupportRequest.school_id).in_(r.schools))
        if r.alliances:
            clauses.append(col(SupportRequest.claimed_by_alliance_id).in_(r.alliances))
            open_offers = select(SupportOffer.request_id).where(
                SupportOffer.tenant_id == actor.tenant_id,
                col(SupportOffer.alliance_id).in_(r.alliances),
                SupportOffer.status == "offered",
            )
            clauses.append(col(SupportRequest.id).in_(open_offers))
        if r.chair_quadrants or r.officer_quadrants or r.chair_everywhere:
            clauses.append(col(SupportRequest.state) == State.ESCALATED.value)
        return or_(*clauses) if clauses else col(SupportRequest.id) == -1

    def home(self, actor: Actor) -> HomeSupport:
        tenant_id = tenant_of(actor)
        r = reach(actor.grants)
        with self.db.session() as s:
            open_and_visible = and_(
                visible_clause(actor), col(SupportRequest.state).in_(OPEN_STATES)
            )

            def section(extra: ColumnElement[bool]) -> tuple[Facts, ...]:
                rows = s.exec(
                    select(SupportRequest)
                    .where(open_and_visible, extra)
                    .order_by(col(SupportRequest.created_at).desc())
                    .limit(HOME_LIMIT)
                ).all()
                return tuple(load_facts(s, list(rows), self.catalogues(tenant_id)))

            asking = section(col(SupportRequest.school_id).in_(r.schools)) if r.schools else ()
            queue: tuple[Facts, ...] = ()
            if r.alliances:
                offered = select(SupportOffer.request_id).where(
                    SupportOffer.tenant_id == tenant_id,
                    col(SupportOffer.alliance_id).in_(r.alliances),
                    SupportOffer.status == "offered",
                )
                queue = section(
                    or_(
                        col(SupportRequest.claimed_by_alliance_id).in_(r.alliances),
                        col(SupportRequest.id).in_(offered),
                    )
                )
            escalated: tuple[Facts, ...] = ()
            if r.chair_quadrants or r.officer_quadrants or r.chair_everywhere:
                escalated = section(col(SupportRequest.state) == State.ESCALATED.value)
        can_ask = authorisation.may_try(actor, authorisation.command("support"))
        return HomeSupport(can_ask, asking, queue, escalated)

    def stats(self, actor: Actor, scope: str) -> ledgers.SupportStats:
        """Stats for the actor's quadrant (chairs) or the county or a named quadrant (Board,
        LA officers, administrators)."""
        tenant_id = tenant_of(actor)
        quadrant_id, label = self._scope(actor, scope, "stats")
        with self.db.session() as s:
            return ledgers.stats(
                s,
                tenant_id=tenant_id,
                calendar=self.calendars(tenant_id),
                quadrant_id=quadrant_id,
                scope_label=label,
            )

    def ledger(self, actor: Actor, scope: str) -> LedgerExport:
        """The ledger of days and traded value, as rows and as a CSV file."""
        tenant_id = tenant_of(actor)
        quadrant_id, label = self._scope(actor, scope, "ledger")
        with self.db.session() as s:
            rows = ledgers.ledger(
                s, tenant_id=tenant_id, calendar=self.calendars(tenant_id), quadrant_id=quadrant_id
            )
        today = self.calendars(tenant_id).local(self.clock.now()).date()
        slug = label.lower().replace(" ", "-")
        return LedgerExport(
            label, tuple(rows), ledgers.ledger_csv(rows), f"support-ledger-{slug}-{today}.csv"
        )

    def _scope(self, actor: Actor, scope: str, what: str) -> tuple[int | None, str]:
        tenant_id = tenant_of(actor)
        r = reach(actor.grants)
        mine = r.chair_quadrants | r.officer_quadrants
        if not (r.see_everything or mine):
            raise authorisation.refusal(authorisation.command(f"support {what}"))
        with self.db.session() as s:
            quadrants = {
                q.id: q.name
                for q in s.exec(select(Quadrant).where(Quadrant.tenant_id == tenant_id)).all()
                if q.id is not None
            }
        wanted = scope.strip().lower()
        if not wanted:
            if r.see_everything:
                return None, actor.tenant_name or "the local authority"
            if len(mine) == 1:
                (only,) = mine
                return only, quadrants.get(only, "your quadrant")
            names = ", ".join(sorted(quadrants[q] for q in mine if q in quadrants))
            raise UserError(
                f"Which quadrant? You cover {names}.",
                hint=f"e.g. `/slis support {what} {sorted(quadrants[q] for q in mine)[0]}`",
            )
        match = [q for q, name in quadrants.items() if name.lower() == wanted]
        if not match:
            close = difflib.get_close_matches(wanted, [n.lower() for n in quadrants.values()], n=1)
            raise UserError(
                f"There is no quadrant called {scope.strip()!r}.",
                hint=f"Did you mean {close[0].title()}?" if close else None,
            )
        quadrant_id = match[0]
        if not r.see_everything and quadrant_id not in mine:
            raise Forbidden(
                f"You can see the support {what} of your own quadrant only; the Board and LA"
                " officers see every quadrant's."
            )
        return quadrant_id, quadrants[quadrant_id]
