"""`slis audit` as an administrator uses it: the log after imports, filtered, as lines or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migrated SQLite database holding the sample directory and calendar."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    assert slis("db", "upgrade")[0] == 0
    assert slis("directory", "load-sample")[0] == 0


def slis(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_the_imports_are_listed_newest_first_one_line_each(loaded: None) -> None:
    code, out = slis("audit")
    assert code == 0
    lines = out.splitlines()
    assert [line.split("  ")[1:4] for line in lines] == [
        ["cli", "the command line", "calendar.import"],
        ["cli", "the command line", "directory.import"],
        ["cli", "the command line", "directory.import_schools"],
        ["cli", "the command line", "directory.import"],
    ]
    assert "essex_schools.csv" in lines[2]


def test_filters_and_json(loaded: None) -> None:
    code, out = slis(
        "audit", "--action", "directory", "--platform", "cli", "--json", "--limit", "2"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["action"] for r in rows] == ["directory.import", "directory.import_schools"]
    assert rows[1]["detail"]["inserted"] == 248 and rows[1]["at"].endswith("Z")
    code, out = slis("audit", "--action", "calendar.import", "--since", "2000-01-01")
    assert code == 0 and len(out.splitlines()) == 1
    code, out = slis("audit", "--until", "2000-01-01")
    assert (code, out) == (0, "No audit entries match.\n")
    # Each reading above is itself in the log.
    code, out = slis("audit", "--action", "audit.view", "--json")
    assert len(out.splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--since", "yesterday"), "“yesterday” is not a date"),
        (("--action", "gossip"), "I don't know the action “gossip”."),
        (("--platform", "fax"), "I don't know the platform “fax”."),
        (("--person", "nobody@example.org"), "Nobody in this directory has the e-mail"),
        (("--limit", "0"), "The limit must be a whole number"),
        (("--la-code", "999"), "There is no local authority with LA code 999."),
        (("--since", "2026-12-01", "--until", "2026-11-01"), "--until is before --since."),
    ],
)
def test_bad_options_are_refused_clearly(loaded: None, args: tuple[str, ...], says: str) -> None:
    code, out = slis("audit", *args)
    assert code == 1 and says in out


def test_an_unmigrated_database_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, out = slis("audit")
    assert code == 2 and "slis db upgrade" in out
