"""Real server processes against the fake Slack: SIGKILL half-way through a queue, and a
PostgreSQL leader killed under a second replica. Every message arrives exactly once."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.services.outbox import SENT
from storage.engine import Database
from tests.conftest import PG_URL
from tests.conftest import _truncate_pg as truncate_pg
from tests.fakes.slack_api import FakeSlackApi, fake_slack
from tests.scheduler.outbox_world import enqueue_many, statuses, world_with_administrator
from tests.slack.harness import BOT_TOKEN
from tests.slack.signing import SECRET

__all__ = ["fake_slack"]

SLIS = str(Path(sys.executable).with_name("slis"))
TUNED = str(Path(__file__).with_name("tuned_server.py"))
LEADS = "now leads the scheduler and the outbox relay"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds}s")
        time.sleep(0.005)


@dataclass
class Server:
    """A `slis serve` process and its log."""

    proc: subprocess.Popen[bytes]
    log: Path
    port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited:\n{self.output()}")
        try:
            url = f"http://127.0.0.1:{self.port}/readyz"
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Starts servers against the fake Slack; stops any still running at the end."""
    started: list[Server] = []

    def start(database_url: str, api_url: str, *, tuned: bool = False, **env: str) -> Server:
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SLIS_"))}
        environ.update(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=api_url,
            HOST="127.0.0.1",
            PORT=str(port),
            LOG_LEVEL="INFO",
            **env,
        )
        log = tmp_path / f"server-{len(started)}.log"
        argv = [sys.executable, TUNED] if tuned else [SLIS, "serve"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=tmp_path, env=environ, stdout=out, stderr=subprocess.STDOUT
            )
        server = Server(proc, log, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_sigkill_half_way_through_500_messages_loses_and_repeats_nothing(
    tmp_path: Path,
    sqlite_template: Path,
    fake_slack: FakeSlackApi,
    servers: Callable[..., Server],
) -> None:
    db_file = tmp_path / "slis.db"
    shutil.copy(sqlite_template, db_file)
    url = f"sqlite:///{db_file}"
    db = Database.from_url(url)
    world, _ = world_with_administrator(db)
    keys = enqueue_many(
        db, world.tenant_id, 500, channels=[f"C{i:03d}" for i in range(250)], prefix="crash"
    )

    first = servers(url, fake_slack.url)
    wait(lambda: len(fake_slack.posted_keys()) >= 250, 60, "half the messages")
    first.kill()
    at_kill = len(fake_slack.posted_keys())
    assert at_kill < 500, "the server finished before it was killed"

    second = servers(url, fake_slack.url)
    wait(lambda: statuses(db) == {SENT: 500}, 60, f"every message sent\n{second.output()}")
    second.stop()
    db.dispose()
    assert fake_slack.posted_keys() == dict.fromkeys(keys, 1)
    assert "Traceback" not in second.output()


def test_two_servers_on_postgresql_one_leads_and_the_other_takes_over(
    request: pytest.FixtureRequest,
    fake_slack: FakeSlackApi,
    servers: Callable[..., Server],
) -> None:
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set SLIS_TEST_DATABASE_URL (two replicas share it)")
    url = request.getfixturevalue("pg_migrated")
    truncate_pg(url)
    db = Database.from_url(url)
    world, _ = world_with_administrator(db)
    retry = 0.5
    tuning = {
        "SLIS_TEST_RETRY_SECONDS": str(retry),
        "SLIS_TEST_CHECK_SECONDS": "0.5",
        "SLIS_TEST_LEASE_SECONDS": "2",
    }
    both = [servers(url, fake_slack.url, tuned=True, **tuning) for _ in range(2)]
    for server in both:
        wait(server.ready, 60, "both servers answer")
    wait(lambda: any(LEADS in s.output() for s in both), 10, "one server leads")
    time.sleep(2 * retry)  # the other has tried for the lock again, and failed
    [leader] = [s for s in both if LEADS in s.output()]
    [follower] = [s for s in both if s is not leader]

    keys = enqueue_many(
        db, world.tenant_id, 300, channels=[f"C{i:03d}" for i in range(150)], prefix="replica"
    )
    wait(lambda: len(fake_slack.posted_keys()) >= 100, 30, "a third of the messages")
    leader.kill()
    killed = time.monotonic()
    assert len(fake_slack.posted_keys()) < 300, "the leader finished before it was killed"
    wait(lambda: LEADS in follower.output(), 10, "the second server takes over")
    takeover = time.monotonic() - killed
    # One retry period, plus room for a loaded machine; far inside the lease.
    assert takeover <= retry + 2.0, f"took {takeover:.1f}s to take over"

    wait(lambda: statuses(db) == {SENT: 300}, 30, f"every message sent\n{follower.output()}")
    follower.stop()
    db.dispose()
    assert fake_slack.posted_keys() == dict.fromkeys(keys, 1)
    assert follower.output().count(LEADS) == 1
