"""Who is asking: from a chat account to a tenant, a person and their roles."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.ports import Clock
from bot.types import Actor, ChatUser, Grant, Platform, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Alliance,
    ChatIdentity,
    ChatWorkspace,
    Partnership,
    Person,
    Quadrant,
    RoleAssignment,
    School,
    Tenant,
)

_SCOPE_TABLES: dict[
    ScopeKind, type[School] | type[Partnership] | type[Quadrant] | type[Alliance]
] = {
    ScopeKind.SCHOOL: School,
    ScopeKind.PARTNERSHIP: Partnership,
    ScopeKind.QUADRANT: Quadrant,
    ScopeKind.ALLIANCE: Alliance,
}


class IdentityService:
    """Matches chat users to the directory: by linked chat identity, else by profile e-mail."""

    def __init__(self, db: Database, clock: Clock, default_la_code: int | None = None) -> None:
        self._db = db
        self._clock = clock
        self._default_la_code = default_la_code

    def actor_for(self, chat: ChatUser) -> Actor:
        """The actor for a chat user from stored links only (no platform calls)."""
        with self._db.session() as session:
            tenant = self._tenant(session, chat)
            if tenant is None:
                return Actor(chat, None, None, None, None)
            assert tenant.id is not None
            identity = session.exec(
                select(ChatIdentity).where(
                    ChatIdentity.tenant_id == tenant.id,
                    ChatIdentity.platform == chat.platform.value,
                    ChatIdentity.workspace_id == chat.workspace_id,
                    ChatIdentity.user_id == chat.user_id,
                )
            ).first()
            if identity is None:
                return Actor(chat, tenant.id, tenant.name, None, None)
            person = session.get(Person, identity.person_id)
            assert person is not None
            return _linked(session, chat, tenant, person)

    def link_by_email(self, chat: ChatUser, email: str) -> Actor:
        """Link the chat user to the tenant's person with this e-mail, if there is one."""
        try:
            return self._link_by_email(chat, email)
        except IntegrityError:
            # Two first requests from the same person at once: the other one linked them.
            return self.actor_for(chat)

    def _link_by_email(self, chat: ChatUser, email: str) -> Actor:
        with self._db.session() as session:
            tenant = self._tenant(session, chat)
            if tenant is None:
                return Actor(chat, None, None, None, None)
            assert tenant.id is not None
            person = session.exec(
                select(Person).where(
                    Person.tenant_id == tenant.id, Person.email == email.strip().lower()
                )
            ).first()
            if person is None:
                return Actor(chat, tenant.id, tenant.name, None, None)
            assert person.id is not None
            session.add(
                ChatIdentity(
                    tenant_id=tenant.id,
                    person_id=person.id,
                    platform=chat.platform.value,
                    workspace_id=chat.workspace_id,
                    user_id=chat.user_id,
                    source="email",
                    linked_at=self._clock.now(),
                )
            )
            return _linked(session, chat, tenant, person)

    def tenant_of(self, platform: Platform, workspace_id: str) -> int | None:
        """The local authority a workspace belongs to (the default one for unmapped ones)."""
        with self._db.session() as session:
            tenant = self._tenant(session, ChatUser(platform, workspace_id, ""))
            return None if tenant is None else tenant.id

    def la_code_of(self, tenant_id: int) -> int | None:
        """The local authority code of a tenant (None if there is no such tenant)."""
        with self._db.session() as s:
            tenant = s.get(Tenant, tenant_id)
            return None if tenant is None else tenant.la_code

    def _tenant(self, session: Session, chat: ChatUser) -> Tenant | None:
        workspace = session.exec(
            select(ChatWorkspace).where(
                ChatWorkspace.platform == chat.platform.value,
                ChatWorkspace.workspace_id == chat.workspace_id,
            )
        ).first()
        if workspace is not None:
            return session.get(Tenant, workspace.tenant_id)
        if self._default_la_code is None:
            return None
        return session.exec(select(Tenant).where(Tenant.la_code == self._default_la_code)).first()


def _linked(session: Session, chat: ChatUser, tenant: Tenant, person: Person) -> Actor:
    assert tenant.id is not None and person.id is not None
    return Actor(
        chat,
        tenant.id,
        tenant.name,
        person.id,
        person.name,
        grants_for(session, tenant.id, person.id),
    )


def grants_for(session: Session, tenant_id: int, person_id: int) -> tuple[Grant, ...]:
    """A person's roles with the names of what they apply to, most local scope first."""
    rows = session.exec(
        select(RoleAssignment).where(
            RoleAssignment.tenant_id == tenant_id, RoleAssignment.person_id == person_id
        )
    ).all()
    names = scope_names(session, tenant_id, ((ScopeKind(r.scope_kind), r.scope_id) for r in rows))
    grants = [
        Grant(
            Role(r.role),
            ScopeKind(r.scope_kind),
            None if r.scope_kind == ScopeKind.COUNTY else r.scope_id,
            names.get((ScopeKind(r.scope_kind), r.scope_id), ""),
        )
        for r in rows
    ]
    order = list(ScopeKind)
    return tuple(sorted(grants, key=lambda g: (order.index(g.scope), g.role.value, g.scope_name)))


def scope_names(
    session: Session, tenant_id: int, scopes: Iterable[tuple[ScopeKind, int]]
) -> dict[tuple[ScopeKind, int], str]:
    """Display names for (scope kind, id) pairs, fetched one query per kind."""
    wanted: dict[ScopeKind, set[int]] = {}
    for kind, scope_id in scopes:
        if kind is not ScopeKind.COUNTY:
            wanted.setdefault(kind, set()).add(scope_id)
    names: dict[tuple[ScopeKind, int], str] = {}
    for kind, ids in wanted.items():
        table = _SCOPE_TABLES[kind]
        for row_id, name in session.exec(
            select(col(table.id), col(table.name)).where(
                table.tenant_id == tenant_id, col(table.id).in_(ids)
            )
        ).all():
            if row_id is not None:
                names[(kind, row_id)] = name
    return names
