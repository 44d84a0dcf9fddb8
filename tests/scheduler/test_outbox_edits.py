"""Edits and thread replies through the outbox: the relay and the Slack Messenger against the
fake Slack Web API, on every test database. An edit replaces a sent message in place, or is
folded into one not sent yet; a reply goes in its parent's thread, or on its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from bot.config import SlackCredentials, SlackMode
from bot.ports import Clock, SystemClock
from bot.reply_codec import reply_from_json, reply_to_json
from bot.services.outbox import (
    FAILED,
    IN_FLIGHT,
    PENDING,
    SENT,
    SUPERSEDED,
    Message,
    OutboxPolicy,
    OutboxService,
    Recipient,
    enqueue,
)
from bot.services.outbox import enqueue_many as write_many
from bot.types import Platform, Reply
from handlers.slack import render
from handlers.slack.messenger import EVENT_TYPE, SlackMessenger
from handlers.slack.pacing import Pacer
from scheduler.relay import Relay
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackApi, fake_slack
from tests.scheduler.outbox_world import (
    ADMIN_USER,
    channel,
    message,
    rows,
    statuses,
    world_with_administrator,
)
from tests.slack.harness import BOT_TOKEN

__all__ = ["fake_slack"]

FAST = OutboxPolicy(
    max_attempts=8,
    backoff_base=timedelta(milliseconds=20),
    backoff_cap=timedelta(milliseconds=100),
)
ADA = "ada.head@schools.example.org"
SLACK = [Platform.SLACK]


@pytest.fixture
async def messenger(fake_slack: FakeSlackApi) -> AsyncIterator[SlackMessenger]:
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, fake_slack.url)
    # No pacing: these tests are about what is sent, not how fast.
    made = SlackMessenger.for_credentials(creds, pacer=Pacer(method_limits={}, channel_interval=0))
    yield made
    await made.close()


@pytest.fixture
def world(db: Database) -> World:
    return world_with_administrator(db)[0]


def relay(db: Database, messenger: SlackMessenger, clock: Clock | None = None) -> Relay:
    outbox = OutboxService(db, clock or SystemClock(), policy=FAST)
    return Relay(outbox, {Platform.SLACK: messenger})


async def run(relay: Relay, until: Callable[[], bool] | None = None, seconds: float = 10) -> None:
    """Relay passes until `until` holds (one pass without it)."""
    deadline = time.monotonic() + seconds
    while True:
        await relay.run_once()
        if until is None or await asyncio.to_thread(until):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {seconds}s")
        await asyncio.sleep(0.02)


def add(
    db: Database,
    world: World,
    key: str,
    reply: Reply,
    *,
    to: Recipient | None = None,
    at: datetime | None = None,
    edits: str | None = None,
    thread_of: str | None = None,
) -> None:
    with db.session() as s:
        assert enqueue(
            s,
            tenant_id=world.tenant_id,
            key=key,
            to=to or Recipient(conversation=channel("C0OFFERS")),
            reply=reply,
            not_before=at or datetime.now(UTC),
            now=at or datetime.now(UTC),
            edits=edits,
            thread_of=thread_of,
        )


def row(db: Database, key: str) -> OutboxMessage:
    with db.session() as s:
        found = s.exec(select(OutboxMessage).where(OutboxMessage.key == key)).one()
        s.expunge(found)
        return found


def card(text: str) -> Reply:
    return message(text)


# --- edits of sent messages -----------------------------------------------------------------


async def test_an_edit_of_a_sent_message_replaces_it_in_place(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "offer:7:alliance:1", card("Can you help?"))
    await run(relay(db, messenger))
    [original] = fake_slack.posted("C0OFFERS")

    claimed = card("Claimed by Harlow TSA")
    add(db, world, "offer:7:alliance:1:claimed", claimed, edits="offer:7:alliance:1")
    relayed = relay(db, messenger)
    await run(relayed)

    [call] = fake_slack.calls_to("chat.update")
    assert call.params["channel"] == "C0OFFERS" and call.params["ts"] == original.ts
    assert call.params["blocks"] == render.blocks(claimed)
    assert call.params["text"] == "Message Claimed by Harlow TSA"
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # nothing new was posted
    now = fake_slack.message("C0OFFERS", original.ts)
    assert now is not None and now.blocks == render.blocks(claimed) and now.updates == 1
    assert now.key == "offer:7:alliance:1"  # the metadata, and so the key, stays
    edit = row(db, "offer:7:alliance:1:claimed")
    assert edit.status == SENT and edit.message_id == original.ts and edit.last_error is None
    assert (edit.platform, edit.conversation_id) == ("slack", "C0OFFERS")
    assert relayed.counts.edited == 1 and relayed.counts.sent == 0
    assert not fake_slack.calls_to("conversations.history")  # an edit is never checked first


async def test_an_edit_of_a_direct_message_updates_it_in_the_dm_channel(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ada = Recipient(person_id=world.people[ADA])
    user = world.users[ADA].user_id
    add(db, world, "nudge:ada", card("Please answer"), to=ada)
    await run(relay(db, messenger))
    [original] = fake_slack.posted(f"D{user}")

    # A restarted server: its messenger has to open the DM to find the channel id.
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, fake_slack.url)
    fresh = SlackMessenger.for_credentials(creds, pacer=Pacer(method_limits={}, channel_interval=0))
    try:
        add(db, world, "nudge:ada:done", card("Thank you"), to=ada, edits="nudge:ada")
        await run(relay(db, fresh))
    finally:
        await fresh.close()

    [opened] = fake_slack.calls_to("conversations.open")
    assert opened.params["users"] == user
    [call] = fake_slack.calls_to("chat.update")
    assert (call.params["channel"], call.params["ts"]) == (f"D{user}", original.ts)
    updated = fake_slack.message(f"D{user}", original.ts)
    assert updated is not None and updated.text == "Message Thank you"
    assert row(db, "nudge:ada:done").message_id == original.ts


async def test_edits_of_a_sent_message_apply_in_order_and_the_latest_wins(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "offer:8", card("Can you help?"))
    await run(relay(db, messenger))
    [original] = fake_slack.posted("C0OFFERS")
    with db.session() as s:
        write_many(
            s,
            tenant_id=world.tenant_id,
            messages=[
                Message(
                    f"offer:8:edit:{n}",
                    Recipient(conversation=channel("C0OFFERS")),
                    card(n),
                    edits="offer:8",
                )
                for n in ("claimed", "withdrawn", "closed")
            ],
            not_before=datetime.now(UTC),
            now=datetime.now(UTC),
        )
    await run(relay(db, messenger))
    updates = fake_slack.updated("C0OFFERS")
    assert [u.text for u in updates] == ["Message claimed", "Message withdrawn", "Message closed"]
    assert {u.ts for u in updates} == {original.ts}
    latest = fake_slack.message("C0OFFERS", original.ts)
    assert latest is not None and latest.blocks == render.blocks(card("closed"))


# --- edits of messages not sent yet ------------------------------------------------------------


async def test_an_edit_of_a_message_not_sent_yet_is_folded_into_it(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    clock = FakeClock(datetime.now(UTC))
    tomorrow = clock.now() + timedelta(days=1)
    # Deferred to the next morning, while its edits go out at once.
    add(db, world, "offer:9", card("Can you help?"), at=tomorrow)
    add(
        db, world, "offer:9:claimed", card("Claimed by Harlow TSA"), at=clock.now(), edits="offer:9"
    )
    add(db, world, "offer:9:closed", card("Closed"), at=clock.now(), edits="offer:9")
    relayed = relay(db, messenger, clock)
    await run(relayed)

    assert fake_slack.calls == []  # nothing reached Slack
    for key in ("offer:9:claimed", "offer:9:closed"):
        edit = row(db, key)
        assert edit.status == SENT and edit.message_id is None
        assert edit.last_error is not None and edit.last_error.startswith(f"{SUPERSEDED}: ")
    original = row(db, "offer:9")
    assert original.status == PENDING
    assert reply_from_json(original.payload) == card("Closed")  # the latest edit wins
    assert relayed.counts.folded == 2

    clock.advance(days=1)
    await run(relayed)
    [posted] = fake_slack.posted("C0OFFERS")
    assert posted.key == "offer:9" and posted.blocks == render.blocks(card("Closed"))
    assert fake_slack.calls_to("chat.update") == []
    assert row(db, "offer:9").status == SENT


async def test_an_edit_of_a_parked_message_is_folded_and_sent_when_it_is_retried(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.missing_channels.add("C0GONE")
    gone = Recipient(conversation=channel("C0GONE"))
    add(db, world, "offer:10", card("Can you help?"), to=gone)
    relayed = relay(db, messenger)
    await run(relayed)
    assert row(db, "offer:10").status == FAILED

    add(db, world, "offer:10:claimed", card("Claimed"), to=gone, edits="offer:10")
    await run(relayed)
    assert row(db, "offer:10:claimed").status == SENT and fake_slack.calls_to("chat.update") == []

    fake_slack.missing_channels.clear()
    relayed.outbox.requeue(row(db, "offer:10").id or 0)
    await run(relayed)
    [posted] = fake_slack.posted("C0GONE")
    assert posted.key == "offer:10" and posted.text == "Message Claimed"


async def test_an_edit_of_an_unknown_key_is_parked_with_a_clear_error(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "offer:11:claimed", card("Claimed"), edits="offer:11")
    relayed = relay(db, messenger)
    await run(relayed)
    edit = row(db, "offer:11:claimed")
    assert edit.status == FAILED
    assert edit.last_error == "it edits 'offer:11', but no outbox row has the key 'offer:11'"
    assert relayed.counts.parked == 1
    assert fake_slack.calls_to("chat.update") == []
    # The administrator is told, as for any parked row.
    [alert] = fake_slack.posted(f"D{ADMIN_USER}")
    assert alert.text is not None and "could not be delivered" in alert.text


async def test_an_edit_waits_while_its_original_is_in_flight(db: Database, world: World) -> None:
    outbox = OutboxService(db, SystemClock(), policy=FAST)
    add(db, world, "offer:12", card("Can you help?"))
    [original] = outbox.claim_due(5, SLACK)
    # Same recipient (the usual way), and another one: both wait.
    add(db, world, "offer:12:claimed", card("Claimed"), edits="offer:12")
    elsewhere = Recipient(conversation=channel("C0ELSEWHERE"))
    add(db, world, "offer:12:closed", card("Closed"), to=elsewhere, edits="offer:12")
    thread = Recipient(conversation=channel("C0THREAD"))
    add(db, world, "offer:12:reply", card("A question"), to=thread, thread_of="offer:12")
    assert outbox.claim_due(5, SLACK) == []
    assert statuses(db) == {IN_FLIGHT: 1, PENDING: 3}

    outbox.mark_sent(original, "1700000000.000100")
    claims = {c.key: c for c in outbox.claim_due(5, SLACK)}
    assert set(claims) == {"offer:12:claimed", "offer:12:closed", "offer:12:reply"}
    for key in ("offer:12:claimed", "offer:12:closed"):
        assert claims[key].edit_of == "1700000000.000100" and claims[key].thread is None
        assert claims[key].to == channel("C0OFFERS")  # where the original is
    reply = claims["offer:12:reply"]
    assert reply.thread == "1700000000.000100" and reply.to == channel("C0OFFERS")


def test_an_edit_does_not_fold_into_an_original_another_claimer_holds(
    db: Database, world: World, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: row locks (SQLite has one writer at a time)")
    outbox = OutboxService(db, SystemClock(), policy=FAST)
    elsewhere = Recipient(conversation=channel("C0ELSEWHERE"))
    add(db, world, "offer:17", card("Can you help?"), at=datetime.now(UTC) + timedelta(days=1))
    add(db, world, "offer:17:claimed", card("Claimed"), to=elsewhere, edits="offer:17")
    other = db.engine.connect()
    try:
        # Another claimer has the original locked (it is claiming it this moment).
        other.execute(
            select(OutboxMessage.id).where(OutboxMessage.key == "offer:17").with_for_update()
        )
        assert outbox.claim_due(5, SLACK) == []
    finally:
        other.rollback()
        other.close()
    edit = row(db, "offer:17:claimed")
    assert (edit.status, edit.attempts) == (PENDING, 0)
    assert reply_from_json(row(db, "offer:17").payload) == card("Can you help?")


async def test_an_original_that_may_have_arrived_gets_the_edits_folded_into_it(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    outbox = OutboxService(db, SystemClock(), policy=FAST)
    add(db, world, "offer:13", card("Can you help?"))
    # An attempt got it to Slack with its first content, but the answer was a 503: the row
    # waits for its retry, to be looked for on Slack first.
    [claim] = outbox.claim_due(1, SLACK)
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": claim.key}}
    sent = await client.chat_postMessage(channel="C0OFFERS", text="old", metadata=metadata)
    retry_at = datetime.now(UTC) + timedelta(seconds=0.5)
    outbox.mark_retry(claim, "chat.postMessage: HTTP 503", retry_at, needs_check=True)
    # An edit (for another recipient, so nothing holds it back) is folded into the row...
    elsewhere = Recipient(conversation=channel("C0ELSEWHERE"))
    add(db, world, "offer:13:claimed", card("Claimed"), to=elsewhere, edits="offer:13")
    relayed = relay(db, messenger)
    await run(relayed)
    assert row(db, "offer:13:claimed").status == SENT and row(db, "offer:13").status == PENDING
    await run(relayed, lambda: statuses(db) == {SENT: 2})
    # ...and the message found on Slack is brought up to date rather than posted again.
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    [update_call] = fake_slack.calls_to("chat.update")
    assert update_call.params["ts"] == sent["ts"]
    now = fake_slack.message("C0OFFERS", str(sent["ts"]))
    assert now is not None and now.text == "Message Claimed"
    assert row(db, "offer:13").message_id == sent["ts"]
    assert relayed.counts.found_sent == 1 and relayed.counts.folded == 1


async def test_an_original_and_its_edit_claimed_together_go_one_after_the_other(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "offer:16", card("Can you help?"))
    elsewhere = Recipient(conversation=channel("C0ELSEWHERE"))
    add(db, world, "offer:16:claimed", card("Claimed"), to=elsewhere, edits="offer:16")
    # One claim takes both (different destinations): the edit goes back until the original
    # is sent, then updates it.
    await run(relay(db, messenger), lambda: statuses(db) == {SENT: 2})
    [original] = fake_slack.posted("C0OFFERS")
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.params["text"] == "Message Can you help?" and original.text == "Message Claimed"
    [update_call] = fake_slack.calls_to("chat.update")
    assert update_call.params["ts"] == original.ts
    assert row(db, "offer:16:claimed").attempts == 1  # going back did not count


# --- failures of chat.update ------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 429, "retry_after": 1},
        {"status": 503, "times": 2},
        {"error": "internal_error", "times": 2},
    ],
    ids=["429", "503", "internal_error"],
)
async def test_rate_limits_and_server_errors_on_update_are_retried_like_sends(
    db: Database,
    world: World,
    fake_slack: FakeSlackApi,
    messenger: SlackMessenger,
    failure: dict[str, int | str],
) -> None:
    add(db, world, "offer:14", card("Can you help?"))
    await run(relay(db, messenger))
    fake_slack.fail("chat.update", **failure)  # type: ignore[arg-type]
    add(db, world, "offer:14:claimed", card("Claimed"), edits="offer:14")
    relayed = relay(db, messenger)
    await run(relayed, lambda: row(db, "offer:14:claimed").status == SENT)

    calls = fake_slack.calls_to("chat.update")
    assert len(calls) == (2 if failure.get("status") == 429 else 3)
    assert len(fake_slack.updated()) == 1  # only the last one was taken
    if failure.get("status") == 429:
        assert calls[1].at - calls[0].at >= 0.9  # Retry-After was honoured
        assert relayed.counts.rate_limited == 1 and row(db, "offer:14:claimed").attempts == 1
    else:
        assert relayed.counts.retried == 2 and row(db, "offer:14:claimed").attempts == 3
    # An update is not a post: no history lookup, nothing posted twice.
    assert not fake_slack.calls_to("conversations.history")
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("code", ["message_not_found", "cant_update_message", "edit_window_closed"])
async def test_an_update_slack_refuses_for_good_is_parked(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger, code: str
) -> None:
    add(db, world, "offer:15", card("Can you help?"))
    await run(relay(db, messenger))
    fake_slack.fail("chat.update", error=code)
    add(db, world, "offer:15:claimed", card("Claimed"), edits="offer:15")
    await run(relay(db, messenger))
    edit = row(db, "offer:15:claimed")
    assert edit.status == FAILED and edit.last_error == f"chat.update: {code}"
    assert edit.attempts == 1 and len(fake_slack.calls_to("chat.update")) == 1


# --- replies in threads -----------------------------------------------------------------------


async def test_a_reply_goes_in_the_thread_of_its_parent(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "request:3", card("Support requested"))
    await run(relay(db, messenger))
    [parent] = fake_slack.posted("C0OFFERS")
    add(db, world, "request:3:question", card("A question"), thread_of="request:3")
    await run(relay(db, messenger))

    [_, post] = fake_slack.calls_to("chat.postMessage")
    assert post.params["thread_ts"] == parent.ts and post.params["channel"] == "C0OFFERS"
    [_, reply] = fake_slack.posted("C0OFFERS")
    assert reply.thread_ts == parent.ts and reply.key == "request:3:question"
    sent = row(db, "request:3:question")
    assert sent.status == SENT and sent.message_id == reply.ts


async def test_a_reply_to_a_direct_message_goes_in_its_thread_in_the_dm_channel(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ada = Recipient(person_id=world.people[ADA])
    user = world.users[ADA].user_id
    add(db, world, "request:4", card("Your request"), to=ada)
    add(db, world, "request:4:update", card("An update"), to=ada, thread_of="request:4")
    await run(relay(db, messenger))
    parent, reply = fake_slack.posted(f"D{user}")
    assert (parent.key, parent.thread_ts) == ("request:4", None)
    assert (reply.key, reply.thread_ts) == ("request:4:update", parent.ts)
    assert fake_slack.calls_to("chat.postMessage")[1].params["channel"] == f"D{user}"


async def test_a_reply_whose_parent_is_not_sent_is_posted_on_its_own(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    add(db, world, "request:5", card("Support requested"), at=tomorrow)
    add(db, world, "request:5:question", card("A question"), thread_of="request:5")
    add(db, world, "request:6:question", card("Another"), thread_of="request:6")  # no such row
    await run(relay(db, messenger))
    posted = fake_slack.posted("C0OFFERS")
    assert [(p.key, p.thread_ts) for p in posted] == [
        ("request:5:question", None),
        ("request:6:question", None),
    ]
    assert statuses(db) == {SENT: 2, PENDING: 1}


async def test_a_reply_claimed_with_its_parent_waits_for_it_and_goes_in_its_thread(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "request:8", card("Support requested"))
    elsewhere = Recipient(conversation=channel("C0ELSEWHERE"))
    add(db, world, "request:8:note", card("A note"), to=elsewhere, thread_of="request:8")
    await run(relay(db, messenger), lambda: statuses(db) == {SENT: 2})
    parent, reply = fake_slack.posted("C0OFFERS")
    assert (reply.key, reply.thread_ts) == ("request:8:note", parent.ts)
    assert row(db, "request:8:note").attempts == 1


async def test_a_reply_in_doubt_is_looked_for_in_its_thread(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    outbox = OutboxService(db, SystemClock(), policy=FAST)
    add(db, world, "request:7", card("Support requested"))
    await run(relay(db, messenger))
    [parent] = fake_slack.posted("C0OFFERS")
    add(db, world, "request:7:question", card("A question"), thread_of="request:7")
    # A process claimed the reply, got it into the thread, and died.
    [claim] = outbox.claim_due(1, SLACK)
    assert claim.thread == parent.ts
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": claim.key}}
    await client.chat_postMessage(
        channel="C0OFFERS", text="A question", thread_ts=parent.ts, metadata=metadata
    )
    outbox.recover_stale(older_than=timedelta(0))
    await run(relay(db, messenger))
    assert fake_slack.posted_keys()["request:7:question"] == 1  # found, not posted again
    [lookup] = fake_slack.calls_to("conversations.replies")
    assert lookup.params["ts"] == parent.ts
    assert row(db, "request:7:question").status == SENT


# --- what is stored ---------------------------------------------------------------------------


def test_edits_and_replies_are_stored_with_the_key_they_name(db: Database, world: World) -> None:
    add(db, world, "a", card("a"))
    add(db, world, "b", card("b"), edits="a")
    add(db, world, "c", card("c"), thread_of="a")
    with db.session() as s:
        write_many(
            s,
            tenant_id=world.tenant_id,
            messages=[
                Message("d", Recipient(conversation=channel("C1")), card("d"), edits="a"),
                Message("e", Recipient(conversation=channel("C1")), card("e"), thread_of="b"),
                Message("f", Recipient(conversation=channel("C1")), card("f")),
            ],
            not_before=datetime.now(UTC),
            now=datetime.now(UTC),
        )
    assert [(r.key, r.edits_key, r.thread_key) for r in rows(db)] == [
        ("a", None, None),
        ("b", "a", None),
        ("c", None, "a"),
        ("d", "a", None),
        ("e", None, "b"),
        ("f", None, None),
    ]


@pytest.mark.parametrize(
    ("edits", "thread_of", "error"),
    [
        ("a", "a", "not both"),
        ("self", None, "itself"),
        (None, "self", "itself"),
        ("", None, "1 to 255"),
        ("x" * 256, None, "1 to 255"),
    ],
)
def test_what_an_edit_or_reply_may_name(
    db: Database, world: World, edits: str | None, thread_of: str | None, error: str
) -> None:
    with db.session() as s, pytest.raises(ValueError, match=error):
        enqueue(
            s,
            tenant_id=world.tenant_id,
            key="self",
            to=Recipient(conversation=channel("C1")),
            reply=card("x"),
            not_before=datetime.now(UTC),
            now=datetime.now(UTC),
            edits=edits,
            thread_of=thread_of,
        )
    with db.session() as s, pytest.raises(ValueError, match=error):
        write_many(
            s,
            tenant_id=world.tenant_id,
            messages=[
                Message("self", Recipient(conversation=channel("C1")), card("x"), edits, thread_of)
            ],
            not_before=datetime.now(UTC),
            now=datetime.now(UTC),
        )


def test_an_edit_names_only_rows_of_its_own_tenant(db: Database, world: World) -> None:
    outbox = OutboxService(db, SystemClock(), policy=FAST)
    add(db, world, "theirs", card("x"), at=datetime.now(UTC) + timedelta(days=1))
    other = build_world(db, la_code=882, name="Southend", workspace="T0OTHER")
    with db.session() as s:
        enqueue(
            s,
            tenant_id=other.tenant_id,
            key="mine",
            to=Recipient(conversation=channel("C2")),
            reply=card("y"),
            not_before=datetime.now(UTC),
            now=datetime.now(UTC),
            edits="theirs",
        )
    [claim] = outbox.claim_due(5, SLACK)
    assert claim.key == "mine" and claim.to is None
    assert claim.problem == "it edits 'theirs', but no outbox row has the key 'theirs'"
    assert row(db, "theirs").payload == reply_to_json(card("x"))  # untouched
