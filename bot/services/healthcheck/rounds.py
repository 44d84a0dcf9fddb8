"""Healthcheck rounds: launching one, running it (prompts, nudges, close, recurrence), and its
live response rates.

A round is launched by a Project Board member, an LA officer or an administrator. Its audience
(a role within a scope) is resolved at launch into invitations and frozen. The open time is
moved to the next school day when it falls outside one, and the planned nudges (by default 3
and 6 school days after the open, and the last day) are worked out then too and shown.

`tick`, run every few seconds by the scheduler leader, moves rounds on: at the open time it
writes one prompt per invitation to the outbox; at each nudge time, one nudge per invitation
whose person has not answered (in anonymous rounds that is found through the response keys, in
memory); at the close it closes the round (sealing it when anonymous) and, for a recurring
round, launches the next one. Every message has an outbox key made of the round, the step and
the invitation, so running a step twice (a restart, a new scheduler leader) sends nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, exists, insert
from sqlmodel import Session, col, select

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.ids import parse_id
from bot.ports import Clock
from bot.services import audit
from bot.services.calendar import CalendarError, TenantCalendar
from bot.services.healthcheck import prompts
from bot.services.healthcheck.audience import AUDIENCE_ROLES, Invitee, Scope, resolve
from bot.services.healthcheck.responses import (
    ResponseKeys,
    answered_invitation_ids,
    mark_answered,
    reseal_responses,
)
from bot.services.healthcheck.templates import Template, shipped_templates
from bot.services.outbox import Message, Recipient, enqueue_many
from bot.types import Actor, Role, ScopeKind
from storage.engine import Database, chunks
from storage.models import ChatIdentity, Partnership, PartnershipMembership, Quadrant, School, aware
from storage.models import Tenant as TenantRow
from storage.survey_tables import SurveyDraft, SurveyInvitation, SurveyRound

log = logging.getLogger(__name__)

SCHEDULED, OPEN, CLOSED = "scheduled", "open", "closed"
LAUNCHERS = frozenset({Role.BOARD_MEMBER, Role.LA_OFFICER, Role.ADMINISTRATOR})
DEFAULT_NUDGE_DAYS = (3, 6)
TERM = "term"
MIN_OPEN = timedelta(hours=1)
# A nudge this late (the bot was down) is passed over: a stale "reminder" helps nobody.
NUDGE_GRACE = timedelta(hours=12)
# Outbox rows written per transaction: a few hundred milliseconds of write lock on SQLite.
SEND_BATCH = 500

AUDIENCE_PLURALS = {Role.HEAD: "Heads", Role.PARTNERSHIP_LEAD: "Partnership leads"}

CalendarFor = Callable[[int], TenantCalendar]
_INVITATIONS: Table = SurveyInvitation.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NudgePlan:
    """When to nudge those who have not answered: so many school days after the open, and
    on the round's last school day."""

    after_school_days: tuple[int, ...] = DEFAULT_NUDGE_DAYS
    last_day: bool = True


@dataclass(frozen=True)
class LaunchRequest:
    """What the launch form asks."""

    template_id: str
    audience_role: Role
    scope: Scope
    opens_on: date
    opens_time: time
    closes_on: date
    closes_time: time
    anonymous: bool
    nudges: NudgePlan = field(default_factory=NudgePlan)
    recurrence: str | None = None  # None, or TERM


@dataclass(frozen=True)
class Launched:
    """A round as launched, for the launcher's confirmation."""

    round_id: int
    title: str
    audience: str
    invitations: int
    people: int
    opens_at: datetime
    closes_at: datetime
    nudges: tuple[datetime, ...]
    anonymous: bool
    zone: ZoneInfo
    moved: str | None = None  # why the open time moved, if it did
    recurrence: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass
class TickOutcome:
    """What one pass of `tick` did."""

    opened: list[int] = field(default_factory=list)
    prompts: int = 0
    nudges: int = 0
    closed: list[int] = field(default_factory=list)
    recurred: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Rate:
    label: str
    answered: int
    invited: int


@dataclass(frozen=True)
class RoundStatus:
    """Live response rates of a round, for its launcher and the LA."""

    round_id: int
    title: str
    audience: str
    status: str
    opens_at: datetime
    closes_at: datetime
    zone: ZoneInfo
    anonymous: bool
    total: Rate
    by_quadrant: tuple[Rate, ...]
    by_partnership: tuple[Rate, ...]
    nudges_sent: int
    nudges_planned: int


class LaunchError(UserError):
    """A launch request that cannot be met; `field` is the launch form's field at fault."""

    def __init__(self, message: str, *, field: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class RoundService:
    """Healthcheck rounds in one database; every query is scoped to a tenant."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendars: CalendarFor,
        *,
        keys: ResponseKeys | None,
        min_group: int = 3,
        templates: Mapping[str, Template] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._calendars = calendars
        self._keys = keys
        self.min_group = min_group
        self._templates = templates
        self._keyless: set[int] = set()  # anonymous rounds this keyless process has logged

    def calendar(self, tenant_id: int) -> TenantCalendar:
        return self._calendars(tenant_id)

    @property
    def templates(self) -> Mapping[str, Template]:
        return self._templates if self._templates is not None else shipped_templates()

    # --- launching ---------------------------------------------------------------------------

    def check_launcher(self, actor: Actor) -> tuple[int, int]:
        """The actor's tenant and person, if they may launch rounds; Forbidden otherwise."""
        if actor.tenant_id is None or actor.person_id is None:
            raise UserError(
                "I need to know who you are in the directory first: try `/slis whoami`."
            )
        if not actor.has_any(LAUNCHERS):
            raise authorisation.refusal(
                authorisation.command("healthcheck launch"),
                hint="Ask your LA officer if a round is needed.",
            )
        return actor.tenant_id, actor.person_id

    def launch(self, actor: Actor, request: LaunchRequest) -> Launched:
        """Check the request, resolve and freeze the audience, and schedule the round."""
        tenant_id, person_id = self.check_launcher(actor)
        template = self.templates.get(request.template_id)
        if template is None:
            raise LaunchError(
                f"There is no healthcheck template “{request.template_id}”.", field="template"
            )
        if request.audience_role not in template.respondent_roles:
            who = ", ".join(
                AUDIENCE_PLURALS.get(r, r.label).lower() for r in template.respondent_roles
            )
            raise LaunchError(
                f"{template.title} is answered by {who}; choose one of those.", field="audience"
            )
        if request.anonymous and self._keys is None:
            raise LaunchError(
                "Anonymous rounds need the anonymity secret (SLIS_ANONYMITY_PEPPER), which this"
                " server does not have. Launch a named round, or ask your administrator to set it.",
                field="privacy",
            )
        now = self._clock.now()
        calendar = self._calendars(tenant_id)
        opens_at, moved = _open_time(calendar, request.opens_on, request.opens_time, now)
        closes_at = calendar.at(request.closes_on, request.closes_time)
        if closes_at <= now:
            raise LaunchError("The close date has passed: choose a later one.", field="closes_on")
        if closes_at - opens_at < MIN_OPEN:
            raise LaunchError(
                "The round would close before it opens (or within the hour): the round opens"
                f" {prompts.when_text(opens_at, calendar.tz)}; choose a later close.",
                field="closes_on",
            )
        nudges = nudge_times(calendar, opens_at, closes_at, request.nudges)
        with self._db.session() as s:
            label = _audience_label(s, tenant_id, request.audience_role, request.scope)
            invitees = resolve(
                s,
                tenant_id,
                template,
                request.audience_role,
                request.scope,
                anonymous=request.anonymous,
            )
            if not invitees:
                raise LaunchError(
                    f"Nobody is in that audience: there are no {label.lower()} in the directory.",
                    hint="Choose a wider scope, or ask your administrator to update the directory.",
                    field="scope",
                )
            row = SurveyRound(
                tenant_id=tenant_id,
                template_id=template.id,
                template_snapshot=template.snapshot(),
                title=template.title,
                launched_by=person_id,
                audience_role=request.audience_role.value,
                audience_scope_kind=request.scope.kind.value,
                audience_scope_id=request.scope.id,
                audience_label=label,
                opens_at=opens_at,
                closes_at=closes_at,
                anonymous=request.anonymous,
                nudge_plan=_plan_json(request.nudges, nudges),
                status=SCHEDULED,
                created_at=now,
            )
            if request.recurrence == TERM:
                _set_recurrence(row, calendar, opens_at, closes_at)
            s.add(row)
            s.flush()
            assert row.id is not None
            self._invite(s, row, invitees)
            audit.record(
                s,
                tenant_id=tenant_id,
                at=now,
                action="healthcheck.launch",
                subject=f"round {row.id}",
                actor=actor,
                detail={
                    "template": template.id,
                    "invitations": len(invitees),
                    "anonymous": request.anonymous,
                },
            )
            warnings = self._warnings(s, row, invitees)
            log.info(
                "round %s (%s) launched by person %s: %d invitation(s)",
                row.id,
                template.id,
                person_id,
                len(invitees),
            )
            return Launched(
                round_id=row.id,
                title=row.title,
                audience=label,
                invitations=len(invitees),
                people=len({i.person_id for i in invitees}),
                opens_at=opens_at,
                closes_at=closes_at,
                nudges=tuple(nudges),
                anonymous=request.anonymous,
                zone=calendar.tz,
                moved=moved,
                recurrence="each term" if request.recurrence == TERM else None,
                warnings=tuple(warnings),
            )

    def _invite(self, s: Session, row: SurveyRound, invitees: list[Invitee]) -> None:
        assert row.id is not None
        if not invitees:
            return
        # executemany, not one INSERT ... VALUES of every row: that would pass 9 parameters an
        # invitation, past PostgreSQL's 65,535 (and SQLite's limit) beyond ~7,000 invitations,
        # and compiling it took seconds at 5,000.
        s.connection().execute(
            insert(_INVITATIONS),
            [
                {
                    "tenant_id": row.tenant_id,
                    "round_id": row.id,
                    "person_id": i.person_id,
                    "subject_kind": i.subject_kind,
                    "subject_id": i.subject_id,
                    "response_subject_kind": i.response_kind,
                    "response_subject_id": i.response_id,
                    "answered": False,
                    "nudges_sent": 0,
                }
                for i in invitees
            ],
        )

    def _warnings(self, s: Session, row: SurveyRound, invitees: list[Invitee]) -> list[str]:
        warnings: list[str] = []
        people = {i.person_id for i in invitees}
        linked = set(
            s.exec(
                select(ChatIdentity.person_id).where(
                    ChatIdentity.tenant_id == row.tenant_id,
                    col(ChatIdentity.person_id).in_(people),
                )
            ).all()
        )
        unlinked = len(people - linked)
        if unlinked:
            warnings.append(
                f"{unlinked} of the {len(people)} people have no chat account linked yet: they"
                " get no message until they are (people are linked by e-mail when they first"
                " use the bot); then each nudge reaches them, and `/slis healthcheck` shows"
                " them the round."
            )
        if row.anonymous:
            groups = Counter((i.response_kind, i.response_id) for i in invitees)
            small = sum(1 for n in groups.values() if n < self.min_group)
            if small:
                warnings.append(
                    f"{small} of the {len(groups)} groups have fewer than {self.min_group}"
                    " people invited: reports will not show them, to keep answers anonymous."
                )
        return warnings

    # --- running -----------------------------------------------------------------------------

    def tick(self) -> TickOutcome:
        """Open, nudge, close and renew the rounds whose time has come."""
        now = self._clock.now()
        outcome = TickOutcome()
        with self._db.session() as s:
            due = s.exec(
                select(SurveyRound.id).where(
                    SurveyRound.status == SCHEDULED, col(SurveyRound.opens_at) <= now
                )
            ).all()
        for round_id in due:
            if round_id is not None:
                self._guarded(self._open, round_id, now, outcome)
        with self._db.session() as s:
            running = s.exec(select(SurveyRound.id).where(SurveyRound.status == OPEN)).all()
        for round_id in running:
            if round_id is not None:
                self._guarded(self._step, round_id, now, outcome)
        self._renew(now, outcome)
        return outcome

    def _guarded(
        self,
        step: Callable[[int, datetime, TickOutcome], None],
        round_id: int,
        now: datetime,
        outcome: TickOutcome,
    ) -> None:
        """One round's step; a fault in one round must not hold up the others."""
        try:
            step(round_id, now, outcome)
        except Exception:
            log.exception(
                "round %s: %s failed; trying again at the next tick", round_id, step.__name__
            )

    def _locked(self, s: Session, round_id: int) -> SurveyRound | None:
        # FOR NO KEY UPDATE, not FOR UPDATE: ticks still queue for the round, but an insert that
        # refers to it (a response's foreign key takes FOR KEY SHARE) does not wait for the
        # tick, neither a submission nor the close's reseal in a transaction of its own, which
        # under FOR UPDATE would wait for this very transaction for ever.
        return s.exec(
            select(SurveyRound).where(SurveyRound.id == round_id).with_for_update(key_share=True)
        ).first()

    def _open(self, round_id: int, now: datetime, outcome: TickOutcome) -> None:
        """Write the prompts (in batches, each its own transaction, so no write lock is held
        for long), then mark the round open. A crash in between repeats the writes, which the
        outbox keys turn into nothing."""
        with self._db.session() as s:
            row = s.get(SurveyRound, round_id)
            if row is None or row.status != SCHEDULED:
                return
            if aware(row.closes_at) <= now:
                # Open and close both passed while no process ran the rounds: asking now, for
                # a round that no longer takes answers, would only annoy.
                log.warning("round %s: its whole window passed unseen; no prompts", round_id)
                sent = 0
            else:
                sent = self._send(row, "prompt", 0, aware(row.opens_at), now)
        with self._db.session() as s:
            row = self._locked(s, round_id)
            if row is None or row.status != SCHEDULED:
                return
            row.status = OPEN
            s.add(row)
        outcome.opened.append(round_id)
        outcome.prompts += sent
        log.info("round %s opened: %d prompt(s) queued", round_id, sent)

    def _step(self, round_id: int, now: datetime, outcome: TickOutcome) -> None:
        """Send the nudge that is due, or close the round."""
        with self._db.session() as s:
            row = self._locked(s, round_id)
            if row is None or row.status != OPEN:
                return
            if row.anonymous and self._keys is None:
                # Without the secret nobody's answer can be found: a nudge would go to those who
                # answered too, and a close could not seal the round. Both wait for a process
                # that has it (answers are refused after the close time all the same).
                if round_id not in self._keyless:
                    self._keyless.add(round_id)
                    log.error(
                        "round %s is anonymous and this process has no SLIS_ANONYMITY_PEPPER:"
                        " its nudges and close wait for a process that has it",
                        round_id,
                    )
                return
            if aware(row.closes_at) <= now:
                self._close(s, row, now)
                outcome.closed.append(round_id)
                return
            planned = [datetime.fromisoformat(t) for t in row.nudge_plan.get("at", [])]
            due = [i for i in range(row.nudges_done, len(planned)) if planned[i] <= now]
            if not due:
                return
            latest = due[-1]
        if now - planned[latest] > NUDGE_GRACE:
            log.warning("round %s: nudge %d is too late to send; passed over", round_id, latest + 1)
            sent = 0
        else:
            sent = self._send(row, "nudge", latest + 1, planned[latest], now)
        with self._db.session() as s:
            row = self._locked(s, round_id)
            if row is None or row.status != OPEN:
                return
            row.nudges_done = max(row.nudges_done, latest + 1)
            s.add(row)
        outcome.nudges += sent
        log.info("round %s: nudge %d queued for %d person(s)", round_id, latest + 1, sent)

    def _send(self, row: SurveyRound, step: str, number: int, at: datetime, now: datetime) -> int:
        """Write the prompt (number 0) or nudge `number` for the invitations it goes to: for a
        nudge those whose person has not answered, and only people with a chat account (one
        linked later gets the next nudge, and sees the round in `/slis healthcheck`)."""
        assert row.id is not None
        calendar = self._calendars(row.tenant_id)
        not_before = calendar.next_slot(at)
        if not_before < now and not calendar.is_open(now):
            # Caught up late (the bot was down) after hours: wait for the hours the bot speaks in.
            not_before = calendar.next_slot(now)
        closes_at = aware(row.closes_at)
        if not_before >= closes_at:
            log.info("round %s: %s %d would arrive after the close; not sent", row.id, step, number)
            return 0
        with self._db.session() as s:
            invitations = list(
                s.exec(
                    select(SurveyInvitation)
                    .where(
                        SurveyInvitation.round_id == row.id,
                        col(SurveyInvitation.person_id).in_(
                            select(ChatIdentity.person_id).where(
                                ChatIdentity.tenant_id == row.tenant_id
                            )
                        ),
                    )
                    .order_by(col(SurveyInvitation.id))
                ).all()
            )
            if number > 0:
                answered = answered_invitation_ids(s, row, self._keys) if self._keys else set()
                if not row.anonymous:
                    answered |= {i.id for i in invitations if i.answered and i.id is not None}
                invitations = [i for i in invitations if i.id not in answered]
            names = subject_names(s, row.tenant_id, invitations)
        template = Template.from_snapshot(row.template_snapshot)
        minutes = prompts.minutes_for(len(template.questions))
        tag = step if number == 0 else f"nudge{number}"
        messages: list[Message] = []
        for invitation in invitations:
            assert invitation.id is not None
            reply = prompts.prompt(
                invitation_id=invitation.id,
                title=row.title,
                subject=names.get((invitation.subject_kind, invitation.subject_id), "your school"),
                closes_at=closes_at,
                zone=calendar.tz,
                anonymous=row.anonymous,
                min_group=self.min_group,
                minutes=minutes,
                nudge=number,
            )
            key = f"survey:{row.id}:{tag}:{invitation.id}"
            messages.append(Message(key, Recipient(person_id=invitation.person_id), reply))
        written = 0
        for batch in chunks(messages, SEND_BATCH):
            with self._db.session() as s:
                written += enqueue_many(
                    s,
                    tenant_id=row.tenant_id,
                    messages=batch,
                    not_before=not_before,
                    now=now,
                )
        return written

    def _close(self, s: Session, row: SurveyRound, now: datetime) -> None:
        assert row.id is not None
        if row.anonymous and self._keys is not None:
            # Two transactions, so the rewritten responses and the invitations marked answered
            # share no PostgreSQL transaction id. No answer comes in between: the close time
            # has passed, and submissions check it.
            with self._db.session() as other:
                reseal_responses(other, row.id)
            newly = mark_answered(s, row, self._keys)
            log.info("round %s sealed: %d invitation(s) marked answered", row.id, newly)
        row.status = CLOSED
        row.closed_at = now
        s.add(row)
        s.exec(delete(SurveyDraft).where(col(SurveyDraft.round_id) == row.id))
        log.info("round %s closed", row.id)

    def _renew(self, now: datetime, outcome: TickOutcome) -> None:
        """Launch the next round of each closed recurring round that has none yet."""
        with self._db.session() as s:
            later = SurveyRound.__table__.alias("later")  # type: ignore[attr-defined]
            successor = select(later.c.id).where(later.c.previous_round_id == SurveyRound.id)
            pending = s.exec(
                select(SurveyRound.id).where(
                    SurveyRound.status == CLOSED,
                    col(SurveyRound.recurrence_kind).is_not(None),
                    ~exists(successor),
                )
            ).all()
        for round_id in pending:
            if round_id is None:
                continue
            try:
                new_id = self._next_round(round_id, now)
            except CalendarError as exc:
                log.warning("round %s: no next round yet (%s)", round_id, exc)
                continue
            except Exception:
                log.exception("round %s: making its next round failed; trying again", round_id)
                continue
            if new_id is not None:
                outcome.recurred.append(new_id)

    def _next_round(self, round_id: int, now: datetime) -> int | None:
        with self._db.session() as s:
            row = self._locked(s, round_id)
            if row is None or row.recurrence_kind is None:
                return None
            taken = s.exec(
                select(SurveyRound.id).where(SurveyRound.previous_round_id == round_id)
            ).first()
            if taken is not None:
                return None
            calendar = self._calendars(row.tenant_id)
            zone = calendar.tz
            closes_local = aware(row.closes_at).astimezone(zone)
            opens_local = aware(row.opens_at).astimezone(zone)
            starts = calendar.first_school_days_of_terms(closes_local.date(), 1)
            if not starts:
                log.info("round %s recurs each term, but no later term dates are known", round_id)
                return None
            open_day = calendar.add_school_days(
                starts[0], (row.recurrence_open_school_day or 1) - 1
            )
            close_day = calendar.add_school_days(open_day, row.recurrence_school_days or 10)
            opens_at = calendar.next_slot(calendar.at(open_day, opens_local.time()))
            closes_at = calendar.at(close_day, closes_local.time())
            template = Template.from_snapshot(row.template_snapshot)
            scope = Scope(ScopeKind(row.audience_scope_kind), row.audience_scope_id)
            invitees = resolve(
                s, row.tenant_id, template, Role(row.audience_role), scope, anonymous=row.anonymous
            )
            plan = NudgePlan(
                tuple(row.nudge_plan.get("after_school_days", DEFAULT_NUDGE_DAYS)),
                bool(row.nudge_plan.get("last_day", True)),
            )
            nxt = SurveyRound(
                tenant_id=row.tenant_id,
                template_id=row.template_id,
                template_snapshot=row.template_snapshot,
                title=row.title,
                launched_by=row.launched_by,
                audience_role=row.audience_role,
                audience_scope_kind=row.audience_scope_kind,
                audience_scope_id=row.audience_scope_id,
                audience_label=row.audience_label,
                opens_at=opens_at,
                closes_at=closes_at,
                anonymous=row.anonymous,
                nudge_plan=_plan_json(plan, nudge_times(calendar, opens_at, closes_at, plan)),
                status=SCHEDULED,
                recurrence_kind=row.recurrence_kind,
                recurrence_open_school_day=row.recurrence_open_school_day,
                recurrence_school_days=row.recurrence_school_days,
                previous_round_id=row.id,
                created_at=now,
            )
            s.add(nxt)
            s.flush()
            self._invite(s, nxt, invitees)
            log.info("round %s recurs as round %s, opening %s", round_id, nxt.id, opens_at)
            return nxt.id

    # --- status ------------------------------------------------------------------------------

    def status(self, actor: Actor, ref: str) -> RoundStatus:
        """Response rates of a round (default: the latest that has opened), for its launcher,
        the Project Board, LA officers and administrators."""
        if actor.tenant_id is None or actor.person_id is None:
            raise UserError(
                "I need to know who you are in the directory first: try `/slis whoami`."
            )
        with self._db.session() as s:
            row = find_round(s, actor.tenant_id, ref)
            if row.launched_by != actor.person_id and not actor.has_any(LAUNCHERS):
                raise authorisation.refusal(
                    authorisation.command("healthcheck status"),
                    f"round #{row.id}",
                    hint="`/slis healthcheck report` shows the results you may see.",
                )
            assert row.id is not None
            invitations = s.exec(
                select(SurveyInvitation).where(SurveyInvitation.round_id == row.id)
            ).all()
            if row.anonymous and row.status == OPEN and self._keys is not None:
                answered = answered_invitation_ids(s, row, self._keys)
            else:
                answered = {i.id for i in invitations if i.answered and i.id is not None}
            scope_partnership = (
                row.audience_scope_id
                if row.audience_scope_kind == ScopeKind.PARTNERSHIP.value
                else None
            )
            groups = _groups(s, row.tenant_id, invitations, scope_partnership)
            quadrants: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            partnerships: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for invitation in invitations:
                quadrant, partnership = groups.get(invitation.id or 0, ("No quadrant", None))
                done = int(invitation.id in answered)
                quadrants[quadrant][0] += done
                quadrants[quadrant][1] += 1
                if partnership is not None:
                    partnerships[partnership][0] += done
                    partnerships[partnership][1] += 1
            zone = self._calendars(row.tenant_id).tz
            return RoundStatus(
                round_id=row.id,
                title=row.title,
                audience=row.audience_label,
                status=row.status,
                opens_at=aware(row.opens_at),
                closes_at=aware(row.closes_at),
                zone=zone,
                anonymous=row.anonymous,
                total=Rate("All", len(answered & {i.id for i in invitations}), len(invitations)),
                by_quadrant=tuple(Rate(k, a, n) for k, (a, n) in sorted(quadrants.items())),
                by_partnership=tuple(Rate(k, a, n) for k, (a, n) in sorted(partnerships.items())),
                nudges_sent=row.nudges_done,
                nudges_planned=len(row.nudge_plan.get("at", [])),
            )


# --- helpers -----------------------------------------------------------------------------------


def _open_time(
    calendar: TenantCalendar, opens_on: date, opens_time: time, now: datetime
) -> tuple[datetime, str | None]:
    """The round's open instant: on a school day, inside the hours the bot speaks."""
    today = now.astimezone(calendar.tz).date()
    if opens_on < today:
        raise LaunchError(
            "The open date has passed: choose today or a later day.", field="opens_on"
        )
    day = calendar.next_school_day(opens_on)
    moved: str | None = None
    if day != opens_on:
        reason = calendar.explain(opens_on).reason
        moved = f"{opens_on:%a} {opens_on.day} {opens_on:%b} is not a school day ({reason})"
    wanted = max(calendar.at(day, opens_time), now)
    slot = calendar.next_slot(wanted)
    if moved is None and slot.astimezone(calendar.tz).date() != day:
        moved = "that time is outside the hours the bot sends messages"
    return slot, moved


def nudge_times(
    calendar: TenantCalendar, opens_at: datetime, closes_at: datetime, plan: NudgePlan
) -> list[datetime]:
    """The planned nudges: at the open's local time, so many school days after the open, and
    on the last school day before the close; each inside the sending hours, before the close,
    one a day at most, in order."""
    opens_local = opens_at.astimezone(calendar.tz)
    day0, at = opens_local.date(), opens_local.time().replace(second=0, microsecond=0)
    days: set[date] = set()
    for n in plan.after_school_days:
        if n >= 1:
            days.add(calendar.add_school_days(day0, n))
    if plan.last_day:
        last = closes_at.astimezone(calendar.tz).date()
        for _ in range(31):
            if calendar.is_school_day(last):
                break
            last -= timedelta(days=1)
        if last > day0:
            days.add(last)
    times: list[datetime] = []
    for day in sorted(days):
        when = calendar.next_slot(calendar.at(day, at))
        if opens_at < when < closes_at and when.astimezone(calendar.tz).date() == day:
            times.append(when)
        elif day == max(days) and plan.last_day and opens_at < closes_at - timedelta(hours=2):
            # The close comes before the usual time on the last day: nudge in the morning.
            early = calendar.next_slot(calendar.at(day, time(8, 0)))
            if opens_at < early < closes_at:
                times.append(early)
    return sorted(set(times))


def _plan_json(plan: NudgePlan, times: list[datetime]) -> dict[str, Any]:
    return {
        "after_school_days": list(plan.after_school_days),
        "last_day": plan.last_day,
        "at": [t.astimezone(UTC).isoformat() for t in times],
    }


def _set_recurrence(
    row: SurveyRound, calendar: TenantCalendar, opens_at: datetime, closes_at: datetime
) -> None:
    """Remember which school day of its term the round opens on, and how long it runs."""
    open_day = opens_at.astimezone(calendar.tz).date()
    close_day = closes_at.astimezone(calendar.tz).date()
    term = calendar.term_of(open_day)
    if term is None:
        raise LaunchError(
            "A round that recurs each term must open in a term: no term dates are known for"
            f" {open_day:%d %b %Y}.",
            hint="Ask your administrator to import the term dates, or launch it once.",
            field="repeat",
        )
    index = _school_days_between(calendar, term.starts, open_day)
    row.recurrence_kind = TERM
    row.recurrence_open_school_day = index + 1
    row.recurrence_school_days = max(1, _school_days_between(calendar, open_day, close_day))


def _school_days_between(calendar: TenantCalendar, start: date, end: date) -> int:
    """School days after the first school day on or after `start`, up to `end`."""
    day = calendar.next_school_day(start)
    count = 0
    while day < end:
        day = calendar.next_school_day(day, inclusive=False)
        if day <= end:
            count += 1
    return count


def _audience_label(s: Session, tenant_id: int, role: Role, scope: Scope) -> str:
    plural = AUDIENCE_PLURALS.get(role, role.label)
    if role not in AUDIENCE_ROLES:
        raise UserError("A round asks heads or partnership leads.")
    if scope.kind is ScopeKind.QUADRANT:
        quadrant = s.get(Quadrant, scope.id)
        if quadrant is None or quadrant.tenant_id != tenant_id:
            raise NotFound("That quadrant is not in your local authority's directory.")
        return f"{plural} in {quadrant.name}"
    if scope.kind is ScopeKind.PARTNERSHIP:
        partnership = s.get(Partnership, scope.id)
        if partnership is None or partnership.tenant_id != tenant_id:
            raise NotFound("That partnership is not in your local authority's directory.")
        return f"{plural} of {partnership.name}"
    tenant = s.get(TenantRow, tenant_id)
    return f"{plural}, all of {tenant.name if tenant else 'the local authority'}"


def subject_names(
    s: Session, tenant_id: int, invitations: Sequence[SurveyInvitation]
) -> dict[tuple[str, int], str]:
    """(kind, id) -> the school's or partnership's name, for the subjects of `invitations`."""
    names: dict[tuple[str, int], str] = {}
    schools = {i.subject_id for i in invitations if i.subject_kind == "school"}
    partnerships = {i.subject_id for i in invitations if i.subject_kind == "partnership"}
    for chunk in chunks(sorted(schools)):
        for sid, name in s.exec(
            select(School.id, School.name).where(
                School.tenant_id == tenant_id, col(School.id).in_(chunk)
            )
        ):
            if sid is not None:
                names[("school", sid)] = name
    for chunk in chunks(sorted(partnerships)):
        for pid, name in s.exec(
            select(Partnership.id, Partnership.name).where(
                Partnership.tenant_id == tenant_id, col(Partnership.id).in_(chunk)
            )
        ):
            if pid is not None:
                names[("partnership", pid)] = name
    return names


def _groups(
    s: Session,
    tenant_id: int,
    invitations: Sequence[SurveyInvitation],
    scope_partnership: int | None = None,
) -> dict[int, tuple[str, str | None]]:
    """invitation id -> (quadrant name, partnership name) of what it answers for.

    A school counts under the partnership the round is for, else the one its answers are filed
    under, else its first partnership (a school may be in several)."""
    quadrants = {
        q.id: q.name for q in s.exec(select(Quadrant).where(Quadrant.tenant_id == tenant_id))
    }
    partnerships = {
        p.id: p for p in s.exec(select(Partnership).where(Partnership.tenant_id == tenant_id))
    }
    school_quadrant = dict(
        s.exec(select(School.id, School.quadrant_id).where(School.tenant_id == tenant_id)).all()
    )
    first_partnership: dict[int, int] = {}
    for school_id, partnership_id in s.exec(
        select(PartnershipMembership.school_id, PartnershipMembership.partnership_id)
        .where(PartnershipMembership.tenant_id == tenant_id)
        .order_by(col(PartnershipMembership.partnership_id))
    ):
        first_partnership.setdefault(school_id, partnership_id)
    found: dict[int, tuple[str, str | None]] = {}
    for i in invitations:
        if i.id is None:
            continue
        if i.subject_kind == "partnership":
            p = partnerships.get(i.subject_id)
            q_name = (
                quadrants.get(p.quadrant_id, "No quadrant")
                if p and p.quadrant_id
                else "No quadrant"
            )
            found[i.id] = (q_name, p.name if p else None)
        else:
            q = school_quadrant.get(i.subject_id)
            if scope_partnership is not None:
                pid: int | None = scope_partnership
            elif i.response_subject_kind == "partnership":
                pid = i.response_subject_id
            else:
                pid = first_partnership.get(i.subject_id)
            p = partnerships.get(pid) if pid is not None else None
            found[i.id] = (
                quadrants.get(q, "No quadrant") if q else "No quadrant",
                p.name if p else None,
            )
    return found


def find_round(s: Session, tenant_id: int, ref: str) -> SurveyRound:
    """A round of the tenant by `#id` or id; "" means the latest that has opened (else the
    latest scheduled)."""
    text = ref.strip().removeprefix("#")
    if text:
        round_id = parse_id(text)
        if round_id is None:
            raise UserError(
                f"“{ref}” is not a round number.",
                hint="Give the round's number, e.g. `/slis healthcheck status 12`.",
            )
        row = s.get(SurveyRound, round_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"There is no round #{text}.", hint=_recent_hint(s, tenant_id))
        return row
    for statuses in ((OPEN, CLOSED), (SCHEDULED,)):
        row = s.exec(
            select(SurveyRound)
            .where(SurveyRound.tenant_id == tenant_id, col(SurveyRound.status).in_(statuses))
            .order_by(col(SurveyRound.opens_at).desc(), col(SurveyRound.id).desc())
        ).first()
        if row is not None:
            return row
    raise NotFound(
        "No healthcheck round has been launched yet.",
        hint="Project Board members and LA officers launch one with `/slis healthcheck launch`.",
    )


def _recent_hint(s: Session, tenant_id: int) -> str:
    rows = s.exec(
        select(SurveyRound)
        .where(SurveyRound.tenant_id == tenant_id)
        .order_by(col(SurveyRound.opens_at).desc())
        .limit(5)
    ).all()
    if not rows:
        return "No round has been launched yet."
    return "Recent rounds: " + ", ".join(
        f"#{r.id} {r.title} ({aware(r.opens_at):%d %b}–{aware(r.closes_at):%d %b})" for r in rows
    )
