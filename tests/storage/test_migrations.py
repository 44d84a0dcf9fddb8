"""Migrations build exactly the tables the models declare, and undo cleanly."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel import SQLModel

from storage.engine import Database
from storage.migrate import downgrade, is_up_to_date, upgrade


def test_upgrade_creates_every_model_table(db: Database, database_url: str) -> None:
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == {t.name for t in SQLModel.metadata.sorted_tables}
    assert is_up_to_date(db.engine)


def test_downgrade_to_base_and_back(db: Database, database_url: str) -> None:
    downgrade(database_url, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    assert is_up_to_date(db.engine)


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: object) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path}/wal.db")
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    database.dispose()
