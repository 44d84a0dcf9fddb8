"""Checking a proposed meeting's candidate slots and voting deadline, as the form's rules.

Problems are refused: the form is shown again with each message beside its field. Warnings
are not: they are shown to the chair before the poll is sent, and the chair may send anyway.

Problems:
- fewer than `MIN_SLOTS` or more than `MAX_SLOTS` slots (on the first slot's field);
- a slot that starts now or earlier;
- a slot shorter than `MIN_MINUTES` or longer than `MAX_MINUTES`;
- a slot starting at the same instant as an earlier one (on the later slot's field);
- a voting deadline now or earlier, or not before the first slot still to come (on the
  deadline's field).

Warnings, for each slot (problems or not, so the chair sees everything at once):
- its local date is not a school day, with the calendar's reason: a weekend, a bank holiday
  (named), half term, an INSET day or other closure, a school holiday;
- it starts before `SCHOOL_DAY_STARTS` or ends after `SCHOOL_DAY_ENDS`, local time.

Times are aware; dates and wall times are read in the calendar's zone, and a slot's end is
reckoned in UTC, so a slot over a clock change lasts what it says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from bot.services.calendar import TenantCalendar
from bot.services.calendar_file import fmt
from bot.services.meetings.common import at_text

__all__ = [
    "FIRST_SLOT_FIELD",
    "MAX_MINUTES",
    "MAX_SLOTS",
    "MIN_MINUTES",
    "MIN_SLOTS",
    "SCHOOL_DAY_ENDS",
    "SCHOOL_DAY_STARTS",
    "SlotInput",
    "SlotProblem",
    "SlotWarning",
    "check_slots",
    "length_problem",
]

MIN_SLOTS = 2
MAX_SLOTS = 8
MIN_MINUTES = 15
MAX_MINUTES = 8 * 60
# The local hours a meeting of serving heads can reasonably take; outside them, a warning.
SCHOOL_DAY_STARTS = time(8, 0)
SCHOOL_DAY_ENDS = time(18, 0)
# Where the slot-count problem goes when the form sent no slot at all.
FIRST_SLOT_FIELD = "slot_1"


@dataclass(frozen=True)
class SlotInput:
    """One candidate slot as the form gave it; `field` is the form field's id, e.g. "slot_2"."""

    field: str
    starts_at: datetime  # aware
    minutes: int


@dataclass(frozen=True)
class SlotProblem:
    """Why the form is refused, and which field to show it beside."""

    field: str
    message: str


@dataclass(frozen=True)
class SlotWarning:
    """Something the chair should see before sending, on a field; not a refusal."""

    field: str
    message: str


def check_slots(
    slots: Sequence[SlotInput],
    *,
    deadline: datetime,
    deadline_field: str,
    now: datetime,
    calendar: TenantCalendar,
) -> tuple[tuple[SlotProblem, ...], tuple[SlotWarning, ...]]:
    """The problems and warnings of a proposed poll (see the module rules), in form order:
    the slot count first, then each slot's, then the deadline's. A field may have several."""
    for t in (deadline, now, *(s.starts_at for s in slots)):
        _require_aware(t)
    problems: list[SlotProblem] = []
    warnings: list[SlotWarning] = []

    if not MIN_SLOTS <= len(slots) <= MAX_SLOTS:
        field = slots[0].field if slots else FIRST_SLOT_FIELD
        problems.append(
            SlotProblem(
                field,
                f"Offer between {MIN_SLOTS} and {MAX_SLOTS} times to choose from"
                f" (there {'is' if len(slots) == 1 else 'are'} {len(slots)}).",
            )
        )

    seen: set[datetime] = set()
    for slot in slots:
        starts = slot.starts_at.astimezone(UTC)
        when = at_text(calendar, starts)
        if starts <= now:
            problems.append(SlotProblem(slot.field, f"{when} has already passed."))
        length = length_problem(slot.minutes)
        if length is not None:
            problems.append(
                SlotProblem(
                    slot.field,
                    length,
                )
            )
        if starts in seen:
            problems.append(SlotProblem(slot.field, f"Another time already starts at {when}."))
        seen.add(starts)
        warnings.extend(_warnings(slot, calendar))

    deadline_problem = _deadline_problem(slots, deadline, now, calendar)
    if deadline_problem is not None:
        problems.append(SlotProblem(deadline_field, deadline_problem))
    return tuple(problems), tuple(warnings)


def _deadline_problem(
    slots: Sequence[SlotInput], deadline: datetime, now: datetime, calendar: TenantCalendar
) -> str | None:
    if deadline <= now:
        return f"The voting deadline, {at_text(calendar, deadline)}, has already passed."
    # Slots already past are refused on their own; measured against them the deadline would
    # be wrong twice over.
    to_come = [s.starts_at for s in slots if s.starts_at > now]
    if to_come and deadline >= min(to_come):
        first = at_text(calendar, min(to_come))
        return f"Voting must close before the first time offered ({first})."
    return None


def _warnings(slot: SlotInput, calendar: TenantCalendar) -> list[SlotWarning]:
    starts = calendar.local(slot.starts_at)
    # The end is reckoned in UTC: adding to a local time would add wall-clock time, an hour
    # out over a clock change.
    ends = calendar.local(slot.starts_at.astimezone(UTC) + timedelta(minutes=slot.minutes))
    day = starts.date()
    out: list[SlotWarning] = []
    info = calendar.explain(day)
    if not info.school_day:
        out.append(SlotWarning(slot.field, f"{fmt(day)} is not a school day: {info.reason}."))
    if starts < calendar.at(day, SCHOOL_DAY_STARTS) or ends > calendar.at(day, SCHOOL_DAY_ENDS):
        out.append(
            SlotWarning(
                slot.field,
                f"{fmt(day)}, {starts:%H:%M} to {ends:%H:%M}, is outside the school day"
                f" ({SCHOOL_DAY_STARTS:%H:%M} to {SCHOOL_DAY_ENDS:%H:%M}).",
            )
        )
    return out


def length_problem(minutes: int) -> str | None:
    """Why a meeting of `minutes` is too short or too long, or None."""
    if MIN_MINUTES <= minutes <= MAX_MINUTES:
        return None
    return (
        f"A meeting lasts from {MIN_MINUTES} minutes to {MAX_MINUTES // 60} hours,"
        f" not {minutes} minutes."
    )


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{t!r} has no time zone; slots and deadlines must be aware")
