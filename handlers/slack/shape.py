"""Requests whose shape Slack never sends (a signed body with no actions, a view that is not an
object...) are refused with a 400 before any listener reads them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

UNREADABLE = "That request could not be read."


def _is_object(value: Any, *str_keys: str) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), str) for k in str_keys)


def readable(body: Any) -> bool:
    """Whether a request body has the parts Bolt's matching and the listeners rely on."""
    if not isinstance(body, dict):
        return False
    if "command" in body:
        return isinstance(body["command"], str)
    user, team = body.get("user"), body.get("team")
    if user is not None and not _is_object(user, "id"):
        return False
    if team is not None and not isinstance(team, dict):
        return False
    if body.get("event") is not None and not _is_object(body["event"], "type"):
        return False
    container = body.get("container")
    if container is not None and not isinstance(container, dict):
        return False
    match body.get("type"):
        case "block_actions":
            actions = body.get("actions")
            return (
                isinstance(actions, list)
                and bool(actions)
                and all(_is_object(a, "action_id") for a in actions)
                and (body.get("view") is None or isinstance(body["view"], dict))
            )
        case "view_submission" | "view_closed":
            view = body.get("view")
            return isinstance(view, dict) and isinstance(view.get("callback_id", ""), str)
        case "event_callback":
            return _is_object(body.get("event"), "type")
        case "url_verification":
            return isinstance(body.get("challenge"), str)
        case kind:
            return kind is None or isinstance(kind, str)


def readable_request(body: str, content_type: str | None) -> bool:
    """`readable` for a raw body as it came over HTTP."""
    try:
        return readable(parse_body(body, content_type))
    except ValueError:
        return False


Middleware = Callable[
    [AsyncBoltRequest, BoltResponse, Callable[[], Awaitable[None]]],
    Awaitable[BoltResponse | None],
]


async def shape_middleware(
    req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    """A Bolt middleware (after signature checks): a 400 for a body no listener can read."""
    if not readable(req.body):
        log.info("refused a signed Slack request of an unreadable shape")
        return BoltResponse(status=400, body=UNREADABLE)
    await next()
    return resp
