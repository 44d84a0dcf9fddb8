"""Reading `/slis remind` text: whom to remind, when, and what; and the schedules it yields.

Pure functions: the reference "now" and the time zone come from the caller (the Clock and the
tenant), and local times are turned into UTC with zoneinfo, never by adding hours to UTC.

The grammar, kept deliberately small (see USAGE and EXAMPLES):

    remind <who> <when> <text>
    who   me | <@U…> (a Slack mention) | @name (a person's name as one word, e.g. @alice.hart)
          | <#C…> (a Slack channel link) | <role> [in <quadrant> | of <partnership>]
    role  heads, partnership leads, chairs, alliance leads, board, la officers, governors
    when  tomorrow [at] 9am            today at 15:00           at 16:30 (today, else tomorrow)
          in 3 days | in 2 hours | in 30 minutes | in a week
          on 12 Jan [at 15:30] | on 12/01 (day/month) | on 12 January 2027 | on Friday
          next Monday [at] 8:00        (the first Monday after today)
          every Monday [and Thursday] at 8:00 | every weekday | every day | every school day
          first school day of each term [at 8:00]
    time  9am, 9:30am, 9.30 pm, 15:30, noon, midday, midnight

A day without a time means 09:00 (08:30 for the first school day of a term); "in N days" keeps
the current time of day. A local time that falls in the spring-forward gap is read with the
offset before the change (01:30 on that day is 02:30 BST).
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from bot.errors import UserError
from bot.types import Role

DEFAULT_TIME = time(9, 0)
TERM_START_TIME = time(8, 30)
MAX_AHEAD_DAYS = 5 * 366  # a one-off reminder at most about five years ahead

USAGE = "remind me|@person|#channel|<role> <when> <text>"
EXAMPLES: tuple[str, ...] = (
    "remind me tomorrow 9am send the attendance return",
    "remind me on 12 Jan at 15:30 book the hall",
    "remind me in 3 days chase the SEND referral",
    "remind <@U0123ABCD> next Monday 8:00 agenda for the quadrant meeting",
    "remind heads in West every Monday at 8:00 healthcheck survey closes Friday",
    "remind partnership leads every school day at 8:15 log today's visits",
    "remind #quadrant-north-east first school day of each term termly returns are due",
)

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# --- Schedules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Once:
    """A single moment, aware UTC."""

    at: datetime


@dataclass(frozen=True)
class Weekly:
    """On these weekdays (0 = Monday) at a local time."""

    weekdays: tuple[int, ...]
    at: time


@dataclass(frozen=True)
class EverySchoolDay:
    """Every school day (the tenant's calendar) at a local time."""

    at: time


@dataclass(frozen=True)
class TermStarts:
    """The first school day of each term at a local time."""

    at: time


Schedule = Once | Weekly | EverySchoolDay | TermStarts


class SchoolDays(Protocol):
    """What occurrence maths need from a tenant's school calendar."""

    def is_school_day(self, d: date) -> bool: ...

    def first_school_days_of_terms(self, after: date, count: int) -> list[date]: ...


def local_instant(d: date, t: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local date `d` at local time `t` in `zone`."""
    return datetime.combine(d, t, tzinfo=zone).astimezone(UTC)


def occurrences(
    schedule: Schedule,
    after: datetime,
    zone: ZoneInfo,
    calendar: SchoolDays | None,
    count: int = 1,
) -> list[datetime]:
    """The next `count` instants (aware UTC) of `schedule` strictly after `after`.

    School-day and term schedules need the calendar; without one they yield nothing.
    """
    return list(_take(_instants(schedule, after, zone, calendar), count))


def _take(it: Iterator[datetime], count: int) -> Iterator[datetime]:
    for _, value in zip(range(count), it, strict=False):
        yield value


def _instants(
    schedule: Schedule, after: datetime, zone: ZoneInfo, calendar: SchoolDays | None
) -> Iterator[datetime]:
    start = after.astimezone(zone).date()
    match schedule:
        case Once(at=at):
            if at > after:
                yield at
        case Weekly(weekdays=days, at=t):
            for offset in range(0, 8 * 7 * 60):  # far enough for any weekly pattern
                d = start + timedelta(days=offset)
                if d.weekday() in days and (instant := local_instant(d, t, zone)) > after:
                    yield instant
        case EverySchoolDay(at=t):
            if calendar is None:
                return
            for offset in range(0, 3 * 366):
                d = start + timedelta(days=offset)
                if (
                    d.weekday() < 5
                    and calendar.is_school_day(d)
                    and (instant := local_instant(d, t, zone)) > after
                ):
                    yield instant
        case TermStarts(at=t):
            if calendar is None:
                return
            seen: set[date] = set()
            cursor = start - timedelta(days=1)
            for _ in range(12):  # at most a few years of terms per call
                starts = [
                    s for s in calendar.first_school_days_of_terms(cursor, 3) if s not in seen
                ]
                if not starts:
                    return
                for first in sorted(starts):
                    seen.add(first)
                    if (instant := local_instant(first, t, zone)) > after:
                        yield instant
                cursor = max(starts)


# --- Describing schedules --------------------------------------------------------------------


def describe_instant(at: datetime, zone: ZoneInfo, now: datetime | None = None) -> str:
    """ "Tue 1 Dec at 09:00" in local time (with the year when it is not this year's)."""
    local = at.astimezone(zone)
    text = f"{local:%a} {local.day} {local:%b}"
    if now is not None and local.year != now.astimezone(zone).year:
        text += f" {local.year}"
    return f"{text} at {local:%H:%M}"


def _weekday_list(days: tuple[int, ...]) -> str:
    names = [WEEKDAY_NAMES[d] for d in sorted(days)]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def describe(schedule: Schedule, zone: ZoneInfo, now: datetime | None = None) -> str:
    """How a schedule reads in a sentence: "on Tue 1 Dec at 09:00", "every Monday at 08:00"."""
    match schedule:
        case Once(at=at):
            return "on " + describe_instant(at, zone, now)
        case Weekly(weekdays=days, at=t):
            if set(days) == set(range(5)):
                return f"every weekday at {t:%H:%M}"
            if set(days) == set(range(7)):
                return f"every day at {t:%H:%M}"
            return f"every {_weekday_list(days)} at {t:%H:%M}"
        case EverySchoolDay(at=t):
            return f"every school day at {t:%H:%M}"
        case TermStarts(at=t):
            return f"on the first school day of each term at {t:%H:%M}"
    raise TypeError(schedule)


# --- Who ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Me:
    """The person asking."""


@dataclass(frozen=True)
class PersonMention:
    """A person by their chat user id (a Slack `<@U…>` mention)."""

    user_id: str


@dataclass(frozen=True)
class PersonName:
    """A person by a one-word name typed as `@name` (Slack without escaping)."""

    name: str


@dataclass(frozen=True)
class ChannelMention:
    """A channel by its id (a Slack `<#C…>` link)."""

    channel_id: str
    name: str | None = None


@dataclass(frozen=True)
class RoleTarget:
    """Everyone holding a role, optionally within a quadrant (`in`) or a partnership (`of`)."""

    role: Role
    scope: str | None = None
    scope_word: Literal["in", "of"] | None = None


Target = Me | PersonMention | PersonName | ChannelMention | RoleTarget


@dataclass(frozen=True)
class ReminderRequest:
    """A parsed `/slis remind`: whom, when and what."""

    target: Target
    schedule: Schedule
    text: str


# Longest phrases first, so "partnership leads" wins over "leads".
ROLE_WORDS: tuple[tuple[str, Role], ...] = tuple(
    sorted(
        [
            ("headteachers", Role.HEAD),
            ("headteacher", Role.HEAD),
            ("heads", Role.HEAD),
            ("head", Role.HEAD),
            ("partnership leads", Role.PARTNERSHIP_LEAD),
            ("partnership lead", Role.PARTNERSHIP_LEAD),
            ("quadrant chairs", Role.QUADRANT_CHAIR),
            ("quadrant chair", Role.QUADRANT_CHAIR),
            ("chairs", Role.QUADRANT_CHAIR),
            ("chair", Role.QUADRANT_CHAIR),
            ("alliance leads", Role.ALLIANCE_LEAD),
            ("alliance lead", Role.ALLIANCE_LEAD),
            ("tsa leads", Role.ALLIANCE_LEAD),
            ("project board", Role.BOARD_MEMBER),
            ("board members", Role.BOARD_MEMBER),
            ("board", Role.BOARD_MEMBER),
            ("la officers", Role.LA_OFFICER),
            ("la officer", Role.LA_OFFICER),
            ("governors", Role.GOVERNOR),
        ],
        key=lambda pair: -len(pair[0]),
    )
)
ROLE_NAMES = "heads, partnership leads, chairs, alliance leads, board, la officers, governors"

_END = r"(?=$|[\s,;:!?.)\]/—–-])"
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>" + _END)
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>" + _END)
_GROUP = re.compile(r"<!subteam\^[^>]*>|<!(?:here|channel|everyone)[^>]*>")
_PLAIN_USER = re.compile(r"@([\w.\-']+)" + _END)
_PLAIN_CHANNEL = re.compile(r"#([\w.\-]+)" + _END)
_ME = re.compile(r"(?:me|myself)" + _END, re.IGNORECASE)
_SCOPE_WORD = re.compile(r"(in|of)\s+", re.IGNORECASE)


def _usage_error(message: str) -> UserError:
    return UserError(message, hint="Try e.g. " + "  •  ".join(f"`/slis {e}`" for e in EXAMPLES[:4]))


def parse_request(args: str, now: datetime, zone: ZoneInfo) -> ReminderRequest:
    """Read `<who> <when> <text>`; UserError (with examples) when it cannot."""
    text = args.strip()
    if not text:
        raise _usage_error("Whom should I remind, when, and of what?")
    target, pos = _target(text)
    if isinstance(target, RoleTarget):
        target, pos = _role_scope(target, text, pos)
    found = match_when(text, pos)
    if found is None:
        raise _when_error(text[pos:])
    spec, pos = found
    schedule = resolve(spec, now, zone)
    what = _clean_text(text[pos:])
    if not what:
        raise _usage_error("What should the reminder say? Put the text after the time.")
    if len(what) > 2000:
        raise UserError("That reminder is too long; keep it under 2,000 characters.")
    return ReminderRequest(target, schedule, what)


def _when_error(rest: str) -> UserError:
    shown = " ".join(rest.split()[:4])
    start = f"I couldn't read a time at “{shown}”." if shown else "When should I remind them?"
    return UserError(
        start,
        hint=(
            "Times I understand: `tomorrow 9am`, `today at 15:00`, `in 3 days`, `in 2 hours`,"
            " `on 12 Jan at 15:30`, `next Monday 8:00`, `every Monday at 8:00`,"
            " `every weekday at 8:15`, `every school day at 8:15`,"
            " `first school day of each term`. For example: `/slis " + EXAMPLES[0] + "`"
        ),
    )


def _clean_text(rest: str) -> str:
    rest = rest.strip()
    rest = re.sub(r"^[:,;\-—–]+\s*", "", rest)
    rest = re.sub(r"^to\s+", "", rest, flags=re.IGNORECASE)
    return rest.strip()


def _target(text: str) -> tuple[Target, int]:
    if m := _ME.match(text):
        return Me(), m.end()
    if m := _USER.match(text):
        return PersonMention(m.group(1)), m.end()
    if m := _CHANNEL.match(text):
        return ChannelMention(m.group(1), m.group(2) or None), m.end()
    if _GROUP.match(text):
        raise _usage_error(
            "I can't remind a Slack user group or @here/@channel. Name a role instead,"
            " e.g. `heads in West`, or a channel."
        )
    if m := _PLAIN_USER.match(text):
        return PersonName(m.group(1)), m.end()
    if m := _PLAIN_CHANNEL.match(text):
        raise UserError(
            f"I can't tell which channel #{m.group(1)} is from its name alone.",
            hint="Pick the channel from Slack's list as you type `#`, so it arrives as a link"
            " (your Slack administrator may need to turn on 'Escape channels, users, and links'"
            " for /slis).",
        )
    lowered = text.lower()
    for phrase, role in ROLE_WORDS:
        if lowered.startswith(phrase) and re.match(_END, text[len(phrase) :]):
            return RoleTarget(role), len(phrase)
    first = text.split()[0]
    raise _usage_error(
        f"Whom should I remind? I don't know “{first}”: say `me`, mention a person or a"
        f" channel, or name a role ({ROLE_NAMES})."
    )


def _role_scope(target: RoleTarget, text: str, pos: int) -> tuple[RoleTarget, int]:
    """`in <quadrant>` / `of <partnership>`: the name runs up to where a time can be read."""
    m = _SCOPE_WORD.match(text, _skip_space(text, pos))
    if m is None:
        return target, pos
    word: Literal["in", "of"] = "in" if m.group(1).lower() == "in" else "of"
    # "in 3 days" is a time, not a scope.
    if word == "in" and match_when(text, pos) is not None:
        return target, pos
    words = [w.start() + m.end() for w in re.finditer(r"\S+", text[m.end() :])]
    for end in words[1:]:
        if match_when(text, end) is not None:
            scope = text[m.end() : end].strip()
            return RoleTarget(target.role, scope, word), end
    raise _when_error(text[m.end() :])


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


# --- When: matching (syntax) ------------------------------------------------------------------

_MONTHS = {
    name: i
    for i in range(1, 13)
    for name in {_calendar.month_name[i].lower(), _calendar.month_abbr[i].lower()}
}
_MONTHS["sept"] = 9
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")"
_WEEKDAY_WORDS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tues": 1,
    "tue": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thurs": 3,
    "thur": 3,
    "thu": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
_WD = r"(?:" + "|".join(sorted(_WEEKDAY_WORDS, key=len, reverse=True)) + r")"
_I = re.IGNORECASE

_TIME = re.compile(
    r"(?:at\s+)?(?:"
    r"(?P<word>noon|midday|midnight)"
    r"|(?P<h12>\d{1,2})(?:[:.](?P<m12>\d{2}))?\s*(?P<ampm>[ap])\.?m\.?"
    r"|(?P<h24>\d{1,2})[:.](?P<m24>\d{2})"
    r")" + _END,
    _I,
)
_TOMORROW = re.compile(r"tomorrow" + _END, _I)
_TODAY = re.compile(r"today" + _END, _I)
_IN = re.compile(
    r"in\s+(?P<n>\d{1,4}|an?|one)\s+"
    r"(?P<unit>minutes?|mins?|hours?|hrs?|days?|weeks?)" + _END,
    _I,
)
_DATE_DM = re.compile(
    r"(?:on\s+)?(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+"
    + _MONTH
    + r"\.?(?:,?\s+(?P<y>\d{4}))?"
    + _END,
    _I,
)
_DATE_MD = re.compile(
    r"(?:on\s+)?" + _MONTH + r"\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{4}))?" + _END,
    _I,
)
_DATE_NUM = re.compile(
    r"(?:on\s+)?(?P<d>\d{1,2})/(?P<m>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?" + _END,
    _I,
)
_DATE_ISO = re.compile(r"(?:on\s+)?(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + _END, _I)
_WEEKDAY = re.compile(r"(?:(?P<rel>on|this|next)\s+)?(?P<wd>" + _WD + r")" + _END, _I)
_EVERY = re.compile(r"every\s+", _I)
_EVERY_SCHOOL_DAY = re.compile(r"(?:school[\s-]?day|term[\s-]?day)s?" + _END, _I)
_EVERY_WEEKDAY = re.compile(r"(?:weekday|working\s+day)s?" + _END, _I)
_EVERY_DAY = re.compile(r"day" + _END, _I)
_EVERY_TERM = re.compile(r"term" + _END, _I)
_EVERY_WD = re.compile(r"(?P<wd>" + _WD + r")s?" + _END, _I)
_WD_JOIN = re.compile(r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*|\s*/\s*)", _I)
_TERM_START = re.compile(
    r"(?:(?:on\s+)?(?:the\s+)?first\s+(?:school\s+)?day\s+(?:of|in)\s+(?:(?:each|every|the|a)\s+)?"
    r"|(?:at\s+)?(?:the\s+)?start\s+of\s+(?:each|every)\s+)term" + _END,
    _I,
)

DayKind = Literal[
    "time_only", "tomorrow", "today", "date", "weekday", "in", "weekly", "school_day", "term_start"
]


@dataclass(frozen=True)
class WhenSpec:
    """What the words said, before it is turned into a schedule."""

    kind: DayKind
    at: time | None = None
    time_text: str | None = None
    date_parts: tuple[int, int, int | None] | None = None  # day, month, year
    weekdays: tuple[int, ...] = ()
    next_week: bool = False
    amount: int = 0
    unit: str = ""


def _match(pattern: re.Pattern[str], text: str, pos: int) -> re.Match[str] | None:
    return pattern.match(text, _skip_space(text, pos))


def _time_of(m: re.Match[str]) -> time | None:
    """The local time a _TIME match names, or None when it is not a real time (25:00)."""
    word = (m.group("word") or "").lower()
    if word in ("noon", "midday"):
        return time(12, 0)
    if word == "midnight":
        return time(0, 0)
    if m.group("h12") is not None:
        hour, minute = int(m.group("h12")), int(m.group("m12") or 0)
        if not 1 <= hour <= 12 or minute > 59:
            return None
        hour = hour % 12 + (12 if m.group("ampm").lower() == "p" else 0)
        return time(hour, minute)
    hour, minute = int(m.group("h24")), int(m.group("m24"))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


_BAD_TIME = time(23, 59, 59, 999999)  # marks "a time was written but is not a real one"


def _take_time(text: str, pos: int) -> tuple[time | None, str | None, int]:
    m = _match(_TIME, text, pos)
    if m is None:
        return None, None, pos
    value = _time_of(m)
    return (value if value is not None else _BAD_TIME), m.group(0), m.end()


def match_when(text: str, pos: int = 0) -> tuple[WhenSpec, int] | None:
    """Read a time expression at `pos`: the spec and where the rest of the text starts.

    None when no time expression starts there. Syntax only: resolve() checks the values.
    """
    lead_time, lead_text, after_lead = _take_time(text, pos)
    found = _match_day(text, after_lead)
    if found is None:
        if lead_time is None:
            return None
        return WhenSpec("time_only", lead_time, lead_text), after_lead
    spec, end = found
    if lead_time is not None:
        return _with_time(spec, lead_time, lead_text), end
    tail_time, tail_text, after_tail = _take_time(text, end)
    if tail_time is not None:
        return _with_time(spec, tail_time, tail_text), after_tail
    return spec, end


def _with_time(spec: WhenSpec, at: time, text: str | None) -> WhenSpec:
    return WhenSpec(
        spec.kind,
        at,
        text,
        spec.date_parts,
        spec.weekdays,
        spec.next_week,
        spec.amount,
        spec.unit,
    )


def _match_day(text: str, pos: int) -> tuple[WhenSpec, int] | None:
    if m := _match(_EVERY, text, pos):
        return _match_every(text, m.end())
    if m := _match(_TERM_START, text, pos):
        return WhenSpec("term_start"), m.end()
    if m := _match(_IN, text, pos):
        n = m.group("n").lower()
        amount = 1 if n in ("a", "an", "one") else int(n)
        unit = m.group("unit").lower()
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit[0]]
        return WhenSpec("in", amount=amount, unit=unit), m.end()
    if m := _match(_TOMORROW, text, pos):
        return WhenSpec("tomorrow"), m.end()
    if m := _match(_TODAY, text, pos):
        return WhenSpec("today"), m.end()
    for pattern in (_DATE_ISO, _DATE_NUM, _DATE_DM, _DATE_MD):
        if m := _match(pattern, text, pos):
            groups = m.groupdict()
            month = _MONTHS[groups["mon"].lower()] if groups.get("mon") else int(groups["m"])
            year = int(groups["y"]) if groups.get("y") else None
            if year is not None and year < 100:
                year += 2000
            return WhenSpec("date", date_parts=(int(groups["d"]), month, year)), m.end()
    if m := _match(_WEEKDAY, text, pos):
        weekday = _WEEKDAY_WORDS[m.group("wd").lower()]
        is_next = (m.group("rel") or "").lower() == "next"
        return WhenSpec("weekday", weekdays=(weekday,), next_week=is_next), m.end()
    return None


def _match_every(text: str, pos: int) -> tuple[WhenSpec, int] | None:
    if m := _match(_EVERY_SCHOOL_DAY, text, pos):
        return WhenSpec("school_day"), m.end()
    if m := _match(_EVERY_WEEKDAY, text, pos):
        return WhenSpec("weekly", weekdays=(0, 1, 2, 3, 4)), m.end()
    if m := _match(_EVERY_DAY, text, pos):
        return WhenSpec("weekly", weekdays=tuple(range(7))), m.end()
    if m := _match(_EVERY_TERM, text, pos):
        return WhenSpec("term_start"), m.end()
    m = _match(_EVERY_WD, text, pos)
    if m is None:
        return None
    days = [_WEEKDAY_WORDS[m.group("wd").lower()]]
    end = m.end()
    while (join := _WD_JOIN.match(text, end)) and (more := _EVERY_WD.match(text, join.end())):
        days.append(_WEEKDAY_WORDS[more.group("wd").lower()])
        end = more.end()
    return WhenSpec("weekly", weekdays=tuple(sorted(set(days)))), end


# --- When: resolving (values) -----------------------------------------------------------------


def resolve(spec: WhenSpec, now: datetime, zone: ZoneInfo) -> Schedule:
    """The schedule a spec means at `now` in `zone`; UserError if it is impossible or past."""
    if spec.at == _BAD_TIME:
        raise UserError(
            f"“{(spec.time_text or '').strip()}” isn't a time of day.",
            hint="Write times like 9am, 9:30am, 15:30 or noon.",
        )
    local_now = now.astimezone(zone)
    today = local_now.date()
    at = spec.at
    match spec.kind:
        case "weekly":
            return Weekly(spec.weekdays, at or DEFAULT_TIME)
        case "school_day":
            return EverySchoolDay(at or DEFAULT_TIME)
        case "term_start":
            return TermStarts(at or TERM_START_TIME)
        case "in":
            return Once(_in(spec, now, local_now, zone))
        case "time_only":
            assert at is not None
            instant = local_instant(today, at, zone)
            if instant <= now:
                instant = local_instant(today + timedelta(days=1), at, zone)
            return Once(instant)
        case "today":
            if at is None:
                raise UserError("At what time today? e.g. `today at 15:00`.")
            return Once(_future(local_instant(today, at, zone), now, zone))
        case "tomorrow":
            return Once(local_instant(today + timedelta(days=1), at or DEFAULT_TIME, zone))
        case "weekday":
            weekday = spec.weekdays[0]
            ahead = (weekday - today.weekday()) % 7
            if spec.next_week and ahead == 0:
                ahead = 7
            instant = local_instant(today + timedelta(days=ahead), at or DEFAULT_TIME, zone)
            if instant <= now:
                instant = local_instant(today + timedelta(days=ahead + 7), at or DEFAULT_TIME, zone)
            return Once(instant)
        case "date":
            return Once(_on_date(spec, now, zone))
    raise AssertionError(spec.kind)


def _future(instant: datetime, now: datetime, zone: ZoneInfo) -> datetime:
    if instant <= now:
        raise UserError(
            f"{describe_instant(instant, zone, now)} has already passed.",
            hint="Give a time in the future, e.g. `tomorrow 9am`.",
        )
    if instant - now > timedelta(days=MAX_AHEAD_DAYS):
        raise UserError("That's too far ahead; reminders go at most five years ahead.")
    return instant


def _in(spec: WhenSpec, now: datetime, local_now: datetime, zone: ZoneInfo) -> datetime:
    if spec.amount < 1:
        raise UserError("“in 0 …” is now; give a time in the future, e.g. `in 2 hours`.")
    if spec.unit in ("minutes", "hours"):
        if spec.at is not None:
            raise UserError(
                f"“in {spec.amount} {spec.unit}” already says when; drop"
                f" “{(spec.time_text or '').strip()}”."
            )
        delta = timedelta(**{spec.unit: spec.amount})
        if delta > timedelta(days=MAX_AHEAD_DAYS):
            raise UserError("That's too far ahead; reminders go at most five years ahead.")
        return (now + delta).replace(second=0, microsecond=0)
    days = spec.amount * (7 if spec.unit == "weeks" else 1)
    if days > MAX_AHEAD_DAYS:
        raise UserError("That's too far ahead; reminders go at most five years ahead.")
    at = spec.at or local_now.time().replace(second=0, microsecond=0)
    return local_instant(local_now.date() + timedelta(days=days), at, zone)


def _on_date(spec: WhenSpec, now: datetime, zone: ZoneInfo) -> datetime:
    assert spec.date_parts is not None
    day, month, year = spec.date_parts
    at = spec.at or DEFAULT_TIME
    if not 1 <= month <= 12:
        raise UserError(f"There is no month {month}; dates are day/month, e.g. 12/01 for 12 Jan.")
    if year is not None:
        try:
            d = date(year, month, day)
        except ValueError:
            raise _no_such_date(day, month) from None
        return _future(local_instant(d, at, zone), now, zone)
    this_year = now.astimezone(zone).year
    for candidate in range(this_year, this_year + 9):
        try:
            d = date(candidate, month, day)
        except ValueError:
            continue
        instant = local_instant(d, at, zone)
        if instant > now:
            return instant
    raise _no_such_date(day, month)


def _no_such_date(day: int, month: int) -> UserError:
    return UserError(
        f"There is no {day} {_calendar.month_name[month]}.",
        hint="Dates are day then month, e.g. `on 12 Jan` or `on 12/01`.",
    )
