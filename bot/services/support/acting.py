"""The moves people make on a request: claim, decline, question, propose, agree, deliver, close…"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import update
from sqlmodel import Session, col

from bot import authorisation
from bot.errors import Forbidden, NotFound, UserError
from bot.replies.support import dates_text, days_text, money, reply_button
from bot.services.support.access import parties
from bot.services.support.facts import Facts
from bot.services.support.lifecycle import TERMINAL, Action, Party, State, next_state
from bot.services.support.moves import (
    ALL_DECLINED,
    NO_PROPOSAL,
    NOTE_LIMIT,
    Acted,
    Change,
    FieldProblem,
    RequestMoves,
    action_entry,
    check_days,
    checked_text,
    claimed_already,
    released,
    shorten,
    tenant_of,
)
from bot.services.support.notify import Notifier
from bot.types import Actor
from storage.models import Alliance
from storage.support_tables import SupportEvent, SupportOffer, SupportRequest

DECLINE_REASONS = {
    "capacity": "no capacity this term",
    "expertise": "not our expertise",
    "conflict": "a conflict of interest",
    "timing": "the timing does not work",
    "other": "another reason",
}


class Acting(RequestMoves):
    """Each move a person can make on a request, with whom it tells."""

    def claim(self, actor: Actor, request_id: int) -> Acted:
        """Claim an offer for the actor's alliance; the first claim wins."""

        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            who = parties(
                actor.grants, request, quadrant_id=facts.quadrant_id, offered_to=facts.open_offers()
            )
            if who and Party.PROVIDER not in who:
                # The school or a chair: refused naming the state and what they may do.
                self._require(actor, request, facts, Party.PROVIDER, Action.CLAIM)
            if Party.REQUESTER in who:
                raise Forbidden(
                    f"{facts.reference} is your own school's request: another alliance must"
                    " take it, or the quadrant chair can assign it."
                )
            alliance = self._offering_alliance(actor, facts)
            target = next_state(
                State(request.state), Action.CLAIM, Party.PROVIDER, reference=facts.reference
            )
            return Change(
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
            n.refresh(event, everyone=True)
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

        return self._act(actor, request_id, change, after, conflict=claimed_already)

    def assign(self, actor: Actor, request_id: int, alliance_id: int, note: str = "") -> Acted:
        """A chair gives an escalated request to an alliance directly."""

        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            move = self._move(actor, request, facts, Party.CHAIR, Action.ASSIGN)
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
            move.values.update(
                claimed_by_alliance_id=alliance_id,
                claimed_by_person_id=leads[0],
                claimed_at=self.clock.now(),
                escalate_at=None,
            )
            move.detail.update({"alliance_id": alliance_id})
            if note.strip():
                move.detail["note"] = note.strip()
            return move

        def after(n: Notifier, event: int, facts: Facts) -> str:
            self._settle_offers(n.session, facts.id, alliance_id, assigned=True)
            n.facts = self._facts(n.session, n.request)
            extra = f" Their note: {note.strip()}" if note.strip() else ""
            n.refresh(event, everyone=True)
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
        tenant_id = tenant_of(actor)
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
                actor,
                Party.PROVIDER,
                "decline",
                state,
                {"alliance_id": alliance, "reason": reason, "note": note.strip()},
            )
            facts = self._facts(s, request)
            calendar = self.calendars(tenant_id)
            n = Notifier(s, request, facts, calendar, now)
            n.refresh(event, everyone=True)
        if not facts.open_offers() and facts.state is State.OFFERED:
            self._system_escalate(request_id, ALL_DECLINED)
        found = self.find(actor, request_id)
        return Acted(
            found.facts, f"You have declined {facts.reference} ({why}).", found.actions, found.view
        )

    def question(self, actor: Actor, request_id: int, text: str) -> Acted:
        """A provider asks the requesting school a question, in the thread of its card."""
        words = checked_text(text, "question", NOTE_LIMIT)
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
                raise authorisation.refusal(action_entry("question"), facts.reference)
            event = self._event(
                s,
                request,
                actor,
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
        words = checked_text(text, "reply", NOTE_LIMIT)
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
                actor,
                Party.REQUESTER,
                "reply",
                facts.state,
                {"text": words, "question": question_event},
            )
            n = Notifier(s, request, facts, self.calendars(facts.tenant_id), self.clock.now())
            n.tell(
                [asked.actor_person_id],
                f"*{actor.name}* ({facts.school}) replies to your question"
                f" “{shorten(str(asked.detail.get('text', '')))}”: {words}",
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
        calendar = self.calendars(tenant_of(actor))
        today = calendar.local(self.clock.now()).date()
        check_days(days, "days")
        if starts_on < today:
            raise FieldProblem("The start can't be in the past.", field="starts_on")
        if ends_on < starts_on:
            raise FieldProblem("The end can't be before the start.", field="ends_on")

        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            cost = int((days * facts.day_rate_pence).quantize(Decimal(1), ROUND_HALF_UP))
            return self._move(
                actor,
                request,
                facts,
                Party.PROVIDER,
                Action.PROPOSE,
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
        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            move = self._move(actor, request, facts, Party.REQUESTER, Action.ACCEPT)
            p = facts.proposal  # there is one: only a proposed request can be accepted
            assert p is not None
            calendar = self.calendars(request.tenant_id)
            nudge = calendar.next_slot(
                calendar.at(p.starts_on + timedelta(days=1), calendar.quiet_hours.starts)
            )
            move.values.update(agreed_at=self.clock.now(), start_nudge_at=nudge)
            move.detail.update(
                days=str(p.days),
                starts_on=p.starts_on.isoformat(),
                ends_on=p.ends_on.isoformat(),
                cost_pence=p.cost_pence,
            )
            return move

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
        words = checked_text(text, "changes", NOTE_LIMIT)

        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            return self._move(
                actor,
                request,
                facts,
                Party.REQUESTER,
                Action.ASK_CHANGES,
                NO_PROPOSAL,
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
        calendar = self.calendars(tenant_of(actor))
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
        words = checked_text(evidence, "evidence", NOTE_LIMIT)

        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            return self._move(
                actor,
                request,
                facts,
                Party.REQUESTER,
                Action.CLOSE,
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

        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            return self._move(
                actor,
                request,
                facts,
                None,
                Action.WITHDRAW,
                {"escalate_at": None, "start_nudge_at": None, "close_nudge_at": None},
                {"reason": words} if words else {},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            self._settle_offers(n.session, facts.id, n.facts.holder_id)
            n.facts = self._facts(n.session, n.request)
            why = f" ({words})" if words else ""
            text = f"{actor.name} has withdrawn this request{why}. Nothing more is needed."
            n.refresh(event, everyone=True)
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

        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            return self._move(
                actor,
                request,
                facts,
                Party.CHAIR,
                Action.ESCALATE,
                released(),
                {"reason": words, "from_alliance_id": facts.holder_id},
            )

        def after(n: Notifier, event: int, facts: Facts) -> str:
            if facts.holder_id is not None:
                self._lapse(n.session, facts.id, facts.holder_id)
            n.facts = self._facts(n.session, n.request)
            n.refresh(event, everyone=True)
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
