"""The machinery every move of a support request shares: finding it, deciding, applying.

Every change is one transaction that opens with a guarded write — `UPDATE support_request …
WHERE id = ? AND version = ?` — so that of two people acting at once exactly one wins (the
first claim among twenty concurrent clicks, on SQLite and PostgreSQL alike), and a repeated
request changes nothing. The same transaction writes the audit event, the offers, and the
messages (cards, edits and notes; see notify.py) into the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.ids import parse_id
from bot.ports import Clock
from bot.replies.support import CardView
from bot.services import audit
from bot.services.calendar import TenantCalendar
from bot.services.support.access import LA_ROUTE, can_see, parties, reach
from bot.services.support.catalogue import Catalogue
from bot.services.support.facts import Facts, load_facts
from bot.services.support.lifecycle import (
    TERMINAL,
    TRANSITION_ROWS,
    Action,
    IllegalTransition,
    Party,
    State,
    next_state,
)
from bot.services.support.notify import Notifier, view_for
from bot.services.support.routing import HELD_STATES
from bot.types import Actor
from storage.engine import Database
from storage.models import School
from storage.support_tables import SupportEvent, SupportOffer, SupportRequest

SEE_ENTRY = authorisation.command("support show")
ACT_ENTRY = authorisation.TABLE[(authorisation.Kind.FORM, "slis.support.act")]
ESCALATE_AFTER = 3  # school days without a claim
CLOSE_NUDGE_AFTER = 10  # school days delivered but not closed
SWEEP_BATCH = 200
NEEDED_LIMIT = 3000
WHY_LIMIT = 2000
NOTE_LIMIT = 1000
URGENCIES = ("low", "normal", "high", "urgent")
# Why a request goes to the chair and the LA instead of (or after) the alliances, as a chair
# reads it ("…, and <reason>"); the requester reads "you asked" for "the school asked".
LA_ROUTED = "it is a matter for the LA, not for an alliance"
NO_CONSENT = "the school asked for it not to be shared with providers"
NONE_ELIGIBLE = "no alliance serving the quadrant can take it this term"
ALL_DECLINED = "every alliance it was offered to has declined"


def action_entry(action: str) -> authorisation.Entry:
    """The table entry of a support card's button (`claim`, `propose`...)."""
    entry = authorisation.button(f"slis.support.{action}")
    assert entry is not None, action
    return entry


# Who takes each action on a card: the lifecycle's parties, and the conversation's three moves.
ACTION_PARTIES: Mapping[str, frozenset[Party]] = MappingProxyType(
    {
        **{
            a.value: frozenset(p for t in TRANSITION_ROWS if t.action is a for p in t.parties)
            - {Party.SYSTEM}
            for a in Action
        },
        "decline": frozenset({Party.PROVIDER}),
        "question": frozenset({Party.PROVIDER}),
        "reply": frozenset({Party.REQUESTER}),
    }
)


def require_party(actor: Actor, facts: Facts, action: str) -> None:
    """Forbidden, in the table's words, unless the actor takes part in the request in a
    capacity that ever takes `action` (whether it is theirs to take now is the lifecycle's)."""
    r = reach(actor.grants)
    who: set[Party] = set()
    if facts.school_id in r.schools:
        who.add(Party.REQUESTER)
    held = facts.holder_id
    if (held in r.alliances) if held is not None else bool(r.alliances & set(facts.open_offers())):
        who.add(Party.PROVIDER)
    if r.chairs(facts.quadrant_id, facts.route):
        who.add(Party.CHAIR)
    if not who & ACTION_PARTIES.get(action, frozenset()):
        raise authorisation.refusal(action_entry(action), facts.reference)


def subject_of(facts: Facts) -> authorisation.Subject:
    """A request as the authorisation table's scopes see it."""
    return authorisation.Subject.of(
        school=facts.school_id,
        quadrant=facts.quadrant_id,
        offered=facts.open_offers(),
        holding=facts.holder_id,
    )


@dataclass(frozen=True)
class Acted:
    """The outcome of an action, for the person who took it."""

    facts: Facts
    message: str
    actions: tuple[str, ...] = ()
    view: CardView | None = None  # the card as the actor sees it


class FieldProblem(UserError):
    """A value in a form is not acceptable; `field` names the form field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Change:
    """One guarded update of a request: the action, who took it, and what else it sets."""

    action: str
    party: Party
    target: State
    values: dict[str, Any]
    detail: dict[str, Any]


class RequestMoves:
    """Finding a request for someone, and applying one move to it with its event and messages."""

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

    def find(self, actor: Actor, ref: str | int) -> Acted:
        """A request the actor may see, with the buttons they may press; NotFound otherwise
        (the same words whether it does not exist or is not theirs to see)."""
        with self.db.session() as s:
            request = self._visible(s, actor, ref)
            facts = self._facts(s, request)
            view = view_for(facts, actor.grants, request)
            return Acted(facts, "", view.actions, view)

    def _visible(self, s: Session, actor: Actor, ref: str | int) -> SupportRequest:
        tenant_id = tenant_of(actor)
        query = select(SupportRequest).where(SupportRequest.tenant_id == tenant_id)
        text = str(ref).strip().upper()
        if isinstance(ref, int) or text.isdigit():
            # An id no row can have (too large, not ASCII) finds nothing.
            query = query.where(SupportRequest.id == (parse_id(text) or 0))
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
            hint=f"Only {authorisation.who_may(SEE_ENTRY)} may see a support request;"
            " `/slis support list` shows the ones you can see.",
        )

    def _facts(self, s: Session, request: SupportRequest) -> Facts:
        return load_facts(s, [request], self.catalogues(request.tenant_id))[0]

    def _act(
        self,
        actor: Actor,
        request_id: int,
        change: Callable[[Session, SupportRequest, Facts], Change],
        after: Callable[[Notifier, int, Facts], str],
        *,
        conflict: Callable[[Facts], UserError | None] | None = None,
    ) -> Acted:
        """Read, decide, then apply with a guarded update; try again if someone else moved
        the request meanwhile (the decision is remade on what they left)."""
        tenant_id = tenant_of(actor)
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
                    actor,
                    planned.party,
                    planned.action,
                    facts.state,
                    planned.detail,
                )
                after_facts = self._facts(s, request)
                n = Notifier(s, request, after_facts, self.calendars(tenant_id), now)
                message = after(n, event, facts)
            found = self.find(actor, request_id)
            return Acted(found.facts, message, found.actions, found.view)
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
        def change(s: Session, request: SupportRequest, facts: Facts) -> Change:
            return self._move(actor, request, facts, party, action, values)

        def after(n: Notifier, event: int, facts: Facts) -> str:
            n.refresh(event)
            people, text = notice(n, n.facts)
            n.tell(people, text, event)
            return done.format(ref=facts.reference)

        return self._act(actor, request_id, change, after)

    def _move(
        self,
        actor: Actor,
        request: SupportRequest,
        facts: Facts,
        party: Party | None,
        action: Action,
        values: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Change:
        """The change the actor makes by taking `action` as `party` (None: in whichever of
        their capacities the lifecycle allows); refused, naming the state or who may, when
        it is not theirs to make now."""
        who = self._require(actor, request, facts, party, action)
        target = next_state(State(request.state), action, who, reference=facts.reference)
        return Change(action.value, who, target, dict(values or {}), dict(detail or {}))

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
        if action is not None and not who & ACTION_PARTIES[action.value]:
            raise authorisation.refusal(action_entry(action.value), facts.reference)
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
        if action is None:
            raise authorisation.refusal(ACT_ENTRY, facts.reference)
        raise authorisation.refusal(action_entry(action.value), facts.reference)

    def _offering_alliance(self, actor: Actor, facts: Facts) -> int:
        mine = reach(actor.grants).alliances & set(facts.open_offers())
        if not mine:
            if facts.holder_id is not None:
                raise claimed_already(facts) or UserError("")
            raise authorisation.refusal(action_entry("claim"), facts.reference)
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
        by: Actor | None,
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
            actor_person_id=None if by is None else by.person_id,
            party=party.value,
            action=action,
            from_state=from_state.value,
            to_state=request.state,
            detail=detail,
        )
        s.add(event)
        s.flush()
        assert event.id is not None
        audit_event(s, request, event, by)
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
            n.refresh(event, everyone=True)
            n.tell(n.chairs(), escalated_text(facts, reason), event)
            n.tell(
                [request.requested_by],
                f"As {to_requester(reason)}, your request has gone to your quadrant chair and"
                " the LA, who can ask a provider directly.",
                event,
            )
            return True


# A request's proposal, voided (the school asked for changes, or the holder let it go).
NO_PROPOSAL: Mapping[str, Any] = MappingProxyType(
    {
        "proposal_days": None,
        "proposal_starts_on": None,
        "proposal_ends_on": None,
        "proposal_cost_pence": None,
        "proposal_note": None,
    }
)


def released() -> dict[str, Any]:
    """What a request loses when its holder gives it back: the holder, and the proposal."""
    return {
        "claimed_by_alliance_id": None,
        "claimed_by_person_id": None,
        **NO_PROPOSAL,
        "escalate_at": None,
    }


def claimed_already(facts: Facts) -> UserError | None:
    if facts.holder_id is None or facts.state not in HELD_STATES:
        if facts.state in TERMINAL:
            return UserError(f"{facts.reference} is *{facts.state.label}*: it can't be claimed.")
        return None
    who = str(facts.holder) + (f" ({facts.holder_person})" if facts.holder_person else "")
    return UserError(f"{facts.reference} has already been claimed by *{who}*.")


def destination(route: str) -> str:
    """Who a request goes to when it is not offered to alliances, as the requester reads it."""
    return "the LA" if route == LA_ROUTE else "your quadrant chair and the LA"


def to_requester(reason: str) -> str:
    return reason.replace("the school asked", "you asked")


def escalated_text(facts: Facts, reason: str) -> str:
    if facts.route == LA_ROUTE:
        return (
            f"*{facts.school}* has raised something that is for the LA: {facts.category}."
            " Please follow it up; you can also assign it to a provider if that is the help"
            " needed."
        )
    return (
        f"*{facts.school}* needs support ({facts.category}), and {reason}. You can assign it"
        " to a provider directly."
    )


def check_days(days: Decimal, name: str) -> None:
    if days <= 0 or days > 100 or (days * 2) % 1 != 0:
        raise FieldProblem("Give days in halves: 0.5, 1, 1.5 … up to 100.", field=name)


def checked_text(value: str, name: str, limit: int) -> str:
    words = value.strip()
    if not words:
        raise FieldProblem("Please write something here.", field=name)
    if len(words) > limit:
        raise FieldProblem(f"Keep this under {limit} characters.", field=name)
    return words


def shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tenant_of(actor: Actor) -> int:
    if actor.tenant_id is None or actor.person_id is None:
        raise UserError("This workspace is not linked to a local authority yet.")
    return actor.tenant_id


# Facts of a support event that are not personal data and may go into the audit log; the
# rest (notes, questions, reasons, evidence) is free text and stays with the request.
AUDITED_DETAIL = ("alliance_id", "alliances", "from_alliance_id", "days", "cost_pence")
# Reminders the bot sends about a request change nothing, so they are not audited.
UNAUDITED = frozenset({"nudge"})


def audit_event(s: Session, request: SupportRequest, event: SupportEvent, by: Actor | None) -> None:
    """Record a support event in the audit log, in its transaction: `support.<action>`."""
    if event.action in UNAUDITED:
        return
    detail = {k: event.detail[k] for k in AUDITED_DETAIL if event.detail.get(k) is not None}
    audit.record(
        s,
        tenant_id=request.tenant_id,
        at=event.at,
        action=f"support.{event.action}",
        subject=request.reference,
        actor=by,
        platform=audit.SYSTEM,
        detail={"from": event.from_state, "to": event.to_state, "event": event.id, **detail},
    )
