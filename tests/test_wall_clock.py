"""No production code reads the wall clock: every time the product stores or compares comes from
the Clock port (core.clock), which the sandbox moves days ahead.

An AST scan of bot/, storage/, scheduler/ and handlers/ for the wall-clock readers, called or
passed around, however they were imported; `time.monotonic` measures intervals and is fine.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("bot", "storage", "scheduler", "handlers")

WALL_CLOCK = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
    }
)

# Where reading the wall clock is right: (file, function) or (file, "*") for the whole file.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        # The clock itself: SystemClock is what everything else is given.
        ("bot/ports.py", "*"),
        # APScheduler's own timeline is real time: next_run_time=now runs the job at once.
        ("scheduler/meetings.py", "MeetingJobs.install"),
        ("scheduler/reminders.py", "ReminderJobs.install"),
        ("scheduler/reminders.py", "ReminderJobs._catch_up"),
        ("scheduler/runtime.py", "Runtime._become_leader"),
        ("scheduler/sandbox.py", "Timeline.install"),
        ("scheduler/support.py", "SupportJobs.install"),
        ("scheduler/surveys.py", "SurveyJobs.install"),
        # A Retry-After HTTP date from the Bot Connector is compared with real time.
        ("handlers/teams/pacing.py", "retry_after"),
        # Slack's request timestamp must be real time: Bolt checks it against real time.
        ("handlers/sandbox/events.py", "BotRequests._post"),
    }
)


@dataclass(frozen=True)
class Read:
    """One place that names a wall-clock reader."""

    path: str
    line: int
    function: str  # dotted, e.g. "SystemClock.now"; "" at module level
    reader: str  # e.g. "datetime.datetime.now"

    def allowed(self) -> bool:
        return (self.path, self.function) in ALLOWED or (self.path, "*") in ALLOWED

    def __str__(self) -> str:
        where = f" in {self.function}" if self.function else ""
        return f"{self.path}:{self.line}{where}: {self.reader}"


def wall_clock_reads(source: str, path: str) -> list[Read]:
    """Every reference to a wall-clock reader in a module's source."""
    tree = ast.parse(source, filename=path)
    imported = _imported_names(tree)
    reads: list[Read] = []

    def qualified(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return imported.get(node.id)
        if isinstance(node, ast.Attribute):
            base = qualified(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    class Visitor(ast.NodeVisitor):
        def __init__(self) -> None:
            self.scope: list[str] = []

        def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
            self.scope.append(node.name)
            self.generic_visit(node)
            self.scope.pop()

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

        def _reference(self, node: ast.Name | ast.Attribute) -> None:
            name = qualified(node)
            if name in WALL_CLOCK:
                reads.append(Read(path, node.lineno, ".".join(self.scope), name))
            else:
                self.generic_visit(node)

        visit_Name = visit_Attribute = _reference

    Visitor().visit(tree)
    return reads


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it stands for, from every import in the module (function-level too)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def production_reads() -> list[Read]:
    reads: list[Read] = []
    for folder in SCANNED:
        for file in sorted((ROOT / folder).rglob("*.py")):
            path = file.relative_to(ROOT).as_posix()
            reads += wall_clock_reads(file.read_text(encoding="utf-8"), path)
    return reads


def test_no_production_code_reads_the_wall_clock() -> None:
    found = [str(r) for r in production_reads() if not r.allowed()]
    assert not found, (
        "These read the wall clock; use the Clock port (core.clock) instead, or add the place "
        "to ALLOWED in tests/test_wall_clock.py with the reason:\n  " + "\n  ".join(found)
    )


def test_every_allowed_place_still_reads_the_wall_clock() -> None:
    reads = production_reads()
    used = {(r.path, r.function) for r in reads} | {(r.path, "*") for r in reads}
    stale = sorted(f"{path} {function}" for path, function in ALLOWED - used)
    assert not stale, "Nothing reads the wall clock here any more; drop from ALLOWED: " + (
        ", ".join(stale)
    )


@pytest.mark.parametrize(
    ("source", "reader"),
    [
        ("from datetime import UTC, datetime\nx = datetime.now(UTC)", "datetime.datetime.now"),
        ("import datetime\nx = datetime.datetime.utcnow()", "datetime.datetime.utcnow"),
        ("import datetime as dt\nx = dt.date.today()", "datetime.date.today"),
        ("from datetime import date as Day\nx = Day.today()", "datetime.date.today"),
        ("from datetime import datetime\nx = datetime.today()", "datetime.datetime.today"),
        ("import time\nx = time.time()", "time.time"),
        ("from time import time_ns\nx = time_ns()", "time.time_ns"),
        ("from time import time as wall\nstamp = wall", "time.time"),
        (
            "from datetime import UTC, datetime\n"
            "class Row:\n"
            "    def made(self):\n"
            "        return datetime.now(UTC)\n",
            "datetime.datetime.now",
        ),
    ],
)
def test_the_scan_finds_a_reader_however_it_was_imported(source: str, reader: str) -> None:
    [read] = wall_clock_reads(source, "bot/example.py")
    assert read.reader == reader


def test_the_scan_names_the_function_and_line() -> None:
    source = "from datetime import UTC, datetime\n\nclass Row:\n    def made(self):\n"
    source += "        return datetime.now(UTC)\n"
    [read] = wall_clock_reads(source, "bot/example.py")
    assert str(read) == "bot/example.py:5 in Row.made: datetime.datetime.now"
    assert not read.allowed()


@pytest.mark.parametrize(
    "source",
    [
        "import time\nx = time.monotonic()",
        "from time import perf_counter\nx = perf_counter()",
        "from datetime import datetime\nx = datetime.fromisoformat('2026-11-24T09:00:00+00:00')",
        "x = clock.now()",
        "def now():\n    return 1\nx = now()",
        "from datetime import time\nx = time(9, 0)",
    ],
)
def test_the_scan_leaves_other_clocks_alone(source: str) -> None:
    assert wall_clock_reads(source, "bot/example.py") == []
