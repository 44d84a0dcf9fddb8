"""The audit log: who did what, when and from where, for every administrative and
state-changing action.

A service records an entry in the same session (so the same transaction) as the change it
describes, with `record`; nothing is audited that the change did not commit. Entries name
people by person id only and keep in `detail` only facts that are not personal data, so an
erasure leaves them intact and anonymous. Never record an anonymous survey answer: an audit
row written with it would tie the person to the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.errors import NotFound, UserError
from bot.ports import Clock
from bot.services.people import find_person
from bot.types import Actor, Platform
from storage.engine import Database
from storage.models import Person, Tenant, aware
from storage.privacy_tables import AuditEntry

# Where an action came from when no chat user did it.
COMMAND_LINE = "cli"
SYSTEM = "system"

# What each action means, for listings; an action not named here is shown as it is stored.
ACTIONS: Mapping[str, str] = {
    "healthcheck.launch": "launched a healthcheck round",
    "healthcheck.close": "closed a healthcheck round",
    "support.submit": "asked for support",
    "support.offer": "offered a support request to alliances",
    "support.escalate": "escalated a support request",
    "support.claim": "claimed a support request",
    "support.assign": "assigned a support request",
    "support.decline": "declined a support request",
    "support.question": "asked the school about a support request",
    "support.reply": "replied about a support request",
    "support.propose": "proposed days and cost for a support request",
    "support.accept": "accepted a support proposal",
    "support.ask_changes": "asked for changes to a support proposal",
    "support.start": "started delivering support",
    "support.deliver": "marked support delivered",
    "support.close": "closed a support request",
    "support.withdraw": "withdrew a support request",
    "meeting.create": "proposed a meeting",
    "meeting.book": "booked a meeting",
    "meeting.change": "changed a meeting",
    "meeting.cancel": "cancelled a meeting",
    "meeting.poll_close": "closed a meeting's poll",
    "meeting.minutes": "sent a meeting's minutes",
    "meeting.agenda_order": "ordered a meeting's agenda",
    "reminder.create": "set a reminder for others",
    "reminder.cancel": "cancelled a reminder for others",
    "directory.import": "imported the directory",
    "directory.import_schools": "imported schools",
    "calendar.import": "imported the school calendar",
    "privacy.export": "exported a person's data",
    "privacy.erase": "erased a person",
    "privacy.retention_purge": "purged records past their retention period",
    "workspace.uninstalled": "a workspace uninstalled the app",
    "workspace.reinstalled": "a workspace installed the app again",
    "audit.view": "viewed the audit log",
}


def record(
    session: Session,
    *,
    tenant_id: int,
    at: datetime,
    action: str,
    subject: str = "",
    actor: Actor | None = None,
    platform: str | None = None,
    about_person_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add an audit entry to `session`, to commit with the change it describes.

    `actor`: the chat user who acted (their platform is recorded); without one, `platform`
    says where the action came from (`COMMAND_LINE` or `SYSTEM`)."""
    if actor is not None:
        where = actor.chat.platform.value
        person_id = actor.person_id
    else:
        where = platform or SYSTEM
        person_id = None
    session.add(
        AuditEntry(
            tenant_id=tenant_id,
            at=at,
            platform=where,
            actor_person_id=person_id,
            action=action,
            subject=subject[:200],
            about_person_id=about_person_id,
            detail=dict(detail or {}),
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list; every field narrows the listing."""

    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None  # an action, or a prefix ending in "." (e.g. "support.")
    person_id: int | None = None  # who acted, or whom it was about
    platform: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class AuditView:
    """An entry as listed: the actor's name as the directory has it now."""

    id: int
    at: datetime
    platform: str
    actor: str
    action: str
    meaning: str
    subject: str
    about: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class AuditQuery:
    """A listing as asked for in words, before the person named in it is looked up."""

    since: date | None = None
    until: date | None = None  # the last day listed
    action: str | None = None
    person: str | None = None  # an e-mail address or a person id
    platform: str | None = None
    limit: int = 50

    def described(self) -> str:
        """The filters in words, for the heading of a listing ("" for none)."""
        parts = []
        if self.action:
            parts.append(
                self.action.removesuffix(".") + (" (all)" if self.action.endswith(".") else "")
            )
        if self.since:
            parts.append(f"since {self.since.isoformat()}")
        if self.until:
            parts.append(f"until {self.until.isoformat()}")
        if self.person:
            parts.append(f"person {self.person}")
        if self.platform:
            parts.append(f"from {self.platform}")
        return ", ".join(parts)


@dataclass(frozen=True)
class AuditListing:
    """What a reading of the log found: the entries, newest first, and what was asked."""

    query: AuditQuery
    entries: tuple[AuditView, ...]
    zone: ZoneInfo
    more: bool  # the limit cut the listing short


ZONE = ZoneInfo("Europe/London")
PLATFORMS = (*(p.value for p in Platform), "sandbox", COMMAND_LINE, SYSTEM)
FAMILIES = tuple(sorted({a.partition(".")[0] for a in ACTIONS}))
MAX_LIMIT = 1000
USAGE = (
    "audit [support|meeting.create|…] [since YYYY-MM-DD] [until YYYY-MM-DD]"
    " [person <e-mail or id>] [platform slack|teams|cli|system] [limit N]"
)


def action_filter(word: str) -> str:
    """An action or a family of actions as stored ("support" -> "support."), or UserError."""
    wanted = word.strip().lower()
    if wanted in ACTIONS or (wanted.endswith(".") and wanted[:-1] in FAMILIES):
        return wanted
    if wanted in FAMILIES:
        return wanted + "."
    raise UserError(
        f"I don't know the action “{word}”.",
        hint="Give a kind of action (" + ", ".join(FAMILIES) + ") or one action, e.g."
        " `meeting.create`, `support.claim`.",
    )


def platform_filter(word: str) -> str:
    """A platform as stored, or UserError."""
    wanted = word.strip().lower()
    if wanted not in PLATFORMS:
        raise UserError(
            f"I don't know the platform “{word}”.", hint="Give one of " + ", ".join(PLATFORMS) + "."
        )
    return wanted


def day(word: str) -> date:
    """A date written YYYY-MM-DD, or UserError."""
    try:
        return date.fromisoformat(word.strip())
    except ValueError:
        raise UserError(
            f"“{word}” is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01."
        ) from None


def limit(word: str) -> int:
    """How many entries to list, 1 to MAX_LIMIT, or UserError."""
    text = word.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise UserError(f"The limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(text)


_KEYWORDS = ("since", "until", "person", "platform", "limit")


def parse_query(text: str, *, default_limit: int = 50) -> AuditQuery:
    """The filters of `/slis audit <text>`: words in any order, e.g. `support since
    2026-11-01 person ada@school.example`; UserError for a word it can't take."""
    words = text.split()
    query = AuditQuery(limit=default_limit)
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word in _KEYWORDS:
            if i + 1 >= len(words):
                raise UserError(f"`{word}` needs a value after it.")
            value = words[i + 1]
            i += 2
            if word == "since":
                query = replace(query, since=day(value))
            elif word == "until":
                query = replace(query, until=day(value))
            elif word == "person":
                query = replace(query, person=value)
            elif word == "platform":
                query = replace(query, platform=platform_filter(value))
            else:
                query = replace(query, limit=limit(value))
            continue
        if word in PLATFORMS and word not in FAMILIES:
            query = replace(query, platform=word)
        elif query.action is None:
            query = replace(query, action=action_filter(word))
        else:
            raise UserError(f"Only one kind of action at a time: “{words[i]}” is one too many.")
        i += 1
    if query.since and query.until and query.until < query.since:
        raise UserError("The `until` date is before the `since` date.")
    return query


def start_of(d: date, zone: ZoneInfo) -> datetime:
    """The first instant of the day `d` in `zone`, in UTC."""
    return datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)


class AuditLog:
    """Reads the audit log of one local authority."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def tenant_of(self, la_code: int) -> int:
        """The tenant id of a local authority, or NotFound."""
        with self._db.session() as s:
            tenant_id = s.exec(select(Tenant.id).where(Tenant.la_code == la_code)).first()
        if tenant_id is None:
            raise NotFound(f"There is no local authority with LA code {la_code}.")
        return tenant_id

    def read(
        self,
        tenant_id: int,
        query: AuditQuery,
        *,
        actor: Actor | None = None,
        platform: str = COMMAND_LINE,
    ) -> AuditListing:
        """The entries `query` asks for, newest first; the reading is itself recorded
        (`audit.view`, by `actor` or from `platform`), after the entries are read."""
        zone = ZONE
        wanted = AuditFilter(
            since=None if query.since is None else start_of(query.since, zone),
            until=None if query.until is None else start_of(query.until + timedelta(days=1), zone),
            action=query.action,
            person_id=None if query.person is None else self.person_id(tenant_id, query.person),
            platform=query.platform,
            limit=query.limit + 1,
        )
        found = self.entries(tenant_id, wanted)
        with self._db.session() as s:
            record(
                s,
                tenant_id=tenant_id,
                at=self._clock.now(),
                action="audit.view",
                actor=actor,
                platform=platform,
                about_person_id=wanted.person_id,
                detail={
                    "action": query.action,
                    "since": None if query.since is None else query.since.isoformat(),
                    "until": None if query.until is None else query.until.isoformat(),
                    "platform": query.platform,
                    "shown": min(len(found), query.limit),
                },
            )
        return AuditListing(query, tuple(found[: query.limit]), zone, len(found) > query.limit)

    def person_id(self, tenant_id: int, who: str) -> int:
        """The id of the person named by an e-mail address or a person id, in this local
        authority only; NotFound otherwise (saying nothing about other authorities)."""
        with self._db.session() as s:
            found = find_person(s, tenant_id, who, directory="this directory")
        assert found.id is not None
        return found.id

    def entries(self, tenant_id: int, wanted: AuditFilter = AuditFilter()) -> list[AuditView]:
        """The newest entries first, at most `wanted.limit`."""
        with self._db.session() as s:
            query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
            if wanted.since is not None:
                query = query.where(col(AuditEntry.at) >= wanted.since)
            if wanted.until is not None:
                query = query.where(col(AuditEntry.at) < wanted.until)
            if wanted.action:
                if wanted.action.endswith("."):
                    query = query.where(col(AuditEntry.action).startswith(wanted.action))
                else:
                    query = query.where(AuditEntry.action == wanted.action)
            if wanted.person_id is not None:
                query = query.where(
                    (AuditEntry.actor_person_id == wanted.person_id)
                    | (AuditEntry.about_person_id == wanted.person_id)
                )
            if wanted.platform:
                query = query.where(AuditEntry.platform == wanted.platform)
            query = query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
            rows = s.exec(query.limit(max(1, wanted.limit))).all()
            ids = {r.actor_person_id for r in rows} | {r.about_person_id for r in rows}
            names = _names(s, tenant_id, {i for i in ids if i is not None})
        return [
            AuditView(
                id=r.id or 0,
                at=aware(r.at),
                platform=r.platform,
                actor=_who(r, names),
                action=r.action,
                meaning=ACTIONS.get(r.action, r.action),
                subject=r.subject,
                about=None if r.about_person_id is None else names.get(r.about_person_id),
                detail=r.detail,
            )
            for r in rows
        ]


def _names(s: Session, tenant_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    people = s.exec(
        select(Person.id, Person.name).where(Person.tenant_id == tenant_id, col(Person.id).in_(ids))
    ).all()
    return {pid: name for pid, name in people if pid is not None}


def _who(entry: AuditEntry, names: Mapping[int, str]) -> str:
    if entry.actor_person_id is not None:
        return names.get(entry.actor_person_id, f"person {entry.actor_person_id}")
    return {COMMAND_LINE: "the command line", SYSTEM: "the bot"}.get(entry.platform, entry.platform)
