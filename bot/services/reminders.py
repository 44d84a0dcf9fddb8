"""Reminders: setting them with `/slis remind`, listing and cancelling them, and firing them.

Who may do what:
- anyone linked to the directory may remind themselves;
- LA officers, quadrant chairs and administrators may remind another person;
- LA officers and administrators may remind any role or a channel; a quadrant chair may remind
  a channel, and a role only within their own quadrant(s): `heads` from a chair of one quadrant
  means the heads in that quadrant, and a scope they name (`in <quadrant>`, `of <partnership>`)
  must lie in a quadrant they chair;
- a reminder is cancelled by whoever set it, or, for a role or channel, by an LA officer or
  administrator.

Firing resolves the recipients at that moment (a role means its current holders) and writes one
outbox row per recipient under the key `reminder:<id>:<due>:<person id | channel>`, so firing
the same occurrence twice (a restart, a change of scheduler leader) has one effect. Reminders to
a role or channel are held to the next school-day slot (terms, holidays, quiet hours); a
person's reminder is delivered at the time asked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.ports import Clock
from bot.services import audit, when
from bot.services.outbox import Recipient, enqueue
from bot.services.when import (
    ChannelMention,
    EverySchoolDay,
    Me,
    Once,
    PersonMention,
    PersonName,
    RoleTarget,
    Schedule,
    TermStarts,
    Weekly,
)
from bot.types import (
    Actor,
    Context,
    ConversationRef,
    Paragraph,
    Platform,
    Reply,
    Role,
    ScopeKind,
)
from storage.engine import Database
from storage.models import (
    AllianceQuadrant,
    ChatIdentity,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    RoleAssignment,
    School,
    Tenant,
    aware,
    maybe_aware,
)
from storage.reminder_tables import Reminder

log = logging.getLogger(__name__)

ACTIVE, DONE, CANCELLED = "active", "done", "cancelled"
PERSON, ROLE, CHANNEL = "person", "role", "channel"
ONCE, WEEKLY, SCHOOL_DAY, TERM_START = "once", "weekly", "school_day", "term_start"

# Roles that may set reminders for other people, roles and channels.
CANCEL_ENTRY = authorisation.command("remind cancel")
OTHERS_ENTRY = authorisation.command("remind others")
REMIND_YOURSELF = "You can remind yourself: `/slis remind me tomorrow 9am …`."
MAY_REMIND_OTHERS = frozenset({Role.LA_OFFICER, Role.QUADRANT_CHAIR, Role.ADMINISTRATOR})
# Roles that may remind any role anywhere, and cancel anyone's role or channel reminders.
AUTHORITY_WIDE = frozenset({Role.LA_OFFICER, Role.ADMINISTRATOR})
SHOWN_OCCURRENCES = 3

ROLE_PLURALS: dict[Role, str] = {
    Role.HEAD: "heads",
    Role.STAFF: "school staff",
    Role.PARTNERSHIP_LEAD: "partnership leads",
    Role.QUADRANT_CHAIR: "quadrant chairs",
    Role.ALLIANCE_LEAD: "alliance leads",
    Role.BOARD_MEMBER: "Project Board members",
    Role.LA_OFFICER: "LA officers",
    Role.ASSOCIATION_REP: "association representatives",
    Role.GOVERNOR: "governors",
    Role.ADMINISTRATOR: "administrators",
}
# Which roles can be narrowed to a quadrant or a partnership (and how is in _holders).
SCOPABLE: dict[ScopeKind, frozenset[Role]] = {
    ScopeKind.QUADRANT: frozenset(
        {
            Role.HEAD,
            Role.STAFF,
            Role.GOVERNOR,
            Role.PARTNERSHIP_LEAD,
            Role.QUADRANT_CHAIR,
            Role.ALLIANCE_LEAD,
            Role.LA_OFFICER,
        }
    ),
    ScopeKind.PARTNERSHIP: frozenset({Role.HEAD, Role.STAFF, Role.GOVERNOR, Role.PARTNERSHIP_LEAD}),
}
_SCHOOL_ROLES = frozenset({Role.HEAD, Role.STAFF, Role.GOVERNOR})


class SchoolCalendar(Protocol):
    """What reminders need from a tenant's school calendar (bot.services.calendar)."""

    def is_school_day(self, d: date) -> bool: ...

    def next_slot(self, t: datetime) -> datetime: ...

    def first_school_days_of_terms(self, after: date, count: int) -> list[date]: ...


CalendarFor = Callable[[int], SchoolCalendar]


@dataclass(frozen=True)
class ReminderView:
    """A reminder as people see it."""

    id: int
    text: str
    target: str  # "you", "Alice Hart", "heads in West", "#general"
    schedule: Schedule
    zone: ZoneInfo
    status: str
    next_due: datetime | None
    upcoming: tuple[datetime, ...] = ()
    moves_to_school_slots: bool = False
    nobody_now: bool = False  # a role that nobody holds at the moment

    @property
    def recurring(self) -> bool:
        return not isinstance(self.schedule, Once)


@dataclass(frozen=True)
class CancelOutcome:
    view: ReminderView
    already: bool  # it had finished or been cancelled before


@dataclass(frozen=True)
class ScheduledReminder:
    """What the scheduler needs to (re)build a reminder's job."""

    id: int
    tenant_id: int
    schedule: Schedule
    zone: ZoneInfo
    status: str
    next_due: datetime | None
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True)
class FireOutcome:
    """What one firing did: rows written (0 when repeated), and the next due time."""

    enqueued: int
    recipients: int
    next_due: datetime | None
    skipped: str | None = None  # why nothing was sent, if so


class ReminderService:
    """Reminders within one database; every query is scoped to the actor's tenant."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        calendars: CalendarFor | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._calendars = calendars

    # --- people ------------------------------------------------------------------------------

    def create(self, actor: Actor, args: str) -> ReminderView:
        """Parse `/slis remind <args>`, check the actor may, and store the reminder."""
        tenant_id, person_id = _linked(actor)
        now = self._clock.now()
        with self._db.session() as s:
            zone = _zone(s, tenant_id)
            request = when.parse_request(args, now, zone)
            row = Reminder(
                tenant_id=tenant_id,
                created_by=person_id,
                target_kind=PERSON,
                text=request.text,
                schedule_kind=ONCE,
                timezone=zone.key,
                created_at=now,
                updated_at=now,
            )
            self._set_target(s, actor, request.target, row)
            _set_schedule(row, request.schedule)
            calendar = self._calendar_or_none(tenant_id)
            if _needs_calendar(request.schedule) and calendar is None:
                raise UserError(
                    "I can't follow school days yet: no school calendar is set up here.",
                    hint="Ask your LA administrator to import the term dates.",
                )
            upcoming = when.occurrences(request.schedule, now, zone, calendar, SHOWN_OCCURRENCES)
            if not upcoming:
                raise UserError(
                    "I don't know any school days ahead to remind on.",
                    hint="Ask your LA administrator to import next year's term dates.",
                )
            row.next_due = upcoming[0]
            s.add(row)
            s.flush()
            _audit(s, actor, row, "reminder.create", now)
            view = self._view(s, actor, row, upcoming=tuple(upcoming))
            if row.target_kind == ROLE and not self._holders(s, row):
                view = replace(view, nobody_now=True)
            log.info("reminder %s set by person %s (%s)", row.id, person_id, row.schedule_kind)
            return view

    def mine(self, actor: Actor) -> list[ReminderView]:
        """The actor's own active reminders, soonest first."""
        tenant_id, person_id = _linked(actor)
        with self._db.session() as s:
            rows = s.exec(
                select(Reminder)
                .where(
                    Reminder.tenant_id == tenant_id,
                    Reminder.created_by == person_id,
                    Reminder.status == ACTIVE,
                )
                .order_by(col(Reminder.next_due), col(Reminder.id))
            ).all()
            return [self._view(s, actor, r) for r in rows]

    def cancel(self, actor: Actor, reminder_id: int) -> CancelOutcome:
        """Cancel a reminder: its creator may, and LA officers may for a role or channel."""
        tenant_id, person_id = _linked(actor)
        now = self._clock.now()
        with self._db.session() as s:
            row = s.exec(
                select(Reminder)
                .where(Reminder.id == reminder_id, Reminder.tenant_id == tenant_id)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFound(
                    f"There is no reminder #{reminder_id}.",
                    hint="`/slis reminders` lists yours with their numbers.",
                )
            mine = row.created_by == person_id
            # Officers and administrators cancel others' reminders only to a role or a channel.
            officer = actor.has_any(AUTHORITY_WIDE) and row.target_kind in (ROLE, CHANNEL)
            if not (mine or officer):
                raise authorisation.refusal(CANCEL_ENTRY, f"#{reminder_id}")
            if row.status != ACTIVE:
                return CancelOutcome(self._view(s, actor, row), already=True)
            row.status = CANCELLED
            row.next_due = None
            row.updated_at = now
            s.add(row)
            _audit(s, actor, row, "reminder.cancel", now)
            log.info("reminder %s cancelled by person %s", row.id, person_id)
            return CancelOutcome(self._view(s, actor, row), already=False)

    # --- the scheduler -----------------------------------------------------------------------

    def schedules(self, changed_since: datetime | None = None) -> list[ScheduledReminder]:
        """Every active reminder (at start-up), or every reminder changed since a time."""
        with self._db.session() as s:
            query = select(Reminder)
            if changed_since is None:
                query = query.where(Reminder.status == ACTIVE)
            else:
                query = query.where(col(Reminder.updated_at) >= changed_since)
            return [_scheduled(r) for r in s.exec(query.order_by(col(Reminder.id))).all()]

    def fire(self, reminder_id: int, due: datetime) -> FireOutcome:
        """Send the occurrence due at `due` to the recipients of now, once; advance next_due."""
        due = aware(due)
        now = self._clock.now()
        with self._db.session() as s:
            row = s.exec(
                select(Reminder).where(Reminder.id == reminder_id).with_for_update()
            ).first()
            if row is None or row.status != ACTIVE:
                return FireOutcome(0, 0, None, skipped="not active")
            schedule = _schedule_of(row)
            zone = ZoneInfo(row.timezone)
            calendar = self._calendar_or_none(row.tenant_id)
            skipped: str | None = None
            enqueued = recipients = 0
            local_day = due.astimezone(zone).date()
            if isinstance(schedule, EverySchoolDay) and (
                calendar is None or not calendar.is_school_day(local_day)
            ):
                skipped = "not a school day"
            else:
                enqueued, recipients = self._send(s, row, schedule, due, zone, calendar, now)
                if recipients == 0:
                    skipped = "nobody to remind"
            nxt = self._advance(row, schedule, due, zone, calendar, now)
            s.add(row)
            log.info(
                "reminder %s fired for %s: %d new row(s) for %d recipient(s)%s",
                row.id,
                f"{due:%Y-%m-%dT%H:%M}Z",
                enqueued,
                recipients,
                f" ({skipped})" if skipped else "",
            )
            return FireOutcome(enqueued, recipients, nxt, skipped)

    def resume_waiting(self) -> list[int]:
        """Give a next due time to active reminders that had none because no later term dates
        were known (the first school day of each term); returns the ids that now have one."""
        now = self._clock.now()
        resumed: list[int] = []
        with self._db.session() as s:
            waiting = s.exec(
                select(Reminder).where(
                    Reminder.status == ACTIVE,
                    col(Reminder.next_due).is_(None),
                    Reminder.schedule_kind != ONCE,
                )
            ).all()
            for row in waiting:
                calendar = self._calendar_or_none(row.tenant_id)
                found = when.occurrences(
                    _schedule_of(row), now, ZoneInfo(row.timezone), calendar, 1
                )
                if found and row.id is not None:
                    row.next_due = found[0]
                    row.updated_at = now
                    s.add(row)
                    resumed.append(row.id)
        if resumed:
            log.info("reminders %s have term dates to go on again", resumed)
        return resumed

    def skip_missed(self, reminder_id: int, due: datetime) -> datetime | None:
        """An occurrence missed by more than the grace window: log it, send nothing, move on."""
        due = aware(due)
        now = self._clock.now()
        with self._db.session() as s:
            row = s.exec(
                select(Reminder).where(Reminder.id == reminder_id).with_for_update()
            ).first()
            if row is None or row.status != ACTIVE:
                return None
            zone = ZoneInfo(row.timezone)
            schedule = _schedule_of(row)
            calendar = self._calendar_or_none(row.tenant_id)
            log.warning(
                "reminder %s: skipped the occurrence due %s; it is %s late",
                row.id,
                f"{due:%Y-%m-%dT%H:%M}Z",
                now - due,
            )
            nxt = self._advance(row, schedule, max(due, now), zone, calendar, now)
            s.add(row)
            return nxt

    # --- inside --------------------------------------------------------------------------------

    def _calendar_or_none(self, tenant_id: int) -> SchoolCalendar | None:
        return self._calendars(tenant_id) if self._calendars is not None else None

    def _advance(
        self,
        row: Reminder,
        schedule: Schedule,
        due: datetime,
        zone: ZoneInfo,
        calendar: SchoolCalendar | None,
        now: datetime,
    ) -> datetime | None:
        """Store the next occurrence after `due` (never moving next_due backwards)."""
        last = maybe_aware(row.last_due)
        row.last_due = due if last is None else max(last, due)
        if isinstance(schedule, Once):
            row.status = DONE
            row.next_due = None
        else:
            [*found] = when.occurrences(schedule, due, zone, calendar, 1)
            current = maybe_aware(row.next_due)
            nxt = found[0] if found else None
            if nxt is not None and current is not None and current > nxt:
                nxt = current
            # None: the calendar knows no later term yet. The reminder stays active and
            # waits (see resume_waiting) for the next year's term dates to be imported.
            row.next_due = nxt
        row.updated_at = now
        return row.next_due

    def _send(
        self,
        s: Session,
        row: Reminder,
        schedule: Schedule,
        due: datetime,
        zone: ZoneInfo,
        calendar: SchoolCalendar | None,
        now: datetime,
    ) -> tuple[int, int]:
        assert row.id is not None
        not_before = due
        if row.respect_school_calendar and calendar is not None:
            not_before = aware(calendar.next_slot(due))
        reply = self._message(s, row, schedule, zone)
        stamp = f"reminder:{row.id}:{due.astimezone(UTC):%Y-%m-%dT%H:%M}"
        targets: list[tuple[str, Recipient]] = []
        if row.target_kind == CHANNEL:
            assert row.target_conversation_id is not None
            conversation = ConversationRef(
                Platform(row.target_platform or Platform.SLACK.value),
                row.target_workspace_id or "",
                row.target_conversation_id,
            )
            targets.append(("channel", Recipient(conversation=conversation)))
        else:
            for person_id in self._holders(s, row):
                targets.append((str(person_id), Recipient(person_id=person_id)))
        written = 0
        for suffix, to in targets:
            if enqueue(
                s,
                tenant_id=row.tenant_id,
                key=f"{stamp}:{suffix}",
                to=to,
                reply=reply,
                not_before=not_before,
                now=now,
            ):
                written += 1
        return written, len(targets)

    def _message(self, s: Session, row: Reminder, schedule: Schedule, zone: ZoneInfo) -> Reply:
        creator = s.get(Person, row.created_by)
        who = creator.name if creator is not None else "someone"
        to = ""
        if row.target_kind == ROLE:
            to = f" to {self._describe_target(s, row, None)}"
        elif row.target_kind == PERSON and row.target_person_id != row.created_by:
            to = " for you"
        note = f"Set by {who}{to} with /slis remind · {when.describe(schedule, zone)}"
        if row.target_kind == PERSON and row.target_person_id == row.created_by:
            note = f"You set this with /slis remind · {when.describe(schedule, zone)}"
        return Reply(
            f"Reminder: {row.text}",
            (Paragraph(f"*Reminder:* {row.text}"), Context(note)),
            private=False,
        )

    def _holders(self, s: Session, row: Reminder) -> list[int]:
        """The people a person or role reminder goes to, as of now."""
        if row.target_kind == PERSON:
            return [row.target_person_id] if row.target_person_id is not None else []
        if row.target_kind != ROLE or row.target_role is None:
            return []
        scope = ScopeKind(row.target_scope_kind) if row.target_scope_kind else None
        return role_holders(s, row.tenant_id, Role(row.target_role), scope, row.target_scope_id)

    def _set_target(self, s: Session, actor: Actor, target: when.Target, row: Reminder) -> None:
        assert actor.person_id is not None and actor.tenant_id is not None
        tenant_id = actor.tenant_id
        match target:
            case Me():
                row.target_kind, row.target_person_id = PERSON, actor.person_id
            case PersonMention(user_id=user_id):
                person_id = _person_by_chat(s, actor, user_id)
                self._check_person(actor, person_id)
                row.target_kind, row.target_person_id = PERSON, person_id
            case PersonName(name=name):
                person_id = _person_by_name(s, tenant_id, name)
                self._check_person(actor, person_id)
                row.target_kind, row.target_person_id = PERSON, person_id
            case ChannelMention(channel_id=channel_id, name=name):
                _check_group(actor, "a channel")
                row.target_kind = CHANNEL
                row.target_platform = actor.chat.platform.value
                row.target_workspace_id = actor.chat.workspace_id
                row.target_conversation_id = channel_id
                row.target_label = name
                row.respect_school_calendar = True
            case RoleTarget():
                _check_group(actor, ROLE_PLURALS[target.role])
                kind, scope_id = _role_scope(s, actor, target)
                row.target_kind = ROLE
                row.target_role = target.role.value
                row.target_scope_kind = kind.value if kind else None
                row.target_scope_id = scope_id
                row.respect_school_calendar = True

    def _check_person(self, actor: Actor, person_id: int) -> None:
        if person_id == actor.person_id:
            return
        if not actor.has_any(MAY_REMIND_OTHERS):
            raise authorisation.refusal(OTHERS_ENTRY, hint=REMIND_YOURSELF)

    def _view(
        self,
        s: Session,
        actor: Actor,
        row: Reminder,
        upcoming: tuple[datetime, ...] | None = None,
    ) -> ReminderView:
        assert row.id is not None
        schedule = _schedule_of(row)
        zone = ZoneInfo(row.timezone)
        next_due = maybe_aware(row.next_due)
        if upcoming is None:
            upcoming = (next_due,) if next_due is not None else ()
        return ReminderView(
            id=row.id,
            text=row.text,
            target=self._describe_target(s, row, actor),
            schedule=schedule,
            zone=zone,
            status=row.status,
            next_due=next_due,
            upcoming=upcoming,
            moves_to_school_slots=row.respect_school_calendar,
        )

    def _describe_target(self, s: Session, row: Reminder, actor: Actor | None) -> str:
        if row.target_kind == PERSON:
            if actor is not None and row.target_person_id == actor.person_id:
                return "you"
            person = s.get(Person, row.target_person_id) if row.target_person_id else None
            return person.name if person is not None else "someone no longer in the directory"
        if row.target_kind == CHANNEL:
            return f"#{row.target_label}" if row.target_label else "the channel"
        role = Role(row.target_role or Role.HEAD.value)
        text = ROLE_PLURALS[role]
        if row.target_scope_kind == ScopeKind.QUADRANT.value:
            quadrant = s.get(Quadrant, row.target_scope_id)
            return f"{text} in {quadrant.name if quadrant else 'a former quadrant'}"
        if row.target_scope_kind == ScopeKind.PARTNERSHIP.value:
            partnership = s.get(Partnership, row.target_scope_id)
            return f"{text} of {partnership.name if partnership else 'a former partnership'}"
        return f"all {text}"


def _audit(s: Session, actor: Actor, row: Reminder, action: str, now: datetime) -> None:
    """Audit a reminder set for, or cancelled from, anyone but the actor alone; a person's
    reminders to themselves are their own business."""
    own = row.target_kind == PERSON and row.target_person_id == row.created_by
    if own and row.created_by == actor.person_id:
        return
    audit.record(
        s,
        tenant_id=row.tenant_id,
        at=now,
        action=action,
        subject=f"reminder {row.id}",
        actor=actor,
        about_person_id=row.target_person_id if row.target_kind == PERSON else None,
        detail={"target": row.target_kind, "schedule": row.schedule_kind},
    )


def _linked(actor: Actor) -> tuple[int, int]:
    if actor.tenant_id is None or actor.person_id is None:
        raise UserError("I need to know who you are in the directory first; try `/slis whoami`.")
    return actor.tenant_id, actor.person_id


def _zone(s: Session, tenant_id: int) -> ZoneInfo:
    tenant = s.get(Tenant, tenant_id)
    return ZoneInfo(tenant.timezone if tenant is not None else "Europe/London")


def _needs_calendar(schedule: Schedule) -> bool:
    return isinstance(schedule, EverySchoolDay | TermStarts)


def _check_group(actor: Actor, what: str) -> None:
    if not actor.has_any(MAY_REMIND_OTHERS):
        raise authorisation.refusal(OTHERS_ENTRY, what, hint=REMIND_YOURSELF)


def _chaired(actor: Actor) -> set[int]:
    return {
        g.scope_id for g in actor.grants if g.role is Role.QUADRANT_CHAIR and g.scope_id is not None
    }


def _role_scope(
    s: Session, actor: Actor, target: RoleTarget
) -> tuple[ScopeKind | None, int | None]:
    """The scope a role reminder is narrowed to, checked against the actor's authority."""
    assert actor.tenant_id is not None
    wide = actor.has_any(AUTHORITY_WIDE)
    label = ROLE_PLURALS[target.role]
    kind: ScopeKind | None = None
    scope_id: int | None = None
    quadrant_of_scope: int | None = None
    if target.scope:
        kind, scope_id, quadrant_of_scope = _find_scope(s, actor.tenant_id, target.scope)
        if target.role not in SCOPABLE[kind]:
            raise UserError(
                f"{label.capitalize()} aren't tied to a {kind.value}; leave out"
                f" “{target.scope_word} {target.scope}”.",
            )
    if wide:
        return kind, scope_id
    chaired = _chaired(actor)
    if kind is None:
        if target.role not in SCOPABLE[ScopeKind.QUADRANT]:
            raise authorisation.refusal(OTHERS_ENTRY, label, hint=REMIND_YOURSELF)
        if len(chaired) != 1:
            raise UserError(
                "You chair more than one quadrant: say which, e.g. "
                f"`/slis remind {label} in <quadrant> …`."
            )
        return ScopeKind.QUADRANT, next(iter(chaired))
    if quadrant_of_scope not in chaired:
        raise authorisation.refusal(OTHERS_ENTRY, target.scope, hint=REMIND_YOURSELF)
    return kind, scope_id


def _find_scope(s: Session, tenant_id: int, name: str) -> tuple[ScopeKind, int, int | None]:
    """A quadrant or partnership by name: (kind, id, the quadrant it lies in)."""
    quadrants = _by_name(s, Quadrant, tenant_id, name)
    if len(quadrants) == 1 and quadrants[0].id is not None:
        return ScopeKind.QUADRANT, quadrants[0].id, quadrants[0].id
    partnerships = _by_name(s, Partnership, tenant_id, name)
    if not quadrants and len(partnerships) == 1 and partnerships[0].id is not None:
        return ScopeKind.PARTNERSHIP, partnerships[0].id, partnerships[0].quadrant_id
    found = [q.name for q in quadrants] + [p.name for p in partnerships]
    if not found:
        raise NotFound(
            f"No quadrant or partnership called “{name}”.",
            hint="e.g. `heads in West` or `partnership leads of Colne Valley Partnership`.",
        )
    raise UserError(f"“{name}” could be {', '.join(found[:6])}. Which one?")


QP = TypeVar("QP", Quadrant, Partnership)


def _by_name(s: Session, table: type[QP], tenant_id: int, name: str) -> Sequence[QP]:
    lowered = name.strip().lower()
    exact = s.exec(
        select(table).where(table.tenant_id == tenant_id, func.lower(table.name) == lowered)
    ).all()
    if exact:
        return exact
    escaped = lowered.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return s.exec(
        select(table).where(
            table.tenant_id == tenant_id,
            col(table.name).ilike(f"%{escaped}%", escape="\\"),
        )
    ).all()


def _person_by_chat(s: Session, actor: Actor, user_id: str) -> int:
    assert actor.tenant_id is not None
    person_id = s.exec(
        select(ChatIdentity.person_id).where(
            ChatIdentity.tenant_id == actor.tenant_id,
            ChatIdentity.platform == actor.chat.platform.value,
            ChatIdentity.workspace_id == actor.chat.workspace_id,
            ChatIdentity.user_id == user_id,
        )
    ).first()
    if person_id is None:
        raise NotFound(
            "I don't know that person in the directory yet.",
            hint="They can type `/slis whoami` once to be matched by their e-mail, or your LA"
            " administrator can add them.",
        )
    return person_id


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _person_by_name(s: Session, tenant_id: int, name: str) -> int:
    """A person typed as @name: their full name or e-mail name without spaces or dots."""
    wanted = _squash(name)
    people = s.exec(
        select(Person.id, Person.name, Person.email).where(Person.tenant_id == tenant_id)
    )
    matches = {
        pid
        for pid, full, email in people
        if pid is not None and wanted in (_squash(full), _squash(email.partition("@")[0]))
    }
    if len(matches) != 1:
        raise NotFound(
            f"I can't tell who @{name} is.",
            hint="Pick the person from Slack's list as you type `@`, or write their full name"
            " without spaces (e.g. @alice.hart).",
        )
    return matches.pop()


def role_holders(
    s: Session, tenant_id: int, role: Role, scope: ScopeKind | None, scope_id: int | None
) -> list[int]:
    """The people holding `role` now, within a quadrant or partnership if given."""
    base = select(RoleAssignment.person_id).where(
        RoleAssignment.tenant_id == tenant_id, RoleAssignment.role == role.value
    )
    if scope is None or scope_id is None:
        query = base
    elif scope is ScopeKind.PARTNERSHIP:
        if role in _SCHOOL_ROLES:
            schools = select(PartnershipMembership.school_id).where(
                PartnershipMembership.partnership_id == scope_id
            )
            query = base.where(
                RoleAssignment.scope_kind == ScopeKind.SCHOOL.value,
                col(RoleAssignment.scope_id).in_(schools),
            )
        else:
            query = base.where(
                RoleAssignment.scope_kind == ScopeKind.PARTNERSHIP.value,
                RoleAssignment.scope_id == scope_id,
            )
    elif role in _SCHOOL_ROLES:
        in_quadrant = select(col(School.id)).where(
            School.tenant_id == tenant_id, School.quadrant_id == scope_id
        )
        query = base.where(
            RoleAssignment.scope_kind == ScopeKind.SCHOOL.value,
            col(RoleAssignment.scope_id).in_(in_quadrant),
        )
    elif role is Role.PARTNERSHIP_LEAD:
        partnerships = select(Partnership.id).where(
            Partnership.tenant_id == tenant_id, Partnership.quadrant_id == scope_id
        )
        query = base.where(
            RoleAssignment.scope_kind == ScopeKind.PARTNERSHIP.value,
            col(RoleAssignment.scope_id).in_(partnerships),
        )
    elif role is Role.ALLIANCE_LEAD:
        alliances = select(AllianceQuadrant.alliance_id).where(
            AllianceQuadrant.tenant_id == tenant_id, AllianceQuadrant.quadrant_id == scope_id
        )
        query = base.where(
            RoleAssignment.scope_kind == ScopeKind.ALLIANCE.value,
            col(RoleAssignment.scope_id).in_(alliances),
        )
    else:  # quadrant chairs and LA officers of that quadrant
        query = base.where(
            RoleAssignment.scope_kind == ScopeKind.QUADRANT.value,
            RoleAssignment.scope_id == scope_id,
        )
    return sorted(set(s.exec(query).all()))


def _set_schedule(row: Reminder, schedule: Schedule) -> None:
    match schedule:
        case Once(at=at):
            row.schedule_kind, row.at = ONCE, at.astimezone(UTC)
        case Weekly(weekdays=days, at=t):
            row.schedule_kind, row.local_time = WEEKLY, t
            row.weekdays = ",".join(when.WEEKDAY_CODES[d] for d in sorted(days))
        case EverySchoolDay(at=t):
            row.schedule_kind, row.local_time = SCHOOL_DAY, t
        case TermStarts(at=t):
            row.schedule_kind, row.local_time = TERM_START, t


def _schedule_of(row: Reminder) -> Schedule:
    at: time = row.local_time or when.DEFAULT_TIME
    match row.schedule_kind:
        case "once":
            assert row.at is not None
            return Once(aware(row.at))
        case "weekly":
            codes = (row.weekdays or "").split(",")
            return Weekly(tuple(when.WEEKDAY_CODES.index(c) for c in codes if c), at)
        case "school_day":
            return EverySchoolDay(at)
        case "term_start":
            return TermStarts(at)
    raise ValueError(f"reminder {row.id}: unknown schedule kind {row.schedule_kind!r}")


def _scheduled(row: Reminder) -> ScheduledReminder:
    assert row.id is not None
    return ScheduledReminder(
        id=row.id,
        tenant_id=row.tenant_id,
        schedule=_schedule_of(row),
        zone=ZoneInfo(row.timezone),
        status=row.status,
        next_due=maybe_aware(row.next_due),
        updated_at=aware(row.updated_at),
    )


__all__ = [
    "ACTIVE",
    "CANCELLED",
    "DONE",
    "CancelOutcome",
    "FireOutcome",
    "ReminderService",
    "ReminderView",
    "ScheduledReminder",
    "role_holders",
]
