"""Checking a directory file's cross-references against itself and the tenant's directory.

Nothing here writes: the importer applies only what these checks keep, so a file with a bad
reference changes nothing (or, with --skip-invalid, everything but the bad entries).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from sqlmodel import Session, col, select

from bot.services.directory_file import (
    AllianceSpec,
    DirectoryFile,
    Entry,
    Loc,
    PartnershipSpec,
    PersonSpec,
    QuadrantSpec,
    S,
    WorkspaceSpec,
)
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    ChatIdentity,
    ChatWorkspace,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    QuadrantDistrict,
    RoleAssignment,
    School,
)

Row = TypeVar(
    "Row",
    School,
    Quadrant,
    QuadrantDistrict,
    Partnership,
    PartnershipMembership,
    Alliance,
    AllianceQuadrant,
    AllianceExpertise,
    Person,
    RoleAssignment,
    ChatWorkspace,
    ChatIdentity,
)

WorkspaceKey = tuple[str, str]  # platform, workspace id
IdentityKey = tuple[str, str, str]  # platform, workspace id, user id


def in_tenant(session: Session, table: type[Row], tenant_id: int) -> list[Row]:
    """Every row of `table` that belongs to the tenant."""
    return list(session.exec(select(table).where(col(table.tenant_id) == tenant_id)))


@dataclass
class DirectoryState:
    """The tenant's directory as it stands, keyed the way the file names things."""

    tenant_id: int
    la_code: int
    schools: dict[int, School]
    quadrants: dict[str, Quadrant]
    districts: dict[str, QuadrantDistrict]
    partnerships: dict[str, Partnership]
    alliances: dict[str, Alliance]
    people: dict[str, Person]
    memberships: set[tuple[int, int]]
    alliance_quadrants: set[tuple[int, int]]
    expertise: set[tuple[int, str]]
    roles: set[tuple[int, str, str, int]]
    # Workspaces and chat identities are unique across tenants, so these two also hold other
    # tenants' rows for the keys the file names: they are what a clash is checked against.
    workspaces: dict[WorkspaceKey, ChatWorkspace]
    identities: dict[IdentityKey, ChatIdentity]

    @classmethod
    def load(cls, session: Session, tenant_id: int, directory: DirectoryFile) -> DirectoryState:
        workspace_ids = {e.spec.id for e in directory.workspaces} | {
            chat.workspace for e in directory.people for chat in e.spec.chat
        }
        user_ids = {chat.user for e in directory.people for chat in e.spec.chat}
        workspaces = in_tenant(session, ChatWorkspace, tenant_id)
        workspaces += session.exec(
            select(ChatWorkspace).where(col(ChatWorkspace.workspace_id).in_(workspace_ids))
        )
        identities = session.exec(
            select(ChatIdentity).where(col(ChatIdentity.user_id).in_(user_ids))
        ).all()
        return cls(
            tenant_id=tenant_id,
            la_code=directory.tenant_la_code,
            schools={s.urn: s for s in in_tenant(session, School, tenant_id)},
            quadrants={q.name: q for q in in_tenant(session, Quadrant, tenant_id)},
            districts={d.district: d for d in in_tenant(session, QuadrantDistrict, tenant_id)},
            partnerships={p.name: p for p in in_tenant(session, Partnership, tenant_id)},
            alliances={a.name: a for a in in_tenant(session, Alliance, tenant_id)},
            people={p.email: p for p in in_tenant(session, Person, tenant_id)},
            memberships={
                (m.partnership_id, m.school_id)
                for m in in_tenant(session, PartnershipMembership, tenant_id)
            },
            alliance_quadrants={
                (q.alliance_id, q.quadrant_id)
                for q in in_tenant(session, AllianceQuadrant, tenant_id)
            },
            expertise={
                (x.alliance_id, x.tag) for x in in_tenant(session, AllianceExpertise, tenant_id)
            },
            roles={
                (r.person_id, r.role, r.scope_kind, r.scope_id)
                for r in in_tenant(session, RoleAssignment, tenant_id)
            },
            workspaces={(w.platform, w.workspace_id): w for w in workspaces},
            identities={(i.platform, i.workspace_id, i.user_id): i for i in identities},
        )


@dataclass
class CheckedDirectory:
    """The entries that passed every check, the problems found, and how many were dropped."""

    workspaces: list[WorkspaceSpec] = field(default_factory=list)
    quadrants: list[QuadrantSpec] = field(default_factory=list)
    partnerships: list[PartnershipSpec] = field(default_factory=list)
    alliances: list[AllianceSpec] = field(default_factory=list)
    people: list[PersonSpec] = field(default_factory=list)
    problems: list[tuple[Loc, str]] = field(default_factory=list)
    invalid: dict[str, int] = field(default_factory=dict)


Problems = Iterator[tuple[Loc, str]]


def check_directory(directory: DirectoryFile, state: DirectoryState) -> CheckedDirectory:
    """Check entries in dependency order, so one dropped entry makes its dependants fail too."""
    return _Checker(directory, state).run()


class _Checker:
    def __init__(self, directory: DirectoryFile, state: DirectoryState) -> None:
        self.file = directory
        self.state = state
        self.out = CheckedDirectory()
        tenant = state.tenant_id
        self.workspaces = {k for k, w in state.workspaces.items() if w.tenant_id == tenant}
        self.quadrants = set(state.quadrants)
        self.partnerships = set(state.partnerships)
        self.alliances = set(state.alliances)
        self.people_by_id = {p.id: p for p in state.people.values()}
        self.first_seen: dict[tuple[str, object], Loc] = {}

    def run(self) -> CheckedDirectory:
        out = self.out
        out.workspaces = self._keep("workspaces", self.file.workspaces, self._workspace)
        self.workspaces |= {(w.platform.value, w.id) for w in out.workspaces}
        out.quadrants = self._keep("quadrants", self.file.quadrants, self._quadrant)
        self.quadrants |= {q.name for q in out.quadrants}
        out.partnerships = self._keep("partnerships", self.file.partnerships, self._partnership)
        self.partnerships |= {p.name for p in out.partnerships}
        out.alliances = self._keep("alliances", self.file.alliances, self._alliance)
        self.alliances |= {a.name for a in out.alliances}
        out.people = self._keep("people", self.file.people, self._person)
        return out

    def _keep(
        self, section: str, entries: list[Entry[S]], check: Callable[[S, Loc], Problems]
    ) -> list[S]:
        kept: list[S] = []
        for entry in entries:
            problems = list(check(entry.spec, entry.loc))
            if problems:
                self.out.problems.extend(problems)
                self.out.invalid[section] = self.out.invalid.get(section, 0) + 1
            else:
                kept.append(entry.spec)
        return kept

    def _workspace(self, spec: WorkspaceSpec, loc: Loc) -> Problems:
        key = (spec.platform.value, spec.id)
        yield from self._once("workspace", key, loc, f"{spec.platform} workspace {spec.id}")
        existing = self.state.workspaces.get(key)
        if existing is not None and existing.tenant_id != self.state.tenant_id:
            yield (
                (*loc, "id"),
                f"{spec.platform} workspace {spec.id} belongs to another local authority",
            )

    def _quadrant(self, spec: QuadrantSpec, loc: Loc) -> Problems:
        yield from self._once("quadrant", spec.name, loc, f"quadrant {spec.name!r}")
        for i, district in enumerate(spec.districts):
            yield from self._once(
                "district", district.casefold(), (*loc, "districts", i), f"district {district!r}"
            )

    def _partnership(self, spec: PartnershipSpec, loc: Loc) -> Problems:
        yield from self._once("partnership", spec.name, loc, f"partnership {spec.name!r}")
        if spec.quadrant is not None:
            yield from self._named("quadrant", spec.quadrant, self.quadrants, (*loc, "quadrant"))
        seen: set[int] = set()
        for i, urn in enumerate(spec.schools):
            if urn in seen:
                yield (*loc, "schools", i), f"URN {urn} is listed twice"
            seen.add(urn)
            yield from self._school(urn, (*loc, "schools", i))

    def _alliance(self, spec: AllianceSpec, loc: Loc) -> Problems:
        yield from self._once("alliance", spec.name, loc, f"alliance {spec.name!r}")
        if spec.lead_school is not None:
            yield from self._school(spec.lead_school, (*loc, "lead_school"))
        for i, quadrant in enumerate(spec.quadrants):
            yield from self._named("quadrant", quadrant, self.quadrants, (*loc, "quadrants", i))

    def _person(self, spec: PersonSpec, loc: Loc) -> Problems:
        yield from self._once("person", spec.email, (*loc, "email"), f"e-mail {spec.email}")
        for i, role in enumerate(spec.roles):
            at = (*loc, "roles", i)
            if role.school is not None:
                yield from self._school(role.school, (*at, "school"))
            elif role.partnership is not None:
                yield from self._named(
                    "partnership", role.partnership, self.partnerships, (*at, "partnership")
                )
            elif role.quadrant is not None:
                yield from self._named("quadrant", role.quadrant, self.quadrants, (*at, "quadrant"))
            elif role.alliance is not None:
                yield from self._named("alliance", role.alliance, self.alliances, (*at, "alliance"))
        for i, chat in enumerate(spec.chat):
            at = (*loc, "chat", i)
            if (chat.platform.value, chat.workspace) not in self.workspaces:
                yield (
                    at,
                    (
                        f"{chat.platform} workspace {chat.workspace} is not one of this local "
                        "authority's: list it under workspaces"
                    ),
                )
            key = (chat.platform.value, chat.workspace, chat.user)
            yield from self._once("chat", key, at, f"{chat.platform} user {chat.user}")
            yield from self._identity_clash(key, spec.email, at)

    def _identity_clash(self, key: IdentityKey, email: str, at: Loc) -> Problems:
        existing = self.state.identities.get(key)
        if existing is None:
            return
        owner = next((p for p in self.state.people.values() if p.id == existing.person_id), None)
        if existing.tenant_id != self.state.tenant_id or owner is None:
            yield at, f"{key[0]} user {key[2]} is linked to someone in another local authority"
        elif owner.email != email:
            yield at, f"{key[0]} user {key[2]} is already linked to {owner.name} <{owner.email}>"

    def _school(self, urn: int, at: Loc) -> Problems:
        if urn not in self.state.schools:
            hint = (
                ""
                if self.state.schools
                else f" (LA {self.state.la_code} has no schools yet: import the GIAS extract first)"
            )
            yield at, f"unknown school URN {urn}{hint}"

    def _named(self, what: str, name: str, known: Iterable[str], at: Loc) -> Problems:
        known = set(known)
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield at, f"unknown {what} {name!r}{hint}"

    def _once(self, what: str, key: object, at: Loc, label: str) -> Problems:
        """A problem if `key` was already given earlier in the file: the first one stands."""
        first = self.first_seen.setdefault((what, key), at)
        if first != at:
            yield at, f"{label} is given twice (first on line {self.file.lines.line(first)})"
