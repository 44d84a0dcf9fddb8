"""Finding the person a subject access request or an erasure is about, within one local
authority."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from bot.errors import NotFound, UserError
from bot.services.people import find_person
from storage.models import Tenant


@dataclass(frozen=True)
class Subject:
    """The person, as the directory had them when the request began."""

    tenant_id: int
    la_code: int
    person_id: int
    name: str
    email: str
    erased: bool


def find_subject(session: Session, la_code: int, person: str) -> Subject:
    """The person named by an e-mail address or a person id, in the local authority with
    `la_code`; NotFound for anyone else (a person id from another local authority too)."""
    tenant = session.exec(select(Tenant).where(Tenant.la_code == la_code)).first()
    if tenant is None or tenant.id is None:
        raise NotFound(f"There is no local authority with LA code {la_code}.")
    wanted = person.strip()
    if not wanted:
        raise UserError("Say who: an e-mail address or a person id.")
    row = find_person(session, tenant.id, wanted, directory=f"LA {la_code}'s directory")
    assert row.id is not None
    return Subject(tenant.id, la_code, row.id, row.name, row.email, row.erased_at is not None)
