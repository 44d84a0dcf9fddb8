"""Start-up with 50,000 pending reminders: how long until every job is scheduled, the memory
it takes, and how late reminders fire while that load is on (scheduling delay p50/p99).

A SQLite database gets the sample directory and N reminders (one-offs over the next 30 days,
weekly and school-day recurrences); then a Runtime becomes leader and its ReminderJobs source
builds the jobs. A few hundred one-offs fall due during the run, and each one's delay is the
time from its due instant to APScheduler handing the job to its executor.

    .venv/bin/python bench/reminders_startup.py [--reminders 50000] [--probes 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED  # type: ignore[import-untyped]
from sqlalchemy import insert
from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import Core  # noqa: E402
from bot.ports import SystemClock  # noqa: E402
from bot.services.directory_import import load_sample  # noqa: E402
from scheduler.reminders import ReminderJobs  # noqa: E402
from scheduler.runtime import Runtime  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Person  # noqa: E402
from storage.reminder_tables import Reminder  # noqa: E402

PROBE_START = 25.0  # seconds after start-up begins that the probe reminders start falling due
PROBE_SPAN = 20.0


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fill(db: Database, count: int, probes: int, start: datetime) -> None:
    """Insert `count` active reminders plus `probes` one-offs due during the probe window."""
    rng = random.Random(7)
    with db.session() as session:
        people = session.exec(select(Person.id, Person.tenant_id)).all()
    rows: list[dict[str, Any]] = []
    # Set up earlier, as after a real restart: not "changed since the last sync".
    now = datetime.now(UTC) - timedelta(hours=1)
    for i in range(count + probes):
        person_id, tenant_id = people[i % len(people)]
        row: dict[str, Any] = {
            "tenant_id": tenant_id,
            "created_by": person_id,
            "target_kind": "person",
            "target_person_id": person_id,
            "text": f"reminder {i}",
            "timezone": "Europe/London",
            "respect_school_calendar": False,
            "status": "active",
            "created_at": now,
            "updated_at": now,
            "at": None,
            "weekdays": None,
            "local_time": None,
        }
        if i >= count:  # a probe
            due = start + timedelta(seconds=PROBE_START + PROBE_SPAN * (i - count) / probes)
            row |= {"schedule_kind": "once", "at": due, "next_due": due}
        elif i % 10 < 6:
            due = start + timedelta(minutes=5, seconds=rng.uniform(0, 30 * 86400))
            row |= {"schedule_kind": "once", "at": due, "next_due": due}
        elif i % 10 < 9:
            row |= {
                "schedule_kind": "weekly",
                "weekdays": rng.choice(["mon", "tue,thu", "fri"]),
                "local_time": clock_time(rng.randint(7, 17), 0),
                "next_due": None,
            }
        else:
            row |= {
                "schedule_kind": "school_day",
                "local_time": clock_time(8, 15),
                "next_due": None,
            }
        rows.append(row)
    with db.engine.begin() as conn:
        for chunk in range(0, len(rows), 5000):
            conn.execute(insert(Reminder), rows[chunk : chunk + 5000])


async def run(db: Database, total: int, probe_ids: set[str], start: float) -> dict[str, Any]:
    core = Core(db)
    runtime = Runtime(core, {}, job_sources=(ReminderJobs(core),))
    delays: list[float] = []
    lags: list[float] = []

    def submitted(event: Any) -> None:
        if event.job_id in probe_ids:
            now = datetime.now(UTC)
            delays.extend((now - t).total_seconds() for t in event.scheduled_run_times)

    async def watch_loop() -> None:  # how long the event loop is blocked, sampled every 50 ms
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append(time.perf_counter() - before - 0.05)

    watcher = asyncio.create_task(watch_loop())
    rss_before = rss_mib()
    await runtime.start()
    assert runtime.scheduler is not None, "the runtime did not become leader"
    runtime.scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
    # Polling is the point: we measure when the scheduler holds every job (fired probes count).
    while len(runtime.scheduler.get_jobs()) + len(delays) < total:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    ready = time.perf_counter() - start
    rss_ready = rss_mib()
    await asyncio.sleep(max(0.0, PROBE_START + PROBE_SPAN + 3 - (time.perf_counter() - start)))
    watcher.cancel()
    await runtime.stop()
    return {
        "ready": ready,
        "rss_before": rss_before,
        "rss_ready": rss_ready,
        "delays": delays,
        "lags": lags,
    }


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=50_000)
    parser.add_argument("--probes", type=int, default=300)
    args = parser.parse_args()

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='slis-bench-')) / 'bench.db'}"
    upgrade(url)
    db = Database.from_url(url)
    load_sample(db, SystemClock())
    fill_started = time.perf_counter()
    start_at = datetime.now(UTC) + timedelta(seconds=5)
    fill(db, args.reminders, args.probes, start_at)
    print(
        f"inserted {args.reminders + args.probes} reminders in "
        f"{time.perf_counter() - fill_started:.1f} s"
    )
    with db.session() as session:
        ids = session.exec(select(Reminder.id).order_by(Reminder.id)).all()
    probe_ids = {f"reminder:{i}" for i in ids[-args.probes :]}
    time.sleep(max(0.0, (start_at - datetime.now(UTC)).total_seconds()))
    started = time.perf_counter()
    result = asyncio.run(run(db, len(ids), probe_ids, started))
    delays, lags = result["delays"], result["lags"]
    print(f"{len(ids)} pending reminders, SQLite, one process")
    print(f"  start-up to every job scheduled: {result['ready']:.1f} s")
    print(
        f"  resident memory: {result['rss_before']:.0f} MiB before, "
        f"{result['rss_ready']:.0f} MiB with the jobs"
    )
    if delays:
        print(
            f"  scheduling delay of {len(delays)} reminders due during the run: "
            f"p50 {pct(delays, 50) * 1000:.0f} ms, p99 {pct(delays, 99) * 1000:.0f} ms, "
            f"max {max(delays) * 1000:.0f} ms"
        )
    else:
        print("  no probe reminder fired (the run ended too early)")
    print(f"  event loop blocked: p99 {pct(lags, 99) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms")
    db.dispose()


if __name__ == "__main__":
    main()
