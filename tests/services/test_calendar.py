"""The school calendar: school days, the next slot the bot may speak in, and the file import."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from bot.errors import InvalidImport, UserError
from bot.services.calendar import (
    SAMPLE_CALENDAR,
    CalendarService,
    Closure,
    ClosureKind,
    QuietHours,
    TenantCalendar,
    Term,
    calendar_report,
    england_bank_holidays,
    load_sample_calendar,
    school_year_of,
)
from storage.calendar_tables import QuietHours as QuietHoursRow
from storage.calendar_tables import SchoolClosure, SchoolTerm
from storage.engine import Database
from storage.models import Tenant
from tests.factories import build_world
from tests.fakes.clock import FakeClock

FIXTURES = Path(__file__).parents[1] / "fixtures" / "calendar"
ESSEX_2021_22 = FIXTURES / "essex_term_dates_2021-22.yaml"
ONE_SCHOOL_2024_25 = FIXTURES / "essex_school_term_dates_2024-25_one_school.yaml"

LONDON = ZoneInfo("Europe/London")


def london(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    """A local Europe/London wall time as an aware datetime."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=LONDON)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


# The shipped sample's dates (bot/data/sample_calendar_2026-27.yaml), built directly.
SAMPLE_TERMS = (
    Term("2026-27", "Autumn", date(2026, 9, 2), date(2026, 12, 18)),
    Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 3, 25)),
    Term("2026-27", "Summer", date(2027, 4, 12), date(2027, 7, 21)),
)
SAMPLE_CLOSURES = (
    Closure(ClosureKind.INSET, date(2026, 9, 2), date(2026, 9, 2)),
    Closure(ClosureKind.HALF_TERM, date(2026, 10, 26), date(2026, 10, 30)),
    Closure(ClosureKind.HALF_TERM, date(2027, 2, 15), date(2027, 2, 19)),
    Closure(ClosureKind.HALF_TERM, date(2027, 5, 31), date(2027, 6, 4)),
)


@pytest.fixture
def essex() -> TenantCalendar:
    return TenantCalendar(SAMPLE_TERMS, SAMPLE_CLOSURES, QuietHours(), "Europe/London")


# --- The acceptance: a nudge lands on the next school-day slot -------------------------


@pytest.mark.parametrize(
    ("due", "lands"),
    [
        # Christmas Day (a Friday, in the holidays) -> first day of the spring term, GMT.
        (london(2026, 12, 25, 10, 0), utc(2027, 1, 4, 7, 30)),
        # A Saturday -> Monday 07:30.
        (london(2026, 11, 28, 10, 0), utc(2026, 11, 30, 7, 30)),
        # 21:00 on a school day -> the next morning.
        (london(2026, 11, 24, 21, 0), utc(2026, 11, 25, 7, 30)),
        # In half term (BST ended on the Sunday before) -> the Monday after, 07:30 GMT.
        (london(2026, 10, 28, 11, 0), utc(2026, 11, 2, 7, 30)),
        # Friday evening before half term, still BST -> after half term, GMT.
        (london(2026, 10, 23, 18, 30), utc(2026, 11, 2, 7, 30)),
        # Inside quiet hours on a school day -> the moment itself.
        (london(2026, 11, 24, 10, 15), utc(2026, 11, 24, 10, 15)),
        # After the summer half term, in BST: 10:15 local is 09:15 UTC.
        (london(2027, 6, 7, 10, 15), utc(2027, 6, 7, 9, 15)),
    ],
)
def test_a_nudge_lands_on_the_next_school_day_slot(
    essex: TenantCalendar, due: datetime, lands: datetime
) -> None:
    slot = essex.next_slot(due)
    assert slot == lands
    assert slot.tzinfo is UTC


def test_quiet_hours_boundaries_start_inclusive_end_exclusive(essex: TenantCalendar) -> None:
    assert essex.next_slot(london(2026, 11, 24, 7, 29)) == utc(2026, 11, 24, 7, 30)
    assert essex.next_slot(london(2026, 11, 24, 7, 30)) == utc(2026, 11, 24, 7, 30)
    just_before = london(2026, 11, 24, 17, 59, 59)
    assert essex.next_slot(just_before) == just_before.astimezone(UTC)
    # 18:00 sharp is already quiet: the next school day's 07:30.
    assert essex.next_slot(london(2026, 11, 24, 18, 0)) == utc(2026, 11, 25, 7, 30)
    # Friday 18:00 -> Monday.
    assert essex.next_slot(london(2026, 11, 27, 18, 0)) == utc(2026, 11, 30, 7, 30)
    assert essex.is_open(london(2026, 11, 24, 12, 0))
    assert not essex.is_open(london(2026, 11, 24, 18, 0))


def test_the_0730_slot_follows_the_clock_change_of_25_october_2026() -> None:
    # A term with no half term around the change, so both sides are school days.
    calendar = TenantCalendar([Term("2026-27", "Autumn", date(2026, 9, 2), date(2026, 12, 18))])
    # Friday 23 October, BST (UTC+1): 07:30 local is 06:30 UTC.
    assert calendar.next_slot(london(2026, 10, 23, 6, 0)) == utc(2026, 10, 23, 6, 30)
    # Saturday 24 October -> Monday 26 October, GMT since Sunday 02:00 BST: 07:30 UTC.
    assert calendar.next_slot(london(2026, 10, 24, 12, 0)) == utc(2026, 10, 26, 7, 30)
    # Friday evening after hours (17:00 UTC is 18:00 BST) -> Monday, GMT.
    assert calendar.next_slot(utc(2026, 10, 23, 17, 0)) == utc(2026, 10, 26, 7, 30)
    # 17:30 UTC on Monday is 17:30 GMT: still open (it would have been 18:30 in BST).
    assert calendar.next_slot(utc(2026, 10, 26, 17, 30)) == utc(2026, 10, 26, 17, 30)
    assert calendar.at(date(2026, 10, 23), time(7, 30)) == utc(2026, 10, 23, 6, 30)
    assert calendar.at(date(2026, 10, 26), time(7, 30)) == utc(2026, 10, 26, 7, 30)


def test_the_0730_slot_follows_the_clock_change_of_28_march_2027() -> None:
    calendar = TenantCalendar([Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 4, 2))])
    # Thursday 25 March, GMT; Good Friday and Easter Monday are bank holidays; Tuesday is BST.
    assert calendar.next_slot(london(2027, 3, 25, 19, 0)) == utc(2027, 3, 30, 6, 30)
    assert calendar.next_slot(london(2027, 3, 25, 7, 0)) == utc(2027, 3, 25, 7, 30)


def test_next_slot_takes_any_zone_and_refuses_naive_times(essex: TenantCalendar) -> None:
    # 02:00 in New York on Tuesday 24 Nov is 07:00 in London: wait for 07:30.
    new_york = datetime(2026, 11, 24, 2, 0, tzinfo=ZoneInfo("America/New_York"))
    assert essex.next_slot(new_york) == utc(2026, 11, 24, 7, 30)
    with pytest.raises(ValueError, match="no time zone"):
        essex.next_slot(datetime(2026, 11, 24, 10, 0))


# --- School days -------------------------------------------------------------------------------


def test_bank_holidays_are_not_school_days() -> None:
    # A spring term running over Easter, so only the bank holidays close those days.
    calendar = TenantCalendar(
        [
            Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 4, 9)),
            Term("2026-27", "Summer", date(2027, 4, 12), date(2027, 7, 21)),
        ]
    )
    assert not calendar.is_school_day(date(2027, 3, 26))  # Good Friday
    assert not calendar.is_school_day(date(2027, 3, 29))  # Easter Monday
    assert calendar.is_school_day(date(2027, 3, 30))
    assert not calendar.is_school_day(date(2027, 5, 3))  # early May bank holiday 2027
    assert calendar.is_school_day(date(2027, 5, 4))
    assert calendar.bank_holiday(date(2027, 3, 29)) == "Easter Monday"
    assert calendar.explain(date(2027, 5, 3)).reason.startswith("bank holiday: ")
    # A nudge due on the early May bank holiday waits for Tuesday.
    assert calendar.next_slot(london(2027, 5, 3, 9, 0)) == utc(2027, 5, 4, 6, 30)


def test_inset_days_half_terms_weekends_and_holidays_are_not_school_days(
    essex: TenantCalendar,
) -> None:
    assert not essex.is_school_day(date(2026, 9, 2))  # INSET
    assert essex.is_school_day(date(2026, 9, 3))
    assert essex.explain(date(2026, 9, 2)).reason == "INSET day"
    assert not essex.is_school_day(date(2026, 10, 28))  # half term
    assert essex.explain(date(2026, 10, 28)).reason == "half term"
    assert not essex.is_school_day(date(2026, 11, 28))  # Saturday
    assert not essex.is_school_day(date(2026, 12, 21))  # Christmas holidays
    assert essex.explain(date(2026, 12, 21)).reason == "school holiday"
    assert not essex.is_school_day(date(2027, 8, 10))  # summer holidays, year is loaded
    assert essex.has_terms_for(date(2027, 8, 10))
    info = essex.explain(date(2026, 11, 24))
    assert info.school_day and info.term == SAMPLE_TERMS[0]


def test_term_of(essex: TenantCalendar) -> None:
    assert essex.term_of(date(2026, 9, 2)) == SAMPLE_TERMS[0]
    assert essex.term_of(date(2026, 10, 28)) == SAMPLE_TERMS[0]  # half term is in the term
    assert essex.term_of(date(2026, 12, 18)) == SAMPLE_TERMS[0]
    assert essex.term_of(date(2026, 12, 19)) is None
    assert essex.term_of(date(2027, 4, 12)) == SAMPLE_TERMS[2]
    assert essex.term_of(date(2026, 8, 1)) is None


def test_add_school_days_over_a_half_term(essex: TenantCalendar) -> None:
    assert essex.add_school_days(date(2026, 10, 23), 1) == date(2026, 11, 2)
    assert essex.add_school_days(date(2026, 10, 22), 2) == date(2026, 11, 2)
    assert essex.add_school_days(date(2026, 10, 21), 5) == date(2026, 11, 4)
    # Christmas: the last Friday of the autumn term + 1 -> the first day of spring.
    assert essex.add_school_days(date(2026, 12, 18), 1) == date(2027, 1, 4)


def test_add_school_days_zero_and_from_a_day_off(essex: TenantCalendar) -> None:
    assert essex.add_school_days(date(2026, 11, 24), 0) == date(2026, 11, 24)
    assert essex.add_school_days(date(2026, 11, 28), 0) == date(2026, 11, 30)  # Saturday
    assert essex.add_school_days(date(2026, 11, 28), 1) == date(2026, 11, 30)
    assert essex.add_school_days(date(2026, 11, 28), 2) == date(2026, 12, 1)
    assert essex.add_school_days(date(2026, 10, 28), 0) == date(2026, 11, 2)  # half term
    with pytest.raises(ValueError, match="0 or more"):
        essex.add_school_days(date(2026, 11, 24), -1)


def test_first_school_days_of_terms(essex: TenantCalendar) -> None:
    # The autumn term starts with an INSET day: its first school day is the 3rd.
    firsts = [date(2026, 9, 3), date(2027, 1, 4), date(2027, 4, 12)]
    assert essex.first_school_days_of_terms(date(2026, 8, 1), 5) == firsts
    assert essex.first_school_days_of_terms(date(2026, 8, 1), 2) == firsts[:2]
    assert essex.first_school_days_of_terms(date(2026, 9, 3), 5) == firsts[1:]
    assert essex.first_school_days_of_terms(date(2026, 9, 3), 5, inclusive=True) == firsts
    assert essex.first_school_days_of_terms(date(2026, 11, 1), 0) == []
    assert essex.first_school_days_of_terms(date(2027, 7, 22), 3) == []


def test_without_term_dates_weekdays_except_bank_holidays_count_and_it_is_logged_once(
    essex: TenantCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.services.calendar")
    # 2027-28 has no term dates: not "no school ever".
    assert not essex.has_terms_for(date(2027, 9, 6))
    assert essex.is_school_day(date(2027, 9, 6))
    assert essex.is_school_day(date(2027, 9, 7))
    assert not essex.is_school_day(date(2027, 12, 27))  # Christmas Day (substitute day)
    assert not essex.is_school_day(date(2027, 9, 4))  # Saturday
    assert essex.explain(date(2027, 9, 8)).assumed
    warnings = [r for r in caplog.records if "2027-28" in r.getMessage()]
    assert len(warnings) == 1
    # An empty calendar still has slots: 21:00 on Christmas Eve 2027 -> Wed 29 Dec 07:30 GMT.
    empty = TenantCalendar()
    assert empty.next_slot(london(2027, 12, 24, 21, 0)) == utc(2027, 12, 29, 7, 30)


def test_custom_quiet_hours_and_another_zone() -> None:
    calendar = TenantCalendar(
        SAMPLE_TERMS, SAMPLE_CLOSURES, QuietHours(time(8, 0), time(16, 0)), "Asia/Tokyo"
    )
    tokyo = ZoneInfo("Asia/Tokyo")
    # 16:00 in Tokyo on a school day: wait until 08:00 the next day (23:00 UTC the day before).
    due = datetime(2026, 11, 24, 16, 0, tzinfo=tokyo)
    assert calendar.next_slot(due) == datetime(2026, 11, 25, 8, 0, tzinfo=tokyo)
    assert calendar.next_slot(due) == utc(2026, 11, 24, 23, 0)
    with pytest.raises(ValueError, match="end after"):
        QuietHours(time(18, 0), time(7, 30))


def test_school_year_of() -> None:
    assert school_year_of(date(2026, 9, 1)) == "2026-27"
    assert school_year_of(date(2027, 8, 31)) == "2026-27"
    assert school_year_of(date(2099, 12, 1)) == "2099-00"


# --- Properties --------------------------------------------------------------------------------

ZONES = st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
MOMENTS = st.datetimes(min_value=datetime(2026, 8, 1), max_value=datetime(2028, 12, 31))


@settings(max_examples=300, deadline=None)
@given(moment=MOMENTS, zone=ZONES)
def test_next_slot_properties(moment: datetime, zone: str) -> None:
    calendar = TenantCalendar(SAMPLE_TERMS, SAMPLE_CLOSURES)
    t = moment.replace(tzinfo=ZoneInfo(zone))
    slot = calendar.next_slot(t)
    assert slot >= t
    assert slot.tzinfo is UTC
    assert calendar.next_slot(slot) == slot  # idempotent
    local = slot.astimezone(LONDON)
    assert calendar.is_school_day(local.date())
    assert time(7, 30) <= local.time() < time(18, 0)
    # Nothing earlier would do: a minute before the slot is closed, unless t is that late.
    before = slot - timedelta(minutes=1)
    if before >= t:
        assert calendar.next_slot(before) == slot


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=date(2026, 8, 1), max_value=date(2028, 6, 30)),
    n=st.integers(min_value=0, max_value=60),
)
def test_add_school_days_properties(day: date, n: int) -> None:
    calendar = TenantCalendar(SAMPLE_TERMS, SAMPLE_CLOSURES)
    result = calendar.add_school_days(day, n)
    assert result >= day
    assert calendar.is_school_day(result)
    between = [
        day + timedelta(days=i)
        for i in range(1, (result - day).days + 1)
        if calendar.is_school_day(day + timedelta(days=i))
    ]
    if n == 0:
        assert between == ([] if calendar.is_school_day(day) else [result])
    else:
        assert len(between) == n and between[-1] == result


# --- Import and the service (real database) ----------------------------------------------------


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every calendar row, as plain tuples, to prove an import changed nothing."""
    with db.session() as session:
        return {
            "terms": sorted(
                (t.tenant_id, t.school_year, t.name, t.starts, t.ends, t.source)
                for t in session.exec(select(SchoolTerm)).all()
            ),
            "closures": sorted(
                (c.tenant_id, c.school_year, c.kind, c.starts, c.ends, c.note)
                for c in session.exec(select(SchoolClosure)).all()
            ),
            "quiet_hours": sorted(
                (q.tenant_id, q.starts, q.ends) for q in session.exec(select(QuietHoursRow)).all()
            ),
        }


def test_sample_loads_and_answers_the_acceptance_from_the_database(db: Database) -> None:
    world = build_world(db)
    summary = load_sample_calendar(db)
    assert summary.la_code == 881 and summary.school_years == ["2026-27"]
    assert summary.inserted == {"term": 3, "closure": 4, "quiet_hours": 1}
    calendar = CalendarService(db).for_tenant(world.tenant_id)
    assert calendar.terms == tuple(
        Term(t.school_year, t.name, t.starts, t.ends, SAMPLE_CALENDAR.name) for t in SAMPLE_TERMS
    )
    assert calendar.next_slot(london(2026, 12, 25, 10, 0)) == utc(2027, 1, 4, 7, 30)
    assert calendar.next_slot(london(2026, 11, 28, 10, 0)) == utc(2026, 11, 30, 7, 30)
    assert calendar.next_slot(london(2026, 11, 24, 21, 0)) == utc(2026, 11, 25, 7, 30)
    assert calendar.next_slot(london(2026, 10, 28, 11, 0)) == utc(2026, 11, 2, 7, 30)
    assert not calendar.is_school_day(date(2027, 5, 3))
    assert not calendar.is_school_day(date(2026, 9, 2))
    # The second load changes nothing.
    again = load_sample_calendar(db)
    assert again.changes == 0
    assert again.unchanged == {"term": 3, "closure": 4, "quiet_hours": 1}


def test_the_sample_loads_into_any_local_authority(db: Database) -> None:
    other = build_world(db, la_code=882, name="Elsewhere", workspace="T0OTHER")
    with pytest.raises(UserError, match="LA code 881"):
        load_sample_calendar(db)  # the default, Essex, is not in this database
    assert load_sample_calendar(db, 882).inserted["term"] == 3
    assert len(CalendarService(db).for_tenant(other.tenant_id).terms) == 3


def test_the_sample_is_labelled_a_sample() -> None:
    header = SAMPLE_CALENDAR.read_text(encoding="utf-8").splitlines()[0]
    assert "SAMPLE" in header and "NOT OFFICIAL" in header


def test_essex_2021_22_county_file_imports_as_published(db: Database) -> None:
    world = build_world(db)
    service = CalendarService(db)
    summary = service.import_file(None, ESSEX_2021_22)  # the file names LA 881
    assert summary.inserted == {"term": 6}
    assert any("bank holiday" in note for note in summary.notes)
    calendar = service.for_tenant(world.tenant_id)
    assert [t.name for t in calendar.terms][:2] == ["Autumn 1", "Autumn 2"]
    assert calendar.is_school_day(date(2021, 9, 1))
    assert not calendar.is_school_day(date(2021, 10, 27))  # autumn half term, between terms
    assert not calendar.is_school_day(date(2022, 1, 3))  # holiday and a substitute bank holiday
    assert calendar.is_school_day(date(2022, 1, 4))
    assert not calendar.is_school_day(date(2022, 5, 2))  # early May bank holiday, in term
    assert calendar.first_school_days_of_terms(date(2021, 8, 1), 10) == [
        date(2021, 9, 1),
        date(2021, 11, 1),
        date(2022, 1, 4),
        date(2022, 2, 21),
        date(2022, 4, 19),
        date(2022, 6, 6),
    ]


def test_one_schools_2024_25_file_imports_with_its_inset_days(db: Database) -> None:
    world = build_world(db)
    service = CalendarService(db)
    summary = service.import_file(881, ONE_SCHOOL_2024_25)
    assert summary.inserted == {"term": 3, "closure": 9}  # 3 half terms, 6 INSET days
    calendar = service.for_tenant(world.tenant_id)
    assert not calendar.is_school_day(date(2024, 9, 2))  # INSET, first day of term
    assert calendar.first_school_days_of_terms(date(2024, 8, 1), 3) == [
        date(2024, 9, 3),
        date(2025, 1, 7),
        date(2025, 4, 22),
    ]
    assert not calendar.is_school_day(date(2024, 10, 30))  # half term
    assert calendar.explain(date(2024, 11, 4)).reason == "INSET day"
    assert not calendar.is_school_day(date(2025, 4, 21))  # Easter Monday
    # A nudge due on the last school Friday evening before the INSETs of July lands in September?
    # No: there is no 2025-26 term data, so it falls back to weekdays (logged) after 22 July.
    assert calendar.add_school_days(date(2025, 7, 18), 1) == date(2025, 9, 1)


@pytest.mark.parametrize("fixture", [ESSEX_2021_22, ONE_SCHOOL_2024_25])
def test_fixture_files_give_the_same_school_days_as_a_plain_reading(
    db: Database, fixture: Path
) -> None:
    """An independent reading of the published file (terms less half terms, holidays, INSET
    and listed bank holidays, less weekends) agrees with the calendar day by day."""
    build_world(db)
    service = CalendarService(db)
    service.import_file(881, fixture)
    calendar = service.for_la_code(881)
    data = yaml.safe_load(fixture.read_text(encoding="utf-8"))

    def span(item: dict[str, date]) -> set[date]:
        n = (item["end"] - item["start"]).days + 1
        return {item["start"] + timedelta(days=i) for i in range(n)}

    in_term = set().union(*(span(t) for t in data["terms"]))
    off = set().union(*(span(h) for h in data["holidays"]))
    off |= set().union(*(span(t["half_term"]) for t in data["terms"] if "half_term" in t))
    off |= set(data.get("inset_days", []))
    off |= {b["date"] if isinstance(b, dict) else b for b in data["bank_holidays"]}
    first, last = min(in_term), max(in_term)
    for i in range((last - first).days + 1):
        d = first + timedelta(days=i)
        expected = d in in_term and d not in off and d.weekday() < 5
        assert calendar.is_school_day(d) == expected, d


def test_a_bad_file_changes_nothing_and_names_its_lines(db: Database, tmp_path: Path) -> None:
    build_world(db)
    load_sample_calendar(db)
    before = rows(db)
    bad = write(
        tmp_path,
        "bad.yaml",
        """\
school_year: 2026-27
terms:
  - {name: Autumn, start: 2026-09-03, end: 2026-12-18}
  - {name: Spring, start: 2027-01-04, end: 2026-12-25}
  - {name: Winter, start: 2026-12-01, end: 2027-01-10}
  - name: Summer
    start: 2027-04-12
    end: 2027-07-21
    half_term: {start: 2027-07-19, end: 2027-07-30}
inset_days: [2027-08-02]
""",
    )
    with pytest.raises(InvalidImport) as caught:
        CalendarService(db).import_file(881, bad)
    problems = caught.value.problems
    assert "nothing was changed" in str(caught.value)
    assert any(
        p.startswith("line 4: ") and "ends (2026-12-25) before it starts" in p for p in problems
    )
    assert any(p.startswith("line 5: ") and "overlaps term 'Autumn'" in p for p in problems)
    assert any(p.startswith("line 9: ") and "not inside term 'Summer'" in p for p in problems)
    assert any(p.startswith("line 10: ") and "not inside any term" in p for p in problems)
    assert rows(db) == before


@pytest.mark.parametrize(
    ("content", "line", "text"),
    [
        ("school_year: 2026-28\nterms: []\n", 1, "give the school year"),
        ("school_year: 2026-27\nterm: []\n", 2, "unknown key"),
        (
            "school_year: 2026-27\nterms:\n  - {name: A, start: 2025-09-01, end: 2025-12-19}\n",
            3,
            "is not in school year 2026-27",
        ),
        (
            "school_year: 2026-27\nterms:\n  - {name: A, start: 2026-09-01, end: 2026-12-18}\n"
            "quiet_hours: {start: 18:00, end: 07:30}\n",
            4,
            "end after they start",
        ),
        (
            "school_year: 2026-27\nterms:\n  - {name: A, start: 2026-09-01, end: 2026-12-18}\n"
            "quiet_hours: {start: 7.5, end: '18:00'}\n",
            4,
            "not a time of day",
        ),
        (
            "school_year: 2026-27\nterms:\n  - {name: A, start: 2026-09-01, end: 2026-12-18}\n"
            "inset_days: [2026-09-05]\n",
            4,
            "weekend",
        ),
        (
            "school_year: 2026-27\nterms:\n  - {name: A, start: 2026-09-01, end: 2026-12-18}\n"
            "  - {name: a, start: 2027-01-04, end: 2027-03-25}\n",
            4,
            "given twice",
        ),
        ("school_year: 2026-27\nterms: [\n", 3, "expected"),
    ],
)
def test_file_problems_name_their_line(
    db: Database, tmp_path: Path, content: str, line: int, text: str
) -> None:
    build_world(db)
    path = write(tmp_path, "cal.yaml", content)
    with pytest.raises(InvalidImport) as caught:
        CalendarService(db).import_file(881, path)
    assert any(p.startswith(f"line {line}") and text in p for p in caught.value.problems), (
        caught.value.problems
    )
    assert rows(db) == {"terms": [], "closures": [], "quiet_hours": []}


def test_quiet_hours_written_unquoted_are_times_not_base_60_numbers(
    db: Database, tmp_path: Path
) -> None:
    world = build_world(db)
    path = write(
        tmp_path,
        "cal.yaml",
        "school_year: 2026-27\nquiet_hours: {start: 8:15, end: 16:45}\n"
        "terms: [{name: Autumn, start: 2026-09-02, end: 2026-12-18}]\n",
    )
    service = CalendarService(db)
    service.import_file(881, path)
    calendar = service.for_tenant(world.tenant_id)
    assert calendar.quiet_hours == QuietHours(time(8, 15), time(16, 45))
    assert calendar.next_slot(london(2026, 11, 24, 16, 45)) == utc(2026, 11, 25, 8, 15)


def test_a_school_year_in_the_file_replaces_the_stored_one(db: Database, tmp_path: Path) -> None:
    build_world(db)
    service = CalendarService(db)
    service.import_file(881, ESSEX_2021_22)
    load_sample_calendar(db)
    revised = write(
        tmp_path,
        "revised.yaml",
        """\
la_code: 881
school_year: 2026-27
terms:
  - name: Autumn
    start: 2026-09-03
    end: 2026-12-18
    half_term: {start: 2026-10-26, end: 2026-10-30}
  - {name: Spring, start: 2027-01-04, end: 2027-03-25}
  - {name: Summer term, start: 2027-04-12, end: 2027-07-21}
""",
    )
    summary = service.import_file(None, revised)
    # Autumn starts a day later; Spring is the same but now comes from revised.yaml.
    assert summary.updated == {"term": 2}
    assert summary.unchanged == {"closure": 1}
    assert summary.inserted == {"term": 1}  # "Summer term"
    assert summary.removed == {"term": 1, "closure": 3}  # "Summer"; INSET; 2 half terms
    calendar = service.for_la_code(881)
    assert [t.name for t in calendar.terms if t.school_year == "2026-27"] == [
        "Autumn",
        "Spring",
        "Summer term",
    ]
    assert len([t for t in calendar.terms if t.school_year == "2021-22"]) == 6  # untouched
    assert calendar.is_school_day(date(2027, 2, 16))  # the spring half term was removed
    assert "quiet hours" not in " ".join(summary.lines())  # the file left them alone


def test_a_term_overlapping_another_stored_year_is_refused(db: Database, tmp_path: Path) -> None:
    build_world(db)
    service = CalendarService(db)
    earlier = write(
        tmp_path,
        "2025-26.yaml",
        "school_year: 2025-26\nterms:\n"
        "  - {name: Autumn, start: 2025-09-03, end: 2025-12-19}\n"
        "  - {name: Summer, start: 2026-04-13, end: 2026-08-28}\n",
    )
    service.import_file(881, earlier)
    before = rows(db)
    later = write(
        tmp_path,
        "2026-27.yaml",
        "school_year: 2026-27\nterms:\n  - {name: Autumn, start: 2026-08-24, end: 2026-12-18}\n",
    )
    with pytest.raises(InvalidImport) as caught:
        service.import_file(881, later)
    assert caught.value.problems == [
        "line 3: term 'Autumn' (2026-08-24 to 2026-12-18) overlaps term 'Summer' of 2025-26"
        " already stored (2026-04-13 to 2026-08-28)"
    ]
    assert rows(db) == before


def test_the_local_authority_comes_from_the_argument_the_file_or_the_only_one(
    db: Database, tmp_path: Path
) -> None:
    build_world(db)
    no_code = write(
        tmp_path,
        "c.yaml",
        "school_year: 2026-27\nterms: [{name: A, start: 2026-09-02, end: 2026-12-18}]\n",
    )
    assert CalendarService(db).import_file(None, no_code).la_code == 881  # the only one
    build_world(db, la_code=882, name="Elsewhere", workspace="T0OTHER")
    with pytest.raises(UserError, match="881, 882"):
        CalendarService(db).import_file(None, no_code)
    with pytest.raises(UserError, match="LA code 999"):
        CalendarService(db).import_file(999, no_code)
    with pytest.raises(InvalidImport) as caught:
        CalendarService(db).import_file(882, ESSEX_2021_22)  # the file says 881
    assert caught.value.problems == ["line 5: the file is for LA 881, not LA 882 as asked"]


def test_calendars_are_per_tenant(db: Database, tmp_path: Path) -> None:
    essex = build_world(db)
    other = build_world(db, la_code=882, name="Elsewhere", workspace="T0OTHER")
    service = CalendarService(db)
    load_sample_calendar(db, 881)
    elsewhere = write(
        tmp_path,
        "other.yaml",
        "school_year: 2026-27\nquiet_hours: {start: '09:00', end: '15:00'}\nterms:\n"
        "  - {name: Michaelmas, start: 2026-09-07, end: 2026-12-11}\n",
    )
    service.import_file(882, elsewhere)
    mine, theirs = service.for_tenant(essex.tenant_id), service.for_tenant(other.tenant_id)
    assert [t.name for t in mine.terms] == ["Autumn", "Spring", "Summer"]
    assert [t.name for t in theirs.terms] == ["Michaelmas"]
    assert mine.is_school_day(date(2026, 12, 16)) and not theirs.is_school_day(date(2026, 12, 16))
    assert not mine.is_school_day(date(2026, 10, 28)) and theirs.is_school_day(date(2026, 10, 28))
    assert theirs.next_slot(london(2026, 11, 24, 8, 0)) == utc(2026, 11, 24, 9, 0)
    assert mine.next_slot(london(2026, 11, 24, 8, 0)) == utc(2026, 11, 24, 8, 0)
    # Re-importing the other tenant's year leaves Essex's rows alone.
    essex_rows = [r for r in rows(db)["terms"] if r[0] == essex.tenant_id]
    service.import_file(882, elsewhere)
    assert [r for r in rows(db)["terms"] if r[0] == essex.tenant_id] == essex_rows


def test_calendars_are_cached_until_forgotten_or_stale(db: Database) -> None:
    world = build_world(db)
    clock = FakeClock()
    service = CalendarService(db, clock=clock)
    empty = service.for_tenant(world.tenant_id)
    assert empty.terms == ()
    assert service.for_tenant(world.tenant_id) is empty
    load_sample_calendar(db)  # as another process would: this service is not told
    assert service.for_tenant(world.tenant_id) is empty
    service.forget(world.tenant_id)
    loaded = service.for_tenant(world.tenant_id)
    assert len(loaded.terms) == 3
    with db.session() as session:
        for term in session.exec(select(SchoolTerm)).all():
            session.delete(term)
    clock.advance(minutes=9)
    assert service.for_tenant(world.tenant_id) is loaded
    clock.advance(minutes=2)  # past the ten-minute TTL: read again
    assert service.for_tenant(world.tenant_id).terms == ()
    # Importing through the service forgets by itself.
    service.load_sample()
    assert len(service.for_tenant(world.tenant_id).terms) == 3


def test_a_csv_file_gives_the_same_calendar_as_the_yaml_sample(
    db: Database, tmp_path: Path
) -> None:
    build_world(db)
    other = build_world(db, la_code=882, name="Elsewhere", workspace="T0OTHER")
    load_sample_calendar(db, 881)
    csv_path = write(
        tmp_path,
        "sample.csv",
        "kind,school_year,name,start,end,note\n"
        "term,2026-27,Autumn,2026-09-02,2026-12-18,\n"
        "inset,,,2026-09-02,,Sample: illustrative training day\n"
        "half_term,,,2026-10-26,2026-10-30,\n"
        "holiday,,Christmas,2026-12-21,2027-01-01,\n"
        "term,2026-27,Spring,2027-01-04,2027-03-25,\n"
        "half_term,,,2027-02-15,2027-02-19,\n"
        "\n"
        "term,2026-27,Summer,2027-04-12,2027-07-21,\n"
        "half_term,,,2027-05-31,2027-06-04,\n"
        "bank_holiday,,,2027-05-03,,Early May bank holiday\n"
        "quiet_hours,,,07:30,18:00,\n",
    )
    service = CalendarService(db)
    summary = service.import_file(882, csv_path)
    assert summary.inserted == {"term": 3, "closure": 4, "quiet_hours": 1}
    essex, elsewhere = service.for_la_code(881), service.for_la_code(882)
    assert elsewhere.closures == essex.closures
    assert [(t.name, t.starts, t.ends) for t in elsewhere.terms] == [
        (t.name, t.starts, t.ends) for t in essex.terms
    ]
    assert elsewhere.tenant_id == other.tenant_id
    bad = write(
        tmp_path,
        "bad.csv",
        "kind,school_year,name,start,end\nterm,2026-27,Autumn,2026-09-02,2026-12-18\n"
        "inset,,,2027-01-04,\nterm,2026,Spring,2027-01-04,2027-03-25\nhalf_term,,,2026-13-01,\n",
    )
    before = rows(db)
    with pytest.raises(InvalidImport) as caught:
        service.import_file(882, bad)
    assert [p.split(":")[0] for p in caught.value.problems] == ["line 3", "line 4", "line 5"]
    assert rows(db) == before


def test_a_bank_holiday_the_package_does_not_know_becomes_a_closure(
    db: Database, tmp_path: Path
) -> None:
    build_world(db)
    path = write(
        tmp_path,
        "cal.yaml",
        "school_year: 2026-27\nterms: [{name: Summer, start: 2027-04-12, end: 2027-07-21}]\n"
        "bank_holidays:\n  - {date: 2027-06-15, name: A new one-off}\n  - 2027-05-03\n",
    )
    service = CalendarService(db)
    summary = service.import_file(881, path)
    assert summary.inserted == {"term": 1, "closure": 1}
    assert any("line 4" in note and "kept as a closure" in note for note in summary.notes)
    calendar = service.for_la_code(881)
    assert calendar.explain(date(2027, 6, 15)).reason == "closed: bank holiday: A new one-off"


def test_calendar_report_lists_days_with_reasons(essex: TenantCalendar) -> None:
    lines = calendar_report(essex, date(2026, 10, 23), 4)
    text = "\n".join(lines)
    assert "Quiet hours: school days 07:30-18:00" in text
    assert "School year 2026-27:" in text
    assert "half term: Mon 26 Oct 2026 to Fri 30 Oct 2026" in text
    assert lines[-4:] == [
        "  Fri 23 Oct 2026  school day (Autumn)",
        "  Sat 24 Oct 2026  no school: weekend",
        "  Sun 25 Oct 2026  no school: weekend",
        "  Mon 26 Oct 2026  no school: half term",
    ]


def test_england_bank_holidays_come_from_the_holidays_package() -> None:
    days_2027 = england_bank_holidays(2027)
    assert days_2027[date(2027, 3, 29)] == "Easter Monday"
    assert date(2027, 5, 3) in days_2027
    assert all(d.year == 2027 for d in days_2027)


# --- The command line --------------------------------------------------------------------------


def test_slis_calendar_import_and_show(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    build_world(db)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["calendar", "import", str(SAMPLE_CALENDAR)])
    assert result.exit_code == 0, result.output
    assert "term: 3 inserted" in result.output and "calendar import: done." in result.output
    result = runner.invoke(app, ["calendar", "show", "--from", "2026-12-24", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "Fri 25 Dec 2026  no school: bank holiday: Christmas Day" in result.output
    assert "from sample_calendar_2026-27.yaml" in result.output
    bad = write(tmp_path, "bad.yaml", "school_year: 2026-27\nterms:\n  - {name: A, start: x}\n")
    result = runner.invoke(app, ["calendar", "import", str(bad), "--la-code", "881"])
    assert result.exit_code == 1
    assert "line 3" in result.output and "nothing was changed" in result.output
    result = runner.invoke(app, ["calendar", "show", "--from", "someday"])
    assert result.exit_code == 2
    with db.session() as session:
        count = session.exec(select(func.count()).select_from(SchoolTerm)).one()
        tenant = session.exec(select(Tenant)).one()
    assert count == 3 and tenant.la_code == 881
