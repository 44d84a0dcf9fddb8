"""The life of a support request, as a pure state machine: no database, no chat.

    draft --submit--> submitted --offer--> offered --claim--> claimed --propose--> proposed
    proposed --accept--> agreed --start--> in delivery --deliver--> delivered --close--> closed

- `ask_changes` on a proposal sends it back to *claimed*: the proposal is void and the provider
  proposes again. A provider may also revise a proposal before it is accepted (propose again).
- `escalate`, by the system (not claimed after N school days) or by a chair/LA officer, moves a
  request that nobody holds (submitted, offered) to *escalated*; a chair/LA officer may also
  escalate a claimed request whose proposal has not come, or not been agreed. From *escalated* a
  chair/LA officer can `assign` it to a provider, and the offers still out can be claimed; both
  lead to *claimed*.
- `withdraw`, by the requester or a chair/LA officer, ends a request at any point before delivery
  starts.
- *closed* and *withdrawn* are terminal: nothing more can be done.

The transition table is data (`TRANSITIONS`); `next_state` and `allowed` only read it, and
building buttons from `allowed` shows exactly the actions `next_state` accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from bot.errors import UserError


class State(StrEnum):
    DRAFT = "draft"  # being filled in; never stored, the state before `submit`
    SUBMITTED = "submitted"
    OFFERED = "offered"
    CLAIMED = "claimed"
    PROPOSED = "proposed"
    AGREED = "agreed"
    IN_DELIVERY = "in_delivery"
    DELIVERED = "delivered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    ESCALATED = "escalated"

    @property
    def label(self) -> str:
        """How the state reads in a sentence: `in delivery`."""
        return self.value.replace("_", " ")


class Action(StrEnum):
    SUBMIT = "submit"
    OFFER = "offer"
    CLAIM = "claim"
    ASSIGN = "assign"
    PROPOSE = "propose"
    ACCEPT = "accept"
    ASK_CHANGES = "ask_changes"
    START = "start"
    DELIVER = "deliver"
    CLOSE = "close"
    ESCALATE = "escalate"
    WITHDRAW = "withdraw"

    @property
    def done(self) -> str:
        """The request, after the action: "it can be *claimed*", "it cannot be *closed*"."""
        return _DONE[self]

    @property
    def verb(self) -> str:
        """What the party does: "only the provider can *claim it* now"."""
        return _VERB[self]


_DONE: Mapping[Action, str] = MappingProxyType(
    {
        Action.SUBMIT: "submitted",
        Action.OFFER: "offered to providers",
        Action.CLAIM: "claimed",
        Action.ASSIGN: "assigned to a provider",
        Action.PROPOSE: "given a proposal",
        Action.ACCEPT: "agreed",
        Action.ASK_CHANGES: "sent back for changes",
        Action.START: "started",
        Action.DELIVER: "marked delivered",
        Action.CLOSE: "closed",
        Action.ESCALATE: "escalated",
        Action.WITHDRAW: "withdrawn",
    }
)


_VERB: Mapping[Action, str] = MappingProxyType(
    {
        Action.SUBMIT: "submit it",
        Action.OFFER: "offer it to providers",
        Action.CLAIM: "claim it",
        Action.ASSIGN: "assign it to a provider",
        Action.PROPOSE: "propose days, dates and cost",
        Action.ACCEPT: "accept the proposal",
        Action.ASK_CHANGES: "ask for changes to the proposal",
        Action.START: "start the delivery",
        Action.DELIVER: "mark it delivered",
        Action.CLOSE: "close it",
        Action.ESCALATE: "escalate it",
        Action.WITHDRAW: "withdraw it",
    }
)


class Party(StrEnum):
    """Who takes an action, as far as the request is concerned."""

    REQUESTER = "requester"  # staff of the requesting school
    PROVIDER = "provider"  # the lead of the alliance that claims (or is offered) the request
    CHAIR = "chair"  # the quadrant chair or an LA officer
    SYSTEM = "system"  # the bot itself: routing, escalation timers

    @property
    def label(self) -> str:
        return _PARTY_LABEL[self]


_PARTY_LABEL: Mapping[Party, str] = MappingProxyType(
    {
        Party.REQUESTER: "the requesting school",
        Party.PROVIDER: "the provider",
        Party.CHAIR: "a chair/LA officer",
        Party.SYSTEM: "the bot",
    }
)


@dataclass(frozen=True, slots=True)
class Transition:
    source: State
    action: Action
    target: State
    parties: frozenset[Party]


def _t(source: State, action: Action, target: State, *parties: Party) -> Transition:
    return Transition(source, action, target, frozenset(parties))


S, A, P = State, Action, Party

#: Every legal move; anything not listed here is refused.
TRANSITION_ROWS: tuple[Transition, ...] = (
    _t(S.DRAFT, A.SUBMIT, S.SUBMITTED, P.REQUESTER),
    _t(S.SUBMITTED, A.OFFER, S.OFFERED, P.SYSTEM),
    _t(S.SUBMITTED, A.ESCALATE, S.ESCALATED, P.SYSTEM, P.CHAIR),
    _t(S.SUBMITTED, A.WITHDRAW, S.WITHDRAWN, P.REQUESTER, P.CHAIR),
    _t(S.OFFERED, A.CLAIM, S.CLAIMED, P.PROVIDER),
    _t(S.OFFERED, A.ESCALATE, S.ESCALATED, P.SYSTEM, P.CHAIR),
    _t(S.OFFERED, A.WITHDRAW, S.WITHDRAWN, P.REQUESTER, P.CHAIR),
    _t(S.ESCALATED, A.ASSIGN, S.CLAIMED, P.CHAIR),
    _t(S.ESCALATED, A.CLAIM, S.CLAIMED, P.PROVIDER),
    _t(S.ESCALATED, A.WITHDRAW, S.WITHDRAWN, P.REQUESTER, P.CHAIR),
    _t(S.CLAIMED, A.PROPOSE, S.PROPOSED, P.PROVIDER),
    _t(S.CLAIMED, A.ESCALATE, S.ESCALATED, P.CHAIR),
    _t(S.CLAIMED, A.WITHDRAW, S.WITHDRAWN, P.REQUESTER, P.CHAIR),
    _t(S.PROPOSED, A.ACCEPT, S.AGREED, P.REQUESTER),
    _t(S.PROPOSED, A.ASK_CHANGES, S.CLAIMED, P.REQUESTER),
    _t(S.PROPOSED, A.PROPOSE, S.PROPOSED, P.PROVIDER),
    _t(S.PROPOSED, A.ESCALATE, S.ESCALATED, P.CHAIR),
    _t(S.PROPOSED, A.WITHDRAW, S.WITHDRAWN, P.REQUESTER, P.CHAIR),
    _t(S.AGREED, A.START, S.IN_DELIVERY, P.PROVIDER),
    _t(S.AGREED, A.WITHDRAW, S.WITHDRAWN, P.REQUESTER, P.CHAIR),
    _t(S.IN_DELIVERY, A.DELIVER, S.DELIVERED, P.PROVIDER),
    _t(S.DELIVERED, A.CLOSE, S.CLOSED, P.REQUESTER),
)

TRANSITIONS: Mapping[tuple[State, Action], Transition] = MappingProxyType(
    {(t.source, t.action): t for t in TRANSITION_ROWS}
)
assert len(TRANSITIONS) == len(TRANSITION_ROWS), "one row per (state, action)"

TERMINAL: frozenset[State] = frozenset({State.CLOSED, State.WITHDRAWN})


class IllegalTransition(UserError):
    """The action cannot be taken now, or not by this party; the message names the state."""

    def __init__(
        self,
        message: str,
        *,
        state: State,
        action: Action,
        party: Party,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.state = state
        self.action = action
        self.party = party


def allowed(state: State, party: Party) -> tuple[Action, ...]:
    """The actions `party` may take on a request in `state`, in `Action` order (for buttons)."""
    return tuple(
        a for a in Action if (t := TRANSITIONS.get((state, a))) is not None and party in t.parties
    )


def allowed_by_anyone(state: State) -> tuple[Action, ...]:
    """The actions anybody may take on a request in `state`, in `Action` order."""
    return tuple(a for a in Action if (state, a) in TRANSITIONS)


def next_state(
    state: State, action: Action, party: Party, *, reference: str | None = None
) -> State:
    """The state after `party` takes `action` on a request in `state`.

    Raises IllegalTransition, naming the current state and what can be done now, when the
    table has no such move, or when the move is not `party`'s to make.
    """
    t = TRANSITIONS.get((state, action))
    if t is not None and party in t.parties:
        return t.target
    subject = f"{reference} is *{state.label}*" if reference else f"This request is *{state.label}*"
    if state in TERMINAL:
        message = f"{subject}: nothing more can be done with it, so it cannot be {action.done}."
    elif t is None:
        now = _join(a.done for a in allowed_by_anyone(state))
        message = f"{subject}: it can be {now} now, not {action.done}."
    else:
        who = _join(p.label for p in Party if p in t.parties)
        message = f"{subject}: only {who} can {action.verb} now."
        mine = allowed(state, party)
        if mine:
            message += f" You can {_join(a.verb for a in mine)}."
    raise IllegalTransition(message, state=state, action=action, party=party)


def _join(words: Iterable[str]) -> str:
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"
