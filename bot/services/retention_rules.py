"""The kinds of record the bot keeps for a limited time, their default periods and the shortest
periods it works with, and how a period is written (`90d`, `3y`).

The purge itself is bot/services/retention.py; this module depends on no other service, so
that the directory file can check a local authority's periods as it reads them and the import
can store them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, select

from storage.privacy_tables import RetentionPeriod

YEAR_DAYS = 365
LONGEST_DAYS = 100 * YEAR_DAYS  # beyond this a period is a mistake (and the cut-off overflows)


class RecordKind(StrEnum):
    NAMED_SURVEY_ANSWERS = "named_survey_answers"
    CLOSED_SUPPORT_REQUESTS = "closed_support_requests"
    OUTBOX_MESSAGES = "outbox_messages"
    FINISHED_REMINDERS = "finished_reminders"
    AUDIT_ENTRIES = "audit_entries"
    PAST_MEETINGS = "past_meetings"
    SEEN_REQUEST_KEYS = "seen_request_keys"


@dataclass(frozen=True)
class KindRule:
    """A kind's default period, the shortest the bot works with, and what is counted."""

    default_days: int
    floor_days: int
    counted: str  # what `count` counts, in words (plural)
    per_tenant: bool = True


RULES: Mapping[RecordKind, KindRule] = {
    RecordKind.NAMED_SURVEY_ANSWERS: KindRule(3 * YEAR_DAYS, 1, "named responses"),
    RecordKind.CLOSED_SUPPORT_REQUESTS: KindRule(6 * YEAR_DAYS, 1, "requests"),
    # The relay may still be retrying a message for days; keep well past that.
    RecordKind.OUTBOX_MESSAGES: KindRule(90, 7, "messages"),
    RecordKind.FINISHED_REMINDERS: KindRule(YEAR_DAYS, 1, "reminders"),
    RecordKind.AUDIT_ENTRIES: KindRule(6 * YEAR_DAYS, 1, "entries"),
    RecordKind.PAST_MEETINGS: KindRule(6 * YEAR_DAYS, 1, "meetings"),
    # Slack retries an event for about an hour and a half; a day is the least that is safe.
    RecordKind.SEEN_REQUEST_KEYS: KindRule(7, 1, "keys", per_tenant=False),
}
TENANT_KINDS: tuple[RecordKind, ...] = tuple(k for k, r in RULES.items() if r.per_tenant)

_PERIOD = re.compile(r"([0-9]+)\s*([dy])")


def parse_period(text: object) -> int:
    """`30d` or `5y` as whole days; ValueError saying what is accepted."""
    match = _PERIOD.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"write a period as <n>d or <n>y (e.g. 90d, 3y), not {text!r}")
    n = int(match.group(1))
    if n <= 0:
        raise ValueError(f"a period must be longer than nothing, not {text!r}")
    return n * (YEAR_DAYS if match.group(2) == "y" else 1)


def check_period(kind: RecordKind, days: int) -> int:
    """`days` if the bot can work with it for `kind`; ValueError naming the limit otherwise."""
    rule = RULES[kind]
    if days < rule.floor_days:
        raise ValueError(
            f"{kind.value} must be kept at least {describe(rule.floor_days)}, not {describe(days)}"
        )
    if days > LONGEST_DAYS:
        raise ValueError(f"{kind.value}: {describe(days)} is longer than 100 years")
    return days


def describe(days: int) -> str:
    """A period as written: `3y` when it is whole years, else `90d`."""
    return f"{days // YEAR_DAYS}y" if days % YEAR_DAYS == 0 else f"{days}d"


def unknown_kind(name: object) -> str:
    """The problem with a kind a local authority cannot set."""
    if name == RecordKind.SEEN_REQUEST_KEYS.value:
        return (
            "seen_request_keys belong to no local authority: their period is the deployment's"
            " and cannot be set here"
        )
    kinds = ", ".join(k.value for k in TENANT_KINDS)
    return f"unknown record kind {name!r}; the kinds are {kinds}"


def replace_overrides(session: Session, tenant_id: int, periods: Mapping[str, int]) -> int:
    """Make `periods` the tenant's own periods (every other kind goes back to its default), in
    the caller's transaction; returns how many rows were added, changed or removed."""
    existing = {
        row.record_kind: row
        for row in session.exec(
            select(RetentionPeriod).where(RetentionPeriod.tenant_id == tenant_id)
        ).all()
    }
    changed = 0
    for kind, row in existing.items():
        if kind not in periods:
            session.delete(row)
            changed += 1
    for kind, days in periods.items():
        check_period(RecordKind(kind), days)
        held = existing.get(kind)
        if held is None:
            session.add(RetentionPeriod(tenant_id=tenant_id, record_kind=kind, keep_days=days))
            changed += 1
        elif held.keep_days != days:
            held.keep_days = days
            session.add(held)
            changed += 1
    return changed
