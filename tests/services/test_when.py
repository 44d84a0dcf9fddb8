"""Reading `/slis remind` text: targets, time expressions, schedules and their occurrences."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserError
from bot.services.when import (
    ChannelMention,
    EverySchoolDay,
    Me,
    Once,
    PersonMention,
    PersonName,
    RoleTarget,
    TermStarts,
    Weekly,
    describe,
    describe_instant,
    local_instant,
    match_when,
    occurrences,
    parse_request,
)
from bot.types import Role

LONDON = ZoneInfo("Europe/London")
# Tuesday 24 November 2026, 09:00 GMT (= UTC in winter).
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
# Wednesday 10 June 2026, 10:00 BST.
SUMMER = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def when(text: str, now: datetime = NOW) -> object:
    return parse_request(f"me {text} do the thing", now, LONDON).schedule


def error(text: str, now: datetime = NOW) -> UserError:
    with pytest.raises(UserError) as caught:
        parse_request(text, now, LONDON)
    return caught.value


# --- one-off times ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 9am", utc(2026, 11, 25, 9, 0)),
        ("tomorrow at 9am", utc(2026, 11, 25, 9, 0)),
        ("tomorrow", utc(2026, 11, 25, 9, 0)),  # a day alone means 09:00
        ("9am tomorrow", utc(2026, 11, 25, 9, 0)),
        ("at 16:45 tomorrow", utc(2026, 11, 25, 16, 45)),
        ("today at 15:00", utc(2026, 11, 24, 15, 0)),
        ("today 3pm", utc(2026, 11, 24, 15, 0)),
        ("at 16:30", utc(2026, 11, 24, 16, 30)),
        ("at 8:00", utc(2026, 11, 25, 8, 0)),  # already past today: tomorrow
        ("in 3 days", utc(2026, 11, 27, 9, 0)),
        ("in 3 days at 7:45", utc(2026, 11, 27, 7, 45)),
        ("in 2 hours", utc(2026, 11, 24, 11, 0)),
        ("in 30 minutes", utc(2026, 11, 24, 9, 30)),
        ("in 90 mins", utc(2026, 11, 24, 10, 30)),
        ("in an hour", utc(2026, 11, 24, 10, 0)),
        ("in a week", utc(2026, 12, 1, 9, 0)),
        ("in 2 weeks", utc(2026, 12, 8, 9, 0)),
        ("on 12 Jan at 15:30", utc(2027, 1, 12, 15, 30)),
        ("on 12th January at 3:30pm", utc(2027, 1, 12, 15, 30)),
        ("12 jan 15:30", utc(2027, 1, 12, 15, 30)),
        ("on Jan 12 at 15:30", utc(2027, 1, 12, 15, 30)),
        ("on 12/01", utc(2027, 1, 12, 9, 0)),  # day/month, UK order
        ("on 12/01 at 8am", utc(2027, 1, 12, 8, 0)),
        ("on 1/12", utc(2026, 12, 1, 9, 0)),
        ("on 12/01/2027 at 10:00", utc(2027, 1, 12, 10, 0)),
        ("on 12/01/27", utc(2027, 1, 12, 9, 0)),
        ("on 2027-03-01 at 10:00", utc(2027, 3, 1, 10, 0)),
        ("on 12 January 2028", utc(2028, 1, 12, 9, 0)),
        ("on 24 Nov at 10:00", utc(2026, 11, 24, 10, 0)),  # later today
        ("on 24 Nov at 08:00", utc(2027, 11, 24, 8, 0)),  # passed today: next year
        ("on 29 Feb", utc(2028, 2, 29, 9, 0)),  # the next 29 February
        ("next Monday 8:00", utc(2026, 11, 30, 8, 0)),
        ("next tuesday", utc(2026, 12, 1, 9, 0)),  # "next" is never today
        ("on Tuesday at 10am", utc(2026, 11, 24, 10, 0)),  # later today
        ("on Tuesday at 8am", utc(2026, 12, 1, 8, 0)),  # passed: next week
        ("this Friday at noon", utc(2026, 11, 27, 12, 0)),
        ("fri 4pm", utc(2026, 11, 27, 16, 0)),
        ("next Monday at midday", utc(2026, 11, 30, 12, 0)),
        ("tomorrow midnight", utc(2026, 11, 25, 0, 0)),
    ],
)
def test_one_off_times_in_winter(text: str, expected: datetime) -> None:
    assert when(text) == Once(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 9am", utc(2026, 6, 11, 8, 0)),  # 09:00 BST
        ("today at 15:00", utc(2026, 6, 10, 14, 0)),
        ("on 12 Jan at 15:30", utc(2027, 1, 12, 15, 30)),  # GMT again by then
        ("next Monday 8:00", utc(2026, 6, 15, 7, 0)),
    ],
)
def test_local_times_in_summer_are_british_summer_time(text: str, expected: datetime) -> None:
    assert when(text, SUMMER) == Once(expected)


def test_in_days_keeps_the_local_time_across_the_october_change() -> None:
    friday = utc(2026, 10, 23, 11, 0)  # 12:00 BST
    assert when("in 3 days", friday) == Once(utc(2026, 10, 26, 12, 0))  # 12:00 GMT


def test_in_hours_is_elapsed_time_across_the_change() -> None:
    night = utc(2026, 10, 25, 0, 30)  # 01:30 BST, half an hour before the clocks go back
    assert when("in 2 hours", night) == Once(utc(2026, 10, 25, 2, 30))


def test_a_time_in_the_spring_gap_takes_the_offset_before_the_change() -> None:
    day_before = utc(2027, 3, 27, 12, 0)
    # 01:30 does not exist on 28 March 2027; read as GMT it is 01:30Z (02:30 BST).
    assert when("tomorrow 1:30am", day_before) == Once(utc(2027, 3, 28, 1, 30))


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("9am", time(9, 0)),
        ("9 am", time(9, 0)),
        ("9AM", time(9, 0)),
        ("9:30am", time(9, 30)),
        ("9.30pm", time(21, 30)),
        ("9:30 p.m.", time(21, 30)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("12:15pm", time(12, 15)),
        ("noon", time(12, 0)),
        ("midday", time(12, 0)),
        ("midnight", time(0, 0)),
        ("15:30", time(15, 30)),
        ("8:00", time(8, 0)),
        ("08:05", time(8, 5)),
        ("23:59", time(23, 59)),
    ],
)
def test_times_of_day(written: str, expected: time) -> None:
    schedule = when(f"every Monday at {written}")
    assert schedule == Weekly((0,), expected)


# --- recurrences -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every Monday at 8:00", Weekly((0,), time(8, 0))),
        ("every monday 8am", Weekly((0,), time(8, 0))),
        ("every Mondays", Weekly((0,), time(9, 0))),
        ("every Monday and Thursday at 7:45", Weekly((0, 3), time(7, 45))),
        ("every mon, wed & fri at noon", Weekly((0, 2, 4), time(12, 0))),
        ("every Tue/Thu at 16:00", Weekly((1, 3), time(16, 0))),
        ("every weekday at 8:15", Weekly((0, 1, 2, 3, 4), time(8, 15))),
        ("every working day at 8:15", Weekly((0, 1, 2, 3, 4), time(8, 15))),
        ("every day at 7am", Weekly(tuple(range(7)), time(7, 0))),
        ("at 8:00 every Monday", Weekly((0,), time(8, 0))),
        ("every school day at 8:15", EverySchoolDay(time(8, 15))),
        ("every schoolday", EverySchoolDay(time(9, 0))),
        ("first school day of each term", TermStarts(time(8, 30))),
        ("first school day of each term at 8:00", TermStarts(time(8, 0))),
        ("on the first school day of every term at 7:45am", TermStarts(time(7, 45))),
        ("first day of term", TermStarts(time(8, 30))),
        ("at the start of each term", TermStarts(time(8, 30))),
        ("every term at 9am", TermStarts(time(9, 0))),
    ],
)
def test_recurrences(text: str, expected: object) -> None:
    assert when(text) == expected


# --- whom --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "target", "text"),
    [
        ("me tomorrow 9am send returns", Me(), "send returns"),
        ("Me tomorrow 9am: send returns", Me(), "send returns"),
        ("myself tomorrow 9am to send returns", Me(), "send returns"),
        ("<@U0HEAD|alice> tomorrow 9am hi", PersonMention("U0HEAD"), "hi"),
        ("<@W0ABC> tomorrow 9am hi", PersonMention("W0ABC"), "hi"),
        ("@alice.hart tomorrow 9am hi", PersonName("alice.hart"), "hi"),
        ("<#C0QUAD|quadrant-ne> tomorrow 9am hi", ChannelMention("C0QUAD", "quadrant-ne"), "hi"),
        ("<#C0QUAD> tomorrow 9am hi", ChannelMention("C0QUAD"), "hi"),
        ("heads tomorrow 9am hi", RoleTarget(Role.HEAD), "hi"),
        ("Headteachers tomorrow 9am hi", RoleTarget(Role.HEAD), "hi"),
        ("partnership leads tomorrow 9am hi", RoleTarget(Role.PARTNERSHIP_LEAD), "hi"),
        ("chairs tomorrow 9am hi", RoleTarget(Role.QUADRANT_CHAIR), "hi"),
        ("alliance leads tomorrow 9am hi", RoleTarget(Role.ALLIANCE_LEAD), "hi"),
        ("board tomorrow 9am hi", RoleTarget(Role.BOARD_MEMBER), "hi"),
        ("project board tomorrow 9am hi", RoleTarget(Role.BOARD_MEMBER), "hi"),
        ("LA officers tomorrow 9am hi", RoleTarget(Role.LA_OFFICER), "hi"),
        ("governors tomorrow 9am hi", RoleTarget(Role.GOVERNOR), "hi"),
        ("heads in West tomorrow 9am hi", RoleTarget(Role.HEAD, "West", "in"), "hi"),
        (
            "heads in North East every Monday at 8:00 hi",
            RoleTarget(Role.HEAD, "North East", "in"),
            "hi",
        ),
        ("heads in West in 3 days hi", RoleTarget(Role.HEAD, "West", "in"), "hi"),
        ("heads in 3 days hi", RoleTarget(Role.HEAD), "hi"),  # "in 3 days" is a time
        (
            "partnership leads of Colne Valley Partnership tomorrow 9am hi",
            RoleTarget(Role.PARTNERSHIP_LEAD, "Colne Valley Partnership", "of"),
            "hi",
        ),
        (
            "heads of Walton on the Naze Partnership tomorrow 9am hi",
            RoleTarget(Role.HEAD, "Walton on the Naze Partnership", "of"),
            "hi",
        ),
    ],
)
def test_targets_and_text(args: str, target: object, text: str) -> None:
    request = parse_request(args, NOW, LONDON)
    assert request.target == target
    assert request.text == text


def test_the_text_keeps_its_case_and_punctuation() -> None:
    request = parse_request("me tomorrow 9am Ask Ben about the SEND audit (Q3)!", NOW, LONDON)
    assert request.text == "Ask Ben about the SEND audit (Q3)!"


# --- what it refuses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ("", "Whom should I remind"),
        ("everyone tomorrow 9am hi", "I don't know “everyone”"),
        ("me hi there", "I couldn't read a time at “hi there”"),
        ("me sometime soon hi", "I couldn't read a time"),
        ("me tomorrow 9am", "What should the reminder say"),
        ("me today at 8:00 hi", "has already passed"),
        ("me on 1 Jan 2020 hi", "has already passed"),
        ("me today hi", "At what time today"),
        ("me tomorrow 25:00 hi", "“25:00” isn't a time of day"),
        ("me tomorrow 13pm hi", "“13pm” isn't a time of day"),
        ("me on 31 Feb hi", "There is no 31 February"),
        ("me on 30/02/2027 hi", "There is no 30 February"),
        ("me on 12/13 hi", "There is no month 13"),
        ("me in 0 days hi", "in 0"),
        ("me in 2 hours at 9am hi", "already says when"),
        ("me in 9999 days hi", "too far ahead"),
        ("#general tomorrow 9am hi", "which channel #general is"),
        ("<!subteam^S0123|@heads> tomorrow 9am hi", "user group"),
        ("<!here> tomorrow 9am hi", "user group"),
        ("heads in West hi", "I couldn't read a time"),
    ],
)
def test_bad_input_gets_a_clear_message(args: str, says: str) -> None:
    assert says in error(args).message


def test_an_unreadable_time_lists_the_forms_it_knows() -> None:
    hint = error("me whenever do it").hint or ""
    for form in ("tomorrow 9am", "in 3 days", "on 12 Jan at 15:30", "every Monday at 8:00"):
        assert form in hint
    assert "every school day at 8:15" in hint and "first school day of each term" in hint


def test_an_unknown_target_gets_examples() -> None:
    hint = error("whoever tomorrow 9am hi").hint or ""
    assert "/slis remind me tomorrow 9am" in hint


def test_match_when_reads_only_a_prefix() -> None:
    found = match_when("tomorrow 9am send it", 0)
    assert found is not None
    spec, end = found
    assert spec.kind == "tomorrow" and spec.at == time(9, 0)
    assert "tomorrow 9am send it"[end:].strip() == "send it"
    assert match_when("send it tomorrow", 0) is None


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31)),
    st.integers(0, 23),
    st.sampled_from([0, 15, 30, 45]),
)
def test_tomorrow_is_always_the_next_local_day_at_that_local_time(
    naive: datetime, hour: int, minute: int
) -> None:
    now = naive.replace(tzinfo=UTC)
    schedule = when(f"tomorrow at {hour:02d}:{minute:02d}", now)
    assert isinstance(schedule, Once)
    local = schedule.at.astimezone(LONDON)
    assert local.date() == now.astimezone(LONDON).date() + timedelta(days=1)
    # Exact unless the wall time does not exist (the spring-forward gap): then it is later.
    asked = datetime.combine(local.date(), time(hour, minute), LONDON)
    exists = asked.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) == asked.replace(
        tzinfo=None
    )
    if exists:
        assert (local.hour, local.minute) == (hour, minute)
    else:
        assert (local.hour, local.minute) > (hour, minute)


# --- occurrences and descriptions ------------------------------------------------------------


class FakeTerms:
    """A calendar with two terms' worth of school days, for the occurrence maths."""

    def __init__(self, closed: set[date], term_starts: list[date]) -> None:
        self.closed = closed
        self.term_starts = term_starts

    def is_school_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.closed

    def first_school_days_of_terms(self, after: date, count: int) -> list[date]:
        return [d for d in self.term_starts if d > after][:count]


def test_weekly_occurrences_keep_local_time_across_the_october_change() -> None:
    after = utc(2026, 10, 12, 12, 0)
    found = occurrences(Weekly((0,), time(8, 0)), after, LONDON, None, 3)
    assert found == [utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 8, 0), utc(2026, 11, 2, 8, 0)]


def test_school_day_occurrences_skip_closed_days() -> None:
    calendar = FakeTerms({date(2026, 11, 25)}, [])
    found = occurrences(EverySchoolDay(time(8, 15)), NOW, LONDON, calendar, 3)
    # Tue 24th 08:15 has passed; Wed 25th is closed; then Thu, Fri, and (not Sat/Sun) Mon.
    assert found == [utc(2026, 11, 26, 8, 15), utc(2026, 11, 27, 8, 15), utc(2026, 11, 30, 8, 15)]


def test_term_start_occurrences_come_from_the_calendar() -> None:
    starts = [date(2026, 9, 3), date(2027, 1, 5), date(2027, 4, 19), date(2027, 9, 2)]
    calendar = FakeTerms(set(), starts)
    found = occurrences(TermStarts(time(8, 30)), NOW, LONDON, calendar, 3)
    assert found == [utc(2027, 1, 5, 8, 30), utc(2027, 4, 19, 7, 30), utc(2027, 9, 2, 7, 30)]


def test_calendar_schedules_without_a_calendar_have_no_occurrences() -> None:
    assert occurrences(EverySchoolDay(time(8, 0)), NOW, LONDON, None, 3) == []
    assert occurrences(TermStarts(time(8, 0)), NOW, LONDON, None, 3) == []


def test_a_one_off_occurs_once_and_only_in_the_future() -> None:
    at = utc(2026, 12, 1, 9, 0)
    assert occurrences(Once(at), NOW, LONDON, None, 3) == [at]
    assert occurrences(Once(at), at, LONDON, None, 3) == []


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (Once(utc(2026, 12, 1, 9, 0)), "on Tue 1 Dec at 09:00"),
        (Once(utc(2027, 1, 12, 15, 30)), "on Tue 12 Jan 2027 at 15:30"),
        (Once(utc(2026, 6, 11, 8, 0)), "on Thu 11 Jun at 09:00"),
        (Weekly((0,), time(8, 0)), "every Monday at 08:00"),
        (Weekly((0, 3), time(7, 45)), "every Monday and Thursday at 07:45"),
        (Weekly((0, 2, 4), time(12, 0)), "every Monday, Wednesday and Friday at 12:00"),
        (Weekly((0, 1, 2, 3, 4), time(8, 15)), "every weekday at 08:15"),
        (Weekly(tuple(range(7)), time(7, 0)), "every day at 07:00"),
        (EverySchoolDay(time(8, 15)), "every school day at 08:15"),
        (TermStarts(time(8, 30)), "on the first school day of each term at 08:30"),
    ],
)
def test_descriptions(schedule: object, text: str) -> None:
    assert describe(schedule, LONDON, NOW) == text  # type: ignore[arg-type]


def test_local_instant_uses_the_zone_rules() -> None:
    assert local_instant(date(2026, 10, 24), time(8, 0), LONDON) == utc(2026, 10, 24, 7, 0)
    assert local_instant(date(2026, 10, 25), time(8, 0), LONDON) == utc(2026, 10, 25, 8, 0)
    assert describe_instant(utc(2026, 10, 24, 7, 0), LONDON) == "Sat 24 Oct at 08:00"
