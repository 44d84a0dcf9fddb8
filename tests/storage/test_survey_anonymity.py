"""Anonymity that holds: in an anonymous round nothing in the database joins an answer to a
person, while each person can still change their own answer; named rounds store who and when.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, select

from bot.services.healthcheck import Template, shipped_templates
from bot.services.healthcheck.responses import (
    InvalidAnswers,
    ResponseKeys,
    answered_invitation_ids,
    find_response,
    has_answered,
    record_anonymous_submission,
    record_named_submission,
    record_submission,
    reseal_responses,
    response_answers,
    seal_anonymous_round,
)
from storage.engine import Database
from storage.models import Partnership, PartnershipMembership, Person, School, Tenant
from storage.survey_tables import SurveyAnswer, SurveyInvitation, SurveyResponse, SurveyRound
from tests.factories import SEEDED_AT

PEPPER = "test-pepper-" + "x" * 40
OPENS = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# Ids far from every answer value and from each other, so a match is never a coincidence.
PARTNERSHIPS = {"Kingfisher Cluster": 601, "Heron Partnership": 602}
SCHOOLS = {3001: 601, 3002: 601, 3003: 601, 3004: 602, 3005: 602, 3006: 602}
HEADS = {7001: 3001, 7002: 3002, 7003: 3003, 7004: 3004, 7005: 3005, 7006: 3006}
LAUNCHER = 7100
FIRST_INVITATION = 9001

CHECKINS: dict[int, dict[str, Any]] = {
    7001: {"current_position": "green", "welcome_support": "no"},
    7002: {
        "current_position": "amber",
        "position_notes": "Staffing is stretched.",
        "welcome_support": "not_now",
    },
    7003: {"current_position": "red", "welcome_support": "yes"},
    7004: {"current_position": "green", "welcome_support": "no"},
    7005: {"current_position": "amber", "welcome_support": "yes"},
}  # 7006 does not answer


@dataclass
class Round:
    """A launched round and its invitations, by person id."""

    id: int
    tenant_id: int
    invitations: dict[int, int] = field(default_factory=dict)  # person id -> invitation id

    def load(self, s: Session) -> tuple[SurveyRound, dict[int, SurveyInvitation]]:
        survey = s.get(SurveyRound, self.id)
        assert survey is not None
        rows = s.exec(select(SurveyInvitation).where(SurveyInvitation.round_id == self.id)).all()
        return survey, {i.person_id: i for i in rows}


@pytest.fixture
def keys() -> ResponseKeys:
    return ResponseKeys(PEPPER)


@pytest.fixture
def tenant_id(db: Database) -> int:
    """Two partnerships of three schools, a head for each school, and a launcher."""
    with db.session() as s:
        tenant = Tenant(name="Essex", la_code=881, created_at=SEEDED_AT)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        for name, pid in PARTNERSHIPS.items():
            s.add(Partnership(id=pid, tenant_id=tenant.id, name=name, kind="slis_cluster"))
        for school_id, pid in SCHOOLS.items():
            s.add(
                School(
                    id=school_id,
                    tenant_id=tenant.id,
                    urn=school_id + 110000,
                    name=f"S{pid}",
                    updated_at=SEEDED_AT,
                )
            )
        s.flush()
        for school_id, pid in SCHOOLS.items():
            s.add(
                PartnershipMembership(tenant_id=tenant.id, partnership_id=pid, school_id=school_id)
            )
        for person_id in [*HEADS, LAUNCHER]:
            s.add(
                Person(
                    id=person_id,
                    tenant_id=tenant.id,
                    name=f"Person {person_id}",
                    email=f"p{person_id}@example.org",
                )
            )
        return tenant.id


def launch(
    db: Database, tenant_id: int, template: Template, *, anonymous: bool, first: int
) -> Round:
    """A round of `template` to every head, frozen at launch as the rounds service will."""
    with db.session() as s:
        survey = SurveyRound(
            tenant_id=tenant_id,
            template_id=template.id,
            template_snapshot=template.snapshot(),
            title=template.title,
            launched_by=LAUNCHER,
            audience_role="head",
            audience_scope_kind="county",
            audience_label="Heads, whole local authority",
            opens_at=OPENS,
            closes_at=OPENS + timedelta(days=14),
            anonymous=anonymous,
            nudge_plan={"after_school_days": [3, 6], "last_day": True},
            status="open",
            created_at=OPENS,
        )
        s.add(survey)
        s.flush()
        assert survey.id is not None
        launched = Round(survey.id, tenant_id)
        for n, (person_id, school_id) in enumerate(HEADS.items()):
            # Anonymous answers about a school are filed under its partnership.
            coarse = anonymous and template.scope == "school"
            invitation = SurveyInvitation(
                id=first + n,
                tenant_id=tenant_id,
                round_id=survey.id,
                person_id=person_id,
                subject_kind="school",
                subject_id=school_id,
                response_subject_kind="partnership" if coarse else "school",
                response_subject_id=SCHOOLS[school_id] if coarse else school_id,
            )
            s.add(invitation)
            launched.invitations[person_id] = first + n
        return launched


def submit(
    db: Database,
    launched: Round,
    person_id: int,
    answers: dict[str, Any],
    keys: ResponseKeys,
    comments: dict[str, str] | None = None,
    now: datetime = OPENS,
) -> None:
    """One submission, in its own transaction, as the rounds service will make it."""
    with db.session() as s:
        survey, invitations = launched.load(s)
        record_submission(s, survey, invitations[person_id], answers, comments, keys=keys, now=now)


def rows(db: Database, model: type[SQLModel]) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        table = model.__table__  # type: ignore[attr-defined]
        return [dict(r._mapping) for r in conn.execute(table.select())]


@pytest.fixture
def anonymous(db: Database, tenant_id: int, keys: ResponseKeys) -> Iterator[Round]:
    """An anonymous school check-in: five of six heads answer on different days, one twice."""
    launched = launch(
        db, tenant_id, shipped_templates()["school_checkin"], anonymous=True, first=FIRST_INVITATION
    )
    for day, (person_id, answers) in enumerate(CHECKINS.items()):
        submit(db, launched, person_id, answers, keys, now=OPENS + timedelta(days=day))
    changed = {**CHECKINS[7002], "current_position": "red"}
    del changed["position_notes"]
    submit(db, launched, 7002, changed, keys, now=OPENS + timedelta(days=6))
    yield launched


def identifying_values(db: Database, launched: Round) -> dict[str, set[str]]:
    """Everything on the person side that would name a respondent, as text."""
    with db.session() as s:
        _, invitations = launched.load(s)
        people = s.exec(select(Person)).all()
        values: dict[str, set[str]] = {
            "person id": {str(p.id) for p in people},
            "person name or e-mail": {p.name for p in people} | {p.email for p in people},
            "invitation id": {str(i.id) for i in invitations.values()},
            "school": {str(i.subject_id) for i in invitations.values()},
            "answered_at": {str(i.answered_at) for i in invitations.values() if i.answered_at},
        }
    return values


# --- the anonymous round ------------------------------------------------------------------


def test_no_column_of_a_response_or_answer_equals_or_embeds_anything_that_names_a_person(
    db: Database, anonymous: Round
) -> None:
    naming = identifying_values(db, anonymous)
    stored = rows(db, SurveyResponse) + rows(db, SurveyAnswer)
    assert len(rows(db, SurveyResponse)) == 5
    for row in stored:
        for column, value in row.items():
            if value is None:
                continue
            rendered = value.hex if isinstance(value, uuid.UUID) else str(value)
            tokens = set(re.findall(r"[A-Za-z0-9@.]+", rendered))
            for what, candidates in naming.items():
                hits = candidates & ({rendered} | tokens)
                assert not hits, f"{column}={rendered!r} carries {what} {hits}"


def test_responses_carry_no_person_and_no_time(db: Database, anonymous: Round) -> None:
    for response in rows(db, SurveyResponse):
        assert response["respondent_person_id"] is None
        assert response["submitted_at"] is None
        assert response["subject_kind"] == "partnership"  # never the school, which names its head
    answer_columns = {c["name"] for c in inspect(db.engine).get_columns("survey_answer")}
    assert answer_columns == {"response_id", "question_id", "tenant_id", "value", "comment"}


def test_the_response_key_is_no_hash_anyone_could_compute_without_the_pepper(
    db: Database, anonymous: Round
) -> None:
    stored_keys = {r["respondent_key"] for r in rows(db, SurveyResponse)}
    assert len(stored_keys) == 5
    guesses: set[str] = set()
    for person_id, invitation_id in anonymous.invitations.items():
        school = HEADS[person_id]
        for message in (
            str(person_id),
            str(invitation_id),
            f"{anonymous.id}:{person_id}",
            f"{anonymous.tenant_id}:{anonymous.id}:{person_id}:school:{school}",
            f"slis-survey-response-v1:{anonymous.tenant_id}:{anonymous.id}:{person_id}:school:{school}",
        ):
            data = message.encode()
            guesses |= {
                hashlib.sha256(data).hexdigest(),
                hashlib.md5(data).hexdigest(),  # noqa: S324
                hashlib.sha1(data).hexdigest(),  # noqa: S324
                hmac.new(b"", data, hashlib.sha256).hexdigest(),
            }
    assert not stored_keys & guesses
    # With the pepper the app finds each person's own response; with another pepper, nobody's.
    with db.session() as s:
        survey, _ = anonymous.load(s)
        assert answered_invitation_ids(s, survey, ResponseKeys(PEPPER)) == {
            anonymous.invitations[p] for p in CHECKINS
        }
        assert answered_invitation_ids(s, survey, ResponseKeys("another-" + "y" * 40)) == set()


def test_no_join_between_what_was_answered_and_who_answered_matches_a_row(
    db: Database, anonymous: Round
) -> None:
    """Every column of responses and answers against every column that names a person."""
    cast_type = "VARCHAR" if db.engine.dialect.name == "postgresql" else "TEXT"

    def as_text(alias: str, column: str) -> str:
        return f"CAST({alias}.{column} AS {cast_type})"

    answer_side = {
        "survey_response": [c["name"] for c in inspect(db.engine).get_columns("survey_response")],
        "survey_answer": [c["name"] for c in inspect(db.engine).get_columns("survey_answer")],
    }
    person_side = {
        "survey_invitation": ["id", "person_id", "subject_id", "answered_at"],
        "person": ["id", "name", "email"],
        "school": ["id", "urn"],
    }
    tried = 0
    with db.engine.connect() as conn:
        for a_table, a_columns in answer_side.items():
            for p_table, p_columns in person_side.items():
                for a_col in a_columns:
                    for p_col in p_columns:
                        matches = conn.execute(
                            text(
                                f"SELECT COUNT(*) FROM {a_table} a JOIN {p_table} p "  # noqa: S608
                                f"ON {as_text('a', a_col)} = {as_text('p', p_col)}"
                            )
                        ).scalar_one()
                        tried += 1
                        assert matches == 0, f"{a_table}.{a_col} joins {p_table}.{p_col}"
        # What they share by design is the group an answer is filed under: never one person.
        group_sizes = conn.execute(
            text(
                "SELECT r.id, COUNT(i.id) FROM survey_response r JOIN survey_invitation i "
                "ON i.round_id = r.round_id AND i.response_subject_kind = r.subject_kind "
                "AND i.response_subject_id = r.subject_id GROUP BY r.id"
            )
        ).all()
    assert tried > 60
    assert len(group_sizes) == 5
    assert min(size for _, size in group_sizes) >= 3


def test_response_ids_are_random_not_sequential(db: Database, anonymous: Round) -> None:
    ids = [r["id"] for r in rows(db, SurveyResponse)]
    assert all(isinstance(i, uuid.UUID) and i.version == 4 for i in ids)
    # Sequential or time-ordered ids share long prefixes; random ones essentially never do.
    prefixes = {i.hex[:8] for i in ids}
    assert len(prefixes) == len(ids)
    answer_keys = {(r["response_id"], r["question_id"]) for r in rows(db, SurveyAnswer)}
    assert {r for r, _ in answer_keys} == set(ids)


def test_sqlite_keeps_no_hidden_rowid_that_would_give_the_order_of_answers(
    db: Database, anonymous: Round
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("rowid is SQLite's")
    with db.engine.connect() as conn:
        for table in ("survey_response", "survey_answer"):
            with pytest.raises(OperationalError, match="no such column"):
                conn.execute(text(f"SELECT rowid FROM {table}"))  # noqa: S608


def test_answering_writes_nothing_on_the_invitations(db: Database, anonymous: Round) -> None:
    with db.session() as s:
        _, invitations = anonymous.load(s)
    assert not any(i.answered for i in invitations.values())
    assert all(i.answered_at is None for i in invitations.values())
    if db.engine.dialect.name == "postgresql":
        # Not even PostgreSQL's row versions: the invitations are still as the launch wrote them.
        with db.engine.connect() as conn:
            versions = conn.execute(
                text(
                    "SELECT COUNT(DISTINCT xmin::text) FROM survey_invitation WHERE round_id = :r"
                ),
                {"r": anonymous.id},
            ).scalar_one()
        assert versions == 1


def test_a_person_changing_their_answer_updates_their_one_response(
    db: Database, anonymous: Round, keys: ResponseKeys
) -> None:
    with db.session() as s:
        survey, invitations = anonymous.load(s)
        response_id = find_response(s, survey, invitations[7002], keys)
        assert response_id is not None
        answers, comments = response_answers(s, response_id)
        assert answers == {"current_position": "red", "welcome_support": "not_now"}
        assert comments == {}
        response = s.get(SurveyResponse, response_id)
        assert response is not None and response.revision == 2
        assert find_response(s, survey, invitations[7006], keys) is None
    assert len(rows(db, SurveyResponse)) == 5
    assert sorted(r["revision"] for r in rows(db, SurveyResponse)) == [1, 1, 1, 1, 2]


def test_who_has_answered_is_known_to_the_app_through_the_key(
    db: Database, anonymous: Round, keys: ResponseKeys
) -> None:
    with db.session() as s:
        survey, invitations = anonymous.load(s)
        assert has_answered(s, survey, invitations[7001], keys)
        assert not has_answered(s, survey, invitations[7006], keys)
        assert answered_invitation_ids(s, survey, keys) == {
            anonymous.invitations[p] for p in CHECKINS
        }


def test_sealing_marks_who_answered_at_once_and_forgets_the_order_of_responses(
    db: Database, anonymous: Round, keys: ResponseKeys
) -> None:
    before = {
        (r["subject_id"], r["revision"], r["respondent_key"]) for r in rows(db, SurveyResponse)
    }
    content_before = sorted(
        (r["question_id"], str(r["value"]), str(r["comment"])) for r in rows(db, SurveyAnswer)
    )
    old_ids = {r["id"] for r in rows(db, SurveyResponse)}
    with db.session() as s:
        survey, _ = anonymous.load(s)
        assert seal_anonymous_round(s, survey, keys) == 5
    with db.session() as s:
        _, invitations = anonymous.load(s)
    assert {p for p, i in invitations.items() if i.answered} == set(CHECKINS)
    assert all(i.answered_at is None for i in invitations.values())
    after = rows(db, SurveyResponse)
    assert {(r["subject_id"], r["revision"], r["respondent_key"]) for r in after} == before
    assert not old_ids & {r["id"] for r in after}
    assert (
        sorted(
            (r["question_id"], str(r["value"]), str(r["comment"])) for r in rows(db, SurveyAnswer)
        )
        == content_before
    )
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            for table in ("survey_response", "survey_answer"):
                versions = conn.execute(
                    text(f"SELECT COUNT(DISTINCT xmin::text) FROM {table}")  # noqa: S608
                ).scalar_one()
                assert versions == 1, table
    # The app still finds each person's own answers after the seal.
    with db.session() as s:
        survey, invitations = anonymous.load(s)
        response_id = find_response(s, survey, invitations[7003], keys)
        assert response_id is not None
        assert response_answers(s, response_id)[0] == CHECKINS[7003]
        # Sealing again changes no flags.
        assert seal_anonymous_round(s, survey, keys) == 0


def test_reseal_of_a_round_without_responses_does_nothing(
    db: Database, tenant_id: int, keys: ResponseKeys
) -> None:
    launched = launch(
        db, tenant_id, shipped_templates()["school_checkin"], anonymous=True, first=9101
    )
    with db.session() as s:
        assert reseal_responses(s, launched.id) == 0


def test_an_anonymous_school_answer_is_never_filed_under_the_school(
    db: Database, tenant_id: int, keys: ResponseKeys
) -> None:
    launched = launch(
        db, tenant_id, shipped_templates()["school_checkin"], anonymous=True, first=9201
    )
    with db.session() as s:
        survey, invitations = launched.load(s)
        invitation = invitations[7001]
        invitation.response_subject_kind = "school"
        invitation.response_subject_id = invitation.subject_id
        with pytest.raises(ValueError, match="never the school"):
            record_anonymous_submission(s, survey, invitation, CHECKINS[7001], keys=keys)


def test_answers_that_do_not_fit_the_round_are_refused_and_nothing_is_stored(
    db: Database, tenant_id: int, keys: ResponseKeys
) -> None:
    launched = launch(
        db, tenant_id, shipped_templates()["school_checkin"], anonymous=True, first=9301
    )
    with pytest.raises(InvalidAnswers) as caught:
        submit(db, launched, 7001, {"current_position": "purple"}, keys)
    assert caught.value.problems == [
        "current_position: choose red, amber or green",
        "welcome_support: an answer is required",
    ]
    assert rows(db, SurveyResponse) == []


def test_the_round_keeps_the_questions_it_was_launched_with(
    db: Database, tenant_id: int, keys: ResponseKeys
) -> None:
    template = shipped_templates()["school_checkin"]
    snapshot = template.snapshot()
    snapshot["questions"] = [q for q in snapshot["questions"] if q["id"] != "welcome_support"]
    launched = launch(db, tenant_id, Template.from_snapshot(snapshot), anonymous=True, first=9401)
    submit(db, launched, 7001, {"current_position": "green"}, keys)  # no welcome_support
    with pytest.raises(InvalidAnswers, match="no such question"):
        submit(db, launched, 7002, CHECKINS[7001], keys)


# --- keys ---------------------------------------------------------------------------------


def test_the_pepper_must_be_long_and_is_never_shown() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ResponseKeys("short")
    keys = ResponseKeys(PEPPER)
    assert PEPPER not in repr(keys)


def test_a_key_depends_on_pepper_round_person_and_subject() -> None:
    def invitation(**change: Any) -> SurveyInvitation:
        values = {
            "tenant_id": 1,
            "round_id": 5,
            "person_id": 7001,
            "subject_kind": "school",
            "subject_id": 3001,
            "response_subject_kind": "partnership",
            "response_subject_id": 601,
        }
        return SurveyInvitation(**{**values, **change})

    keys = ResponseKeys(PEPPER)
    base = keys.key_for(invitation())
    assert base == keys.key_for(invitation())
    assert len(base) == 64
    variants = [
        keys.key_for(invitation(round_id=6)),
        keys.key_for(invitation(person_id=7002)),
        keys.key_for(invitation(subject_id=3002)),
        ResponseKeys(PEPPER + "!").key_for(invitation()),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


# --- the named round ----------------------------------------------------------------------


def test_a_named_round_stores_who_and_when_and_updates_on_resubmission(
    db: Database, tenant_id: int, keys: ResponseKeys
) -> None:
    template = shipped_templates()["partnership_healthcheck"]
    launched = launch(db, tenant_id, template, anonymous=False, first=9501)
    answers: dict[str, Any] = {item.id: 3 for item in template.items}
    answers["diamond_nine"] = [
        ["trust"],
        ["vision", "engagement"],
        ["system_leadership", "la_role", "support_capacity"],
        ["regional_links", "partnership_structures"],
        ["financial_contributions"],
    ]
    first = OPENS + timedelta(days=1, hours=3)
    submit(db, launched, 7004, answers, keys, {"trust": "Better than last year."}, now=first)
    later = first + timedelta(days=2)
    submit(db, launched, 7004, {**answers, "trust": 4}, keys, now=later)

    responses = rows(db, SurveyResponse)
    assert len(responses) == 1
    response = responses[0]
    assert response["respondent_person_id"] == 7004
    assert response["respondent_key"] is None
    assert (response["subject_kind"], response["subject_id"]) == ("school", HEADS[7004])
    assert response["revision"] == 2
    assert aware(response["submitted_at"]) == later
    with db.session() as s:
        survey, invitations = launched.load(s)
        invitation = invitations[7004]
        assert invitation.answered
        assert invitation.answered_at is not None and aware(invitation.answered_at) == later
        assert answered_invitation_ids(s, survey, keys) == {invitation.id}
        assert has_answered(s, survey, invitation, keys)
        assert not has_answered(s, survey, invitations[7005], keys)
        response_id = find_response(s, survey, invitation, keys)
        assert response_id == response["id"]
        stored, comments = response_answers(s, response_id)
        assert stored["trust"] == 4
        assert stored["diamond_nine"] == answers["diamond_nine"]
        assert comments == {}  # the second submission had none
        with pytest.raises(ValueError, match="only an anonymous round"):
            seal_anonymous_round(s, survey, keys)
        with pytest.raises(ValueError, match="this round is named"):
            record_anonymous_submission(s, survey, invitation, answers, keys=keys)


def test_an_anonymous_round_refuses_a_named_submission(
    db: Database, tenant_id: int, keys: ResponseKeys
) -> None:
    launched = launch(
        db, tenant_id, shipped_templates()["school_checkin"], anonymous=True, first=9601
    )
    with db.session() as s:
        survey, invitations = launched.load(s)
        with pytest.raises(ValueError, match="this round is anonymous"):
            record_named_submission(s, survey, invitations[7001], CHECKINS[7001], now=OPENS)


def test_an_invitation_from_another_round_is_refused(
    db: Database, tenant_id: int, keys: ResponseKeys
) -> None:
    template = shipped_templates()["school_checkin"]
    one = launch(db, tenant_id, template, anonymous=False, first=9701)
    other = launch(db, tenant_id, template, anonymous=False, first=9801)
    with db.session() as s:
        survey, _ = one.load(s)
        _, invitations = other.load(s)
        with pytest.raises(ValueError, match="not for this round"):
            record_named_submission(s, survey, invitations[7001], CHECKINS[7001], now=OPENS)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
