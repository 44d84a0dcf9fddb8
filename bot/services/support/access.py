"""Who may see a support request, and in which capacity (party) a person acts on it.

- School staff (heads and staff of the requesting school) see their school's requests and act
  as the *requester*; only they may ask, and only for their own school.
- Alliance leads see the requests offered to their alliance and those it holds; they act as the
  *provider* — on an open offer (claim, decline, ask a question) or on a request their alliance
  holds (propose, start, deliver).
- Quadrant chairs see their quadrant's traded requests, LA officers with a quadrant see all of
  that quadrant's, and both act as *chair* there (escalate, assign, withdraw). Requests routed
  to the LA (a safeguarding concern) are not shown to chairs, who are serving heads of other
  schools, nor to any alliance until one is assigned.
- LA officers for the whole local authority see every request and act as chair on all of them;
  Project Board members and administrators see every request but act on none.

Everything here reads the actor's grants (loaded with the actor) and a few ids; queries that
list requests apply the same rules as SQL (`visible_clause`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.services.support.lifecycle import Party
from bot.types import Actor, Grant, Role, ScopeKind
from storage.models import School
from storage.support_tables import SupportOffer, SupportRequest

LA_ROUTE = "la"
ASKING_ROLES = frozenset({Role.HEAD, Role.STAFF})
SEE_ALL_ROLES = frozenset({Role.BOARD_MEMBER, Role.ADMINISTRATOR})
ASKERS = "heads and staff of the school"
CHAIRS = "the quadrant chair or an LA officer"


@dataclass(frozen=True)
class Reach:
    """What one actor's grants open up, as ids."""

    schools: frozenset[int]  # schools they may ask for (head or staff)
    alliances: frozenset[int]  # alliances they lead
    chair_quadrants: frozenset[int]  # quadrants they chair
    officer_quadrants: frozenset[int]  # quadrants they are the LA's officer for
    chair_everywhere: bool  # an LA officer for the whole local authority
    see_everything: bool  # Board, administrators and county LA officers

    @property
    def any(self) -> bool:
        return bool(
            self.schools
            or self.alliances
            or self.chair_quadrants
            or self.officer_quadrants
            or self.see_everything
        )

    def chairs(self, quadrant_id: int | None, route: str) -> bool:
        """Whether these roles act as chair for a request of `route` from `quadrant_id`."""
        if self.chair_everywhere:
            return True
        if quadrant_id is None:
            return False
        if quadrant_id in self.officer_quadrants:
            return True
        return route != LA_ROUTE and quadrant_id in self.chair_quadrants


def reach(grants: Iterable[Grant]) -> Reach:
    """The schools, alliances and quadrants these roles cover for support requests."""
    schools: set[int] = set()
    alliances: set[int] = set()
    quadrants: set[int] = set()
    officer: set[int] = set()
    everywhere = False
    see_all = False
    for g in grants:
        if g.role in ASKING_ROLES and g.scope is ScopeKind.SCHOOL and g.scope_id is not None:
            schools.add(g.scope_id)
        elif g.role is Role.ALLIANCE_LEAD and g.scope is ScopeKind.ALLIANCE and g.scope_id:
            alliances.add(g.scope_id)
        elif g.role is Role.QUADRANT_CHAIR and g.scope is ScopeKind.QUADRANT and g.scope_id:
            quadrants.add(g.scope_id)
        elif g.role is Role.LA_OFFICER and g.scope is ScopeKind.QUADRANT and g.scope_id:
            officer.add(g.scope_id)
        elif g.role is Role.LA_OFFICER and g.scope is ScopeKind.COUNTY:
            everywhere = see_all = True
        elif g.role in SEE_ALL_ROLES:
            see_all = True
    return Reach(
        frozenset(schools),
        frozenset(alliances),
        frozenset(quadrants),
        frozenset(officer),
        everywhere,
        see_all,
    )


def parties(
    grants: Iterable[Grant],
    request: SupportRequest,
    *,
    quadrant_id: int | None,
    offered_to: Iterable[int],
) -> frozenset[Party]:
    """The capacities in which someone with `grants` (of the request's tenant) may act on it.

    `quadrant_id` is the requesting school's quadrant; `offered_to` the alliances with an
    open offer of it (status "offered"). Once an alliance holds the request, only its leads
    act as the provider: the other alliances' offers have lapsed.
    """
    r = reach(grants)
    found: set[Party] = set()
    if request.school_id in r.schools:
        found.add(Party.REQUESTER)
    held = request.claimed_by_alliance_id
    if held is not None:
        if held in r.alliances:
            found.add(Party.PROVIDER)
    elif r.alliances & set(offered_to):
        found.add(Party.PROVIDER)
    if r.chairs(quadrant_id, request.route):
        found.add(Party.CHAIR)
    return frozenset(found)


def can_see(
    actor: Actor,
    request: SupportRequest,
    *,
    quadrant_id: int | None,
    ever_offered_to: Iterable[int],
) -> bool:
    """Whether the actor may see `request` at all (`ever_offered_to`: every alliance it was
    offered to, whatever the offer's status)."""
    if actor.tenant_id != request.tenant_id:
        return False
    r = reach(actor.grants)
    return (
        r.see_everything
        or request.school_id in r.schools
        or request.claimed_by_alliance_id in r.alliances
        or bool(r.alliances & set(ever_offered_to))
        or r.chairs(quadrant_id, request.route)
    )


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause over SupportRequest for the requests `can_see` allows (tenant included)."""
    r = reach(actor.grants)
    if actor.tenant_id is None:
        return false()
    tenant = col(SupportRequest.tenant_id) == actor.tenant_id
    if r.see_everything:
        return tenant & true()
    clauses: list[ColumnElement[bool]] = []
    if r.schools:
        clauses.append(col(SupportRequest.school_id).in_(r.schools))
    if r.alliances:
        clauses.append(col(SupportRequest.claimed_by_alliance_id).in_(r.alliances))
        offered = select(SupportOffer.request_id).where(
            SupportOffer.tenant_id == actor.tenant_id,
            col(SupportOffer.alliance_id).in_(r.alliances),
        )
        clauses.append(col(SupportRequest.id).in_(offered))
    if r.officer_quadrants:
        clauses.append(
            col(SupportRequest.school_id).in_(_schools_in(actor.tenant_id, r.officer_quadrants))
        )
    if r.chair_quadrants:
        in_quadrant = _schools_in(actor.tenant_id, r.chair_quadrants)
        clauses.append(
            (col(SupportRequest.route) != LA_ROUTE) & col(SupportRequest.school_id).in_(in_quadrant)
        )
    if not clauses:
        return false()
    return tenant & or_(*clauses)


def _schools_in(tenant_id: int, quadrants: frozenset[int]) -> SelectOfScalar[int | None]:
    return select(col(School.id)).where(
        School.tenant_id == tenant_id, col(School.quadrant_id).in_(quadrants)
    )
