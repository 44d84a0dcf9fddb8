"""Recording healthcheck submissions, named or anonymous, and finding a person's own again.

Every submission is checked against the template the round was launched with, and a second
submission for the same invitation updates the first (`revision` + 1), never adds another.

Named rounds file the response under the person and mark their invitation answered, in the same
transaction. Anonymous rounds (see `storage.survey_tables` for the whole argument) file it under
a key only the app can compute (`ResponseKeys`, from the SLIS_ANONYMITY_PEPPER setting) and do
not touch the invitation at all; `seal_anonymous_round`, at close, marks everyone who answered in
one go and rewrites the round's responses in random order under fresh ids.

What callers must not do in the transaction that records an anonymous submission: write any
row that names the person (an outbox message, an audit entry), lock or update their invitation
(in PostgreSQL a row lock leaves the locking transaction's id on the row), or log the person
together with the response id. The summary of what they sent goes back on the request itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, and_, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.services.healthcheck.templates import Template
from storage.engine import chunks
from storage.survey_tables import SurveyAnswer, SurveyInvitation, SurveyResponse, SurveyRound

PEPPER_MIN_LENGTH = 32
T = TypeVar("T")


_R: Table = cast(Table, SurveyResponse.__table__)  # type: ignore[attr-defined]
_A: Table = cast(Table, SurveyAnswer.__table__)  # type: ignore[attr-defined]


class InvalidAnswers(ValueError):
    """The answers do not fit the round's questions; `problems` says why, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Submission:
    """What was stored: the response's id and its revision (1 for a first submission).

    In an anonymous round the id is for showing the person what they sent, now; never store
    it anywhere next to the person.
    """

    response_id: uuid.UUID
    revision: int


class ResponseKeys:
    """The key an anonymous response is filed under: HMAC-SHA256 of the invitation's identity
    under a secret pepper that lives in the app's settings, never in the database."""

    def __init__(self, pepper: str | bytes) -> None:
        raw = pepper.encode() if isinstance(pepper, str) else pepper
        if len(raw) < PEPPER_MIN_LENGTH:
            raise ValueError(
                f"the anonymity pepper must be at least {PEPPER_MIN_LENGTH} bytes of secret "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        self._pepper = raw

    def __repr__(self) -> str:
        return "ResponseKeys(<pepper hidden>)"

    def key_for(self, invitation: SurveyInvitation) -> str:
        return self._mac("slis-survey-response-v1", invitation)

    def draft_key_for(self, invitation: SurveyInvitation) -> str:
        """The key of the person's unsent pages (a different HMAC: a draft and a response
        cannot be matched by their keys)."""
        return self._mac("slis-survey-draft-v1", invitation)

    def _mac(self, purpose: str, invitation: SurveyInvitation) -> str:
        message = ":".join(
            (
                purpose,
                str(invitation.tenant_id),
                str(invitation.round_id),
                str(invitation.person_id),
                invitation.subject_kind,
                str(invitation.subject_id),
            )
        )
        return hmac.new(self._pepper, message.encode(), hashlib.sha256).hexdigest()


def record_submission(
    session: Session,
    survey_round: SurveyRound,
    invitation: SurveyInvitation,
    answers: Mapping[str, object],
    comments: Mapping[str, str] | None = None,
    *,
    keys: ResponseKeys | None,
    now: datetime,
) -> Submission:
    """Store a complete answer set for `invitation`, the way the round's anonymity asks
    (`keys` may be None for a named round only)."""
    if survey_round.anonymous:
        return record_anonymous_submission(
            session, survey_round, invitation, answers, comments, keys=keys
        )
    return record_named_submission(session, survey_round, invitation, answers, comments, now=now)


def record_named_submission(
    session: Session,
    survey_round: SurveyRound,
    invitation: SurveyInvitation,
    answers: Mapping[str, object],
    comments: Mapping[str, str] | None = None,
    *,
    now: datetime,
) -> Submission:
    """Store the answers under the person and mark their invitation answered at `now`."""
    if survey_round.anonymous:
        raise ValueError("this round is anonymous: use record_anonymous_submission")
    template = _checked(survey_round, invitation, answers, comments)
    values = _response_values(invitation, person_id=invitation.person_id, key=None, at=now)
    submission = _upsert_response(
        session,
        values,
        ("round_id", "respondent_person_id", "subject_kind", "subject_id"),
        also_set={"submitted_at": now},
    )
    _write_answers(session, template, invitation.tenant_id, submission, answers, comments)
    invitation.answered = True
    invitation.answered_at = now
    session.add(invitation)
    return submission


def record_anonymous_submission(
    session: Session,
    survey_round: SurveyRound,
    invitation: SurveyInvitation,
    answers: Mapping[str, object],
    comments: Mapping[str, str] | None = None,
    *,
    keys: ResponseKeys | None,
) -> Submission:
    """Store the answers under the invitation's key, with no person, time or invitation on
    them; the invitation itself is left alone until the round is sealed."""
    if not survey_round.anonymous:
        raise ValueError("this round is named: use record_named_submission")
    template = _checked(survey_round, invitation, answers, comments)
    if template.scope == "school" and invitation.response_subject_kind == "school":
        raise ValueError(
            "in an anonymous round a school's answers are filed under its partnership or "
            "quadrant, never the school: set the invitation's response subject at launch"
        )
    key = _required(keys).key_for(invitation)
    values = _response_values(invitation, person_id=None, key=key, at=None)
    submission = _upsert_response(session, values, ("round_id", "respondent_key"))
    _write_answers(session, template, invitation.tenant_id, submission, answers, comments)
    return submission


def find_response(
    session: Session,
    survey_round: SurveyRound,
    invitation: SurveyInvitation,
    keys: ResponseKeys | None,
) -> uuid.UUID | None:
    """The id of the response this invitation's person sent, if any (to show or change it);
    `keys` may be None for a named round only."""
    where = [_R.c.round_id == invitation.round_id]
    if survey_round.anonymous:
        where.append(_R.c.respondent_key == _required(keys).key_for(invitation))
    else:
        where += [
            _R.c.respondent_person_id == invitation.person_id,
            _R.c.subject_kind == invitation.response_subject_kind,
            _R.c.subject_id == invitation.response_subject_id,
        ]
    row = session.exec(select(_R.c.id).where(*where)).first()
    return None if row is None else cast(uuid.UUID, row)


def response_answers(
    session: Session, response_id: uuid.UUID
) -> tuple[dict[str, Any], dict[str, str]]:
    """A stored response as (answers, comments) by question id, as the template takes them."""
    answers: dict[str, Any] = {}
    comments: dict[str, str] = {}
    for row in session.exec(select(SurveyAnswer).where(SurveyAnswer.response_id == response_id)):
        if row.value is not None:
            answers[row.question_id] = row.value
        if row.comment is not None:
            comments[row.question_id] = row.comment
    return answers, comments


def has_answered(
    session: Session, survey_round: SurveyRound, invitation: SurveyInvitation, keys: ResponseKeys
) -> bool:
    """Whether this invitation's person has sent their answers."""
    if invitation.answered:
        return True
    if not survey_round.anonymous:
        return False
    return find_response(session, survey_round, invitation, keys) is not None


def answered_invitation_ids(
    session: Session, survey_round: SurveyRound, keys: ResponseKeys
) -> set[int]:
    """The invitations of the round whose person has answered (for nudges and status).

    Anonymous rounds are answered by key, computed here, in memory: nothing is written.
    """
    invitations = session.exec(
        select(SurveyInvitation).where(SurveyInvitation.round_id == survey_round.id)
    ).all()
    answered = {i.id for i in invitations if i.answered and i.id is not None}
    if not survey_round.anonymous:
        return answered
    by_key = {keys.key_for(i): i.id for i in invitations if i.id is not None}
    for chunk in chunks(list(by_key)):
        found = session.exec(
            select(_R.c.respondent_key).where(
                _R.c.round_id == survey_round.id, _R.c.respondent_key.in_(chunk)
            )
        )
        answered |= {by_key[key] for key in found}
    return answered


def seal_anonymous_round(session: Session, survey_round: SurveyRound, keys: ResponseKeys) -> int:
    """At close: mark every invitation whose person answered, all at once (`answered_at` stays
    empty), and rewrite the round's responses so no trace of their order is left.

    Returns how many invitations were newly marked answered. In one transaction the rewritten
    responses and the marked invitations share a PostgreSQL `xmin`; the rounds service runs
    `reseal_responses` in a transaction of its own first, then `mark_answered`.
    """
    newly = mark_answered(session, survey_round, keys)
    assert survey_round.id is not None
    reseal_responses(session, survey_round.id)
    return newly


def mark_answered(session: Session, survey_round: SurveyRound, keys: ResponseKeys) -> int:
    """Mark every invitation of an anonymous round whose person answered, all at once, with no
    time; returns how many were newly marked."""
    if not survey_round.anonymous:
        raise ValueError("only an anonymous round is sealed")
    newly = 0
    answered = answered_invitation_ids(session, survey_round, keys)
    for chunk in chunks(sorted(answered)):
        result = session.exec(
            update(SurveyInvitation)
            .where(col(SurveyInvitation.id).in_(chunk), col(SurveyInvitation.answered).is_(False))
            .values(answered=True)
        )
        newly += int(result.rowcount or 0)
    return newly


def reseal_responses(session: Session, round_id: int) -> int:
    """Rewrite a round's responses and answers in one transaction, in random order, under fresh
    random ids: afterwards they share one PostgreSQL `xmin` and their order on disk is random,
    so nothing records the order in which they came. Returns how many responses."""
    conn = session.connection()
    responses = [
        dict(r._mapping) for r in conn.execute(_R.select().where(_R.c.round_id == round_id))
    ]
    if not responses:
        return 0
    old_ids = [r["id"] for r in responses]
    answers: list[dict[str, Any]] = []
    for chunk in chunks(old_ids):
        answers += [
            dict(a._mapping) for a in conn.execute(_A.select().where(_A.c.response_id.in_(chunk)))
        ]
        session.exec(delete(_A).where(_A.c.response_id.in_(chunk)))
    session.exec(delete(_R).where(_R.c.round_id == round_id))
    fresh = {old: uuid.uuid4() for old in old_ids}
    shuffle = secrets.SystemRandom().shuffle
    shuffle(responses)
    shuffle(answers)
    for response in responses:
        response["id"] = fresh[response["id"]]
    for answer in answers:
        answer["response_id"] = fresh[answer["response_id"]]
    session.exec(_R.insert().values(responses))
    if answers:
        session.exec(_A.insert().values(answers))
    return len(responses)


# --- helpers ---------------------------------------------------------------------------------


def _required(keys: ResponseKeys | None) -> ResponseKeys:
    if keys is None:
        raise ValueError("an anonymous round needs the response keys (SLIS_ANONYMITY_PEPPER)")
    return keys


def _checked(
    survey_round: SurveyRound,
    invitation: SurveyInvitation,
    answers: Mapping[str, object],
    comments: Mapping[str, str] | None,
) -> Template:
    if invitation.round_id != survey_round.id or invitation.tenant_id != survey_round.tenant_id:
        raise ValueError("the invitation is not for this round")
    template = Template.from_snapshot(survey_round.template_snapshot)
    problems = template.validate_answers(answers, comments)
    if problems:
        raise InvalidAnswers(problems)
    return template


def _response_values(
    invitation: SurveyInvitation, *, person_id: int | None, key: str | None, at: datetime | None
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),  # random, never time-ordered: ids must not tell who came first
        "tenant_id": invitation.tenant_id,
        "round_id": invitation.round_id,
        "subject_kind": invitation.response_subject_kind,
        "subject_id": invitation.response_subject_id,
        "respondent_person_id": person_id,
        "respondent_key": key,
        "submitted_at": at,
        "revision": 1,
    }


def _upsert_response(
    session: Session,
    values: dict[str, Any],
    unique: Sequence[str],
    also_set: Mapping[str, Any] | None = None,
) -> Submission:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING: a concurrent first submission waits for the other transaction,
    # then adds nothing and updates the row that one added.
    added = session.exec(
        insert(_R)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(_R.c.id)
    ).first()
    if added is not None:
        return Submission(added[0], 1)
    row = session.exec(
        update(_R)
        .where(and_(*(_R.c[name] == values[name] for name in unique)))
        .values(revision=_R.c.revision + 1, **(also_set or {}))
        .returning(_R.c.id, _R.c.revision)
    ).one()
    return Submission(row[0], row[1])


def _write_answers(
    session: Session,
    template: Template,
    tenant_id: int,
    submission: Submission,
    answers: Mapping[str, object],
    comments: Mapping[str, str] | None,
) -> None:
    session.exec(delete(_A).where(_A.c.response_id == submission.response_id))
    rows = []
    for question in template.questions:
        value = answers.get(question.id)
        if (isinstance(value, str) and not value.strip()) or value in ([], ()):
            value = None
        comment = (comments or {}).get(question.id) or None
        if value is not None or comment is not None:
            rows.append(
                {
                    "response_id": submission.response_id,
                    "question_id": question.id,
                    "tenant_id": tenant_id,
                    "value": value,
                    "comment": comment,
                }
            )
    if rows:
        session.exec(_A.insert().values(rows))
