"""Reminders: who may set them for whom, listing and cancelling, and firing into the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.commands import CommandRouter, reminder_commands
from bot.core import Core
from bot.errors import Forbidden, NotFound, UserError
from bot.services.calendar import TenantCalendar, Term, load_sample_calendar
from bot.services.identity import IdentityService
from bot.services.reminders import (
    ACTIVE,
    CANCELLED,
    DONE,
    ReminderService,
    role_holders,
)
from bot.services.when import EverySchoolDay, Once, TermStarts, Weekly
from bot.types import Actor, Role, ScopeKind
from storage.engine import Database
from storage.models import Person, RoleAssignment
from storage.outbox_tables import OutboxMessage
from storage.reminder_tables import Reminder
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday, 09:00 GMT

HEAD = "ada.head@schools.example.org"  # head, Great Oakley (North East)
LEAD = "ben.lead@schools.example.org"  # partnership lead (NE) and head of another NE school
CHAIR = "cara.chair@schools.example.org"  # North East quadrant chair
OFFICER = "dan.officer@la.example.org"  # LA officer, whole authority
ALLIANCE = "eve.alliance@schools.example.org"  # alliance lead, serves North East
WEST_HEAD = "fay@schools.example.org"  # head in West (no chat account)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar_2026(_tenant_id: int) -> TenantCalendar:
    """Autumn term with a half term in late October; spring from 4 January."""
    return TenantCalendar(
        [
            Term("2026-27", "Autumn 1", date(2026, 9, 2), date(2026, 10, 23)),
            Term("2026-27", "Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
            Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 3, 25)),
            Term("2026-27", "Summer", date(2027, 4, 12), date(2027, 7, 21)),
        ],
        timezone="Europe/London",
    )


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def service(db: Database, clock: FakeClock) -> ReminderService:
    return ReminderService(db, clock, calendars=calendar_2026)


def actor(db: Database, world: World, email: str) -> Actor:
    return IdentityService(db, FakeClock()).actor_for(world.users[email])


def row(db: Database, reminder_id: int) -> Reminder:
    with db.session() as s:
        found = s.get(Reminder, reminder_id)
        assert found is not None
        return found


def reminder_count(db: Database) -> int:
    with db.session() as s:
        return s.exec(select(func.count()).select_from(Reminder)).one()


def outbox(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.key))).all())


def aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- setting reminders -----------------------------------------------------------------------


def test_anyone_linked_may_remind_themselves(
    db: Database, world: World, service: ReminderService
) -> None:
    view = service.create(actor(db, world, HEAD), "me tomorrow 9am send the attendance return")
    assert view.target == "you"
    assert view.schedule == Once(utc(2026, 11, 25, 9, 0))
    assert view.upcoming == (utc(2026, 11, 25, 9, 0),)
    assert not view.moves_to_school_slots
    stored = row(db, view.id)
    assert stored.tenant_id == world.tenant_id
    assert stored.created_by == world.people[HEAD]
    assert (stored.target_kind, stored.target_person_id) == ("person", world.people[HEAD])
    assert stored.schedule_kind == "once"
    assert aware(stored.at) == utc(2026, 11, 25, 9, 0)
    assert aware(stored.next_due) == utc(2026, 11, 25, 9, 0)
    assert stored.timezone == "Europe/London"
    assert stored.respect_school_calendar is False
    assert stored.status == ACTIVE
    assert stored.text == "send the attendance return"


def test_recurrences_are_stored_as_columns(
    db: Database, world: World, service: ReminderService
) -> None:
    officer = actor(db, world, OFFICER)
    weekly = service.create(officer, "heads in West every Monday and Thursday at 8:00 survey")
    stored = row(db, weekly.id)
    assert (stored.schedule_kind, stored.weekdays, stored.local_time) == (
        "weekly",
        "mon,thu",
        time(8, 0),
    )
    assert stored.at is None
    assert (stored.target_kind, stored.target_role) == ("role", "head")
    assert (stored.target_scope_kind, stored.target_scope_id) == (
        "quadrant",
        world.quadrants["West"],
    )
    assert stored.respect_school_calendar is True
    assert weekly.upcoming == (
        utc(2026, 11, 26, 8, 0),
        utc(2026, 11, 30, 8, 0),
        utc(2026, 12, 3, 8, 0),
    )
    school = service.create(officer, "chairs every school day at 8:15 log visits")
    assert row(db, school.id).schedule_kind == "school_day"
    assert school.schedule == EverySchoolDay(time(8, 15))
    terms = service.create(officer, "board first school day of each term agenda")
    assert terms.schedule == TermStarts(time(8, 30))
    assert terms.next_due == utc(2027, 1, 4, 8, 30)


def test_a_role_without_holders_is_accepted_with_a_note(
    db: Database, world: World, service: ReminderService
) -> None:
    view = service.create(actor(db, world, OFFICER), "alliance leads in West tomorrow 9am hi")
    assert view.nobody_now
    assert view.target == "alliance leads in West"


def test_bad_input_creates_nothing(db: Database, world: World, service: ReminderService) -> None:
    head = actor(db, world, HEAD)
    for args in ("", "me", "me whenever hi", "me today at 8am hi", "nobody tomorrow 9am hi"):
        with pytest.raises(UserError):
            service.create(head, args)
    assert reminder_count(db) == 0


def test_calendar_schedules_need_a_calendar(db: Database, world: World, clock: FakeClock) -> None:
    bare = ReminderService(db, clock)
    with pytest.raises(UserError, match="no school calendar"):
        bare.create(actor(db, world, HEAD), "me every school day at 8:00 hi")
    assert reminder_count(db) == 0


# --- permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        "heads tomorrow 9am hi",
        "partnership leads in North East tomorrow 9am hi",
        "<#C0QUAD|quadrant-ne> tomorrow 9am hi",
    ],
)
def test_a_head_may_not_remind_a_role_or_a_channel(
    db: Database, world: World, service: ReminderService, args: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        service.create(actor(db, world, HEAD), args)
    assert "Only LA officers and administrators or quadrant chairs for the quadrant may set" in (
        caught.value.message
    )
    assert "remind me" in (caught.value.hint or "")
    assert reminder_count(db) == 0


def test_a_head_may_not_remind_another_person_but_may_mention_herself(
    db: Database, world: World, service: ReminderService
) -> None:
    head = actor(db, world, HEAD)
    other = world.users[LEAD].user_id
    with pytest.raises(
        Forbidden,
        match="Only LA officers and administrators or quadrant chairs for the quadrant may set",
    ):
        service.create(head, f"<@{other}> tomorrow 9am hi")
    view = service.create(head, f"<@{head.chat.user_id}|ada> tomorrow 9am hi")
    assert view.target == "you"
    assert reminder_count(db) == 1


def test_officers_and_chairs_may_remind_another_person(
    db: Database, world: World, service: ReminderService
) -> None:
    for who in (OFFICER, CHAIR):
        view = service.create(
            actor(db, world, who), f"<@{world.users[HEAD].user_id}|ada> tomorrow 9am hi"
        )
        assert view.target == "Ada Fictional"
        assert row(db, view.id).target_person_id == world.people[HEAD]
        assert not view.moves_to_school_slots  # a person's reminder is kept as asked


def test_a_person_by_plain_name_or_unknown(
    db: Database, world: World, service: ReminderService
) -> None:
    officer = actor(db, world, OFFICER)
    assert service.create(officer, "@ada.head tomorrow 9am hi").target == "Ada Fictional"
    assert service.create(officer, "@AdaFictional tomorrow 9am hi").target == "Ada Fictional"
    with pytest.raises(NotFound, match="who @nobody is"):
        service.create(officer, "@nobody tomorrow 9am hi")
    with pytest.raises(NotFound, match="don't know that person"):
        service.create(officer, "<@U0UNKNOWN> tomorrow 9am hi")


def test_a_chair_reminds_roles_within_her_quadrant_only(
    db: Database, world: World, service: ReminderService
) -> None:
    chair = actor(db, world, CHAIR)
    mine = service.create(chair, "heads every Monday at 8:00 healthcheck")
    assert mine.target == "heads in North East"  # her quadrant, by default
    stored = row(db, mine.id)
    assert (stored.target_scope_kind, stored.target_scope_id) == (
        "quadrant",
        world.quadrants["North East"],
    )
    ok = service.create(chair, "heads of Tendring Coast Partnership tomorrow 9am hi")
    assert ok.target == "heads of Tendring Coast Partnership"
    for args in (
        "heads in West tomorrow 9am hi",
        "partnership leads of Harlow Learning Trust tomorrow 9am hi",
        "board tomorrow 9am hi",
    ):
        with pytest.raises(
            Forbidden,
            match="Only LA officers and administrators or quadrant chairs for the quadrant may set",
        ):
            service.create(chair, args)
    assert service.create(chair, "<#C0NE|north-east> tomorrow 9am hi").target == "#north-east"


def test_an_officer_reminds_any_role_anywhere(
    db: Database, world: World, service: ReminderService
) -> None:
    officer = actor(db, world, OFFICER)
    assert service.create(officer, "heads tomorrow 9am hi").target == "all heads"
    assert service.create(officer, "heads in west tomorrow 9am hi").target == "heads in West"
    assert service.create(officer, "board tomorrow 9am hi").target == "all Project Board members"
    with pytest.raises(UserError, match="aren't tied to a quadrant"):
        service.create(officer, "board in West tomorrow 9am hi")
    with pytest.raises(NotFound, match="No quadrant or partnership called “Mars”"):
        service.create(officer, "heads in Mars tomorrow 9am hi")


def test_role_holders_by_scope(db: Database, world: World) -> None:
    people = world.people
    ne, west = world.quadrants["North East"], world.quadrants["West"]
    trust = world.partnerships["Harlow Learning Trust"]
    coast = world.partnerships["Tendring Coast Partnership"]
    quadrant, partnership = ScopeKind.QUADRANT, ScopeKind.PARTNERSHIP
    with db.session() as s:
        t = world.tenant_id
        assert role_holders(s, t, Role.HEAD, None, None) == sorted(
            [people[HEAD], people[LEAD], people[WEST_HEAD]]
        )
        assert role_holders(s, t, Role.HEAD, quadrant, ne) == sorted([people[HEAD], people[LEAD]])
        assert role_holders(s, t, Role.HEAD, quadrant, west) == [people[WEST_HEAD]]
        assert role_holders(s, t, Role.HEAD, partnership, trust) == sorted(
            [people[HEAD], people[WEST_HEAD]]
        )
        assert role_holders(s, t, Role.PARTNERSHIP_LEAD, quadrant, ne) == [people[LEAD]]
        assert role_holders(s, t, Role.PARTNERSHIP_LEAD, partnership, coast) == [people[LEAD]]
        assert role_holders(s, t, Role.PARTNERSHIP_LEAD, quadrant, west) == []
        assert role_holders(s, t, Role.QUADRANT_CHAIR, quadrant, ne) == [people[CHAIR]]
        assert role_holders(s, t, Role.ALLIANCE_LEAD, quadrant, ne) == [people[ALLIANCE]]
        assert role_holders(s, t, Role.ALLIANCE_LEAD, quadrant, west) == []
        assert role_holders(s, t, Role.LA_OFFICER, None, None) == [people[OFFICER]]


# --- listing and cancelling ------------------------------------------------------------------


def test_mine_lists_my_active_reminders_soonest_first(
    db: Database, world: World, service: ReminderService
) -> None:
    head = actor(db, world, HEAD)
    later = service.create(head, "me on 12 Jan hi")
    sooner = service.create(head, "me tomorrow 9am hi")
    gone = service.create(head, "me in 2 days hi")
    service.cancel(head, gone.id)
    service.create(actor(db, world, OFFICER), "me tomorrow 9am not hers")
    assert [v.id for v in service.mine(head)] == [sooner.id, later.id]


def test_the_creator_cancels_and_a_second_cancel_says_so(
    db: Database, world: World, service: ReminderService, clock: FakeClock
) -> None:
    head = actor(db, world, HEAD)
    view = service.create(head, "me tomorrow 9am hi")
    clock.advance(minutes=5)
    outcome = service.cancel(head, view.id)
    assert not outcome.already and outcome.view.status == CANCELLED
    stored = row(db, view.id)
    assert stored.status == CANCELLED and stored.next_due is None
    assert aware(stored.updated_at) == NOW + timedelta(minutes=5)
    assert service.cancel(head, view.id).already


def test_who_may_cancel(db: Database, world: World, service: ReminderService) -> None:
    head, officer, chair = (actor(db, world, e) for e in (HEAD, OFFICER, CHAIR))
    personal = service.create(head, "me tomorrow 9am hi")
    role = service.create(chair, "heads tomorrow 9am hi")
    with pytest.raises(
        Forbidden,
        match=rf"Only its owner or LA officers and administrators \(for reminders to a role or a"
        rf" channel\) may cancel this reminder \(#{personal.id}\)",
    ):
        service.cancel(officer, personal.id)  # an officer can't cancel a personal reminder
    with pytest.raises(Forbidden, match="Only its owner or LA officers and administrators"):
        service.cancel(head, role.id)
    assert not service.cancel(officer, role.id).already


def test_unknown_or_other_tenants_reminders_are_not_found(
    db: Database, world: World, service: ReminderService
) -> None:
    other = build_world(db, la_code=935, name="Suffolk", workspace="T0SUFFOLK")
    theirs = service.create(actor(db, other, HEAD), "me tomorrow 9am hi")
    head = actor(db, world, HEAD)
    for reminder_id in (theirs.id, 99999):
        with pytest.raises(NotFound, match=f"no reminder #{reminder_id}"):
            service.cancel(head, reminder_id)


def test_the_commands_set_list_and_cancel(
    db: Database, world: World, service: ReminderService, clock: FakeClock
) -> None:
    router = CommandRouter(reminder_commands(service, clock))
    head = actor(db, world, HEAD)
    echo = router.dispatch(head, "remind me tomorrow 9am send the return")
    assert not echo.is_error
    assert echo.text == "I'll remind you on Wed 25 Nov at 09:00: send the return"
    listing = router.dispatch(head, "reminders")
    assert listing.text == "You have 1 reminder(s)."
    [reminder] = service.mine(head)
    cancelled = router.dispatch(head, f"remind cancel #{reminder.id}")
    assert cancelled.text.startswith(f"Cancelled reminder #{reminder.id} (on Wed 25 Nov at 09:00")
    bad = router.dispatch(head, "remind cancel soon")
    assert bad.is_error and "Which reminder?" in bad.text
    assert router.dispatch(head, "reminders").text == "You have no reminders set."


# --- firing ------------------------------------------------------------------------------------


def test_firing_writes_one_outbox_row_and_twice_still_one(
    db: Database, world: World, service: ReminderService, clock: FakeClock
) -> None:
    view = service.create(actor(db, world, HEAD), "me tomorrow 9am send the return")
    due = utc(2026, 11, 25, 9, 0)
    clock.current = due
    first = service.fire(view.id, due)
    second = service.fire(view.id, due)
    assert (first.enqueued, first.recipients) == (1, 1)
    assert second.enqueued == 0 and second.skipped == "not active"
    [message] = outbox(db)
    assert message.key == f"reminder:{view.id}:2026-11-25T09:00:{world.people[HEAD]}"
    assert message.person_id == world.people[HEAD]
    assert aware(message.not_before) == due
    assert "send the return" in str(message.payload)
    stored = row(db, view.id)
    assert stored.status == DONE and stored.next_due is None
    assert aware(stored.last_due) == due


def test_a_repeated_fire_of_a_recurrence_has_one_effect(
    db: Database, world: World, service: ReminderService
) -> None:
    view = service.create(actor(db, world, OFFICER), "heads in North East every Monday 8:00 hi")
    due = utc(2026, 11, 30, 8, 0)
    results = [service.fire(view.id, due) for _ in range(3)]
    assert [r.enqueued for r in results] == [2, 0, 0]
    assert [r.recipients for r in results] == [2, 2, 2]
    keys = [m.key for m in outbox(db)]
    assert keys == sorted(
        f"reminder:{view.id}:2026-11-30T08:00:{world.people[e]}" for e in (HEAD, LEAD)
    )
    assert aware(row(db, view.id).next_due) == utc(2026, 12, 7, 8, 0)


def test_a_persons_reminder_due_on_a_saturday_is_kept_as_asked(
    db: Database, world: World, service: ReminderService
) -> None:
    view = service.create(actor(db, world, HEAD), "me on Saturday at 21:00 hi")
    saturday = utc(2026, 11, 28, 21, 0)
    service.fire(view.id, saturday)
    [message] = outbox(db)
    assert aware(message.not_before) == saturday


def test_a_role_reminder_due_on_a_saturday_lands_on_the_next_school_day_slot(
    db: Database, world: World, clock: FakeClock
) -> None:
    """With the shipped sample calendar, through the core as the app builds it."""
    load_sample_calendar(db, 881)
    core = Core(db, clock=clock)
    officer = actor(db, world, OFFICER)
    view = core.reminders.create(officer, "heads in West on Saturday at 10:00 visit notes")
    saturday = utc(2026, 11, 28, 10, 0)
    assert view.next_due == saturday and view.moves_to_school_slots
    clock.current = saturday
    core.reminders.fire(view.id, saturday)
    [message] = outbox(db)
    assert message.person_id == world.people[WEST_HEAD]
    # Monday 30 November, 07:30 GMT: the opening of the next school day's quiet hours.
    assert aware(message.not_before) == utc(2026, 11, 30, 7, 30)


def test_role_reminders_reach_the_holders_of_the_moment(
    db: Database, world: World, service: ReminderService
) -> None:
    view = service.create(actor(db, world, OFFICER), "heads in West every Monday 8:00 hi")
    with db.session() as s:
        newcomer = Person(tenant_id=world.tenant_id, name="Gus New", email="gus@example.org")
        s.add(newcomer)
        s.flush()
        assert newcomer.id is not None
        s.add(
            RoleAssignment(
                tenant_id=world.tenant_id,
                person_id=newcomer.id,
                role="head",
                scope_kind="school",
                scope_id=world.schools[115300],
            )
        )
        new_id = newcomer.id
    result = service.fire(view.id, utc(2026, 11, 30, 8, 0))
    assert result.recipients == 2
    assert {m.person_id for m in outbox(db)} == {world.people[WEST_HEAD], new_id}


def test_a_channel_reminder_goes_to_the_conversation(
    db: Database, world: World, service: ReminderService
) -> None:
    view = service.create(actor(db, world, OFFICER), "<#C0NE|north-east> tomorrow 10am hi")
    service.fire(view.id, utc(2026, 11, 25, 10, 0))
    [message] = outbox(db)
    assert message.key == f"reminder:{view.id}:2026-11-25T10:00:channel"
    assert (message.platform, message.workspace_id, message.conversation_id) == (
        "slack",
        world.workspace,
        "C0NE",
    )
    assert message.person_id is None


def test_a_school_day_reminder_skips_days_the_calendar_closes(
    db: Database, world: World, service: ReminderService
) -> None:
    view = service.create(actor(db, world, HEAD), "me every school day at 8:15 log visits")
    # Friday 18 December is the last day of term; the next school day is Monday 4 January.
    friday = service.fire(view.id, utc(2026, 12, 18, 8, 15))
    assert friday.enqueued == 1 and friday.next_due == utc(2027, 1, 4, 8, 15)
    # A weekday in the holidays (as a Monday-to-Friday cron would fire it): nothing is sent.
    holiday = service.fire(view.id, utc(2026, 12, 21, 8, 15))
    assert holiday.enqueued == 0 and holiday.skipped == "not a school day"
    assert len(outbox(db)) == 1
    assert aware(row(db, view.id).next_due) == utc(2027, 1, 4, 8, 15)


def test_a_weekly_reminders_next_due_keeps_local_time_across_the_clock_change(
    db: Database, world: World, clock: FakeClock
) -> None:
    clock.current = utc(2026, 10, 14, 12, 0)
    service = ReminderService(db, clock, calendars=calendar_2026)
    view = service.create(actor(db, world, HEAD), "me every Monday at 8:00 plan the week")
    assert view.next_due == utc(2026, 10, 19, 7, 0)  # 08:00 BST
    result = service.fire(view.id, utc(2026, 10, 19, 7, 0))
    assert result.next_due == utc(2026, 10, 26, 8, 0)  # 08:00 GMT


def test_a_cancelled_reminder_does_not_fire(
    db: Database, world: World, service: ReminderService
) -> None:
    head = actor(db, world, HEAD)
    view = service.create(head, "me tomorrow 9am hi")
    service.cancel(head, view.id)
    assert service.fire(view.id, utc(2026, 11, 25, 9, 0)).skipped == "not active"
    assert outbox(db) == []


def test_a_missed_one_off_is_skipped_and_marked_done(
    db: Database, world: World, service: ReminderService, clock: FakeClock
) -> None:
    view = service.create(actor(db, world, HEAD), "me tomorrow 9am hi")
    clock.current = utc(2026, 11, 25, 12, 0)
    assert service.skip_missed(view.id, utc(2026, 11, 25, 9, 0)) is None
    assert row(db, view.id).status == DONE
    assert outbox(db) == []


def test_a_missed_recurrence_moves_on_to_its_next_occurrence(
    db: Database, world: World, service: ReminderService, clock: FakeClock
) -> None:
    view = service.create(actor(db, world, HEAD), "me every Monday at 8:00 hi")
    clock.current = utc(2026, 12, 2, 12, 0)  # the Monday 30 Nov occurrence was missed
    assert service.skip_missed(view.id, utc(2026, 11, 30, 8, 0)) == utc(2026, 12, 7, 8, 0)
    assert row(db, view.id).status == ACTIVE
    assert outbox(db) == []


def test_schedules_for_the_scheduler(
    db: Database, world: World, service: ReminderService, clock: FakeClock
) -> None:
    head = actor(db, world, HEAD)
    a = service.create(head, "me tomorrow 9am a")
    clock.advance(minutes=1)
    b = service.create(head, "me every Monday at 8:00 b")
    clock.advance(minutes=1)
    service.cancel(head, a.id)
    assert [r.id for r in service.schedules()] == [b.id]
    changed = service.schedules(changed_since=NOW + timedelta(seconds=30))
    assert {(r.id, r.status) for r in changed} == {(a.id, CANCELLED), (b.id, ACTIVE)}
    [weekly] = service.schedules()
    assert weekly.schedule == Weekly((0,), time(8, 0))
    assert weekly.zone == LONDON
    assert weekly.next_due == utc(2026, 11, 30, 8, 0)


def test_a_term_reminder_waits_for_next_years_term_dates(
    db: Database, world: World, clock: FakeClock
) -> None:
    summer = Term("2026-27", "Summer", date(2027, 4, 12), date(2027, 7, 21))
    known = {"calendar": TenantCalendar([summer])}
    service = ReminderService(db, clock, calendars=lambda _tenant: known["calendar"])
    head = actor(db, world, HEAD)
    view = service.create(head, "me first school day of each term termly returns")
    first = utc(2027, 4, 12, 7, 30)  # 08:30 BST
    assert view.next_due == first
    clock.current = first
    assert service.fire(view.id, first).next_due is None
    stored = row(db, view.id)
    assert stored.status == ACTIVE and stored.next_due is None  # waiting, not finished
    assert service.resume_waiting() == []
    autumn = Term("2027-28", "Autumn", date(2027, 9, 2), date(2027, 12, 17))
    known["calendar"] = TenantCalendar([summer, autumn])
    assert service.resume_waiting() == [view.id]
    assert aware(row(db, view.id).next_due) == utc(2027, 9, 2, 7, 30)
