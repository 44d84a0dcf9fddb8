"""Shared fixtures: the network guard, databases on SQLite (and PostgreSQL when asked)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.engine import Database, make_engine, normalise_url
from storage.migrate import upgrade
from tests import netguard

netguard.install()

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("SLIS_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    """A private database on the SLIS_TEST_DATABASE_URL server, migrated once for this run.

    Private so that two runs against the same server (two developers, CI and a developer)
    never truncate each other's tables.
    """
    server = make_url(normalise_url(PG_URL))
    name = f"slis_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database: a fresh SQLite file, or the truncated PostgreSQL database."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_migrated")
        _truncate_pg(url)
        return url
    path = tmp_path / "slis.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.from_url(database_url)
    yield database
    database.dispose()
