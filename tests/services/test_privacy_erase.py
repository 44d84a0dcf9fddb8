"""Erasure: the person is gone from every text in their local authority, their own records are
removed or anonymised, everyone else's records and every report's figures stay as they were."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlmodel import SQLModel, select

from bot.errors import NotFound
from bot.services.audit import AuditFilter, AuditLog
from bot.services.outbox import Message, Recipient, enqueue, enqueue_many
from bot.services.privacy import Erasure
from bot.services.privacy.erase import FORMER_NAME, PLACEHOLDER_DOMAIN
from bot.services.privacy.records import is_text
from bot.types import Reply
from storage.conversation_tables import ChatConversation
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingVote
from storage.models import ChatIdentity, Person, RoleAssignment
from storage.outbox_tables import OutboxMessage
from storage.reminder_tables import Reminder
from storage.support_tables import SupportRequest
from storage.survey_tables import SurveyResponse
from tests.services.privacy_world import (
    CHAT_IDS,
    EMAIL,
    NAME,
    PrivacyWorld,
    build_privacy_world,
    report_figures,
)


@pytest.fixture
def world(db: Database) -> PrivacyWorld:
    return build_privacy_world(db)


def erasure(world: PrivacyWorld) -> Erasure:
    return Erasure(world.db, world.clock)


def traces(db: Database, tenant_id: int, needles: tuple[str, ...]) -> list[str]:
    """Where any needle appears (case-insensitive) in any text or JSON column of any table:
    rows of `tenant_id`, and every row of tables that belong to no tenant."""
    found = []
    lowered = [n.lower() for n in needles]
    with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns if is_text(c)]
            if not columns:
                continue
            query = select(*columns)
            if "tenant_id" in table.c:
                query = query.where(table.c.tenant_id == tenant_id)
            for row in conn.execute(query):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = value if isinstance(value, str) else json.dumps(value)
                    for needle in lowered:
                        if needle in text.lower():
                            found.append(f"{table.name}.{column.name}: {needle}")
    return found


def snapshot(db: Database) -> dict[str, list[Any]]:
    """Every row of every table, to show that nothing changed."""
    with db.engine.connect() as conn:
        return {
            t.name: sorted((tuple(str(v) for v in row) for row in conn.execute(select(t))), key=str)
            for t in SQLModel.metadata.sorted_tables
        }


def test_no_trace_of_the_person_is_left_in_any_text(world: PrivacyWorld) -> None:
    needles = (NAME, EMAIL, *CHAT_IDS)
    before = traces(world.db, world.tenant_id, needles)
    assert {f.split(".")[0] for f in before} >= {
        "person",
        "chat_identity",
        "chat_conversation",
        "support_request",
        "support_event",
        "meeting",
        "meeting_agenda_item",
        "meeting_action",
        "reminder",
        "outbox_message",
    }
    erasure(world).erase(881, EMAIL)
    assert traces(world.db, world.tenant_id, needles) == []


def test_the_scrub_ignores_case_and_keeps_the_rest_of_the_text(world: PrivacyWorld) -> None:
    erasure(world).erase(881, EMAIL)
    with world.db.session() as s:
        made = s.exec(
            select(SupportRequest).where(SupportRequest.reference == "SR-2026-0001")
        ).one()
        meeting = s.exec(select(Meeting).where(Meeting.reference == "M-2026-0001")).one()
    assert made.why_now == "Ofsted is due; former staff member leads on it."
    assert made.needed == (
        "A governance review. Contact former staff member (former staff member)"
        " or <@former staff member>."
    )
    assert meeting.minutes == (
        "Present: Cara, former staff member, Ben. former staff member to circulate the plan."
    )


def test_every_report_gives_the_same_figures_after_erasure(world: PrivacyWorld) -> None:
    before = report_figures(world)
    assert before["support stats"].requests == 3 and before["support ledger"]
    assert before["healthcheck county"][0].responses == 9
    erasure(world).erase(881, EMAIL)
    assert report_figures(world) == before


def test_her_own_records_go_and_others_stay(world: PrivacyWorld) -> None:
    ada, ben = world.ada, world.person("ben.lead@schools.example.org")
    with world.db.session() as s:
        votes = len(s.exec(select(MeetingVote)).all())
        ben_roles = len(s.exec(select(RoleAssignment).where(RoleAssignment.person_id == ben)).all())
    result = erasure(world).erase(881, EMAIL)
    assert not result.dry_run and not result.already_erased
    assert result.deleted == {
        "chat_conversation": 2,
        "chat_identity": 2,
        "outbox_message": 1,
        "role_assignment": 2,
    }
    with world.db.session() as s:
        person = s.get(Person, ada)
        assert person is not None
        assert person.name == FORMER_NAME and person.job_title == ""
        assert person.email.endswith("@" + PLACEHOLDER_DOMAIN) and len(person.email) > 40
        assert person.erased_at is not None
        assert not s.exec(select(RoleAssignment).where(RoleAssignment.person_id == ada)).all()
        assert not s.exec(select(ChatIdentity).where(ChatIdentity.person_id == ada)).all()
        assert not s.exec(select(ChatConversation).where(ChatConversation.kind == "personal")).all()
        # Her requests stay the school's, attributed to the anonymised row.
        requests = s.exec(select(SupportRequest).where(SupportRequest.requested_by == ada)).all()
        assert len(requests) == 2
        # Her named responses still count.
        responses = s.exec(
            select(SurveyResponse).where(SurveyResponse.respondent_person_id == ada)
        ).all()
        assert len(responses) == 2
        assert len(s.exec(select(MeetingVote)).all()) == votes
        assert (
            len(s.exec(select(RoleAssignment).where(RoleAssignment.person_id == ben)).all())
            == ben_roles
        )
        # Nothing waits to be sent to her; what was sent is blanked.
        to_her = s.exec(select(OutboxMessage).where(OutboxMessage.person_id == ada)).all()
        assert [(m.status, m.payload, m.conversation_id) for m in to_her] == [("sent", {}, None)]
        # Reminders to her are cancelled; the one she set for the leads keeps going.
        reminders = s.exec(select(Reminder).order_by(Reminder.id)).all()
        assert [(r.target_kind, r.status) for r in reminders] == [
            ("role", "active"),
            ("person", "cancelled"),
            ("person", "cancelled"),
        ]
        assert reminders[0].text == "Send your termly figures to former staff member"


def test_a_dry_run_lists_the_changes_and_changes_nothing(world: PrivacyWorld) -> None:
    before = snapshot(world.db)
    dry = erasure(world).erase(881, EMAIL, dry_run=True)
    assert snapshot(world.db) == before
    assert dry.dry_run and dry.deleted["chat_identity"] == 2
    assert dry.updated["person"] == 1 and dry.updated["meeting"] == 1
    assert "Nothing was changed." in dry.lines()
    real = erasure(world).erase(881, EMAIL)
    assert (real.deleted, real.updated) == (dry.deleted, dry.updated)


def test_erasure_is_audited_with_counts_only(world: PrivacyWorld) -> None:
    erasure(world).erase(881, EMAIL)
    entries = AuditLog(world.db, world.clock).entries(
        world.tenant_id, AuditFilter(action="privacy.erase")
    )
    assert len(entries) == 1
    entry = entries[0]
    assert entry.about == FORMER_NAME and entry.platform == "cli"
    detail = json.dumps(entry.detail)
    for needle in (NAME, EMAIL, *CHAT_IDS):
        assert needle.lower() not in detail.lower()
    assert re.fullmatch(r"[a-z_{}\":, 0-9]*", detail)
    assert entry.detail["deleted"]["chat_identity"] == 2


def test_erasing_twice_is_harmless(world: PrivacyWorld) -> None:
    erasure(world).erase(881, EMAIL)
    after = snapshot(world.db)
    again = erasure(world).erase(881, str(world.ada))
    assert again.already_erased and "already erased" in again.lines()[0]
    assert snapshot(world.db) == after
    # Her e-mail no longer finds anybody.
    with pytest.raises(NotFound):
        erasure(world).erase(881, EMAIL)


def test_erasure_stays_in_its_local_authority(world: PrivacyWorld) -> None:
    suffolk_ada = world.suffolk.person(EMAIL)
    with pytest.raises(NotFound):
        erasure(world).erase(881, str(suffolk_ada))
    erasure(world).erase(881, EMAIL)
    with world.db.session() as s:
        namesake = s.get(Person, suffolk_ada)
        assert namesake is not None and (namesake.name, namesake.email) == (NAME, EMAIL)
    # Suffolk's own rows still name her.
    assert traces(world.db, world.suffolk.tenant_id, (NAME,))


def test_nothing_more_is_queued_for_an_erased_person(world: PrivacyWorld) -> None:
    erasure(world).erase(881, EMAIL)
    now = world.clock.now()
    hello = Reply("A meeting reminder")
    with world.db.session() as s:
        assert not enqueue(
            s,
            tenant_id=world.tenant_id,
            key="test:after-erasure:1",
            to=Recipient(person_id=world.ada),
            reply=hello,
            not_before=now,
            now=now,
        )
        added = enqueue_many(
            s,
            tenant_id=world.tenant_id,
            messages=[Message("test:after-erasure:2", Recipient(person_id=world.ada), hello)],
            not_before=now,
            now=now,
        )
        assert added == 0
        keys = s.exec(select(OutboxMessage.key)).all()
    assert not [k for k in keys if k.startswith("test:after-erasure")]
