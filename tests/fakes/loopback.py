"""Serving a fake's aiohttp application on 127.0.0.1 from its own thread and event loop, so
sync tests, async tests and an app served in another thread can all talk to it."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Call:
    """One request a fake received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] | None = None
    at: float = field(default_factory=time.monotonic)


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class LoopbackServer:
    """One aiohttp application on one or more sockets (each plain, or TLS with its context)."""

    def __init__(self, name: str, app: web.Application) -> None:
        self._name = name
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self, tls: Sequence[ssl.SSLContext | None] = (None,)) -> list[int]:
        """Serve on one socket per entry of `tls` (None: plain HTTP); returns their ports."""
        sockets = [bound_socket() for _ in tls]
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._runner = web.AppRunner(self._app, access_log=None)
            await self._runner.setup()
            for sock, context in zip(sockets, tls, strict=True):
                await web.SockSite(self._runner, sock, ssl_context=context).start()
            ready.set()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError(f"{self._name} did not start")
        return [sock.getsockname()[1] for sock in sockets]

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()
        self._loop = None
