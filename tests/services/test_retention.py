"""Retention: the purge removes exactly what is past each kind's period, tenant by tenant, and
the dry run counts the same and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, SQLModel, col, select
from typer.testing import CliRunner

from bot.errors import InvalidImport
from bot.services.audit import COMMAND_LINE, SYSTEM
from bot.services.directory_import import import_directory
from bot.services.inbound import SEEN_FOR
from bot.services.retention import PURGE_ACTION, RetentionReport, RetentionService
from bot.services.retention_rules import (
    RULES,
    RecordKind,
    check_period,
    parse_period,
    replace_overrides,
)
from storage.engine import Database
from storage.inbound_tables import SeenRequest
from storage.meeting_tables import (
    Meeting,
    MeetingAction,
    MeetingAgendaItem,
    MeetingInvitee,
    MeetingSlot,
    MeetingVote,
)
from storage.outbox_tables import OutboxMessage
from storage.privacy_tables import AuditEntry, RetentionPeriod
from storage.reminder_tables import Reminder
from storage.support_tables import SupportEvent, SupportOffer, SupportRequest
from storage.survey_tables import SurveyAnswer, SurveyInvitation, SurveyResponse, SurveyRound
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock

NOW = datetime(2031, 3, 12, 2, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)
LONG_AGO = NOW - timedelta(days=40 * 365)
# The second local authority keeps named answers longer and messages shorter than the default.
OVERRIDES = {"named_survey_answers": 5 * 365, "outbox_messages": 30}


@dataclass
class Expected:
    """Ids of the rows the fixture made, by table: those a purge at NOW must remove, and the
    rest; plus how many of each kind's own records are due, per LA code."""

    gone: dict[str, set[Any]] = field(default_factory=dict)
    kept: dict[str, set[Any]] = field(default_factory=dict)
    due: dict[int | None, dict[RecordKind, int]] = field(default_factory=dict)

    def add(self, table: str, row_id: Any, *, due: bool) -> None:
        (self.gone if due else self.kept).setdefault(table, set()).add(row_id)


class Rows:
    """Builds one tenant's rows at chosen times, noting which are due."""

    def __init__(self, s: Session, world: World, la_code: int, expected: Expected) -> None:
        self.s = s
        self.w = world
        self.t = world.tenant_id
        self.la_code = la_code
        self.expected = expected
        self.person = world.people["ada.head@schools.example.org"]
        self.school = world.schools[115141]
        self.alliance = next(iter(world.alliances.values()))
        self.n = 0
        expected.due[la_code] = {k: 0 for k in RULES if RULES[k].per_tenant}

    def _add(self, row: SQLModel) -> Any:
        self.s.add(row)
        self.s.flush()
        return row.id  # type: ignore[attr-defined]

    def _next(self) -> int:
        self.n += 1
        return self.n

    def count(self, kind: RecordKind, due: bool) -> None:
        if due:
            self.expected.due[self.la_code][kind] += 1

    def survey_round(self, closed_at: datetime, *, anonymous: bool, due: bool) -> None:
        status = "closed" if closed_at < NOW else "open"
        round_id = self._add(
            SurveyRound(
                tenant_id=self.t,
                template_id="cluster-health",
                template_snapshot={},
                title=f"Round {self._next()}",
                launched_by=self.person,
                audience_role="head",
                audience_scope_kind="county",
                opens_at=closed_at - timedelta(days=14),
                closes_at=closed_at,
                anonymous=anonymous,
                nudge_plan={},
                status=status,
                closed_at=closed_at if status == "closed" else None,
                created_at=closed_at - timedelta(days=15),
            )
        )
        invitation = self._add(
            SurveyInvitation(
                tenant_id=self.t,
                round_id=round_id,
                person_id=self.person,
                subject_kind="school",
                subject_id=self.school,
                response_subject_kind="school",
                response_subject_id=self.school,
                answered=True,
            )
        )
        self.expected.add("survey_invitation", invitation, due=due)
        response = SurveyResponse(
            id=uuid.uuid4(),
            tenant_id=self.t,
            round_id=round_id,
            subject_kind="school",
            subject_id=self.school,
            respondent_person_id=None if anonymous else self.person,
            respondent_key=uuid.uuid4().hex if anonymous else None,
            submitted_at=None if anonymous else closed_at - timedelta(days=1),
        )
        self.s.add(response)
        self.s.flush()
        named_due = due and not anonymous
        self.expected.add("survey_response", response.id, due=named_due)
        self.count(RecordKind.NAMED_SURVEY_ANSWERS, named_due)
        for question in ("q1", "q2"):
            self.s.add(
                SurveyAnswer(
                    response_id=response.id, question_id=question, tenant_id=self.t, value=3
                )
            )
            self.expected.add("survey_answer", (response.id, question), due=named_due)

    def support_request(self, state: str, ended: datetime, *, due: bool) -> None:
        closed = state == "closed"
        request = self._add(
            SupportRequest(
                tenant_id=self.t,
                reference=f"SR-2025-{self._next():04d}",
                school_id=self.school,
                requested_by=self.person,
                category_id="leadership",
                needed="Support with a fictional leadership review",
                state=state,
                closed_at=ended if closed else None,
                created_at=ended - timedelta(days=60),
                updated_at=ended,
            )
        )
        offer = self._add(
            SupportOffer(
                tenant_id=self.t,
                request_id=request,
                alliance_id=self.alliance,
                status="claimed",
                offered_at=ended - timedelta(days=59),
            )
        )
        event = self._add(
            SupportEvent(
                tenant_id=self.t,
                request_id=request,
                at=ended,
                party="requester",
                action="close",
                from_state="delivered",
                to_state=state,
            )
        )
        self.expected.add("support_request", request, due=due)
        self.expected.add("support_offer", offer, due=due)
        self.expected.add("support_event", event, due=due)
        self.count(RecordKind.CLOSED_SUPPORT_REQUESTS, due)

    def outbox(
        self,
        status: str,
        created_at: datetime,
        *,
        due: bool,
        key: str | None = None,
        edits_key: str | None = None,
        thread_key: str | None = None,
    ) -> str:
        key = key or f"test:{self.la_code}:{self._next()}"
        row = self._add(
            OutboxMessage(
                tenant_id=self.t,
                key=key,
                person_id=self.person,
                destination=f"person:{self.person}",
                payload={"text": "A fictional reminder"},
                edits_key=edits_key,
                thread_key=thread_key,
                not_before=created_at,
                next_attempt_at=created_at,
                status=status,
                created_at=created_at,
            )
        )
        self.expected.add("outbox_message", row, due=due)
        self.count(RecordKind.OUTBOX_MESSAGES, due)
        return key

    def reminder(self, status: str, changed: datetime, *, due: bool) -> None:
        row = self._add(
            Reminder(
                tenant_id=self.t,
                created_by=self.person,
                target_kind="person",
                target_person_id=self.person,
                text="Send the fictional returns",
                schedule_kind="once",
                at=changed,
                status=status,
                created_at=changed - timedelta(days=7),
                updated_at=changed,
            )
        )
        self.expected.add("reminder", row, due=due)
        self.count(RecordKind.FINISHED_REMINDERS, due)

    def meeting(
        self, state: str, when: datetime, *, due: bool, open_action: bool = False, sent: bool = True
    ) -> None:
        """A meeting held (ending `when`) or cancelled (`when`), with one of everything."""
        held = state == "held"
        meeting = Meeting(
            tenant_id=self.t,
            reference=f"M-2025-{self._next():04d}",
            quadrant_id=next(iter(self.w.quadrants.values())),
            title="A fictional quadrant meeting",
            created_by=self.person,
            chair_person_id=self.person,
            state=state,
            vote_deadline=when - timedelta(days=20),
            starts_at=when - timedelta(hours=2) if held else None,
            ends_at=when if held else None,
            ics_sequence=1,
            sent_sequence=1 if sent else 0,
            created_at=when - timedelta(days=30),
            updated_at=when,
        )
        meeting_id = self._add(meeting)
        slot = self._add(
            MeetingSlot(
                tenant_id=self.t,
                meeting_id=meeting_id,
                starts_at=when - timedelta(hours=2),
                ends_at=when,
                position=1,
            )
        )
        meeting.chosen_slot_id = slot if held else None
        self.s.add(meeting)
        rows = {
            "meeting": meeting_id,
            "meeting_slot": slot,
            "meeting_invitee": self._add(
                MeetingInvitee(
                    tenant_id=self.t, meeting_id=meeting_id, person_id=self.person, source="chair"
                )
            ),
            "meeting_vote": self._add(
                MeetingVote(
                    tenant_id=self.t,
                    meeting_id=meeting_id,
                    slot_id=slot,
                    person_id=self.person,
                    answer="yes",
                    updated_at=when - timedelta(days=21),
                )
            ),
            "meeting_agenda_item": self._add(
                MeetingAgendaItem(
                    tenant_id=self.t,
                    meeting_id=meeting_id,
                    added_by=self.person,
                    text="A fictional agenda item",
                    created_at=when - timedelta(days=10),
                )
            ),
            "meeting_action": self._add(
                MeetingAction(
                    tenant_id=self.t,
                    meeting_id=meeting_id,
                    what="Share the fictional plan",
                    owner_person_id=self.person,
                    due_on=(when + timedelta(days=14)).date(),
                    done_at=None if open_action else when + timedelta(days=7),
                    created_at=when,
                )
            ),
        }
        for table, row_id in rows.items():
            self.expected.add(table, row_id, due=due)
        self.count(RecordKind.PAST_MEETINGS, due)

    def audit(self, at: datetime, *, due: bool) -> None:
        row = self._add(
            AuditEntry(
                tenant_id=self.t, at=at, platform="cli", action="directory.import", detail={}
            )
        )
        self.expected.add("audit_entry", row, due=due)
        self.count(RecordKind.AUDIT_ENTRIES, due)


def either_side(cutoff: datetime) -> list[tuple[datetime, bool]]:
    """Just past the limit, exactly at it (due: the limit is inclusive), just inside it."""
    return [(cutoff - SECOND, True), (cutoff, True), (cutoff + SECOND, False)]


def build_tenant(s: Session, world: World, la_code: int, expected: Expected) -> None:
    policy = {k: RULES[k].default_days for k in RULES}
    if la_code == 882:
        policy.update({RecordKind(k): v for k, v in OVERRIDES.items()})
    cut = {k: NOW - timedelta(days=days) for k, days in policy.items()}
    rows = Rows(s, world, la_code, expected)

    for at, due in either_side(cut[RecordKind.NAMED_SURVEY_ANSWERS]):
        rows.survey_round(at, anonymous=False, due=due)
    # Anonymous answers stay (nothing ties them to anyone); the invitations go.
    rows.survey_round(LONG_AGO, anonymous=True, due=True)
    # A round still open (its planned close long past) is not closed: nothing goes.
    rows.survey_round(NOW + timedelta(days=1), anonymous=False, due=False)

    for at, due in either_side(cut[RecordKind.CLOSED_SUPPORT_REQUESTS]):
        rows.support_request("closed", at, due=due)
        rows.support_request("withdrawn", at, due=due)
    rows.support_request("claimed", LONG_AGO, due=False)  # still open, however old

    outbox_cut = cut[RecordKind.OUTBOX_MESSAGES]
    for at, due in either_side(outbox_cut):
        rows.outbox("sent", at, due=due)
        rows.outbox("failed", at, due=due)
    rows.outbox("pending", LONG_AGO, due=False)
    rows.outbox("in_flight", LONG_AGO, due=False)
    # Sent long ago, but an unsent edit or reply still needs them.
    edited = rows.outbox("sent", LONG_AGO, due=False)
    rows.outbox("pending", LONG_AGO, due=False, edits_key=edited)
    threaded = rows.outbox("sent", LONG_AGO, due=False)
    rows.outbox("in_flight", LONG_AGO, due=False, thread_key=threaded)
    # Once its edit has gone too, nothing needs it.
    done = rows.outbox("sent", outbox_cut - SECOND, due=True)
    rows.outbox("sent", outbox_cut - SECOND, due=True, edits_key=done)

    for at, due in either_side(cut[RecordKind.FINISHED_REMINDERS]):
        rows.reminder("done", at, due=due)
        rows.reminder("cancelled", at, due=due)
    rows.reminder("active", LONG_AGO, due=False)

    for at, due in either_side(cut[RecordKind.AUDIT_ENTRIES]):
        rows.audit(at, due=due)

    for at, due in either_side(cut[RecordKind.PAST_MEETINGS]):
        rows.meeting("held", at, due=due)
        rows.meeting("cancelled", at, due=due)
    rows.meeting("held", LONG_AGO, due=False, open_action=True)  # someone still owes an action
    rows.meeting("cancelled", LONG_AGO, due=False, sent=False)  # its cancellation not yet out

    if la_code == 882:
        replace_overrides(s, world.tenant_id, OVERRIDES)


def build_keys(s: Session, expected: Expected) -> None:
    cutoff = NOW - timedelta(days=RULES[RecordKind.SEEN_REQUEST_KEYS].default_days)
    expected.due[None] = {RecordKind.SEEN_REQUEST_KEYS: 2}
    for n, (seen, due) in enumerate(either_side(cutoff)):
        key = f"slack:event:Ev{n}"
        s.add(SeenRequest(key=key, expires_at=seen + SEEN_FOR))
        expected.add("seen_request", key, due=due)
    # Seen a moment ago: guarding against a retry right now.
    s.add(SeenRequest(key="slack:event:fresh", expires_at=NOW + SEEN_FOR))
    expected.add("seen_request", "slack:event:fresh", due=False)


@pytest.fixture
def world(db: Database) -> Iterator[Expected]:
    essex = build_world(db)
    other = build_world(db, la_code=882, name="Fictional Borough", workspace="T0OTHER")
    expected = Expected()
    with db.session() as s:
        build_tenant(s, essex, 881, expected)
        build_tenant(s, other, 882, expected)
        build_keys(s, expected)
    yield expected


def present(db: Database) -> dict[str, set[Any]]:
    """The ids of every row of the tables the purge touches."""
    with db.session() as s:
        return {
            "survey_invitation": set(s.exec(select(SurveyInvitation.id)).all()),
            "survey_response": set(s.exec(select(SurveyResponse.id)).all()),
            "survey_answer": {
                (a.response_id, a.question_id) for a in s.exec(select(SurveyAnswer)).all()
            },
            "support_request": set(s.exec(select(SupportRequest.id)).all()),
            "support_offer": set(s.exec(select(SupportOffer.id)).all()),
            "support_event": set(s.exec(select(SupportEvent.id)).all()),
            "outbox_message": set(s.exec(select(OutboxMessage.id)).all()),
            "reminder": set(s.exec(select(Reminder.id)).all()),
            "audit_entry": set(
                s.exec(select(AuditEntry.id).where(AuditEntry.action != PURGE_ACTION)).all()
            ),
            "seen_request": set(s.exec(select(SeenRequest.key)).all()),
            **{
                table.__tablename__: set(s.exec(select(table.id)).all())  # type: ignore[attr-defined]
                for table in MEETING_TABLES
            },
        }


MEETING_TABLES: tuple[Any, ...] = (
    Meeting,
    MeetingSlot,
    MeetingInvitee,
    MeetingVote,
    MeetingAgendaItem,
    MeetingAction,
)


def counts(report: RetentionReport) -> dict[int | None, dict[RecordKind, int]]:
    return {t.la_code: {k.kind: k.count for k in t.kinds} for t in report.tenants}


def service(db: Database) -> RetentionService:
    return RetentionService(db, FakeClock(NOW))


def test_the_purge_removes_exactly_what_is_due(db: Database, world: Expected) -> None:
    before = present(db)
    for table, ids in world.gone.items():
        assert ids <= before[table], table

    report = service(db).purge(NOW)

    after = present(db)
    for table in before:
        assert after[table] == before[table] - world.gone.get(table, set()), table
        assert world.kept.get(table, set()) <= after[table], table
    assert report.purged and counts(report) == world.due


def test_the_dry_run_counts_the_same_and_changes_nothing(db: Database, world: Expected) -> None:
    before = present(db)

    report = service(db).due(NOW)

    assert not report.purged and counts(report) == world.due
    assert present(db) == before
    purged = service(db).purge(NOW)
    assert [(t.la_code, t.kinds) for t in purged.tenants] == [
        (t.la_code, t.kinds) for t in report.tenants
    ]


def test_each_tenant_is_purged_by_its_own_periods(db: Database, world: Expected) -> None:
    report = service(db).due(NOW)

    by_code = {t.la_code: {k.kind: k for k in t.kinds} for t in report.tenants}
    essex, other = by_code[881], by_code[882]
    named, outbox = RecordKind.NAMED_SURVEY_ANSWERS, RecordKind.OUTBOX_MESSAGES
    assert essex[named].period.keep_days == 3 * 365 and not essex[named].period.overridden
    assert other[named].period.keep_days == 5 * 365 and other[named].period.overridden
    assert other[outbox].cutoff == NOW - timedelta(days=30)
    assert essex[outbox].cutoff == NOW - timedelta(days=90)
    assert essex[named].also == {"answers": 4, "invitations": 3}
    only = service(db).purge(NOW, la_code=882)
    assert [t.la_code for t in only.tenants] == [882]
    with db.session() as s:
        left = s.exec(
            select(OutboxMessage.tenant_id, func.count())
            .group_by(col(OutboxMessage.tenant_id))
            .order_by(col(OutboxMessage.tenant_id))
        ).all()
    assert [n for _, n in left] == [
        len(world.kept["outbox_message"]) // 2 + world.due[881][outbox],
        len(world.kept["outbox_message"]) // 2,
    ]


def test_the_purge_is_audited_with_counts_and_a_second_run_removes_nothing(
    db: Database, world: Expected
) -> None:
    service(db).purge(NOW)
    again = service(db).purge(NOW)

    assert all(k.count == 0 and not k.also for t in again.tenants for k in t.kinds)
    with db.session() as s:
        entries = s.exec(
            select(AuditEntry)
            .where(AuditEntry.action == PURGE_ACTION)
            .order_by(col(AuditEntry.tenant_id))
        ).all()
    assert len(entries) == 2  # one per tenant, none for the run that found nothing
    entry = entries[0]
    assert entry.platform == SYSTEM and entry.actor_person_id is None
    assert entry.detail["outbox_messages"] == {"count": world.due[881][RecordKind.OUTBOX_MESSAGES]}
    assert entry.detail["closed_support_requests"] == {"count": 4, "offers": 4, "events": 4}
    assert set(entry.detail) == {k.value for k in RULES if RULES[k].per_tenant}


def test_the_command_line_purge_is_audited_as_such(db: Database, world: Expected) -> None:
    RetentionService(db, FakeClock(NOW), platform=COMMAND_LINE).purge(NOW, la_code=881)

    with db.session() as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == PURGE_ACTION)).one()
    assert entry.platform == COMMAND_LINE


def test_the_seen_request_key_period_is_the_deployments(db: Database, world: Expected) -> None:
    longer = RetentionService(db, FakeClock(NOW), seen_request_keys_days=30)

    report = longer.due(NOW)

    keys = report.tenants[-1]
    assert keys.la_code is None and keys.kinds[0].count == 0
    assert keys.kinds[0].period.overridden
    with pytest.raises(ValueError, match="at least 1d"):
        RetentionService(db, FakeClock(NOW), seen_request_keys_days=-1)


def test_the_report_reads_per_tenant_and_kind(db: Database, world: Expected) -> None:
    lines = service(db).due(NOW).lines()

    assert lines[0] == "Retention at 2031-03-12 02:30 UTC (dry run):"
    assert "Fictional Borough (LA 882):" in lines
    assert (
        "  outbox_messages: keep 30d (set by the LA); cut-off 2031-02-10 02:30;"
        f" due {world.due[882][RecordKind.OUTBOX_MESSAGES]} messages"
    ) in lines
    assert "  seen_request_keys: keep 7d; cut-off 2031-03-05 02:30; due 2 keys" in lines


def test_a_tenant_without_overrides_has_the_defaults(db: Database) -> None:
    world = build_world(db)

    policy = service(db).policy(world.tenant_id)

    assert {k: p.keep_days for k, p in policy.items()} == {
        RecordKind.NAMED_SURVEY_ANSWERS: 1095,
        RecordKind.CLOSED_SUPPORT_REQUESTS: 2190,
        RecordKind.OUTBOX_MESSAGES: 90,
        RecordKind.FINISHED_REMINDERS: 365,
        RecordKind.AUDIT_ENTRIES: 2190,
        RecordKind.PAST_MEETINGS: 2190,
    }


# --- periods as written ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"), [("30d", 30), ("5y", 1825), ("1d", 1), (" 2Y ", 730), ("90 d", 90)]
)
def test_periods_are_days_or_years(text: str, days: int) -> None:
    assert parse_period(text) == days


@pytest.mark.parametrize("text", ["0d", "5", "5 years", "-3d", "3m", "", "1.5y", 30, None])
def test_other_periods_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="period"):
        parse_period(text)


def test_periods_too_short_for_the_bot_are_refused() -> None:
    assert check_period(RecordKind.OUTBOX_MESSAGES, 7) == 7
    with pytest.raises(ValueError, match="outbox_messages must be kept at least 7d, not 6d"):
        check_period(RecordKind.OUTBOX_MESSAGES, 6)
    with pytest.raises(ValueError, match="longer than 100 years"):
        check_period(RecordKind.AUDIT_ENTRIES, 101 * 365)


# --- the directory file's tenant section ----------------------------------------------------

TENANT = """\
tenant:
  la_code: 881
  name: Essex
  retention:
{retention}
"""


def directory(tmp_path: Path, retention: str) -> Path:
    path = tmp_path / "essex.yaml"
    path.write_text(TENANT.format(retention=retention), encoding="utf-8")
    return path


def own_periods(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {r.record_kind: r.keep_days for r in s.exec(select(RetentionPeriod)).all()}


def test_the_tenant_section_sets_and_replaces_the_periods(db: Database, tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    first = import_directory(
        db,
        directory(tmp_path, "    named_survey_answers: 5y\n    outbox_messages: 30d"),
        clock=clock,
    )
    assert own_periods(db) == {"named_survey_answers": 1825, "outbox_messages": 30}
    assert first.updated.get("retention_period") == 2

    again = import_directory(
        db,
        directory(tmp_path, "    named_survey_answers: 5y\n    outbox_messages: 30d"),
        clock=clock,
    )
    assert "retention_period" not in again.updated

    import_directory(db, directory(tmp_path, "    audit_entries: 10y"), clock=clock)
    assert own_periods(db) == {"audit_entries": 3650}

    path = tmp_path / "plain.yaml"
    path.write_text("tenant: {la_code: 881, name: Essex}\n", encoding="utf-8")
    import_directory(db, path, clock=clock)
    assert own_periods(db) == {}


@pytest.mark.parametrize(
    ("retention", "problem"),
    [
        (
            "    outbox_messages: 30d\n    survey_answers: 3y",
            "line 6 (tenant.retention.survey_answers): unknown record kind 'survey_answers';"
            " the kinds are named_survey_answers, closed_support_requests, outbox_messages,"
            " finished_reminders, audit_entries, past_meetings",
        ),
        (
            "    seen_request_keys: 3d",
            "line 5 (tenant.retention.seen_request_keys): seen_request_keys belong to no local"
            " authority: their period is the deployment's and cannot be set here",
        ),
        (
            "    audit_entries: 6y\n    outbox_messages: 3d",
            "line 6 (tenant.retention.outbox_messages): outbox_messages must be kept at least"
            " 7d, not 3d",
        ),
        (
            "    named_survey_answers: 3 years",
            "line 5 (tenant.retention.named_survey_answers): write a period as <n>d or <n>y"
            " (e.g. 90d, 3y), not '3 years'",
        ),
        (
            "    finished_reminders: 0d",
            "line 5 (tenant.retention.finished_reminders): a period must be longer than"
            " nothing, not '0d'",
        ),
    ],
)
def test_bad_periods_are_problems_naming_their_line(
    db: Database, tmp_path: Path, retention: str, problem: str
) -> None:
    with pytest.raises(InvalidImport) as caught:
        import_directory(db, directory(tmp_path, retention), clock=FakeClock(NOW))

    assert caught.value.problems == [problem]
    assert own_periods(db) == {}


# --- slis privacy retention -----------------------------------------------------------------


def test_the_command_shows_what_is_due_then_purges_it(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    world = build_world(db)
    now = datetime.now(UTC)  # the command runs on the real clock
    with db.session() as s:
        rows = Rows(s, world, 881, Expected())
        rows.outbox("sent", now - timedelta(days=91), due=True)
        rows.outbox("sent", now - timedelta(days=80), due=False)
    runner = CliRunner()

    dry = runner.invoke(app, ["privacy", "retention", "--dry-run", "--la-code", "881"])
    assert dry.exit_code == 0, dry.output
    assert "Essex (LA 881):" in dry.output
    assert "outbox_messages: keep 90d; cut-off " in dry.output
    assert "due 1 messages" in dry.output
    assert "seen_request_keys" not in dry.output  # only the local authority asked for

    done = runner.invoke(app, ["privacy", "retention"])
    assert done.exit_code == 0, done.output
    assert "purged 1 messages" in done.output and "seen_request_keys" in done.output
    with db.session() as s:
        assert s.exec(select(func.count()).select_from(OutboxMessage)).one() == 1

    unknown = runner.invoke(app, ["privacy", "retention", "--dry-run", "--la-code", "999"])
    assert unknown.exit_code == 1
    assert "There is no local authority with LA code 999." in unknown.output
