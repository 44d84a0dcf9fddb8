"""The outbox: every message the bot starts is a row first, sent later by the relay.

`enqueue` adds a row in the caller's transaction, under a unique idempotency key, so a state
change and the messages it causes commit together and a repeated change adds nothing.
`OutboxService` is what the relay (scheduler.relay) and `slis outbox` use: claim due rows,
record how sending went, park rows that cannot be sent and tell the tenant's administrators.

A row's life: pending -> in_flight (claimed: attempts + 1) -> sent, or back to pending for a
retry, or failed ("parked": kept for `slis outbox retry`). Rows with the same destination (a
person, or a conversation) go one at a time, in the order they were due.

A row may instead *edit* the message of an earlier row (`edits=<its key>`): once that message
is sent, the relay replaces its content on the platform; while it is still unsent (pending, or
parked) the edit is folded into it: the earlier row's payload becomes the edit's, and the edit
row is marked sent with no message id and a `superseded: ...` note in `last_error`, without a
call to the platform. A row may also be a *reply in the thread* of an earlier row's message
(`thread_of=<its key>`); if that message is not sent, the reply is posted on its own. Pass the
earlier row's recipient, so that per-destination order keeps the edit or reply behind it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, case, exists, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.errors import NotFound, UserError
from bot.ports import Clock
from bot.reply_codec import reply_from_json, reply_to_json
from bot.services.conversations import (
    NEEDS_STORED_CONVERSATION,
    conversation_state,
    personal_conversation,
)
from bot.services.workspaces import UNINSTALLED_ERROR, gone_workspaces
from bot.types import Context, ConversationRef, Heading, Paragraph, Platform, Reply, Role
from storage.engine import Database
from storage.models import ChatIdentity, Person, RoleAssignment, Tenant, aware, maybe_aware
from storage.outbox_tables import OutboxMessage

log = logging.getLogger(__name__)

PENDING = "pending"
IN_FLIGHT = "in_flight"
SENT = "sent"
FAILED = "failed"

ALERT_PREFIX = "outbox-alert:"
KEY_LIMIT = 255
# `last_error` of an edit row folded into its unsent original (sent, but no message id).
SUPERSEDED = "superseded"
# Links from an edit to the row it edits are followed this far (an edit of an edit...).
_CHAIN_LIMIT = 20

_T: Table = cast(Table, OutboxMessage.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: a person (their chat account is found when it is sent) or a
    conversation. Exactly one of the two."""

    person_id: int | None = None
    conversation: ConversationRef | None = None


@dataclass(frozen=True)
class OutboxPolicy:
    """How patient the relay is: the numbers behind claiming, retrying and parking."""

    # A row in flight longer than this was being sent by a process that has since died.
    lease: timedelta = timedelta(seconds=60)
    # Failed attempts (5xx, network) before a row is parked; rate limits do not count.
    max_attempts: int = 8
    # Exponential backoff with full jitter: attempt n waits up to min(cap, base * 2**(n-1)).
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_cap: timedelta = timedelta(minutes=5)
    # How far before an earlier attempt to look for the message on the platform, for clock skew.
    check_margin: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    """A row this relay is sending now, with everything needed to send it."""

    id: int
    tenant_id: int
    key: str
    to: ConversationRef | None  # None: the recipient cannot be reached; see `problem`
    reply: Reply | None
    attempts: int  # including this one
    needs_check: bool  # an earlier attempt may have arrived: ask the platform first
    check_since: datetime  # where to start looking for an earlier attempt
    claimed_at: datetime
    problem: str | None = None
    # An edit of a sent message: replace the content of this message id (in `to`) with `reply`.
    edit_of: str | None = None
    # A reply in a thread: post it in the thread of this message id (in `to`).
    thread: str | None = None
    # Edits were folded into this row while it waited: if `needs_check` finds an earlier
    # attempt on the platform, that message has old content and must be brought up to date.
    edited: bool = False
    # Nothing to send: an edit folded into its unsent original, already recorded as sent.
    folded: bool = False
    # Its workspace uninstalled the app: parked without alerts (the uninstall is audited).
    workspace_gone: bool = False

    @property
    def is_alert(self) -> bool:
        return self.key.startswith(ALERT_PREFIX)


@dataclass(frozen=True)
class FailedRow:
    """A parked row, as `slis outbox status` lists it."""

    id: int
    tenant_id: int
    key: str
    recipient: str
    attempts: int
    error: str
    not_before: datetime
    failed_at: datetime | None


@dataclass(frozen=True)
class TenantCounts:
    tenant_id: int
    tenant_name: str
    pending: int = 0
    due: int = 0  # pending rows whose time has come
    in_flight: int = 0
    failed: int = 0
    sent: int = 0


@dataclass(frozen=True)
class OutboxStatus:
    tenants: list[TenantCounts] = field(default_factory=list)
    failed: list[FailedRow] = field(default_factory=list)


def destination_of(to: Recipient) -> str:
    """The key that orders and paces rows: one conversation, or one person."""
    if to.person_id is not None:
        return f"person:{to.person_id}"
    assert to.conversation is not None
    c = to.conversation
    return f"{c.platform.value}:{c.workspace_id}:{c.conversation_id}"


def enqueue(
    session: Session,
    *,
    tenant_id: int,
    key: str,
    to: Recipient,
    reply: Reply,
    not_before: datetime,
    now: datetime,
    edits: str | None = None,
    thread_of: str | None = None,
) -> bool:
    """Add a message to the outbox in the caller's transaction.

    Returns False, adding nothing, when a row with `key` already exists: the key is what makes
    a repeated state change send its messages once. `now` is the caller's clock time (the
    row's `created_at`). `edits`: the key of an earlier row whose message this one replaces
    (send edits with `not_before` now); `thread_of`: the key of an earlier row in whose thread
    this is a reply. Give the earlier row's recipient in `to`.
    Also False for a person who has been erased: nothing more is sent to them.
    Raises ValueError for a recipient that is not exactly one of person or conversation, a
    person of another tenant, an empty or overlong key, both `edits` and `thread_of`, or a
    naive `not_before` or `now`.
    """
    _check(key, to, edits, thread_of, reply)
    _check_aware(not_before, now)
    if to.person_id is not None:
        found = session.exec(
            select(Person.tenant_id, Person.erased_at).where(Person.id == to.person_id)
        ).first()
        if found is None or found[0] != tenant_id:
            raise ValueError(f"person {to.person_id} is not in tenant {tenant_id}")
        if found[1] is not None:
            return False
    values = _row(tenant_id, key, to, reply, not_before.astimezone(UTC), now.astimezone(UTC))
    values.update(edits_key=edits, thread_key=thread_of)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING: a concurrent insert of the same key waits for the other
    # transaction and then adds nothing, instead of failing the caller's transaction.
    stmt = insert(_T).values(**values).on_conflict_do_nothing(index_elements=["key"])
    result = session.exec(stmt.returning(_T.c.id))
    return result.first() is not None


@dataclass(frozen=True)
class Message:
    """One message for `enqueue_many`: its idempotency key, recipient and content, and the
    key of the row whose message it edits or in whose thread it replies (see `enqueue`)."""

    key: str
    to: Recipient
    reply: Reply
    edits: str | None = None
    thread_of: str | None = None


def enqueue_many(
    session: Session,
    *,
    tenant_id: int,
    messages: Sequence[Message],
    not_before: datetime,
    now: datetime,
) -> int:
    """`enqueue` for many messages at once (one statement), due at the same time; returns
    how many rows were added (keys already there, and erased people, add nothing). Same checks
    as `enqueue`."""
    if not messages:
        return 0
    _check_aware(not_before, now)
    people = {m.to.person_id for m in messages if m.to.person_id is not None}
    found = session.exec(
        select(Person.id, Person.tenant_id, Person.erased_at).where(col(Person.id).in_(people))
    ).all()
    owners = {pid: tenant for pid, tenant, _ in found}
    erased = {pid for pid, _, at in found if at is not None}
    due = not_before.astimezone(UTC)
    created = now.astimezone(UTC)
    rows: list[dict[str, Any]] = []
    for m in messages:
        _check(m.key, m.to, m.edits, m.thread_of, m.reply)
        if m.to.person_id is not None and owners.get(m.to.person_id) != tenant_id:
            raise ValueError(f"person {m.to.person_id} is not in tenant {tenant_id}")
        if m.to.person_id in erased:
            continue
        row = _row(tenant_id, m.key, m.to, m.reply, due, created)
        row.update(edits_key=m.edits, thread_key=m.thread_of)
        rows.append(row)
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_T).values(rows).on_conflict_do_nothing(index_elements=["key"])
    return len(session.exec(stmt.returning(_T.c.id)).all())


def _check_aware(not_before: datetime, now: datetime) -> None:
    if not_before.tzinfo is None:
        raise ValueError("not_before must be timezone-aware")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def _check(key: str, to: Recipient, edits: str | None, thread_of: str | None, reply: Reply) -> None:
    if (to.person_id is None) == (to.conversation is None):
        raise ValueError("a recipient is exactly one of person_id or conversation")
    if reply.files and (to.person_id is None or edits is not None):
        # Files are for one person: never posted into a channel, and never an edit.
        raise ValueError("a reply with files goes to a person, as a new message")
    for name in (key, edits, thread_of):
        if name is not None and (not name or len(name) > KEY_LIMIT):
            raise ValueError(f"an outbox key has 1 to {KEY_LIMIT} characters")
    if edits is not None and thread_of is not None:
        raise ValueError("a message either edits another or replies in its thread, not both")
    if key in (edits, thread_of):
        raise ValueError(f"outbox row {key!r} cannot edit or reply to itself")


def _row(
    tenant_id: int, key: str, to: Recipient, reply: Reply, due: datetime, created: datetime
) -> dict[str, Any]:
    c = to.conversation
    return {
        "tenant_id": tenant_id,
        "key": key,
        "person_id": to.person_id,
        "platform": c.platform.value if c else None,
        "workspace_id": c.workspace_id if c else None,
        "conversation_id": c.conversation_id if c else None,
        "service_url": c.service_url if c else None,
        "destination": destination_of(to),
        "payload": reply_to_json(reply),
        "not_before": due,
        "next_attempt_at": due,
        "status": PENDING,
        "attempts": 0,
        "needs_check": False,
        "created_at": created,
    }


def retry_delay(attempt: int, *, base: timedelta, cap: timedelta, rng: random.Random) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1, 2, ...): exponential
    backoff with full jitter, a uniform draw from [0, min(cap, base * 2**(attempt-1))]."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** max(0, attempt - 1))
    return timedelta(seconds=rng.uniform(0, ceiling))


class OutboxService:
    """Claims, outcomes, parking and status of outbox rows; used by the relay and the CLI."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        policy: OutboxPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or OutboxPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets

    # --- the relay's side -----------------------------------------------------------------

    def claim_due(
        self,
        limit: int,
        platforms: Sequence[Platform],
        *,
        people_on: Sequence[Platform] | None = None,
    ) -> list[Claim]:
        """Claim up to `limit` due rows that can go now, and mark them in flight.

        A row can go when it is pending, its next attempt is due, it is the earliest unsent row
        of its destination and no row of that destination is in flight, and it is for a
        conversation on one of `platforms` or for a person. People are resolved now to a chat
        account on the first of `people_on` (default: `platforms`) they have one on; a claim
        whose recipient cannot be reached says so in `problem`.

        An edit or a thread reply also waits while the row it names is in flight. Claiming one
        resolves that row: an edit of a sent message comes with `edit_of` (the message id to
        replace) and `to` (where the message is); an edit of an unsent (pending or parked) row
        is folded into it here and comes back `folded`, with nothing left to send; an edit of a
        key no row of the tenant has comes with a `problem`. A reply to a sent message comes
        with `thread` (its id) and `to` its conversation; to an unsent or unknown one, it goes
        to its own recipient without a thread.

        The claim is one UPDATE ... RETURNING. On PostgreSQL its rows are chosen with FOR UPDATE
        SKIP LOCKED, so concurrent claimers never take the same row; on SQLite the statement
        opens the transaction and holds the database's single write lock (as BEGIN IMMEDIATE
        would) until the claim commits.

        Strictly in order per destination: a row waiting for its retry holds back later rows
        for the same person or conversation. Between destinations, rows go by their due time;
        there is no further fairness between tenants.
        """
        if limit <= 0 or not platforms:
            return []
        reachable = people_on if people_on is not None else platforms
        now = self.clock.now()
        names = [p.value for p in platforms]
        candidate = _T.alias("candidate")
        earlier = _T.alias("earlier")
        blocked = exists().where(
            earlier.c.destination == candidate.c.destination,
            or_(
                earlier.c.status == IN_FLIGHT,
                and_(
                    earlier.c.status == PENDING,
                    or_(
                        earlier.c.not_before < candidate.c.not_before,
                        and_(
                            earlier.c.not_before == candidate.c.not_before,
                            earlier.c.id < candidate.c.id,
                        ),
                    ),
                ),
            ),
        )
        # Usually the row an edit or reply names has its destination and `blocked` holds the
        # edit back; this covers a caller that gave another recipient.
        named = _T.alias("named")
        waits = and_(
            or_(candidate.c.edits_key.is_not(None), candidate.c.thread_key.is_not(None)),
            exists().where(
                or_(named.c.key == candidate.c.edits_key, named.c.key == candidate.c.thread_key),
                named.c.status == IN_FLIGHT,
            ),
        )
        heads = (
            select(candidate.c.id)
            .where(
                candidate.c.status == PENDING,
                candidate.c.next_attempt_at <= now,
                or_(candidate.c.person_id.is_not(None), candidate.c.platform.in_(names)),
                ~blocked,
                ~waits,
            )
            .order_by(candidate.c.next_attempt_at, candidate.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(_T)
            .where(_T.c.id.in_(heads))
            .values(
                status=IN_FLIGHT,
                claimed_at=now,
                attempts=_T.c.attempts + 1,
                first_attempt_at=func.coalesce(_T.c.first_attempt_at, now),
            )
            .returning(_T.c.id)
        )
        with self.db.session() as session:
            ids = [row[0] for row in session.exec(claim).all()]
            if not ids:
                return []
            rows = session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids))
                .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            ).all()
            gone = gone_workspaces(session)
            claims = [self._claimed(session, row, reachable, now, gone) for row in rows]
            return [c for c in claims if c is not None]

    def _claimed(
        self,
        session: Session,
        row: OutboxMessage,
        platforms: Sequence[Platform],
        now: datetime,
        gone: frozenset[tuple[str, str]] = frozenset(),
    ) -> Claim | None:
        """The claim for a row just marked in flight; None if it went back to wait for the row
        it names, which is in flight (or, for an edit, held by another claimer).

        Nothing goes to a workspace in `gone` (uninstalled): a person is reached on another
        platform if they can be, else the claim's problem is UNINSTALLED_ERROR, and the row is
        parked for `slis outbox retry` after a reinstall."""
        assert row.id is not None
        problem: str | None = None
        reply: Reply | None = None
        try:
            reply = reply_from_json(row.payload)
        except ValueError as exc:
            problem = f"unreadable message: {exc}"
        to: ConversationRef | None = None
        edit_of: str | None = None
        thread: str | None = None
        if row.edits_key is not None:
            original, missing = self._named(session, row, row.edits_key, through_threads=False)
            if original is None:
                problem = problem or f"it edits {row.edits_key!r}, but {missing}"
            elif original.status == SENT:
                to = _where(original)
                edit_of = original.message_id
                if to is None or edit_of is None:
                    to = None
                    problem = problem or f"row {original.id} it edits was sent without a message id"
                else:
                    _record_where(session, row, to)
            elif problem is None:
                return self._fold(session, row, original, now)
        else:
            if row.thread_key is not None:
                parent, _ = self._named(session, row, row.thread_key, through_threads=True)
                if parent is not None and parent.status == IN_FLIGHT:
                    # Claimed with it: wait for its message id rather than lose the thread.
                    self._unclaim(session, row, now)
                    return None
                where = _where(parent) if parent is not None and parent.status == SENT else None
                if parent is not None and where is not None and parent.message_id:
                    to, thread = where, parent.message_id
                    _record_where(session, row, to)
                else:
                    log.info(
                        "outbox row %s (%s): %s is not sent; posting without a thread",
                        row.id,
                        row.key,
                        row.thread_key,
                    )
            if to is None and row.person_id is not None:
                to, only_gone = self._chat_account(session, row, platforms, gone)
                if to is None and only_gone:
                    problem = problem or UNINSTALLED_ERROR
                elif to is None:
                    listed = ", ".join(p.value for p in platforms)
                    problem = f"person {row.person_id} has no chat account on {listed}"
                else:
                    _record_where(session, row, to)
            elif to is None:
                assert row.platform and row.workspace_id is not None and row.conversation_id
                to = ConversationRef(
                    Platform(row.platform), row.workspace_id, row.conversation_id, row.service_url
                )
                if to.platform in NEEDS_STORED_CONVERSATION and not _gone(to, gone):
                    to, removed = _stored(session, row.tenant_id, to)
                    problem = problem or removed
        if problem is None and _gone(to, gone):
            problem = UNINSTALLED_ERROR
        workspace_gone = problem == UNINSTALLED_ERROR
        if workspace_gone:
            to, edit_of, thread = None, None, None
        edited = False
        if row.needs_check and edit_of is None:
            edited = (
                session.exec(
                    select(OutboxMessage.id).where(OutboxMessage.edits_key == row.key).limit(1)
                ).first()
                is not None
            )
        first = maybe_aware(row.first_attempt_at) or now
        return Claim(
            id=row.id,
            tenant_id=row.tenant_id,
            key=row.key,
            to=to,
            reply=reply,
            attempts=row.attempts,
            needs_check=row.needs_check,
            check_since=first - self.policy.check_margin,
            claimed_at=now,
            problem=problem,
            edit_of=edit_of,
            thread=thread,
            edited=edited,
            workspace_gone=workspace_gone,
        )

    def _named(
        self, session: Session, row: OutboxMessage, key: str, *, through_threads: bool
    ) -> tuple[OutboxMessage | None, str]:
        """The row of the tenant whose message `key` names: an edit names what it edits, and
        with `through_threads` a reply names its thread's first message. Else why not."""
        seen: set[str] = set()
        for _ in range(_CHAIN_LIMIT):
            found = session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.tenant_id == row.tenant_id, OutboxMessage.key == key
                )
            ).first()
            if found is None:
                return None, f"no outbox row has the key {key!r}"
            seen.add(key)
            following = found.edits_key or (found.thread_key if through_threads else None)
            if following is None:
                return found, ""
            if following in seen or following == row.key:
                return None, f"the rows from {key!r} edit each other in a loop"
            key = following
        return None, f"more than {_CHAIN_LIMIT} edits of edits lead from it"

    def _unclaim(self, session: Session, row: OutboxMessage, now: datetime) -> None:
        """Put back a row claimed with (or while another claimer held) the row it names."""
        session.exec(
            update(_T)
            .where(_T.c.id == row.id)
            .values(
                status=PENDING,
                claimed_at=None,
                attempts=case((_T.c.attempts > 0, _T.c.attempts - 1), else_=0),
                # Not at once: the relay would claim it again in the same pass.
                next_attempt_at=now + timedelta(seconds=1),
            )
        )

    def _fold(
        self, session: Session, row: OutboxMessage, original: OutboxMessage, now: datetime
    ) -> Claim | None:
        """Apply an edit to its unsent original: the original takes the edit's content, and
        the edit is recorded as sent, superseded, with no message id."""
        assert row.id is not None
        # Locked, so that no other claimer sends the original with its old content meanwhile;
        # one that holds it now is about to send it, so the edit waits for that.
        status = session.exec(
            select(_T.c.status).where(_T.c.id == original.id).with_for_update(skip_locked=True)
        ).first()
        if status is None or status not in (PENDING, FAILED):
            self._unclaim(session, row, now)
            return None
        session.exec(update(_T).where(_T.c.id == original.id).values(payload=row.payload))
        note = f"{SUPERSEDED}: folded into row {original.id} ({original.key}) before it was sent"
        session.exec(
            update(_T)
            .where(_T.c.id == row.id)
            .values(status=SENT, sent_at=now, message_id=None, needs_check=False, last_error=note)
        )
        log.info("outbox row %s (%s): %s", row.id, row.key, note)
        return Claim(
            id=row.id,
            tenant_id=row.tenant_id,
            key=row.key,
            to=None,
            reply=None,
            attempts=row.attempts,
            needs_check=False,
            check_since=now,
            claimed_at=now,
            folded=True,
        )

    def _chat_account(
        self,
        session: Session,
        row: OutboxMessage,
        platforms: Sequence[Platform],
        gone: frozenset[tuple[str, str]],
    ) -> tuple[ConversationRef | None, bool]:
        """Where the row's person is reached, on the first platform they can be; and, when
        nowhere, whether that is only because their workspaces uninstalled the app."""
        identities = session.exec(
            select(ChatIdentity)
            .where(
                ChatIdentity.tenant_id == row.tenant_id,
                ChatIdentity.person_id == row.person_id,
                col(ChatIdentity.platform).in_([p.value for p in platforms]),
            )
            .order_by(col(ChatIdentity.id))
        ).all()
        skipped = False
        for platform in platforms:
            for identity in identities:
                if identity.platform != platform.value:
                    continue
                if (identity.platform, identity.workspace_id) in gone:
                    skipped = True
                    continue
                if platform in NEEDS_STORED_CONVERSATION:
                    # Only where the person has the bot installed (their one-to-one chat).
                    where = personal_conversation(
                        session, row.tenant_id, platform, identity.workspace_id, identity.user_id
                    )
                    if where is not None:
                        return where, False
                    continue
                # A person's user id is where their direct message with the bot goes.
                return ConversationRef(platform, identity.workspace_id, identity.user_id), False
        return None, skipped

    def mark_sent(self, claim: Claim, message_id: str) -> None:
        """The platform has the message (`message_id` is its id there)."""
        with self.db.session() as session:
            session.exec(
                update(_T)
                .where(_T.c.id == claim.id, _T.c.status != SENT)
                .values(
                    status=SENT,
                    sent_at=self.clock.now(),
                    message_id=message_id[:255],
                    needs_check=False,
                    last_error=None,
                )
            )

    def mark_retry(
        self,
        claim: Claim,
        error: str,
        retry_at: datetime,
        *,
        counted: bool = True,
        needs_check: bool = False,
    ) -> None:
        """Put the row back to be tried at `retry_at`. `counted=False` (rate limits) gives the
        attempt back, so waiting for the platform never brings a row nearer to parking.
        `needs_check`: the attempt may have arrived, ask the platform before sending again."""
        values: dict[str, Any] = {
            "status": PENDING,
            "next_attempt_at": retry_at,
            "last_error": error[:2000],
        }
        if not counted:
            values["attempts"] = case((_T.c.attempts > 0, _T.c.attempts - 1), else_=0)
        if needs_check:
            values["needs_check"] = True
        with self.db.session() as session:
            session.exec(
                update(_T).where(_T.c.id == claim.id, _T.c.status == IN_FLIGHT).values(**values)
            )

    def retry_at(self, attempts: int) -> datetime:
        """When to try again after `attempts` failed attempts (backoff with full jitter)."""
        p = self.policy
        delay = retry_delay(attempts, base=p.backoff_base, cap=p.backoff_cap, rng=self._rng)
        return self.clock.now() + delay

    def exhausted(self, claim: Claim) -> bool:
        """True when the row has had all the attempts it gets."""
        return claim.attempts >= self.policy.max_attempts

    def park(self, claim: Claim, error: str) -> list[int]:
        """Give up on the row (status failed) and, unless it is itself an alert, queue an alert
        to each of the tenant's administrators in the same transaction. Returns the alert
        rows' ids."""
        now = self.clock.now()
        alerts: list[int] = []
        with self.db.session() as session:
            result = session.exec(
                update(_T)
                .where(_T.c.id == claim.id, _T.c.status == IN_FLIGHT)
                .values(status=FAILED, last_error=error[:2000], next_attempt_at=now)
            )
            if not result.rowcount:
                return []
            log.warning(
                "outbox row %s (%s) parked after %d attempt(s): %s",
                claim.id,
                claim.key,
                claim.attempts,
                error,
            )
            if claim.is_alert or claim.workspace_gone:
                # An uninstall is no surprise to tell administrators about row by row: it is
                # audited, and `slis outbox status` lists what it parked.
                return []
            admins = self._administrators(session, claim.tenant_id)
            if not admins:
                log.error(
                    "tenant %s has no administrator to tell that row %s failed",
                    claim.tenant_id,
                    claim.id,
                )
                return []
            reply = alert_reply(claim, self._describe(session, claim), error)
            for person_id in admins:
                key = f"{ALERT_PREFIX}{claim.id}:person:{person_id}"
                to = Recipient(person_id=person_id)
                if enqueue(
                    session,
                    tenant_id=claim.tenant_id,
                    key=key,
                    to=to,
                    reply=reply,
                    not_before=now,
                    now=now,
                ):
                    alerts.append(person_id)
        return alerts

    def _administrators(self, session: Session, tenant_id: int) -> list[int]:
        return list(
            session.exec(
                select(RoleAssignment.person_id)
                .where(
                    RoleAssignment.tenant_id == tenant_id,
                    RoleAssignment.role == Role.ADMINISTRATOR.value,
                )
                .distinct()
                .order_by(col(RoleAssignment.person_id))
            ).all()
        )

    def _describe(self, session: Session, claim: Claim) -> str:
        row = session.get(OutboxMessage, claim.id)
        return _recipient_text(session, row) if row is not None else "its recipient"

    def recover_stale(
        self, *, older_than: timedelta | None = None, exclude: Collection[int] = ()
    ) -> int:
        """Return rows left in flight by a process that died to pending, marked to be checked
        on the platform before they are sent again. `older_than` defaults to the lease; zero
        takes every row in flight (only when no other process can be sending). Returns how
        many rows were recovered."""
        cutoff = self.clock.now() - (self.policy.lease if older_than is None else older_than)
        stmt = (
            update(_T)
            .where(_T.c.status == IN_FLIGHT, _T.c.claimed_at <= cutoff)
            .values(status=PENDING, needs_check=True, next_attempt_at=self.clock.now())
        )
        if exclude:
            stmt = stmt.where(_T.c.id.not_in(list(exclude)))
        with self.db.session() as session:
            count = int(session.exec(stmt).rowcount or 0)
        if count:
            log.warning("recovered %d outbox row(s) left in flight by a stopped process", count)
        return count

    def waiting_without_messenger(self, platforms: Collection[Platform]) -> int:
        """Pending rows for conversations on platforms this process cannot send to."""
        names = [p.value for p in platforms]
        with self.db.session() as session:
            stmt = (
                select(func.count())
                .select_from(_T)
                .where(
                    _T.c.status == PENDING, _T.c.person_id.is_(None), _T.c.platform.not_in(names)
                )
            )
            return int(session.exec(stmt).one())

    # --- the administrator's side ---------------------------------------------------------

    def status(self, tenant_id: int | None = None, *, failed_limit: int = 10) -> OutboxStatus:
        """Counts per tenant and status, and the most recently parked rows with their error."""
        now = self.clock.now()
        with self.db.session() as session:
            tenants = {
                t.id: t.name
                for t in session.exec(select(Tenant)).all()
                if tenant_id is None or t.id == tenant_id
            }
            due = func.sum(case((_T.c.next_attempt_at <= now, 1), else_=0))
            stmt = select(_T.c.tenant_id, _T.c.status, func.count(), due).group_by(
                _T.c.tenant_id, _T.c.status
            )
            if tenant_id is not None:
                stmt = stmt.where(_T.c.tenant_id == tenant_id)
            counts: dict[int, dict[str, int]] = {}
            for tid, status, count, due_count in session.exec(stmt).all():
                per = counts.setdefault(tid, {})
                per[status] = int(count)
                if status == PENDING:
                    per["due"] = int(due_count or 0)
            rows = [
                TenantCounts(
                    tenant_id=tid,
                    tenant_name=tenants.get(tid, f"tenant {tid}"),
                    pending=per.get(PENDING, 0),
                    due=per.get("due", 0),
                    in_flight=per.get(IN_FLIGHT, 0),
                    failed=per.get(FAILED, 0),
                    sent=per.get(SENT, 0),
                )
                for tid, per in sorted(counts.items())
            ]
            failed_stmt = (
                select(OutboxMessage)
                .where(OutboxMessage.status == FAILED)
                .order_by(col(OutboxMessage.next_attempt_at).desc(), col(OutboxMessage.id).desc())
                .limit(failed_limit)
            )
            if tenant_id is not None:
                failed_stmt = failed_stmt.where(OutboxMessage.tenant_id == tenant_id)
            failed = [
                FailedRow(
                    id=row.id or 0,
                    tenant_id=row.tenant_id,
                    key=row.key,
                    recipient=_recipient_text(session, row),
                    attempts=row.attempts,
                    error=row.last_error or "",
                    not_before=aware(row.not_before),
                    failed_at=maybe_aware(row.next_attempt_at),
                )
                for row in session.exec(failed_stmt).all()
            ]
        return OutboxStatus(rows, failed)

    def requeue(self, row_id: int) -> OutboxMessage:
        """Put a parked row back in the queue, due now, with its attempts reset."""
        with self.db.session() as session:
            row = session.get(OutboxMessage, row_id)
            if row is None:
                raise NotFound(f"There is no outbox row {row_id}.")
            if row.status != FAILED:
                raise UserError(
                    f"Outbox row {row_id} is {row.status.replace('_', ' ')}; only failed rows"
                    " can be retried."
                )
            row.status = PENDING
            row.attempts = 0
            row.next_attempt_at = self.clock.now()
            session.add(row)
            return row


def _where(row: OutboxMessage) -> ConversationRef | None:
    """Where a row's message went (for a person: their chat account when it was sent)."""
    if not row.platform or row.workspace_id is None or not row.conversation_id:
        return None
    return ConversationRef(
        Platform(row.platform), row.workspace_id, row.conversation_id, row.service_url
    )


def _stored(
    session: Session, tenant_id: int, to: ConversationRef
) -> tuple[ConversationRef | None, str | None]:
    """A conversation on a platform that needs the conversation book: with its service URL
    filled in, or why nothing can go there."""
    state = conversation_state(session, tenant_id, to)
    if state is None:
        if to.service_url:
            return to, None
        return None, "the bot has not been added to this conversation yet"
    installed, service_url = state
    if not installed:
        return None, "the bot was removed from this conversation"
    return replace(to, service_url=to.service_url or service_url), None


def _gone(to: ConversationRef | None, gone: frozenset[tuple[str, str]]) -> bool:
    """Whether `to` is in a workspace that uninstalled the app."""
    return to is not None and (to.platform.value, to.workspace_id) in gone


def _record_where(session: Session, row: OutboxMessage, to: ConversationRef) -> None:
    """Remember where a row is going, so a later edit or reply finds its message there."""
    row.platform = to.platform.value
    row.workspace_id = to.workspace_id
    row.conversation_id = to.conversation_id
    row.service_url = to.service_url
    session.add(row)


def _recipient_text(session: Session, row: OutboxMessage) -> str:
    if row.person_id is not None:
        person = session.get(Person, row.person_id)
        name = person.name if person is not None else "unknown person"
        return f"{name} (person {row.person_id})"
    return f"conversation {row.conversation_id} on {row.platform} ({row.workspace_id})"


def alert_reply(claim: Claim, recipient: str, error: str) -> Reply:
    """What an administrator is told when a message is parked."""
    summary = f"A message could not be delivered to {recipient}."
    detail = (
        f"The bot gave up on outbox row {claim.id} (`{claim.key}`) after"
        f" {claim.attempts} attempt(s): {error}"
    )
    return Reply(
        summary,
        (
            Heading("A message could not be delivered"),
            Paragraph(summary),
            Paragraph(detail),
            Context(
                f"Once the cause is fixed, `slis outbox retry {claim.id}` sends it again;"
                " `slis outbox status` lists what is waiting and what failed."
            ),
        ),
        private=False,
        is_error=True,
    )
