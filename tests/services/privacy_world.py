"""A person who has used every feature of the bot, for the subject access and erasure tests.

Built on the healthcheck report world (tests.services.healthcheck_world): Ada Fictional, head of
All Saints Primary (URN 115141, in Tendring Coast and Harlow), answers both named partnership
healthchecks and the anonymous school check-in. Here she is also an Estuary alliance lead, has a
Teams account beside her Slack one and a one-to-one chat with the bot on each, asked for support
twice, claimed Ben's request for Estuary, proposed and chaired one meeting and took the notes of
another, voted, put forward an agenda item, owns an action, set reminders for herself and for
the partnership leads, has one from Cara, has messages waiting and sent, and is in the audit
log. Her name, e-mail and chat ids are written into other people's free text too, so that
erasure has something to scrub. Suffolk (LA 935) is built beside it, and must not change.
All people are fictional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import select

from bot.services.meetings.poll import SlotTally, tally
from bot.services.support.catalogue import shipped_catalogue
from bot.services.support.views import SupportViews
from bot.types import Role, ScopeKind
from storage.conversation_tables import ChatConversation
from storage.engine import Database
from storage.meeting_tables import (
    Meeting,
    MeetingAction,
    MeetingAgendaItem,
    MeetingInvitee,
    MeetingSlot,
    MeetingVote,
)
from storage.models import ChatIdentity, ChatWorkspace, RoleAssignment
from storage.outbox_tables import OutboxMessage
from storage.privacy_tables import AuditEntry
from storage.reminder_tables import Reminder
from storage.support_tables import SupportEvent, SupportOffer, SupportRequest
from storage.survey_tables import SurveyRound
from tests.fakes.clock import FakeClock
from tests.services.healthcheck_world import (
    CHAIR,
    HEAD,
    KEYS,
    LEAD,
    OFFICER,
    ReportWorld,
    build_report_world,
    checkin_round,
    healthcheck_rounds,
)
from tests.services.support_ledger_fixture import ESTUARY, calendar_2026_27

NAME = "Ada Fictional"
EMAIL = HEAD  # ada.head@schools.example.org
SLACK_ID = "U881001"  # build_world's first chat user
SLACK_DM = "D0ADA8810"
TEAMS_TENANT = "0f0e0d0c-0000-4000-8000-000000000881"
TEAMS_ID = "7c1e4b2a-0000-4000-8000-00000000ada1"  # her Entra object id
TEAMS_MEMBER = "29:1AdaFictionalMemberId"
TEAMS_CHAT = "a:1AdaFictionalPersonalChat"
CHAT_IDS = (SLACK_ID, SLACK_DM, TEAMS_ID, TEAMS_MEMBER, TEAMS_CHAT)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class PrivacyWorld:
    """Essex with Ada's records, Suffolk beside it, and what the tests compare."""

    rw: ReportWorld
    suffolk: ReportWorld
    clock: FakeClock
    ada: int
    meetings: tuple[int, ...]

    @property
    def db(self) -> Database:
        return self.rw.db

    @property
    def tenant_id(self) -> int:
        return self.rw.tenant_id

    def person(self, email: str) -> int:
        return self.rw.person(email)


def build_privacy_world(db: Database) -> PrivacyWorld:
    """Essex with Ada's records, and Suffolk built the same way (its own Ada untouched)."""
    rw = build_report_world(db)
    healthcheck_rounds(rw, anonymous=False)
    checkin_round(rw, anonymous=True)
    suffolk = build_report_world(db, la_code=935, name="Suffolk")
    healthcheck_rounds(suffolk, anonymous=False)
    ada = rw.person(HEAD)
    world = PrivacyWorld(rw, suffolk, FakeClock(NOW), ada, ())
    with db.session() as s:
        add = _adder(s, rw.tenant_id)
        _chat(add, rw, ada)
        _support(add, rw, ada)
        world.meetings = _meetings(add, rw, ada)
        _reminders(add, rw, ada)
        _outbox(add, rw, ada)
        _audit(add, rw, ada)
        launched = s.get(SurveyRound, rw.rounds["draft"])
        assert launched is not None
        launched.launched_by = ada  # she launched next spring's round
        s.add(launched)
    return world


def _adder(s: Any, tenant_id: int) -> Any:
    def add(row: Any) -> int:
        row.tenant_id = tenant_id
        s.add(row)
        s.flush()
        return int(row.id)

    return add


def _chat(add: Any, rw: ReportWorld, ada: int) -> None:
    add(
        RoleAssignment(
            person_id=ada,
            role=Role.ALLIANCE_LEAD.value,
            scope_kind=ScopeKind.ALLIANCE.value,
            scope_id=rw.world.alliances[ESTUARY],
        )
    )
    add(ChatWorkspace(platform="teams", workspace_id=TEAMS_TENANT, name="Essex schools"))
    add(
        ChatIdentity(
            person_id=ada,
            platform="teams",
            workspace_id=TEAMS_TENANT,
            user_id=TEAMS_ID,
            source="email",
            linked_at=NOW,
        )
    )
    add(
        ChatConversation(
            platform="slack",
            workspace_id=rw.world.workspace,
            conversation_id=SLACK_DM,
            kind="personal",
            user_id=SLACK_ID,
            name=NAME,
            updated_at=NOW,
        )
    )
    add(
        ChatConversation(
            platform="teams",
            workspace_id=TEAMS_TENANT,
            conversation_id=TEAMS_CHAT,
            kind="personal",
            service_url="https://smba.trafficmanager.net/uk/",
            user_id=TEAMS_ID,
            member_id=TEAMS_MEMBER,
            name=NAME,
            updated_at=NOW,
        )
    )


def _support(add: Any, rw: ReportWorld, ada: int) -> None:
    w = rw.world
    estuary = w.alliances[ESTUARY]
    ben = rw.person(LEAD)
    day = datetime(2026, 9, 14, 9, tzinfo=UTC)
    made = add(
        SupportRequest(
            reference="SR-2026-0001",
            school_id=w.schools[115141],
            requested_by=ada,
            category_id="governance_review",
            needed=f"A governance review. Contact {NAME} ({EMAIL}) or <@{SLACK_ID}>.",
            why_now="Ofsted is due; ADA FICTIONAL leads on it.",
            state="closed",
            claimed_by_alliance_id=estuary,
            proposal_days=Decimal("2.5"),
            proposal_starts_on=date(2026, 11, 9),
            proposal_ends_on=date(2026, 11, 9),
            proposal_cost_pence=112500,
            impact_rating=4,
            impact_evidence=f"{NAME} says governors now challenge well.",
            created_at=day,
            updated_at=day + timedelta(days=60),
            claimed_at=day + timedelta(days=2),
            closed_at=day + timedelta(days=60),
        )
    )
    add(
        SupportRequest(
            reference="SR-2026-0002",
            school_id=w.schools[115141],
            requested_by=ada,
            category_id="sen_review",
            needed="An SEN review.",
            state="submitted",
            created_at=day + timedelta(days=70),
            updated_at=day + timedelta(days=70),
        )
    )
    claimed = add(
        SupportRequest(
            reference="SR-2026-0003",
            school_id=w.schools[115142],
            requested_by=ben,
            category_id="sen_review",
            needed="An SEN review for Great Oakley Infants.",
            state="claimed",
            claimed_by_alliance_id=estuary,
            claimed_by_person_id=ada,
            created_at=day + timedelta(days=30),
            updated_at=day + timedelta(days=31),
            claimed_at=day + timedelta(days=31),
        )
    )
    add(SupportOffer(request_id=made, alliance_id=estuary, status="claimed", offered_at=day))
    add(
        SupportEvent(
            request_id=made,
            at=day,
            actor_person_id=ada,
            party="requester",
            action="ask",
            from_state="submitted",
            to_state="submitted",
            detail={"note": f"asked by {NAME}"},
        )
    )
    add(
        SupportEvent(
            request_id=made,
            at=day + timedelta(days=60),
            actor_person_id=ada,
            party="requester",
            action="close",
            from_state="delivered",
            to_state="closed",
            detail={"rating": 4, "by": EMAIL},
        )
    )
    add(
        SupportEvent(
            request_id=claimed,
            at=day + timedelta(days=31),
            actor_person_id=ada,
            party="provider",
            action="claim",
            from_state="offered",
            to_state="claimed",
            detail={},
        )
    )


def _meetings(add: Any, rw: ReportWorld, ada: int) -> tuple[int, ...]:
    ne = rw.world.quadrants["North East"]
    cara, ben = rw.person(CHAIR), rw.person(LEAD)
    start = datetime(2026, 11, 10, 14, tzinfo=UTC)
    held = add(
        Meeting(
            reference="M-2026-0001",
            quadrant_id=ne,
            title="North East autumn meeting",
            purpose="Priorities for the spring.",
            created_by=cara,
            chair_person_id=cara,
            note_taker_person_id=ada,
            state="held",
            vote_deadline=start - timedelta(days=10),
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            minutes=f"Present: Cara, {NAME}, Ben. Ada fictional to circulate the plan.",
            minutes_sent_at=start + timedelta(days=1),
            created_at=start - timedelta(days=20),
            updated_at=start + timedelta(days=1),
        )
    )
    polling = add(
        Meeting(
            reference="M-2026-0002",
            quadrant_id=ne,
            title="Alliance offer for spring",
            created_by=ada,
            chair_person_id=ada,
            state="polling",
            vote_deadline=NOW + timedelta(days=5),
            created_at=NOW - timedelta(days=2),
            updated_at=NOW - timedelta(days=2),
        )
    )
    for meeting, people in ((held, (ada, ben, cara)), (polling, (ada, ben, cara))):
        first = start + timedelta(days=30 if meeting == polling else 0)
        slots = [
            add(
                MeetingSlot(
                    meeting_id=meeting,
                    starts_at=first + timedelta(days=7 * n),
                    ends_at=first + timedelta(days=7 * n, hours=2),
                    position=n + 1,
                )
            )
            for n in range(2)
        ]
        for person in people:
            add(
                MeetingInvitee(
                    meeting_id=meeting,
                    person_id=person,
                    source="added",
                    rsvp="going" if meeting == held else None,
                )
            )
        for person, answers in ((ada, ("yes", "no")), (ben, ("yes", "if_need_be"))):
            for slot, answer in zip(slots, answers, strict=True):
                add(
                    MeetingVote(
                        meeting_id=meeting,
                        slot_id=slot,
                        person_id=person,
                        answer=answer,
                        updated_at=NOW,
                    )
                )
    add(
        MeetingAgendaItem(
            meeting_id=held,
            added_by=ada,
            text=f"Traded days for {NAME}'s school",
            created_at=start - timedelta(days=8),
        )
    )
    add(
        MeetingAction(
            meeting_id=held,
            what="Circulate the spring plan (ada.head@schools.example.org)",
            owner_person_id=ada,
            due_on=date(2026, 12, 4),
            created_at=start + timedelta(days=1),
        )
    )
    return held, polling


def _reminders(add: Any, rw: ReportWorld, ada: int) -> None:
    cara = rw.person(CHAIR)
    base = {
        "schedule_kind": "weekly",
        "weekdays": "mon",
        "local_time": time(8, 30),
        "status": "active",
        "next_due": NOW + timedelta(days=6),
        "created_at": NOW,
        "updated_at": NOW,
    }
    add(
        Reminder(
            created_by=ada,
            target_kind="role",
            target_role=Role.PARTNERSHIP_LEAD.value,
            target_scope_kind="quadrant",
            target_scope_id=rw.world.quadrants["North East"],
            text=f"Send your termly figures to {NAME}",
            **base,
        )
    )
    add(Reminder(created_by=ada, target_kind="person", target_person_id=ada, text="Plan", **base))
    add(
        Reminder(
            created_by=cara,
            target_kind="person",
            target_person_id=ada,
            text="Ada Fictional: bring the plan",
            **base,
        )
    )


def _outbox(add: Any, rw: ReportWorld, ada: int) -> None:
    base = {"not_before": NOW, "next_attempt_at": NOW, "created_at": NOW}
    add(
        OutboxMessage(
            key=f"privacy-test:pending:person:{ada}",
            person_id=ada,
            destination=f"person:{ada}",
            payload={"text": f"Hello {NAME}", "blocks": [{"text": f"<@{SLACK_ID}>"}]},
            **base,
        )
    )
    add(
        OutboxMessage(
            key=f"privacy-test:sent:person:{ada}",
            person_id=ada,
            platform="slack",
            workspace_id=rw.world.workspace,
            conversation_id=SLACK_DM,
            destination=f"person:{ada}",
            payload={"text": f"Your request, {NAME}"},
            status="sent",
            sent_at=NOW,
            message_id="1764579600.000100",
            **base,
        )
    )
    add(
        OutboxMessage(
            key="privacy-test:channel",
            platform="teams",
            workspace_id=TEAMS_TENANT,
            conversation_id="19:northeast@thread.tacv2",
            destination="teams:19:northeast@thread.tacv2",
            payload={"text": f"{NAME} ({TEAMS_MEMBER}) claimed SR-2026-0003"},
            **base,
        )
    )


def _audit(add: Any, rw: ReportWorld, ada: int) -> None:
    add(
        AuditEntry(
            at=NOW,
            platform="slack",
            actor_person_id=ada,
            action="support.claim",
            subject="SR-2026-0003",
        )
    )
    add(
        AuditEntry(
            at=NOW,
            platform="cli",
            action="directory.import",
            about_person_id=ada,
            detail={"updated": 1},
        )
    )


# --- the figures that erasure must leave as they were -----------------------------------------


def report_figures(world: PrivacyWorld) -> dict[str, Any]:
    """Every report's data values (not their rendered text), as the county's officer sees
    them: healthcheck reports, support stats and ledger, and meeting tallies."""
    from bot.services.healthcheck.report import ReportService

    officer = world.rw.actor(OFFICER)
    reports = ReportService(world.db, keys=KEYS)
    figures: dict[str, Any] = {}
    for args in ("healthcheck county", "healthcheck north east", "check-in county"):
        r = reports.report(officer, args)
        figures[args] = (r.overall, r.partnerships, r.flags)
    views = SupportViews(
        world.db, world.clock, lambda _t: calendar_2026_27(), lambda _t: shipped_catalogue()
    )
    figures["support stats"] = views.stats(officer, "")
    figures["support ledger"] = views.ledger(officer, "").rows
    figures["meeting tallies"] = meeting_tallies(world)
    return figures


def meeting_tallies(world: PrivacyWorld) -> dict[int, tuple[SlotTally, ...]]:
    """Each of the world's meetings' tallies, from the stored votes."""
    out = {}
    with world.db.session() as s:
        for meeting in world.meetings:
            slots = s.exec(
                select(MeetingSlot.id, MeetingSlot.starts_at)
                .where(MeetingSlot.meeting_id == meeting)
                .order_by(MeetingSlot.position)
            ).all()
            votes = s.exec(
                select(MeetingVote.slot_id, MeetingVote.person_id, MeetingVote.answer).where(
                    MeetingVote.meeting_id == meeting
                )
            ).all()
            invited = s.exec(
                select(MeetingInvitee.id).where(MeetingInvitee.meeting_id == meeting)
            ).all()
            out[meeting] = tally(
                [(i, t) for i, t in slots if i is not None],
                [(slot, person, answer) for slot, person, answer in votes],  # type: ignore[misc]
                len(invited),
            )
    return out
