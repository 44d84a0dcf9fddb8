"""The school calendar: which days are school days, and when the bot may start a conversation.

A tenant's calendar is its term dates and the closures inside them (half terms, INSET days,
other closures) as imported from a file, England's bank holidays from the `holidays` package,
and its quiet hours: the local hours of a school day in which the bot may speak (by default
07:30 to 18:00; the end is exclusive, so 18:00 sharp is already quiet). INSET days are
county-wide: per-school INSET days are not modelled.

`TenantCalendar` is a plain value loaded once; every local time is built with `zoneinfo` in the
tenant's zone and only then turned into UTC, so answers stay right across the BST/GMT changes.
`CalendarService` loads and caches calendars and imports calendar files.

Rules:
- A school day is a weekday, not an England bank holiday, inside a term and not in a closure.
- A school year (1 September to 31 August) with no terms loaded is not "no school ever": its
  weekdays other than bank holidays count as school days, a warning is logged once per school
  year, and `has_terms_for(d)` says False so callers can tell.
- `next_slot(t)` is the earliest instant at or after `t` inside quiet hours on a school day.
- `add_school_days(d, 0)` is `d` if it is a school day, else the next one; for n >= 1 it is the
  n-th school day after `d` (so from a Saturday both 0 and 1 give the Monday).
"""

from __future__ import annotations

import functools
import logging
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays
from sqlmodel import Session, SQLModel, col, select

from bot.errors import InvalidImport, NotFound, UserError
from bot.ports import Clock, SystemClock
from bot.services import audit
from bot.services.calendar_file import (
    CalendarFile,
    ClosureKind,
    check_calendar,
    days,
    fmt,
    read_calendar_file,
)
from bot.services.directory_import import ImportSummary
from storage.calendar_tables import (
    DEFAULT_QUIET_HOURS_END,
    DEFAULT_QUIET_HOURS_START,
    SchoolClosure,
    SchoolTerm,
)
from storage.calendar_tables import QuietHours as QuietHoursRow
from storage.engine import Database
from storage.models import Tenant

__all__ = [
    "SAMPLE_CALENDAR",
    "SAMPLE_LA_CODE",
    "CalendarError",
    "CalendarImportSummary",
    "CalendarService",
    "Closure",
    "ClosureKind",
    "DayInfo",
    "QuietHours",
    "TenantCalendar",
    "Term",
    "calendar_report",
    "england_bank_holidays",
    "load_sample_calendar",
    "school_year_of",
]

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE_CALENDAR = DATA / "sample_calendar_2026-27.yaml"
SAMPLE_LA_CODE = 881  # the sample directory's local authority (Essex)

# How far ahead to look for a school day before deciding the calendar has none: two whole school
# years of closures, then the fallback's weekdays, are always found well within this.
SEARCH_LIMIT_DAYS = 3 * 366
# How long a cached calendar is trusted: imports usually run in another process (`slis calendar
# import`), which cannot tell this one to forget.
CACHE_TTL = timedelta(minutes=10)

BankHolidays = Callable[[int], Mapping[date, str]]


class CalendarError(RuntimeError):
    """The calendar has no school day within the search limit (e.g. every day is closed)."""


@functools.lru_cache(maxsize=64)
def england_bank_holidays(year: int) -> Mapping[date, str]:
    """England's bank holidays in `year` (substitute days included), by date."""
    found = holidays.country_holidays("GB", subdiv="ENG", years=year)
    return MappingProxyType({day: str(name) for day, name in found.items() if day.year == year})


def school_year_of(d: date) -> str:
    """The school year a date falls in, September to August: 2027-03-01 → "2026-27"."""
    first = d.year if d.month >= 9 else d.year - 1
    return f"{first}-{(first + 1) % 100:02d}"


@dataclass(frozen=True)
class Term:
    school_year: str
    name: str
    starts: date
    ends: date  # inclusive
    source: str = ""

    def contains(self, d: date) -> bool:
        return self.starts <= d <= self.ends


@dataclass(frozen=True)
class Closure:
    kind: ClosureKind
    starts: date
    ends: date  # inclusive
    note: str = ""

    @property
    def label(self) -> str:
        if self.kind is ClosureKind.OTHER:
            return f"closed: {self.note}" if self.note else "closed"
        return f"{self.kind.label} ({self.note})" if self.note else self.kind.label


@dataclass(frozen=True)
class QuietHours:
    """The local hours of a school day in which the bot may speak: [starts, ends)."""

    starts: time = DEFAULT_QUIET_HOURS_START
    ends: time = DEFAULT_QUIET_HOURS_END

    def __post_init__(self) -> None:
        if self.ends <= self.starts:
            raise ValueError("quiet hours must end after they start")

    def __str__(self) -> str:
        return f"{self.starts:%H:%M}-{self.ends:%H:%M}"


@dataclass(frozen=True)
class DayInfo:
    """What a date is, and why."""

    day: date
    school_day: bool
    reason: str
    term: Term | None = None
    assumed: bool = False  # no term dates for its school year: weekdays count as school days


class TenantCalendar:
    """One tenant's calendar, loaded once; pure apart from a once-per-year warning."""

    def __init__(
        self,
        terms: Iterable[Term] = (),
        closures: Iterable[Closure] = (),
        quiet_hours: QuietHours | None = None,
        timezone: str | ZoneInfo = "Europe/London",
        *,
        bank_holidays: BankHolidays = england_bank_holidays,
        tenant_id: int | None = None,
    ) -> None:
        self.terms: tuple[Term, ...] = tuple(sorted(terms, key=lambda t: t.starts))
        self.closures: tuple[Closure, ...] = tuple(
            sorted(closures, key=lambda c: (c.starts, c.kind.value))
        )
        self.quiet_hours = quiet_hours or QuietHours()
        self.tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.tenant_id = tenant_id
        self._bank = bank_holidays
        self._term_starts = [t.starts for t in self.terms]
        self._closed: dict[date, Closure] = {}
        for closure in self.closures:
            for d in days(closure.starts, closure.ends):
                self._closed.setdefault(d, closure)
        self._years = frozenset(t.school_year for t in self.terms)
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    # --- Days ----------------------------------------------------------------------------------

    def term_of(self, d: date) -> Term | None:
        """The term `d` falls in (weekends and closures included), None between terms."""
        index = bisect_right(self._term_starts, d) - 1
        if index >= 0 and self.terms[index].contains(d):
            return self.terms[index]
        return None

    def has_terms_for(self, d: date) -> bool:
        """Whether term dates are loaded for `d`'s school year (else `d` is only assumed)."""
        return school_year_of(d) in self._years or self.term_of(d) is not None

    def bank_holiday(self, d: date) -> str | None:
        """The name of the England bank holiday on `d`, if it is one."""
        return self._bank(d.year).get(d)

    def closure_on(self, d: date) -> Closure | None:
        return self._closed.get(d)

    def is_school_day(self, d: date) -> bool:
        """A weekday, not a bank holiday, in a term and not in a closure (see the module rules)."""
        if d.weekday() >= 5 or d in self._closed or self.bank_holiday(d) is not None:
            return False
        if self.term_of(d) is not None:
            return True
        if self.has_terms_for(d):
            return False
        self._warn_assumed(d)
        return True

    def explain(self, d: date) -> DayInfo:
        """Whether `d` is a school day and the reason, as people read it."""
        term = self.term_of(d)
        if d.weekday() >= 5:
            return DayInfo(d, False, "weekend", term)
        name = self.bank_holiday(d)
        if name is not None:
            return DayInfo(d, False, f"bank holiday: {name}", term)
        closure = self._closed.get(d)
        if closure is not None:
            return DayInfo(d, False, closure.label, term)
        if term is not None:
            return DayInfo(d, True, f"school day ({term.name})", term)
        if self.has_terms_for(d):
            return DayInfo(d, False, "school holiday")
        self._warn_assumed(d)
        return DayInfo(
            d, True, f"no term dates for {school_year_of(d)}: assumed a school day", assumed=True
        )

    def next_school_day(self, d: date, *, inclusive: bool = True) -> date:
        """The first school day on or after `d` (strictly after when not `inclusive`)."""
        current = d if inclusive else d + timedelta(days=1)
        for _ in range(SEARCH_LIMIT_DAYS):
            if self.is_school_day(current):
                return current
            current += timedelta(days=1)
        raise CalendarError(f"no school day within {SEARCH_LIMIT_DAYS} days of {d}")

    def add_school_days(self, d: date, n: int) -> date:
        """`d` moved on by `n` school days.

        n = 0: `d` if it is a school day, else the next school day. n >= 1: the n-th school day
        after `d`, not counting `d` itself (Friday + 1 is Monday; Saturday + 1 is Monday too).
        """
        if n < 0:
            raise ValueError("add_school_days counts forwards: n must be 0 or more")
        current = self.next_school_day(d)
        if n == 0:
            return current
        if current != d:  # d was not a school day: the one found is the first after it
            n -= 1
        for _ in range(n):
            current = self.next_school_day(current, inclusive=False)
        return current

    def first_school_days_of_terms(
        self, after: date, count: int, *, inclusive: bool = False
    ) -> list[date]:
        """The first school day of each loaded term, the first `count` of them after `after`.

        A term is as the file gives it (a file that splits terms at half term has six). Terms
        with no school day at all are skipped; years without term dates have no terms here.
        """
        found: list[date] = []
        for term in self.terms:
            if len(found) >= count:
                break
            if term.ends < after:
                continue
            first = next((d for d in days(term.starts, term.ends) if self.is_school_day(d)), None)
            if first is not None and (first > after or (inclusive and first == after)):
                found.append(first)
        return found

    # --- Times ---------------------------------------------------------------------------------

    def at(self, d: date, t: time) -> datetime:
        """The UTC instant of local wall time `t` on `d` in the tenant's zone.

        A wall time the clocks skip in spring is taken with the offset before the change (so it
        lands an hour later by the new clock); one they repeat in autumn is its first occurrence.
        """
        return datetime.combine(d, t, tzinfo=self.tz).astimezone(UTC)

    def local(self, t: datetime) -> datetime:
        """An aware instant in the tenant's zone."""
        _require_aware(t)
        return t.astimezone(self.tz)

    def next_slot(self, t: datetime) -> datetime:
        """The earliest instant at or after `t` (aware, any zone) on a school day inside quiet
        hours, in UTC: `t` itself when it is inside them (18:00 sharp is not), else the next
        school day's opening (07:30 local by default)."""
        _require_aware(t)
        instant = t.astimezone(UTC)
        d = instant.astimezone(self.tz).date()
        for _ in range(SEARCH_LIMIT_DAYS):
            if self.is_school_day(d):
                opens = self.at(d, self.quiet_hours.starts)
                if instant < opens:
                    return opens
                if instant < self.at(d, self.quiet_hours.ends):
                    return instant
            d += timedelta(days=1)
        raise CalendarError(f"no school-day slot within {SEARCH_LIMIT_DAYS} days of {t}")

    def is_open(self, t: datetime) -> bool:
        """Whether the bot may speak at `t`: a school day, inside quiet hours."""
        return self.next_slot(t) == t.astimezone(UTC)

    def _warn_assumed(self, d: date) -> None:
        year = school_year_of(d)
        with self._warn_lock:
            if year in self._warned:
                return
            self._warned.add(year)
        log.warning(
            "tenant %s has no term dates for school year %s: counting every weekday except bank"
            " holidays as a school day (import the calendar: slis calendar import FILE)",
            self.tenant_id,
            year,
        )


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{t!r} has no time zone; the calendar needs aware datetimes")


# --- Loading and importing ---------------------------------------------------------------------


@dataclass
class CalendarImportSummary(ImportSummary):
    """What a calendar import did; a school year in the file replaces the stored one."""

    removed: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    la_code: int | None = None
    school_years: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return super().changes + sum(self.removed.values())

    def lines(self) -> list[str]:
        outcomes = (
            ("inserted", self.inserted),
            ("updated", self.updated),
            ("removed", self.removed),
            ("unchanged", self.unchanged),
        )
        years = ", ".join(self.school_years)
        out = [f"{self.source} (LA {self.la_code}, school year {years}):"]
        for kind in ("term", "closure", "quiet_hours"):
            counts = ", ".join(f"{c[kind]} {label}" for label, c in outcomes if c.get(kind))
            if counts:
                out.append(f"  {kind.replace('_', ' ')}: {counts}")
        out.extend(f"  note: {note}" for note in self.notes)
        return out


class CalendarService:
    """Calendars by tenant, cached (see `forget`), and the calendar file import."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        ttl: timedelta | None = CACHE_TTL,
        bank_holidays: BankHolidays = england_bank_holidays,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.ttl = ttl
        self._bank = bank_holidays
        self._cache: dict[int, tuple[TenantCalendar, datetime]] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant_id: int) -> TenantCalendar:
        """The tenant's calendar, read once and kept until `forget` (or the cache's TTL)."""
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached is not None and (self.ttl is None or now - cached[1] < self.ttl):
            return cached[0]
        calendar = self._load(tenant_id)
        with self._lock:
            self._cache[tenant_id] = (calendar, now)
        return calendar

    def for_la_code(self, la_code: int) -> TenantCalendar:
        with self.db.session() as session:
            tenant_id = _tenant(session, la_code).id
        assert tenant_id is not None
        return self.for_tenant(tenant_id)

    def forget(self, tenant_id: int | None = None) -> None:
        """Drop the cached calendar of one tenant (None: of every tenant)."""
        with self._lock:
            if tenant_id is None:
                self._cache.clear()
            else:
                self._cache.pop(tenant_id, None)

    def _load(self, tenant_id: int) -> TenantCalendar:
        with self.db.session() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound(f"no local authority with id {tenant_id}")
            terms = session.exec(
                select(SchoolTerm).where(col(SchoolTerm.tenant_id) == tenant_id)
            ).all()
            closures = session.exec(
                select(SchoolClosure).where(col(SchoolClosure.tenant_id) == tenant_id)
            ).all()
            hours = session.exec(
                select(QuietHoursRow).where(col(QuietHoursRow.tenant_id) == tenant_id)
            ).first()
            return TenantCalendar(
                [Term(t.school_year, t.name, t.starts, t.ends, t.source) for t in terms],
                [Closure(ClosureKind(c.kind), c.starts, c.ends, c.note) for c in closures],
                QuietHours(hours.starts, hours.ends) if hours is not None else QuietHours(),
                tenant.timezone,
                bank_holidays=self._bank,
                tenant_id=tenant_id,
            )

    def import_file(self, la_code: int | None, path: Path) -> CalendarImportSummary:
        """Import a YAML or CSV calendar file into LA `la_code`'s calendar, all or nothing.

        The local authority is `la_code`, else the file's `la_code`, else the only one in the
        database. Each school year in the file replaces the stored one (terms and closures the
        file no longer lists are removed); other school years are left alone. A second run of
        the same file changes nothing. Problems raise InvalidImport naming their lines.
        """
        cal = read_calendar_file(path)
        check_calendar(cal, self._bank)
        if la_code is not None and cal.la_code is not None and la_code != cal.la_code:
            cal.problem(
                cal.la_code_line, f"the file is for LA {cal.la_code}, not LA {la_code} as asked"
            )
        with self.db.session() as session:
            tenant = _tenant(session, la_code if la_code is not None else cal.la_code)
            assert tenant.id is not None
            summary = _Writer(session, tenant.id, cal).write()
            summary.la_code = tenant.la_code
            if summary.changes:  # a repeated import changes nothing, not even the log
                audit.record(
                    session,
                    tenant_id=tenant.id,
                    at=self.clock.now(),
                    action="calendar.import",
                    subject=path.name,
                    platform=audit.COMMAND_LINE,
                    detail={"school_years": list(summary.school_years), "changes": summary.changes},
                )
        self.forget(tenant.id)
        return summary

    def load_sample(self, la_code: int = SAMPLE_LA_CODE) -> CalendarImportSummary:
        """Import the shipped sample calendar (`SAMPLE_CALENDAR`, 2026-27); repeatable."""
        return self.import_file(la_code, SAMPLE_CALENDAR)


def load_sample_calendar(db: Database, la_code: int = SAMPLE_LA_CODE) -> CalendarImportSummary:
    """Import the shipped sample calendar for 2026-27 into LA `la_code` (default: Essex, 881,
    the sample directory's), which must exist; safe to repeat."""
    return CalendarService(db, ttl=None).load_sample(la_code)


def _tenant(session: Session, la_code: int | None) -> Tenant:
    if la_code is not None:
        tenant = session.exec(select(Tenant).where(col(Tenant.la_code) == la_code)).first()
        if tenant is None:
            raise UserError(
                f"no local authority with LA code {la_code}; import its directory first"
            )
        return tenant
    tenants = session.exec(select(Tenant)).all()
    if len(tenants) == 1:
        return tenants[0]
    known = ", ".join(str(t.la_code) for t in tenants) or "none yet"
    raise UserError(f"give the LA code (--la-code): the database holds local authorities {known}")


class _Writer:
    """Brings the stored school years of one tenant in line with a checked file."""

    def __init__(self, session: Session, tenant_id: int, cal: CalendarFile) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.cal = cal
        self.summary = CalendarImportSummary(
            source=cal.source, notes=list(cal.notes), school_years=cal.school_years
        )

    def write(self) -> CalendarImportSummary:
        session, cal, summary = self.session, self.cal, self.summary
        years = set(cal.school_years)
        terms = session.exec(
            select(SchoolTerm).where(col(SchoolTerm.tenant_id) == self.tenant_id)
        ).all()
        for spec in cal.terms:
            for row in terms:
                if row.school_year in years:
                    continue  # replaced by the file
                if spec.starts <= row.ends and row.starts <= spec.ends:
                    cal.problem(
                        spec.line,
                        f"term {spec.name!r} ({spec.starts} to {spec.ends}) overlaps term "
                        f"{row.name!r} of {row.school_year} already stored "
                        f"({row.starts} to {row.ends})",
                    )
        if cal.problems:
            raise InvalidImport(cal.source, cal.problem_lines())

        closures = session.exec(
            select(SchoolClosure).where(col(SchoolClosure.tenant_id) == self.tenant_id)
        ).all()
        wanted_terms = {(t.school_year, t.name) for t in cal.terms}
        wanted_closures = {(c.kind.value, c.starts) for c in cal.closures}
        for term in terms:
            if term.school_year in years and (term.school_year, term.name) not in wanted_terms:
                session.delete(term)
                summary.count(summary.removed, "term")
        for closure in closures:
            if (
                closure.school_year in years
                and (closure.kind, closure.starts) not in wanted_closures
            ):
                session.delete(closure)
                summary.count(summary.removed, "closure")
        session.flush()  # deletions first: a new row may take a removed one's unique key

        term_rows = {(t.school_year, t.name): t for t in terms}
        for spec in cal.terms:
            self._upsert(
                "term",
                term_rows.get((spec.school_year, spec.name)),
                {"starts": spec.starts, "ends": spec.ends, "source": cal.source},
                SchoolTerm(
                    tenant_id=self.tenant_id,
                    school_year=spec.school_year,
                    name=spec.name,
                    starts=spec.starts,
                    ends=spec.ends,
                    source=cal.source,
                ),
            )
        closure_rows = {(c.kind, c.starts): c for c in closures}
        for c in cal.closures:
            self._upsert(
                "closure",
                closure_rows.get((c.kind.value, c.starts)),
                {"school_year": c.school_year, "ends": c.ends, "note": c.note},
                SchoolClosure(
                    tenant_id=self.tenant_id,
                    school_year=c.school_year,
                    kind=c.kind.value,
                    starts=c.starts,
                    ends=c.ends,
                    note=c.note,
                ),
            )
        if cal.quiet_hours is not None:
            hours = cal.quiet_hours
            stored = session.exec(
                select(QuietHoursRow).where(col(QuietHoursRow.tenant_id) == self.tenant_id)
            ).first()
            self._upsert(
                "quiet_hours",
                stored,
                {"starts": hours.starts, "ends": hours.ends},
                QuietHoursRow(tenant_id=self.tenant_id, starts=hours.starts, ends=hours.ends),
            )
        return summary

    def _upsert(
        self,
        kind: str,
        row: SQLModel | None,
        values: Mapping[str, object],
        new: SQLModel,
    ) -> None:
        """Add `new` when there is no `row`, else bring the row's `values` up to date."""
        summary = self.summary
        if row is None:
            self.session.add(new)
            summary.count(summary.inserted, kind)
            return
        changed = False
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        summary.count(summary.updated if changed else summary.unchanged, kind)


# --- Presenting --------------------------------------------------------------------------------


def calendar_report(calendar: TenantCalendar, start: date, n_days: int) -> list[str]:
    """Lines for `slis calendar show`: quiet hours, the terms and closures of the school years
    the days fall in, then each day with whether it is a school day and why."""
    end = start + timedelta(days=max(n_days, 1) - 1)
    years = sorted({school_year_of(d) for d in days(start, end)})
    out = [
        f"Times in {calendar.tz.key}. Quiet hours: school days {calendar.quiet_hours}"
        " (the bot speaks only inside them; the end is exclusive).",
    ]
    for year in years:
        terms = [t for t in calendar.terms if t.school_year == year]
        if not terms:
            out.append(
                f"School year {year}: no term dates loaded; weekdays other than bank holidays"
                " count as school days."
            )
            continue
        sources = sorted({t.source for t in terms if t.source})
        origin = f" (from {', '.join(sources)})" if sources else ""
        out.append(f"School year {year}{origin}:")
        for term in terms:
            out.append(f"  {term.name:<10} {fmt(term.starts)} to {fmt(term.ends)}")
            for closure in calendar.closures:
                if term.contains(closure.starts):
                    span = fmt(closure.starts)
                    if closure.ends != closure.starts:
                        span += f" to {fmt(closure.ends)}"
                    out.append(f"    {closure.label}: {span}")
    out.append("Days:")
    for d in days(start, end):
        info = calendar.explain(d)
        out.append(
            f"  {fmt(d):<16} {info.reason if info.school_day else f'no school: {info.reason}'}"
        )
    return out
