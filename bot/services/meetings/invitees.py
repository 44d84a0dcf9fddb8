"""Who is invited to a quadrant meeting by default, from the directory, and why.

The default list, which the chair can edit before sending:
1. the partnership leads of the partnerships in the quadrant;
2. the alliance leads of the Teaching School Alliances serving the quadrant;
3. the heads' association representatives for the whole county or for this quadrant.
A person appears once, under the first of these sources that brings them (the invitee's
`source`); their `reason` names every role that brought them, in the same order. The list is
sorted by name.

`default_invitees` makes at most five queries, however large the quadrant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, exists, or_
from sqlmodel import Session, col, select

from bot.errors import NotFound
from bot.types import Role, ScopeKind
from storage.models import (
    Alliance,
    AllianceQuadrant,
    ChatIdentity,
    Partnership,
    Person,
    Quadrant,
    RoleAssignment,
)

__all__ = ["SOURCES", "Invitee", "default_invitees"]

#: The directory sources, in the order that decides an invitee's `source`.
SOURCES: tuple[Role, ...] = (Role.PARTNERSHIP_LEAD, Role.ALLIANCE_LEAD, Role.ASSOCIATION_REP)


@dataclass(frozen=True)
class Invitee:
    """A person to invite, what brought them (a role of SOURCES, or "added"), and why in words."""

    person_id: int
    name: str
    source: str
    has_chat: bool  # has a linked chat account, so the poll can reach them
    reason: str  # e.g. "lead of Colne Valley Partnership; lead of Estuary Teaching School Alliance"


def default_invitees(session: Session, *, tenant_id: int, quadrant_id: int) -> tuple[Invitee, ...]:
    """The default invitees of a meeting of quadrant `quadrant_id` (see the module rules).

    NotFound if the quadrant is not the tenant's.
    """
    quadrant = session.exec(
        select(Quadrant).where(
            col(Quadrant.id) == quadrant_id, col(Quadrant.tenant_id) == tenant_id
        )
    ).first()
    if quadrant is None:
        raise NotFound(f"no quadrant with id {quadrant_id} in this local authority")

    found: list[tuple[int, Role, str]] = []  # (person, source, reason), in source order
    found.extend(_partnership_leads(session, tenant_id, quadrant_id))
    found.extend(_alliance_leads(session, tenant_id, quadrant_id))
    found.extend(_association_reps(session, tenant_id, quadrant))

    sources: dict[int, Role] = {}
    reasons: dict[int, list[str]] = {}
    for person_id, source, reason in found:
        sources.setdefault(person_id, source)
        said = reasons.setdefault(person_id, [])
        if reason not in said:
            said.append(reason)
    if not sources:
        return ()

    people = session.exec(
        select(
            col(Person.id),
            col(Person.name),
            exists().where(
                col(ChatIdentity.tenant_id) == tenant_id,
                col(ChatIdentity.person_id) == col(Person.id),
            ),
        ).where(col(Person.tenant_id) == tenant_id, col(Person.id).in_(list(sources)))
    ).all()
    invitees: list[Invitee] = []
    for found_id, name, has_chat in people:
        assert found_id is not None
        invitees.append(
            Invitee(
                person_id=found_id,
                name=name,
                source=sources[found_id].value,
                has_chat=bool(has_chat),
                reason="; ".join(reasons[found_id]),
            )
        )
    invitees.sort(key=lambda i: (i.name.casefold(), i.person_id))
    return tuple(invitees)


def _partnership_leads(
    session: Session, tenant_id: int, quadrant_id: int
) -> Iterable[tuple[int, Role, str]]:
    rows = session.exec(
        select(col(RoleAssignment.person_id), col(Partnership.name))
        .join(
            Partnership,
            and_(
                col(Partnership.id) == col(RoleAssignment.scope_id),
                col(Partnership.tenant_id) == tenant_id,
            ),
        )
        .where(
            col(RoleAssignment.tenant_id) == tenant_id,
            col(RoleAssignment.role) == Role.PARTNERSHIP_LEAD.value,
            col(RoleAssignment.scope_kind) == ScopeKind.PARTNERSHIP.value,
            col(Partnership.quadrant_id) == quadrant_id,
        )
    ).all()
    return [
        (person_id, Role.PARTNERSHIP_LEAD, f"lead of {name}") for person_id, name in _by_name(rows)
    ]


def _alliance_leads(
    session: Session, tenant_id: int, quadrant_id: int
) -> Iterable[tuple[int, Role, str]]:
    rows = session.exec(
        select(col(RoleAssignment.person_id), col(Alliance.name))
        .join(
            Alliance,
            and_(
                col(Alliance.id) == col(RoleAssignment.scope_id),
                col(Alliance.tenant_id) == tenant_id,
            ),
        )
        .join(
            AllianceQuadrant,
            and_(
                col(AllianceQuadrant.alliance_id) == col(Alliance.id),
                col(AllianceQuadrant.tenant_id) == tenant_id,
            ),
        )
        .where(
            col(RoleAssignment.tenant_id) == tenant_id,
            col(RoleAssignment.role) == Role.ALLIANCE_LEAD.value,
            col(RoleAssignment.scope_kind) == ScopeKind.ALLIANCE.value,
            col(AllianceQuadrant.quadrant_id) == quadrant_id,
        )
    ).all()
    return [
        (person_id, Role.ALLIANCE_LEAD, f"lead of {name}") for person_id, name in _by_name(rows)
    ]


def _association_reps(
    session: Session, tenant_id: int, quadrant: Quadrant
) -> Iterable[tuple[int, Role, str]]:
    rows = session.exec(
        select(col(RoleAssignment.person_id), col(RoleAssignment.scope_kind)).where(
            col(RoleAssignment.tenant_id) == tenant_id,
            col(RoleAssignment.role) == Role.ASSOCIATION_REP.value,
            or_(
                col(RoleAssignment.scope_kind) == ScopeKind.COUNTY.value,
                and_(
                    col(RoleAssignment.scope_kind) == ScopeKind.QUADRANT.value,
                    col(RoleAssignment.scope_id) == quadrant.id,
                ),
            ),
        )
    ).all()
    # The county-wide role first, then the quadrant's.
    ordered = sorted(rows, key=lambda r: (r[1] != ScopeKind.COUNTY.value, r[0]))
    return [
        (
            person_id,
            Role.ASSOCIATION_REP,
            "association rep for the county"
            if kind == ScopeKind.COUNTY.value
            else f"association rep for {quadrant.name}",
        )
        for person_id, kind in ordered
    ]


def _by_name(rows: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """(person, name) rows in name order, the same on every database (collations differ)."""
    return sorted(rows, key=lambda r: (r[1].casefold(), r[1], r[0]))
