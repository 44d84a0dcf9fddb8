"""The availability poll's arithmetic: the tally of each slot and which slot is best.

Pure functions over ids and answers; the caller reads the votes and the invitee count.

A person's answer for a slot is their latest one: when the same (slot, person) comes twice, the
later in the input wins (votes are read oldest first, or one row each as stored).

The best slot has the most Yes, then the fewest No, then is the earliest; "If need be" only
shows in the tally and does not rank. The chair may still book any other slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Answer", "SlotTally", "best_slot", "tally"]


class Answer(StrEnum):
    """An invitee's answer for one slot."""

    YES = "yes"
    IF_NEED_BE = "if_need_be"
    NO = "no"


@dataclass(frozen=True)
class SlotTally:
    """How one slot stands: answers given, and invitees who gave none for it."""

    slot_id: int
    starts_at: datetime
    yes: int
    if_need_be: int
    no: int
    not_voted: int

    @property
    def rank_key(self) -> tuple[int, int, datetime, int]:
        """Sorts best first: most Yes, fewest No, earliest (then by id, for a stable order)."""
        return (-self.yes, self.no, self.starts_at, self.slot_id)


def tally(
    slots: Sequence[tuple[int, datetime]],
    votes: Iterable[tuple[int, int, Answer]],
    invitees: int,
) -> tuple[SlotTally, ...]:
    """Each slot's tally, in the order of `slots` ((slot id, start)), from `votes`
    ((slot id, person id, answer)) among `invitees` people.

    Votes for slots not in `slots` are ignored. `not_voted` is the invitees who gave no answer
    for the slot, never below 0 (a person voted who has since been taken off the list still
    counts in the answers).
    """
    known = {slot_id for slot_id, _ in slots}
    latest: dict[tuple[int, int], Answer] = {}
    for slot_id, person_id, answer in votes:
        if slot_id in known:
            latest[(slot_id, person_id)] = Answer(answer)
    counts: dict[int, dict[Answer, int]] = {slot_id: dict.fromkeys(Answer, 0) for slot_id in known}
    for (slot_id, _), answer in latest.items():
        counts[slot_id][answer] += 1
    out: list[SlotTally] = []
    for slot_id, starts_at in slots:
        c = counts[slot_id]
        answered = c[Answer.YES] + c[Answer.IF_NEED_BE] + c[Answer.NO]
        out.append(
            SlotTally(
                slot_id=slot_id,
                starts_at=starts_at,
                yes=c[Answer.YES],
                if_need_be=c[Answer.IF_NEED_BE],
                no=c[Answer.NO],
                not_voted=max(invitees - answered, 0),
            )
        )
    return tuple(out)


def best_slot(tallies: Sequence[SlotTally]) -> SlotTally | None:
    """The slot to propose to the chair (see the module rule); None when there are no slots."""
    if not tallies:
        return None
    return min(tallies, key=lambda t: t.rank_key)
