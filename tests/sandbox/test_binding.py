"""The sandbox is reachable on 127.0.0.1 only: the server binds there, `slis sandbox` insists
on it, and a server bound anywhere else does not run the sandbox at all."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from bot.app import create_app
from bot.cli import app as cli
from bot.config import Settings
from tests.sandbox.serving import NO_CHAT, RunningSandbox, running_sandbox


@pytest.fixture
def sb(tmp_path: Path, sqlite_template: Path) -> Iterator[RunningSandbox]:
    db_file = tmp_path / "sandbox.db"
    db_file.write_bytes(sqlite_template.read_bytes())
    with running_sandbox(f"sqlite:///{db_file}") as running:
        yield running


def refused(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect((host, port))
    except OSError:
        return True
    return False


def test_the_served_sandbox_answers_on_127_0_0_1_and_nowhere_else(sb: RunningSandbox) -> None:
    port = int(sb.base_url.rsplit(":", 1)[1])
    assert sb.get("/sandbox").status_code == 200
    assert not refused("127.0.0.1", port)
    # Other loopback addresses of this machine, v4 and v6, are not listened on.
    assert refused("127.0.0.2", port)
    assert refused("::1", port)


async def test_a_server_bound_elsewhere_runs_no_sandbox(database_url: str) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        **{**NO_CHAT, "host": "0.0.0.0"},  # noqa: S104 - the address under test
    )
    assert settings.sandbox() is None
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as http,
    ):
        assert (await http.get("/sandbox")).status_code == 404
        assert (await http.get("/")).json()["sandbox"] == "off"


def test_slis_sandbox_binds_127_0_0_1_whatever_host_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLIS_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("HOST", "0.0.0.0")  # noqa: S104 - the address being overridden
    served: dict[str, Any] = {}

    def run(server: uvicorn.Server, sockets: object = None) -> None:
        served.update(host=server.config.host, port=server.config.port)
        server.handle_exit(2, None)  # Ctrl-C: the sandbox answers its long polls first

    monkeypatch.setattr(uvicorn.Server, "run", run)
    result = CliRunner().invoke(cli, ["sandbox", "--port", "3999"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 3999)
    assert "open http://127.0.0.1:3999/sandbox" in result.output
