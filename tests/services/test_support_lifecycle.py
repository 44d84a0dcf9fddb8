"""The support request state machine: every legal path, every refusal, buttons match moves."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserError
from bot.services.support.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    Action,
    IllegalTransition,
    Party,
    State,
    allowed,
    allowed_by_anyone,
    next_state,
)

S, A, P = State, Action, Party
TRIPLES = list(itertools.product(State, Action, Party))


def _walk(start: State, steps: list[tuple[Action, Party]]) -> list[State]:
    states = [start]
    for action, party in steps:
        states.append(next_state(states[-1], action, party))
    return states


def _paths_to(
    state: State, goal: State, seen: frozenset[State]
) -> Iterator[list[tuple[Action, Party, State]]]:
    """Every path from `state` to `goal` that visits no state twice (self-loops excluded)."""
    if state == goal:
        yield []
        return
    for (source, action), t in TRANSITIONS.items():
        if source != state or t.target in seen:
            continue
        for party in sorted(t.parties):
            for rest in _paths_to(t.target, goal, seen | {t.target}):
                yield [(action, party, t.target), *rest]


# --- legal paths -------------------------------------------------------------------------------


def test_the_happy_path_through_to_closed() -> None:
    steps = [
        (A.SUBMIT, P.REQUESTER),
        (A.OFFER, P.SYSTEM),
        (A.CLAIM, P.PROVIDER),
        (A.PROPOSE, P.PROVIDER),
        (A.ACCEPT, P.REQUESTER),
        (A.START, P.PROVIDER),
        (A.DELIVER, P.PROVIDER),
        (A.CLOSE, P.REQUESTER),
    ]
    assert _walk(S.DRAFT, steps) == [
        S.DRAFT,
        S.SUBMITTED,
        S.OFFERED,
        S.CLAIMED,
        S.PROPOSED,
        S.AGREED,
        S.IN_DELIVERY,
        S.DELIVERED,
        S.CLOSED,
    ]


def test_asking_for_changes_sends_it_back_to_the_provider() -> None:
    steps = [
        (A.ASK_CHANGES, P.REQUESTER),
        (A.PROPOSE, P.PROVIDER),
        (A.PROPOSE, P.PROVIDER),  # a revision before it is accepted
        (A.ACCEPT, P.REQUESTER),
    ]
    assert _walk(S.PROPOSED, steps) == [S.PROPOSED, S.CLAIMED, S.PROPOSED, S.PROPOSED, S.AGREED]


def test_escalated_requests_are_assigned_or_still_claimed() -> None:
    assert _walk(S.OFFERED, [(A.ESCALATE, P.SYSTEM), (A.ASSIGN, P.CHAIR)])[-1] == S.CLAIMED
    assert _walk(S.SUBMITTED, [(A.ESCALATE, P.CHAIR), (A.CLAIM, P.PROVIDER)])[-1] == S.CLAIMED
    assert next_state(S.PROPOSED, A.ESCALATE, P.CHAIR) == S.ESCALATED


@pytest.mark.parametrize(
    "state", [S.SUBMITTED, S.OFFERED, S.ESCALATED, S.CLAIMED, S.PROPOSED, S.AGREED]
)
@pytest.mark.parametrize("party", [P.REQUESTER, P.CHAIR])
def test_withdrawn_before_delivery_starts(state: State, party: Party) -> None:
    assert next_state(state, A.WITHDRAW, party) == S.WITHDRAWN


@pytest.mark.parametrize("state", [S.IN_DELIVERY, S.DELIVERED, S.CLOSED, S.WITHDRAWN])
def test_not_withdrawn_once_delivery_has_started(state: State) -> None:
    with pytest.raises(IllegalTransition):
        next_state(state, A.WITHDRAW, P.REQUESTER)


def test_every_simple_path_from_draft_to_closed_is_legal() -> None:
    paths = list(_paths_to(S.DRAFT, S.CLOSED, frozenset({S.DRAFT})))
    # submit; then to claimed: offered → claim (1), offered → escalated → claimed (2 escalating
    # parties × assign or claim = 4), or escalated straight from submitted (4); then the fixed
    # run claimed → proposed → agreed → in delivery → delivered → closed.
    assert len(paths) == 9
    for path in paths:
        state = S.DRAFT
        for action, party, target in path:
            state = next_state(state, action, party)
            assert state == target
        assert state == S.CLOSED
        assert [a for a, _, _ in path][-5:] == [A.PROPOSE, A.ACCEPT, A.START, A.DELIVER, A.CLOSE]


def test_every_state_is_reachable_and_every_live_state_can_still_end() -> None:
    reachable = {S.DRAFT}
    frontier = [S.DRAFT]
    while frontier:
        state = frontier.pop()
        for (source, _), t in TRANSITIONS.items():
            if source == state and t.target not in reachable:
                reachable.add(t.target)
                frontier.append(t.target)
    assert reachable == set(State)
    for state in set(State) - TERMINAL:
        assert any(True for _ in _paths_to(state, S.CLOSED, frozenset({state}))), state


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "action", "party"), TRIPLES)
def test_every_move_not_in_the_table_is_refused_naming_the_state(
    state: State, action: Action, party: Party
) -> None:
    t = TRANSITIONS.get((state, action))
    if t is not None and party in t.parties:
        assert next_state(state, action, party) == t.target
        return
    with pytest.raises(IllegalTransition) as caught:
        next_state(state, action, party, reference="SR-2026-0042")
    error = caught.value
    assert isinstance(error, UserError)
    assert error.message.startswith(f"SR-2026-0042 is *{state.label}*: ")
    assert (error.state, error.action, error.party) == (state, action, party)
    if state in TERMINAL:
        assert "nothing more can be done" in error.message
    elif t is None:
        # Names what can be done now, and the action refused.
        for possible in allowed_by_anyone(state):
            assert possible.done in error.message
        assert error.message.endswith(f"not {action.done}.")
    else:
        # The move exists but is somebody else's: say whose, and what this party can do.
        assert f"can {action.verb} now" in error.message
        for mine in allowed(state, party):
            assert mine.verb in error.message


def test_the_message_reads_as_promised() -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(S.OFFERED, A.CLOSE, P.REQUESTER, reference="SR-2026-0042")
    assert caught.value.message == (
        "SR-2026-0042 is *offered*: it can be claimed, escalated or withdrawn now, not closed."
    )
    with pytest.raises(IllegalTransition) as caught:
        next_state(S.IN_DELIVERY, A.CLOSE, P.REQUESTER)
    assert caught.value.message == (
        "This request is *in delivery*: it can be marked delivered now, not closed."
    )
    with pytest.raises(IllegalTransition) as caught:
        next_state(S.OFFERED, A.CLAIM, P.REQUESTER, reference="SR-2026-0001")
    assert caught.value.message == (
        "SR-2026-0001 is *offered*: only the provider can claim it now. You can withdraw it."
    )


def test_closing_an_unclaimed_request_is_refused() -> None:
    for state in (S.SUBMITTED, S.OFFERED, S.ESCALATED):
        with pytest.raises(IllegalTransition, match=rf"\*{state.label}\*.*not closed"):
            next_state(state, A.CLOSE, P.REQUESTER)


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_allow_nothing(state: State) -> None:
    assert allowed_by_anyone(state) == ()
    for party in Party:
        assert allowed(state, party) == ()
    for action, party in itertools.product(Action, Party):
        with pytest.raises(IllegalTransition, match=rf"\*{state.label}\*"):
            next_state(state, action, party)


def test_only_terminal_states_are_dead_ends() -> None:
    assert {s for s in State if not allowed_by_anyone(s)} == TERMINAL


# --- buttons -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "party"), list(itertools.product(State, Party)))
def test_allowed_matches_next_state(state: State, party: Party) -> None:
    accepted = []
    for action in Action:
        try:
            next_state(state, action, party)
        except IllegalTransition:
            continue
        accepted.append(action)
    assert allowed(state, party) == tuple(accepted)


@given(
    st.lists(st.tuples(st.sampled_from(Action), st.sampled_from(Party)), max_size=30),
)
def test_random_walks_only_follow_the_table(moves: list[tuple[Action, Party]]) -> None:
    state = S.DRAFT
    for action, party in moves:
        if action in allowed(state, party):
            target = next_state(state, action, party)
            assert TRANSITIONS[(state, action)].target == target
            state = target
        else:
            with pytest.raises(IllegalTransition):
                next_state(state, action, party)
    assert state in set(State)


def test_the_table_speaks_only_of_known_parties_and_has_no_moves_out_of_terminal_states() -> None:
    for (source, action), t in TRANSITIONS.items():
        assert (t.source, t.action) == (source, action)
        assert t.parties and t.parties <= set(Party)
        assert source not in TERMINAL
        assert t.target != S.DRAFT
