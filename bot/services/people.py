"""Finding a person of one local authority by what an administrator types: an e-mail address
or a person id (the only way to name someone once they are erased)."""

from __future__ import annotations

from sqlmodel import Session, func, select

from bot.errors import NotFound, UserError
from storage.models import Person


def find_person(session: Session, tenant_id: int, who: str, *, directory: str) -> Person:
    """The person `who` names in the local authority `tenant_id`; NotFound for anyone else
    (saying nothing of other local authorities). `directory`: how to name the directory in
    that answer, e.g. "this directory"."""
    wanted = who.strip()
    query = select(Person).where(Person.tenant_id == tenant_id)
    if wanted.isdigit():
        query = query.where(Person.id == int(wanted))
    elif "@" in wanted:
        query = query.where(func.lower(Person.email) == wanted.lower())
    else:
        raise UserError(f"“{wanted}” is neither an e-mail address nor a person id.")
    found = session.exec(query).first()
    if found is None or found.id is None:
        raise NotFound(
            f"Nobody in {directory} has the {'id' if wanted.isdigit() else 'e-mail'} {wanted}.",
            hint="An erased person is found by their person id only.",
        )
    return found
