"""The outbox service on a real database: enqueue, claim, lease, backoff, parking, status; and
the reply codec that stores what is sent."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from bot.errors import NotFound, UserError
from bot.reply_codec import reply_from_json, reply_to_json
from bot.services.outbox import (
    FAILED,
    IN_FLIGHT,
    PENDING,
    SENT,
    Message,
    OutboxPolicy,
    OutboxService,
    Recipient,
    enqueue,
    retry_delay,
)
from bot.services.outbox import enqueue_many as write_many
from bot.types import (
    Actions,
    BulletList,
    Button,
    Context,
    ConversationRef,
    Divider,
    Fields,
    Heading,
    Paragraph,
    Platform,
    Reply,
)
from storage.engine import Database
from storage.models import aware
from storage.outbox_tables import OutboxMessage
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock
from tests.scheduler.outbox_world import (
    ADMIN_USER,
    WORKSPACE,
    channel,
    enqueue_many,
    message,
    rows,
    statuses,
    world_with_administrator,
)

SLACK = [Platform.SLACK]
ADA = "ada.head@schools.example.org"
FAY = "fay@schools.example.org"  # in the directory, no chat account


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db, workspace=WORKSPACE)


@pytest.fixture
def outbox(db: Database, clock: FakeClock) -> OutboxService:
    return OutboxService(db, clock, rng=random.Random(7))


def add(db: Database, world: World, key: str, to: Recipient, at: datetime) -> bool:
    with db.session() as s:
        return enqueue(
            s, tenant_id=world.tenant_id, key=key, to=to, reply=message(key), not_before=at, now=at
        )


# --- enqueue --------------------------------------------------------------------------------


def test_a_key_is_written_once(db: Database, world: World, clock: FakeClock) -> None:
    to = Recipient(conversation=channel("C1"))
    assert add(db, world, "survey-round:12:invite:channel", to, clock.now())
    assert not add(db, world, "survey-round:12:invite:channel", to, clock.now() + timedelta(days=1))
    [row] = rows(db)
    assert row.key == "survey-round:12:invite:channel" and row.status == PENDING
    assert row.destination == f"slack:{WORKSPACE}:C1"
    assert reply_from_json(row.payload) == message("survey-round:12:invite:channel")


def test_enqueue_belongs_to_the_callers_transaction(
    db: Database, world: World, clock: FakeClock
) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        enqueue(
            s,
            tenant_id=world.tenant_id,
            key="k",
            to=Recipient(conversation=channel("C1")),
            reply=message(1),
            not_before=clock.now(),
            now=clock.now(),
        )
        raise RuntimeError("the state change failed")
    assert rows(db) == []
    # ...and a duplicate inside one transaction is refused without failing it.
    with db.session() as s:
        for _ in range(2):
            enqueue(
                s,
                tenant_id=world.tenant_id,
                key="k",
                to=Recipient(person_id=world.people[ADA]),
                reply=message(1),
                not_before=clock.now(),
                now=clock.now(),
            )
    assert len(rows(db)) == 1


def test_many_are_written_in_one_go_each_key_once(
    db: Database, world: World, clock: FakeClock
) -> None:
    people = [world.people[ADA], world.people[FAY]]
    batch = [Message(f"round:1:prompt:{p}", Recipient(person_id=p), message(p)) for p in people] + [
        Message("round:1:prompt:channel", Recipient(conversation=channel("C1")), message("c"))
    ]
    with db.session() as s:
        assert (
            write_many(
                s,
                tenant_id=world.tenant_id,
                messages=batch,
                not_before=clock.now(),
                now=clock.now(),
            )
            == 3
        )
    with db.session() as s:  # again, with one new key: only that one is added
        again = [
            *batch,
            Message("round:1:prompt:late", Recipient(conversation=channel("C2")), message(4)),
        ]
        assert (
            write_many(
                s,
                tenant_id=world.tenant_id,
                messages=again,
                not_before=clock.now(),
                now=clock.now(),
            )
            == 1
        )
    written = rows(db)
    assert sorted(r.key for r in written) == sorted(
        [*(m.key for m in batch), "round:1:prompt:late"]
    )
    assert {r.status for r in written} == {PENDING}
    assert all(r.not_before.replace(tzinfo=UTC) == clock.now() for r in written)
    assert reply_from_json(written[0].payload) in {m.reply for m in again}


def test_rows_are_stamped_with_the_callers_clock(
    db: Database, world: World, clock: FakeClock
) -> None:
    clock.advance(days=40)  # as the sandbox moves its clock ahead of real time
    later = clock.now() + timedelta(hours=1)
    with db.session() as s:
        enqueue(
            s,
            tenant_id=world.tenant_id,
            key="one",
            to=Recipient(conversation=channel("C1")),
            reply=message(1),
            not_before=later,
            now=clock.now(),
        )
        batch = [Message("two", Recipient(conversation=channel("C2")), message(2))]
        write_many(s, tenant_id=world.tenant_id, messages=batch, not_before=later, now=clock.now())
    assert [aware(r.created_at) for r in rows(db)] == [clock.now(), clock.now()]
    with pytest.raises(ValueError, match="now must be timezone-aware"), db.session() as s:
        write_many(
            s,
            tenant_id=world.tenant_id,
            messages=[Message("three", Recipient(conversation=channel("C3")), message(3))],
            not_before=later,
            now=datetime(2026, 11, 24, 9, 0),
        )


def test_many_refuses_a_person_of_another_tenant_and_writes_nothing(
    db: Database, world: World, clock: FakeClock
) -> None:
    other = build_world(db, la_code=935, name="Suffolk", workspace="T0SUFFOLK")
    batch = [
        Message("a", Recipient(person_id=world.people[ADA]), message(1)),
        Message("b", Recipient(person_id=other.people[ADA]), message(2)),
    ]
    with pytest.raises(ValueError, match="not in tenant"), db.session() as s:
        write_many(
            s, tenant_id=world.tenant_id, messages=batch, not_before=clock.now(), now=clock.now()
        )
    with pytest.raises(ValueError, match="timezone-aware"), db.session() as s:
        write_many(
            s,
            tenant_id=world.tenant_id,
            messages=batch[:1],
            not_before=datetime(2026, 1, 1),
            now=clock.now(),
        )
    assert rows(db) == []


@pytest.mark.parametrize(
    "to",
    [Recipient(), Recipient(person_id=1, conversation=ConversationRef(Platform.SLACK, "T", "C"))],
    ids=["neither", "both"],
)
def test_a_recipient_is_a_person_or_a_conversation(
    db: Database, world: World, clock: FakeClock, to: Recipient
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        add(db, world, "k", to, clock.now())
    assert rows(db) == []


def test_bad_keys_times_and_people_are_refused(
    db: Database, world: World, clock: FakeClock
) -> None:
    person = Recipient(person_id=world.people[ADA])
    with pytest.raises(ValueError, match="timezone"):
        add(db, world, "k", person, datetime(2026, 11, 24, 9, 0))
    with pytest.raises(ValueError, match="characters"):
        add(db, world, "", person, clock.now())
    other = build_world(db, la_code=935, name="Suffolk", workspace="T0SUFFOLK")
    with pytest.raises(ValueError, match="not in tenant"):
        add(db, other, "k", person, clock.now())
    assert rows(db) == []


# --- claiming -------------------------------------------------------------------------------


def test_claims_due_rows_in_order_one_per_destination(
    db: Database, world: World, clock: FakeClock, outbox: OutboxService
) -> None:
    now = clock.now()
    add(db, world, "c1-second", Recipient(conversation=channel("C1")), now - timedelta(minutes=1))
    add(db, world, "c1-first", Recipient(conversation=channel("C1")), now - timedelta(minutes=2))
    add(db, world, "c2", Recipient(conversation=channel("C2")), now)
    add(db, world, "c3-later", Recipient(conversation=channel("C3")), now + timedelta(seconds=1))
    teams = Recipient(conversation=ConversationRef(Platform.TEAMS, "t", "19:x"))
    add(db, world, "teams", teams, now)

    claims = outbox.claim_due(10, SLACK)
    assert [c.key for c in claims] == ["c1-first", "c2"]
    first = claims[0]
    assert first.attempts == 1 and not first.needs_check and first.to == channel("C1")
    assert first.reply == message("c1-first")
    # The destination is busy while its row is in flight, so nothing more goes now.
    assert outbox.claim_due(10, SLACK) == []
    outbox.mark_sent(first, "1700000000.000100")
    assert [c.key for c in outbox.claim_due(10, SLACK)] == ["c1-second"]
    clock.advance(seconds=1)
    assert [c.key for c in outbox.claim_due(10, SLACK)] == ["c3-later"]
    assert statuses(db) == {IN_FLIGHT: 3, SENT: 1, PENDING: 1}  # Teams waits for a messenger
    assert outbox.waiting_without_messenger(SLACK) == 1
    [sent] = [r for r in rows(db) if r.status == SENT]
    assert sent.message_id == "1700000000.000100" and sent.sent_at is not None


def test_claim_limit_and_a_person_is_reached_by_their_chat_account(
    db: Database, world: World, clock: FakeClock, outbox: OutboxService
) -> None:
    add(db, world, "ada", Recipient(person_id=world.people[ADA]), clock.now())
    add(db, world, "fay", Recipient(person_id=world.people[FAY]), clock.now())
    add(db, world, "c1", Recipient(conversation=channel("C1")), clock.now())
    assert [c.key for c in outbox.claim_due(1, SLACK)] == ["ada"]
    ada, fay = rows(db)[0], None
    assert ada.conversation_id == world.users[ADA].user_id and ada.platform == "slack"
    [fay, _c1] = outbox.claim_due(5, SLACK)
    assert fay.to is None and fay.problem and "no chat account on slack" in fay.problem


def test_concurrent_claimers_never_take_the_same_row(
    db: Database, world: World, clock: FakeClock
) -> None:
    enqueue_many(
        db, world.tenant_id, 60, channels=[f"C{i}" for i in range(60)], not_before=clock.now()
    )
    taken: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        service = OutboxService(db, clock)
        for _ in range(10):
            got = service.claim_due(4, SLACK)
            with lock:
                taken.extend(c.id for c in got)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == len(set(taken)) == 60


# --- lease and recovery ---------------------------------------------------------------------


def test_a_row_in_flight_past_its_lease_is_recovered_for_checking(
    db: Database, world: World, clock: FakeClock
) -> None:
    outbox = OutboxService(db, clock, policy=OutboxPolicy(lease=timedelta(seconds=60)))
    add(db, world, "a", Recipient(conversation=channel("C1")), clock.now())
    add(db, world, "b", Recipient(conversation=channel("C2")), clock.now())
    a, b = outbox.claim_due(2, SLACK)
    clock.advance(seconds=59)
    assert outbox.recover_stale() == 0
    clock.advance(seconds=1)
    assert outbox.recover_stale(exclude=[b.id]) == 1  # b is still being sent here
    [again] = outbox.claim_due(5, SLACK)
    assert again.id == a.id and again.needs_check and again.attempts == 2
    # The platform is searched from before the first attempt, less a margin for clock skew.
    assert again.check_since == a.claimed_at - outbox.policy.check_margin
    # A new leader that knows no other process is sending takes everything in flight at once.
    assert outbox.recover_stale(older_than=timedelta(0)) == 2


# --- retries, backoff and parking -----------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter() -> None:
    base, cap = timedelta(seconds=2), timedelta(minutes=5)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (8, 256), (9, 300), (30, 300)]:
        draws = [
            retry_delay(attempt, base=base, cap=cap, rng=rng).total_seconds() for _ in range(400)
        ]
        assert min(draws) >= 0 and max(draws) <= ceiling
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(draws) < ceiling * 0.1 and max(draws) > ceiling * 0.9


def test_retry_later_counts_attempts_but_rate_limits_do_not(
    db: Database, world: World, clock: FakeClock, outbox: OutboxService
) -> None:
    add(db, world, "a", Recipient(conversation=channel("C1")), clock.now())
    [claim] = outbox.claim_due(1, SLACK)
    retry_at = outbox.retry_at(claim.attempts)
    assert clock.now() <= retry_at <= clock.now() + timedelta(seconds=2)
    outbox.mark_retry(claim, "chat.postMessage: HTTP 500", retry_at, needs_check=True)
    clock.current = retry_at - timedelta(milliseconds=1)
    assert outbox.claim_due(1, SLACK) == []
    clock.current = retry_at
    [claim] = outbox.claim_due(1, SLACK)
    assert claim.attempts == 2 and claim.needs_check
    outbox.mark_retry(claim, "rate limited", clock.now() + timedelta(seconds=2), counted=False)
    clock.advance(seconds=2)
    [claim] = outbox.claim_due(1, SLACK)
    assert claim.attempts == 2  # the rate-limited attempt was given back
    assert not outbox.exhausted(claim)
    assert outbox.exhausted(claim.__class__(**{**claim.__dict__, "attempts": 8}))


def test_parking_alerts_each_administrator_once(db: Database, clock: FakeClock) -> None:
    world, admin = world_with_administrator(db)
    outbox = OutboxService(db, clock)
    add(db, world, "reminder:42:2026-12-01", Recipient(conversation=channel("C0GONE")), clock.now())
    [claim] = outbox.claim_due(1, SLACK)
    assert outbox.park(claim, "chat.postMessage: channel_not_found") == [admin]
    assert outbox.park(claim, "again") == []  # already parked: no second alert
    parked, alert = rows(db)
    assert parked.status == FAILED and parked.last_error == "chat.postMessage: channel_not_found"
    assert alert.key == f"outbox-alert:{parked.id}:person:{admin}" and alert.person_id == admin
    text = reply_from_json(alert.payload)
    assert "could not be delivered" in text.text and "C0GONE" in text.text
    assert f"slis outbox retry {parked.id}" in str(text.blocks)
    # The alert itself fails: it is parked and nobody is alerted about the alert.
    [alert_claim] = outbox.claim_due(1, SLACK)
    assert alert_claim.to == channel(ADMIN_USER) and alert_claim.is_alert
    assert outbox.park(alert_claim, "chat.postMessage: user_not_found") == []
    assert statuses(db) == {FAILED: 2}


def test_status_and_requeue(
    db: Database, world: World, clock: FakeClock, outbox: OutboxService
) -> None:
    enqueue_many(db, world.tenant_id, 3, channels=["C1", "C2", "C3"], not_before=clock.now())
    add(db, world, "later", Recipient(conversation=channel("C9")), clock.now() + timedelta(hours=1))
    first, second, third = outbox.claim_due(3, SLACK)
    outbox.mark_sent(first, "1.1")
    outbox.park(second, "chat.postMessage: is_archived")
    status = outbox.status()
    [essex] = status.tenants
    assert (
        essex.tenant_name,
        essex.pending,
        essex.due,
        essex.in_flight,
        essex.failed,
        essex.sent,
    ) == (
        "Essex",
        1,
        0,
        1,
        1,
        1,
    )
    [failed] = status.failed
    assert failed.id == second.id and failed.error == "chat.postMessage: is_archived"
    assert "C2" in failed.recipient and failed.attempts == 1
    assert outbox.status(tenant_id=world.tenant_id + 1).tenants == []

    with pytest.raises(UserError, match="in flight"):
        outbox.requeue(third.id)
    with pytest.raises(NotFound):
        outbox.requeue(9999)
    outbox.requeue(second.id)
    [again] = outbox.claim_due(5, SLACK)
    assert again.id == second.id and again.attempts == 1


def test_rows_of_one_tenant_carry_its_id(db: Database, world: World, clock: FakeClock) -> None:
    add(db, world, "k", Recipient(person_id=world.people[ADA]), clock.now())
    with db.session() as s:
        [row] = s.exec(select(OutboxMessage)).all()
    assert row.tenant_id == world.tenant_id and row.person_id == world.people[ADA]


# --- the reply codec ------------------------------------------------------------------------

text = st.text(max_size=40)
buttons = st.builds(
    Button,
    label=text,
    action_id=text,
    value=text,
    style=st.sampled_from([None, "primary", "danger"]),
)
blocks = st.one_of(
    st.builds(Heading, text),
    st.builds(Paragraph, text),
    st.builds(Fields, st.lists(st.tuples(text, text), max_size=4).map(tuple)),
    st.builds(BulletList, st.lists(text, max_size=4).map(tuple), st.none() | text),
    st.builds(Context, text),
    st.just(Divider()),
    st.builds(Actions, st.lists(buttons, max_size=3).map(tuple)),
)
replies = st.builds(
    Reply,
    text=text,
    blocks=st.lists(blocks, max_size=8).map(tuple),
    private=st.booleans(),
    is_error=st.booleans(),
)


@given(replies)
def test_every_reply_survives_the_codec(reply: Reply) -> None:
    import json

    assert reply_from_json(json.loads(json.dumps(reply_to_json(reply)))) == reply


def test_codec_refuses_what_it_did_not_write() -> None:
    with pytest.raises(ValueError, match="version"):
        reply_from_json({"text": "x"})
    with pytest.raises(ValueError, match="unknown block"):
        reply_from_json({"v": 1, "text": "x", "blocks": [{"type": "video"}]})
    with pytest.raises(ValueError, match="malformed"):
        reply_from_json({"v": 1, "text": 3})
