"""Healthcheck launch: a round to 5,000 heads, its prompts written by one tick and delivered.

A directory of `--heads` open schools, each with a head linked to Slack (fictional, generated
names), is built in one local authority, with the shipped sample calendar. An LA officer
launches the school check-in to every head (`RoundService.launch`: the audience is resolved and
frozen into one invitation per head). Then `tick` runs at the open time: it opens the round and
writes one prompt per invitation to the outbox, in one transaction. We measure that tick (the
time to write the outbox), then start the real Runtime (scheduler, relay, Slack Messenger) and
measure the delivery of every prompt to the fake Slack Web API (tests/fakes/slack_api.py, on
127.0.0.1), which accepts at most `--limit` chat.postMessage calls in any one-second window and
answers 429 (Retry-After: 1) beyond it. Delivery is reported as a ratio to the least time the
limit allows (heads / limit; goal <= 1.11, i.e. at least 0.9 of the limit as in
bench/outbox_fanout.py), and lost and duplicated prompts are counted by the outbox key each
message carries in its metadata (goal 0 and 0).

Each prompt is a direct message to a different person, so Slack's one-message-per-second pace
per channel never binds: the method limit does. The relay is told the fake's limit (times
`--headroom`), as in bench/outbox_fanout.py, unless `--reactive`.

The bot runs on a clock set to Tue 24 Nov 2026 (a school day in the sample calendar) that moves
with the wall clock, so the launch, the open and the relay's retries all see a school day inside
the sending hours whatever the day the benchmark is run.

    .venv/bin/python bench/healthcheck_launch.py [--heads 5000] [--limit 50] [--headroom 0.95]
        [--reactive] [--database-url postgresql://...]

With --database-url, a private database is made on that server for the run and dropped after
(PostgreSQL), so nothing of the server's own databases is touched. There the directory's tables
are ANALYZEd once built, as a production directory's would be; without statistics PostgreSQL
plans the audience's join as if the tables were empty (seconds, not milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bot.config import SlackCredentials, SlackMode  # noqa: E402
from bot.core import Core  # noqa: E402
from bot.services.calendar import load_sample_calendar  # noqa: E402
from bot.services.healthcheck.audience import Scope  # noqa: E402
from bot.services.healthcheck.rounds import LaunchRequest  # noqa: E402
from bot.services.identity import grants_for  # noqa: E402
from bot.services.outbox import SENT  # noqa: E402
from bot.types import Actor, ChatUser, Platform, Role, ScopeKind  # noqa: E402
from handlers.slack.messenger import SlackMessenger  # noqa: E402
from handlers.slack.pacing import Pacer, Rate  # noqa: E402
from scheduler.leader import SoleLeadership  # noqa: E402
from scheduler.runtime import Runtime  # noqa: E402
from storage.engine import Database, make_engine, normalise_url  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    ChatIdentity,
    ChatWorkspace,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    RoleAssignment,
    School,
    Tenant,
)
from storage.outbox_tables import OutboxMessage  # noqa: E402
from storage.survey_tables import SurveyInvitation  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402

TOKEN = "xoxb-bench"
WORKSPACE = "T0BENCH"
POST = "chat.postMessage"
LA_CODE = 881  # the sample calendar's local authority
SCHOOLS_PER_PARTNERSHIP = 20
CHUNK = 500

# The bot's day: Tue 24 Nov 2026, in the sample calendar's autumn term (GMT: local = UTC).
LAUNCH_AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OPENS_ON, OPENS_TIME = date(2026, 11, 24), clock_time(10, 0)
CLOSES_ON, CLOSES_TIME = date(2026, 12, 4), clock_time(17, 0)

FIRST = ("Ada", "Ben", "Cara", "Dev", "Eli", "Fen", "Gus", "Hana", "Ira", "Jun", "Kai", "Lin")
LAST = ("Fictional", "Imaginary", "Madeup", "Notreal", "Pretend", "Inventa", "Storybook")


class MovingClock:
    """The bot's clock: set to an instant, then moving with the wall clock."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self.set(start)

    def set(self, at: datetime) -> None:
        with self._lock:
            self._base, self._mark = at, time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=time.monotonic() - self._mark)


def rows(table: Any, values: list[dict[str, Any]], db: Database) -> None:
    with db.session() as s:
        for start in range(0, len(values), CHUNK):
            s.exec(insert(table).values(values[start : start + CHUNK]))  # type: ignore[call-overload]


def build_directory(db: Database, heads: int) -> tuple[int, int]:
    """`heads` open schools in four quadrants and partnerships of 20, each with a head linked to
    Slack, and an LA officer; returns (tenant id, officer's person id)."""
    with db.session() as s:
        tenant = Tenant(name="Benchshire", la_code=LA_CODE, created_at=LAUNCH_AT)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        tenant_id = tenant.id
        s.add(ChatWorkspace(tenant_id=tenant_id, platform="slack", workspace_id=WORKSPACE))
        quadrants = []
        for name in ("North", "East", "South", "West"):
            q = Quadrant(tenant_id=tenant_id, name=name)
            s.add(q)
            s.flush()
            quadrants.append(q.id)
        officer = Person(tenant_id=tenant_id, name="Olu Officer", email="olu@la.example.org")
        s.add(officer)
        s.flush()
        assert officer.id is not None
        officer_id = officer.id
        s.add(
            RoleAssignment(
                tenant_id=tenant_id,
                person_id=officer_id,
                role=Role.LA_OFFICER.value,
                scope_kind=ScopeKind.COUNTY.value,
                scope_id=0,
            )
        )
    partnerships = (heads + SCHOOLS_PER_PARTNERSHIP - 1) // SCHOOLS_PER_PARTNERSHIP
    rows(
        School.__table__,  # type: ignore[attr-defined]
        [
            {
                "tenant_id": tenant_id,
                "urn": 200000 + n,
                "name": f"Bench School {n:05d}",
                "phase": "Primary",
                "establishment_type": "Community school",
                "establishment_group": "",
                "status": "Open",
                "quadrant_id": quadrants[n % len(quadrants)],
                "updated_at": LAUNCH_AT,
            }
            for n in range(heads)
        ],
        db,
    )
    rows(
        Partnership.__table__,  # type: ignore[attr-defined]
        [
            {
                "tenant_id": tenant_id,
                "name": f"Bench Partnership {p:04d}",
                "kind": "slis_cluster",
                "quadrant_id": quadrants[p % len(quadrants)],
            }
            for p in range(partnerships)
        ],
        db,
    )
    rows(
        Person.__table__,  # type: ignore[attr-defined]
        [
            {
                "tenant_id": tenant_id,
                "name": f"{FIRST[n % len(FIRST)]} {LAST[n % len(LAST)]} {n:05d}",
                "email": f"head{n:05d}@schools.example.org",
                "job_title": "Headteacher",
            }
            for n in range(heads)
        ],
        db,
    )
    with db.session() as s:
        school_ids = dict(s.exec(select(School.urn, School.id)).all())
        partnership_ids = list(s.exec(select(Partnership.id).order_by(col(Partnership.id))).all())
        person_ids = dict(
            s.exec(select(Person.email, Person.id).where(col(Person.email).like("head%"))).all()
        )
    school = [school_ids[200000 + n] for n in range(heads)]
    person = [person_ids[f"head{n:05d}@schools.example.org"] for n in range(heads)]
    rows(
        PartnershipMembership.__table__,  # type: ignore[attr-defined]
        [
            {
                "tenant_id": tenant_id,
                "partnership_id": partnership_ids[n // SCHOOLS_PER_PARTNERSHIP],
                "school_id": school[n],
            }
            for n in range(heads)
        ],
        db,
    )
    rows(
        RoleAssignment.__table__,  # type: ignore[attr-defined]
        [
            {
                "tenant_id": tenant_id,
                "person_id": person[n],
                "role": Role.HEAD.value,
                "scope_kind": ScopeKind.SCHOOL.value,
                "scope_id": school[n],
            }
            for n in range(heads)
        ],
        db,
    )
    rows(
        ChatIdentity.__table__,  # type: ignore[attr-defined]
        [
            {
                "tenant_id": tenant_id,
                "person_id": person[n],
                "platform": "slack",
                "workspace_id": WORKSPACE,
                "user_id": f"UHEAD{n:05d}",
                "source": "directory",
                "linked_at": LAUNCH_AT,
            }
            for n in range(heads)
        ],
        db,
    )
    return tenant_id, officer_id


def officer_actor(db: Database, tenant_id: int, person_id: int) -> Actor:
    with db.session() as s:
        return Actor(
            ChatUser(Platform.SLACK, WORKSPACE, "UOFFICER"),
            tenant_id,
            "Benchshire",
            person_id,
            "Olu Officer",
            grants_for(s, tenant_id, person_id),
        )


def count_outbox(db: Database, *, sent: bool) -> int:
    with db.session() as s:
        stmt = select(func.count()).select_from(OutboxMessage)
        if sent:
            stmt = stmt.where(OutboxMessage.status == SENT)
        return int(s.exec(stmt).one())


async def deliver(
    core: Core, fake: FakeSlackApi, args: argparse.Namespace, expected: int
) -> tuple[float, bool]:
    creds = SlackCredentials(SlackMode.HTTP, TOKEN, "secret", None, fake.url)
    if args.reactive:
        pacer = Pacer()
    else:
        pacer = Pacer(method_limits={POST: Rate(args.limit * args.headroom, burst=1)})
    messenger = SlackMessenger.for_credentials(creds, pacer=pacer)
    runtime = Runtime(core, {Platform.SLACK: messenger}, leadership=SoleLeadership())
    started = time.perf_counter()
    done = True
    await runtime.start()
    try:
        while await asyncio.to_thread(count_outbox, core.db, sent=True) < expected:
            if time.perf_counter() - started > args.timeout:
                print(f"gave up after {args.timeout:.0f}s", file=sys.stderr)
                done = False
                break
            await asyncio.sleep(0.25)
    finally:
        await runtime.stop()
        await messenger.close()
    return time.perf_counter() - started, done


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """A migrated database: a SQLite file in a temporary directory, or a private database on
    the PostgreSQL server of `url`, dropped afterwards."""
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = f"sqlite:///{tmp}/bench.db"
            upgrade(path)
            yield path
        return
    server = make_url(normalise_url(url))
    if server.get_backend_name() != "postgresql":
        upgrade(url)
        yield url
        return
    name = f"slis_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    private = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(private)
        yield private
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=50, help="the fake's chat.postMessage/s")
    parser.add_argument("--headroom", type=float, default=0.95, help="relay pace / limit")
    parser.add_argument("--reactive", action="store_true", help="do not tell the relay the limit")
    parser.add_argument("--database-url", help="default: a SQLite file in a temp directory")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    with database(args.database_url) as url:
        db = Database.from_url(url)
        backend = db.engine.dialect.name
        built = time.perf_counter()
        tenant_id, officer_id = build_directory(db, args.heads)
        load_sample_calendar(db, LA_CODE)
        if backend == "postgresql":
            # A directory this size has table statistics in production; fresh bulk-loaded
            # tables have none until autovacuum comes round, and plan joins as if empty.
            with db.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        build_seconds = time.perf_counter() - built

        clock = MovingClock(LAUNCH_AT)
        core = Core(db, clock=clock)
        request = LaunchRequest(
            template_id="school_checkin",
            audience_role=Role.HEAD,
            scope=Scope(ScopeKind.COUNTY),
            opens_on=OPENS_ON,
            opens_time=OPENS_TIME,
            closes_on=CLOSES_ON,
            closes_time=CLOSES_TIME,
            anonymous=False,
        )
        started = time.perf_counter()
        launched = core.rounds.launch(officer_actor(db, tenant_id, officer_id), request)
        launch_seconds = time.perf_counter() - started

        clock.set(launched.opens_at)
        started = time.perf_counter()
        outcome = core.rounds.tick()
        tick_seconds = time.perf_counter() - started
        written = count_outbox(db, sent=False)
        again = time.perf_counter()
        repeat = core.rounds.tick()
        repeat_seconds = time.perf_counter() - again

        with db.session() as s:
            invitation_ids = s.exec(
                select(SurveyInvitation.id).where(SurveyInvitation.round_id == launched.round_id)
            ).all()
        keys = [f"survey:{launched.round_id}:prompt:{i}" for i in invitation_ids]

        with FakeSlackApi() as fake:
            fake.rate_limit(args.limit, methods=[POST], retry_after=1)
            wall, finished = asyncio.run(deliver(core, fake, args, len(keys)))
            posted = fake.posted()
            limited = len(fake.limited_at)
            calls = len(fake.calls_to(POST))
        db.dispose()

    counts = collections.Counter(m.key for m in posted)
    lost = sum(1 for k in keys if counts[k] == 0)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    stray = sum(c for k, c in counts.items() if k not in set(keys))
    times = sorted(m.at for m in posted)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    minimum = args.heads / args.limit
    pace = (
        "learns it from 429s only"
        if args.reactive
        else f"paced at {args.limit * args.headroom:.1f}/s"
    )

    print(
        f"Healthcheck launch: the school check-in to {args.heads} heads (each linked to Slack) on"
        f" {backend}, through the relay to a fake Slack allowing {args.limit} {POST}/s"
        " (429 beyond)."
    )
    print(f"  directory built in {build_seconds:.1f} s (not measured below)")
    print(
        f"  launch (resolve and freeze the audience): {launched.invitations} invitations in"
        f" {launch_seconds:.2f} s"
    )
    print(
        f"  open tick (write the outbox): {outcome.prompts} prompt rows ({written} in the outbox)"
        f" in {tick_seconds:.2f} s = {outcome.prompts / tick_seconds:,.0f} rows/s;"
        f" a second tick wrote {repeat.prompts} in {repeat_seconds:.2f} s"
    )
    print(f"  relay: {pace} (Slack does not publish its workspace-wide limit)")
    achieved = (len(times) - 1) / span if span else 0.0
    print(
        f"  delivery: {len(times)} prompts in {wall:.1f} s from the relay's start (first to last"
        f" post {span:.1f} s); the least the limit allows is {minimum:.1f} s:"
        f" ratio {wall / minimum:.3f} (goal <= 1.11, i.e. >= 0.9 of the limit); counting the"
        f" open tick {(wall + tick_seconds) / minimum:.3f}; achieved {achieved:.1f} msg/s ="
        f" {achieved / args.limit:.3f} of the limit"
    )
    print(
        f"  {POST} calls {calls}, 429 answers {limited}; lost {lost}, duplicated {duplicated},"
        f" not ours {stray} (goal 0, 0, 0)"
    )
    ok = finished and lost == 0 and duplicated == 0 and stray == 0
    ok = ok and outcome.prompts == args.heads and repeat.prompts == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
