"""Subject access: everything the bot holds about one person, as a JSON file for machines and a
Markdown file for people, with the same content.

Anonymous survey answers are not in it: the database cannot tie them to anyone (see
storage/survey_tables.py), so the export lists the anonymous rounds the person was invited to
and says so.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, and_, or_, select
from sqlmodel import Session

from bot.ports import Clock
from bot.services import audit
from bot.services.privacy.records import PERSON_COLUMNS, tables
from bot.services.privacy.subject import Subject, find_subject
from bot.types import Actor
from storage.engine import Database
from storage.models import aware

ANONYMOUS_NOTE = (
    "These rounds were anonymous. Your answers, if you gave any, are stored without your name "
    "or any link to you, so they cannot be attributed to you and are not included here."
)

Row = dict[str, Any]


@dataclass(frozen=True)
class Section:
    """One kind of record: its heading, an optional note, and its rows (column -> value)."""

    key: str
    title: str
    records: tuple[Row, ...]
    note: str = ""


@dataclass(frozen=True)
class SubjectAccessExport:
    """The export of one person: sections in a fixed order, ready to write."""

    la_code: int
    person_id: int
    generated_at: datetime
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form: every section with its rows' columns; times in UTC."""
        return {
            "subject_access_export": {
                "la_code": self.la_code,
                "person_id": self.person_id,
                "generated_at": _plain(self.generated_at),
            },
            "sections": {
                s.key: {
                    "title": s.title,
                    **({"note": s.note} if s.note else {}),
                    "records": list(s.records),
                }
                for s in self.sections
            },
        }

    def as_markdown(self) -> str:
        """The same content in words, for the person to read."""
        lines = [
            "# What SLIS Bot holds about you",
            "",
            f"Person {self.person_id} in local authority {self.la_code}, as of "
            f"{_plain(self.generated_at)} (UTC).",
            "",
        ]
        for s in self.sections:
            lines += [f"## {s.title}", ""]
            if s.note:
                lines += [s.note, ""]
            if not s.records:
                lines += ["None.", ""]
                continue
            for n, row in enumerate(s.records, start=1):
                lines.append(f"{n}. Record {_words(row.get('id', n))}")
                lines += [
                    f"   - {name.replace('_', ' ')}: {_words(value)}" for name, value in row.items()
                ]
            lines.append("")
        return "\n".join(lines)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write the JSON and Markdown files into `directory` (made if need be); their names
        carry the LA code, the person id and the date, never the person's name."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"subject-access-{self.la_code}-person-{self.person_id}-{self.generated_at:%Y%m%d}"
        as_json = directory / f"{stem}.json"
        as_md = directory / f"{stem}.md"
        as_json.write_text(
            json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        as_md.write_text(self.as_markdown(), encoding="utf-8")
        return as_json, as_md


class PrivacyExport:
    """Builds subject access exports, and records each in the audit log."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def export(
        self, la_code: int, person: str, *, actor: Actor | None = None
    ) -> SubjectAccessExport:
        """Everything held about the person (an e-mail address or person id) in the local
        authority with `la_code`. NotFound for anyone not in its directory."""
        now = self._clock.now()
        with self._db.session() as s:
            subject = find_subject(s, la_code, person)
            sections = _sections(s, subject)
            audit.record(
                s,
                tenant_id=subject.tenant_id,
                at=now,
                action="privacy.export",
                subject=f"person {subject.person_id}",
                actor=actor,
                platform=None if actor else audit.COMMAND_LINE,
                about_person_id=subject.person_id,
                detail={
                    "sections": sum(1 for x in sections if x.records),
                    "records": sum(len(x.records) for x in sections),
                },
            )
        return SubjectAccessExport(la_code, subject.person_id, now, sections)


def _sections(s: Session, subject: Subject) -> tuple[Section, ...]:
    t = tables()
    tid, pid = subject.tenant_id, subject.person_id
    person = _rows(s, t["person"], t["person"].c.id == pid)
    out = [Section("person", "Your directory entry", person)]
    for ref in PERSON_COLUMNS:
        table = t[ref.table]
        where = and_(table.c.tenant_id == tid, table.c[ref.column] == pid)
        if ref.table == "survey_invitation":
            out += _invitations(s, t, where)
            continue
        out.append(Section(ref.section, ref.title, _rows(s, table, where)))
    out.append(_conversations(s, t, tid, pid))
    out.append(_answers(s, t, tid, pid))
    out.append(_request_events(s, t, tid, pid))
    return tuple(out)


def _invitations(s: Session, t: Mapping[str, Table], where: Any) -> list[Section]:
    """Invitations to named rounds as they are; to anonymous rounds only which round and
    subject, with the note that answers are not attributable."""
    inv, rnd = t["survey_invitation"], t["survey_round"]
    anonymous = select(rnd.c.id).where(rnd.c.anonymous.is_(True)).scalar_subquery()
    named = _rows(s, inv, and_(where, inv.c.round_id.not_in(anonymous)))
    rounds = s.connection().execute(
        select(
            rnd.c.id.label("round_id"),
            rnd.c.title,
            rnd.c.opens_at,
            rnd.c.closes_at,
            rnd.c.status,
            inv.c.subject_kind,
            inv.c.subject_id,
            inv.c.answered,
        )
        .join(rnd, rnd.c.id == inv.c.round_id)
        .where(where, rnd.c.anonymous.is_(True))
        .order_by(rnd.c.id)
    )
    return [
        Section("survey_invitations", "Healthcheck rounds you were invited to answer", named),
        Section(
            "anonymous_rounds",
            "Anonymous healthcheck rounds you were invited to",
            tuple({k: _plain(v) for k, v in r._mapping.items()} for r in rounds),
            note=ANONYMOUS_NOTE,
        ),
    ]


def _conversations(s: Session, t: Mapping[str, Table], tid: int, pid: int) -> Section:
    ident, conv = t["chat_identity"], t["chat_conversation"]
    theirs = (
        select(ident.c.platform, ident.c.workspace_id, ident.c.user_id)
        .where(ident.c.tenant_id == tid, ident.c.person_id == pid)
        .subquery()
    )
    rows = s.connection().execute(
        select(conv)
        .join(
            theirs,
            and_(
                conv.c.platform == theirs.c.platform,
                conv.c.workspace_id == theirs.c.workspace_id,
                conv.c.user_id == theirs.c.user_id,
            ),
        )
        .where(conv.c.tenant_id == tid, conv.c.kind == "personal")
        .order_by(conv.c.id)
    )
    return Section(
        "chat_conversations", "Your one-to-one chats with the bot", tuple(_row(r) for r in rows)
    )


def _answers(s: Session, t: Mapping[str, Table], tid: int, pid: int) -> Section:
    ans, resp = t["survey_answer"], t["survey_response"]
    rows = s.connection().execute(
        select(ans)
        .join(resp, resp.c.id == ans.c.response_id)
        .where(resp.c.tenant_id == tid, resp.c.respondent_person_id == pid)
        .order_by(resp.c.round_id, ans.c.response_id, ans.c.question_id)
    )
    return Section(
        "survey_answers", "Your answers in named healthcheck rounds", tuple(_row(r) for r in rows)
    )


def _request_events(s: Session, t: Mapping[str, Table], tid: int, pid: int) -> Section:
    req, ev = t["support_request"], t["support_event"]
    mine = (
        select(req.c.id)
        .where(
            req.c.tenant_id == tid,
            or_(req.c.requested_by == pid, req.c.claimed_by_person_id == pid),
        )
        .scalar_subquery()
    )
    return Section(
        "support_request_events",
        "The history of support requests you made or claimed",
        _rows(s, ev, and_(ev.c.tenant_id == tid, ev.c.request_id.in_(mine))),
    )


def _rows(s: Session, table: Table, where: Any) -> tuple[Row, ...]:
    order = list(table.primary_key.columns)
    result = s.connection().execute(select(table).where(where).order_by(*order))
    return tuple(_row(r) for r in result)


def _row(r: Any) -> Row:
    return {k: _plain(v) for k, v in r._mapping.items()}


def _plain(value: Any) -> Any:
    """A stored value as JSON has it: times in ISO 8601 UTC, decimals and ids as text."""
    if isinstance(value, datetime):
        return aware(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def _words(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return "`" + json.dumps(value, ensure_ascii=False) + "`"
    return str(value).replace("\n", " ")
