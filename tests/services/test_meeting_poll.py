"""The availability poll: each slot's tally, and the best slot (most Yes, fewest No, earliest)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.services.meetings.poll import Answer, SlotTally, best_slot, tally

Y, M, N = Answer.YES, Answer.IF_NEED_BE, Answer.NO

MON = datetime(2026, 11, 9, 15, 30, tzinfo=UTC)
TUE = datetime(2026, 11, 10, 15, 30, tzinfo=UTC)
WED = datetime(2026, 11, 11, 15, 30, tzinfo=UTC)
SLOTS = ((1, MON), (2, TUE), (3, WED))


def by_id(tallies: tuple[SlotTally, ...]) -> dict[int, tuple[int, int, int, int]]:
    return {t.slot_id: (t.yes, t.if_need_be, t.no, t.not_voted) for t in tallies}


def test_a_tally_counts_each_answer_and_who_has_not_voted() -> None:
    votes = [
        (1, 10, Y),
        (2, 10, N),
        (3, 10, M),
        (1, 11, Y),
        (2, 11, Y),
        (1, 12, N),
    ]
    result = tally(SLOTS, votes, invitees=5)
    assert [t.slot_id for t in result] == [1, 2, 3]  # the form's order
    assert [t.starts_at for t in result] == [MON, TUE, WED]
    assert by_id(result) == {1: (2, 0, 1, 2), 2: (1, 0, 1, 3), 3: (0, 1, 0, 4)}


def test_a_changed_vote_counts_once_the_latest() -> None:
    votes = [(1, 10, Y), (1, 11, N), (1, 10, N), (1, 10, M)]
    assert by_id(tally(SLOTS, votes, invitees=3))[1] == (0, 1, 1, 1)


def test_answers_may_come_as_stored_strings() -> None:
    votes = [(1, 10, Answer("yes")), (2, 10, Answer("if_need_be"))]
    assert by_id(tally(SLOTS, votes, invitees=1)) == {
        1: (1, 0, 0, 0),
        2: (0, 1, 0, 0),
        3: (0, 0, 0, 1),
    }


def test_votes_for_other_slots_are_ignored_and_not_voted_never_goes_below_zero() -> None:
    # Person 12 voted and was then taken off the list: their answer still counts.
    votes = [(1, 10, Y), (1, 12, Y), (99, 10, Y)]
    assert by_id(tally(SLOTS, votes, invitees=1))[1] == (2, 0, 0, 0)


def test_no_votes_yet() -> None:
    assert by_id(tally(SLOTS, [], invitees=4)) == {s: (0, 0, 0, 4) for s, _ in SLOTS}


def test_the_best_slot_has_the_most_yes() -> None:
    votes = [(1, 10, Y), (2, 10, Y), (2, 11, Y), (3, 11, M), (3, 12, M), (3, 13, M)]
    best = best_slot(tally(SLOTS, votes, invitees=4))
    assert best is not None and best.slot_id == 2


def test_if_need_be_does_not_rank() -> None:
    votes = [(1, 10, Y), (2, 10, Y), (2, 11, M), (2, 12, M)]
    best = best_slot(tally(SLOTS, votes, invitees=3))
    assert best is not None and best.slot_id == 1  # equal Yes and No: the earlier


def test_equal_yes_is_broken_by_fewest_no() -> None:
    votes = [(1, 10, Y), (1, 11, N), (1, 12, N), (2, 10, Y), (2, 11, N), (3, 10, Y)]
    best = best_slot(tally(SLOTS, votes, invitees=3))
    assert best is not None and best.slot_id == 3


def test_equal_yes_and_no_is_broken_by_the_earliest_start_not_the_form_order() -> None:
    slots = ((1, WED), (2, MON), (3, TUE))
    votes = [(1, 10, Y), (2, 10, Y), (3, 10, Y), (1, 11, N), (2, 11, N), (3, 11, N)]
    best = best_slot(tally(slots, votes, invitees=2))
    assert best is not None and (best.slot_id, best.starts_at) == (2, MON)


def test_a_changed_vote_changes_the_best_slot() -> None:
    votes = [(1, 10, Y), (2, 11, Y), (2, 12, Y)]
    first = best_slot(tally(SLOTS, votes, invitees=3))
    assert first is not None and first.slot_id == 2
    votes += [(2, 11, N), (2, 12, N)]
    second = best_slot(tally(SLOTS, votes, invitees=3))
    assert second is not None and second.slot_id == 1


def test_the_earliest_wins_when_nobody_has_voted() -> None:
    best = best_slot(tally(((5, TUE), (6, MON)), [], invitees=3))
    assert best is not None and best.slot_id == 6


def test_no_slots_no_best_slot() -> None:
    assert tally((), [(1, 10, Y)], invitees=2) == ()
    assert best_slot(()) is None


def test_an_unknown_answer_is_refused() -> None:
    with pytest.raises(ValueError):
        tally(SLOTS, [(1, 10, "maybe")], invitees=1)  # type: ignore[list-item]
