"""The sandbox's timeline: a jump of the clock runs what fell due on the way, in order, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.core import Core
from bot.ports import MovableClock
from bot.services.calendar import load_sample_calendar
from bot.services.directory_import import load_sample
from bot.types import Actor, ChatUser, Platform
from scheduler.sandbox import Timeline
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.fakes.clock import FakeClock

# Tuesday 24 November 2026, 09:00 in London: a school day in the sample calendar.
TUESDAY_NINE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ADA = ChatUser(Platform.SLACK, "T0SAMPLE1", "U0SAMPLE01")


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(FakeClock(TUESDAY_NINE))


@pytest.fixture
def core(db: Database, clock: MovableClock) -> Iterator[Core]:
    load_sample(db, clock)
    load_sample_calendar(db)
    yield Core(db, clock=clock)


def ada(core: Core) -> Actor:
    actor = core.identity.actor_for(ADA)
    assert actor.linked
    return actor


def reminder_rows(db: Database) -> list[str]:
    with db.session() as s:
        keys = s.exec(select(OutboxMessage.key).order_by(col(OutboxMessage.id))).all()
    return [k for k in keys if k.startswith("reminder:")]


async def test_a_jump_fires_each_reminder_that_fell_due_on_the_way(
    db: Database, core: Core, clock: MovableClock
) -> None:
    reply = core.router.dispatch(ada(core), "remind me tomorrow 9am send the return")
    assert not reply.is_error, reply.text
    timeline = Timeline(core, clock)

    await timeline.jump(TUESDAY_NINE + timedelta(hours=12))
    assert reminder_rows(db) == []  # tomorrow 09:00 London has not come

    await timeline.jump(TUESDAY_NINE + timedelta(days=1, hours=1))
    rows = reminder_rows(db)
    assert len(rows) == 1 and ":2026-11-25T09:00:" in rows[0]
    assert clock.now() == TUESDAY_NINE + timedelta(days=1, hours=1)

    await timeline.catch_up()  # nothing more is due: nothing more is sent
    assert reminder_rows(db) == rows


async def test_a_school_day_reminder_fires_once_for_each_school_day_jumped_over(
    db: Database, core: Core, clock: MovableClock
) -> None:
    reply = core.router.dispatch(ada(core), "remind me every school day at 8am check the inbox")
    assert not reply.is_error, reply.text
    # Tuesday 09:00 to the next Tuesday 09:00: Wednesday to Friday and Monday and Tuesday.
    await Timeline(core, clock).jump(TUESDAY_NINE + timedelta(days=7))
    days = sorted(key.split(":")[2][:10] for key in reminder_rows(db))
    assert days == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-30", "2026-12-01"]


async def test_a_jump_wakes_the_sweeps_at_every_step_in_order(
    core: Core, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, datetime]] = []
    for name, service in (
        ("rounds", core.rounds),
        ("support", core.support),
        ("meetings", core.meetings),
    ):
        method = "tick" if name == "rounds" else "sweep"
        original = getattr(service, method)

        def spy(*args: object, _name: str = name, _original: object = original) -> object:
            seen.append((_name, clock.now()))
            return _original(*args)  # type: ignore[operator]

        monkeypatch.setattr(service, method, spy)

    await Timeline(core, clock, step=timedelta(hours=1)).jump(TUESDAY_NINE + timedelta(hours=3))
    moments = [at for name, at in seen if name == "support"]
    assert moments == [TUESDAY_NINE + timedelta(hours=h) for h in (1, 2, 3)]
    assert [at for name, at in seen if name == "rounds"] == moments
    assert [at for name, at in seen if name == "meetings"] == moments


async def test_the_clock_never_goes_back(core: Core, clock: MovableClock) -> None:
    with pytest.raises(ValueError, match="forward only"):
        await Timeline(core, clock).jump(TUESDAY_NINE - timedelta(minutes=1))
    with pytest.raises(ValueError, match="forward only"):
        await Timeline(core, clock).jump(TUESDAY_NINE)
    assert clock.now() == TUESDAY_NINE


def test_the_movable_clock_runs_on_from_where_it_was_moved() -> None:
    base = FakeClock(TUESDAY_NINE)
    clock = MovableClock(base)
    clock.move_to(TUESDAY_NINE + timedelta(days=2))
    base.advance(minutes=5)  # real time passes
    assert clock.now() == TUESDAY_NINE + timedelta(days=2, minutes=5)
    assert clock.offset == timedelta(days=2)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.move_to(datetime(2026, 12, 1, 9, 0))
    clock.reset()
    assert clock.now() == base.now()
