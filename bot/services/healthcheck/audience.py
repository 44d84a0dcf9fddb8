"""Who a round asks: the holders of a role within a scope, each with what they answer for.

Resolved once, at launch, into invitations (the audience is then frozen). A head answers a
school template for their school, and a partnership template for each partnership their school
belongs to; a partnership lead answers a partnership template for their partnership.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.services.healthcheck.templates import Template
from bot.types import Role, ScopeKind
from storage.models import Partnership, PartnershipMembership, RoleAssignment, School

AUDIENCE_ROLES = (Role.HEAD, Role.PARTNERSHIP_LEAD)
CLOSED = "Closed"


@dataclass(frozen=True)
class Invitee:
    """One invitation to be: the person, what they answer for, and what their response is
    filed under (the same, but for anonymous rounds of school templates)."""

    person_id: int
    subject_kind: str
    subject_id: int
    response_kind: str
    response_id: int


@dataclass(frozen=True)
class Scope:
    """Where an audience (or a report) lies: the county, a quadrant or a partnership."""

    kind: ScopeKind
    id: int | None = None


def resolve(
    s: Session,
    tenant_id: int,
    template: Template,
    role: Role,
    scope: Scope,
    *,
    anonymous: bool,
) -> list[Invitee]:
    """The invitations for `role` within `scope`, as the directory stands now."""
    if role not in template.respondent_roles or role not in AUDIENCE_ROLES:
        raise ValueError(f"{template.title} is not answered by {role.value}")
    memberships = _memberships(s, tenant_id)
    invitees: list[Invitee] = []
    if role is Role.HEAD:
        for person_id, school_id, quadrant_id in _heads(s, tenant_id):
            partnerships = memberships.get(school_id, [])
            if template.scope == "school":
                if not _school_in(scope, quadrant_id, partnerships):
                    continue
                kind, target = _school_group(scope, quadrant_id, partnerships, school_id, anonymous)
                invitees.append(Invitee(person_id, "school", school_id, kind, target))
                continue
            for partnership_id, p_quadrant in partnerships:
                if _partnership_in(scope, partnership_id, p_quadrant):
                    invitees.append(
                        Invitee(
                            person_id,
                            "partnership",
                            partnership_id,
                            "partnership",
                            partnership_id,
                        )
                    )
    else:
        for person_id, partnership_id, p_quadrant in _leads(s, tenant_id):
            if _partnership_in(scope, partnership_id, p_quadrant):
                invitees.append(
                    Invitee(person_id, "partnership", partnership_id, "partnership", partnership_id)
                )
    unique = {(i.person_id, i.subject_kind, i.subject_id): i for i in invitees}
    return sorted(unique.values(), key=lambda i: (i.person_id, i.subject_kind, i.subject_id))


def _memberships(s: Session, tenant_id: int) -> dict[int, list[tuple[int, int | None]]]:
    """school id -> [(partnership id, its quadrant)], partnerships in id order."""
    rows = s.exec(
        select(PartnershipMembership.school_id, Partnership.id, Partnership.quadrant_id)
        .join(Partnership, col(Partnership.id) == PartnershipMembership.partnership_id)
        .where(PartnershipMembership.tenant_id == tenant_id)
        .order_by(col(Partnership.id))
    ).all()
    found: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for school_id, partnership_id, quadrant_id in rows:
        if partnership_id is not None:
            found[school_id].append((partnership_id, quadrant_id))
    return found


def _heads(s: Session, tenant_id: int) -> list[tuple[int, int, int | None]]:
    """(person, school, the school's quadrant) for every head of an open school."""
    rows = s.exec(
        select(RoleAssignment.person_id, School.id, School.quadrant_id)
        .join(School, col(School.id) == RoleAssignment.scope_id)
        .where(
            RoleAssignment.tenant_id == tenant_id,
            RoleAssignment.role == Role.HEAD.value,
            RoleAssignment.scope_kind == ScopeKind.SCHOOL.value,
            School.tenant_id == tenant_id,
            School.status != CLOSED,
        )
    ).all()
    return [(p, sid, q) for p, sid, q in rows if sid is not None]


def _leads(s: Session, tenant_id: int) -> list[tuple[int, int, int | None]]:
    rows = s.exec(
        select(RoleAssignment.person_id, Partnership.id, Partnership.quadrant_id)
        .join(Partnership, col(Partnership.id) == RoleAssignment.scope_id)
        .where(
            RoleAssignment.tenant_id == tenant_id,
            RoleAssignment.role == Role.PARTNERSHIP_LEAD.value,
            RoleAssignment.scope_kind == ScopeKind.PARTNERSHIP.value,
            Partnership.tenant_id == tenant_id,
        )
    ).all()
    return [(p, pid, q) for p, pid, q in rows if pid is not None]


def _partnership_in(scope: Scope, partnership_id: int, quadrant_id: int | None) -> bool:
    if scope.kind is ScopeKind.QUADRANT:
        return quadrant_id == scope.id
    if scope.kind is ScopeKind.PARTNERSHIP:
        return partnership_id == scope.id
    return True


def _school_in(
    scope: Scope, quadrant_id: int | None, partnerships: list[tuple[int, int | None]]
) -> bool:
    if scope.kind is ScopeKind.QUADRANT:
        return quadrant_id == scope.id
    if scope.kind is ScopeKind.PARTNERSHIP:
        return any(pid == scope.id for pid, _ in partnerships)
    return True


def _school_group(
    scope: Scope,
    quadrant_id: int | None,
    partnerships: list[tuple[int, int | None]],
    school_id: int,
    anonymous: bool,
) -> tuple[str, int]:
    """What a school's response is filed under: the school itself in a named round; in an
    anonymous one its partnership (the one the round is for, else its first) or quadrant."""
    if not anonymous:
        return "school", school_id
    if scope.kind is ScopeKind.PARTNERSHIP and scope.id is not None:
        return "partnership", scope.id
    if partnerships:
        return "partnership", partnerships[0][0]
    if quadrant_id is not None:
        return "quadrant", quadrant_id
    # A school in no partnership and no quadrant: its answers go in with the county's.
    return "county", 0
