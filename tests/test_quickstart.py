"""The first README command serves the bot: migrated database, sample directory, /readyz."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from storage.engine import Database
from storage.models import Partnership, School, Tenant
from tests.sandbox.serving import free_port

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
        return response.status, json.loads(response.read())


def test_serve_command_migrates_loads_sample_and_answers_readyz(tmp_path: Path) -> None:
    port = free_port()
    db_file = tmp_path / "quickstart.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SLIS_"))}
    env.update(DATABASE_URL=f"sqlite:///{db_file}", HOST="127.0.0.1", PORT=str(port))
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "dev.py"), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        ready: dict[str, Any] | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, ready = _get(f"http://127.0.0.1:{port}/readyz")
                if status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        log.seek(0)
        output = log.read()
        assert ready is not None, f"server never answered /readyz:\n{output}"
        # With no chat credentials the quick start serves the sandbox in place of Slack.
        assert ready["database"] == "ok" and ready["slack"] == "sandbox"
        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok"})
        assert f"The sandbox is on: open http://127.0.0.1:{port}/sandbox" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sandbox", timeout=5) as page:
            assert page.status == 200 and b"SLIS" in page.read()
        status, state = _get(f"http://127.0.0.1:{port}/sandbox/api/state?user=U0SAMPLE01")
        assert status == 200 and state["me"]["name"] == "Ada Applethwaite"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
    db = Database.from_url(f"sqlite:///{db_file}")
    with db.session() as session:
        assert session.exec(select(Tenant.la_code)).all() == [881]
        assert session.exec(select(func.count()).select_from(School)).one() == 248
        assert session.exec(select(func.count()).select_from(Partnership)).one() > 0
    db.dispose()


def _dev_module() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("slis_dev", ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_test_command_runs_the_suite_on_every_core_unless_told_otherwise() -> None:
    dev = _dev_module()
    pytest_args = dev.pytest_args  # type: ignore[attr-defined]
    assert pytest_args([]) == ["-n", "auto"]
    assert pytest_args(["-k", "help"]) == ["-n", "auto", "-k", "help"]
    for chosen in (["-n", "0"], ["-n4"], ["--numprocesses=2"], ["-p", "no:xdist"], ["--pdb"]):
        assert pytest_args(chosen) == chosen
