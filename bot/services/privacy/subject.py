"""Finding the person a subject access request or an erasure is about, within one local
authority."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, func, select

from bot.errors import NotFound, UserError
from storage.models import Person, Tenant


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
    query = select(Person).where(Person.tenant_id == tenant.id)
    if wanted.isdigit():
        row = session.exec(query.where(Person.id == int(wanted))).first()
    elif "@" in wanted:
        row = session.exec(query.where(func.lower(Person.email) == wanted.lower())).first()
    else:
        raise UserError(f"“{wanted}” is neither an e-mail address nor a person id.")
    if row is None or row.id is None:
        raise NotFound(
            f"Nobody in LA {la_code}'s directory has the {'id' if wanted.isdigit() else 'e-mail'}"
            f" {wanted}.",
            hint="An erased person is found by their person id only.",
        )
    return Subject(tenant.id, la_code, row.id, row.name, row.email, row.erased_at is not None)
