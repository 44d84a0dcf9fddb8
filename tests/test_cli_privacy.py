"""`slis privacy export` and `slis privacy erase` as an administrator uses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.engine import Database
from storage.models import Person
from tests.factories import World, build_world

runner = CliRunner()
ADA = "ada.head@schools.example.org"


@pytest.fixture
def world(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Database, World]]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    db = Database.from_url(database_url)
    yield db, build_world(db)
    db.dispose()


def slis(*args: str, answer: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["privacy", *args], input=answer)
    return result.exit_code, result.output


def name_of(db: Database, person_id: int) -> str:
    with db.session() as s:
        person = s.get(Person, person_id)
        assert person is not None
        return person.name


@pytest.mark.usefixtures("world")
def test_export_writes_a_json_and_a_markdown_file(tmp_path: Path) -> None:
    code, out = slis("export", "--person", ADA, "--out", str(tmp_path / "sar"))
    assert code == 0, out
    written = sorted((tmp_path / "sar").iterdir())
    assert [p.suffix for p in written] == [".json", ".md"]
    assert all(str(p) in out for p in written)
    data = json.loads(written[0].read_text(encoding="utf-8"))
    assert data["sections"]["person"]["records"][0]["email"] == ADA
    assert "Ada Fictional" in written[1].read_text(encoding="utf-8")


@pytest.mark.usefixtures("world")
def test_export_of_somebody_unknown_says_so(tmp_path: Path) -> None:
    code, out = slis("export", "--person", "nobody@x.example", "--out", str(tmp_path))
    assert code == 1 and "Nobody in LA 881's directory" in out
    code, out = slis("export", "--person", "Ada", "--out", str(tmp_path))
    assert code == 1 and "neither an e-mail address nor a person id" in out
    code, out = slis("export", "--person", ADA, "--la-code", "935", "--out", str(tmp_path))
    assert code == 1 and "no local authority with LA code 935" in out


def test_erase_dry_run_then_confirm_then_again(world: tuple[Database, World]) -> None:
    db, w = world
    ada = w.people[ADA]
    code, out = slis("erase", "--person", ADA, "--dry-run")
    assert code == 0 and "Dry run" in out and "chat_identity: 1 deleted" in out
    assert name_of(db, ada) == "Ada Fictional"
    code, out = slis("erase", "--person", ADA, answer="n\n")
    assert code == 1 and "Nothing was changed." in out
    assert name_of(db, ada) == "Ada Fictional"
    code, out = slis("erase", "--person", ADA, answer="y\n")
    assert code == 0 and f"Erased person {ada} (LA 881):" in out
    assert name_of(db, ada) == "Former staff member"
    code, out = slis("erase", "--person", str(ada), "--yes")
    assert code == 0 and "already erased" in out
    code, out = slis("erase", "--person", ADA, "--yes")
    assert code == 1 and "erased person is found by their person id only" in out
