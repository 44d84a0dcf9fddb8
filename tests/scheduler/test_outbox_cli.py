"""`slis outbox status` and `slis outbox retry` as an administrator uses them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.ports import SystemClock
from bot.services.outbox import PENDING, OutboxService
from bot.types import Platform
from storage.engine import Database
from tests.scheduler.outbox_world import enqueue_many, statuses, world_with_administrator

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    shutil.copy(sqlite_template, tmp_path / "cli.db")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    return url


def slis(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_status_counts_per_authority_and_lists_failures_then_retry(db_url: str) -> None:
    assert slis("outbox", "status") == (0, "The outbox is empty.\n")
    db = Database.from_url(db_url)
    world, _ = world_with_administrator(db)
    enqueue_many(db, world.tenant_id, 3, channels=["C1", "C0GONE", "C3"], prefix="nudge")
    outbox = OutboxService(db, SystemClock())
    sent, gone, _ = outbox.claim_due(3, [Platform.SLACK])
    outbox.mark_sent(sent, "1.1")
    outbox.park(gone, "chat.postMessage: channel_not_found")

    code, out = slis("outbox", "status")
    assert code == 0, out
    lines = out.splitlines()
    # The alert to the administrator is pending too.
    assert lines[0] == "Essex: 1 pending (1 due now), 1 in flight, 1 failed, 1 sent"
    assert lines[1].startswith("Latest failures")
    assert f"  {gone.id}  " in lines[2] and "nudge:1 to conversation C0GONE" in lines[2]
    assert lines[2].endswith("1 attempt(s): chat.postMessage: channel_not_found")
    assert slis("outbox", "status", "--la-code", "881", "--failed", "0")[1].count("\n") == 1
    assert slis("outbox", "status", "--la-code", "999") == (
        1,
        "No local authority with LA code 999 in the database.\n",
    )

    code, out = slis("outbox", "retry", str(gone.id))
    assert code == 0 and f"Message {gone.id} (nudge:1) is queued again" in out
    assert statuses(db)[PENDING] == 2
    code, out = slis("outbox", "retry", str(gone.id))
    assert code == 1 and "only failed rows can be retried" in out
    assert slis("outbox", "retry", "999")[0] == 1
    db.dispose()
