"""Shared pieces of the sandbox's tests: the served sandbox as a fixture, the sample's people,
the bot's Web API client, and running code on the server's own event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from slack_sdk import WebClient

from tests.sandbox.serving import RunningSandbox, running_sandbox

T = TypeVar("T")

ADA = "U0SAMPLE01"  # Ada Applethwaite: head of Ashdon Primary, West quadrant chair
TESS = "U0SAMPLE02"
ADA_DM = "D0" + ADA
WEST = "C0WESTQ"


@pytest.fixture
def sb(database_url: str) -> Iterator[RunningSandbox]:
    """The bot with its sandbox, served on a free port over the sample directory."""
    with running_sandbox(database_url) as running:
        yield running


def web_client(sb: RunningSandbox, token: str | None = None) -> WebClient:
    """A Slack Web API client on the sandbox, with the bot's token unless told otherwise."""
    sandbox = sb.sandbox
    return WebClient(
        token=token if token is not None else sandbox.creds.bot_token,
        base_url=sandbox.plan.slack_api_url,
        timeout=15,
    )


def on_server(sb: RunningSandbox, call: Callable[[], T]) -> T:
    """Run `call` on the server's event loop (the workspace is the loop's alone)."""

    async def run() -> T:
        return call()

    loop = sb.sandbox.loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(run(), loop).result(10)


def eventually(check: Callable[[], T | None], seconds: float = 10.0) -> T:
    """The first truthy result of `check`, polled until `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.05)


def texts(messages: list[dict[str, Any]]) -> str:
    """Every text a list of page messages shows, their blocks' texts included."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(messages)
    return "\n".join(found)
