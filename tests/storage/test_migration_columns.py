"""The migrated schema is the models' schema, column by column, as Alembic's autogenerate
compares them: no table or column missing or extra, no type or nullability apart.

Compared: tables, columns, types (`compare_type`), nullability, indexes, unique constraints
and foreign keys. Not compared: server defaults (`compare_server_default` is off). Migrations
use them to fill columns added to tables that already have rows (0008's `nudges_done`, for
one), which the models do not declare; and each dialect reflects them in its own spelling.
Nothing else is ignored.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlmodel import SQLModel

from storage.engine import Database
from storage.migrate import downgrade, is_up_to_date, upgrade


def differences(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def test_the_migrated_schema_is_the_models_schema(db: Database) -> None:
    assert is_up_to_date(db.engine)
    assert differences(db) == []


def test_outbox_edit_columns_come_and_go_with_their_migration(
    db: Database, database_url: str
) -> None:
    def outbox_columns() -> dict[str, ReflectedColumn]:
        return {c["name"]: c for c in inspect(db.engine).get_columns("outbox_message")}

    columns = outbox_columns()
    for name in ("edits_key", "thread_key"):
        assert columns[name]["nullable"] is True
        assert getattr(columns[name]["type"], "length", None) == 255
    downgrade(database_url, "0010")
    assert {"edits_key", "thread_key"}.isdisjoint(outbox_columns())
    upgrade(database_url)
    assert {"edits_key", "thread_key"} <= set(outbox_columns())
    assert differences(db) == []
