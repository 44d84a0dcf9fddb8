"""Reading a school calendar file (YAML or CSV) into checked terms and closures, with their lines.

A YAML file describes one school year:

    la_code: 881                  # optional; `slis calendar import --la-code` may give it instead
    school_year: 2026-27
    quiet_hours: {start: "07:30", end: "18:00"}      # optional; the defaults
    terms:
      - name: Autumn
        start: 2026-09-02
        end: 2026-12-18
        half_term: {start: 2026-10-26, end: 2026-10-30}
    inset_days: [2026-09-02, {date: 2027-01-04, note: Training day}]
    closures:                     # anything else inside a term
      - {kind: other, start: 2027-05-06, note: Polling day}    # kind: half_term | inset | other
    holidays:                     # optional, checked only: the gaps between terms
      - {name: Christmas, start: 2026-12-21, end: 2027-01-01}
    bank_holidays: [2026-12-25]   # optional: England's come from the `holidays` package

A CSV file has a header and one row per term or closure, for one or more school years:

    kind,school_year,name,start,end,note
    term,2026-27,Autumn,2026-09-02,2026-12-18,
    half_term,,,2026-10-26,2026-10-30,
    inset,,,2026-09-02,,
    quiet_hours,,,07:30,18:00,

`kind` is term, half_term, inset, other, holiday, bank_holiday or quiet_hours; a closure's school
year is its term's. Dates are ISO (YYYY-MM-DD) and inclusive; a closure without an end is one
day. Shape problems and problems that need only the file (a term that ends before it starts,
overlapping terms, a closure outside every term) are found here, each with its line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from bot.errors import InvalidImport
from bot.services.directory_file import LineIndex, Loc, read_marked_yaml, render_loc
from bot.services.gias import decode

YAML_KEYS = (
    "la_code",
    "school_year",
    "quiet_hours",
    "terms",
    "inset_days",
    "closures",
    "holidays",
    "bank_holidays",
)
CSV_KINDS = (
    "term",
    "half_term",
    "inset",
    "other",
    "holiday",
    "bank_holiday",
    "quiet_hours",
)
CSV_COLUMNS = ("kind", "school_year", "name", "start", "end", "note")

SCHOOL_YEAR = re.compile(r"(\d{4})\s*[-/]\s*(\d{2})")
CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
NAME_MAX = 50
NOTE_MAX = 200


class ClosureKind(StrEnum):
    """Why a day inside a term has no school."""

    HALF_TERM = "half_term"
    INSET = "inset"  # a training (non-pupil) day, set county-wide
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"half_term": "half term", "inset": "INSET day", "other": "closed"}[self.value]


@dataclass(frozen=True)
class TermSpec:
    school_year: str
    name: str
    starts: date
    ends: date
    line: int


@dataclass(frozen=True)
class ClosureSpec:
    kind: ClosureKind
    starts: date
    ends: date
    note: str
    line: int
    school_year: str = ""  # the school year of the term it lies in, set by the checks
    term: str | None = None  # for a half term given under a term: that term's name


@dataclass(frozen=True)
class HolidaySpec:
    """A holiday between terms, as a file may list it; it is checked, not stored."""

    name: str
    starts: date
    ends: date
    line: int


@dataclass(frozen=True)
class BankHolidaySpec:
    day: date
    name: str
    line: int


@dataclass(frozen=True)
class QuietHoursSpec:
    starts: time
    ends: time
    line: int


@dataclass
class CalendarFile:
    """What a calendar file says, the problems found in it, and notes for the summary."""

    source: str
    la_code: int | None = None
    la_code_line: int = 1
    terms: list[TermSpec] = field(default_factory=list)
    closures: list[ClosureSpec] = field(default_factory=list)
    holidays: list[HolidaySpec] = field(default_factory=list)
    bank_holidays: list[BankHolidaySpec] = field(default_factory=list)
    quiet_hours: QuietHoursSpec | None = None
    problems: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def school_years(self) -> list[str]:
        return sorted({t.school_year for t in self.terms})

    def problem(self, line: int, text: str) -> None:
        self.problems.append((line, text))

    def problem_lines(self) -> list[str]:
        """Problems as `line N: reason`, in file order."""
        return [f"line {n}: {text}" for n, text in sorted(self.problems, key=lambda p: p[0])]

    def raise_problems(self) -> None:
        if self.problems:
            raise InvalidImport(self.source, self.problem_lines())


def read_calendar_file(path: Path) -> CalendarFile:
    """Parse and shape-check a .yaml/.yml or .csv calendar file (InvalidImport if unreadable)."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml(path)
    if suffix == ".csv":
        return _read_csv(path)
    raise InvalidImport(path.name, ["line 1: a calendar file is YAML (.yaml, .yml) or CSV (.csv)"])


def school_year_window(school_year: str) -> tuple[date, date]:
    """The dates a school year's terms may fall on: 1 August to 31 August a year later."""
    first = int(school_year[:4])
    return date(first, 8, 1), date(first + 1, 8, 31)


def fmt(d: date) -> str:
    """A date as people read it: `Mon 26 Oct 2026`."""
    return f"{d:%a} {d.day} {d:%b %Y}"


# --- Checks that need only the file ------------------------------------------------------------


def check_calendar(cal: CalendarFile, bank_holidays: Callable[[int], Mapping[date, str]]) -> None:
    """Check dates against each other; assign closures their school year; note bank holidays.

    `bank_holidays(year)` gives England's bank holidays. A bank holiday the file lists that the
    `holidays` package does not know (a new one-off, say) becomes a closure when it falls in a term.
    """
    for term in cal.terms:
        low, high = school_year_window(term.school_year)
        if term.ends < term.starts:
            cal.problem(
                term.line,
                f"term {term.name!r} ends ({term.ends}) before it starts ({term.starts})",
            )
        elif not (low <= term.starts and term.ends <= high):
            cal.problem(
                term.line,
                f"term {term.name!r} ({term.starts} to {term.ends}) is not in school year "
                f"{term.school_year} (terms fall between {low} and {high})",
            )
    names: dict[tuple[str, str], TermSpec] = {}
    for term in cal.terms:
        key = (term.school_year, term.name.casefold())
        if key in names:
            cal.problem(
                term.line, f"term {term.name!r} is given twice (first on line {names[key].line})"
            )
        names.setdefault(key, term)
    ordered = sorted((t for t in cal.terms if t.ends >= t.starts), key=lambda t: t.starts)
    for before, after in pairwise(ordered):
        if after.starts <= before.ends:
            cal.problem(
                max(before.line, after.line),
                f"term {after.name!r} ({after.starts} to {after.ends}) overlaps term "
                f"{before.name!r} ({before.starts} to {before.ends}, line "
                f"{min(before.line, after.line)})",
            )
    unknown = 0
    for day in cal.bank_holidays:
        if bank_holidays(day.day.year).get(day.day) is not None:
            continue
        unknown += 1
        if _term_holding(ordered, day.day, day.day) is None:
            cal.notes.append(
                f"line {day.line}: {day.day} is not an England bank holiday in the `holidays` "
                "package; it is outside the terms, so it changes nothing"
            )
            continue
        note = f"bank holiday: {day.name}" if day.name else "bank holiday"
        cal.closures.append(ClosureSpec(ClosureKind.OTHER, day.day, day.day, note, day.line))
        cal.notes.append(
            f"line {day.line}: {day.day} is not an England bank holiday in the `holidays` "
            "package; it is kept as a closure"
        )
    if cal.bank_holidays and not unknown:
        cal.notes.append(
            f"the {len(cal.bank_holidays)} bank holiday(s) listed are all England bank holidays"
            " in the `holidays` package, which the calendar uses"
        )
    cal.closures = [c for c in (_place(cal, ordered, c) for c in cal.closures) if c is not None]
    seen: dict[tuple[ClosureKind, date], ClosureSpec] = {}
    for closure in cal.closures:
        first = seen.setdefault((closure.kind, closure.starts), closure)
        if first is not closure:
            cal.problem(
                closure.line,
                f"{closure.kind.label} starting {closure.starts} is given twice "
                f"(first on line {first.line})",
            )
    for holiday in cal.holidays:
        if holiday.ends < holiday.starts:
            cal.problem(holiday.line, f"holiday ends ({holiday.ends}) before it starts")
            continue
        for term in ordered:
            if holiday.starts <= term.ends and term.starts <= holiday.ends:
                cal.problem(
                    holiday.line,
                    f"holiday {holiday.name + ' ' if holiday.name else ''}({holiday.starts} to "
                    f"{holiday.ends}) overlaps "
                    f"term {term.name!r} (line {term.line}); holidays are the gaps between terms: "
                    "give days off inside a term as half_term, inset_days or closures",
                )
    if cal.holidays:
        cal.notes.append(f"{len(cal.holidays)} holiday(s) between terms checked")
    if cal.quiet_hours is not None and cal.quiet_hours.ends <= cal.quiet_hours.starts:
        cal.problem(cal.quiet_hours.line, "quiet_hours must end after they start")


def _term_holding(ordered: list[TermSpec], starts: date, ends: date) -> TermSpec | None:
    for term in ordered:
        if term.starts <= starts and ends <= term.ends:
            return term
    return None


def _place(cal: CalendarFile, ordered: list[TermSpec], c: ClosureSpec) -> ClosureSpec | None:
    what = f"{c.kind.label} {c.starts}" + (f" to {c.ends}" if c.ends != c.starts else "")
    if c.ends < c.starts:
        cal.problem(c.line, f"{c.kind.label} ends ({c.ends}) before it starts ({c.starts})")
        return None
    if c.kind is ClosureKind.INSET and c.starts == c.ends and c.starts.weekday() >= 5:
        cal.problem(c.line, f"INSET day {fmt(c.starts)} is a weekend day")
        return None
    term = _term_holding(ordered, c.starts, c.ends)
    if c.term is not None and (term is None or term.name != c.term):
        cal.problem(c.line, f"{what} is not inside term {c.term!r}")
        return None
    if term is None:
        overlapping = [t for t in ordered if c.starts <= t.ends and t.starts <= c.ends]
        if overlapping:
            t = overlapping[0]
            cal.problem(
                c.line,
                f"{what} is not wholly inside term {t.name!r} ({t.starts} to {t.ends}); "
                "closures lie inside one term",
            )
        else:
            cal.problem(c.line, f"{what} is not inside any term (closures lie inside a term)")
        return None
    return ClosureSpec(c.kind, c.starts, c.ends, c.note, c.line, term.school_year, term.name)


# --- YAML ----------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML in which `18:00` is the text "18:00", not the base-60 number 1080 of YAML 1.1."""


_CLOCK_RESOLVER = ("tag:yaml.org,2002:str", re.compile(r"^[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?$"))
_Loader.yaml_implicit_resolvers = {
    first: ([_CLOCK_RESOLVER] if first in "0123456789" else []) + list(resolvers)
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Yaml:
    """Reads values out of the parsed document, recording problems at their lines."""

    def __init__(self, cal: CalendarFile, lines: LineIndex) -> None:
        self.cal = cal
        self.lines = lines

    def problem(self, loc: Loc, text: str) -> None:
        self.cal.problem(self.lines.line(loc), f"{render_loc(loc)}: {text}")

    def mapping(
        self, value: Any, loc: Loc, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(loc, f"must be a mapping with {', '.join(required + optional)}")
            return None
        ok = True
        for key in value:
            if key not in required + optional:
                self.problem(
                    (*loc, str(key)), f"unknown key; expected {', '.join(required + optional)}"
                )
                ok = False
        for key in required:
            if key not in value:
                self.problem(loc, f"{key} is missing")
                ok = False
        return value if ok else None

    def day(self, value: Any, loc: Loc) -> date | None:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.problem(loc, f"{value!r} is not a date (write YYYY-MM-DD)")
        return None

    def text(self, value: Any, loc: Loc, max_length: int, *, required: bool) -> str | None:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem(loc, "must be text")
            return None
        if len(value.strip()) > max_length:
            self.problem(loc, f"is longer than {max_length} characters")
            return None
        return value.strip()

    def clock(self, value: Any, loc: Loc) -> time | None:
        match = CLOCK_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            self.problem(loc, f'{value!r} is not a time of day (write HH:MM, e.g. "07:30")')
            return None
        return time(int(match[1]), int(match[2]))

    def span(
        self, raw: Any, loc: Loc, *, extra: tuple[str, ...] = (), end_required: bool = True
    ) -> tuple[date, date, dict[str, Any]] | None:
        """A mapping with `start` and `end` dates (end optional when not `end_required`)."""
        required = ("start", "end") if end_required else ("start",)
        optional = extra if end_required else ("end", *extra)
        item = self.mapping(raw, loc, required, optional)
        if item is None:
            return None
        starts = self.day(item["start"], (*loc, "start"))
        ends = starts if item.get("end") is None else self.day(item["end"], (*loc, "end"))
        if starts is None or ends is None:
            return None
        return starts, ends, item

    def items(self, data: dict[str, Any], key: str) -> list[tuple[Loc, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem((key,), "must be a list")
            return []
        return [((key, i), item) for i, item in enumerate(value)]


def _load_yaml(path: Path) -> tuple[Any, LineIndex]:
    data, lines, duplicates = read_marked_yaml(path, loader=_Loader)
    if duplicates:
        raise InvalidImport(
            path.name, [f"line {lines.line(loc)}: {text}" for loc, text in duplicates]
        )
    return data, lines


def _read_yaml(path: Path) -> CalendarFile:
    data, lines = _load_yaml(path)
    cal = CalendarFile(source=path.name)
    y = _Yaml(cal, lines)
    if not isinstance(data, dict):
        cal.problem(
            1,
            "a calendar file is a mapping with school_year and terms (and optionally "
            + ", ".join(k for k in YAML_KEYS if k not in ("school_year", "terms"))
            + ")",
        )
        cal.raise_problems()
        return cal
    for key in data:
        if key not in YAML_KEYS:
            y.problem((str(key),), f"unknown key; expected one of {', '.join(YAML_KEYS)}")
    if "la_code" in data:
        la_code = data["la_code"]
        cal.la_code_line = lines.line(("la_code",))
        if isinstance(la_code, int) and not isinstance(la_code, bool) and la_code > 0:
            cal.la_code = la_code
        else:
            y.problem(("la_code",), "must be a positive whole number")
    school_year = _school_year(data.get("school_year"))
    if school_year is None:
        y.problem(("school_year",), "give the school year, e.g. school_year: 2026-27")
        cal.raise_problems()
    assert school_year is not None
    if not data.get("terms"):
        y.problem(("terms",), "give the school year's terms")

    for loc, raw in y.items(data, "terms"):
        got = y.span(raw, loc, extra=("name", "half_term"))
        if got is None:
            continue
        starts, ends, item = got
        name = y.text(item.get("name"), (*loc, "name"), NAME_MAX, required=True)
        if name is None:
            continue
        cal.terms.append(TermSpec(school_year, name, starts, ends, lines.line(loc)))
        if item.get("half_term") is not None:
            hloc = (*loc, "half_term")
            half = y.span(item["half_term"], hloc, extra=("note",))
            note = (
                "" if half is None else y.text(half[2].get("note"), hloc, NOTE_MAX, required=False)
            )
            if half is not None and note is not None:
                cal.closures.append(
                    ClosureSpec(
                        ClosureKind.HALF_TERM, half[0], half[1], note, lines.line(hloc), term=name
                    )
                )

    for loc, raw in y.items(data, "inset_days"):
        if isinstance(raw, dict):
            inset = y.mapping(raw, loc, ("date",), ("note",))
            if inset is None:
                continue
            day = y.day(inset["date"], (*loc, "date"))
            note = y.text(inset.get("note"), (*loc, "note"), NOTE_MAX, required=False)
        else:
            day, note = y.day(raw, loc), ""
        if day is not None and note is not None:
            cal.closures.append(ClosureSpec(ClosureKind.INSET, day, day, note, lines.line(loc)))

    for loc, raw in y.items(data, "closures"):
        got = y.span(raw, loc, extra=("kind", "note"), end_required=False)
        if got is None:
            continue
        starts, ends, item = got
        kind = _closure_kind(item.get("kind"))
        if kind is None:
            y.problem((*loc, "kind"), f"kind must be one of {', '.join(ClosureKind)}")
            continue
        note = y.text(item.get("note"), (*loc, "note"), NOTE_MAX, required=False)
        if note is not None:
            cal.closures.append(ClosureSpec(kind, starts, ends, note, lines.line(loc)))

    for loc, raw in y.items(data, "holidays"):
        got = y.span(raw, loc, extra=("name",))
        if got is not None:
            name = y.text(got[2].get("name"), (*loc, "name"), NAME_MAX, required=False)
            if name is not None:
                cal.holidays.append(HolidaySpec(name, got[0], got[1], lines.line(loc)))

    for loc, raw in y.items(data, "bank_holidays"):
        if isinstance(raw, dict):
            bank = y.mapping(raw, loc, ("date",), ("name",))
            if bank is None:
                continue
            day = y.day(bank["date"], (*loc, "date"))
            name = y.text(bank.get("name"), (*loc, "name"), NOTE_MAX, required=False)
        else:
            day, name = y.day(raw, loc), ""
        if day is not None and name is not None:
            cal.bank_holidays.append(BankHolidaySpec(day, name, lines.line(loc)))

    if data.get("quiet_hours") is not None:
        loc = ("quiet_hours",)
        hours = y.mapping(data["quiet_hours"], loc, ("start", "end"), ())
        if hours is not None:
            starts_at = y.clock(hours["start"], (*loc, "start"))
            ends_at = y.clock(hours["end"], (*loc, "end"))
            if starts_at is not None and ends_at is not None:
                cal.quiet_hours = QuietHoursSpec(starts_at, ends_at, lines.line(loc))
    return cal


def _school_year(value: Any) -> str | None:
    """`2026-27` or `2026/27` → "2026-27"; None unless the second year follows the first."""
    if not isinstance(value, str):
        return None
    match = SCHOOL_YEAR.fullmatch(value.strip())
    if match is None or (int(match[1]) + 1) % 100 != int(match[2]):
        return None
    return f"{match[1]}-{match[2]}"


def _closure_kind(value: Any) -> ClosureKind | None:
    try:
        return ClosureKind(str(value).strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        return None


# --- CSV -----------------------------------------------------------------------------------------


def _read_csv(path: Path) -> CalendarFile:
    cal = CalendarFile(source=path.name)
    reader = csv.reader(io.StringIO(decode(path), newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidImport(path.name, ["line 1: the file is empty; expected a header"]) from None
    missing = [name for name in ("kind", "start") if name not in header]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if missing or unknown:
        wanted = ", ".join(CSV_COLUMNS)
        raise InvalidImport(path.name, [f"line 1: the header must name columns from {wanted}"])
    previous_line = reader.line_num
    for row in reader:
        line, previous_line = previous_line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            cal.problem(line, f"{len(row)} fields where the header has {len(header)}")
            continue
        values = dict(zip(header, (cell.strip() for cell in row), strict=False))
        _csv_row(cal, line, values)
    if not cal.terms:
        cal.problem(1, "the file has no term rows")
    return cal


def _csv_row(cal: CalendarFile, line: int, values: dict[str, str]) -> None:
    kind = values.get("kind", "").lower()
    name = values.get("name", "")
    note = values.get("note", "")
    if kind not in CSV_KINDS:
        cal.problem(line, f"kind {kind!r} is not one of {', '.join(CSV_KINDS)}")
        return
    if kind == "quiet_hours":
        starts_at, ends_at = (CLOCK_TIME.fullmatch(values.get(k, "")) for k in ("start", "end"))
        if starts_at is None or ends_at is None:
            cal.problem(line, "quiet_hours needs start and end times (HH:MM)")
        elif cal.quiet_hours is not None:
            cal.problem(line, f"quiet_hours is given twice (first on line {cal.quiet_hours.line})")
        else:
            cal.quiet_hours = QuietHoursSpec(
                time(int(starts_at[1]), int(starts_at[2])),
                time(int(ends_at[1]), int(ends_at[2])),
                line,
            )
        return
    starts = _csv_date(cal, line, "start", values.get("start", ""))
    end_text = values.get("end", "")
    ends = starts if not end_text else _csv_date(cal, line, "end", end_text)
    if starts is None or ends is None:
        return
    if len(note) > NOTE_MAX or len(name) > NAME_MAX:
        cal.problem(line, f"name is at most {NAME_MAX} characters, note at most {NOTE_MAX}")
        return
    if kind == "term":
        school_year = _school_year(values.get("school_year", ""))
        if school_year is None:
            cal.problem(line, "a term needs its school_year, e.g. 2026-27")
        elif not name:
            cal.problem(line, "a term needs a name")
        elif not end_text:
            cal.problem(line, "a term needs an end date")
        else:
            cal.terms.append(TermSpec(school_year, name, starts, ends, line))
    elif kind == "holiday":
        cal.holidays.append(HolidaySpec(name, starts, ends, line))
    elif kind == "bank_holiday":
        cal.bank_holidays.append(BankHolidaySpec(starts, name or note, line))
    else:
        cal.closures.append(ClosureSpec(ClosureKind(kind), starts, ends, note or name, line))


def _csv_date(cal: CalendarFile, line: int, column: str, text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        cal.problem(line, f"{column} {text!r} is not a date (write YYYY-MM-DD)")
        return None


def days(starts: date, ends: date) -> list[date]:
    """Every date from `starts` to `ends`, both included."""
    return [starts + timedelta(days=i) for i in range((ends - starts).days + 1)]
