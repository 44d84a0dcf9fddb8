"""Asking for support: the request form's values, numbering, and routing to alliances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot import authorisation
from bot.services.calendar import TenantCalendar
from bot.services.support import routing
from bot.services.support.access import ASKING_ROLES, LA_ROUTE, reach
from bot.services.support.catalogue import Category
from bot.services.support.facts import Facts
from bot.services.support.lifecycle import Party, State
from bot.services.support.moves import (
    LA_ROUTED,
    NEEDED_LIMIT,
    NO_CONSENT,
    NONE_ELIGIBLE,
    URGENCIES,
    WHY_LIMIT,
    FieldProblem,
    RequestMoves,
    check_days,
    checked_text,
    destination,
    escalated_text,
    tenant_of,
    to_requester,
)
from bot.services.support.notify import Notifier
from bot.types import Actor, ScopeKind
from storage.models import RoleAssignment, School
from storage.support_tables import SupportCounter, SupportOffer, SupportRequest

_COUNTER = SupportCounter.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Ask:
    """What a school asks for, as the form collects it."""

    school_id: int
    category_id: str
    needed: str
    why_now: str = ""
    urgency: str = "normal"
    window_from: date | None = None
    window_to: date | None = None
    days_estimate: Decimal | None = None
    consent: bool = True


@dataclass(frozen=True)
class Submitted:
    """A request just made: its facts, where it went, and why if not to alliances."""

    facts: Facts
    offered_to: tuple[str, ...]
    escalated: str | None  # the reason it went to the chair/LA instead


class Asking(RequestMoves):
    """Who may ask, and what happens when they do."""

    def asking_schools(self, actor: Actor) -> list[tuple[int, str]]:
        """The schools the actor may ask for (id, name); Forbidden if none."""
        tenant_id = tenant_of(actor)
        ids = reach(actor.grants).schools
        if not ids:
            raise authorisation.refusal(
                authorisation.command("support"),
                hint="If you work at a school, ask your LA administrator to add you to it.",
            )
        with self.db.session() as s:
            schools = s.exec(
                select(School)
                .where(School.tenant_id == tenant_id, col(School.id).in_(ids))
                .order_by(col(School.name))
            ).all()
        return [(sc.id, sc.name) for sc in schools if sc.id is not None]

    def submit(self, actor: Actor, ask: Ask) -> Submitted:
        """Record a request, route it, and tell the requester and the providers."""
        tenant_id = tenant_of(actor)
        assert actor.person_id is not None
        allowed_schools = dict(self.asking_schools(actor))
        if ask.school_id not in allowed_schools:
            raise FieldProblem("You can only ask for your own school.", field="school")
        catalogue = self.catalogues(tenant_id)
        try:
            category = catalogue.category(ask.category_id)
        except KeyError:
            raise FieldProblem("Choose what kind of support.", field="category") from None
        calendar = self.calendars(tenant_id)
        now = self.clock.now()
        today = calendar.local(now).date()
        _check_ask(ask, today)
        with self.db.session() as s:
            number = self._next_number(s, tenant_id, calendar.local(now).year)
            request = SupportRequest(
                tenant_id=tenant_id,
                reference=f"SR-{calendar.local(now).year}-{number:04d}",
                school_id=ask.school_id,
                requested_by=actor.person_id,
                category_id=category.id,
                needed=ask.needed.strip(),
                why_now=ask.why_now.strip(),
                urgency=ask.urgency,
                window_from=ask.window_from,
                window_to=ask.window_to,
                days_estimate=None if ask.days_estimate is None else float(ask.days_estimate),
                consent_to_share=ask.consent,
                route=category.route,
                state=State.SUBMITTED.value,
                created_at=now,
                updated_at=now,
            )
            s.add(request)
            s.flush()
            assert request.id is not None
            self._event(s, request, actor, Party.REQUESTER, "submit", State.DRAFT, {})
            return self._route(s, request, category, calendar, now, today)

    def _next_number(self, s: Session, tenant_id: int, year: int) -> int:
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = (
            insert(_COUNTER)
            .values(tenant_id=tenant_id, year=year, last=1)
            .on_conflict_do_update(
                index_elements=["tenant_id", "year"], set_={"last": _COUNTER.c.last + 1}
            )
            .returning(_COUNTER.c.last)
        )
        return int(s.exec(stmt).one()[0])

    def _route(
        self,
        s: Session,
        request: SupportRequest,
        category: Category,
        calendar: TenantCalendar,
        now: datetime,
        today: date,
    ) -> Submitted:
        assert request.id is not None
        reason: str | None = None
        eligible: tuple[routing.Candidate, ...] = ()
        if category.route == LA_ROUTE:
            reason = LA_ROUTED
        elif not request.consent_to_share:
            reason = NO_CONSENT
        else:
            found = routing.route(
                s,
                tenant_id=request.tenant_id,
                school_id=request.school_id,
                category=category,
                calendar=calendar,
                today=today,
            )
            # No one provides support to their own school, whichever alliance they lead.
            staff = _school_staff(s, request.tenant_id, request.school_id)
            eligible = tuple(c for c in found.eligible if not staff & set(c.lead_person_ids))
            if not eligible:
                reason = NONE_ELIGIBLE
        if reason is not None:
            request.state = State.ESCALATED.value
            s.add(request)
            event = self._event(
                s, request, None, Party.SYSTEM, "escalate", State.SUBMITTED, {"reason": reason}
            )
            facts = self._facts(s, request)
            notes = Notifier(s, request, facts, calendar, now)
            notes.card(request.requested_by, headline=_asked_headline(facts, (), reason))
            chair_text = escalated_text(facts, reason)
            notes.tell(notes.chairs(), chair_text, event)
            return Submitted(facts, (), reason)
        request.state = State.OFFERED.value
        request.escalate_at = self._escalate_at(calendar, now)
        s.add(request)
        for c in eligible:
            s.add(
                SupportOffer(
                    tenant_id=request.tenant_id,
                    request_id=request.id,
                    alliance_id=c.alliance_id,
                    offered_at=now,
                )
            )
        s.flush()
        detail = {"alliances": [c.alliance_id for c in eligible]}
        self._event(s, request, None, Party.SYSTEM, "offer", State.SUBMITTED, detail)
        facts = self._facts(s, request)
        notes = Notifier(s, request, facts, calendar, now)
        names = tuple(c.name for c in eligible)
        notes.card(request.requested_by, headline=_asked_headline(facts, names, None))
        where = f" in {facts.quadrant}" if facts.quadrant else ""
        for c in eligible:
            for person in c.lead_person_ids:
                notes.card(
                    person,
                    headline=f"A school{where} asks for support. Can *{c.name}* help?"
                    " The first alliance to claim it takes it.",
                )
        return Submitted(facts, names, None)

    def _escalate_at(self, calendar: TenantCalendar, now: datetime) -> datetime:
        local = calendar.local(now)
        due = calendar.add_school_days(local.date(), self.escalate_after)
        return calendar.at(due, local.time().replace(microsecond=0))


def _school_staff(s: Session, tenant_id: int, school_id: int) -> set[int]:
    """The people who hold a head or staff role at the school."""
    return set(
        s.exec(
            select(RoleAssignment.person_id).where(
                RoleAssignment.tenant_id == tenant_id,
                col(RoleAssignment.role).in_([r.value for r in ASKING_ROLES]),
                RoleAssignment.scope_kind == ScopeKind.SCHOOL.value,
                RoleAssignment.scope_id == school_id,
            )
        ).all()
    )


def _asked_headline(facts: Facts, offered: tuple[str, ...], reason: str | None) -> str:
    if reason is not None:
        return (
            f"Your request *{facts.reference}* is in. As {to_requester(reason)}, it has gone"
            f" to {destination(facts.route)}, who will find the right help."
        )
    listed = ", ".join(offered)
    return (
        f"Your request *{facts.reference}* is in and has gone to {len(offered)}"
        f" {'alliance' if len(offered) == 1 else 'alliances'} ({listed})."
        " You'll hear here when one claims it."
    )


def _check_ask(ask: Ask, today: date) -> None:
    checked_text(ask.needed, "needed", NEEDED_LIMIT)
    if len(ask.why_now) > WHY_LIMIT:
        raise FieldProblem(f"Keep this under {WHY_LIMIT} characters.", field="why_now")
    if ask.urgency not in URGENCIES:
        raise FieldProblem("Choose how urgent it is.", field="urgency")
    if ask.window_to is not None and ask.window_to < today:
        raise FieldProblem("The end of the window can't be in the past.", field="window_to")
    if ask.window_from and ask.window_to and ask.window_from > ask.window_to:
        raise FieldProblem("The window ends before it starts.", field="window_to")
    if ask.days_estimate is not None:
        check_days(ask.days_estimate, "days")
