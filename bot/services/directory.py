"""Looking up schools, partnerships, quadrants and a person's own world, within one tenant."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.errors import NotFound, UserError
from bot.types import Actor, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    RoleAssignment,
    School,
)

MAX_MATCHES = 10

PARTNERSHIP_KINDS: dict[str, str] = {
    "slis_cluster": "SLIS cluster",
    "mat": "Multi-academy trust",
    "ashe_group": "ASHE collaborative group",
    "ashe_triad": "ASHE triad",
    "other": "Partnership",
}


@dataclass(frozen=True)
class SchoolRef:
    urn: int
    name: str


@dataclass(frozen=True)
class AllianceRef:
    name: str
    lead_school: str | None
    expertise: tuple[str, ...]
    capacity_days_per_term: int


@dataclass(frozen=True)
class SchoolView:
    urn: int
    name: str
    phase: str
    establishment_type: str
    status: str
    quadrant: str | None
    chair: str | None
    partnerships: tuple[str, ...]
    heads: tuple[str, ...]
    alliances: tuple[AllianceRef, ...]


@dataclass(frozen=True)
class SchoolMatches:
    """Several schools fit the query; the person should pick one."""

    query: str
    schools: tuple[SchoolRef, ...]
    total: int


@dataclass(frozen=True)
class PartnershipView:
    name: str
    kind: str
    quadrant: str | None
    chair: str | None
    leads: tuple[str, ...]
    schools: tuple[SchoolRef, ...]


@dataclass(frozen=True)
class PartnershipSummary:
    name: str
    leads: tuple[str, ...]
    school_count: int


@dataclass(frozen=True)
class QuadrantView:
    name: str
    chair: str | None
    partnerships: tuple[PartnershipSummary, ...]
    school_count: int
    alliances: tuple[AllianceRef, ...]


@dataclass(frozen=True)
class HomeView:
    """A person's own world: their schools, partnerships, quadrants and who serves them."""

    name: str
    tenant: str
    schools: tuple[SchoolView, ...]
    partnerships: tuple[PartnershipView, ...]
    quadrants: tuple[QuadrantView, ...]


class DirectoryService:
    """Read-only questions about the directory; every query is scoped to the actor's tenant."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def school(self, actor: Actor, query: str) -> SchoolView | SchoolMatches:
        tenant_id = _tenant(actor)
        query = query.strip()
        if not query:
            raise UserError(
                "Which school? Give a URN or part of its name.",
                hint="/slis school 115141  or  /slis school Great Oakley",
            )
        with self._db.session() as session:
            if query.isdigit():
                found = session.exec(
                    select(School).where(School.tenant_id == tenant_id, School.urn == int(query))
                ).first()
                if found is None:
                    raise NotFound(
                        f"No school with URN {query} in {actor.tenant_name}.",
                        hint="Check the URN on Get Information about Schools.",
                    )
                return _school_view(session, found)
            matches = _name_matches(session, School, tenant_id, query)
            if len(matches) == 1:
                return _school_view(session, matches[0])
            if not matches:
                raise NotFound(
                    f"No school called “{query}” in {actor.tenant_name}.",
                    hint=_did_you_mean(session, School, tenant_id, query),
                )
            refs = tuple(SchoolRef(s.urn, s.name) for s in matches[:MAX_MATCHES])
            return SchoolMatches(query, refs, len(matches))

    def partnership(self, actor: Actor, query: str) -> PartnershipView:
        tenant_id = _tenant(actor)
        with self._db.session() as session:
            found = _one_by_name(session, Partnership, tenant_id, query, "partnership", actor)
            return _partnership_view(session, found)

    def quadrant(self, actor: Actor, query: str) -> QuadrantView:
        tenant_id = _tenant(actor)
        with self._db.session() as session:
            found = _one_by_name(session, Quadrant, tenant_id, query, "quadrant", actor)
            return _quadrant_view(session, found)

    def home(self, actor: Actor) -> HomeView:
        """What the App Home shows: the schools, partnerships and quadrants the actor belongs to."""
        tenant_id = _tenant(actor)
        school_ids = {g.scope_id for g in actor.grants if g.scope is ScopeKind.SCHOOL}
        direct_partnerships = {g.scope_id for g in actor.grants if g.scope is ScopeKind.PARTNERSHIP}
        direct_quadrants = {g.scope_id for g in actor.grants if g.scope is ScopeKind.QUADRANT}
        with self._db.session() as session:
            schools = _by_ids(session, School, tenant_id, school_ids)
            partnership_ids = direct_partnerships | set(
                session.exec(
                    select(PartnershipMembership.partnership_id).where(
                        PartnershipMembership.tenant_id == tenant_id,
                        col(PartnershipMembership.school_id).in_(school_ids),
                    )
                ).all()
            )
            partnerships = _by_ids(session, Partnership, tenant_id, partnership_ids)
            quadrant_ids = direct_quadrants | {
                q
                for q in [*(s.quadrant_id for s in schools), *(p.quadrant_id for p in partnerships)]
                if q is not None
            }
            quadrants = _by_ids(session, Quadrant, tenant_id, quadrant_ids)
            return HomeView(
                name=actor.name or "",
                tenant=actor.tenant_name or "",
                schools=tuple(_school_view(session, s) for s in schools),
                partnerships=tuple(_partnership_view(session, p) for p in partnerships),
                quadrants=tuple(_quadrant_view(session, q) for q in quadrants),
            )


def _tenant(actor: Actor) -> int:
    if actor.tenant_id is None:
        raise UserError("This workspace is not linked to a local authority yet.")
    return actor.tenant_id


Named = School | Partnership | Quadrant
T = TypeVar("T", School, Partnership, Quadrant)
PQ = TypeVar("PQ", Partnership, Quadrant)


def _by_ids(session: Session, table: type[T], tenant_id: int, ids: Iterable[int | None]) -> list[T]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return []
    rows = session.exec(
        select(table).where(table.tenant_id == tenant_id, col(table.id).in_(wanted))
    ).all()
    return sorted(rows, key=lambda r: r.name)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_matches(session: Session, table: type[T], tenant_id: int, query: str) -> list[T]:
    """Exact (any case) match if there is one, else names containing the query, else every word."""
    lowered = query.lower()
    in_tenant = select(table).where(table.tenant_id == tenant_id)
    exact = session.exec(in_tenant.where(func.lower(table.name) == lowered)).all()
    if exact:
        return list(exact)
    rows = session.exec(
        in_tenant.where(col(table.name).ilike(f"%{_escape_like(query)}%", escape="\\"))
    ).all()
    if not rows:
        words = [w for w in re.split(r"[^\w]+", query) if len(w) > 1]
        if words:
            stmt = in_tenant
            for word in words:
                stmt = stmt.where(col(table.name).ilike(f"%{_escape_like(word)}%", escape="\\"))
            rows = session.exec(stmt).all()
    return sorted(rows, key=lambda r: r.name)


def _did_you_mean(
    session: Session,
    table: type[School] | type[Partnership] | type[Quadrant],
    tenant_id: int,
    query: str,
) -> str | None:
    names = session.exec(select(table.name).where(table.tenant_id == tenant_id)).all()
    close = difflib.get_close_matches(query, list(names), n=3, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(
            query.lower(), [n.lower() for n in names], n=3, cutoff=0.5
        )
        close = [n for n in names if n.lower() in close]
    if not close:
        return None
    return "Did you mean " + " or ".join(f"“{c}”" for c in close) + "?"


def _one_by_name(
    session: Session, table: type[PQ], tenant_id: int, query: str, noun: str, actor: Actor
) -> PQ:
    query = query.strip()
    every = session.exec(select(table.name).where(table.tenant_id == tenant_id)).all()
    if not query:
        raise UserError(
            f"Which {noun}? Give its name.",
            hint=f"Known: {', '.join(sorted(every)[:12])}" if every else None,
        )
    matches = _name_matches(session, table, tenant_id, query)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(
            f"No {noun} called “{query}” in {actor.tenant_name}.",
            hint=_did_you_mean(session, table, tenant_id, query),
        )
    names = ", ".join(f"“{m.name}”" for m in matches[:MAX_MATCHES])
    raise UserError(f"{len(matches)} {noun}s match “{query}”: {names}. Which one?")


def _holders(
    session: Session, tenant_id: int, role: Role, kind: ScopeKind, ids: Sequence[int]
) -> dict[int, list[str]]:
    """Names of the people holding `role` over each scope id."""
    if not ids:
        return {}
    rows = session.exec(
        select(RoleAssignment.scope_id, Person.name)
        .join(Person, col(Person.id) == RoleAssignment.person_id)
        .where(
            RoleAssignment.tenant_id == tenant_id,
            RoleAssignment.role == role.value,
            RoleAssignment.scope_kind == kind.value,
            col(RoleAssignment.scope_id).in_(ids),
        )
        .order_by(Person.name)
    ).all()
    out: dict[int, list[str]] = {}
    for scope_id, name in rows:
        out.setdefault(scope_id, []).append(name)
    return out


def _chair(session: Session, tenant_id: int, quadrant_id: int | None) -> str | None:
    if quadrant_id is None:
        return None
    chairs = _holders(session, tenant_id, Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, [quadrant_id])
    return ", ".join(chairs.get(quadrant_id, [])) or None


def _quadrant_name(session: Session, quadrant_id: int | None) -> str | None:
    if quadrant_id is None:
        return None
    quadrant = session.get(Quadrant, quadrant_id)
    return quadrant.name if quadrant else None


def _alliances_serving(
    session: Session, tenant_id: int, quadrant_id: int | None
) -> tuple[AllianceRef, ...]:
    if quadrant_id is None:
        return ()
    alliances = session.exec(
        select(Alliance)
        .join(AllianceQuadrant, col(AllianceQuadrant.alliance_id) == Alliance.id)
        .where(Alliance.tenant_id == tenant_id, AllianceQuadrant.quadrant_id == quadrant_id)
        .order_by(Alliance.name)
    ).all()
    ids = [a.id for a in alliances if a.id is not None]
    tags: dict[int, list[str]] = {}
    if ids:
        for alliance_id, tag in session.exec(
            select(AllianceExpertise.alliance_id, AllianceExpertise.tag)
            .where(col(AllianceExpertise.alliance_id).in_(ids))
            .order_by(AllianceExpertise.tag)
        ).all():
            tags.setdefault(alliance_id, []).append(tag)
    refs = []
    for a in alliances:
        lead = session.get(School, a.lead_school_id) if a.lead_school_id else None
        refs.append(
            AllianceRef(
                a.name,
                lead.name if lead else None,
                tuple(tags.get(a.id or 0, [])),
                a.capacity_days_per_term,
            )
        )
    return tuple(refs)


def _school_view(session: Session, school: School) -> SchoolView:
    assert school.id is not None
    partnerships = session.exec(
        select(Partnership.name)
        .join(PartnershipMembership, col(PartnershipMembership.partnership_id) == Partnership.id)
        .where(PartnershipMembership.school_id == school.id)
        .order_by(Partnership.name)
    ).all()
    heads = _holders(session, school.tenant_id, Role.HEAD, ScopeKind.SCHOOL, [school.id])
    return SchoolView(
        urn=school.urn,
        name=school.name,
        phase=school.phase,
        establishment_type=school.establishment_type or school.establishment_group,
        status=school.status,
        quadrant=_quadrant_name(session, school.quadrant_id),
        chair=_chair(session, school.tenant_id, school.quadrant_id),
        partnerships=tuple(partnerships),
        heads=tuple(heads.get(school.id, [])),
        alliances=_alliances_serving(session, school.tenant_id, school.quadrant_id),
    )


def _partnership_view(session: Session, partnership: Partnership) -> PartnershipView:
    assert partnership.id is not None
    schools = session.exec(
        select(School.urn, School.name)
        .join(PartnershipMembership, col(PartnershipMembership.school_id) == School.id)
        .where(PartnershipMembership.partnership_id == partnership.id)
        .order_by(School.name)
    ).all()
    leads = _holders(
        session,
        partnership.tenant_id,
        Role.PARTNERSHIP_LEAD,
        ScopeKind.PARTNERSHIP,
        [partnership.id],
    )
    return PartnershipView(
        name=partnership.name,
        kind=PARTNERSHIP_KINDS.get(partnership.kind, partnership.kind),
        quadrant=_quadrant_name(session, partnership.quadrant_id),
        chair=_chair(session, partnership.tenant_id, partnership.quadrant_id),
        leads=tuple(leads.get(partnership.id, [])),
        schools=tuple(SchoolRef(urn, name) for urn, name in schools),
    )


def _quadrant_view(session: Session, quadrant: Quadrant) -> QuadrantView:
    assert quadrant.id is not None
    tenant_id = quadrant.tenant_id
    partnerships = session.exec(
        select(Partnership)
        .where(Partnership.tenant_id == tenant_id, Partnership.quadrant_id == quadrant.id)
        .order_by(Partnership.name)
    ).all()
    ids = [p.id for p in partnerships if p.id is not None]
    leads = _holders(session, tenant_id, Role.PARTNERSHIP_LEAD, ScopeKind.PARTNERSHIP, ids)
    counts: dict[int, int] = {}
    if ids:
        counts = dict(
            session.exec(
                select(PartnershipMembership.partnership_id, func.count())
                .where(col(PartnershipMembership.partnership_id).in_(ids))
                .group_by(col(PartnershipMembership.partnership_id))
            ).all()
        )
    school_count = session.exec(
        select(func.count()).where(School.tenant_id == tenant_id, School.quadrant_id == quadrant.id)
    ).one()
    return QuadrantView(
        name=quadrant.name,
        chair=_chair(session, tenant_id, quadrant.id),
        partnerships=tuple(
            PartnershipSummary(p.name, tuple(leads.get(p.id or 0, [])), counts.get(p.id or 0, 0))
            for p in partnerships
        ),
        school_count=school_count,
        alliances=_alliances_serving(session, tenant_id, quadrant.id),
    )
