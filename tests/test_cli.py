"""The `slis` command as an administrator uses it: migrate, import, see what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from storage.engine import Database
from storage.models import School

runner = CliRunner()


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    return url


def slis(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def schools(url: str) -> int:
    db = Database.from_url(url)
    with db.session() as session:
        count = session.exec(select(func.count()).select_from(School)).one()
    db.dispose()
    return count


def test_upgrade_load_sample_and_repeat(sqlite_url: str) -> None:
    assert slis("db", "upgrade") == (0, "Database is up to date.\n")
    code, out = slis("directory", "load-sample")
    assert code == 0 and "248 inserted" in out.replace("school: ", "")
    code, out = slis("directory", "load-sample")
    assert code == 0 and "inserted" not in out
    assert schools(sqlite_url) == 248
    code, out = slis("db", "current")
    assert code == 0 and out.startswith("current: ") and "none" not in out


def test_a_bad_row_names_its_line_and_changes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    slis("db", "upgrade")
    slis("directory", "load-sample")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "URN,EstablishmentName,LA (code)\n115141,Renamed School,881\nnot-a-urn,Broken,881\n"
    )
    code, out = slis("directory", "import-schools", str(bad))
    assert code == 1
    assert "line 3" in out and "nothing was changed" in out
    code, out = slis("directory", "import-schools", str(bad), "--skip-invalid")
    assert code == 0 and "line 3" in out
    assert schools(sqlite_url) == 248


def test_import_schools_needs_a_local_authority_first(sqlite_url: str, tmp_path: Path) -> None:
    slis("db", "upgrade")
    csv = tmp_path / "s.csv"
    csv.write_text("URN,EstablishmentName,LA (code)\n1,A,881\n")
    code, out = slis("directory", "import-schools", str(csv))
    assert code == 2 and "Give --la-code" in out
    code, out = slis("directory", "import-schools", str(csv), "--la-code", "881")
    assert code == 1 and "no local authority with LA code 881" in out


def test_imports_into_an_unmigrated_database_say_what_to_run(sqlite_url: str) -> None:
    code, out = slis("directory", "load-sample")
    assert code == 2 and "run `slis db upgrade` first" in out


def test_a_missing_database_folder_is_said_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/nowhere/slis.db")
    code, out = slis("db", "upgrade")
    assert code == 2 and "does not exist" in out


def test_serve_refuses_a_partial_slack_configuration(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-only")
    code, out = slis("serve")
    assert code == 2 and "SLACK_SIGNING_SECRET is missing" in out and "xoxb-only" not in out


def test_the_sandbox_refuses_to_stand_in_for_real_slack_without_the_flag(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLIS_SANDBOX", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real-workspace")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "real-secret")
    code, out = slis("sandbox")
    assert code == 2
    assert "The sandbox will not start: real Slack credentials are set" in out
    assert "SLIS_SANDBOX=on" in out and "xoxb-real" not in out and "real-secret" not in out


def test_the_sandbox_is_not_started_when_switched_off(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIS_SANDBOX", "off")
    code, out = slis("sandbox")
    assert code == 2 and "SLIS_SANDBOX=off is set" in out
