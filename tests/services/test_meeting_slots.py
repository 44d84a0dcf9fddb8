"""Checking a proposed poll: refused problems and flagged warnings, each on its form field.

The calendar is the shipped sample's 2026-27 (built directly here, and read from the sample file
in the last tests): autumn 2 Sep to 18 Dec 2026 with half term Mon 26 to Fri 30 Oct and an
INSET day on 2 Sep; spring 4 Jan to 25 Mar 2027; summer 12 Apr to 21 Jul 2027. The clocks go
back on Sun 25 Oct 2026 (BST to GMT) and forward on Sun 28 Mar 2027. The tests stand on
Mon 2 Nov 2026 at 09:00 local (GMT).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.calendar import (
    CalendarService,
    Closure,
    ClosureKind,
    TenantCalendar,
    Term,
    load_sample_calendar,
)
from bot.services.meetings.slots import (
    FIRST_SLOT_FIELD,
    MAX_MINUTES,
    MIN_MINUTES,
    SlotInput,
    SlotProblem,
    SlotWarning,
    check_slots,
)
from storage.engine import Database
from storage.models import Tenant
from tests.factories import SEEDED_AT

LONDON = ZoneInfo("Europe/London")
CALENDAR = TenantCalendar(
    [
        Term("2026-27", "Autumn", date(2026, 9, 2), date(2026, 12, 18)),
        Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 3, 25)),
        Term("2026-27", "Summer", date(2027, 4, 12), date(2027, 7, 21)),
    ],
    [
        Closure(ClosureKind.HALF_TERM, date(2026, 10, 26), date(2026, 10, 30)),
        Closure(ClosureKind.INSET, date(2026, 9, 2), date(2026, 9, 2), "training day"),
        Closure(ClosureKind.OTHER, date(2026, 11, 26), date(2026, 11, 26), "polling station"),
        Closure(ClosureKind.HALF_TERM, date(2027, 2, 15), date(2027, 2, 19)),
        Closure(ClosureKind.HALF_TERM, date(2027, 5, 31), date(2027, 6, 4)),
    ],
)
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=LONDON)
DEADLINE_FIELD = "vote_deadline"
DEADLINE = datetime(2026, 11, 13, 12, 0, tzinfo=LONDON)  # Fri 13 Nov, noon


def slot(field: str, d: date, hhmm: str, minutes: int = 90) -> SlotInput:
    """A slot at local wall time `hhmm` on `d`, as the form's parser gives it (in UTC)."""
    return SlotInput(field, CALENDAR.at(d, time.fromisoformat(hhmm)), minutes)


def check(
    slots: list[SlotInput],
    *,
    deadline: datetime = DEADLINE,
    now: datetime = NOW,
    calendar: TenantCalendar = CALENDAR,
) -> tuple[tuple[SlotProblem, ...], tuple[SlotWarning, ...]]:
    return check_slots(
        slots, deadline=deadline, deadline_field=DEADLINE_FIELD, now=now, calendar=calendar
    )


# Three good times: school days, in the school day, after the deadline.
GOOD = [
    slot("slot_1", date(2026, 11, 16), "15:30"),  # Mon
    slot("slot_2", date(2026, 11, 18), "09:00", 120),  # Wed
    slot("slot_3", date(2026, 11, 19), "16:30", 90),  # Thu, ends 18:00 sharp
]


def fields(items: tuple[SlotProblem, ...] | tuple[SlotWarning, ...]) -> list[str]:
    return [i.field for i in items]


def test_a_good_poll_has_no_problems_and_no_warnings() -> None:
    assert check(GOOD) == ((), ())


# --- Problems -----------------------------------------------------------------------------------


def test_fewer_than_two_slots_is_refused_on_the_first_slot_field() -> None:
    problems, _ = check(GOOD[1:2])
    assert problems == (
        SlotProblem("slot_2", "Offer between 2 and 8 times to choose from (there is 1)."),
    )
    problems, _ = check([])
    assert fields(problems) == [FIRST_SLOT_FIELD] == ["slot_1"]
    assert "there are 0" in problems[0].message


def test_more_than_eight_slots_is_refused_on_the_first_slot_field() -> None:
    nine = [slot(f"slot_{i}", date(2026, 11, 16 + i % 5), f"{9 + i}:00", 30) for i in range(1, 10)]
    problems, _ = check(nine)
    assert problems == (
        SlotProblem("slot_1", "Offer between 2 and 8 times to choose from (there are 9)."),
    )
    assert check(nine[:8])[0] == ()


def test_a_slot_in_the_past_is_refused_on_its_field_in_local_time() -> None:
    earlier = slot("slot_2", date(2026, 10, 21), "15:30")  # BST: 14:30 UTC
    problems, _ = check([GOOD[0], earlier, GOOD[2]])
    assert problems == (SlotProblem("slot_2", "Wed 21 Oct 2026 at 15:30 has already passed."),)


def test_a_slot_starting_now_has_already_passed() -> None:
    problems, _ = check([GOOD[0], SlotInput("slot_2", NOW, 60)])
    assert fields(problems) == ["slot_2"]
    assert problems[0].message == "Mon 2 Nov 2026 at 09:00 has already passed."


@pytest.mark.parametrize(
    ("minutes", "refused"),
    [(MIN_MINUTES - 1, True), (MIN_MINUTES, False), (MAX_MINUTES, False), (MAX_MINUTES + 1, True)],
)
def test_a_slot_lasts_15_minutes_to_8_hours(minutes: int, refused: bool) -> None:
    odd = slot("slot_2", date(2026, 11, 17), "08:00", minutes)  # 8 hours ends 16:00
    problems, warnings = check([GOOD[0], odd])
    assert warnings == ()
    if refused:
        message = f"A meeting lasts from 15 minutes to 8 hours, not {minutes} minutes."
        assert problems == (SlotProblem("slot_2", message),)
    else:
        assert problems == ()


def test_two_slots_at_the_same_time_are_refused_on_the_later_field() -> None:
    same = SlotInput(
        "slot_3", GOOD[0].starts_at.astimezone(LONDON), 60
    )  # another zone, one instant
    problems, _ = check([*GOOD[:2], same])
    assert problems == (
        SlotProblem("slot_3", "Another time already starts at Mon 16 Nov 2026 at 15:30."),
    )


def test_a_deadline_in_the_past_is_refused_on_the_deadline_field() -> None:
    problems, _ = check(GOOD, deadline=NOW - timedelta(minutes=1))
    assert problems == (
        SlotProblem(
            DEADLINE_FIELD, "The voting deadline, Mon 2 Nov 2026 at 08:59, has already passed."
        ),
    )
    assert fields(check(GOOD, deadline=NOW)[0]) == [DEADLINE_FIELD]


def test_the_deadline_must_come_before_the_earliest_slot_in_whatever_order() -> None:
    late = [GOOD[1], GOOD[0], GOOD[2]]
    message = "Voting must close before the first time offered (Mon 16 Nov 2026 at 15:30)."
    for deadline in (GOOD[0].starts_at, GOOD[1].starts_at):
        problems, _ = check(late, deadline=deadline)
        assert problems == (SlotProblem(DEADLINE_FIELD, message),)
    assert check(late, deadline=GOOD[0].starts_at - timedelta(minutes=1))[0] == ()


def test_a_slot_in_the_past_does_not_also_fault_the_deadline() -> None:
    past = slot("slot_1", date(2026, 10, 1), "16:00")
    problems, _ = check([past, *GOOD[1:]])
    assert fields(problems) == ["slot_1"]


def test_every_problem_at_once_in_form_order() -> None:
    bad = [
        slot("slot_1", date(2026, 10, 1), "16:00", 10),  # past and too short
        slot("slot_2", date(2026, 11, 16), "15:30", 500),  # too long
        slot("slot_3", date(2026, 11, 16), "15:30", 60),  # the same as slot 2
    ]
    problems, _ = check(bad, deadline=datetime(2026, 11, 20, 9, tzinfo=UTC))
    assert fields(problems) == ["slot_1", "slot_1", "slot_2", "slot_3", DEADLINE_FIELD]


def test_times_must_be_aware() -> None:
    naive = SlotInput("slot_2", datetime(2026, 11, 17, 10, 0), 60)
    with pytest.raises(ValueError, match="no time zone"):
        check([GOOD[0], naive])
    with pytest.raises(ValueError, match="no time zone"):
        check(GOOD, deadline=datetime(2026, 11, 13, 12, 0))


# --- Warnings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2026, 11, 21), "weekend"),  # Sat
        (date(2026, 12, 25), "bank holiday: Christmas Day"),
        (date(2027, 5, 3), "bank holiday: May Day"),
        (date(2027, 2, 16), "half term"),
        (date(2026, 11, 26), "closed: polling station"),
        (date(2026, 12, 22), "school holiday"),  # Christmas holidays, between terms
        (date(2027, 4, 6), "school holiday"),  # Easter holidays
    ],
)
def test_a_slot_on_a_day_without_school_is_flagged_with_the_reason(day: date, reason: str) -> None:
    problems, warnings = check(
        [GOOD[0], slot("slot_2", day, "10:00")], deadline=NOW + timedelta(days=1)
    )
    assert problems == ()
    assert warnings == (
        SlotWarning("slot_2", f"{day:%a} {day.day} {day:%b %Y} is not a school day: {reason}."),
    )


def test_an_inset_day_is_flagged_with_its_note() -> None:
    now = datetime(2026, 8, 3, 9, tzinfo=UTC)
    inset = slot("slot_1", date(2026, 9, 2), "13:00")
    _, warnings = check([inset, GOOD[0]], now=now, deadline=now + timedelta(days=1))
    assert warnings == (
        SlotWarning("slot_1", "Wed 2 Sep 2026 is not a school day: INSET day (training day)."),
    )


@pytest.mark.parametrize(
    ("hhmm", "minutes", "span"),
    [
        ("07:30", 60, "07:30 to 08:30"),  # starts before 08:00
        ("17:30", 60, "17:30 to 18:30"),  # ends after 18:00
        ("07:00", 720, None),  # refused as too long, and outside at both ends
        ("19:00", 60, "19:00 to 20:00"),
    ],
)
def test_a_slot_outside_the_school_day_is_flagged(
    hhmm: str, minutes: int, span: str | None
) -> None:
    _, warnings = check([GOOD[0], slot("slot_2", date(2026, 11, 17), hhmm, minutes)])
    assert fields(warnings) == ["slot_2"]
    if span is not None:
        assert warnings[0].message == (
            f"Tue 17 Nov 2026, {span}, is outside the school day (08:00 to 18:00)."
        )


def test_the_school_day_bounds_themselves_are_inside() -> None:
    inside = [
        slot("slot_1", date(2026, 11, 17), "08:00", 60),
        slot("slot_2", date(2026, 11, 17), "17:00", 60),
    ]
    assert check(inside) == ((), ())


def test_a_weekend_evening_gets_both_warnings() -> None:
    _, warnings = check([GOOD[0], slot("slot_2", date(2026, 11, 21), "18:30", 60)])
    assert [w.message for w in warnings] == [
        "Sat 21 Nov 2026 is not a school day: weekend.",
        "Sat 21 Nov 2026, 18:30 to 19:30, is outside the school day (08:00 to 18:00).",
    ]


def test_warnings_do_not_refuse() -> None:
    problems, warnings = check([*GOOD, slot("slot_4", date(2026, 11, 22), "10:00")])
    assert problems == ()
    assert fields(warnings) == ["slot_4"]


# --- Clock changes ------------------------------------------------------------------------------


def test_the_same_utc_time_either_side_of_the_autumn_clock_change() -> None:
    now = datetime(2026, 10, 1, 9, tzinfo=UTC)
    before = SlotInput("slot_1", datetime(2026, 10, 23, 7, 15, tzinfo=UTC), 60)  # 08:15 BST
    after = SlotInput("slot_2", datetime(2026, 11, 2, 7, 15, tzinfo=UTC), 60)  # 07:15 GMT
    problems, warnings = check([before, after], now=now, deadline=now + timedelta(days=7))
    assert problems == ()
    assert warnings == (
        SlotWarning(
            "slot_2", "Mon 2 Nov 2026, 07:15 to 08:15, is outside the school day (08:00 to 18:00)."
        ),
    )


def test_a_slot_in_the_half_term_week_of_the_clock_change_reads_local_time() -> None:
    now = datetime(2026, 10, 1, 9, tzinfo=UTC)
    half_term = SlotInput("slot_2", datetime(2026, 10, 27, 16, 0, tzinfo=UTC), 60)  # 16:00 GMT
    _, warnings = check(
        [slot("slot_1", date(2026, 10, 22), "16:00"), half_term],
        now=now,
        deadline=now + timedelta(days=7),
    )
    assert warnings == (SlotWarning("slot_2", "Tue 27 Oct 2026 is not a school day: half term."),)


def test_the_local_date_decides_the_day_not_the_utc_date() -> None:
    now = datetime(2026, 10, 1, 9, tzinfo=UTC)
    # Friday 23:30 UTC is Saturday 00:30 BST.
    late = SlotInput("slot_2", datetime(2026, 10, 23, 23, 30, tzinfo=UTC), 30)
    _, warnings = check(
        [slot("slot_1", date(2026, 10, 22), "16:00"), late],
        now=now,
        deadline=now + timedelta(days=7),
    )
    assert [w.message for w in warnings] == [
        "Sat 24 Oct 2026 is not a school day: weekend.",
        "Sat 24 Oct 2026, 00:30 to 01:00, is outside the school day (08:00 to 18:00).",
    ]


def test_a_slot_across_the_clock_change_lasts_what_it_says() -> None:
    now = datetime(2026, 10, 1, 9, tzinfo=UTC)
    # 00:30 BST on Sun 25 Oct for two hours: the clocks go back at 02:00 BST, so it ends at
    # 01:30 GMT, not 02:30.
    night = SlotInput("slot_2", datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 120)
    _, warnings = check(
        [slot("slot_1", date(2026, 10, 22), "16:00"), night],
        now=now,
        deadline=now + timedelta(days=7),
    )
    assert warnings[-1].message == (
        "Sun 25 Oct 2026, 00:30 to 01:30, is outside the school day (08:00 to 18:00)."
    )


def test_the_spring_clock_change_week() -> None:
    now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    thursday = SlotInput("slot_1", datetime(2027, 3, 25, 8, 0, tzinfo=UTC), 60)  # 08:00 GMT
    tuesday = SlotInput("slot_2", datetime(2027, 4, 13, 7, 30, tzinfo=UTC), 60)  # 08:30 BST
    easter = SlotInput("slot_3", datetime(2027, 3, 29, 9, 0, tzinfo=UTC), 60)  # 10:00 BST
    problems, warnings = check(
        [thursday, tuesday, easter], now=now, deadline=now + timedelta(days=7)
    )
    assert problems == ()
    assert warnings == (
        SlotWarning("slot_3", "Mon 29 Mar 2027 is not a school day: bank holiday: Easter Monday."),
    )


# --- The shipped sample calendar ----------------------------------------------------------------


def test_the_shipped_sample_calendar_flags_the_same_days(db: Database) -> None:
    with db.session() as s:
        s.add(Tenant(name="Sample County", la_code=881, created_at=SEEDED_AT))
    load_sample_calendar(db, la_code=881)
    calendar = CalendarService(db).for_la_code(881)
    now = datetime(2026, 10, 1, 9, tzinfo=UTC)
    slots = [
        SlotInput("slot_1", calendar.at(date(2026, 10, 22), time(15, 30)), 90),
        SlotInput("slot_2", calendar.at(date(2026, 10, 27), time(15, 30)), 90),
        SlotInput("slot_3", calendar.at(date(2026, 12, 25), time(10, 0)), 60),
        SlotInput("slot_4", calendar.at(date(2026, 12, 22), time(10, 0)), 60),
        SlotInput("slot_5", calendar.at(date(2027, 5, 3), time(10, 0)), 60),
    ]
    problems, warnings = check_slots(
        slots,
        deadline=now + timedelta(days=14),
        deadline_field=DEADLINE_FIELD,
        now=now,
        calendar=calendar,
    )
    assert problems == ()
    assert [(w.field, w.message) for w in warnings] == [
        ("slot_2", "Tue 27 Oct 2026 is not a school day: half term."),
        ("slot_3", "Fri 25 Dec 2026 is not a school day: bank holiday: Christmas Day."),
        ("slot_4", "Tue 22 Dec 2026 is not a school day: school holiday."),
        ("slot_5", "Mon 3 May 2027 is not a school day: bank holiday: May Day."),
    ]
