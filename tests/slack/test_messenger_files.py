"""An outbox row with a file (a meeting's .ics invitation) delivered through the Slack
Messenger: uploaded into the person's DM with the bot, retried after 429s and 5xx, found again
after a lost answer so it arrives exactly once. Against the fake Slack Web API, on every test
database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.config import SlackCredentials, SlackMode
from bot.ports import DeliveryFailed, SystemClock
from bot.services.outbox import SENT, OutboxPolicy, OutboxService, Recipient, enqueue
from bot.types import Attachment, ConversationRef, Paragraph, Platform, Reply
from handlers.slack.messenger import FILE_MESSAGE_PREFIX, SlackMessenger
from handlers.slack.pacing import Pacer
from scheduler.relay import Relay
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.factories import World
from tests.fakes.slack_api import BOT_USER_ID, FakeSlackApi
from tests.scheduler.outbox_world import statuses, world_with_administrator
from tests.slack.harness import BOT_TOKEN

TEAM = "T0TEST"
ADA = "ada.head@schools.example.org"
FAST = OutboxPolicy(
    max_attempts=8,
    backoff_base=timedelta(milliseconds=20),
    backoff_cap=timedelta(milliseconds=100),
)
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//SLIS Bot//Meetings//EN\r\nMETHOD:REQUEST\r\n"
    b"BEGIN:VEVENT\r\nUID:M-2027-0001@slis.example.org\r\nSEQUENCE:0\r\n"
    b"DTSTART:20270329T090000Z\r\nDTEND:20270329T103000Z\r\n"
    b"SUMMARY:West quadrant meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
FILENAME = "west-quadrant-meeting-2027-03-29.ics"
INVITE_FILE = Reply(
    "Calendar invitation: West quadrant meeting, Mon 29 Mar 10:00 to 11:30",
    files=(Attachment(FILENAME, "West quadrant meeting", ICS, "text/calendar"),),
)
CARD = Reply(
    "You are invited: West quadrant meeting",
    (Paragraph("You are invited to the *West quadrant meeting*."),),
)


def make(fake: FakeSlackApi) -> SlackMessenger:
    creds = SlackCredentials(SlackMode.HTTP, BOT_TOKEN, "secret", None, fake.url)
    # No pacing: these tests are about what arrives, not how fast.
    return SlackMessenger.for_credentials(creds, pacer=Pacer(method_limits={}, channel_interval=0))


@pytest.fixture
async def messenger(fake_slack: FakeSlackApi) -> AsyncIterator[SlackMessenger]:
    made = make(fake_slack)
    yield made
    await made.close()


@pytest.fixture
def world(db: Database) -> World:
    return world_with_administrator(db)[0]


def relay(db: Database, messenger: SlackMessenger) -> Relay:
    return Relay(OutboxService(db, SystemClock(), policy=FAST), {Platform.SLACK: messenger})


async def run(relay: Relay, until: Callable[[], bool], seconds: float = 10) -> None:
    """Relay passes until `until` holds."""
    deadline = time.monotonic() + seconds
    while True:
        await relay.run_once()
        if await asyncio.to_thread(until):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {seconds}s")
        await asyncio.sleep(0.02)


def add(db: Database, world: World, key: str, reply: Reply, thread_of: str | None = None) -> None:
    with db.session() as s:
        assert enqueue(
            s,
            tenant_id=world.tenant_id,
            key=key,
            to=Recipient(person_id=world.people[ADA]),
            reply=reply,
            not_before=datetime.now(UTC),
            now=datetime.now(UTC),
            thread_of=thread_of,
        )


def row(db: Database, key: str) -> OutboxMessage:
    with db.session() as s:
        found = s.exec(select(OutboxMessage).where(OutboxMessage.key == key)).one()
        s.expunge(found)
        return found


def sent(db: Database, *keys: str) -> Callable[[], bool]:
    return lambda: all(row(db, k).status == SENT for k in keys)


def dm(world: World) -> str:
    """Ada's DM channel with the bot, as the fake's conversations.open names it."""
    return "D" + world.users[ADA].user_id


def since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=5)


# --- through the relay ----------------------------------------------------------------------


async def test_the_invitation_file_reaches_the_dm_once_after_its_card(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "meeting:1:invite:ada", CARD)
    add(db, world, "meeting:1:ics:ada", INVITE_FILE)
    relayed = relay(db, messenger)
    await run(relayed, sent(db, "meeting:1:invite:ada", "meeting:1:ics:ada"))

    [uploaded] = fake_slack.uploaded_files()
    assert (uploaded.filename, uploaded.title, uploaded.channel_id, uploaded.content) == (
        FILENAME,
        "West quadrant meeting",
        dm(world),
        ICS,
    )
    assert uploaded.initial_comment == INVITE_FILE.text and uploaded.thread_ts is None
    # The card, then the file: both in the DM, in that order, and the file is no message post.
    card, share = fake_slack.conversation(dm(world))
    assert card.key == "meeting:1:invite:ada" and not card.files
    assert [f["name"] for f in share.files] == [FILENAME] and share.text == INVITE_FILE.text
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    [issued] = fake_slack.calls_to("files.getUploadURLExternal")
    assert issued.params["filename"] == FILENAME and issued.params["length"] == str(len(ICS))
    # Slack's answer gives no ts for the share: the row keeps the file's id instead.
    assert row(db, "meeting:1:ics:ada").message_id == FILE_MESSAGE_PREFIX + uploaded.file_id
    assert relayed.counts.sent == 2 and relayed.counts.retried == 0


@pytest.mark.parametrize("method", ["files.getUploadURLExternal", "files.completeUploadExternal"])
async def test_a_rate_limited_upload_waits_for_retry_after_and_arrives_once(
    db: Database,
    world: World,
    fake_slack: FakeSlackApi,
    messenger: SlackMessenger,
    method: str,
) -> None:
    fake_slack.fail(method, status=429, retry_after=1)
    add(db, world, "meeting:2:ics:ada", INVITE_FILE)
    relayed = relay(db, messenger)
    await run(relayed, sent(db, "meeting:2:ics:ada"))

    [uploaded] = fake_slack.uploaded_files(dm(world))
    assert uploaded.content == ICS
    limited, again = fake_slack.calls_to(method)
    assert again.at - limited.at >= 0.9  # Retry-After: 1, give or take the clocks
    assert relayed.counts.rate_limited == 1 and relayed.counts.retried == 0
    # A 429 means Slack did nothing: no need to look before sending again.
    assert not fake_slack.calls_to("conversations.history")
    assert row(db, "meeting:2:ics:ada").attempts == 1  # waiting is not a failed attempt


async def test_a_lost_answer_after_the_share_is_found_and_not_sent_twice(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    # Slack shared the file, then the answer was a 500.
    fake_slack.fail("files.completeUploadExternal", status=500, after=True)
    add(db, world, "meeting:3:ics:ada", INVITE_FILE)
    relayed = relay(db, messenger)
    await run(relayed, sent(db, "meeting:3:ics:ada"))

    [uploaded] = fake_slack.uploaded_files()
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1
    [history] = fake_slack.calls_to("conversations.history")
    assert history.params["channel"] == dm(world)
    [share] = fake_slack.conversation(dm(world))
    assert row(db, "meeting:3:ics:ada").message_id == share.ts == uploaded.ts
    assert relayed.counts.retried == 1 and relayed.counts.found_sent == 1


async def test_a_500_before_the_share_is_looked_for_then_uploaded_again(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.fail("files.completeUploadExternal", status=500)
    add(db, world, "meeting:4:ics:ada", INVITE_FILE)
    relayed = relay(db, messenger)
    await run(relayed, sent(db, "meeting:4:ics:ada"))

    [uploaded] = fake_slack.uploaded_files(dm(world))
    assert uploaded.content == ICS
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 2
    assert len(fake_slack.calls_to("conversations.history")) == 1  # looked, found nothing
    assert relayed.counts.retried == 1 and relayed.counts.found_sent == 0


async def test_a_failed_upload_of_the_bytes_is_retried_without_a_look(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.fail("upload", status=503)
    add(db, world, "meeting:5:ics:ada", INVITE_FILE)
    relayed = relay(db, messenger)
    await run(relayed, sent(db, "meeting:5:ics:ada"))

    [uploaded] = fake_slack.uploaded_files(dm(world))
    assert uploaded.content == ICS
    assert len(fake_slack.calls_to("upload")) == 2
    assert not fake_slack.calls_to("conversations.history")  # nothing was shared yet


async def test_a_file_in_a_thread_is_shared_there_and_found_there(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    add(db, world, "meeting:6:invite:ada", CARD)
    await run(relay(db, messenger), sent(db, "meeting:6:invite:ada"))
    card = row(db, "meeting:6:invite:ada").message_id
    fake_slack.fail("files.completeUploadExternal", status=500, after=True)
    add(db, world, "meeting:6:ics:ada", INVITE_FILE, thread_of="meeting:6:invite:ada")
    relayed = relay(db, messenger)
    await run(relayed, sent(db, "meeting:6:ics:ada"))

    [uploaded] = fake_slack.uploaded_files(dm(world))
    assert uploaded.thread_ts == card
    [complete] = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.params["thread_ts"] == card
    [replies] = fake_slack.calls_to("conversations.replies")
    assert replies.params["ts"] == card and not fake_slack.calls_to("conversations.history")
    assert row(db, "meeting:6:ics:ada").message_id == uploaded.ts
    assert relayed.counts.found_sent == 1


async def test_a_row_without_files_is_posted_and_checked_by_its_key_as_before(
    db: Database, world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.fail("chat.postMessage", status=500)
    add(db, world, "meeting:7:invite:ada", CARD)
    relayed = relay(db, messenger)
    await run(relayed, sent(db, "meeting:7:invite:ada"))

    assert fake_slack.posted_keys() == {"meeting:7:invite:ada": 1}
    [history] = fake_slack.calls_to("conversations.history")
    assert history.params["include_all_metadata"]
    assert fake_slack.uploaded_files() == [] and not fake_slack.calls_to(
        "files.getUploadURLExternal"
    )
    assert statuses(db) == {SENT: 1}


# --- the messenger on its own ---------------------------------------------------------------


def ada(world: World) -> ConversationRef:
    return ConversationRef(Platform.SLACK, TEAM, world.users[ADA].user_id)


async def test_the_check_tells_the_file_share_from_keyed_messages_and_the_persons_files(
    world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    to = ada(world)
    names = [FILENAME]
    card = await messenger.send(to, CARD, key="meeting:8:invite:ada")
    # Ada sends a file of the same name herself: not the bot's share.
    fake_slack.share_file_as(to.conversation_id, dm(world), FILENAME, text=INVITE_FILE.text)
    found = await messenger.already_delivered(
        to, "meeting:8:ics:ada", since=since(), files=names, comment=INVITE_FILE.text
    )
    assert found is None

    share = await messenger.send(to, INVITE_FILE, key="meeting:8:ics:ada")
    assert share.startswith(FILE_MESSAGE_PREFIX)
    [shared] = [m for m in fake_slack.conversation(dm(world)) if m.user == BOT_USER_ID][1:]
    found = await messenger.already_delivered(
        to, "meeting:8:ics:ada", since=since(), files=names, comment=INVITE_FILE.text
    )
    assert found == shared.ts
    # Another text (another meeting's file of the same name), or other files: not this one.
    other = await messenger.already_delivered(
        to, "x", since=since(), files=names, comment="Calendar invitation: moved to 14:00"
    )
    assert other is None
    assert await messenger.already_delivered(to, "x", since=since(), files=["a.ics"]) is None
    # Without files the check is by key, as before: the share carries none.
    assert await messenger.already_delivered(to, "meeting:8:ics:ada", since=since()) is None
    assert await messenger.already_delivered(to, "meeting:8:invite:ada", since=since()) == card
    # Shares older than `since` are not searched.
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await messenger.already_delivered(to, "k", since=later, files=names) is None


async def test_the_share_ts_is_kept_when_slacks_answer_gives_it(
    world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    fake_slack.share_answers_ts = True
    ts = await messenger.send(ada(world), INVITE_FILE, key="meeting:9:ics:ada")
    [uploaded] = fake_slack.uploaded_files(dm(world))
    assert ts == uploaded.ts


async def test_text_as_slack_escapes_it_still_matches(
    world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    reply = Reply("Calendar invitation: Heads & deputies <West>", files=INVITE_FILE.files)
    # The bot's share as Slack shows it in history, with &, < and > escaped.
    escaped = "Calendar invitation: Heads &amp; deputies &lt;West&gt;"
    ts = fake_slack.share_file_as(BOT_USER_ID, dm(world), FILENAME, text=escaped)
    found = await messenger.already_delivered(
        ada(world), "k", since=since(), files=[FILENAME], comment=reply.text
    )
    assert found == ts


@pytest.mark.parametrize(
    ("method", "failure", "permanent", "maybe_delivered", "retry_after"),
    [
        ("files.getUploadURLExternal", {"status": 500}, False, False, None),
        ("files.getUploadURLExternal", {"error": "invalid_auth"}, True, False, None),
        ("files.getUploadURLExternal", {"status": 429, "retry_after": 4}, False, False, 4),
        ("upload", {"status": 500}, False, False, None),
        # The bytes arrived but the answer did not: nothing is shared until the last call.
        ("upload", {"status": 500, "after": True}, False, False, None),
        ("upload", {"status": 413}, True, False, None),
        ("upload", {"status": 429, "retry_after": 3}, False, False, 3),
        ("files.completeUploadExternal", {"status": 500}, False, True, None),
        ("files.completeUploadExternal", {"error": "internal_error"}, False, True, None),
        ("files.completeUploadExternal", {"error": "channel_not_found"}, True, False, None),
        ("files.completeUploadExternal", {"error": "file_uploads_disabled"}, True, False, None),
        ("files.completeUploadExternal", {"status": 429, "retry_after": 2}, False, False, 2),
    ],
)
async def test_what_each_upload_failure_means(
    world: World,
    fake_slack: FakeSlackApi,
    messenger: SlackMessenger,
    method: str,
    failure: dict[str, object],
    permanent: bool,
    maybe_delivered: bool,
    retry_after: float | None,
) -> None:
    fake_slack.fail(method, **failure)  # type: ignore[arg-type]
    with pytest.raises(DeliveryFailed) as raised:
        await messenger.send(ada(world), INVITE_FILE, key="k")
    assert raised.value.permanent is permanent
    assert raised.value.maybe_delivered is maybe_delivered
    assert raised.value.retry_after == retry_after
    assert fake_slack.uploaded_files() == []


async def test_an_update_with_files_is_refused_without_calling_slack(
    world: World, fake_slack: FakeSlackApi, messenger: SlackMessenger
) -> None:
    ts = await messenger.send(ada(world), CARD, key="meeting:10:invite:ada")
    before = len(fake_slack.calls)
    with pytest.raises(DeliveryFailed) as raised:
        await messenger.update(ada(world), ts, INVITE_FILE)
    assert raised.value.permanent and "files" in raised.value.reason
    assert len(fake_slack.calls) == before
