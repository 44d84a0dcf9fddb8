"""Slack delivers some requests more than once (event retries); only the first takes effect."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.core import Core

log = logging.getLogger(__name__)

Middleware = Callable[
    [AsyncBoltRequest, BoltResponse, Callable[[], Awaitable[None]]],
    Awaitable[BoltResponse | None],
]


def delivery_key(body: dict[str, Any]) -> str | None:
    """What names one request across its redeliveries, or None for requests never repeated.

    Events carry an event id that Slack keeps on retries; interactions and slash commands carry
    a trigger id unique to the person's one click or command.
    """
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"slack:event:{body['event_id']}"
    trigger = body.get("trigger_id")
    if trigger:
        return f"slack:trigger:{trigger}"
    return None


def dedupe_middleware(core: Core) -> Middleware:
    """A Bolt middleware (after signature checks) that answers repeats with an empty 200."""

    async def dedupe(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        key = delivery_key(req.body)
        if key is None or await core.first_delivery(key):
            await next()
            return resp
        retry = req.headers.get("x-slack-retry-num", ["0"])[0]
        log.info("ignored a repeated delivery (%s, retry %s)", key, retry)
        return BoltResponse(status=200, body="")

    return dedupe
