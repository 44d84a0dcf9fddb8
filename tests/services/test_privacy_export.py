"""Subject access exports: every kind of record a person has, in JSON and in words, scoped to
their local authority, audited, and without anonymous answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table
from sqlmodel import SQLModel

from bot.errors import NotFound
from bot.services.audit import AuditFilter, AuditLog
from bot.services.privacy import PrivacyExport
from bot.services.privacy.export import ANONYMOUS_NOTE
from bot.services.privacy.records import (
    CHAT_ID_COLUMNS,
    PERSON_COLUMNS,
    person_foreign_keys,
    uncovered,
)
from storage.engine import Database
from tests.services.privacy_world import CHAT_IDS, EMAIL, NAME, PrivacyWorld, build_privacy_world


@pytest.fixture
def world(db: Database) -> PrivacyWorld:
    return build_privacy_world(db)


def test_the_map_covers_every_column_that_refers_to_a_person() -> None:
    assert uncovered() == set()
    tables = SQLModel.metadata.tables
    for ref in PERSON_COLUMNS:
        assert ref.column in tables[ref.table].c, ref
    for table, column in CHAT_ID_COLUMNS:
        assert column in tables[table].c


def test_a_new_table_referring_to_a_person_is_caught() -> None:
    metadata = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(metadata)
    Table(
        "badge",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("holder_id", Integer, ForeignKey("person.id")),
    )
    assert ("badge", "holder_id") in person_foreign_keys(metadata)
    assert uncovered(metadata) == {("badge", "holder_id")}


def test_the_everything_person_has_every_kind_of_record(world: PrivacyWorld) -> None:
    export = PrivacyExport(world.db, world.clock).export(881, EMAIL)
    empty = [s.key for s in export.sections if not s.records]
    assert empty == []
    keys = [s.key for s in export.sections]
    assert len(keys) == len(set(keys))
    assert {r.section for r in PERSON_COLUMNS} <= set(keys)
    assert {"person", "chat_conversations", "survey_answers", "anonymous_rounds"} <= set(keys)
    assert export.section("person").records[0]["email"] == EMAIL
    conversations = {r["conversation_id"] for r in export.section("chat_conversations").records}
    assert conversations == {CHAT_IDS[1], CHAT_IDS[4]}
    # The request's history includes what others did on it, and only her requests'.
    events = export.section("support_request_events").records
    assert {e["action"] for e in events} == {"ask", "close", "claim"}


def test_files_hold_the_same_content_in_json_and_in_words(
    world: PrivacyWorld, tmp_path: Path
) -> None:
    export = PrivacyExport(world.db, world.clock).export(881, str(world.ada))
    as_json, as_md = export.write(tmp_path / "out")
    assert as_json.name == f"subject-access-881-person-{world.ada}-20261201.json"
    data = json.loads(as_json.read_text(encoding="utf-8"))
    sections = data["sections"]
    assert set(sections) == {s.key for s in export.sections}
    assert data["subject_access_export"]["generated_at"] == "2026-12-01T09:00:00Z"
    request = sections["support_requests_made"]["records"][0]
    assert request["created_at"] == "2026-09-14T09:00:00Z"
    assert request["proposal_days"] == "2.5"
    assert request["proposal_starts_on"] == "2026-11-09"
    text = as_md.read_text(encoding="utf-8")
    for section in export.sections:
        assert f"## {section.title}" in text
    assert ANONYMOUS_NOTE in text and NAME in text and "SR-2026-0001" in text


def test_anonymous_answers_are_listed_as_rounds_and_not_included(world: PrivacyWorld) -> None:
    export = PrivacyExport(world.db, world.clock).export(881, EMAIL)
    anonymous = export.section("anonymous_rounds")
    assert anonymous.note == ANONYMOUS_NOTE
    assert [r["title"] for r in anonymous.records] == ["School check-in"]
    assert all(set(r) >= {"round_id", "title", "opens_at"} for r in anonymous.records)
    # Her anonymous check-in answer is nowhere in it; her named healthcheck answers are.
    everything = json.dumps(export.as_json())
    assert "Two senior leaders are off long term." not in everything
    named_rounds = {r["round_id"] for r in export.section("survey_invitations").records}
    assert world.rw.rounds["now"] in named_rounds
    assert {r["round_id"] for r in anonymous.records}.isdisjoint(named_rounds)
    assert len(export.section("survey_answers").records) >= 10


def test_the_export_is_audited_without_personal_data(world: PrivacyWorld) -> None:
    PrivacyExport(world.db, world.clock).export(881, EMAIL)
    entries = AuditLog(world.db, world.clock).entries(
        world.tenant_id, AuditFilter(action="privacy.export")
    )
    assert len(entries) == 1
    entry = entries[0]
    assert entry.platform == "cli" and entry.about == NAME and entry.at == world.clock.now()
    detail = json.dumps(entry.detail)
    assert NAME not in detail and EMAIL not in detail and entry.detail["records"] > 0


def test_only_people_of_the_local_authority_are_found(world: PrivacyWorld) -> None:
    exports = PrivacyExport(world.db, world.clock)
    suffolk_ada = world.suffolk.person(EMAIL)
    with pytest.raises(NotFound):
        exports.export(881, str(suffolk_ada))
    with pytest.raises(NotFound):
        exports.export(881, "nobody@schools.example.org")
    with pytest.raises(NotFound):
        exports.export(999, EMAIL)
    # Suffolk's namesake is her own person, with her own records.
    theirs = exports.export(935, EMAIL.upper())
    assert theirs.person_id == suffolk_ada != world.ada
    assert not theirs.section("support_requests_made").records
