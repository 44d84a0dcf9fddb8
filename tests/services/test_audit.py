"""The audit log: each administrative or state-changing action leaves one entry, in the same
transaction, naming people by id only; and the log is read back through its filters."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, delete, select

from bot.errors import Forbidden, NotFound, UserError
from bot.services import audit
from bot.services.audit import AuditFilter, AuditLog, AuditQuery, parse_query
from bot.services.calendar import CalendarService
from bot.services.directory_import import load_sample
from bot.services.healthcheck.rounds import RoundService
from bot.services.meetings.booking import Booking
from bot.services.meetings.voting import Voting
from bot.services.reminders import ReminderService
from bot.types import ChatUser, Platform
from storage.engine import Database
from storage.models import Person
from storage.privacy_tables import AuditEntry
from tests.fakes.clock import FakeClock
from tests.services.healthcheck_rounds_world import (
    HEAD as ROUND_HEAD,
)
from tests.services.healthcheck_rounds_world import (
    KEYS,
    build_rounds_world,
    calendar_2026,
)
from tests.services.healthcheck_rounds_world import (
    OFFICER as ROUND_OFFICER,
)
from tests.services.support_world import (
    CHAIR,
    ESTUARY_LEADS,
    HEAD,
    MARSHLAND,
    MARSHLAND_LEAD,
    SupportWorld,
    build_support_world,
)
from tests.services.test_healthcheck_rounds import NOW as ROUND_NOW
from tests.services.test_healthcheck_rounds import request as launch_request
from tests.services.test_meeting_proposing import propose
from tests.services.test_meeting_publication import polling_meeting, world

EVE = ESTUARY_LEADS[0]


def entries(db: Database, action: str | None = None) -> list[AuditEntry]:
    """Every stored entry (of one action, or family ending in "."), oldest first."""
    with db.session() as s:
        query = select(AuditEntry).order_by(col(AuditEntry.id))
        rows = list(s.exec(query).all())
    if action is None:
        return rows
    if action.endswith("."):
        return [r for r in rows if r.action.startswith(action)]
    return [r for r in rows if r.action == action]


def assert_no_personal_data(db: Database) -> None:
    """No entry's subject or detail holds anyone's name or e-mail address."""
    with db.session() as s:
        people = s.exec(select(Person.name, Person.email)).all()
    for entry in entries(db):
        text = (entry.subject + json.dumps(entry.detail)).lower()
        for name, email in people:
            assert name.lower() not in text, (entry.action, name)
            assert email.lower() not in text, (entry.action, email)


# --- recording at each hook -------------------------------------------------------------------


def test_launching_a_round_records_who_from_where_and_what(db: Database) -> None:
    rw = build_rounds_world(db)
    service = RoundService(db, FakeClock(ROUND_NOW), calendar_2026, keys=KEYS)
    launched = service.launch(rw.actor(ROUND_OFFICER), launch_request())
    [entry] = entries(db, "healthcheck.launch")
    assert entry.tenant_id == rw.tenant_id
    assert entry.actor_person_id == rw.person(ROUND_OFFICER)
    assert entry.platform == "slack"
    assert entry.subject == f"round {launched.round_id}"
    assert entry.at.replace(tzinfo=UTC) == ROUND_NOW
    assert entry.detail == {
        "template": "school_checkin",
        "invitations": launched.invitations,
        "anonymous": False,
    }
    assert_no_personal_data(db)


def test_a_refused_launch_records_nothing(db: Database) -> None:
    rw = build_rounds_world(db)
    service = RoundService(db, FakeClock(ROUND_NOW), calendar_2026, keys=KEYS)
    with pytest.raises(Forbidden):
        service.launch(rw.actor(ROUND_HEAD), launch_request())
    assert entries(db) == []


@pytest.fixture
def sw(db: Database) -> SupportWorld:
    return build_support_world(db)


def test_every_support_transition_is_recorded_with_its_states_and_no_free_text(
    sw: SupportWorld,
) -> None:
    rid = sw.submit()
    reference = sw.request(rid).reference
    sw.service.decline(sw.actor(MARSHLAND_LEAD), rid, "capacity", "Our SENCo lead is away.")
    sw.service.claim(sw.actor(EVE), rid)
    sw.service.question(sw.actor(EVE), rid, "Which year groups, please?")
    actions = [e.action for e in entries(sw.db, "support.")]
    assert actions == [
        "support.submit",
        "support.offer",
        "support.decline",
        "support.claim",
        "support.question",
    ]
    by_action = {e.action: e for e in entries(sw.db, "support.")}
    submit, offer, claim = (
        by_action[a] for a in ("support.submit", "support.offer", "support.claim")
    )
    assert {e.subject for e in by_action.values()} == {reference}
    assert submit.actor_person_id == sw.person(HEAD) and submit.platform == "slack"
    assert offer.actor_person_id is None and offer.platform == "system"
    assert claim.actor_person_id == sw.person(EVE)
    assert claim.detail["from"] == "offered" and claim.detail["to"] == "claimed"
    stored = json.dumps([e.detail for e in by_action.values()])
    assert "SENCo" not in stored and "year groups" not in stored
    assert by_action["support.decline"].detail["alliance_id"] == sw.essex.alliances[MARSHLAND]
    assert_no_personal_data(sw.db)


def test_a_chair_assigning_a_request_is_recorded_from_their_platform(sw: SupportWorld) -> None:
    rid = sw.submit()
    sw.service.escalate(sw.actor(CHAIR), rid, "Needs the LA's eye.")
    chair = sw.actor(CHAIR)
    teams_chair = replace(chair, chat=ChatUser(Platform.TEAMS, "tenant-guid", "29:abc"))
    sw.service.assign(teams_chair, rid, sw.essex.alliances[MARSHLAND], "Please call me first.")
    [assign] = entries(sw.db, "support.assign")
    assert assign.actor_person_id == sw.person(CHAIR)
    assert assign.platform == "teams"
    assert assign.detail["alliance_id"] == sw.essex.alliances[MARSHLAND]
    assert "call me" not in json.dumps(assign.detail)
    [escalate] = entries(sw.db, "support.escalate")
    assert "LA's eye" not in json.dumps(escalate.detail)


def test_the_bots_own_sweep_is_recorded_as_the_bots(sw: SupportWorld) -> None:
    rid = sw.submit()
    sw.clock.advance(days=14)
    sw.service.sweep()
    assert sw.request(rid).state == "escalated"
    [escalate] = entries(sw.db, "support.escalate")
    assert (escalate.actor_person_id, escalate.platform) == (None, "system")
    assert escalate.detail["from"] == "offered"
    assert not entries(sw.db, "support.nudge")


def test_creating_and_cancelling_a_meeting_are_recorded(db: Database) -> None:
    w = world(db)
    meeting, _ = propose(w)
    [create] = entries(db, "meeting.create")
    assert create.subject == meeting.reference
    assert create.actor_person_id == w.person("Juno Chairwell")
    assert create.platform == "slack" and create.tenant_id == w.tenant_id
    assert create.detail["slots"] >= 1 and create.detail["invitees"] >= 1

    meeting_id, _ = polling_meeting(w)
    booking = Booking(w.db, w.clock, w.calendars)
    booking.cancel(w.actor("Juno Chairwell"), meeting_id, "The hall is flooded.")
    [cancel] = entries(db, "meeting.cancel")
    assert cancel.detail == {"was": "polling"}
    assert "flooded" not in cancel.subject
    assert_no_personal_data(db)


def test_booking_a_meeting_is_recorded(db: Database) -> None:
    w = world(db)
    meeting_id, slot_ids = polling_meeting(w)
    booking = Booking(w.db, w.clock, w.calendars)
    booking.press(w.actor("Juno Chairwell"), "book.2", f"{meeting_id}:{slot_ids[1]}")
    [book] = entries(db, "meeting.book")
    assert book.actor_person_id == w.person("Juno Chairwell")
    assert book.detail == {"slot": slot_ids[1]}


def test_reminders_for_others_are_recorded_and_ones_own_are_not(db: Database) -> None:
    rw = build_rounds_world(db)
    clock = FakeClock(ROUND_NOW)
    reminders = ReminderService(db, clock, calendars=lambda _t: calendar_2026())
    reminders.create(rw.actor(ROUND_HEAD), "me tomorrow 9am check the register")
    assert entries(db) == []
    officer = rw.actor(ROUND_OFFICER)
    mine = reminders.create(officer, "me tomorrow 9am call the hub")
    for_heads = reminders.create(officer, "heads on 2 Nov at 9am send returns")
    reminders.cancel(officer, mine.id)
    reminders.cancel(officer, for_heads.id)
    created, cancelled = entries(db, "reminder.create"), entries(db, "reminder.cancel")
    assert [e.subject for e in created] == [f"reminder {for_heads.id}"]
    assert [e.subject for e in cancelled] == [f"reminder {for_heads.id}"]
    assert created[0].detail == {"target": "role", "schedule": "once"}
    assert created[0].actor_person_id == rw.person(ROUND_OFFICER)
    assert "returns" not in json.dumps(created[0].detail)


def test_imports_that_change_something_are_recorded_from_the_command_line(db: Database) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    load_sample(db, clock)
    CalendarService(db, clock=clock).load_sample()
    stored = entries(db)
    assert [e.action for e in stored] == [
        "directory.import",
        "directory.import_schools",
        "directory.import",
        "calendar.import",
    ]
    assert {(e.platform, e.actor_person_id) for e in stored} == {("cli", None)}
    assert all(e.at.replace(tzinfo=UTC) == clock.now() for e in stored)
    schools = stored[1]
    assert schools.subject == "essex_schools.csv" and schools.detail["inserted"] == 248
    assert stored[3].detail["school_years"] == ["2026-27"]
    assert_no_personal_data(db)
    # A second run changes nothing, so it is not recorded either.
    load_sample(db, clock)
    CalendarService(db, clock=clock).load_sample()
    assert len(entries(db)) == len(stored)


# --- reading the log --------------------------------------------------------------------------


def _entry(db: Database, tenant_id: int, at: datetime, action: str, **kwargs: object) -> None:
    with db.session() as s:
        audit.record(s, tenant_id=tenant_id, at=at, action=action, **kwargs)  # type: ignore[arg-type]


DAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def logged(db: Database) -> tuple[SupportWorld, AuditLog]:
    """Five entries over three days in Essex, one in Suffolk."""
    w = build_support_world(db)
    with db.session() as s:  # the world's own calendar imports
        s.exec(delete(AuditEntry))
    essex = w.essex.tenant_id
    ada, cara = w.actor(HEAD), w.actor(CHAIR)
    _entry(db, essex, DAY, "support.submit", subject="SR-2026-0001", actor=ada)
    _entry(db, essex, DAY + timedelta(hours=1), "support.claim", subject="SR-2026-0001")
    _entry(db, essex, DAY + timedelta(days=1), "meeting.create", subject="M-2026-0001", actor=cara)
    _entry(
        db,
        essex,
        DAY + timedelta(days=2),
        "privacy.export",
        platform=audit.COMMAND_LINE,
        about_person_id=w.person(HEAD),
    )
    _entry(db, essex, DAY + timedelta(days=2, hours=1), "directory.import", platform="cli")
    _entry(db, w.suffolk.tenant_id, DAY, "support.submit", actor=w.actor(HEAD, w.suffolk))
    return w, AuditLog(db, w.clock)


def _actions(log: AuditLog, tenant_id: int, wanted: AuditFilter) -> list[str]:
    return [e.action for e in log.entries(tenant_id, wanted)]


def test_filters_narrow_the_listing(logged: tuple[SupportWorld, AuditLog]) -> None:
    w, log = logged
    essex = w.essex.tenant_id
    every = _actions(log, essex, AuditFilter())
    assert every == [
        "directory.import",
        "privacy.export",
        "meeting.create",
        "support.claim",
        "support.submit",
    ]
    assert _actions(log, essex, AuditFilter(action="support.")) == [
        "support.claim",
        "support.submit",
    ]
    assert _actions(log, essex, AuditFilter(action="meeting.create")) == ["meeting.create"]
    assert _actions(log, essex, AuditFilter(platform="cli")) == [
        "directory.import",
        "privacy.export",
    ]
    # Ada acted in one and another's action was about her in one.
    assert _actions(log, essex, AuditFilter(person_id=w.person(HEAD))) == [
        "privacy.export",
        "support.submit",
    ]
    since = AuditFilter(since=DAY + timedelta(days=1), until=DAY + timedelta(days=2))
    assert _actions(log, essex, since) == ["meeting.create"]
    assert _actions(log, essex, AuditFilter(limit=2)) == ["directory.import", "privacy.export"]


def test_a_listing_names_people_as_the_directory_has_them(
    logged: tuple[SupportWorld, AuditLog],
) -> None:
    w, log = logged
    shown = {e.action: e for e in log.entries(w.essex.tenant_id)}
    assert shown["support.submit"].actor == "Ada Brightwater"
    assert shown["support.claim"].actor == "the bot"
    assert shown["privacy.export"].actor == "the command line"
    assert shown["privacy.export"].about == "Ada Brightwater"
    assert shown["meeting.create"].meaning == "proposed a meeting"


def test_reading_by_words_resolves_the_person_and_is_itself_recorded(
    logged: tuple[SupportWorld, AuditLog],
) -> None:
    w, log = logged
    essex = w.essex.tenant_id
    with w.db.session() as s:
        ada = s.get(Person, w.person(HEAD))
        assert ada is not None
        email = ada.email
    cara = w.actor(CHAIR)
    found = log.read(essex, parse_query(f"person {email.upper()}"), actor=cara)
    assert [e.action for e in found.entries] == ["privacy.export", "support.submit"]
    [view] = entries(w.db, "audit.view")
    assert view.actor_person_id == cara.person_id and view.platform == "slack"
    assert view.about_person_id == w.person(HEAD)
    assert email not in json.dumps(view.detail)
    # The London day: 2 Nov from 00:00 GMT to 3 Nov 00:00 GMT.
    found = log.read(essex, parse_query("since 2026-11-02 until 2026-11-02"))
    assert [e.action for e in found.entries] == ["support.claim", "support.submit"]
    assert entries(w.db, "audit.view")[-1].platform == "cli"


def test_a_person_of_another_authority_is_not_found(
    logged: tuple[SupportWorld, AuditLog],
) -> None:
    w, log = logged
    other = str(w.person(HEAD, w.suffolk))
    with pytest.raises(NotFound) as missing:
        log.read(w.essex.tenant_id, AuditQuery(person=other))
    assert "Suffolk" not in missing.value.message
    assert entries(w.db, "audit.view") == []


def test_a_listing_cut_by_its_limit_says_so(logged: tuple[SupportWorld, AuditLog]) -> None:
    w, log = logged
    found = log.read(w.essex.tenant_id, AuditQuery(limit=2))
    assert len(found.entries) == 2 and found.more
    found = log.read(w.essex.tenant_id, AuditQuery(action="support.", limit=2))
    assert len(found.entries) == 2 and not found.more


# --- the words of `/slis audit` ----------------------------------------------------------------


def test_filter_words_in_any_order() -> None:
    assert parse_query("") == AuditQuery()
    assert parse_query("support") == AuditQuery(action="support.")
    assert parse_query("meeting.create since 2026-11-01") == AuditQuery(
        action="meeting.create", since=date(2026, 11, 1)
    )
    assert parse_query("person ada@school.example cli limit 5", default_limit=20) == AuditQuery(
        person="ada@school.example", platform="cli", limit=5
    )
    assert parse_query("platform teams Support.") == AuditQuery(platform="teams", action="support.")


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("gossip", "I don't know the action “gossip”"),
        ("support meeting", "Only one kind of action at a time"),
        ("since yesterday", "“yesterday” is not a date"),
        ("since 2026-11-05 until 2026-11-01", "`until` date is before the `since`"),
        ("person", "`person` needs a value"),
        ("platform fax", "I don't know the platform “fax”"),
        ("limit 0", "The limit must be a whole number"),
        ("limit lots", "The limit must be a whole number"),
    ],
)
def test_bad_filter_words_are_refused_clearly(words: str, says: str) -> None:
    with pytest.raises(UserError) as refused:
        parse_query(words)
    assert says in refused.value.message


def test_every_recorded_action_has_a_meaning() -> None:
    recorded = {
        "healthcheck.launch",
        *(f"support.{a}" for a in ("submit", "offer", "escalate", "claim", "assign", "decline")),
        *(f"support.{a}" for a in ("question", "reply", "propose", "accept", "ask_changes")),
        *(f"support.{a}" for a in ("start", "deliver", "close", "withdraw")),
        *(f"meeting.{a}" for a in ("create", "book", "change", "cancel", "minutes")),
        "meeting.agenda_order",
        "reminder.create",
        "reminder.cancel",
        "directory.import",
        "directory.import_schools",
        "calendar.import",
        "audit.view",
    }
    assert recorded <= set(audit.ACTIONS)


def test_closing_a_poll_is_recorded_by_the_chair_or_by_the_deadline(db: Database) -> None:
    w = world(db)
    voting = Voting(w.db, w.clock, w.calendars)
    pressed, _ = polling_meeting(w)
    voting.close(w.actor("Juno Chairwell"), str(pressed))
    [by_chair] = entries(db, "meeting.poll_close")
    assert by_chair.actor_person_id == w.person("Juno Chairwell")
    assert by_chair.platform == "slack" and by_chair.detail == {"by": "chair"}

    with db.session() as s:
        s.exec(delete(AuditEntry))
    lapsed, _ = polling_meeting(w)
    assert voting.sweep(datetime(2027, 3, 13, 9, 0, tzinfo=UTC))["polls_closed"] == 1
    [by_deadline] = entries(db, "meeting.poll_close")
    assert (by_deadline.actor_person_id, by_deadline.platform) == (None, "system")
    assert by_deadline.detail == {"by": "deadline"}
    # Closing again (a repeated sweep, a late press) records nothing more.
    voting.sweep(datetime(2027, 3, 13, 10, 0, tzinfo=UTC))
    assert len(entries(db, "meeting.poll_close")) == 1
    assert lapsed != pressed
