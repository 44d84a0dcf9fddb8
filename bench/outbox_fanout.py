"""Outbox fan-out: thousands of messages through the relay to a fake Slack with a fixed limit.

The fake Slack Web API (tests/fakes/slack_api.py, on 127.0.0.1) accepts at most `--limit`
chat.postMessage calls in any one-second window and answers 429 (Retry-After: 1) beyond it.
The messages are enqueued in one transaction (as one state change fanning out would), then
the real Runtime (scheduler, relay, Slack Messenger) sends them. We report the time to enqueue,
the achieved rate over the limit (goal >= 0.9), and how many were lost or duplicated (goal 0),
counted by the outbox key each message carries in its metadata.

Slack paces chat.postMessage at about one message per second per channel, so 5,000 messages to
one channel would take 5,000 s: the recipients are spread over `--channels` conversations so
the method limit is the one that binds. Slack does not publish its workspace-wide limit, so in
production the relay learns it from 429s; here it is told the fake's limit (times
`--headroom`) unless `--reactive`, which shows what learning from 429s alone costs.

    .venv/bin/python bench/outbox_fanout.py [--messages 5000] [--limit 50] [--channels 500]
        [--headroom 0.95] [--reactive] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import SlackCredentials, SlackMode  # noqa: E402
from bot.core import Core  # noqa: E402
from bot.services.outbox import SENT, Recipient, enqueue  # noqa: E402
from bot.types import ConversationRef, Paragraph, Platform, Reply  # noqa: E402
from handlers.slack.messenger import SlackMessenger  # noqa: E402
from handlers.slack.pacing import Pacer, Rate  # noqa: E402
from scheduler.leader import SoleLeadership  # noqa: E402
from scheduler.runtime import Runtime  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Tenant  # noqa: E402
from storage.outbox_tables import OutboxMessage  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402

TOKEN = "xoxb-bench"
WORKSPACE = "T0BENCH"
POST = "chat.postMessage"


def enqueue_all(db: Database, messages: int, channels: int) -> tuple[int, list[str], float]:
    now = datetime.now(UTC)
    with db.session() as s:
        tenant = Tenant(name="Bench", la_code=999, created_at=now)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        tenant_id = tenant.id
    keys = [f"bench:{n}" for n in range(messages)]
    started = time.perf_counter()
    with db.session() as s:
        for n, key in enumerate(keys):
            to = ConversationRef(Platform.SLACK, WORKSPACE, f"C{n % channels:05d}")
            reply = Reply(f"Healthcheck {n}", (Paragraph(f"Healthcheck *{n}* is open."),))
            enqueue(
                s,
                tenant_id=tenant_id,
                key=key,
                to=Recipient(conversation=to),
                reply=reply,
                not_before=now,
                now=now,
            )
    return tenant_id, keys, time.perf_counter() - started


def sent_count(db: Database) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    with db.session() as s:
        stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == SENT)
        return int(s.exec(stmt).one())


async def relay_all(db: Database, fake: FakeSlackApi, args: argparse.Namespace) -> float:
    creds = SlackCredentials(SlackMode.HTTP, TOKEN, "secret", None, fake.url)
    if args.reactive:
        pacer = Pacer()
    else:
        pacer = Pacer(method_limits={POST: Rate(args.limit * args.headroom, burst=1)})
    messenger = SlackMessenger.for_credentials(creds, pacer=pacer)
    runtime = Runtime(Core(db), {Platform.SLACK: messenger}, leadership=SoleLeadership())
    started = time.perf_counter()
    await runtime.start()
    try:
        while await asyncio.to_thread(sent_count, db) < args.messages:
            if time.perf_counter() - started > args.timeout:
                print(f"gave up after {args.timeout:.0f}s", file=sys.stderr)
                break
            await asyncio.sleep(0.5)
    finally:
        await runtime.stop()
        await messenger.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=50, help="the fake's chat.postMessage/s")
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--headroom", type=float, default=0.95, help="relay pace / limit")
    parser.add_argument("--reactive", action="store_true", help="do not tell the relay the limit")
    parser.add_argument("--database-url", help="default: a SQLite file in a temp directory")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        db = Database.from_url(url)
        backend = db.engine.dialect.name
        _, keys, enqueue_seconds = enqueue_all(db, args.messages, args.channels)
        with FakeSlackApi() as fake:
            fake.rate_limit(args.limit, methods=[POST], retry_after=1)
            wall = asyncio.run(relay_all(db, fake, args))
            posted = fake.posted()
            limited = len(fake.limited_at)
            calls = len(fake.calls_to(POST))
        db.dispose()

    counts = collections.Counter(m.key for m in posted)
    lost = sum(1 for k in keys if counts[k] == 0)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    times = sorted(m.at for m in posted)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    achieved = (len(times) - 1) / span if span else 0.0
    per_second = collections.Counter(int(t - times[0]) for t in times) if times else {}
    busiest = max(per_second.values(), default=0)
    pace = (
        "learns it from 429s only"
        if args.reactive
        else f"paced at {args.limit * args.headroom:.1f}/s"
    )

    print(
        f"Outbox fan-out: {args.messages} messages to {args.channels} channels"
        f" ({args.messages // max(1, args.channels)} each) on {backend}, through the relay to a"
        f" fake Slack allowing {args.limit} {POST}/s (429 beyond)."
    )
    print(
        "  Slack paces posting at 1 message/s per channel, so one channel would take"
        f" {args.messages} s; {args.channels} channels make the method limit the one that binds."
    )
    print(
        f"  enqueue: {args.messages} rows in {enqueue_seconds:.2f} s"
        f" ({args.messages / enqueue_seconds:,.0f} rows/s), one transaction"
    )
    print(f"  relay: {pace} (Slack does not publish its workspace-wide limit)")
    print(
        f"  achieved: {achieved:.1f} msg/s over {span:.1f} s = {achieved / args.limit:.3f} of the"
        f" limit (goal >= 0.9); busiest second {busiest}; median second"
        f" {statistics.median(per_second.values()) if per_second else 0:.0f}"
    )
    print(
        f"  {POST} calls {calls}, 429 answers {limited}; lost {lost}, duplicated {duplicated}"
        f" (goal 0, 0); wall time {wall:.1f} s"
    )
    return 0 if lost == 0 and duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
