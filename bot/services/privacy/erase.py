"""Erasure: removing a person from the bot, or anonymising them beyond recovery, while keeping
other people's records and every aggregate figure as they were.

What happens (records.py maps every place a person appears):
- the person row stays, because others' records point at it, as "Former staff member" with an
  unguessable placeholder e-mail, no job title and `erased_at` set;
- their roles, chat identities and one-to-one conversations with the bot are deleted;
- messages to them not yet sent are deleted; those sent are kept (their idempotency key stops a
  retried job sending again) with the content and where they went blanked;
- active reminders to them are cancelled; reminders they set for others keep going, shown as
  set by "Former staff member", because the others rely on them;
- everything else that refers to them (requests, responses, votes, minutes...) is kept, and every
  text and JSON column of their local authority is scrubbed of their name, e-mail and chat ids,
  which become "former staff member".
All in one transaction, audited with counts only. A dry run does the same and rolls it back.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, select, update
from sqlmodel import Session

from bot.ports import Clock
from bot.services import audit
from bot.services.privacy.records import (
    PERSON_COLUMNS,
    OnErase,
    tables,
    text_columns,
    uncovered,
)
from bot.services.privacy.subject import Subject, find_subject
from bot.types import Actor
from storage.engine import Database

FORMER_NAME = "Former staff member"
REPLACEMENT = "former staff member"
PLACEHOLDER_DOMAIN = "erased.invalid"
UNSENT = ("pending", "in_flight", "failed")
SHORTEST_NEEDLE = 3  # shorter "names" or ids would scrub unrelated words


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure changed (or, in a dry run, would change), per table."""

    la_code: int
    person_id: int
    dry_run: bool
    already_erased: bool = False
    deleted: Mapping[str, int] = field(default_factory=dict)
    updated: Mapping[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The result in words, one line per table."""
        who = f"person {self.person_id} (LA {self.la_code})"
        if self.already_erased:
            return [f"{who} was already erased: nothing to do."]
        head = f"Dry run: erasing {who} would change" if self.dry_run else f"Erased {who}:"
        out = [head]
        for name in sorted(set(self.deleted) | set(self.updated)):
            parts = []
            if self.deleted.get(name):
                parts.append(f"{self.deleted[name]} deleted")
            if self.updated.get(name):
                parts.append(f"{self.updated[name]} updated")
            out.append(f"  {name}: {', '.join(parts)}")
        if self.dry_run:
            out.append("Nothing was changed.")
        return out


class Erasure:
    """Erases people from one local authority."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def erase(
        self, la_code: int, person: str, *, dry_run: bool = False, actor: Actor | None = None
    ) -> ErasureResult:
        """Erase the person (an e-mail address or person id) in the local authority with
        `la_code`, or with `dry_run` say what that would change and change nothing."""
        missing = uncovered()
        if missing:
            # A table refers to people and nobody has decided what erasure does there.
            raise RuntimeError(f"privacy/records.py does not cover {sorted(missing)}")
        now = self._clock.now()
        with Session(self._db.engine, expire_on_commit=False) as s:
            subject = find_subject(s, la_code, person)
            work = _Work(s.connection(), subject.tenant_id, subject.person_id, now)
            if not work.claim():
                s.rollback()
                return ErasureResult(la_code, subject.person_id, dry_run, already_erased=True)
            work.run(_needles(work.conn, subject))
            if not dry_run:
                audit.record(
                    s,
                    tenant_id=subject.tenant_id,
                    at=now,
                    action="privacy.erase",
                    subject=f"person {subject.person_id}",
                    actor=actor,
                    platform=None if actor else audit.COMMAND_LINE,
                    about_person_id=subject.person_id,
                    detail={
                        "deleted": dict(work.deleted),
                        "updated": {k: len(v) for k, v in work.updated.items()},
                    },
                )
                s.commit()
            else:
                s.rollback()
        return ErasureResult(
            la_code,
            subject.person_id,
            dry_run,
            deleted=dict(work.deleted),
            updated={k: len(v) for k, v in work.updated.items()},
        )


class _Work:
    """The statements of one erasure, on one connection (one transaction), counting rows."""

    def __init__(self, conn: Connection, tenant_id: int, person_id: int, now: datetime) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.person_id = person_id
        self.now = now
        self.t = tables()
        self.deleted: Counter[str] = Counter()
        self.updated: dict[str, set[tuple[Any, ...]]] = {}

    def claim(self) -> bool:
        """Mark the person erased; False if they already were (or another erasure got there
        first: the update waits for it and then matches nothing)."""
        person = self.t["person"]
        done = self.conn.execute(
            update(person)
            .where(person.c.id == self.person_id, person.c.erased_at.is_(None))
            .values(
                name=FORMER_NAME,
                email=f"erased-{secrets.token_hex(16)}@{PLACEHOLDER_DOMAIN}",
                job_title="",
                erased_at=self.now,
            )
        )
        if done.rowcount != 1:
            return False
        self._touched("person", [(self.person_id,)])
        return True

    def run(self, needles: list[str]) -> None:
        self._conversations()
        for ref in PERSON_COLUMNS:
            table = self.t[ref.table]
            theirs = and_(
                table.c.tenant_id == self.tenant_id, table.c[ref.column] == self.person_id
            )
            if ref.on_erase is OnErase.DELETE:
                self._delete(table, theirs)
            elif ref.on_erase is OnErase.CANCEL:
                self._cancel(table, theirs)
            elif ref.on_erase is OnErase.UNSEND:
                self._unsend(table, theirs)
        self._scrub(needles)

    def _delete(self, table: Table, where: Any) -> None:
        gone = self.conn.execute(delete(table).where(where)).rowcount
        if gone:
            self.deleted[table.name] += gone

    def _conversations(self) -> None:
        """Their one-to-one conversations with the bot (before their chat identities go)."""
        ident, conv = self.t["chat_identity"], self.t["chat_conversation"]
        accounts = self.conn.execute(
            select(ident.c.platform, ident.c.workspace_id, ident.c.user_id).where(
                ident.c.tenant_id == self.tenant_id, ident.c.person_id == self.person_id
            )
        ).all()
        for platform, workspace, user_id in accounts:
            self._delete(
                conv,
                and_(
                    conv.c.tenant_id == self.tenant_id,
                    conv.c.kind == "personal",
                    conv.c.platform == platform,
                    conv.c.workspace_id == workspace,
                    conv.c.user_id == user_id,
                ),
            )

    def _cancel(self, table: Table, where: Any) -> None:
        ids = self._ids(table, and_(where, table.c.status == "active"))
        if ids:
            self.conn.execute(
                update(table)
                .where(table.c.id.in_(ids))
                .values(status="cancelled", next_due=None, updated_at=self.now)
            )
            self._touched(table.name, [(i,) for i in ids])

    def _unsend(self, table: Table, where: Any) -> None:
        self._delete(table, and_(where, table.c.status.in_(UNSENT)))
        ids = self._ids(table, where)
        if ids:
            self.conn.execute(
                update(table)
                .where(table.c.id.in_(ids))
                .values(
                    payload={},
                    platform=None,
                    workspace_id=None,
                    conversation_id=None,
                    service_url=None,
                    message_id=None,
                    last_error=None,
                )
            )
            self._touched(table.name, [(i,) for i in ids])

    def _scrub(self, needles: list[str]) -> None:
        """Replace the person's name, e-mail and chat ids in every text column of the tenant."""
        if not needles:
            return
        pattern = _pattern(needles)
        for table in self.t.values():
            if "tenant_id" not in table.c:
                continue
            columns = text_columns(table)
            if not columns:
                continue
            keys = list(table.primary_key.columns)
            rows = self.conn.execute(
                select(*keys, *columns).where(table.c.tenant_id == self.tenant_id)
            )
            for row in rows.all():
                key = tuple(row[: len(keys)])
                changes = {}
                for column, value in zip(columns, row[len(keys) :], strict=True):
                    cleaned = _clean(value, pattern)
                    if cleaned != value:
                        changes[column.name] = cleaned
                if changes:
                    self.conn.execute(
                        update(table)
                        .where(*(k == v for k, v in zip(keys, key, strict=True)))
                        .values(**changes)
                    )
                    self._touched(table.name, [key])

    def _ids(self, table: Table, where: Any) -> list[int]:
        return list(self.conn.execute(select(table.c.id).where(where)).scalars())

    def _touched(self, table: str, keys: list[tuple[Any, ...]]) -> None:
        self.updated.setdefault(table, set()).update(keys)


def _needles(conn: Connection, subject: Subject) -> list[str]:
    """What identifies the person in free text: their name and e-mail as they were, and every
    chat id they have: user ids, and the ids of their one-to-one conversations."""
    t = tables()
    ident, conv = t["chat_identity"], t["chat_conversation"]
    tenant_id, person_id = subject.tenant_id, subject.person_id
    found = [subject.name, subject.email]
    accounts = conn.execute(
        select(ident.c.platform, ident.c.workspace_id, ident.c.user_id).where(
            ident.c.tenant_id == tenant_id, ident.c.person_id == person_id
        )
    ).all()
    for platform, workspace, user_id in accounts:
        found.append(user_id)
        for conversation_id, member_id in conn.execute(
            select(conv.c.conversation_id, conv.c.member_id).where(
                conv.c.tenant_id == tenant_id,
                conv.c.kind == "personal",
                conv.c.platform == platform,
                conv.c.workspace_id == workspace,
                conv.c.user_id == user_id,
            )
        ).all():
            found += [conversation_id, member_id or ""]
    return sorted({n.strip() for n in found if len(n.strip()) >= SHORTEST_NEEDLE}, key=len)[::-1]


def _pattern(needles: list[str]) -> re.Pattern[str]:
    """One case-insensitive pattern for all the needles, longest first, each a whole word (so a
    user id U123 does not match inside U1234) and a name matching across any run of spaces."""
    parts = [r"\s+".join(re.escape(w) for w in n.split()) for n in needles]
    return re.compile(
        r"(?<![\w.+-])(?:" + "|".join(parts) + r")(?![\w-])", re.IGNORECASE | re.UNICODE
    )


def _clean(value: Any, pattern: re.Pattern[str]) -> Any:
    """`value` with every match replaced, walking into JSON (keys as well as values)."""
    if isinstance(value, str):
        return pattern.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {_clean(k, pattern): _clean(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, pattern) for v in value]
    return value
