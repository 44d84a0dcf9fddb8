"""Support requests: asking, routing to alliances, every move of the lifecycle, and the sweeps.

Every change is one transaction that opens with a guarded write — `UPDATE support_request …
WHERE id = ? AND version = ?` — so that of two people acting at once exactly one wins (the
first claim among twenty concurrent clicks, on SQLite and PostgreSQL alike), and a repeated
request changes nothing. The same transaction writes the audit event, the offers, and the
messages (cards, edits and notes; see notify.py) into the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.ports import Clock
from bot.replies.support import date_text, dates_text, days_text, money, reply_button
from bot.services.calendar import TenantCalendar
from bot.services.support import routing
from bot.services.support.access import ASKERS, CHAIRS, LA_ROUTE, can_see, parties, reach
from bot.services.support.catalogue import Catalogue, Category
from bot.services.support.facts import Facts, load_facts
from bot.services.support.lifecycle import (
    TERMINAL,
    Action,
    IllegalTransition,
    Party,
    State,
    next_state,
)
from bot.services.support.notify import Notifier, actions_for
from bot.types import Actor
from storage.engine import Database
from storage.models import Alliance, School, Tenant
from storage.support_tables import SupportCounter, SupportEvent, SupportOffer, SupportRequest

log = logging.getLogger(__name__)

ESCALATE_AFTER = 3  # school days without a claim
CLOSE_NUDGE_AFTER = 10  # school days delivered but not closed
SWEEP_BATCH = 200
NEEDED_LIMIT = 3000
WHY_LIMIT = 2000
NOTE_LIMIT = 1000
URGENCIES = ("low", "normal", "high", "urgent")
DECLINE_REASONS = {
    "capacity": "no capacity this term",
    "expertise": "not our expertise",
    "conflict": "a conflict of interest",
    "timing": "the timing does not work",
    "other": "another reason",
}
_T = SupportRequest.__table__  # type: ignore[attr-defined]
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


@dataclass(frozen=True)
class Acted:
    """The outcome of an action, for the person who took it."""

    facts: Facts
    message: str
    actions: tuple[str, ...] = ()


class FieldProblem(UserError):
    """A value in a form is not acceptable; `field` names the form field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class SweepCounts:
    escalated: int = 0
    start_nudges: int = 0
    close_nudges: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class _Change:
    """One guarded update of a request: the action, who took it, and what else it sets."""

    action: str
    party: Party
    target: State
    values: dict[str, Any]
    detail: dict[str, Any]


class SupportService:
    """Support requests from asking to closing, for every platform."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendars: Callable[[int], TenantCalendar],
        catalogues: Callable[[int], Catalogue],
        *,
        escalate_after: int = ESCALATE_AFTER,
        close_nudge_after: int = CLOSE_NUDGE_AFTER,
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars
        self.catalogues = catalogues
        self.escalate_after = escalate_after
        self.close_nudge_after = close_nudge_after

    # --- asking ----------------------------------------------------------------------------

    def asking_schools(self, actor: Actor) -> list[tuple[int, str]]:
        """The schools the actor may ask for (id, name); Forbidden if none."""
        tenant_id = _tenant(actor)
        ids = reach(actor.grants).schools
        if not ids:
            raise Forbidden(
                f"Only {ASKERS} can ask for support, for their own school.",
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
        tenant_id = _tenant(actor)
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
            self._event(s, request, actor.person_id, Party.REQUESTER, "submit", State.DRAFT, {})
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
            reason = "it goes to the LA, not to an alliance"
        elif not request.consent_to_share:
            reason = "you asked for it not to be shared with providers"
        else:
            found = routing.route(
                s,
                tenant_id=request.tenant_id,
                school_id=request.school_id,
                category=category,
                calendar=calendar,
                today=today,
            )
            eligible = found.eligible
            if not eligible:
                reason = "no alliance serving your quadrant can take it this term"
        if reason is not None:
            request.state = State.ESCALATED.value
            s.add(request)
            event = self._event(
                s, request, None, Party.SYSTEM, "escalate", State.SUBMITTED, {"reason": reason}
            )
            facts = self._facts(s, request)
            notes = Notifier(s, request, facts, calendar, now)
            notes.card(request.requested_by, headline=_asked_headline(facts, (), reason))
            chair_text = _escalated_text(facts, reason)
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

    # --- reading ---------------------------------------------------------------------------

    def find(self, actor: Actor, ref: str | int) -> Acted:
        """A request the actor may see, with the buttons they may press; NotFound otherwise
        (the same words whether it does not exist or is not theirs to see)."""
        with self.db.session() as s:
            request = self._visible(s, actor, ref)
            facts = self._facts(s, request)
            who = parties(
                actor.grants, request, quadrant_id=facts.quadrant_id, offered_to=facts.open_offers()
            )
            return Acted(facts, "", actions_for(facts, who))

    def _visible(self, s: Session, actor: Actor, ref: str | int) -> SupportRequest:
        tenant_id = _tenant(actor)
        query = select(SupportRequest).where(SupportRequest.tenant_id == tenant_id)
        text = str(ref).strip().upper()
        if isinstance(ref, int) or text.isdigit():
            query = query.where(SupportRequest.id == int(text))
        else:
            query = query.where(SupportRequest.reference == text)
        request = s.exec(query).first()
        if request is not None:
            offers = s.exec(
                select(SupportOffer.alliance_id).where(SupportOffer.request_id == request.id)
            ).all()
            school = s.get(School, request.school_id)
            quadrant = school.quadrant_id if school else None
            if can_see(actor, request, quadrant_id=quadrant, ever_offered_to=offers):
                return request
        shown = f"SR {ref}" if isinstance(ref, int) or text.isdigit() else text
        raise NotFound(
            f"I can't find a support request {shown} that you can see.",
            hint="`/slis support list` shows the requests you can see.",
        )

    def _facts(self, s: Session, request: SupportRequest) -> Facts:
        return load_facts(s, [request], self.catalogues(request.tenant_id))[0]

    # --- acting ----------------------------------------------------------------------------

    def claim(self, actor: Actor, request_id: int) -> Acted:
        """Claim an offer for the actor's alliance; the first claim wins."""

        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            who = parties(
                actor.grants, request, quadrant_id=facts.quadrant_id, offered_to=facts.open_offers()
            )
            if who and Party.PROVIDER not in who:
                # The school or a chair: refused naming the state and what they may do.
                self._require(actor, request, facts, Party.PROVIDER, Action.CLAIM)
            alliance = self._offering_alliance(actor, facts)
            target = next_state(
                State(request.state), Action.CLAIM, Party.PROVIDER, reference=facts.reference
            )
            return _Change(
                "claim",
                Party.PROVIDER,
                target,
                {
                    "claimed_by_alliance_id": alliance,
                    "claimed_by_person_id": actor.person_id,
                    "claimed_at": self.clock.now(),
                    "escalate_at": None,
                },
                {"alliance_id": alliance},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            self._settle_offers(n.session, facts.id, n.facts.holder_id)
            n.facts = self._facts(n.session, n.request)
            holder = f"*{n.facts.holder}* ({n.facts.holder_person})"
            n.refresh(event)
            n.tell(
                [n.request.requested_by],
                f"{holder} has claimed your request. They will propose days, dates and a cost"
                " for you to accept.",
                event,
            )
            if facts.state is State.ESCALATED:
                n.tell(n.chairs(), f"{holder} has claimed it.", event)
            return (
                f"You have claimed {facts.reference} for *{n.facts.holder}*. Next, propose days,"
                " dates and a cost."
            )

        return self._act(actor, request_id, change, after, conflict=_claimed_already)

    def assign(self, actor: Actor, request_id: int, alliance_id: int, note: str = "") -> Acted:
        """A chair gives an escalated request to an alliance directly."""

        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            self._require(actor, request, facts, Party.CHAIR, Action.ASSIGN)
            alliance = s.get(Alliance, alliance_id)
            if alliance is None or alliance.tenant_id != request.tenant_id:
                raise FieldProblem("Choose an alliance.", field="alliance")
            n = Notifier(s, request, facts, self.calendars(request.tenant_id), self.clock.now())
            leads = n.leads(alliance_id)
            if not leads:
                raise FieldProblem(
                    f"{alliance.name} has no alliance lead in the directory to take it.",
                    field="alliance",
                )
            target = next_state(
                State(request.state), Action.ASSIGN, Party.CHAIR, reference=facts.reference
            )
            return _Change(
                "assign",
                Party.CHAIR,
                target,
                {
                    "claimed_by_alliance_id": alliance_id,
                    "claimed_by_person_id": leads[0],
                    "claimed_at": self.clock.now(),
                    "escalate_at": None,
                },
                {"alliance_id": alliance_id, "note": note.strip()}
                if note.strip()
                else {"alliance_id": alliance_id},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            self._settle_offers(n.session, facts.id, alliance_id, assigned=True)
            n.facts = self._facts(n.session, n.request)
            extra = f" Their note: {note.strip()}" if note.strip() else ""
            n.refresh(event)
            n.tell(
                n.leads(alliance_id),
                f"{actor.name} has assigned this request to *{n.facts.holder}*. Please propose"
                f" days, dates and a cost.{extra}",
                event,
            )
            n.tell(
                [n.request.requested_by],
                f"{actor.name} has asked *{n.facts.holder}* to take your request. They will"
                " propose days, dates and a cost.",
                event,
            )
            return f"{facts.reference} is assigned to *{n.facts.holder}*."

        return self._act(actor, request_id, change, after)

    def decline(self, actor: Actor, request_id: int, reason: str, note: str = "") -> Acted:
        """An alliance says no to an offer; when every offer is declined it escalates."""
        tenant_id = _tenant(actor)
        with self.db.session() as s:
            request = self._visible(s, actor, request_id)
            facts = self._facts(s, request)
            if State(request.state) not in (State.OFFERED, State.ESCALATED) or facts.holder_id:
                raise UserError(
                    f"{facts.reference} is *{facts.state.label}*: it can't be declined now."
                )
            alliance = self._offering_alliance(actor, facts)
        why = DECLINE_REASONS.get(reason, reason)
        text = why + (f": {note.strip()}" if note.strip() else "")
        now = self.clock.now()
        with self.db.session() as s:
            # The guarded write on the request comes first, as in every action: it locks the
            # row, so that of two alliances declining the last two offers at once the second
            # sees the first's decline (and escalates), and a claim read before this decline
            # is retried on what it leaves.
            opened = s.exec(
                update(SupportRequest)
                .where(
                    col(SupportRequest.id) == request_id,
                    col(SupportRequest.tenant_id) == tenant_id,
                    col(SupportRequest.state).in_([State.OFFERED.value, State.ESCALATED.value]),
                    col(SupportRequest.claimed_by_alliance_id).is_(None),
                )
                .values(version=col(SupportRequest.version) + 1, updated_at=now)
            )
            if not opened.rowcount:
                raise UserError(f"{facts.reference} is no longer open to your alliance.")
            done = s.exec(
                update(SupportOffer)
                .where(
                    col(SupportOffer.tenant_id) == tenant_id,
                    col(SupportOffer.request_id) == request_id,
                    col(SupportOffer.alliance_id) == alliance,
                    col(SupportOffer.status) == "offered",
                )
                .values(status="declined", decline_reason=text[:500], responded_at=now)
            )
            if not done.rowcount:
                raise UserError(f"{facts.reference} is no longer open to your alliance.")
            fresh = s.get(SupportRequest, request_id)
            assert fresh is not None
            request = fresh
            state = State(request.state)
            event = self._event(
                s,
                request,
                actor.person_id,
                Party.PROVIDER,
                "decline",
                state,
                {"alliance_id": alliance, "reason": reason, "note": note.strip()},
            )
            facts = self._facts(s, request)
            calendar = self.calendars(tenant_id)
            n = Notifier(s, request, facts, calendar, now)
            n.refresh(event)
        if not facts.open_offers() and facts.state is State.OFFERED:
            self._system_escalate(request_id, "every alliance it was offered to has declined")
        found = self.find(actor, request_id)
        return Acted(found.facts, f"You have declined {facts.reference} ({why}).", found.actions)

    def question(self, actor: Actor, request_id: int, text: str) -> Acted:
        """A provider asks the requesting school a question, in the thread of its card."""
        words = _text(text, "question", NOTE_LIMIT)
        with self.db.session() as s:
            request = self._visible(s, actor, request_id)
            facts = self._facts(s, request)
            who = parties(
                actor.grants, request, quadrant_id=facts.quadrant_id, offered_to=facts.open_offers()
            )
            if facts.state in TERMINAL:
                raise UserError(
                    f"{facts.reference} is *{facts.state.label}*: nothing more can be done"
                    " with it, so there is nobody to ask."
                )
            if Party.PROVIDER not in who:
                raise Forbidden(
                    f"Only an alliance {facts.reference} is offered to, or the one holding it,"
                    " can ask the school a question now."
                )
            event = self._event(
                s,
                request,
                actor.person_id,
                Party.PROVIDER,
                "question",
                facts.state,
                {"text": words},
            )
            n = Notifier(s, request, facts, self.calendars(facts.tenant_id), self.clock.now())
            n.tell(
                [request.requested_by],
                f"*{actor.name}* ({self._alliance_of(actor, facts)}) asks: {words}",
                event,
                buttons=(reply_button(facts, event),),
            )
        return Acted(facts, f"Your question has gone to {facts.requested_by} at {facts.school}.")

    def reply(self, actor: Actor, request_id: int, question_event: int, text: str) -> Acted:
        """The requesting school answers a provider's question, in the asker's thread."""
        words = _text(text, "reply", NOTE_LIMIT)
        with self.db.session() as s:
            request = self._visible(s, actor, request_id)
            facts = self._facts(s, request)
            self._require(actor, request, facts, Party.REQUESTER, None)
            asked = s.get(SupportEvent, question_event)
            if (
                asked is None
                or asked.request_id != request_id
                or asked.action != "question"
                or asked.actor_person_id is None
            ):
                raise NotFound("I can't find that question.")
            event = self._event(
                s,
                request,
                actor.person_id,
                Party.REQUESTER,
                "reply",
                facts.state,
                {"text": words, "question": question_event},
            )
            n = Notifier(s, request, facts, self.calendars(facts.tenant_id), self.clock.now())
            n.tell(
                [asked.actor_person_id],
                f"*{actor.name}* ({facts.school}) replies to your question"
                f" “{_short(str(asked.detail.get('text', '')))}”: {words}",
                event,
            )
        return Acted(facts, "Your reply has been sent.")

    def propose(
        self,
        actor: Actor,
        request_id: int,
        *,
        days: Decimal,
        starts_on: date,
        ends_on: date,
        note: str = "",
    ) -> Acted:
        """The provider proposes days, dates and the cost at the tenant's day rate."""
        calendar = self.calendars(_tenant(actor))
        today = calendar.local(self.clock.now()).date()
        _check_days(days, "days")
        if starts_on < today:
            raise FieldProblem("The start can't be in the past.", field="starts_on")
        if ends_on < starts_on:
            raise FieldProblem("The end can't be before the start.", field="ends_on")

        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            self._require(actor, request, facts, Party.PROVIDER, Action.PROPOSE)
            target = next_state(
                State(request.state), Action.PROPOSE, Party.PROVIDER, reference=facts.reference
            )
            cost = int((days * facts.day_rate_pence).quantize(Decimal(1), ROUND_HALF_UP))
            return _Change(
                "propose",
                Party.PROVIDER,
                target,
                {
                    "proposal_days": days,
                    "proposal_starts_on": starts_on,
                    "proposal_ends_on": ends_on,
                    "proposal_cost_pence": cost,
                    "proposal_note": note.strip() or None,
                },
                {
                    "days": str(days),
                    "starts_on": starts_on.isoformat(),
                    "ends_on": ends_on.isoformat(),
                    "cost_pence": cost,
                    "day_rate_pence": facts.day_rate_pence,
                    "note": note.strip(),
                },
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            p = n.facts.proposal
            assert p is not None
            what = (
                f"{days_text(p.days)}, {dates_text(p.starts_on, p.ends_on)}, {money(p.cost_pence)}"
            )
            verb = "revised its proposal" if facts.state is State.PROPOSED else "proposes"
            n.refresh(event)
            n.tell(
                [n.request.requested_by],
                f"*{n.facts.holder}* {verb}: {what}. Accept it, or ask for changes, on the card.",
                event,
            )
            return f"Your proposal for {facts.reference} has gone to {facts.school}: {what}."

        return self._act(actor, request_id, change, after)

    def accept(self, actor: Actor, request_id: int) -> Acted:
        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            self._require(actor, request, facts, Party.REQUESTER, Action.ACCEPT)
            target = next_state(
                State(request.state), Action.ACCEPT, Party.REQUESTER, reference=facts.reference
            )
            p = facts.proposal
            assert p is not None
            calendar = self.calendars(request.tenant_id)
            nudge = calendar.next_slot(
                calendar.at(p.starts_on + timedelta(days=1), calendar.quiet_hours.starts)
            )
            return _Change(
                "accept",
                Party.REQUESTER,
                target,
                {"agreed_at": self.clock.now(), "start_nudge_at": nudge},
                {
                    "days": str(p.days),
                    "starts_on": p.starts_on.isoformat(),
                    "ends_on": p.ends_on.isoformat(),
                    "cost_pence": p.cost_pence,
                },
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            n.refresh(event)
            n.tell(
                self._holders(n),
                f"{facts.school} has accepted your proposal. Press *Start the delivery* when the"
                " work begins.",
                event,
            )
            return f"You have accepted the proposal: {facts.reference} is agreed."

        return self._act(actor, request_id, change, after)

    def ask_changes(self, actor: Actor, request_id: int, text: str) -> Acted:
        words = _text(text, "changes", NOTE_LIMIT)

        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            self._require(actor, request, facts, Party.REQUESTER, Action.ASK_CHANGES)
            target = next_state(
                State(request.state), Action.ASK_CHANGES, Party.REQUESTER, reference=facts.reference
            )
            return _Change(
                "ask_changes",
                Party.REQUESTER,
                target,
                {
                    "proposal_days": None,
                    "proposal_starts_on": None,
                    "proposal_ends_on": None,
                    "proposal_cost_pence": None,
                    "proposal_note": None,
                },
                {"text": words},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            n.refresh(event)
            n.tell(
                self._holders(n),
                f"{facts.school} asks for changes to your proposal: {words} Please propose again.",
                event,
            )
            return f"Your request for changes has gone to {facts.holder}."

        return self._act(actor, request_id, change, after)

    def start(self, actor: Actor, request_id: int) -> Acted:
        return self._simple(
            actor,
            request_id,
            Action.START,
            Party.PROVIDER,
            {"start_nudge_at": None},
            lambda n, f: ([n.request.requested_by], f"*{f.holder}* has started the delivery."),
            "The delivery of {ref} has started.",
        )

    def deliver(self, actor: Actor, request_id: int) -> Acted:
        calendar = self.calendars(_tenant(actor))
        now = self.clock.now()
        local = calendar.local(now)
        due = calendar.at(
            calendar.add_school_days(local.date(), self.close_nudge_after),
            local.time().replace(microsecond=0),
        )
        return self._simple(
            actor,
            request_id,
            Action.DELIVER,
            Party.PROVIDER,
            {"delivered_at": now, "close_nudge_at": due},
            lambda n, f: (
                [n.request.requested_by],
                f"*{f.holder}* has marked the support delivered. Please close the request and"
                " rate its impact (1-5) with a short note of the evidence.",
            ),
            "{ref} is marked delivered; the school is asked to close it and rate the impact.",
        )

    def close(self, actor: Actor, request_id: int, rating: int, evidence: str) -> Acted:
        if not 1 <= rating <= 5:
            raise FieldProblem("Rate the impact from 1 to 5.", field="rating")
        words = _text(evidence, "evidence", NOTE_LIMIT)

        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            self._require(actor, request, facts, Party.REQUESTER, Action.CLOSE)
            target = next_state(
                State(request.state), Action.CLOSE, Party.REQUESTER, reference=facts.reference
            )
            return _Change(
                "close",
                Party.REQUESTER,
                target,
                {
                    "impact_rating": rating,
                    "impact_evidence": words,
                    "closed_at": self.clock.now(),
                    "close_nudge_at": None,
                },
                {"rating": rating, "evidence": words},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            n.refresh(event)
            n.tell(
                self._holders(n),
                f"{facts.school} has closed the request and rated its impact {rating}/5: {words}",
                event,
            )
            return f"Thank you: {facts.reference} is closed with an impact rating of {rating}/5."

        return self._act(actor, request_id, change, after)

    def withdraw(self, actor: Actor, request_id: int, reason: str = "") -> Acted:
        words = reason.strip()

        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            party = self._require(actor, request, facts, None, Action.WITHDRAW)
            target = next_state(
                State(request.state), Action.WITHDRAW, party, reference=facts.reference
            )
            return _Change(
                "withdraw",
                party,
                target,
                {"escalate_at": None, "start_nudge_at": None, "close_nudge_at": None},
                {"reason": words} if words else {},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            self._settle_offers(n.session, facts.id, n.facts.holder_id)
            n.facts = self._facts(n.session, n.request)
            why = f" ({words})" if words else ""
            text = f"{actor.name} has withdrawn this request{why}. Nothing more is needed."
            n.refresh(event)
            told = self._holders(n)
            if facts.state is State.ESCALATED:
                told += n.chairs()
            if actor.person_id != n.request.requested_by:
                told.append(n.request.requested_by)
            n.tell([p for p in told if p != actor.person_id], text, event)
            return f"{facts.reference} is withdrawn."

        return self._act(actor, request_id, change, after)

    def escalate(self, actor: Actor, request_id: int, reason: str = "") -> Acted:
        """A chair takes a request back from whoever holds it (or from the open offers)."""
        words = reason.strip() or "escalated by the chair"

        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            self._require(actor, request, facts, Party.CHAIR, Action.ESCALATE)
            target = next_state(
                State(request.state), Action.ESCALATE, Party.CHAIR, reference=facts.reference
            )
            return _Change(
                "escalate",
                Party.CHAIR,
                target,
                _released(),
                {"reason": words, "from_alliance_id": facts.holder_id},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            if facts.holder_id is not None:
                self._lapse(n.session, facts.id, facts.holder_id)
            n.facts = self._facts(n.session, n.request)
            n.refresh(event)
            if facts.holder_person_id is not None:
                n.tell(
                    [facts.holder_person_id],
                    f"{actor.name} has taken this request back to find another way to meet it.",
                    event,
                )
            n.tell(
                [n.request.requested_by],
                f"{actor.name} is finding a provider for your request.",
                event,
            )
            # The other chairs share the queue it is now in: they can assign it too.
            n.tell(
                [p for p in n.chairs() if p != actor.person_id],
                f"{actor.name} has escalated this request ({words}). It can be assigned to a"
                " provider directly.",
                event,
            )
            return f"{facts.reference} is escalated: assign it to a provider when you are ready."

        return self._act(actor, request_id, change, after)

    # --- the sweeps ------------------------------------------------------------------------

    def sweep(self) -> SweepCounts:
        """Escalate what has waited too long for a claim, and nudge what has stalled."""
        counts = SweepCounts()
        now = self.clock.now()
        with self.db.session() as s:
            due = s.exec(
                select(SupportRequest.id)
                .where(
                    col(SupportRequest.escalate_at) <= now,
                    col(SupportRequest.state).in_([State.SUBMITTED.value, State.OFFERED.value]),
                )
                .order_by(col(SupportRequest.escalate_at))
                .limit(SWEEP_BATCH)
            ).all()
        for request_id in due:
            if request_id is None:
                continue
            try:
                if self._system_escalate(
                    request_id, f"not claimed after {self.escalate_after} school days"
                ):
                    counts.escalated += 1
            except Exception:
                log.exception("escalating support request %s failed", request_id)
                counts.problems.append(f"escalate {request_id}")
        counts.start_nudges = self._nudge(
            "start_nudge_at",
            State.AGREED,
            lambda n, f: (
                self._holders(n),
                f"The agreed start date ({_date(f)}) has passed and the delivery is not marked"
                " started. Press *Start the delivery* when it begins, or tell the school"
                " if the dates have changed.",
            ),
            counts,
        )
        counts.close_nudges = self._nudge(
            "close_nudge_at",
            State.DELIVERED,
            lambda n, f: (
                [n.request.requested_by],
                f"*{f.holder}* marked this delivered {self.close_nudge_after} school days ago."
                " Please close it and rate the impact: it helps every school choose support.",
            ),
            counts,
        )
        return counts

    def _system_escalate(self, request_id: int, reason: str) -> bool:
        """Escalate a request nobody holds; False if it moved on meanwhile."""
        with self.db.session() as s:
            request = s.get(SupportRequest, request_id)
            if request is None:
                return False
            state = State(request.state)
            if state not in (State.SUBMITTED, State.OFFERED):
                return False
        now = self.clock.now()
        with self.db.session() as s:
            result = s.exec(
                update(SupportRequest)
                .where(
                    col(SupportRequest.id) == request_id,
                    col(SupportRequest.version) == request.version,
                )
                .values(
                    state=State.ESCALATED.value,
                    version=request.version + 1,
                    updated_at=now,
                    escalate_at=None,
                )
            )
            if not result.rowcount:
                return False
            request = s.get(SupportRequest, request_id)
            assert request is not None
            s.refresh(request)
            event = self._event(
                s, request, None, Party.SYSTEM, "escalate", state, {"reason": reason}
            )
            facts = self._facts(s, request)
            n = Notifier(s, request, facts, self.calendars(request.tenant_id), now)
            n.refresh(event)
            n.tell(n.chairs(), _escalated_text(facts, reason), event)
            n.tell(
                [request.requested_by],
                f"Your request has not been claimed yet ({reason}), so it has gone to your"
                " quadrant chair and the LA, who can ask a provider directly.",
                event,
            )
            return True

    def _nudge(
        self,
        column: str,
        state: State,
        message: Callable[[Notifier, Facts], tuple[list[int], str]],
        counts: SweepCounts,
    ) -> int:
        now = self.clock.now()
        due_col = getattr(SupportRequest, column)
        sent = 0
        with self.db.session() as s:
            ids = s.exec(
                select(SupportRequest.id)
                .where(col(due_col) <= now, SupportRequest.state == state.value)
                .order_by(col(due_col))
                .limit(SWEEP_BATCH)
            ).all()
        for request_id in ids:
            try:
                with self.db.session() as s:
                    done = s.exec(
                        update(SupportRequest)
                        .where(
                            col(SupportRequest.id) == request_id,
                            col(due_col) <= now,
                            col(SupportRequest.state) == state.value,
                        )
                        .values({column: None})
                    )
                    if not done.rowcount:
                        continue
                    request = s.get(SupportRequest, request_id)
                    assert request is not None
                    event = self._event(
                        s, request, None, Party.SYSTEM, "nudge", state, {"which": column}
                    )
                    facts = self._facts(s, request)
                    n = Notifier(s, request, facts, self.calendars(request.tenant_id), now)
                    people, text = message(n, facts)
                    n.tell(people, text, event)
                    sent += 1
            except Exception:
                log.exception("nudging support request %s failed", request_id)
                counts.problems.append(f"{column} {request_id}")
        return sent

    # --- machinery -------------------------------------------------------------------------

    def _act(
        self,
        actor: Actor,
        request_id: int,
        change: Callable[[Session, SupportRequest, Facts], _Change],
        after: Callable[[Notifier, int, Facts], str],
        *,
        conflict: Callable[[Facts], UserError | None] | None = None,
    ) -> Acted:
        """Read, decide, then apply with a guarded update; try again if someone else moved
        the request meanwhile (the decision is remade on what they left)."""
        tenant_id = _tenant(actor)
        for _ in range(3):
            with self.db.session() as s:
                request = self._visible(s, actor, request_id)
                facts = self._facts(s, request)
                if conflict is not None and (problem := conflict(facts)) is not None:
                    raise problem
                planned = change(s, request, facts)
                read_version = request.version
            now = self.clock.now()
            with self.db.session() as s:
                # The guarded write comes first in its transaction: on SQLite that takes the
                # write lock before anything is read, so nothing read here can be stale.
                result = s.exec(
                    update(SupportRequest)
                    .where(
                        col(SupportRequest.id) == request_id,
                        col(SupportRequest.tenant_id) == tenant_id,
                        col(SupportRequest.version) == read_version,
                    )
                    .values(
                        state=planned.target.value,
                        version=read_version + 1,
                        updated_at=now,
                        **planned.values,
                    )
                )
                if not result.rowcount:
                    continue
                fresh = s.get(SupportRequest, request_id)
                assert fresh is not None
                request = fresh
                s.refresh(request)
                event = self._event(
                    s,
                    request,
                    actor.person_id,
                    planned.party,
                    planned.action,
                    facts.state,
                    planned.detail,
                )
                after_facts = self._facts(s, request)
                n = Notifier(s, request, after_facts, self.calendars(tenant_id), now)
                message = after(n, event, facts)
            found = self.find(actor, request_id)
            return Acted(found.facts, message, found.actions)
        # Three lost races in a row: only a storm of clicks on one request could cause it.
        raise UserError("Others are changing this request right now: please try again.")

    def _simple(
        self,
        actor: Actor,
        request_id: int,
        action: Action,
        party: Party,
        values: Mapping[str, Any],
        notice: Callable[[Notifier, Facts], tuple[list[int], str]],
        done: str,
    ) -> Acted:
        def change(s: Session, request: SupportRequest, facts: Facts) -> _Change:
            self._require(actor, request, facts, party, action)
            target = next_state(State(request.state), action, party, reference=facts.reference)
            return _Change(action.value, party, target, dict(values), {})

        def after(n: Notifier, event: int, facts: Facts) -> str:
            n.refresh(event)
            people, text = notice(n, n.facts)
            n.tell(people, text, event)
            return done.format(ref=facts.reference)

        return self._act(actor, request_id, change, after)

    def _require(
        self,
        actor: Actor,
        request: SupportRequest,
        facts: Facts,
        party: Party | None,
        action: Action | None,
    ) -> Party:
        """The capacity the actor takes `action` in: `party`, or (None) the first of theirs the
        lifecycle allows. Refuses naming the state (IllegalTransition) when the request is
        over or the actor takes part in it otherwise; naming who may (Forbidden) when they
        take no part in it."""
        who = parties(
            actor.grants, request, quadrant_id=facts.quadrant_id, offered_to=facts.open_offers()
        )
        if party is not None and party in who:
            return party
        if action is not None and facts.state in TERMINAL:
            # Nothing can be done with it by anyone: say so, naming the state.
            next_state(facts.state, action, party or Party.REQUESTER, reference=facts.reference)
        if party is not None and action is not None:
            # They take part in the request, but not as `party`: name the state and what
            # they may do in it instead.
            for p in sorted(who):
                next_state(facts.state, action, p, reference=facts.reference)
        if party is None and action is not None:
            for p in (Party.REQUESTER, Party.PROVIDER, Party.CHAIR):
                if p in who:
                    try:
                        next_state(facts.state, action, p)
                    except IllegalTransition:
                        continue
                    return p
            if who:
                next_state(facts.state, action, sorted(who)[0], reference=facts.reference)
        wanted = {
            Party.REQUESTER: f"{ASKERS} that asked",
            Party.PROVIDER: "the lead of the alliance that holds it",
            Party.CHAIR: CHAIRS + " for the school's quadrant",
        }
        if party is None:
            names = "the school that asked, or " + CHAIRS
        else:
            names = wanted.get(party, party.label)
        what = action.verb if action is not None else "do that"
        raise Forbidden(f"Only {names} can {what} on {facts.reference}.")

    def _offering_alliance(self, actor: Actor, facts: Facts) -> int:
        mine = reach(actor.grants).alliances & set(facts.open_offers())
        if not mine:
            if facts.holder_id is not None:
                raise _claimed_already(facts) or UserError("")
            raise Forbidden(
                f"Only the lead of an alliance {facts.reference} is offered to can do that."
            )
        return min(mine)

    def _alliance_of(self, actor: Actor, facts: Facts) -> str:
        mine = reach(actor.grants).alliances
        for o in facts.offers:
            if o.alliance_id in mine:
                return o.alliance
        return facts.holder or "their alliance"

    def _holders(self, n: Notifier) -> list[int]:
        """Who speaks for the provider: the lead who claimed it (else every lead)."""
        if n.request.claimed_by_person_id is not None:
            return [n.request.claimed_by_person_id]
        if n.request.claimed_by_alliance_id is not None:
            return n.leads(n.request.claimed_by_alliance_id)
        return []

    def _settle_offers(
        self, s: Session, request_id: int, holder: int | None, *, assigned: bool = False
    ) -> None:
        """Mark the holder's offer claimed (adding one for an assignment) and lapse the rest."""
        now = self.clock.now()
        if holder is not None:
            offer = s.exec(
                select(SupportOffer).where(
                    SupportOffer.request_id == request_id, SupportOffer.alliance_id == holder
                )
            ).first()
            if offer is None and assigned:
                request = s.get(SupportRequest, request_id)
                assert request is not None
                offer = SupportOffer(
                    tenant_id=request.tenant_id,
                    request_id=request_id,
                    alliance_id=holder,
                    offered_at=now,
                )
            if offer is not None and offer.status != "claimed":
                offer.status = "claimed"
                offer.responded_at = now
                s.add(offer)
        s.exec(
            update(SupportOffer)
            .where(
                col(SupportOffer.request_id) == request_id,
                col(SupportOffer.status) == "offered",
                col(SupportOffer.alliance_id) != (holder if holder is not None else -1),
            )
            .values(status="lapsed", responded_at=now)
        )
        s.flush()

    def _lapse(self, s: Session, request_id: int, alliance_id: int) -> None:
        s.exec(
            update(SupportOffer)
            .where(
                col(SupportOffer.request_id) == request_id,
                col(SupportOffer.alliance_id) == alliance_id,
            )
            .values(status="lapsed", responded_at=self.clock.now())
        )

    def _event(
        self,
        s: Session,
        request: SupportRequest,
        person_id: int | None,
        party: Party,
        action: str,
        from_state: State,
        detail: dict[str, Any],
    ) -> int:
        assert request.id is not None
        event = SupportEvent(
            tenant_id=request.tenant_id,
            request_id=request.id,
            at=self.clock.now(),
            actor_person_id=person_id,
            party=party.value,
            action=action,
            from_state=from_state.value,
            to_state=request.state,
            detail=detail,
        )
        s.add(event)
        s.flush()
        assert event.id is not None
        return event.id

    def events(self, actor: Actor, request_id: int) -> list[SupportEvent]:
        """The audit trail of a request the actor may see, oldest first."""
        with self.db.session() as s:
            request = self._visible(s, actor, request_id)
            return list(
                s.exec(
                    select(SupportEvent)
                    .where(SupportEvent.request_id == request.id)
                    .order_by(col(SupportEvent.at), col(SupportEvent.id))
                ).all()
            )

    def day_rate(self, tenant_id: int) -> int:
        with self.db.session() as s:
            tenant = s.get(Tenant, tenant_id)
            return tenant.day_rate_pence if tenant else 45000


def _released() -> dict[str, Any]:
    return {
        "claimed_by_alliance_id": None,
        "claimed_by_person_id": None,
        "proposal_days": None,
        "proposal_starts_on": None,
        "proposal_ends_on": None,
        "proposal_cost_pence": None,
        "proposal_note": None,
        "escalate_at": None,
    }


def _claimed_already(facts: Facts) -> UserError | None:
    if facts.holder_id is None or facts.state not in (
        State.CLAIMED,
        State.PROPOSED,
        State.AGREED,
        State.IN_DELIVERY,
        State.DELIVERED,
        State.CLOSED,
    ):
        if facts.state in TERMINAL:
            return UserError(f"{facts.reference} is *{facts.state.label}*: it can't be claimed.")
        return None
    who = str(facts.holder) + (f" ({facts.holder_person})" if facts.holder_person else "")
    return UserError(f"{facts.reference} has already been claimed by *{who}*.")


def _asked_headline(facts: Facts, offered: tuple[str, ...], reason: str | None) -> str:
    if reason is not None:
        return (
            f"Your request *{facts.reference}* is in. As {reason}, it has gone to your quadrant"
            " chair and the LA, who will find the right help."
        )
    listed = ", ".join(offered)
    return (
        f"Your request *{facts.reference}* is in and has gone to {len(offered)}"
        f" {'alliance' if len(offered) == 1 else 'alliances'} ({listed})."
        " You'll hear here when one claims it."
    )


def _escalated_text(facts: Facts, reason: str) -> str:
    return f"{facts.school} needs support and {reason}. You can assign it to a provider directly."


def _check_ask(ask: Ask, today: date) -> None:
    _text(ask.needed, "needed", NEEDED_LIMIT)
    if len(ask.why_now) > WHY_LIMIT:
        raise FieldProblem(f"Keep this under {WHY_LIMIT} characters.", field="why_now")
    if ask.urgency not in URGENCIES:
        raise FieldProblem("Choose how urgent it is.", field="urgency")
    if ask.window_to is not None and ask.window_to < today:
        raise FieldProblem("The end of the window can't be in the past.", field="window_to")
    if ask.window_from and ask.window_to and ask.window_from > ask.window_to:
        raise FieldProblem("The window ends before it starts.", field="window_to")
    if ask.days_estimate is not None:
        _check_days(ask.days_estimate, "days")


def _check_days(days: Decimal, name: str) -> None:
    if days <= 0 or days > 100 or (days * 2) % 1 != 0:
        raise FieldProblem("Give days in halves: 0.5, 1, 1.5 … up to 100.", field=name)


def _text(value: str, name: str, limit: int) -> str:
    words = value.strip()
    if not words:
        raise FieldProblem("Please write something here.", field=name)
    if len(words) > limit:
        raise FieldProblem(f"Keep this under {limit} characters.", field=name)
    return words


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _date(f: Facts) -> str:
    return date_text(f.proposal.starts_on) if f.proposal else "?"


def _tenant(actor: Actor) -> int:
    if actor.tenant_id is None or actor.person_id is None:
        raise UserError("This workspace is not linked to a local authority yet.")
    return actor.tenant_id
