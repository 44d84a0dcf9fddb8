"""Healthcheck rounds: who may launch, who is asked, when; prompts, nudges, close, recurrence
and live response rates.

Every date below is worked out by hand from `calendar_2026` in `healthcheck_rounds_world`
(autumn term 2 Sep to 18 Dec 2026, half term 26 to 30 Oct; spring from Mon 4 Jan 2027); the
comment by each says how. British Summer Time ends on Sun 25 Oct 2026: before it 09:00 in
London is 08:00 UTC, after it 09:00 UTC.

Prompts and nudges go only to people with a chat account at the time: Fay (WEST_HEAD, head of
115200) has none, so she is invited but sent nothing unless a test links her.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.reply_codec import reply_from_json
from bot.services.healthcheck import rounds
from bot.services.healthcheck.audience import Invitee, Scope
from bot.services.healthcheck.prompts import START_ACTION
from bot.services.healthcheck.responses import answered_invitation_ids
from bot.services.healthcheck.rounds import (
    CLOSED,
    OPEN,
    SCHEDULED,
    TERM,
    Launched,
    LaunchError,
    LaunchRequest,
    NudgePlan,
    Rate,
    RoundService,
    nudge_times,
)
from bot.services.outbox import enqueue_many
from bot.types import Actions, Role, ScopeKind
from storage.engine import Database
from storage.models import Quadrant
from storage.outbox_tables import OutboxMessage
from storage.survey_tables import SurveyDraft, SurveyResponse, SurveyRound
from tests.fakes.clock import FakeClock
from tests.services.healthcheck_rounds_world import (
    ADMIN,
    BOARD,
    CHAIR,
    EPPING_HEAD,
    HARLOW,
    HARLOW_LEAD,
    HEAD,
    KEYS,
    LEAD,
    MEADOWS_HEAD,
    OFFICER,
    OLD_MILL_HEAD,
    TENDRING,
    WEST_HEAD,
    RoundsWorld,
    build_rounds_world,
    calendar_2026,
)

NOW = datetime(2026, 10, 19, 9, 0, tzinfo=UTC)  # Mon 19 Oct 2026, 10:00 BST

# The round most tests launch: opens Wed 21 Oct 09:00 BST, closes Fri 6 Nov 17:00 GMT.
OPENS = datetime(2026, 10, 21, 8, 0, tzinfo=UTC)
CLOSES = datetime(2026, 11, 6, 17, 0, tzinfo=UTC)
# The default nudges, at the open's local time (09:00), counting school days after Wed 21 Oct:
#   3rd: Thu 22, Fri 23, (half term 26-30 Oct), Mon 2 Nov  -> Mon 2 Nov 09:00 GMT
#   6th: Tue 3, Wed 4, Thu 5 Nov                           -> Thu 5 Nov 09:00 GMT
#   last school day before the close (Fri 6 Nov 17:00)     -> Fri 6 Nov 09:00 GMT
NUDGES = (
    datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
    datetime(2026, 11, 5, 9, 0, tzinfo=UTC),
    datetime(2026, 11, 6, 9, 0, tzinfo=UTC),
)
LAUNCHER_TEXT = "Only Project Board members, LA officers and administrators may launch"


@pytest.fixture
def rw(db: Database) -> RoundsWorld:
    return build_rounds_world(db)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def service(db: Database, clock: FakeClock) -> RoundService:
    return RoundService(db, clock, calendar_2026, keys=KEYS)


def request(
    template: str = "school_checkin",
    role: Role = Role.HEAD,
    scope: Scope | None = None,
    *,
    opens_on: date = date(2026, 10, 21),
    opens_time: time = time(9, 0),
    closes_on: date = date(2026, 11, 6),
    closes_time: time = time(17, 0),
    anonymous: bool = False,
    nudges: NudgePlan | None = None,
    recurrence: str | None = None,
) -> LaunchRequest:
    return LaunchRequest(
        template_id=template,
        audience_role=role,
        scope=scope or Scope(ScopeKind.COUNTY),
        opens_on=opens_on,
        opens_time=opens_time,
        closes_on=closes_on,
        closes_time=closes_time,
        anonymous=anonymous,
        nudges=nudges or NudgePlan(),
        recurrence=recurrence,
    )


def invited(rw: RoundsWorld, round_id: int) -> set[tuple[int, str, int]]:
    return {(i.person_id, i.subject_kind, i.subject_id) for i in rw.invitations(round_id)}


def outbox(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.key))).all())


def keys_of(db: Database, prefix: str = "survey:") -> list[str]:
    return [m.key for m in outbox(db) if m.key.startswith(prefix)]


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def count(db: Database, table: Any) -> int:
    with db.session() as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


# --- who may launch --------------------------------------------------------------------------


@pytest.mark.parametrize("launcher", [BOARD, OFFICER, ADMIN])
def test_board_members_officers_and_administrators_may_launch(
    rw: RoundsWorld, service: RoundService, launcher: str
) -> None:
    launched = service.launch(rw.actor(launcher), request())
    stored = rw.round(launched.round_id)
    assert stored.launched_by == rw.person(launcher)
    assert stored.tenant_id == rw.tenant_id
    assert stored.status == SCHEDULED
    assert stored.template_snapshot["id"] == "school_checkin"


@pytest.mark.parametrize("who", [HEAD, CHAIR, LEAD])
def test_heads_chairs_and_leads_may_not_launch_and_are_told_who_may(
    db: Database, rw: RoundsWorld, service: RoundService, who: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        service.launch(rw.actor(who), request())
    assert LAUNCHER_TEXT in caught.value.message
    assert count(db, SurveyRound) == 0


# --- who is asked ----------------------------------------------------------------------------


def test_heads_of_a_quadrant_are_the_heads_of_its_open_schools(
    rw: RoundsWorld, service: RoundService
) -> None:
    west = service.launch(
        rw.actor(OFFICER), request(scope=Scope(ScopeKind.QUADRANT, rw.quadrant("West")))
    )
    # West's open schools: 115200 (Fay), 115201 (Ivy), 115202 (Jon); Old Mill (115300, Hal)
    # is closed.
    assert invited(rw, west.round_id) == {
        (rw.person(WEST_HEAD), "school", rw.school(115200)),
        (rw.person(MEADOWS_HEAD), "school", rw.school(115201)),
        (rw.person(EPPING_HEAD), "school", rw.school(115202)),
    }
    assert rw.person(OLD_MILL_HEAD) not in {i.person_id for i in rw.invitations(west.round_id)}
    assert (west.invitations, west.people) == (3, 3)
    assert west.audience == "Heads in West"
    north_east = service.launch(
        rw.actor(OFFICER), request(scope=Scope(ScopeKind.QUADRANT, rw.quadrant("North East")))
    )
    assert invited(rw, north_east.round_id) == {
        (rw.person(HEAD), "school", rw.school(115141)),
        (rw.person(LEAD), "school", rw.school(115142)),
    }
    # A named round files each response under the school itself.
    assert {
        (i.response_subject_kind, i.response_subject_id)
        for i in rw.invitations(north_east.round_id)
    } == {("school", rw.school(115141)), ("school", rw.school(115142))}


def test_the_audience_is_frozen_at_launch(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    launched = service.launch(
        rw.actor(OFFICER), request(scope=Scope(ScopeKind.QUADRANT, rw.quadrant("West")))
    )
    before = invited(rw, launched.round_id)
    late = rw.add_head("Lou Latecomer", "lou.head@schools.example.org", 115203, "Late Lane", "West")
    clock.current = OPENS
    outcome = service.tick()
    assert invited(rw, launched.round_id) == before
    # West's invitations are Fay, Ivy and Jon; Fay has no chat account: Ivy and Jon are asked.
    assert outcome.prompts == 2
    assert {m.person_id for m in outbox(db)} == {rw.person(MEADOWS_HEAD), rw.person(EPPING_HEAD)}
    assert late not in {m.person_id for m in outbox(db)}


def test_a_partnership_template_asks_each_head_once_per_partnership_of_their_school(
    rw: RoundsWorld, service: RoundService
) -> None:
    county = service.launch(rw.actor(BOARD), request("partnership_healthcheck"))
    tendring, harlow = rw.partnership(TENDRING), rw.partnership(HARLOW)
    # Ada's school is in both partnerships; Jon's in none; Hal's school is closed.
    assert invited(rw, county.round_id) == {
        (rw.person(HEAD), "partnership", tendring),
        (rw.person(HEAD), "partnership", harlow),
        (rw.person(LEAD), "partnership", tendring),
        (rw.person(WEST_HEAD), "partnership", harlow),
        (rw.person(MEADOWS_HEAD), "partnership", harlow),
    }
    assert (county.invitations, county.people) == (5, 4)
    # Within a quadrant only its partnerships count: Ada answers for Tendring alone.
    north_east = service.launch(
        rw.actor(BOARD),
        request(
            "partnership_healthcheck", scope=Scope(ScopeKind.QUADRANT, rw.quadrant("North East"))
        ),
    )
    assert invited(rw, north_east.round_id) == {
        (rw.person(HEAD), "partnership", tendring),
        (rw.person(LEAD), "partnership", tendring),
    }
    one = service.launch(
        rw.actor(BOARD),
        request("partnership_healthcheck", scope=Scope(ScopeKind.PARTNERSHIP, harlow)),
    )
    assert invited(rw, one.round_id) == {
        (rw.person(p), "partnership", harlow) for p in (HEAD, WEST_HEAD, MEADOWS_HEAD)
    }
    assert one.audience == f"Heads of {HARLOW}"


def test_partnership_leads_answer_for_their_partnership(
    rw: RoundsWorld, service: RoundService
) -> None:
    launched = service.launch(
        rw.actor(OFFICER), request("partnership_healthcheck", Role.PARTNERSHIP_LEAD)
    )
    assert invited(rw, launched.round_id) == {
        (rw.person(LEAD), "partnership", rw.partnership(TENDRING)),
        (rw.person(HARLOW_LEAD), "partnership", rw.partnership(HARLOW)),
    }
    assert launched.audience == "Partnership leads, all of Essex"
    with pytest.raises(LaunchError) as caught:
        service.launch(rw.actor(OFFICER), request("school_checkin", Role.PARTNERSHIP_LEAD))
    assert caught.value.field == "audience"


def test_an_anonymous_school_round_files_responses_under_partnership_or_quadrant(
    rw: RoundsWorld, service: RoundService
) -> None:
    launched = service.launch(rw.actor(OFFICER), request(anonymous=True))
    filed = {
        i.person_id: (i.subject_kind, i.subject_id, i.response_subject_kind, i.response_subject_id)
        for i in rw.invitations(launched.round_id)
    }
    tendring, harlow = rw.partnership(TENDRING), rw.partnership(HARLOW)
    assert filed == {
        # 115141 is in Tendring and Harlow: its first partnership (Tendring) takes it.
        rw.person(HEAD): ("school", rw.school(115141), "partnership", tendring),
        rw.person(LEAD): ("school", rw.school(115142), "partnership", tendring),
        rw.person(WEST_HEAD): ("school", rw.school(115200), "partnership", harlow),
        rw.person(MEADOWS_HEAD): ("school", rw.school(115201), "partnership", harlow),
        # No partnership: filed under the school's quadrant.
        rw.person(EPPING_HEAD): ("school", rw.school(115202), "quadrant", rw.quadrant("West")),
    }
    assert launched.anonymous and rw.round(launched.round_id).anonymous
    # A round for one partnership files every school under that partnership.
    one = service.launch(
        rw.actor(OFFICER), request(anonymous=True, scope=Scope(ScopeKind.PARTNERSHIP, harlow))
    )
    assert {
        (i.response_subject_kind, i.response_subject_id) for i in rw.invitations(one.round_id)
    } == {("partnership", harlow)}
    assert len(rw.invitations(one.round_id)) == 3  # Ada, Fay, Ivy


def test_an_anonymous_round_needs_the_anonymity_secret(
    db: Database, rw: RoundsWorld, clock: FakeClock
) -> None:
    keyless = RoundService(db, clock, calendar_2026, keys=None)
    with pytest.raises(LaunchError) as caught:
        keyless.launch(rw.actor(OFFICER), request(anonymous=True))
    assert caught.value.field == "privacy"
    assert "SLIS_ANONYMITY_PEPPER" in caught.value.message
    assert count(db, SurveyRound) == 0
    assert keyless.launch(rw.actor(OFFICER), request()).invitations == 5  # named is fine


def test_an_empty_audience_or_a_scope_of_another_directory_is_refused(
    db: Database, rw: RoundsWorld, service: RoundService
) -> None:
    with db.session() as s:
        south = Quadrant(tenant_id=rw.tenant_id, name="South")
        s.add(south)
        s.flush()
        assert south.id is not None
        south_id = south.id
    with pytest.raises(LaunchError) as caught:
        service.launch(rw.actor(OFFICER), request(scope=Scope(ScopeKind.QUADRANT, south_id)))
    assert caught.value.field == "scope"
    assert "no heads in south" in caught.value.message
    other = build_rounds_world(db, la_code=882, name="Suffolk", workspace="T0OTHER")
    with pytest.raises(NotFound):
        service.launch(
            rw.actor(OFFICER),
            request(scope=Scope(ScopeKind.PARTNERSHIP, other.partnership(HARLOW))),
        )
    assert count(db, SurveyRound) == 0


def test_a_launch_freezes_more_invitations_than_one_statement_has_parameters_for(
    rw: RoundsWorld, service: RoundService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """9 columns an invitation: 8,000 in one INSERT ... VALUES would be 72,000 parameters, past
    PostgreSQL's 65,535 and SQLite's limit."""
    many = [Invitee(rw.person(HEAD), "school", 10**6 + n, "school", 10**6 + n) for n in range(8000)]
    monkeypatch.setattr(rounds, "resolve", lambda *args, **kwargs: many)
    launched = service.launch(rw.actor(OFFICER), request())
    assert (launched.invitations, launched.people) == (8000, 1)
    assert len(rw.invitations(launched.round_id)) == 8000


# --- when -------------------------------------------------------------------------------------


def test_default_nudges_fall_on_school_days_3_and_6_after_the_open_and_the_last_day(
    rw: RoundsWorld, service: RoundService
) -> None:
    launched = service.launch(rw.actor(OFFICER), request())
    assert launched.opens_at == OPENS
    assert launched.closes_at == CLOSES
    assert launched.moved is None
    assert launched.nudges == NUDGES
    assert all(OPENS < t < CLOSES for t in launched.nudges)
    calendar = calendar_2026()
    assert all(calendar.is_school_day(t.astimezone(calendar.tz).date()) for t in NUDGES)
    assert all(t.astimezone(calendar.tz).time() == time(9, 0) for t in NUDGES)
    stored = rw.round(launched.round_id)
    assert [datetime.fromisoformat(t) for t in stored.nudge_plan["at"]] == list(NUDGES)
    assert stored.nudge_plan["after_school_days"] == [3, 6]
    assert stored.nudge_plan["last_day"] is True


def test_nudge_times_drop_days_past_the_close_and_one_a_day_at_most() -> None:
    calendar = calendar_2026()
    # Opens Thu 22 Oct 09:00 BST, closes Mon 2 Nov 12:00 GMT: the 3rd school day (Mon 2 Nov,
    # after half term) is also the last day, and the 6th (Thu 5 Nov) is after the close.
    opens = datetime(2026, 10, 22, 8, 0, tzinfo=UTC)
    closes = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert nudge_times(calendar, opens, closes, NudgePlan()) == [
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    ]
    # A close before the usual time on the last day: that day's nudge comes in the morning.
    early_close = datetime(2026, 11, 6, 8, 30, tzinfo=UTC)
    assert nudge_times(calendar, OPENS, early_close, NudgePlan((), last_day=True)) == [
        datetime(2026, 11, 6, 8, 0, tzinfo=UTC)
    ]
    assert nudge_times(calendar, OPENS, CLOSES, NudgePlan((), last_day=False)) == []


@pytest.mark.parametrize(
    ("opens_on", "why"),
    [
        (date(2026, 10, 24), "Sat 24 Oct is not a school day (weekend)"),
        (date(2026, 10, 27), "Tue 27 Oct is not a school day (half term)"),
    ],
)
def test_an_open_date_on_a_weekend_or_holiday_moves_to_the_next_school_day(
    rw: RoundsWorld, service: RoundService, opens_on: date, why: str
) -> None:
    launched = service.launch(rw.actor(OFFICER), request(opens_on=opens_on))
    # Half term runs Mon 26 to Fri 30 Oct: the next school day is Mon 2 Nov (09:00 GMT).
    assert launched.opens_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert launched.moved == why
    assert utc(rw.round(launched.round_id).opens_at) == launched.opens_at


def test_an_open_time_outside_sending_hours_moves_to_the_next_slot(
    rw: RoundsWorld, service: RoundService
) -> None:
    launched = service.launch(rw.actor(OFFICER), request(opens_time=time(19, 0)))
    # Wed 21 Oct 19:00 is after 18:00: the next slot is Thu 22 Oct 07:30 BST.
    assert launched.opens_at == datetime(2026, 10, 22, 6, 30, tzinfo=UTC)
    assert launched.moved == "that time is outside the hours the bot sends messages"


def test_a_close_before_the_open_is_refused(
    db: Database, rw: RoundsWorld, service: RoundService
) -> None:
    with pytest.raises(LaunchError) as caught:
        service.launch(rw.actor(OFFICER), request(closes_on=date(2026, 10, 20)))
    assert caught.value.field == "closes_on"
    # An open moved past the close is refused too, and the message says when it would open.
    with pytest.raises(LaunchError) as moved:
        service.launch(
            rw.actor(OFFICER), request(opens_on=date(2026, 10, 27), closes_on=date(2026, 10, 30))
        )
    assert moved.value.field == "closes_on"
    assert "Mon 2 Nov 09:00" in moved.value.message
    with pytest.raises(LaunchError) as past:
        service.launch(rw.actor(OFFICER), request(opens_on=date(2026, 10, 16)))
    assert past.value.field == "opens_on"
    assert count(db, SurveyRound) == 0


# --- warnings ---------------------------------------------------------------------------------


def test_warnings_name_people_without_chat_and_small_anonymous_groups(
    rw: RoundsWorld, service: RoundService
) -> None:
    named = service.launch(rw.actor(OFFICER), request())
    # Fay (115200) has no chat account; small groups only matter when anonymous.
    assert len(named.warnings) == 1
    assert named.warnings[0].startswith("1 of the 5 people have no chat account linked yet")
    # It says what that means for them: nothing until linked, then the nudges.
    assert "get no message until they are" in named.warnings[0]
    assert "each nudge reaches them" in named.warnings[0]
    anonymous = service.launch(rw.actor(OFFICER), request(anonymous=True))
    # Groups: Tendring (Ada, Ben) 2, Harlow (Fay, Ivy) 2, quadrant West (Jon) 1: all under 3.
    assert len(anonymous.warnings) == 2
    assert anonymous.warnings[1].startswith("3 of the 3 groups have fewer than 3 people invited")
    harlow = service.launch(
        rw.actor(OFFICER),
        request(anonymous=True, scope=Scope(ScopeKind.PARTNERSHIP, rw.partnership(HARLOW))),
    )
    # One group of three (Ada, Fay, Ivy): nothing small; Fay is still unlinked.
    assert [w.split(":")[0] for w in harlow.warnings] == [
        "1 of the 3 people have no chat account linked yet"
    ]
    linked_only = service.launch(
        rw.actor(OFFICER), request(scope=Scope(ScopeKind.QUADRANT, rw.quadrant("North East")))
    )
    assert linked_only.warnings == ()


# --- tick: open, nudge, close ------------------------------------------------------------------


def launch_named(rw: RoundsWorld, service: RoundService) -> Launched:
    """The school check-in to every head, named: Ada, Ben, Fay, Ivy and Jon."""
    return service.launch(rw.actor(OFFICER), request())


def test_nothing_happens_before_the_open(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    launched = launch_named(rw, service)
    clock.current = OPENS - timedelta(seconds=1)
    outcome = service.tick()
    assert (outcome.opened, outcome.prompts, outcome.nudges, outcome.closed) == ([], 0, 0, [])
    assert rw.round(launched.round_id).status == SCHEDULED
    assert outbox(db) == []


def test_at_the_open_every_linked_invitation_gets_one_prompt_once(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    launched = launch_named(rw, service)
    rid = launched.round_id
    clock.current = OPENS
    outcome = service.tick()
    # Five invitations; Fay has no chat account: Ada, Ben, Ivy and Jon get a prompt.
    assert outcome.opened == [rid] and outcome.prompts == 4
    assert rw.round(rid).status == OPEN
    rows = outbox(db)
    invitations = [i for i in rw.invitations(rid) if i.person_id != rw.person(WEST_HEAD)]
    assert len(invitations) == 4
    assert sorted(m.key for m in rows) == sorted(f"survey:{rid}:prompt:{i.id}" for i in invitations)
    by_key = {m.key: m for m in rows}
    for invitation in invitations:
        message = by_key[f"survey:{rid}:prompt:{invitation.id}"]
        assert message.person_id == invitation.person_id
        assert message.tenant_id == rw.tenant_id
        assert utc(message.not_before) == OPENS
    # The prompt names the school and the close, and its button carries the invitation.
    ada = by_key[f"survey:{rid}:prompt:{rw.invitation(rid, HEAD)}"]
    reply = reply_from_json(ada.payload)
    assert "All Saints Primary School, Great Oakley" in reply.text
    assert "Fri 6 Nov 17:00" in reply.text
    [actions] = [b for b in reply.blocks if isinstance(b, Actions)]
    assert actions.buttons[0].action_id == START_ACTION
    assert actions.buttons[0].value == str(rw.invitation(rid, HEAD))
    # Running the tick again (a restart, another leader) adds nothing.
    again = service.tick()
    assert (again.opened, again.prompts, again.nudges) == ([], 0, 0)
    assert len(outbox(db)) == 4


def test_nudges_go_only_to_those_who_have_not_answered_a_named_round(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    rid = launch_named(rw, service).round_id
    clock.current = OPENS
    service.tick()
    rw.answer(rid, HEAD, OPENS + timedelta(hours=1))
    rw.answer(rid, WEST_HEAD, OPENS + timedelta(hours=2))
    clock.current = NUDGES[0] - timedelta(seconds=1)
    assert service.tick().nudges == 0
    clock.current = NUDGES[0]
    assert service.tick().nudges == 3
    waiting = {rw.invitation(rid, e) for e in (LEAD, MEADOWS_HEAD, EPPING_HEAD)}
    assert keys_of(db, f"survey:{rid}:nudge1:") == sorted(
        f"survey:{rid}:nudge1:{i}" for i in waiting
    )
    assert all(
        utc(m.not_before) == NUDGES[0]
        for m in outbox(db)
        if m.key.startswith(f"survey:{rid}:nudge1")
    )
    [first_nudge, *_] = [m for m in outbox(db) if ":nudge1:" in m.key]
    nudge = reply_from_json(first_nudge.payload)
    assert nudge.text.startswith("School check-in for ")
    assert any("A reminder" in getattr(b, "text", "") for b in nudge.blocks)
    assert service.tick().nudges == 0  # again: nothing
    assert rw.round(rid).nudges_done == 1


def test_a_nudge_missed_by_more_than_12_hours_is_passed_over(
    db: Database,
    rw: RoundsWorld,
    service: RoundService,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rid = launch_named(rw, service).round_id
    clock.current = OPENS
    service.tick()
    # Down from before the first nudge until 13 hours after it.
    clock.current = NUDGES[0] + timedelta(hours=13)
    with caplog.at_level(logging.WARNING, logger="bot.services.healthcheck.rounds"):
        outcome = service.tick()
    assert outcome.nudges == 0
    assert keys_of(db, f"survey:{rid}:nudge") == []
    assert rw.round(rid).nudges_done == 1
    assert f"round {rid}: nudge 1 is too late to send; passed over" in caplog.text
    # The second is sent at its time, to the four with a chat account (not Fay).
    clock.current = NUDGES[1]
    assert service.tick().nudges == 4
    assert len(keys_of(db, f"survey:{rid}:nudge2:")) == 4


def test_a_late_nudge_within_the_grace_waits_for_the_sending_hours(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    launch_named(rw, service)
    clock.current = OPENS
    service.tick()
    # Nudge 1 (Mon 2 Nov 09:00) caught up at 20:00, inside the 12 hours' grace but after 18:00:
    # it waits for Tue 3 Nov 07:30 rather than arriving in the evening.
    clock.current = NUDGES[0] + timedelta(hours=11)
    assert service.tick().nudges == 4  # nobody answered; Fay has no chat account
    assert {utc(m.not_before) for m in outbox(db) if ":nudge1:" in m.key} == {
        datetime(2026, 11, 3, 7, 30, tzinfo=UTC)
    }


def test_an_open_caught_up_after_hours_waits_for_the_next_slot(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    launch_named(rw, service)
    clock.current = datetime(2026, 10, 21, 19, 0, tzinfo=UTC)  # 20:00 BST, the bot was down
    assert service.tick().prompts == 4  # Fay has no chat account
    # Thu 22 Oct 07:30 BST.
    assert {utc(m.not_before) for m in outbox(db)} == {datetime(2026, 10, 22, 6, 30, tzinfo=UTC)}


def test_an_unlinked_invitee_gets_nothing_until_linked_then_the_next_nudge(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    rid = launch_named(rw, service).round_id
    fay, fays = rw.person(WEST_HEAD), rw.invitation(rid, WEST_HEAD)
    clock.current = OPENS
    assert service.tick().prompts == 4  # Ada, Ben, Ivy, Jon
    # No row for Fay at all: nothing for the relay to park, no administrator alert.
    assert [m.key for m in outbox(db) if m.person_id == fay] == []
    assert f"survey:{rid}:prompt:{fays}" not in keys_of(db)
    assert keys_of(db, "outbox-alert:") == []
    # Still unlinked at the first nudge: the four others are nudged, she is not.
    clock.current = NUDGES[0]
    assert service.tick().nudges == 4
    assert [m.key for m in outbox(db) if m.person_id == fay] == []
    # She uses the bot and is linked: the next nudge reaches her too (nobody has answered).
    rw.link(WEST_HEAD)
    clock.current = NUDGES[1]
    assert service.tick().nudges == 5
    [row] = [m for m in outbox(db) if m.person_id == fay]
    assert row.key == f"survey:{rid}:nudge2:{fays}"
    assert utc(row.not_before) == NUDGES[1]
    nudge = reply_from_json(row.payload)
    assert "Harlow Fields Primary School" in nudge.text
    assert any("A reminder" in getattr(b, "text", "") for b in nudge.blocks)
    [actions] = [b for b in nudge.blocks if isinstance(b, Actions)]
    assert actions.buttons[0].value == str(fays)
    # The prompt she missed is not sent late.
    assert f"survey:{rid}:prompt:{fays}" not in keys_of(db)
    assert keys_of(db, "outbox-alert:") == []


def test_prompts_and_nudges_are_written_in_batches_once_each(
    db: Database,
    rw: RoundsWorld,
    service: RoundService,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[int] = []
    real = enqueue_many

    def spy(*args: Any, **kwargs: Any) -> int:
        batches.append(len(kwargs["messages"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(rounds, "SEND_BATCH", 2)
    monkeypatch.setattr(rounds, "enqueue_many", spy)
    rw.link(WEST_HEAD)  # all five invitees can be reached
    rid = launch_named(rw, service).round_id
    clock.current = OPENS
    outcome = service.tick()
    # Five prompts, two a batch: 2, 2 and 1.
    assert outcome.opened == [rid] and outcome.prompts == 5
    assert batches == [2, 2, 1]
    assert keys_of(db) == sorted(f"survey:{rid}:prompt:{i.id}" for i in rw.invitations(rid))
    assert rw.round(rid).status == OPEN
    again = service.tick()
    assert (again.opened, again.prompts, again.nudges) == ([], 0, 0)
    assert batches == [2, 2, 1] and len(outbox(db)) == 5
    # Nobody has answered: five nudges, in the same batches, once.
    clock.current = NUDGES[0]
    assert service.tick().nudges == 5
    assert batches == [2, 2, 1, 2, 2, 1]
    assert len(keys_of(db, f"survey:{rid}:nudge1:")) == 5
    assert rw.round(rid).nudges_done == 1
    assert service.tick().nudges == 0
    assert len(outbox(db)) == 10


def test_a_fault_between_batches_is_finished_by_the_next_tick_without_repeats(
    db: Database,
    rw: RoundsWorld,
    service: RoundService,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    real = enqueue_many

    def second_batch_fails_once(*args: Any, **kwargs: Any) -> int:
        calls.append(len(kwargs["messages"]))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(rounds, "SEND_BATCH", 2)
    monkeypatch.setattr(rounds, "enqueue_many", second_batch_fails_once)
    rw.link(WEST_HEAD)
    rid = launch_named(rw, service).round_id
    clock.current = OPENS
    with caplog.at_level(logging.ERROR, logger="bot.services.healthcheck.rounds"):
        outcome = service.tick()
    # The first batch (2 rows) is in; the round is not open yet.
    assert (outcome.opened, outcome.prompts) == ([], 0)
    assert len(keys_of(db)) == 2
    assert rw.round(rid).status == SCHEDULED
    assert f"round {rid}: _open failed; trying again at the next tick" in caplog.text
    # The next tick writes the whole list again; the two already there add nothing.
    outcome = service.tick()
    assert outcome.opened == [rid] and outcome.prompts == 3
    assert keys_of(db) == sorted(f"survey:{rid}:prompt:{i.id}" for i in rw.invitations(rid))
    assert rw.round(rid).status == OPEN


def test_a_round_whose_whole_window_passed_unseen_is_closed_without_prompts(
    db: Database,
    rw: RoundsWorld,
    service: RoundService,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rid = launch_named(rw, service).round_id
    # Nothing ran the rounds from before the open (Wed 21 Oct) until after the close.
    clock.current = CLOSES + timedelta(hours=1)
    with caplog.at_level(logging.WARNING, logger="bot.services.healthcheck.rounds"):
        outcome = service.tick()
    assert outcome.opened == [rid] and outcome.closed == [rid]
    assert (outcome.prompts, outcome.nudges) == (0, 0)
    assert f"round {rid}: its whole window passed unseen; no prompts" in caplog.text
    assert outbox(db) == []
    closed = rw.round(rid)
    assert closed.status == CLOSED and closed.nudges_done == 0
    assert closed.closed_at is not None and utc(closed.closed_at) == CLOSES + timedelta(hours=1)
    clock.advance(days=1)
    later = service.tick()
    assert (later.opened, later.closed, later.prompts, later.nudges) == ([], [], 0, 0)
    assert outbox(db) == []


def test_a_prompt_that_would_arrive_after_the_close_is_not_written(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    # Open Wed 21 Oct 09:00 BST, close the same day at 23:00 BST (22:00 UTC): no nudges, as
    # the 3rd and 6th school days and the last day are none of them after the open's day.
    launched = service.launch(
        rw.actor(OFFICER), request(closes_on=date(2026, 10, 21), closes_time=time(23, 0))
    )
    rid = launched.round_id
    assert launched.closes_at == datetime(2026, 10, 21, 22, 0, tzinfo=UTC)
    assert launched.nudges == ()
    # Caught up at 20:00 BST, after the sending hours: the next slot (Thu 22 Oct 07:30 BST)
    # is after the close, so nothing is written; the round opens all the same.
    clock.current = datetime(2026, 10, 21, 19, 0, tzinfo=UTC)
    outcome = service.tick()
    assert outcome.opened == [rid] and outcome.prompts == 0
    assert outbox(db) == []
    assert rw.round(rid).status == OPEN
    clock.current = launched.closes_at
    assert service.tick().closed == [rid]
    assert outbox(db) == []


def test_a_fault_in_one_round_does_not_hold_up_another(
    db: Database,
    rw: RoundsWorld,
    service: RoundService,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = launch_named(rw, service).round_id  # Ada, Ben, Fay, Ivy, Jon
    good = service.launch(
        rw.actor(OFFICER), request(scope=Scope(ScopeKind.QUADRANT, rw.quadrant("North East")))
    ).round_id  # Ada and Ben
    broken = {bad}
    real_names = rounds.subject_names

    def names(s: Any, tenant_id: int, invitations: Any) -> Any:
        if any(i.round_id in broken for i in invitations):
            raise RuntimeError("the directory is unreadable")
        return real_names(s, tenant_id, invitations)

    monkeypatch.setattr(rounds, "subject_names", names)
    clock.current = OPENS
    with caplog.at_level(logging.ERROR, logger="bot.services.healthcheck.rounds"):
        outcome = service.tick()
    assert outcome.opened == [good] and outcome.prompts == 2
    assert keys_of(db) == sorted(f"survey:{good}:prompt:{i.id}" for i in rw.invitations(good))
    assert rw.round(bad).status == SCHEDULED
    assert f"round {bad}: _open failed; trying again at the next tick" in caplog.text
    # Mended: the next tick opens it (four prompts: Fay has no chat account).
    broken.clear()
    outcome = service.tick()
    assert outcome.opened == [bad] and outcome.prompts == 4
    # A nudge step that fails for one round: the other's nudges still go.
    real_answered = answered_invitation_ids

    def answered(s: Any, row: SurveyRound, keys: Any) -> set[int]:
        if row.id == bad:
            raise RuntimeError("the responses are unreadable")
        return real_answered(s, row, keys)

    monkeypatch.setattr(rounds, "answered_invitation_ids", answered)
    caplog.clear()
    clock.current = NUDGES[0]
    with caplog.at_level(logging.ERROR, logger="bot.services.healthcheck.rounds"):
        outcome = service.tick()
    assert outcome.nudges == 2  # Ada and Ben, for the North East round
    assert keys_of(db, f"survey:{good}:nudge1:") == sorted(
        f"survey:{good}:nudge1:{i.id}" for i in rw.invitations(good)
    )
    assert keys_of(db, f"survey:{bad}:nudge") == []
    assert (rw.round(bad).nudges_done, rw.round(good).nudges_done) == (0, 1)
    assert f"round {bad}: _step failed; trying again at the next tick" in caplog.text


def test_the_close_closes_the_named_round_and_drops_its_drafts(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    rid = launch_named(rw, service).round_id
    other = service.launch(rw.actor(OFFICER), request(closes_on=date(2026, 12, 4))).round_id
    clock.current = OPENS
    service.tick()
    rw.answer(rid, HEAD, OPENS + timedelta(hours=1))
    with db.session() as s:
        s.add(SurveyDraft(key="draft-a", tenant_id=rw.tenant_id, round_id=rid, values={"p": 1}))
        s.add(SurveyDraft(key="draft-b", tenant_id=rw.tenant_id, round_id=other, values={}))
    for at in NUDGES:
        clock.current = at
        service.tick()
    assert rw.round(rid).nudges_done == 3
    clock.current = CLOSES - timedelta(seconds=1)
    assert service.tick().closed == []
    clock.current = CLOSES
    outcome = service.tick()
    assert outcome.closed == [rid]
    closed = rw.round(rid)
    assert closed.status == CLOSED
    assert closed.closed_at is not None and utc(closed.closed_at) == CLOSES
    with db.session() as s:
        assert s.exec(select(SurveyDraft.key)).all() == ["draft-b"]
    # Named: the respondent's invitation was answered when they answered, with its time.
    answered = {i.person_id: (i.answered, i.answered_at) for i in rw.invitations(rid)}
    assert answered[rw.person(HEAD)][0] is True
    assert answered[rw.person(HEAD)][1] is not None
    assert rw.round(other).status == OPEN
    # Nothing more for a closed round.
    clock.current = CLOSES + timedelta(days=1)
    before = len(outbox(db))
    assert service.tick().closed == []
    assert len(outbox(db)) == before


def test_an_anonymous_round_nudges_by_key_and_is_sealed_at_the_close(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    harlow = rw.partnership(HARLOW)
    rid = service.launch(
        rw.actor(OFFICER),
        request(anonymous=True, scope=Scope(ScopeKind.PARTNERSHIP, harlow)),
    ).round_id  # Ada, Fay and Ivy, all filed under Harlow Learning Trust
    clock.current = OPENS
    assert service.tick().prompts == 2  # Ada and Ivy; Fay has no chat account
    rw.answer(rid, HEAD, OPENS + timedelta(hours=1))
    # Answering writes nothing on the invitations of an anonymous round.
    assert all(not i.answered and i.answered_at is None for i in rw.invitations(rid))
    # Ada answered (found by her key), Fay cannot be reached: Ivy alone is nudged.
    clock.current = NUDGES[0]
    assert service.tick().nudges == 1
    assert keys_of(db, f"survey:{rid}:nudge") == [
        f"survey:{rid}:nudge1:{rw.invitation(rid, MEADOWS_HEAD)}"
    ]
    rw.answer(rid, MEADOWS_HEAD, NUDGES[0] + timedelta(hours=1))
    assert all(not i.answered and i.answered_at is None for i in rw.invitations(rid))
    with db.session() as s:
        responses = s.exec(select(SurveyResponse).where(SurveyResponse.round_id == rid)).all()
        assert len(responses) == 2
        assert all(r.respondent_person_id is None for r in responses)
        assert {(r.subject_kind, r.subject_id) for r in responses} == {("partnership", harlow)}
    old_ids = {r.id for r in responses}
    # Both have answered: the second nudge goes to nobody.
    clock.current = NUDGES[1]
    assert service.tick().nudges == 0
    assert keys_of(db, f"survey:{rid}:nudge2:") == []
    with db.session() as s:
        s.add(SurveyDraft(key="anon-draft", tenant_id=rw.tenant_id, round_id=rid, values={}))
    clock.current = CLOSES
    assert service.tick().closed == [rid]
    assert rw.round(rid).status == CLOSED
    sealed = {i.person_id: (i.answered, i.answered_at) for i in rw.invitations(rid)}
    assert sealed == {
        rw.person(HEAD): (True, None),
        rw.person(MEADOWS_HEAD): (True, None),
        rw.person(WEST_HEAD): (False, None),
    }
    with db.session() as s:
        after = s.exec(select(SurveyResponse).where(SurveyResponse.round_id == rid)).all()
        assert len(after) == 2 and not ({r.id for r in after} & old_ids)  # rewritten
        assert s.exec(select(SurveyDraft).where(SurveyDraft.round_id == rid)).all() == []


def test_a_process_without_the_secret_neither_nudges_nor_closes_an_anonymous_round(
    db: Database,
    rw: RoundsWorld,
    service: RoundService,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It cannot tell who answered: a nudge would reach respondents, and it cannot seal."""
    rid = service.launch(
        rw.actor(OFFICER),
        request(anonymous=True, scope=Scope(ScopeKind.PARTNERSHIP, rw.partnership(HARLOW))),
    ).round_id
    keyless = RoundService(db, clock, calendar_2026, keys=None)
    clock.current = OPENS
    assert keyless.tick().prompts == 2  # prompts need no secret; Ada and Ivy (Fay: no chat)
    rw.answer(rid, HEAD, OPENS)
    with caplog.at_level(logging.ERROR, logger="bot.services.healthcheck.rounds"):
        clock.current = NUDGES[0]
        assert keyless.tick().nudges == 0
        clock.current = CLOSES
        assert keyless.tick().closed == []
    assert caplog.text.count(f"round {rid} is anonymous and this process has no") == 1
    assert rw.round(rid).status == OPEN
    # A process with the secret then closes and seals it.
    assert service.tick().closed == [rid]
    assert {i.person_id for i in rw.invitations(rid) if i.answered} == {rw.person(HEAD)}


# --- recurrence -------------------------------------------------------------------------------


def test_a_termly_round_recurs_on_the_same_school_day_of_the_next_term_once(
    db: Database, rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    clock.current = datetime(2026, 9, 3, 9, 0, tzinfo=UTC)  # Thu 3 Sep
    first = service.launch(
        rw.actor(OFFICER),
        request(
            opens_on=date(2026, 9, 7),  # Mon 7 Sep: the 4th school day of autumn (2, 3, 4, 7)
            closes_on=date(2026, 9, 18),  # 9 school days later (8-11, 14-18 Sep)
            recurrence=TERM,
        ),
    )
    assert first.recurrence == "each term"
    stored = rw.round(first.round_id)
    assert (stored.recurrence_kind, stored.recurrence_open_school_day) == (TERM, 4)
    assert stored.recurrence_school_days == 9
    late = rw.add_head("Lou Latecomer", "lou.head@schools.example.org", 115203, "Late Lane", "West")
    clock.current = first.opens_at
    service.tick()
    clock.current = first.closes_at
    outcome = service.tick()
    assert outcome.closed == [first.round_id]
    [nxt_id] = outcome.recurred
    nxt = rw.round(nxt_id)
    # Spring starts Mon 4 Jan 2027: its 4th school day is Thu 7 Jan; 9 school days on is
    # Wed 20 Jan (8, 11-15, 18-20 Jan). GMT, so 09:00 and 17:00 are UTC too.
    assert utc(nxt.opens_at) == datetime(2027, 1, 7, 9, 0, tzinfo=UTC)
    assert utc(nxt.closes_at) == datetime(2027, 1, 20, 17, 0, tzinfo=UTC)
    assert (nxt.status, nxt.previous_round_id, nxt.recurrence_kind) == (
        SCHEDULED,
        first.round_id,
        TERM,
    )
    assert (nxt.template_id, nxt.audience_role, nxt.anonymous) == ("school_checkin", "head", False)
    # Nudges: Tue 12 Jan (8, 11, 12), Fri 15 Jan (13, 14, 15) and the last day, Wed 20 Jan.
    assert nxt.nudge_plan["at"] == [
        datetime(2027, 1, d, 9, 0, tzinfo=UTC).isoformat() for d in (12, 15, 20)
    ]
    # A fresh invitation list: the head added since the first launch is asked.
    assert late in {i.person_id for i in rw.invitations(nxt_id)}
    assert late not in {i.person_id for i in rw.invitations(first.round_id)}
    assert len(rw.invitations(nxt_id)) == 6
    # Ticking again makes no second successor.
    assert service.tick().recurred == []
    clock.advance(days=1)
    assert service.tick().recurred == []
    with db.session() as s:
        successors = s.exec(
            select(SurveyRound.id).where(SurveyRound.previous_round_id == first.round_id)
        ).all()
    assert successors == [nxt_id]
    # The successor opens in its turn, to its own list: six invitations, Fay has no chat
    # account, so five prompts, Lou's among them.
    clock.current = utc(nxt.opens_at)
    assert service.tick().prompts == 5
    assert late in {m.person_id for m in outbox(db) if m.key.startswith(f"survey:{nxt_id}:")}


# --- status -----------------------------------------------------------------------------------


def rates(rates: tuple[Rate, ...]) -> dict[str, tuple[int, int]]:
    return {r.label: (r.answered, r.invited) for r in rates}


def test_status_of_a_named_round_by_quadrant_and_partnership(
    rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    rid = launch_named(rw, service).round_id
    clock.current = OPENS
    service.tick()
    rw.answer(rid, HEAD, OPENS)  # 115141: North East; first partnership Tendring
    rw.answer(rid, WEST_HEAD, OPENS)  # 115200: West; Harlow
    status = service.status(rw.actor(OFFICER), str(rid))
    assert (status.round_id, status.status, status.anonymous) == (rid, OPEN, False)
    assert (status.total.answered, status.total.invited) == (2, 5)
    # North East: Ada yes, Ben no. West: Fay yes, Ivy no, Jon no.
    assert rates(status.by_quadrant) == {"North East": (1, 2), "West": (1, 3)}
    # Tendring: Ada yes, Ben no. Harlow: Fay yes, Ivy no. Jon's school is in no partnership.
    assert rates(status.by_partnership) == {HARLOW: (1, 2), TENDRING: (1, 2)}
    assert (status.nudges_sent, status.nudges_planned) == (0, 3)
    # "" is the latest round that has opened; "#id" works as well.
    assert service.status(rw.actor(BOARD), "").round_id == rid
    assert service.status(rw.actor(ADMIN), f"#{rid}").total == status.total


def test_status_of_an_anonymous_round_before_and_after_the_seal(
    rw: RoundsWorld, service: RoundService, clock: FakeClock
) -> None:
    rid = service.launch(
        rw.actor(BOARD), request("partnership_healthcheck", anonymous=True)
    ).round_id
    tendring, harlow = rw.partnership(TENDRING), rw.partnership(HARLOW)
    clock.current = OPENS
    service.tick()
    rw.answer(rid, HEAD, OPENS, ("partnership", tendring))
    rw.answer(rid, WEST_HEAD, OPENS, ("partnership", harlow))
    rw.answer(rid, MEADOWS_HEAD, OPENS, ("partnership", harlow))
    # Invitations: Tendring (NE): Ada yes, Ben no. Harlow (West): Ada no, Fay yes, Ivy yes.
    expected_quadrants = {"North East": (1, 2), "West": (2, 3)}
    expected_partnerships = {HARLOW: (2, 3), TENDRING: (1, 2)}
    live = service.status(rw.actor(BOARD), str(rid))
    assert live.anonymous and live.status == OPEN
    assert (live.total.answered, live.total.invited) == (3, 5)
    assert rates(live.by_quadrant) == expected_quadrants
    assert rates(live.by_partnership) == expected_partnerships
    clock.current = CLOSES
    service.tick()
    sealed = service.status(rw.actor(BOARD), str(rid))
    assert sealed.status == CLOSED
    assert (sealed.total.answered, sealed.total.invited) == (3, 5)
    assert rates(sealed.by_quadrant) == expected_quadrants
    assert rates(sealed.by_partnership) == expected_partnerships


def test_status_is_for_the_launcher_the_board_officers_and_administrators(
    rw: RoundsWorld, service: RoundService
) -> None:
    rid = service.launch(rw.actor(BOARD), request()).round_id
    for who in (BOARD, OFFICER, ADMIN):
        assert service.status(rw.actor(who), str(rid)).round_id == rid
    for who in (HEAD, CHAIR, LEAD):
        with pytest.raises(Forbidden) as caught:
            service.status(rw.actor(who), str(rid))
        assert caught.value.message == (
            "Only the person who launched it or Project Board members, LA officers and"
            f" administrators may see a round's response rates (round #{rid})."
        )


def test_status_of_another_tenants_round_is_not_found(
    db: Database, rw: RoundsWorld, service: RoundService
) -> None:
    rid = service.launch(rw.actor(OFFICER), request()).round_id
    other = build_rounds_world(db, la_code=882, name="Suffolk", workspace="T0OTHER")
    with pytest.raises(NotFound) as caught:
        service.status(other.actor(OFFICER), str(rid))
    assert f"There is no round #{rid}" in caught.value.message
    with pytest.raises(NotFound):
        service.status(other.actor(OFFICER), "")  # the other tenant has no rounds
    with pytest.raises(UserError):
        service.status(rw.actor(OFFICER), "latest")


@pytest.mark.parametrize("anonymous", [False, True])
def test_status_of_a_round_for_one_partnership_counts_every_school_under_it(
    rw: RoundsWorld, service: RoundService, clock: FakeClock, anonymous: bool
) -> None:
    harlow = rw.partnership(HARLOW)
    rid = service.launch(
        rw.actor(OFFICER),
        request(anonymous=anonymous, scope=Scope(ScopeKind.PARTNERSHIP, harlow)),
    ).round_id
    clock.current = OPENS
    service.tick()
    rw.answer(rid, HEAD, OPENS)
    status = service.status(rw.actor(OFFICER), str(rid))
    # Ada's school (115141) is in Tendring too, but this round asks Harlow's schools.
    assert rates(status.by_partnership) == {HARLOW: (1, 3)}
    # Quadrants are the schools' own: 115141 is in North East; 115200 and 115201 in West.
    assert rates(status.by_quadrant) == {"North East": (1, 1), "West": (0, 2)}
