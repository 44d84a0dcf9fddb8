"""The Teams Messenger against the fake Bot Connector and fake Entra ID: what it posts, what each
failure means to the relay, profile lookups, and outbox rows through the relay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from microsoft_teams.common import Client, ClientOptions
from sqlmodel import select

from bot.errors import ProfileUnavailable
from bot.ports import DeliveryFailed, SystemClock
from bot.services.outbox import FAILED, SENT, OutboxPolicy, OutboxService, Recipient, enqueue
from bot.types import ConversationRef, Paragraph, Platform, Reply
from handlers.rates import Rate
from handlers.teams import cards
from handlers.teams.messenger import TeamsMessenger
from handlers.teams.pacing import DEFAULT_RETRY_AFTER, SEND, Pacer
from handlers.teams.profiles import TeamsProfiles
from handlers.teams.tokens import BotTokens
from scheduler.relay import Relay
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.fakes.bot_connector import BOT_FRAMEWORK, FakeBotConnector, bot_connector, entra
from tests.fakes.clock import Ticker
from tests.fakes.entra import BOT_SECRET, FakeEntra, bot_registration
from tests.fakes.loopback import bound_socket
from tests.scheduler.outbox_world import world_with_administrator

__all__ = ["bot_connector", "entra"]

TENANT = "00000000-0000-0000-0000-00000000e55e"
PERSONAL = "a:1fakeada"
CHANNEL = "19:0b5e55ed0000@thread.tacv2"
ADA_MEMBER = "29:1fakeAdaMemberId"
ADA_OBJECT = "6f0e5a1c-0000-4000-8000-00000000ada0"
REPLY = Reply("Healthcheck open", (Paragraph("The *autumn* healthcheck is open."),))
FAST = OutboxPolicy(
    max_attempts=4,
    backoff_base=timedelta(milliseconds=20),
    backoff_cap=timedelta(milliseconds=100),
)


def unpaced() -> Pacer:
    """No pacing: these tests are about what is sent; pacing has tests of its own."""
    return Pacer(thread_limits={}, app_limit=None)


def to(fake: FakeBotConnector, conversation: str = PERSONAL) -> ConversationRef:
    return ConversationRef(Platform.TEAMS, TENANT, conversation, fake.service_url)


@pytest.fixture
async def messenger(
    entra: FakeEntra,
    bot_connector: FakeBotConnector,
) -> AsyncIterator[TeamsMessenger]:
    made = TeamsMessenger.for_credentials(bot_registration(entra), pacer=unpaced())
    yield made
    await made.close()


# --- what is sent ---------------------------------------------------------------------------


async def test_a_reply_is_posted_as_its_card_with_a_bot_framework_token(
    entra: FakeEntra,
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    activity_id = await messenger.send(to(bot_connector), REPLY, key="survey:1:invite:7")

    assert bot_connector.messages(PERSONAL) == [cards.message_activity(REPLY)]
    assert bot_connector.activity_ids(PERSONAL) == [activity_id]
    [call] = bot_connector.calls
    assert (call.method, call.path) == ("POST", f"/v3/conversations/{PERSONAL}/activities")
    token = call.headers["Authorization"].removeprefix("Bearer ")
    assert entra.claims(token, BOT_FRAMEWORK) is not None


async def test_many_sends_take_one_token(
    entra: FakeEntra,
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    await asyncio.gather(*(messenger.send(to(bot_connector), REPLY) for _ in range(10)))
    assert len(bot_connector.messages(PERSONAL)) == 10
    assert len(entra.token_calls()) == 1


async def test_a_reply_in_a_thread_goes_to_the_channel_thread(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    parent = await messenger.send(to(bot_connector, CHANNEL), REPLY)
    await messenger.send(to(bot_connector, CHANNEL), Reply("Reminder"), thread=parent)

    thread = f"{CHANNEL};messageid={parent}"
    assert len(bot_connector.messages(CHANNEL)) == 1
    assert bot_connector.messages(thread) == [cards.message_activity(Reply("Reminder"))]
    assert bot_connector.calls[-1].path == f"/v3/conversations/{thread}/activities"


@pytest.mark.parametrize("chat", [PERSONAL, "19:group0chat@thread.v2"])
async def test_a_reply_in_the_thread_of_a_chat_message_follows_it(
    bot_connector: FakeBotConnector, messenger: TeamsMessenger, chat: str
) -> None:
    """One-to-one and group chats have no threads: the reply is posted after the message."""
    parent = await messenger.send(to(bot_connector, chat), REPLY)
    await messenger.send(to(bot_connector, chat), Reply("Reminder"), thread=parent)
    assert bot_connector.messages(chat)[1] == cards.message_activity(Reply("Reminder"))
    assert bot_connector.calls[-1].path == f"/v3/conversations/{chat}/activities"


async def test_an_update_replaces_the_card_in_place(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    activity_id = await messenger.send(to(bot_connector), REPLY)
    closed = Reply("Healthcheck closed", (Paragraph("Thank you."),))
    await messenger.update(to(bot_connector), activity_id, closed)

    assert bot_connector.messages(PERSONAL) == [cards.message_activity(closed)]
    [(conversation, updated_id, _)] = bot_connector.updated
    assert (conversation, updated_id) == (PERSONAL, activity_id)
    assert bot_connector.calls[-1].method == "PUT"
    assert bot_connector.calls[-1].path.endswith(f"/activities/{activity_id}")


async def test_a_raw_card_is_posted_and_updated_with_its_summary(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    card = cards.card(REPLY)
    activity_id = await messenger.send_card(to(bot_connector), card, "A form")
    await messenger.update_card(to(bot_connector), activity_id, card, "The form, answered")
    [message] = bot_connector.messages(PERSONAL)
    assert message["summary"] == "The form, answered"
    assert message["attachments"] == [cards.attachment(card)]


# --- what failures mean ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "header", "retry_after", "permanent", "maybe_delivered"),
    [
        (429, 3, 3.0, False, False),
        (429, None, DEFAULT_RETRY_AFTER, False, False),
        (412, 2, 2.0, False, False),
        (500, None, None, False, True),
        (502, None, None, False, True),
        (503, None, None, False, True),
        (504, None, None, False, True),
        (401, None, None, False, False),
        (403, None, None, True, False),
        (404, None, None, True, False),
        (400, None, None, True, False),
    ],
)
async def test_what_each_answer_means(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
    status: int,
    header: float | None,
    retry_after: float | None,
    permanent: bool,
    maybe_delivered: bool,
) -> None:
    bot_connector.fail(status, retry_after=header)
    with pytest.raises(DeliveryFailed) as failed:
        await messenger.send(to(bot_connector), REPLY)
    assert failed.value.retry_after == retry_after
    assert failed.value.permanent is permanent
    assert failed.value.maybe_delivered is maybe_delivered
    assert str(status) in failed.value.reason
    assert "Healthcheck" not in failed.value.reason  # never the message itself


async def test_a_rate_limit_pauses_sends_without_calling_again(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    bot_connector.fail(429, retry_after=30)
    with pytest.raises(DeliveryFailed):
        await messenger.send(to(bot_connector), REPLY)
    with pytest.raises(DeliveryFailed) as paused:
        await messenger.send(to(bot_connector, "a:1fakebea"), REPLY)
    assert paused.value.retry_after is not None and 29 < paused.value.retry_after <= 30
    assert len(bot_connector.calls) == 1


async def test_a_refused_token_is_replaced_for_the_next_attempt(
    entra: FakeEntra,
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    bot_connector.fail(401)
    with pytest.raises(DeliveryFailed):
        await messenger.send(to(bot_connector), REPLY)
    await messenger.send(to(bot_connector), REPLY)
    assert len(entra.token_calls()) == 2
    first, second = (c.headers["Authorization"] for c in bot_connector.calls)
    assert first != second


async def test_an_update_of_an_unknown_message_is_permanent(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await messenger.update(to(bot_connector), "999", REPLY)
    assert failed.value.permanent


async def test_no_token_means_not_sent(
    entra: FakeEntra,
    bot_connector: FakeBotConnector,
) -> None:
    creds = bot_registration(entra)
    entra.register(creds.app_id, secret="rotated-secret")  # the bot's secret was replaced
    messenger = TeamsMessenger.for_credentials(creds, pacer=unpaced())
    try:
        with pytest.raises(DeliveryFailed) as failed:
            await messenger.send(to(bot_connector), REPLY)
    finally:
        await messenger.close()
    assert failed.value.permanent and not failed.value.maybe_delivered
    assert BOT_SECRET not in failed.value.reason
    assert bot_connector.calls == []


async def test_no_connection_means_not_delivered(entra: FakeEntra) -> None:
    closed = bound_socket()  # bound, never listening: connections are refused
    where = ConversationRef(
        Platform.TEAMS, TENANT, PERSONAL, f"http://127.0.0.1:{closed.getsockname()[1]}/"
    )
    messenger = TeamsMessenger.for_credentials(bot_registration(entra), pacer=unpaced())
    try:
        with pytest.raises(DeliveryFailed) as failed:
            await messenger.send(where, REPLY)
    finally:
        await messenger.close()
        closed.close()
    assert not failed.value.permanent and not failed.value.maybe_delivered


async def test_a_timeout_may_have_delivered(entra: FakeEntra) -> None:
    heard = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(65536)
        heard.set()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    where = ConversationRef(Platform.TEAMS, TENANT, PERSONAL, f"http://127.0.0.1:{port}/")
    http = Client(ClientOptions(timeout=0.3))
    messenger = TeamsMessenger(BotTokens(bot_registration(entra)), pacer=unpaced(), http=http)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            await messenger.send(where, REPLY)
    finally:
        await http.http.aclose()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
    assert heard.is_set()  # the request reached the server; its answer never came
    assert failed.value.maybe_delivered and not failed.value.permanent


async def test_a_conversation_without_a_service_url_cannot_be_reached(
    messenger: TeamsMessenger,
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await messenger.send(ConversationRef(Platform.TEAMS, TENANT, PERSONAL), REPLY)
    assert failed.value.permanent


async def test_whether_a_message_arrived_can_never_be_told(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await messenger.already_delivered(to(bot_connector), "k", since=datetime.now(UTC))
    assert failed.value.permanent
    assert bot_connector.calls == []


async def test_calls_are_paced_per_conversation(
    bot_connector: FakeBotConnector,
    entra: FakeEntra,
) -> None:
    tick = Ticker()
    pacer = Pacer(
        thread_limits={SEND: (Rate(1.0),)}, app_limit=None, now=tick.now, sleep=tick.sleep
    )
    messenger = TeamsMessenger.for_credentials(bot_registration(entra), pacer=pacer)
    try:
        for _ in range(3):
            await messenger.send(to(bot_connector), REPLY)
        await messenger.send(to(bot_connector, "a:1fakebea"), REPLY)
    finally:
        await messenger.close()
    assert tick.slept == [1.0, 1.0]


# --- profiles -------------------------------------------------------------------------------


async def test_a_profile_gives_the_email_lower_cased(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    bot_connector.add_member(ADA_MEMBER, ADA_OBJECT, "Ada Finch", "Ada.Finch@Schools.example.org")
    profiles = messenger.profiles(bot_connector.service_url, PERSONAL, ADA_MEMBER)
    assert await profiles.email_of(TENANT, ADA_OBJECT) == "ada.finch@schools.example.org"
    [call] = bot_connector.calls
    assert (call.method, call.path) == ("GET", f"/v3/conversations/{PERSONAL}/members/{ADA_MEMBER}")


async def test_a_profile_without_email_falls_back_to_the_principal_name(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    bot_connector.add_member(ADA_MEMBER, ADA_OBJECT, "Ada Finch", upn="AFinch@essex.example.org")
    profiles = messenger.profiles(bot_connector.service_url, PERSONAL, ADA_MEMBER)
    assert await profiles.email_of(TENANT, ADA_OBJECT) == "afinch@essex.example.org"


async def test_a_profile_with_neither_or_of_someone_else_gives_none(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    bot_connector.add_member(ADA_MEMBER, ADA_OBJECT, "Ada Finch")
    bot_connector.add_member("29:1fakeBea", "someone-else", "Bea Lark", "bea@example.org")
    assert (
        await messenger.profiles(bot_connector.service_url, PERSONAL, ADA_MEMBER).email_of(
            TENANT, ADA_OBJECT
        )
        is None
    )
    assert (
        await messenger.profiles(bot_connector.service_url, PERSONAL, "29:1fakeBea").email_of(
            TENANT, ADA_OBJECT
        )
        is None
    )
    assert (
        await messenger.profiles(bot_connector.service_url, PERSONAL, "29:1nobody").email_of(
            TENANT, ADA_OBJECT
        )
        is None
    )  # 404


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_profile_that_cannot_be_read_now_is_unavailable(
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
    status: int,
) -> None:
    bot_connector.add_member(ADA_MEMBER, ADA_OBJECT, "Ada Finch", "ada@example.org")
    bot_connector.fail(status, retry_after=1)
    with pytest.raises(ProfileUnavailable):
        await messenger.profiles(bot_connector.service_url, PERSONAL, ADA_MEMBER).email_of(
            TENANT, ADA_OBJECT
        )


async def test_profiles_on_their_own_connections(
    entra: FakeEntra,
    bot_connector: FakeBotConnector,
) -> None:
    bot_connector.add_member(ADA_MEMBER, ADA_OBJECT, "Ada Finch", "ada@example.org")
    profiles = TeamsProfiles(
        bot_connector.service_url,
        PERSONAL,
        ADA_MEMBER,
        tokens=BotTokens(bot_registration(entra)),
    )
    assert await profiles.email_of(TENANT, ADA_OBJECT) == "ada@example.org"
    closed = bound_socket()
    gone = TeamsProfiles(
        f"http://127.0.0.1:{closed.getsockname()[1]}/",
        PERSONAL,
        ADA_MEMBER,
        tokens=BotTokens(bot_registration(entra)),
    )
    try:
        with pytest.raises(ProfileUnavailable):
            await gone.email_of(TENANT, ADA_OBJECT)
    finally:
        closed.close()


# --- through the outbox relay ---------------------------------------------------------------


def add(
    db: Database, tenant_id: int, key: str, where: ConversationRef, reply: Reply, **how: str
) -> None:
    with db.session() as s:
        assert enqueue(
            s,
            tenant_id=tenant_id,
            key=key,
            to=Recipient(conversation=where),
            reply=reply,
            not_before=datetime.now(UTC),
            now=datetime.now(UTC),
            **how,
        )


def row(db: Database, key: str) -> OutboxMessage:
    with db.session() as s:
        found = s.exec(select(OutboxMessage).where(OutboxMessage.key == key)).one()
        s.expunge(found)
        return found


async def run(relay: Relay, until: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(until):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {seconds}s")
        await relay.run_once()
        await asyncio.sleep(0.02)


async def test_outbox_rows_go_out_edited_and_threaded(
    db: Database,
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    tenant_id = world_with_administrator(db)[0].tenant_id
    relay = Relay(OutboxService(db, SystemClock(), policy=FAST), {Platform.TEAMS: messenger})
    add(db, tenant_id, "t:invite", to(bot_connector), REPLY)
    add(db, tenant_id, "t:post", to(bot_connector, CHANNEL), Reply("Meeting booked"))
    await run(
        relay, lambda: row(db, "t:post").status == SENT and row(db, "t:invite").status == SENT
    )

    closed = Reply("Healthcheck closed")
    add(db, tenant_id, "t:invite:closed", to(bot_connector), closed, edits="t:invite")
    add(
        db,
        tenant_id,
        "t:post:reply",
        to(bot_connector, CHANNEL),
        Reply("Agenda"),
        thread_of="t:post",
    )
    await run(
        relay,
        lambda: (
            row(db, "t:post:reply").status == SENT and row(db, "t:invite:closed").status == SENT
        ),
    )

    assert bot_connector.messages(PERSONAL) == [cards.message_activity(closed)]
    parent = row(db, "t:post").message_id
    assert bot_connector.messages(f"{CHANNEL};messageid={parent}") == [
        cards.message_activity(Reply("Agenda"))
    ]


async def test_the_relay_waits_out_a_rate_limit_and_parks_a_gone_conversation(
    db: Database,
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    tenant_id = world_with_administrator(db)[0].tenant_id
    relay = Relay(OutboxService(db, SystemClock(), policy=FAST), {Platform.TEAMS: messenger})
    bot_connector.fail(429, retry_after=0.2)
    add(db, tenant_id, "t:1", to(bot_connector), REPLY)
    await run(relay, lambda: row(db, "t:1").status == SENT)
    assert relay.counts.rate_limited >= 1 and relay.counts.retried == 0

    bot_connector.fail(404)
    add(db, tenant_id, "t:2", to(bot_connector, "a:1fakegone"), REPLY)
    await run(relay, lambda: row(db, "t:2").status == FAILED)
    assert "404" in (row(db, "t:2").last_error or "")


async def test_a_lost_answer_means_a_second_copy_never_none(
    db: Database,
    bot_connector: FakeBotConnector,
    messenger: TeamsMessenger,
) -> None:
    tenant_id = world_with_administrator(db)[0].tenant_id
    relay = Relay(OutboxService(db, SystemClock(), policy=FAST), {Platform.TEAMS: messenger})
    bot_connector.fail(504, after=True)  # Teams kept the message; its answer was lost
    add(db, tenant_id, "t:1", to(bot_connector), REPLY)
    await run(relay, lambda: row(db, "t:1").status == SENT)
    assert len(bot_connector.messages(PERSONAL)) == 2
    assert row(db, "t:1").message_id == bot_connector.activity_ids(PERSONAL)[-1]
