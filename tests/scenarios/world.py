"""The world the chat scenarios happen in, on no platform in particular: a database holding
Essex's North East, a clock the test moves, and the core over both.

Nobody has a chat account to begin with: a platform's driver gives people theirs (`Chat.join`),
so the same world serves Slack and Teams. Both platforms' workspaces belong to Essex: the Slack
team `SLACK_TEAM` and the Entra tenant `TEAMS_TENANT`.

The people, all fictional, by person id: `head` (Alice Hart, head of Great Oakley Primary
School, who asks for support and answers healthchecks), `lead` (Ada Brook, lead of Colne Estuary
Teaching School Alliance, which takes pupil premium reviews in North East), `partnership_lead`
(Pat Lee, lead of Colne Valley Partnership), `chair` (Chris Chalk, North East's chair) and
`officer` (Olu Officer, an LA officer for the county).

The clock stands on Tue 10 Nov 2026 09:00 (GMT, so London time too), a school day in the
autumn term of the shipped 2026-27 sample calendar. Nothing happens on its own: `tick` runs what
the scheduler's jobs would run at the clock's time, and a driver's `deliver` sends the outbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, func, select

from bot.core import Core
from bot.services.calendar import load_sample_calendar
from bot.services.healthcheck.responses import ResponseKeys
from bot.services.meetings.publication import publish_due
from bot.types import Platform, Role, ScopeKind
from scheduler.relay import Relay
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingSlot, MeetingVote
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    ChatWorkspace,
    PartnershipMembership,
    School,
    aware,
)
from storage.outbox_tables import OutboxMessage
from storage.reminder_tables import Reminder
from storage.support_tables import SupportRequest
from storage.survey_tables import SurveyAnswer, SurveyResponse
from tests.factories import SEEDED_AT
from tests.fakes.clock import FakeClock
from tests.services.meeting_world import make_place

DELIVERY_PASSES = 50
SLACK_TEAM = "T0ESSEX"
TEAMS_TENANT = "00000000-0000-0000-0000-00000000e55e"
WORKSPACES = {Platform.SLACK: SLACK_TEAM, Platform.TEAMS: TEAMS_TENANT}

LA_CODE = 881
START = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)  # Tue 10 Nov 2026, autumn term
KEYS = ResponseKeys("scenario-pepper-" + "s" * 40)

HEAD_NAME = "Alice Hart"
LEAD_NAME = "Ada Brook"
PARTNERSHIP_LEAD_NAME = "Pat Lee"
CHAIR_NAME = "Chris Chalk"
OFFICER_NAME = "Olu Officer"
SCHOOL_NAME = "Great Oakley Primary School"
PARTNERSHIP_NAME = "Colne Valley Partnership"
ALLIANCE_NAME = "Colne Estuary Teaching School Alliance"


@dataclass
class World:
    """The database, the clock and the core, and the ids of who and what is in Essex."""

    database_url: str
    db: Database
    clock: FakeClock
    core: Core
    tenant_id: int
    north_east: int  # quadrant id
    school: int  # Great Oakley's school id
    partnership: int
    alliance: int
    head: int
    lead: int
    partnership_lead: int
    chair: int
    officer: int

    def workspace(self, platform: Platform) -> str:
        """The workspace (Slack team, Entra tenant) of Essex on `platform`."""
        return WORKSPACES[platform]

    # --- time and the scheduler's work ------------------------------------------------------

    def at(self, when: datetime) -> None:
        """Move the clock to `when` (never back)."""
        assert when >= self.clock.current, "the clock only moves forwards"
        self.clock.current = when.astimezone(UTC)

    async def tick(self) -> None:
        """Run what the scheduler's jobs would run now: the healthcheck rounds' tick, the
        support and meeting sweeps, bookings to publish, and the reminders that are due."""
        await asyncio.to_thread(self._sweeps)
        core = self.core
        await publish_due(core.meetings.publication, None, core.clock.now())

    def _sweeps(self) -> None:
        core = self.core
        core.rounds.tick()
        core.support.sweep()
        core.meetings.sweep()
        now = core.clock.now()
        for reminder in core.reminders.schedules():
            if reminder.next_due is not None and reminder.next_due <= now:
                core.reminders.fire(reminder.id, reminder.next_due)

    async def deliver(self, relay: Relay) -> None:
        """Run the relay until nothing is due (a pass sends one row per person at a time;
        what it leaves is due at once after)."""
        for _ in range(DELIVERY_PASSES):
            await relay.run_once()
            if not self.due():
                return
        raise AssertionError(f"the outbox still has rows due after {DELIVERY_PASSES} passes")

    def due(self) -> int:
        """How many outbox rows are waiting to be sent now (a driver delivers until none)."""
        now = self.clock.now()
        with self.db.session() as s:
            return s.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", col(OutboxMessage.next_attempt_at) <= now)
            ).one()

    # --- what is stored ---------------------------------------------------------------------

    def support_requests(self) -> list[SupportRequest]:
        with self.db.session() as s:
            return list(s.exec(select(SupportRequest).order_by(col(SupportRequest.id))).all())

    def meetings(self) -> list[Meeting]:
        with self.db.session() as s:
            return list(s.exec(select(Meeting).order_by(col(Meeting.id))).all())

    def votes(self, meeting_id: int) -> dict[tuple[datetime, int], str]:
        """The meeting's votes: {(the time's start, person id): answer}."""
        with self.db.session() as s:
            rows = s.exec(
                select(MeetingSlot.starts_at, MeetingVote.person_id, MeetingVote.answer)
                .join(MeetingSlot, col(MeetingSlot.id) == MeetingVote.slot_id)
                .where(MeetingVote.meeting_id == meeting_id)
            ).all()
        return {(aware(start), person): answer for start, person, answer in rows}

    def responses(self) -> list[tuple[SurveyResponse, dict[str, tuple[object, str | None]]]]:
        """Every healthcheck response, with its answers (value, comment) by question id."""
        with self.db.session() as s:
            found = []
            for response in s.exec(select(SurveyResponse)).all():
                answers = s.exec(
                    select(SurveyAnswer).where(SurveyAnswer.response_id == response.id)
                ).all()
                found.append((response, {a.question_id: (a.value, a.comment) for a in answers}))
        return found

    def reminders(self) -> list[Reminder]:
        with self.db.session() as s:
            return list(s.exec(select(Reminder).order_by(col(Reminder.id))).all())


def build_world(database_url: str, db: Database) -> World:
    """Essex with North East, its people and the sample calendar, and the core over them."""
    place = make_place(db, la_code=LA_CODE, name="Essex")
    essex = place.tenant_id
    north_east = place.quadrant("North East")
    partnership = place.partnership(PARTNERSHIP_NAME, "North East")
    with db.session() as s:
        s.add_all(
            ChatWorkspace(tenant_id=essex, platform=p.value, workspace_id=w, name="Essex")
            for p, w in WORKSPACES.items()
        )
        schools = [
            School(
                tenant_id=essex,
                urn=urn,
                name=name,
                phase=phase,
                establishment_type="Community school",
                quadrant_id=north_east,
                updated_at=SEEDED_AT,
            )
            for urn, name, phase in (
                (115141, SCHOOL_NAME, "Primary"),
                (115002, "Colne Community School", "Secondary"),
            )
        ]
        s.add_all(schools)
        s.flush()
        school_ids = [school.id for school in schools if school.id is not None]
        s.add_all(
            PartnershipMembership(tenant_id=essex, partnership_id=partnership, school_id=school)
            for school in school_ids
        )
        alliance = Alliance(
            tenant_id=essex,
            name=ALLIANCE_NAME,
            lead_school_id=school_ids[1],
            capacity_days_per_term=20,
        )
        s.add(alliance)
        s.flush()
        assert alliance.id is not None
        alliance_id = alliance.id
        s.add(AllianceQuadrant(tenant_id=essex, alliance_id=alliance_id, quadrant_id=north_east))
        s.add(AllianceExpertise(tenant_id=essex, alliance_id=alliance_id, tag="pupil_premium"))
    great_oakley = school_ids[0]
    head = place.person(HEAD_NAME, (Role.HEAD, ScopeKind.SCHOOL, great_oakley), chat=False)
    lead = place.person(
        LEAD_NAME, (Role.ALLIANCE_LEAD, ScopeKind.ALLIANCE, alliance_id), chat=False
    )
    partnership_lead = place.person(
        PARTNERSHIP_LEAD_NAME, place.leads(PARTNERSHIP_NAME), chat=False
    )
    chair = place.person(
        CHAIR_NAME, (Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, north_east), chat=False
    )
    officer = place.person(OFFICER_NAME, (Role.LA_OFFICER, ScopeKind.COUNTY, 0), chat=False)
    load_sample_calendar(db, la_code=LA_CODE)
    clock = FakeClock(START)
    return World(
        database_url=database_url,
        db=db,
        clock=clock,
        core=Core(db, clock=clock, response_keys=KEYS),
        tenant_id=essex,
        north_east=north_east,
        school=great_oakley,
        partnership=partnership,
        alliance=alliance_id,
        head=head,
        lead=lead,
        partnership_lead=partnership_lead,
        chair=chair,
        officer=officer,
    )
