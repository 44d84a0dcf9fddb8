"""Who hears about a support request, and how: cards, edits of cards, and notes in their threads.

Each person who needs to follow a request holds one card (outbox key `support:<id>:card:<person>`).
When the request changes, every card is edited in place to show the new state and that person's
buttons (`...:card:<person>:e<event>`, sent at once: an edit does not notify). Those who need to
know get a note in their card's thread (`support:<id>:note:<event>:<person>`, at the next time
the bot may speak); someone without a card yet gets a card, with the note as its headline. The
keys make every write idempotent: a transition repeated after a crash adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from bot.replies import support as present
from bot.services.calendar import TenantCalendar
from bot.services.identity import grants_for
from bot.services.outbox import Recipient, enqueue
from bot.services.support.access import LA_ROUTE, parties, reach
from bot.services.support.facts import Facts
from bot.services.support.lifecycle import TERMINAL, Action, Party, State, allowed
from bot.types import Button, Grant, Role, ScopeKind
from storage.models import RoleAssignment
from storage.outbox_tables import OutboxMessage
from storage.support_tables import SupportRequest

# Lifecycle actions people take with a button (the system's own are not offered).
BUTTON_ACTIONS = (
    Action.CLAIM,
    Action.ASSIGN,
    Action.PROPOSE,
    Action.ACCEPT,
    Action.ASK_CHANGES,
    Action.START,
    Action.DELIVER,
    Action.CLOSE,
    Action.ESCALATE,
    Action.WITHDRAW,
)
BUTTON_ORDER = tuple(present.LABELS)


def card_key(request_id: int, person_id: int) -> str:
    return f"support:{request_id}:card:{person_id}"


def actions_for(facts: Facts, who: frozenset[Party]) -> tuple[str, ...]:
    """The buttons someone acting as `who` sees on a request in its current state."""
    found: set[str] = set()
    for party in who:
        found.update(a.value for a in allowed(facts.state, party) if a in BUTTON_ACTIONS)
    if Party.PROVIDER in who and facts.state not in TERMINAL:
        found.add("question")
        if facts.holder_id is None and facts.state in (State.OFFERED, State.ESCALATED):
            found.add("decline")
    return tuple(a for a in BUTTON_ORDER if a in found)


def view_for(
    facts: Facts, grants: Sequence[Grant], request: SupportRequest, headline: str | None = None
) -> present.CardView:
    """The card as someone with `grants` sees it: their buttons, and what they may read."""
    who = parties(grants, request, quadrant_id=facts.quadrant_id, offered_to=facts.open_offers())
    overseer = reach(grants).see_everything
    holds = Party.PROVIDER in who and facts.holder_id is not None
    inside = Party.REQUESTER in who or Party.CHAIR in who or holds or overseer
    # Providers see the school's words only with its consent (requests without it go to the
    # chair, who decides whom to assign); the requester, chairs and the holder always do. The
    # proposal, its cost and the impact rating are between the school and the holder (and those
    # who oversee them): an alliance whose offer lapsed does not follow its rival's terms.
    return present.CardView(
        facts,
        actions_for(facts, who),
        headline=headline,
        details=facts.consent or inside,
        commercial=inside,
        involved=bool(who) or overseer,
    )


class Notifier:
    """Writes a request's cards, edits and notes into the outbox, in the caller's transaction."""

    def __init__(
        self,
        session: Session,
        request: SupportRequest,
        facts: Facts,
        calendar: TenantCalendar,
        now: datetime,
    ) -> None:
        self.session = session
        self.request = request
        self.facts = facts
        self.calendar = calendar
        self.now = now
        self._grants: dict[int, tuple[Grant, ...]] = {}
        self._carded: set[int] | None = None
        self._new: set[int] = set()  # carded in this transaction: already up to date

    # --- who -----------------------------------------------------------------------------

    def chairs(self) -> list[int]:
        """The quadrant chair and the LA's officer(s) for the school's quadrant; the county's
        LA officers where the quadrant has none. Requests routed to the LA go to officers only."""
        quadrant = self.facts.quadrant_id
        found: list[int] = []
        if quadrant is not None:
            roles = [Role.LA_OFFICER.value]
            if self.request.route != LA_ROUTE:
                roles.append(Role.QUADRANT_CHAIR.value)
            found = self._holders(roles, ScopeKind.QUADRANT, quadrant)
        officers_here = quadrant is not None and any(
            self._holders([Role.LA_OFFICER.value], ScopeKind.QUADRANT, quadrant)
        )
        if not officers_here:
            found += self._holders([Role.LA_OFFICER.value], ScopeKind.COUNTY, 0)
        return _unique(found)

    def leads(self, alliance_id: int) -> list[int]:
        return self._holders([Role.ALLIANCE_LEAD.value], ScopeKind.ALLIANCE, alliance_id)

    def _holders(self, roles: Sequence[str], kind: ScopeKind, scope_id: int) -> list[int]:
        rows = self.session.exec(
            select(RoleAssignment.person_id)
            .where(
                RoleAssignment.tenant_id == self.facts.tenant_id,
                col(RoleAssignment.role).in_(roles),
                RoleAssignment.scope_kind == kind.value,
                RoleAssignment.scope_id == scope_id,
            )
            .order_by(col(RoleAssignment.person_id))
        ).all()
        return _unique(rows)

    def grants(self, person_id: int) -> tuple[Grant, ...]:
        if person_id not in self._grants:
            self._grants[person_id] = grants_for(self.session, self.facts.tenant_id, person_id)
        return self._grants[person_id]

    def carded(self) -> set[int]:
        """The people who hold a card for this request."""
        if self._carded is None:
            prefix = f"support:{self.facts.id}:card:"
            keys = self.session.exec(
                select(OutboxMessage.key).where(
                    OutboxMessage.tenant_id == self.facts.tenant_id,
                    col(OutboxMessage.key).startswith(prefix),
                    col(OutboxMessage.edits_key).is_(None),
                )
            ).all()
            self._carded = {int(k[len(prefix) :]) for k in keys if k[len(prefix) :].isdigit()}
        return self._carded

    # --- what ----------------------------------------------------------------------------

    def card(self, person_id: int, headline: str | None = None) -> None:
        """Give `person_id` a card (a no-op if they have one), due when the bot may speak."""
        reply = present.card(
            view_for(self.facts, self.grants(person_id), self.request, headline=headline)
        )
        enqueue(
            self.session,
            tenant_id=self.facts.tenant_id,
            key=card_key(self.facts.id, person_id),
            to=Recipient(person_id=person_id),
            reply=reply,
            not_before=self.calendar.next_slot(self.now),
            now=self.now,
        )
        if person_id not in self.carded():
            self._new.add(person_id)
        self.carded().add(person_id)

    def tell(
        self,
        person_ids: Iterable[int],
        text: str | Callable[[int], str],
        event_id: int,
        *,
        buttons: Sequence[Button] = (),
    ) -> None:
        """A note for each person: in the thread of their card, or as a new card."""
        for person_id in _unique(person_ids):
            words = text(person_id) if callable(text) else text
            if person_id not in self.carded():
                self.card(person_id, headline=words)
                continue
            enqueue(
                self.session,
                tenant_id=self.facts.tenant_id,
                key=f"support:{self.facts.id}:note:{event_id}:{person_id}",
                to=Recipient(person_id=person_id),
                reply=present.note(self.facts, words, buttons=buttons),
                not_before=self.calendar.next_slot(self.now),
                thread_of=card_key(self.facts.id, person_id),
                now=self.now,
            )

    def refresh(self, event_id: int, *, everyone: bool = False) -> None:
        """Edit the cards to show the request as it is now: the cards of those still involved
        in it, or (`everyone`, for a change that ends someone's part, like a claim) every card.
        An alliance whose offer lapsed sees that once, and is not told of each later step."""
        for person_id in sorted(self.carded() - self._new):
            view = view_for(self.facts, self.grants(person_id), self.request)
            if not (everyone or view.involved):
                continue
            enqueue(
                self.session,
                tenant_id=self.facts.tenant_id,
                key=f"{card_key(self.facts.id, person_id)}:e{event_id}",
                to=Recipient(person_id=person_id),
                reply=present.card(view),
                not_before=self.now,
                edits=card_key(self.facts.id, person_id),
                now=self.now,
            )


def _unique(ids: Iterable[int]) -> list[int]:
    seen: dict[int, None] = {}
    for i in ids:
        seen.setdefault(i, None)
    return list(seen)
