"""Retention: how long each kind of record is kept, and the purge that removes what is past it.

Each kind has a default period; a local authority may set its own in its directory file
(`tenant: {retention: {named_survey_answers: 5y}}`), stored in `retention_period`. Seen-request
keys belong to no local authority: their period is the deployment's. The kinds, their defaults
and the shortest periods allowed are in bot/services/retention_rules.py.

The rules (README "Retention" says the same in words):
- a record's *age* is measured from one time of its own (below); it is due when that time is at
  or before the cut-off, `now` minus the period: a record exactly at the limit is due;
- a year is 365 days; periods are whole days;
- `named_survey_answers`: once a round has been closed for the period, its named responses with
  their answers, and its invitations (who was asked, and whether they answered), of named and
  anonymous rounds alike. Anonymous answers are not personal data (nothing ties them to anyone)
  and stay, so trends across rounds keep them;
- `closed_support_requests`: a request in a final state (closed or withdrawn) since the period,
  counted from `closed_at` (a withdrawn request has none: from its last change), with its offers
  and history;
- `outbox_messages`: messages sent or failed, counted from when they were queued. A message still
  to go (pending, in flight) is never purged, nor one whose key an unsent message edits or
  replies to;
- `finished_reminders`: done and cancelled reminders, counted from their last change;
- `audit_entries`: counted from when the action happened;
- `past_meetings`: meetings held (counted from their end) or cancelled (from their last change),
  with their slots, invitees, votes, agenda and actions; a meeting is kept while one of its
  actions is still open, or while its cancellation has not gone out;
- `seen_request_keys`: counted from when the request was first seen (its key stops a retried
  delivery from acting twice; it must outlive the platforms' retries).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, update
from sqlmodel import Session, col, select

from bot.ports import Clock
from bot.services import audit
from bot.services.inbound import SEEN_FOR
from bot.services.meetings.common import State as MeetingState
from bot.services.outbox import FAILED, IN_FLIGHT, PENDING, SENT
from bot.services.reminders import CANCELLED, DONE
from bot.services.retention_rules import (
    RULES,
    TENANT_KINDS,
    RecordKind,
    check_period,
    describe,
)
from bot.services.support.lifecycle import TERMINAL
from storage.engine import Database
from storage.inbound_tables import SeenRequest
from storage.meeting_tables import (
    Meeting,
    MeetingAction,
    MeetingAgendaItem,
    MeetingInvitee,
    MeetingSlot,
    MeetingVote,
)
from storage.models import Tenant
from storage.outbox_tables import OutboxMessage
from storage.privacy_tables import AuditEntry, RetentionPeriod
from storage.reminder_tables import Reminder
from storage.support_tables import SupportEvent, SupportOffer, SupportRequest
from storage.survey_tables import (
    SurveyAnswer,
    SurveyDraft,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
)

PURGE_ACTION = "privacy.retention_purge"
_CHUNK = 500  # ids per DELETE, well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Period:
    """How long one kind is kept, and whether the local authority chose it."""

    keep_days: int
    overridden: bool = False


@dataclass(frozen=True)
class KindDue:
    """One kind of one tenant: its period, the cut-off and what is (or was) due.

    `count` counts the kind's own records; `also` the rows that go with them, by table."""

    kind: RecordKind
    period: Period
    cutoff: datetime
    count: int
    also: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantDue:
    """What is due for one local authority, or (`la_code` None) for the deployment."""

    la_code: int | None
    name: str
    kinds: tuple[KindDue, ...]

    @property
    def total(self) -> int:
        return sum(k.count + sum(k.also.values()) for k in self.kinds)


@dataclass(frozen=True)
class RetentionReport:
    """What a dry run found due, or what a purge removed, at `at`."""

    at: datetime
    purged: bool
    tenants: tuple[TenantDue, ...]

    def lines(self) -> list[str]:
        """The report as lines for the command line (times in UTC)."""
        verb = "purged" if self.purged else "due"
        out = [
            f"Retention at {self.at:%Y-%m-%d %H:%M} UTC ({'purge' if self.purged else 'dry run'}):"
        ]
        if not self.tenants:
            out.append("  no local authorities")
        for tenant in self.tenants:
            head = (
                "deployment" if tenant.la_code is None else f"{tenant.name} (LA {tenant.la_code})"
            )
            out.append(f"{head}:")
            for k in tenant.kinds:
                own = ""
                if k.period.overridden:
                    own = (
                        " (set for the deployment)"
                        if tenant.la_code is None
                        else " (set by the LA)"
                    )
                rule = RULES[k.kind]
                also = "".join(f", {n} {table}" for table, n in sorted(k.also.items()) if n)
                out.append(
                    f"  {k.kind.value}: keep {describe(k.period.keep_days)}{own};"
                    f" cut-off {k.cutoff:%Y-%m-%d %H:%M}; {verb} {k.count} {rule.counted}{also}"
                )
        return out


class RetentionService:
    """Finds the records past their retention period and purges them."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        seen_request_keys_days: int | None = None,
        platform: str = audit.SYSTEM,
    ) -> None:
        self._db = db
        self._clock = clock
        self._seen_days = check_period(
            RecordKind.SEEN_REQUEST_KEYS,
            seen_request_keys_days or RULES[RecordKind.SEEN_REQUEST_KEYS].default_days,
        )
        self._platform = platform

    def policy(self, tenant_id: int) -> dict[RecordKind, Period]:
        """The tenant's period for each of its kinds: its own where set, else the default."""
        with self._db.session() as s:
            return _policy(s, tenant_id)

    def due(self, now: datetime, *, la_code: int | None = None) -> RetentionReport:
        """What a purge at `now` would remove; changes nothing."""
        return self._run(now, la_code, purge=False)

    def purge(self, now: datetime, *, la_code: int | None = None) -> RetentionReport:
        """Remove what is due at `now`: one transaction per tenant (and one for the keys), each
        audited with its counts when it removed anything. Running it again removes nothing."""
        return self._run(now, la_code, purge=True)

    def _run(self, now: datetime, la_code: int | None, *, purge: bool) -> RetentionReport:
        with self._db.session() as s:
            query = select(Tenant).order_by(col(Tenant.la_code))
            if la_code is not None:
                query = query.where(Tenant.la_code == la_code)
            tenants = [(t.id, t.la_code, t.name) for t in s.exec(query).all() if t.id is not None]
        found = [self._tenant(tid, code, name, now, purge) for tid, code, name in tenants]
        if la_code is None:
            found.append(self._keys(now, purge))
        return RetentionReport(now, purge, tuple(found))

    def _tenant(
        self, tenant_id: int, la_code: int, name: str, now: datetime, purge: bool
    ) -> TenantDue:
        with self._db.session() as s:
            policy = _policy(s, tenant_id)
            kinds = tuple(
                _KINDS[kind](s, tenant_id, now - timedelta(days=policy[kind].keep_days), purge).due(
                    kind, policy[kind]
                )
                for kind in TENANT_KINDS
            )
            if purge and any(k.count or k.also for k in kinds):
                audit.record(
                    s,
                    tenant_id=tenant_id,
                    at=now,
                    action=PURGE_ACTION,
                    subject="retention purge",
                    platform=self._platform,
                    detail={
                        k.kind.value: {"count": k.count, **k.also}
                        for k in kinds
                        if k.count or k.also
                    },
                )
        return TenantDue(la_code, name, kinds)

    def _keys(self, now: datetime, purge: bool) -> TenantDue:
        cutoff = now - timedelta(days=self._seen_days)
        # A key stores when it stops guarding (first seen + SEEN_FOR), not when it was seen.
        where = col(SeenRequest.expires_at) <= cutoff + SEEN_FOR
        with self._db.session() as s:
            if purge:
                count = int(s.exec(delete(SeenRequest).where(where)).rowcount or 0)
            else:
                count = _count(s, SeenRequest, where)
        default = RULES[RecordKind.SEEN_REQUEST_KEYS].default_days
        period = Period(self._seen_days, overridden=self._seen_days != default)
        kind = KindDue(RecordKind.SEEN_REQUEST_KEYS, period, cutoff, count)
        return TenantDue(None, "deployment", (kind,))


def _policy(s: Session, tenant_id: int) -> dict[RecordKind, Period]:
    own = {
        row.record_kind: row.keep_days
        for row in s.exec(select(RetentionPeriod).where(RetentionPeriod.tenant_id == tenant_id))
    }
    return {
        kind: Period(own[kind.value], True)
        if kind.value in own
        else Period(RULES[kind].default_days)
        for kind in TENANT_KINDS
    }


def _count(s: Session, table: Any, where: ColumnElement[bool]) -> int:
    return int(s.exec(select(func.count()).select_from(table).where(where)).one())


def _chunks(ids: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class _Purge(ABC):
    """One kind's rows for one tenant at one cut-off: counted, and deleted when `purge`.
    Each kind's subclass says in `run` which rows are due."""

    def __init__(self, s: Session, tenant_id: int, cutoff: datetime, purge: bool) -> None:
        self.s = s
        self.tenant_id = tenant_id
        self.cutoff = cutoff
        self.purge = purge
        self.also: dict[str, int] = {}

    def due(self, kind: RecordKind, period: Period) -> KindDue:
        count = self.run()
        return KindDue(kind, period, self.cutoff, count, {k: n for k, n in self.also.items() if n})

    @abstractmethod
    def run(self) -> int:
        """Remove (or, on a dry run, count) this kind's due rows; how many."""

    def remove(self, table: Any, key: Any, ids: Sequence[Any], where: Any = None) -> int:
        """Delete the rows of `table` whose `key` is in `ids` (and that still match `where`);
        counts them instead on a dry run."""
        n = 0
        for chunk in _chunks(ids):
            condition = and_(col(key).in_(chunk), table.tenant_id == self.tenant_id)
            if where is not None:
                condition = and_(condition, where)
            if self.purge:
                n += int(self.s.exec(delete(table).where(condition)).rowcount or 0)
            else:
                n += _count(self.s, table, condition)
        return n


class _SurveyAnswers(_Purge):
    def run(self) -> int:
        closed = func.coalesce(col(SurveyRound.closed_at), col(SurveyRound.closes_at))
        rounds = self.s.exec(
            select(SurveyRound.id).where(
                SurveyRound.tenant_id == self.tenant_id,
                SurveyRound.status == "closed",
                closed <= self.cutoff,
            )
        ).all()
        named = [
            r
            for chunk in _chunks(rounds)
            for r in self.s.exec(
                select(SurveyResponse.id).where(
                    SurveyResponse.tenant_id == self.tenant_id,
                    col(SurveyResponse.round_id).in_(chunk),
                    col(SurveyResponse.respondent_person_id).is_not(None),
                )
            ).all()
        ]
        self.also["answers"] = self.remove(SurveyAnswer, SurveyAnswer.response_id, named)
        self.also["invitations"] = self.remove(SurveyInvitation, SurveyInvitation.round_id, rounds)
        self.also["drafts"] = self.remove(SurveyDraft, SurveyDraft.round_id, rounds)
        return self.remove(SurveyResponse, SurveyResponse.id, named)


class _SupportRequests(_Purge):
    def run(self) -> int:
        ended = func.coalesce(col(SupportRequest.closed_at), col(SupportRequest.updated_at))
        final = and_(
            col(SupportRequest.state).in_([s.value for s in TERMINAL]), ended <= self.cutoff
        )
        ids = self.s.exec(
            select(SupportRequest.id).where(SupportRequest.tenant_id == self.tenant_id, final)
        ).all()
        self.also["offers"] = self.remove(SupportOffer, SupportOffer.request_id, ids)
        self.also["events"] = self.remove(SupportEvent, SupportEvent.request_id, ids)
        return self.remove(SupportRequest, SupportRequest.id, ids, final)


class _OutboxMessages(_Purge):
    def run(self) -> int:
        # An unsent edit or reply still needs the message it names.
        named = or_(
            col(OutboxMessage.key).in_(
                select(OutboxMessage.edits_key).where(
                    col(OutboxMessage.status).in_([PENDING, IN_FLIGHT]),
                    col(OutboxMessage.edits_key).is_not(None),
                )
            ),
            col(OutboxMessage.key).in_(
                select(OutboxMessage.thread_key).where(
                    col(OutboxMessage.status).in_([PENDING, IN_FLIGHT]),
                    col(OutboxMessage.thread_key).is_not(None),
                )
            ),
        )
        finished = and_(
            col(OutboxMessage.status).in_([SENT, FAILED]),
            col(OutboxMessage.created_at) <= self.cutoff,
            ~named,
        )
        ids = self.s.exec(
            select(OutboxMessage.id).where(OutboxMessage.tenant_id == self.tenant_id, finished)
        ).all()
        return self.remove(OutboxMessage, OutboxMessage.id, ids, finished)


class _Reminders(_Purge):
    def run(self) -> int:
        finished = and_(
            col(Reminder.status).in_([DONE, CANCELLED]),
            col(Reminder.updated_at) <= self.cutoff,
        )
        ids = self.s.exec(
            select(Reminder.id).where(Reminder.tenant_id == self.tenant_id, finished)
        ).all()
        return self.remove(Reminder, Reminder.id, ids, finished)


class _AuditEntries(_Purge):
    def run(self) -> int:
        old = col(AuditEntry.at) <= self.cutoff
        ids = self.s.exec(
            select(AuditEntry.id).where(AuditEntry.tenant_id == self.tenant_id, old)
        ).all()
        return self.remove(AuditEntry, AuditEntry.id, ids, old)


class _Meetings(_Purge):
    def run(self) -> int:
        held = and_(
            col(Meeting.state) == MeetingState.HELD.value,
            func.coalesce(col(Meeting.ends_at), col(Meeting.updated_at)) <= self.cutoff,
        )
        cancelled = and_(
            col(Meeting.state) == MeetingState.CANCELLED.value,
            col(Meeting.updated_at) <= self.cutoff,
            # The cancellation must have gone out first.
            col(Meeting.sent_sequence) >= col(Meeting.ics_sequence),
        )
        open_action = (
            select(MeetingAction.meeting_id)
            .where(col(MeetingAction.done_at).is_(None))
            .scalar_subquery()
        )
        past = and_(or_(held, cancelled), col(Meeting.id).not_in(open_action))
        ids = self.s.exec(select(Meeting.id).where(Meeting.tenant_id == self.tenant_id, past)).all()
        self.also["votes"] = self.remove(MeetingVote, MeetingVote.meeting_id, ids)
        self.also["agenda items"] = self.remove(
            MeetingAgendaItem, MeetingAgendaItem.meeting_id, ids
        )
        self.also["actions"] = self.remove(MeetingAction, MeetingAction.meeting_id, ids)
        self.also["invitees"] = self.remove(MeetingInvitee, MeetingInvitee.meeting_id, ids)
        if self.purge:
            # Meeting and slot name each other: let go of the chosen slot before the slots go.
            for chunk in _chunks(ids):
                self.s.exec(
                    update(Meeting).where(col(Meeting.id).in_(chunk)).values(chosen_slot_id=None)
                )
        self.also["slots"] = self.remove(MeetingSlot, MeetingSlot.meeting_id, ids)
        return self.remove(Meeting, Meeting.id, ids)


_KINDS: Mapping[RecordKind, type[_Purge]] = {
    RecordKind.NAMED_SURVEY_ANSWERS: _SurveyAnswers,
    RecordKind.CLOSED_SUPPORT_REQUESTS: _SupportRequests,
    RecordKind.OUTBOX_MESSAGES: _OutboxMessages,
    RecordKind.FINISHED_REMINDERS: _Reminders,
    RecordKind.AUDIT_ENTRIES: _AuditEntries,
    RecordKind.PAST_MEETINGS: _Meetings,
}
