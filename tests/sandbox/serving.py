"""The bot with its sandbox, served for real: uvicorn on a free 127.0.0.1 port, in a thread
with its own event loop, over a database holding the sample directory and calendar."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from bot.app import create_app
from bot.config import Settings
from bot.core import Core
from bot.ports import MovableClock, SystemClock
from bot.services.calendar import load_sample_calendar
from bot.services.directory_import import load_sample
from storage.engine import Database

START_SECONDS = 15.0
# Every chat setting, given explicitly so nothing from the environment or a .env leaks in.
NO_CHAT: dict[str, Any] = {
    "slack_bot_token": None,
    "slack_signing_secret": None,
    "slack_app_token": None,
    "slack_client_id": None,
    "slack_client_secret": None,
    "teams_app_id": None,
    "teams_app_password": None,
    "teams_certificate_file": None,
    "teams_tenant_id": None,
    "graph_tenant_id": None,
    "graph_client_id": None,
    "graph_client_secret": None,
    "slis_sandbox": "auto",
    "slis_anonymity_pepper": None,
    "host": "127.0.0.1",
    "log_level": "WARNING",
}


@dataclass
class RunningSandbox:
    """The served app: its addresses, its core and clock, and a little HTTP client."""

    base_url: str
    page_url: str
    core: Core
    clock: MovableClock
    app: FastAPI
    client: httpx.Client

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(self, path: str, json: dict[str, Any]) -> httpx.Response:
        return self.client.post(path, json=json)

    def state(self, user: str) -> dict[str, Any]:
        response = self.get("/sandbox/api/state", user=user)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    @property
    def sandbox(self) -> Any:
        """The Sandbox object itself (handlers.sandbox.server.Sandbox)."""
        return self.app.state.sandbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running_sandbox(database_url: str, **settings: Any) -> Iterator[RunningSandbox]:
    """The bot in sandbox mode on a migrated database, with the sample loaded; stopped (its
    lifespan's shutdown run) on the way out."""
    db = Database.from_url(database_url)
    try:
        load_sample(db, SystemClock())
        load_sample_calendar(db)
    finally:
        db.dispose()
    port = free_port()
    chosen = {**NO_CHAT, "slis_default_la_code": None, **settings}
    config_settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        port=port,
        **chosen,
    )
    app = create_app(config_settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="sandbox-uvicorn", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, timeout=30.0, trust_env=False)
    try:
        _wait_until_up(server, client, thread)
        sandbox = app.state.sandbox
        yield RunningSandbox(
            base_url, base_url + "/sandbox", sandbox.core, sandbox.clock, app, client
        )
    finally:
        client.close()
        _stop(server, thread, app)


def _wait_until_up(server: uvicorn.Server, client: httpx.Client, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the sandbox's server stopped while starting")
        if server.started:
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.02)
    raise RuntimeError("the sandbox's server did not start")


def _stop(server: uvicorn.Server, thread: threading.Thread, app: FastAPI) -> None:
    """Stop uvicorn; open long polls are woken first, since uvicorn waits for them."""
    sandbox = getattr(app.state, "sandbox", None)
    if sandbox is not None:
        sandbox.stopping()
    server.should_exit = True
    thread.join(30)
    if thread.is_alive():
        server.force_exit = True
        thread.join(10)
