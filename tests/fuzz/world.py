"""What the fuzzers run against: the scenarios' Essex with something of everything in it (a
support request, a proposed meeting, an open healthcheck round, a reminder), actors in every
role, and a log of the tables committed transactions write, to prove a refused request
wrote nothing (a snapshot of every table, for the single-request regression tests).

Hypothesis runs derandomized here (the same examples on every run, so a failure in CI is the
failure on a laptop), prints the falsifying example, and keeps to a small budget: the whole
suite has ten minutes in CI.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, event, select
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (every table registered for the snapshot)
from bot.core import Core
from bot.form_flow import Finished, ShowPage
from bot.types import Actor, ChatUser, Platform, Reply
from storage.engine import Database
from tests.scenarios.test_scenarios import OPENS_AT
from tests.scenarios.world import World
from tests.services.healthcheck_rounds_world import actor_for

FUZZ = settings(
    derandomize=True,
    deadline=None,
    print_blob=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# The HTTP fuzzers (Slack, Teams) spend most of an example in the app's request handling, not
# in what is fuzzed: fewer examples each keeps the whole of tests/fuzz within its CI budget.
HTTP_FUZZ = settings(FUZZ, max_examples=60)

FAULT = "something went wrong on our side"
ROLES = ("head", "lead", "partnership_lead", "chair", "officer")
SUPPORT_REF = "SR-2026-0001"
MEETING_REF = "M-2026-0001"

Snapshot = dict[str, list[str]]

# A statement that writes a table: INSERT (also SQLite's INSERT OR ...), UPDATE, DELETE.
_WRITES = re.compile(
    r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE
)


class WriteLog:
    """The tables each committed transaction changed rows of, as every engine runs them.

    Far cheaper than reading every table before and after each example (the fuzzers run
    hundreds), and stricter: a write that was committed is caught even when it left the row
    as it was. Writes rolled back (a refused request's transaction) are not writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, set[str]] = {}
        self._committed: set[str] = set()

    def reset(self) -> None:
        """Forget what was committed so far (call before each example)."""
        with self._lock:
            self._committed.clear()

    def written(self, exempt: Iterable[str] = ()) -> set[str]:
        """The tables committed writes changed since `reset`, but `exempt`."""
        with self._lock:
            return self._committed - set(exempt)

    def _executed(self, conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        found = _WRITES.match(statement)
        if found is None or cursor.rowcount == 0:
            return
        with self._lock:
            self._pending.setdefault(id(conn), set()).add(found.group(1).lower())

    def _committed_now(self, conn: Connection) -> None:
        with self._lock:
            self._committed |= self._pending.pop(id(conn), set())

    def _rolled_back(self, conn: Connection) -> None:
        with self._lock:
            self._pending.pop(id(conn), None)

    @contextmanager
    def watching(self) -> Iterator[WriteLog]:
        """Listen to every engine meanwhile."""
        hooks: list[tuple[str, Callable[..., None]]] = [
            ("after_cursor_execute", self._executed),
            ("commit", self._committed_now),
            ("rollback", self._rolled_back),
        ]
        for name, hook in hooks:
            event.listen(Engine, name, hook)
        try:
            yield self
        finally:
            for name, hook in hooks:
                event.remove(Engine, name, hook)


def sqlite_copy(tmp_path: Path, template: Path) -> str:
    """A fresh migrated SQLite database (as tests/conftest.py makes them), by its URL."""
    path = tmp_path / "slis.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def snapshot(db: Database, exempt: Iterable[str] = ()) -> Snapshot:
    """Every row of every table (but `exempt`), as text, in a stable order."""
    skip = set(exempt)
    found: Snapshot = {}
    with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = conn.execute(select(table)).all()
            found[table.name] = sorted(repr(tuple(row)) for row in rows)
    return found


def changed(before: Snapshot, after: Snapshot) -> dict[str, tuple[int, int]]:
    """The tables whose rows differ: {name: (rows before, rows after)}."""
    return {
        name: (len(before[name]), len(after.get(name, [])))
        for name in before
        if before[name] != after.get(name, [])
    }


def is_fault(reply: Reply) -> bool:
    return FAULT in reply.text


def reply_text(reply: Reply) -> str:
    """Everything a reply says, for checking it tells the person what to do."""
    parts = [reply.text]
    for block in reply.blocks:
        parts += [str(v) for v in vars(block).values()]
    return "\n".join(parts)


@dataclass
class FuzzWorld:
    """The scenarios' world, seeded, with an actor for every role and one nobody knows."""

    world: World
    actors: dict[str, Actor]
    invitation_id: int

    @property
    def core(self) -> Core:
        return self.world.core

    @property
    def db(self) -> Database:
        return self.world.db


def actors_of(world: World, workspace: str) -> dict[str, Actor]:
    """An actor for each role of the world (as the core identifies them), and a stranger."""
    found = {
        role: actor_for(world.db, world.tenant_id, getattr(world, role), workspace)
        for role in ROLES
    }
    found["stranger"] = Actor(
        ChatUser(Platform.SLACK, workspace, "U0STRANGER"), world.tenant_id, "Essex", None, None
    )
    return found


async def seed(world: World) -> FuzzWorld:
    """Something of everything, made the way people make it: through the core's forms."""
    actors = actors_of(world, world.workspace(Platform.SLACK))
    core = world.core
    head, chair, officer = actors["head"], actors["chair"], actors["officer"]
    await _fill(
        core,
        head,
        "support",
        {
            "category": "pupil_premium_review",
            "needed": "A fresh look at reading catch-up.",
            "why_now": "Reading fell behind.",
            "urgency": "high",
            "window_from": date(2026, 11, 16),
            "window_to": date(2026, 12, 11),
            "days": 2,
            "consent": "yes",
        },
    )
    await _fill(
        core,
        chair,
        "meeting new",
        {
            "title": "North East: spring priorities",
            "purpose": "Locality needs for the spring term.",
            "mode": "online",
            "slot_1_date": date(2026, 11, 24),
            "slot_1_time": time(16),
            "slot_1_minutes": "60",
            "slot_2_date": date(2026, 11, 25),
            "slot_2_time": time(16),
            "slot_2_minutes": "60",
            "deadline_date": date(2026, 11, 20),
            "deadline_time": time(12),
        },
        {"invitees": None},
    )
    await _fill(
        core,
        officer,
        "healthcheck launch",
        {
            "template": "partnership_healthcheck",
            "audience": "head",
            "scope": f"quadrant:{world.north_east}",
            "opens_on": OPENS_AT.date(),
            "opens_time": time(9),
            "closes_on": date(2026, 11, 27),
            "closes_time": time(17),
            "privacy": "named",
            "nudges": ["3"],
            "repeat": "once",
        },
    )
    reminded = await core.command(head, "remind me at 15:00 ring the office")
    assert not reminded.is_error, reminded.text
    world.at(OPENS_AT)
    await world.tick()
    [invited] = core.answers.pending(head).items
    invitation_id = invited.invitation_id
    return FuzzWorld(world, actors, invitation_id)


async def _fill(core: Core, actor: Actor, command: str, *pages: Mapping[str, object]) -> None:
    """Open `/slis <command>` and send its pages; an answer of None picks every option."""
    step = await core.open_form(actor, command)
    for number, answers in enumerate(pages):
        assert isinstance(step, ShowPage), step
        page = step.form.page(number)
        values = {}
        for field in page.fields:
            if field.id in answers:
                answer = answers[field.id]
                every = [o.value for o in getattr(field, "options", ())]
                values[field.id] = every if answer is None else answer
        step = await core.form_submit(
            actor, step.form.callback_id, step.form.private_metadata, number, values
        )
    assert isinstance(step, Finished) and not step.reply.is_error, step


# --- what the fuzzers type ------------------------------------------------------------------

# Words that are nearly the commands and subcommands, and the arguments they take.
WORDS = (
    "help", "whoami", "school", "partnership", "quadrant", "remind", "reminders",
    "healthcheck", "support", "meeting", "actions", "launch", "status", "report", "list",
    "show", "stats", "ledger", "mine", "open", "all", "new", "order", "minutes", "change",
    "cancel", "tally", "agenda", "notetaker", "me", "none", "at", "on", "every", "in",
    "tomorrow", "monday", "15:00", "9am", "North", "East", "West", "#1", "1", "0", "-1",
    "999999999999999999999", SUPPORT_REF, MEETING_REF, "SR-", "M-", "SR-2026-", "115141",
    "Great Oakley", "Colne Valley", "@channel", "<@U123>", "<#C1|x>", "&amp;", "*", "`",
    "%", "'", '"', "\\", "NaN", "1e999", "2026-02-30", "25:61",
)  # fmt: skip

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
word_lists = st.lists(st.one_of(st.sampled_from(WORDS), texts), max_size=8)


def near_miss(word: str) -> st.SearchStrategy[str]:
    """`word` with a letter changed, dropped, doubled, or in another case."""
    return st.one_of(
        st.just(word.upper()),
        st.integers(0, max(len(word) - 1, 0)).map(lambda i: word[:i] + word[i + 1 :]),
        st.integers(0, max(len(word) - 1, 0)).map(
            lambda i: word[:i] + word[i : i + 1] * 2 + word[i + 1 :]
        ),
        st.tuples(
            st.integers(0, len(word)), st.characters(codec="utf-8", exclude_categories=("Cs",))
        ).map(lambda p: word[: p[0]] + p[1] + word[p[0] :]),
    )


command_texts = st.one_of(
    word_lists.map(" ".join),
    texts,
    st.sampled_from(WORDS).flatmap(near_miss),
    st.tuples(st.sampled_from(WORDS), word_lists).map(lambda p: " ".join((p[0], *p[1]))),
    st.integers(1000, 20000).map(lambda n: "support " + "x" * n),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=20),
)
